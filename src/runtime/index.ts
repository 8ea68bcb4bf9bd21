/**
 * @rules_pipeline/runtime — what launch scripts import to know whether they run with a container image.
 *
 *   import { hasContainerImage, containerImageUri } from "@rules_pipeline/runtime";
 *   if (hasContainerImage()) runInContainer(containerImageUri()); else runInProcess();
 *
 * Self-contained on purpose (Node built-ins only): it is copied into images and runfiles as one file.
 */

/** The pushed (or built) image reference `registry/repository@sha256:...` of the default image. */
export const ENV_CONTAINER_IMAGE = "PIPELINE_CONTAINER_IMAGE";
/** JSON object: image name → reference, when the pipeline has several images (`bases`). */
export const ENV_CONTAINER_IMAGE_URIS = "PIPELINE_CONTAINER_IMAGE_URIS";
export const DEFAULT_IMAGE = "default";

export class ContainerImageError extends Error {
  readonly code: string;
  constructor(code: string, message: string) {
    super(message);
    this.name = "ContainerImageError";
    this.code = code;
  }
}

type Env = Record<string, string | undefined>;

/** Every image the launch script was given, by name (`default` for the main one). Empty when there is none. */
export function containerImageUris(env: Env = process.env): Readonly<Record<string, string>> {
  const out: Record<string, string> = {};
  const raw = env[ENV_CONTAINER_IMAGE_URIS];
  if (raw) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(raw);
    } catch {
      throw new ContainerImageError("E_BAD_IMAGE_URIS", `${ENV_CONTAINER_IMAGE_URIS} is not a JSON object: ${JSON.stringify(raw.slice(0, 200))}`);
    }
    if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
      throw new ContainerImageError("E_BAD_IMAGE_URIS", `${ENV_CONTAINER_IMAGE_URIS} must be a JSON object of name to image reference`);
    }
    for (const [name, uri] of Object.entries(parsed as Record<string, unknown>)) {
      if (typeof uri !== "string" || !uri) {
        throw new ContainerImageError("E_BAD_IMAGE_URIS", `${ENV_CONTAINER_IMAGE_URIS}: image ${JSON.stringify(name)} has no reference (got ${JSON.stringify(uri)})`);
      }
      out[name] = uri;
    }
  }
  const single = env[ENV_CONTAINER_IMAGE];
  if (single && !out[DEFAULT_IMAGE]) out[DEFAULT_IMAGE] = single;
  return Object.freeze(out);
}

/** True when the script runs with a container image (`bazel run :NAME` or `:NAME_binary`), false under `:NAME_local`. */
export function hasContainerImage(name: string = DEFAULT_IMAGE, env: Env = process.env): boolean {
  return Boolean(containerImageUris(env)[name]);
}

/** The reference of image `name`; throws ContainerImageError (code E_NO_CONTAINER_IMAGE) when there is none. */
export function containerImageUri(name: string = DEFAULT_IMAGE, env: Env = process.env): string {
  const uris = containerImageUris(env);
  const uri = uris[name];
  if (!uri) {
    const known = Object.keys(uris);
    throw new ContainerImageError(
      "E_NO_CONTAINER_IMAGE",
      known.length
        ? `no container image named ${JSON.stringify(name)}; this run has: ${known.map((k) => JSON.stringify(k)).join(", ")}`
        : `no container image: ${ENV_CONTAINER_IMAGE} is not set (run \`bazel run //pkg:NAME\` or \`:NAME_binary\`, not \`:NAME_local\`, or set it yourself)`,
    );
  }
  return uri;
}

/** JSON object: image name → OCI layout directory of the built image (`:NAME_binary`, where nothing is pushed). */
export const ENV_CONTAINER_IMAGE_LAYOUTS = "PIPELINE_CONTAINER_IMAGE_LAYOUTS";
/** Set to "1" inside containers started by runInContainer (and `pipeline run`). */
export const ENV_IN_CONTAINER = "PIPELINE_IN_CONTAINER";
/** The pipeline CLI the Bazel launchers provide: node binary, CLI script, its npm packages. */
export const ENV_CLI_NODE = "PIPELINE_CLI_NODE";
export const ENV_CLI = "PIPELINE_CLI";
export const ENV_CLI_NODE_MODULES = "PIPELINE_CLI_NODE_MODULES";

