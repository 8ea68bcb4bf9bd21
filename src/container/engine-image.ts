/**
 * Getting an image's judged root filesystem into docker, once per image.
 *
 * docker cannot run a directory, so it gets an image made from the tree the runner unpacked and judged
 * (src/layer/unpack.ts: no devices, no setuid/setgid bits, owners those of the unpacking user), never the image's
 * own layers, which the daemon would extract itself (devices, setuid-root binaries and tar owners included).
 * `tar --numeric-owner -C <cached rootfs> -cf - .` is streamed into `docker import - NAME`; the image has no
 * config of its own (no Env, User, WorkingDir, Entrypoint): engine-args.ts gives all of them on each run.
 *
 * The name is `localhost/rp-rootfs-<alg>-<hex of the manifest digest>:latest` (the rootfs is a function of the
 * manifest and our unpacker). On a cache hit one `image inspect` of that name (~30 ms) finds it and nothing is
 * copied. The image stays in the daemon until removed by hand (`docker rmi`).
 *
 * podman needs no import: it runs the directory itself (`--rootfs`, engine.ts).
 */
import { spawn } from "node:child_process";
import type { Digest } from "../oci/digest";
import { PipelineError } from "../errors";
import { engineExec } from "./engine-cli";
import { lastLine } from "../lines";

export interface EngineImageSource {
  /** Manifest digest (sha256:...). */
  digest: Digest;
  /** The cached, judged root filesystem (image-cache.ts). */
  rootfs: string;
}

const DIGEST = /^([a-z0-9]+):([a-f0-9]{32,128})$/;

/** The name the judged rootfs of `digest` has in docker. */
export function dockerImageName(digest: Digest): string {
  const m = DIGEST.exec(digest);
  if (!m) throw new PipelineError("E_LAYOUT", `image: not a digest: ${JSON.stringify(digest)}`);
  return `localhost/rp-rootfs-${m[1]}-${m[2]}:latest`;
}

/** docker's id of the image made from `src.rootfs`, importing it first when the daemon does not have it. */
export async function importIntoDocker(
  src: EngineImageSource,
  log: (line: string) => void = () => undefined,
): Promise<string> {
  const name = dockerImageName(src.digest);
  const have = await engineExec("docker", ["image", "inspect", "--format", "{{.Id}}", name]);
  if (have.code === 0 && have.stdout.trim()) return have.stdout.trim().split("\n")[0];

  log(`image ${src.digest}: importing its unpacked root filesystem into docker`);
  const tar = spawn("tar", ["--numeric-owner", "-C", src.rootfs, "-cf", "-", "."], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  let tarErr = "";
  tar.stderr.on("data", (d) => (tarErr += d));
  const tarDone = new Promise<number>((resolve) => tar.on("close", (code) => resolve(code ?? 1)));
  const r = await engineExec("docker", ["import", "-", name], { input: tar.stdout });
  const tarCode = await tarDone;
  if (r.code !== 0 || tarCode !== 0) {
    throw new PipelineError(
      "E_RUNTIME",
      `docker could not import the root filesystem of ${src.digest} (${src.rootfs}): ${lastLine(r.stderr) || lastLine(tarErr) || `exit code ${r.code || tarCode}`}`,
    );
  }
  // What `docker import` prints differs between daemons (podman's API: "ID: ID"): the daemon is asked.
  const made = await engineExec("docker", ["image", "inspect", "--format", "{{.Id}}", name]);
  const id = made.stdout.trim().split("\n")[0];
  if (made.code !== 0 || !id)
    throw new PipelineError(
      "E_RUNTIME",
      `docker imported ${name} but cannot find it: ${lastLine(made.stderr) || `exit code ${made.code}`}`,
    );
  return id;
}
