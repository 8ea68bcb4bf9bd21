/**
 * The caller's environment values under podman, kept out of podman's container database.
 *
 * podman 4.3 records every container, its OCI spec with `process.env` included, in a BoltDB file
 * (`<root>/libpod/bolt_state.db`). Bolt reuses freed pages but never clears them, so a value given with `--env`
 * (or `--env-file`) stays in that file after `podman rm`, for as long as the cache exists. What was weighed:
 *  - a per-run database (containers.conf `[engine] static_dir` under the run directory, deleted after the run):
 *    podman ignores `static_dir` whenever `--root` is given (libpod sets it to `<root>/libpod`), and dropping
 *    `--root` for a storage.conf of our own would replace the user's storage settings;
 *  - a 0600 file bind-mounted into the container for an entrypoint wrapper to read: changes the image's
 *    entrypoint, argv and signal handling, and needs a shell or such in every image;
 *  - podman secrets (chosen): `podman secret create --env NAME VAR` (the value in podman's environment, as
 *    `-e NAME` values are; podman takes `-` only from a FIFO, and Node's pipes are sockets) and
 *    `--secret NAME,type=env,target=VAR`. The container's record holds only the secret's name; podman puts the
 *    value into the container's OCI config (userdata/config.json) and runc's state when the container starts,
 *    both removed with the container. The value sits in `<root>/secrets/filedriver/secretsdata.json` (0600,
 *    under 0700 directories) while the container exists and is gone from it once `podman secret rm` ran.
 *
 * Which values: every variable the caller gave (`env` of runContainer / the spec's env / --env), the image's
 * own variables (public: they are in its config) keep the plain way (engine-args.ts). An empty value needs no
 * secret (podman refuses empty secrets). Each costs two quick podman calls (~30 ms each).
 *
 * Names: `<container id>.env<n>`; the container id holds the runner's pid, so `reapStaleEnvSecrets` removes
 * the secrets of a runner that was killed before it could (at the next start, like its containers).
 */
import { spawnSync } from "node:child_process";
import { PipelineError } from "../errors";
import { ownerGone } from "./cleanup";
import { engineExec } from "./engine-cli";
import { lastLine } from "../lines";

export interface EnvSecret {
  /** The secret's name in podman's store. */
  name: string;
  /** The variable it becomes in the container. */
  target: string;
  value: string;
}

/** Linux's limit on one environment string (MAX_ARG_STRLEN, `NAME=value` and its NUL): no program could get more. */
const MAX_ENV_STRING = 131_072;

/** The variable that carries a value into `podman secret create --env`. */
const VALUE_VAR = "RULES_PIPELINE_SECRET_VALUE";

export function envSecretName(containerId: string, n: number): string {
  return `${containerId}.env${n}`;
}

/** The container id a secret of ours belongs to, or undefined for a name that is not ours. */
function secretOwner(name: string): string | undefined {
  const m = /^(rp-.+)\.env\d+$/.exec(name);
  return m ? m[1] : undefined;
}

/**
 * Creates the secrets in podman's store; each name is pushed to `made` as soon as it exists, so the caller's
 * cleanup removes what a failure part-way left. Errors name the variable, never the value.
 */
export async function createEnvSecrets(global: string[], secrets: readonly EnvSecret[], made: string[]): Promise<void> {
  for (const s of secrets) {
    const bytes = Buffer.byteLength(s.value, "utf8");
    if (bytes + VALUE_VAR.length + 2 > MAX_ENV_STRING) {
      throw new PipelineError(
        "E_BAD_ENV",
        `env ${s.target}: a value of ${bytes} bytes is more than a program can be given in one variable (${MAX_ENV_STRING} bytes, Linux's MAX_ARG_STRLEN)`,
      );
    }
    const env = { ...process.env, [VALUE_VAR]: s.value };
    const r = await engineExec("podman", [...global, "secret", "create", "--env", s.name, VALUE_VAR], {
      env,
      timeoutMs: 60_000,
    });
    if (r.code !== 0)
      throw new PipelineError(
        "E_RUNTIME",
        `podman could not take the value of env ${s.target} (secret ${s.name}): ${lastLine(r.stderr) || `exit code ${r.code}`}`,
      );
    made.push(s.name);
  }
}

/** Removes secrets; best effort (one that is already gone is no error). */
export async function removeEnvSecrets(global: string[], names: readonly string[]): Promise<void> {
  if (names.length) await engineExec("podman", [...global, "secret", "rm", ...names], { timeoutMs: 60_000 });
}

/** `removeEnvSecrets` for process exit. */
export function removeEnvSecretsSync(global: string[], names: readonly string[]): void {
  if (names.length) spawnSync("podman", [...global, "secret", "rm", ...names], { stdio: "ignore" });
}

/** Removes our secrets whose runner pid is gone; returns their names. */
export async function reapStaleEnvSecrets(global: string[]): Promise<string[]> {
  const list = await engineExec("podman", [...global, "secret", "ls", "--format", "{{.Name}}"], { timeoutMs: 30_000 });
  if (list.code !== 0) return [];
  const stale = list.stdout
    .split("\n")
    .map((s) => s.trim())
    .filter((name) => {
      const owner = secretOwner(name);
      return owner !== undefined && ownerGone(owner);
    });
  await removeEnvSecrets(global, stale);
  return stale;
}