/** True inside a container started by the local runner: the launch script should do the work in-process. */
export function inContainer(env: Env = process.env): boolean {
  return env[ENV_IN_CONTAINER] === "1";
}

export interface RunInContainerOptions {
  /** The image to run, e.g. containerImageUri("cuda"); default: image `name` of this run. */
  image?: string;
  /** Image name (`default` unless the pipeline has several images). */
  name?: string;
  /** Arguments appended to the image's entrypoint. */
  args?: readonly string[];
  /** Extra environment of the container (the image's own Env stays unless overridden). */
  env?: Readonly<Record<string, string>>;
  /** Host directories bind-mounted into the container. */
  mounts?: readonly { source: string; destination: string; readonly?: boolean }[];
  /** Container runtime: "auto" (default), "runc", "podman" or "docker". */
  runtime?: string;
  /** "host" (default) or "none". */
  network?: "host" | "none";
  /** The launch script's environment (default process.env). */
  processEnv?: Env;
}

/** The `pipeline run --image ...` command line runInContainer starts (exported for tests). */
export function runInContainerCommand(opts: RunInContainerOptions = {}): { command: string; args: string[]; env: Env } {
  const env: Env = { ...(opts.processEnv ?? process.env) };
  const name = opts.name ?? DEFAULT_IMAGE;
  let image = opts.image ?? containerImageUri(name, env);
  const layouts = env[ENV_CONTAINER_IMAGE_LAYOUTS];
  if (layouts && (!opts.image || opts.image === containerImageUris(env)[name])) {
    let parsed: Record<string, unknown>;
    try {
      parsed = JSON.parse(layouts) as Record<string, unknown>;
    } catch {
      throw new ContainerImageError("E_BAD_IMAGE_URIS", `${ENV_CONTAINER_IMAGE_LAYOUTS} is not a JSON object`);
    }
    const dir = parsed[name];
    // Built but not pushed: run the local layout; its digest is the one in the reference.
    if (typeof dir === "string" && dir) image = `oci:${dir}@${image.slice(image.lastIndexOf("@") + 1)}`;
  }
  const args = ["run", "--image", image];
  for (const [k, v] of Object.entries({ ...opts.env, [ENV_IN_CONTAINER]: "1" })) args.push("--env", `${k}=${v}`);
  for (const m of opts.mounts ?? []) args.push("--mount", `${m.source}:${m.destination}${m.readonly ? ":ro" : ""}`);
  if (opts.runtime) args.push("--runtime", opts.runtime);
  args.push("--network", opts.network ?? "host");
  args.push("--", ...(opts.args ?? []));
  const cli = env[ENV_CLI];
  if (cli) {
    if (env[ENV_CLI_NODE_MODULES]) env.PIPELINE_TOOLS_NODE_MODULES = env[ENV_CLI_NODE_MODULES];
    return { command: env[ENV_CLI_NODE] || process.execPath, args: [cli, ...args], env };
  }
  return { command: "pipeline", args, env };
}

/**
 * Runs image `name` (default: the pipeline's image) in a local container with `pipeline run`, streaming its output,
 * and resolves to the container's exit code. Inside, inContainer() is true.
 *
 *   if (hasContainerImage() && !inContainer()) process.exitCode = await runInContainer({ args: process.argv.slice(2) });
 */
export async function runInContainer(opts: RunInContainerOptions = {}): Promise<number> {
  const { command, args, env } = runInContainerCommand(opts);
  // Loaded here so the module stays cheap to import where containers are never started.
  // eslint-disable-next-line @typescript-eslint/no-var-requires
  const { spawn } = require("node:child_process") as typeof import("node:child_process");
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { env: env as NodeJS.ProcessEnv, stdio: "inherit" });
    const forward = (sig: NodeJS.Signals) => () => child.kill(sig);
    const handlers = (["SIGINT", "SIGTERM"] as const).map((s) => [s, forward(s)] as const);
    for (const [s, h] of handlers) process.on(s, h);
    const done = () => {
      for (const [s, h] of handlers) process.off(s, h);
    };
    child.on("error", (e) => {
      done();
      reject(new ContainerImageError("E_RUN_CONTAINER", `cannot start \`${command} ${args[0]}\`: ${e.message}`));
    });
    child.on("exit", (code, signal) => {
      done();
      resolve(code ?? (signal === "SIGINT" ? 130 : signal === "SIGTERM" ? 143 : 1));
    });
  });
}
