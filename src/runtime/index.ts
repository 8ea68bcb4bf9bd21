/**
 * @rules_pipeline/runtime — what launch scripts import to know whether they run with a container image.
 *
 *   import { hasContainerImage, containerImageUri } from "@rules_pipeline/runtime";
 *   if (hasContainerImage()) runInContainer(containerImageUri()); else runInProcess();
 *
 * or, choosing by `PIPELINE_TARGET` (inprocess | container | kubernetes):
 *
 *   switch (launchTarget()) { case "kubernetes": return runOnKubernetes({ args }); case "container": ...}
 *
 * Node built-ins only. It goes into images and runfiles with the runtime's other files (the map worker's, and the map
 * code runMap loads inside an image, map-in-image.ts): it requires them lazily, only where they run.
 */

/** The pushed (or built) image reference `registry/repository@sha256:...` of the default image. */
export const ENV_CONTAINER_IMAGE = "PIPELINE_CONTAINER_IMAGE";
/** JSON object: image name → reference, when the pipeline has several images (`bases`). */
export const ENV_CONTAINER_IMAGE_URIS = "PIPELINE_CONTAINER_IMAGE_URIS";
/** JSON object: image name → OCI layout directory of the built image (`:NAME_binary`, where nothing is pushed). */
export const ENV_CONTAINER_IMAGE_LAYOUTS = "PIPELINE_CONTAINER_IMAGE_LAYOUTS";
export const DEFAULT_IMAGE = "default";

/**
 * The codes this library throws. It is a standalone file (no imports), so they are listed here; each is one of the
 * error catalogue's (src/error-codes/), which src/launch/env.ts checks at compile time by handing them to PipelineError.
 */
export type RuntimeErrorCode =
  | "E_BAD_IMAGE_URIS"
  | "E_BAD_OPTION"
  | "E_BAD_TARGET"
  | "E_IMAGE_NOT_PUSHED"
  | "E_RUN_MAP"
  | "E_NO_CONTAINER_IMAGE"
  | "E_RUN_CONTAINER"
  | "E_RUN_KUBERNETES";

export class ContainerImageError extends Error {
  readonly code: RuntimeErrorCode;
  constructor(code: RuntimeErrorCode, message: string) {
    super(message);
    this.name = "ContainerImageError";
    this.code = code;
  }
}

type Env = Record<string, string | undefined>;

/**
 * Every image the launch script was given, by name (`default` for the main one). Empty when there is none.
 * `PIPELINE_CONTAINER_IMAGE`, when set, is the `default` one (it wins over the map's); a malformed map throws
 * ContainerImageError E_BAD_IMAGE_URIS naming the variable and the value. The launchers read the user's variables
 * with this same function (src/launch/env.ts), then check each reference's grammar.
 */
export function containerImageUris(env: Env = process.env): Readonly<Record<string, string>> {
  const out: Record<string, string> = {};
  const raw = env[ENV_CONTAINER_IMAGE_URIS];
  if (raw) {
    const got = JSON.stringify(raw.slice(0, 200));
    let parsed: unknown;
    try {
      parsed = JSON.parse(raw);
    } catch {
      throw new ContainerImageError(
        "E_BAD_IMAGE_URIS",
        `${ENV_CONTAINER_IMAGE_URIS}: expected a JSON object, got ${got}`,
      );
    }
    if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
      throw new ContainerImageError(
        "E_BAD_IMAGE_URIS",
        `${ENV_CONTAINER_IMAGE_URIS}: expected a JSON object of image name to reference, got ${got}`,
      );
    }
    for (const [name, uri] of Object.entries(parsed)) {
      if (typeof uri !== "string" || !uri) {
        throw new ContainerImageError(
          "E_BAD_IMAGE_URIS",
          `${ENV_CONTAINER_IMAGE_URIS}[${JSON.stringify(name)}]: expected a reference string, got ${JSON.stringify(uri)}`,
        );
      }
      out[name] = uri;
    }
  }
  const single = env[ENV_CONTAINER_IMAGE];
  if (single) out[DEFAULT_IMAGE] = single;
  return Object.freeze(out);
}

/** The image variables for these images (name → reference; the main one is `default`, else the first name sorted). */
export function containerImageEnv(
  uris: Readonly<Record<string, string>>,
  layouts?: Readonly<Record<string, string>>,
): Record<string, string> {
  const names = Object.keys(uris);
  if (names.length === 0) return {};
  const main = uris[DEFAULT_IMAGE] ?? uris[[...names].sort()[0]];
  return {
    [ENV_CONTAINER_IMAGE]: main,
    [ENV_CONTAINER_IMAGE_URIS]: JSON.stringify(uris),
    ...(layouts ? { [ENV_CONTAINER_IMAGE_LAYOUTS]: JSON.stringify(layouts) } : {}),
  };
}

/** The OCI layout directory of each built but unpushed image (`:NAME_binary`), by name; empty when there is none. */
export function containerImageLayouts(env: Env = process.env): Readonly<Record<string, string>> {
  const raw = env[ENV_CONTAINER_IMAGE_LAYOUTS];
  if (!raw) return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    parsed = undefined;
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
    throw new ContainerImageError(
      "E_BAD_IMAGE_URIS",
      `${ENV_CONTAINER_IMAGE_LAYOUTS}: expected a JSON object of image name to directory, got ${JSON.stringify(raw.slice(0, 200))}`,
    );
  }
  const out: Record<string, string> = {};
  for (const [name, dir] of Object.entries(parsed)) if (typeof dir === "string" && dir) out[name] = dir;
  return Object.freeze(out);
}

/** Every variable that names an image, which a launch without images removes. */
export const IMAGE_VARIABLES: readonly string[] = [
  ENV_CONTAINER_IMAGE,
  ENV_CONTAINER_IMAGE_URIS,
  ENV_CONTAINER_IMAGE_LAYOUTS,
];

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

/** Set to "1" inside containers started by runInContainer (and `pipeline run`). */
export const ENV_IN_CONTAINER = "PIPELINE_IN_CONTAINER";
/**
 * The pipeline CLI the Bazel launchers provide: node binary, CLI script, its npm packages, and the loader that runs
 * the script with a V8 code cache (tools/bundle-loader.ts: `node LOADER CLI ARGS...`).
 */
export const ENV_CLI_NODE = "PIPELINE_CLI_NODE";
export const ENV_CLI = "PIPELINE_CLI";
export const ENV_CLI_NODE_MODULES = "PIPELINE_CLI_NODE_MODULES";
export const ENV_CLI_LOADER = "PIPELINE_CLI_LOADER";

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
  /**
   * PEM public key (cosign.pub): run only if the image's signature verifies with it (`pipeline run
   * --require-signature`). `$PIPELINE_REQUIRE_SIGNATURE` in the environment asks the same, as `pipeline run` reads it.
   */
  requireSignature?: string;
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
  const dir = containerImageLayouts(env)[name];
  // Built but not pushed: run the local layout; its digest is the one in the reference.
  if (dir && (!opts.image || opts.image === containerImageUris(env)[name]))
    image = `oci:${dir}@${image.slice(image.lastIndexOf("@") + 1)}`;
  const args = ["run", "--image", image];
  for (const [k, v] of Object.entries({ ...opts.env, [ENV_IN_CONTAINER]: "1" })) args.push("--env", `${k}=${v}`);
  for (const m of opts.mounts ?? []) args.push("--mount", `${m.source}:${m.destination}${m.readonly ? ":ro" : ""}`);
  if (opts.runtime) args.push("--runtime", opts.runtime);
  if (opts.requireSignature) args.push("--require-signature", opts.requireSignature);
  args.push("--network", opts.network ?? "host");
  args.push("--", ...(opts.args ?? []));
  return cliCommand(args, env);
}

/**
 * Runs image `name` (default: the pipeline's image) in a local container with `pipeline run`, streaming its output,
 * and resolves to the container's exit code. Inside, inContainer() is true.
 *
 *   if (hasContainerImage() && !inContainer()) process.exitCode = await runInContainer({ args: process.argv.slice(2) });
 */
export async function runInContainer(opts: RunInContainerOptions = {}): Promise<number> {
  return spawnCli(runInContainerCommand(opts), "E_RUN_CONTAINER");
}

/**
 * Runs the CLI command line, forwarding SIGINT/SIGTERM to it; resolves to its exit code. (This package is one
 * self-contained file with no imports of ours, so it does not use src/process/signals.ts; the CLI it starts does.)
 */
function spawnCli(
  { command, args, env }: { command: string; args: string[]; env: Env },
  code: RuntimeErrorCode,
): Promise<number> {
  // Loaded here so the module stays cheap to import where containers are never started.
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
      reject(new ContainerImageError(code, `cannot start \`${command} ${args[0]}\`: ${e.message}`));
    });
    child.on("exit", (code, signal) => {
      done();
      resolve(code ?? (signal === "SIGINT" ? 130 : signal === "SIGTERM" ? 143 : 1));
    });
  });
}

/** The CLI command line for `pipeline ARGS`: the Bazel-provided CLI when the launcher names one, else `pipeline` on PATH. */
function cliCommand(args: string[], env: Env): { command: string; args: string[]; env: Env } {
  const cli = env[ENV_CLI];
  if (cli) {
    if (env[ENV_CLI_NODE_MODULES]) env.PIPELINE_TOOLS_NODE_MODULES = env[ENV_CLI_NODE_MODULES];
    const loader = env[ENV_CLI_LOADER] ? [env[ENV_CLI_LOADER]] : [];
    return { command: env[ENV_CLI_NODE] || process.execPath, args: [...loader, cli, ...args], env };
  }
  return { command: "pipeline", args, env };
}

export interface RunOnKubernetesOptions {
  /** The image to run (HOST/REPO@sha256:...); default: image `name` of this run, as pushed. */
  image?: string;
  /** Image name (`default` unless the pipeline has several images, e.g. "cuda"). */
  name?: string;
  /** Arguments replacing the image's Cmd. */
  args?: readonly string[];
  /** Extra environment of the container. */
  env?: Readonly<Record<string, string>>;
  /** CPU request and limit ("2", "500m"), memory request and limit ("4Gi"), NVIDIA GPUs. */
  cpu?: string;
  memory?: string;
  gpu?: number;
  /**
   * A Gradient machine type ("A100", "C5"; docs/deployments.md, "Instance types"): its cpu/memory/gpu (each
   * replaced by `cpu`/`memory`/`gpu` when given) and a preferred node affinity, as a spec's `resources.machineType`.
   */
  machineType?: string;
  /** The older name of `machineType`, as in a spec; give one of them. */
  instanceType?: string;
  /**
   * Pod Security "restricted" (default true), as a spec's `securityContext.restricted`; false: no securityContext,
   * the image's user (root included).
   */
  restricted?: boolean;
  /** Default: the kubeconfig context's namespace, else "default". */
  namespace?: string;
  /** Kubeconfig context (default: the current one) and file (default: $KUBECONFIG, else ~/.kube/config). */
  context?: string;
  kubeconfig?: string;
  serviceAccount?: string;
  /** The pod's user id (default 65532; never root), as a spec's `securityContext.runAsUser`. */
  runAsUser?: number;
  /** Keep the Job (and its pod, with its logs) after it ends; Ctrl-C deletes it anyway. */
  keepJob?: boolean;
  /** Seconds to wait for the pod to start (default 300). */
  timeoutSeconds?: number;
  /** ttlSecondsAfterFinished of the Job (default 86400), as a spec's `job.ttlSecondsAfterFinished`. */
  ttlSecondsAfterFinished?: number;
  /**
   * PEM public key (cosign.pub): the image's signature must verify with it before the Job is created (`pipeline run
   * --require-signature`); `$PIPELINE_REQUIRE_SIGNATURE` in the environment asks the same.
   */
  requireSignature?: string;
  /** The launch script's environment (default process.env). */
  processEnv?: Env;
}

/** The `pipeline run --on kubernetes ...` command line runOnKubernetes starts (exported for tests). */
export function runOnKubernetesCommand(opts: RunOnKubernetesOptions = {}): {
  command: string;
  args: string[];
  env: Env;
} {
  const env: Env = { ...(opts.processEnv ?? process.env) };
  const name = opts.name ?? DEFAULT_IMAGE;
  if (!opts.image) {
    if (containerImageLayouts(env)[name]) {
      throw new ContainerImageError(
        "E_IMAGE_NOT_PUSHED",
        `image ${JSON.stringify(name)} was built but not pushed (\`:NAME_binary\`): a cluster cannot pull it; run \`bazel run //pkg:NAME\`, which pushes it first`,
      );
    }
  }
  if (opts.machineType !== undefined && opts.instanceType !== undefined) {
    throw new ContainerImageError(
      "E_BAD_OPTION",
      'runOnKubernetes: give "instanceType" or its newer name "machineType", not both',
    );
  }
  const image = opts.image ?? containerImageUri(name, env);
  const args = ["run", "--on", "kubernetes", "--image", image];
  for (const [k, v] of Object.entries(opts.env ?? {})) args.push("--env", `${k}=${v}`);
  const flags: [string, string | number | undefined][] = [
    ["--cpu", opts.cpu],
    ["--memory", opts.memory],
    ["--gpu", opts.gpu],
    ["--machine-type", opts.machineType ?? opts.instanceType],
    ["--namespace", opts.namespace],
    ["--context", opts.context],
    ["--kubeconfig", opts.kubeconfig],
    ["--service-account", opts.serviceAccount],
    ["--run-as-user", opts.runAsUser],
    ["--timeout", opts.timeoutSeconds],
    ["--ttl-seconds", opts.ttlSecondsAfterFinished],
    ["--require-signature", opts.requireSignature],
  ];
  for (const [flag, v] of flags) if (v !== undefined) args.push(flag, String(v));
  if (opts.restricted !== undefined) args.push(opts.restricted ? "--restricted" : "--no-restricted");
  if (opts.keepJob) args.push("--keep-job");
  args.push("--", ...(opts.args ?? []));
  return cliCommand(args, env);
}

/**
 * Runs image `name` (default: the pipeline's pushed image) as a Kubernetes Job with `pipeline run --on kubernetes`:
 * streams the pod's log, resolves to the container's exit code, deletes the Job unless `keepJob`. Ctrl-C deletes
 * the Job and resolves to 130. Inside the pod, inContainer() is true.
 *
 *   if (launchTarget() === "kubernetes") process.exitCode = await runOnKubernetes({ args: process.argv.slice(2), cpu: "2" });
 */
export async function runOnKubernetes(opts: RunOnKubernetesOptions = {}): Promise<number> {
  return spawnCli(runOnKubernetesCommand(opts), "E_RUN_KUBERNETES");
}

/** Where a launch script runs its pipeline: `PIPELINE_TARGET`, see launchTarget(). */
export const ENV_TARGET = "PIPELINE_TARGET";
export type LaunchTarget = "inprocess" | "container" | "kubernetes";
const TARGETS: readonly LaunchTarget[] = ["inprocess", "container", "kubernetes"];

/**
 * Where the launch script should run the pipeline, Sematic's `CloudResolver() if has_container_image() else None`
 * made a switch: `PIPELINE_TARGET=inprocess|container|kubernetes`. Unset: `container` when the run has a container
 * image (`bazel run :NAME`, `:NAME_binary`), else `inprocess` (`:NAME_local`). Inside a container or pod started by
 * runInContainer/runOnKubernetes it is always `inprocess` (the work happens there). A bad value, or `container` /
 * `kubernetes` without an image, throws ContainerImageError naming the variable and the value.
 */
export function launchTarget(env: Env = process.env): LaunchTarget {
  if (inContainer(env)) return "inprocess";
  const raw = env[ENV_TARGET];
  if (raw === undefined || raw === "") return hasContainerImage(DEFAULT_IMAGE, env) ? "container" : "inprocess";
  if (!(TARGETS as readonly string[]).includes(raw)) {
    throw new ContainerImageError(
      "E_BAD_TARGET",
      `${ENV_TARGET}: expected one of ${TARGETS.join(", ")}, got ${JSON.stringify(raw)}`,
    );
  }
  const target = raw as LaunchTarget;
  if (target !== "inprocess" && !hasContainerImage(DEFAULT_IMAGE, env)) {
    throw new ContainerImageError(
      "E_NO_CONTAINER_IMAGE",
      `${ENV_TARGET}=${target} needs a container image, and this run has none (${ENV_CONTAINER_IMAGE} is not set): run \`bazel run //pkg:NAME\`, not \`:NAME_local\``,
    );
  }
  return target;
}

/**
 * runMap's failure: `pipeline map`'s own, its code one of the error catalogue's (docs/errors.md: E_MAP_TASK,
 * E_MAP_ITEM, E_MAP_TASK_NOT_FOUND, E_MAP_STORE, …), its message the CLI's.
 */
export class MapError extends Error {
  readonly code: string;
  constructor(code: string, message: string) {
    super(message);
    this.name = "MapError";
    this.code = code;
  }
}

/** A map's task: an exported function of a module of the pipeline (part of its image), called with each item. */
export interface MapTaskRef {
  /** The module: `new URL("./score.js", import.meta.url)`, a file: URL string, or a path (`require.resolve("./score")`). */
  module: URL | string;
  export: string;
}

export interface RunMapOptions {
  /** Where the task runs (default: launchTarget()). */
  on?: LaunchTarget;
  /** The image the task runs in, and what results are keyed by (default: image `name` of this run, if any). */
  image?: string;
  name?: string;
  /** Items (indexes) at once, attempts after the first of a failing index (default 2), items per index. */
  parallelism?: number;
  retries?: number;
  chunkSize?: number;
  /** Per item, e.g. "30s": a task past it is stopped and reported like a throw. */
  timeout?: string;
  /** Where items and results are stored: a directory or s3://BUCKET/PREFIX (default: the cache's maps/). */
  artifacts?: string;
  /** The largest item or result, e.g. "64MiB". */
  maxItemSize?: string;
  /** Where task modules' paths start: the app root (default: the one this library sits in, `/app` in images). */
  appRoot?: string;
  /** On Kubernetes: the Job's namespace and its pods' resources, as `pipeline run --on kubernetes` takes them. */
  kubernetes?: {
    namespace?: string;
    cpu?: string;
    memory?: string;
    gpu?: number;
    machineType?: string;
    serviceAccount?: string;
    /** A Kueue LocalQueue: the map's Job waits there until Kueue admits it (`kueue.x-k8s.io/queue-name`). */
    queue?: string;
  };
  processEnv?: Env;
}

/**
 * Runs `task` on every item (JSON values or byte buffers) where `on` says, with `pipeline map`; resolves to the
 * results in item order. Results are stored (opts.artifacts) keyed by the image, the task and the item: a call
 * repeated with the same ones runs only what is missing. A failure rejects with a ContainerImageError whose code and
 * message are the CLI's: a MapError (E_MAP_TASK: the item's index, its error and last log lines).
 *
 *   const scores = await runMap({ module: new URL("./score.js", import.meta.url), export: "score" }, files);
 */
export async function runMap<R = unknown>(
  task: MapTaskRef,
  items: readonly unknown[],
  opts: RunMapOptions = {},
): Promise<R[]> {
  const fs = require("node:fs") as typeof import("node:fs");
  const path = require("node:path") as typeof import("node:path");
  const { fileURLToPath } = require("node:url") as typeof import("node:url");
  const env: Env = { ...(opts.processEnv ?? process.env) };
  const file =
    task.module instanceof URL || task.module.startsWith("file:")
      ? fileURLToPath(task.module)
      : path.resolve(task.module);
  // Inside a container or pod there is no `pipeline` CLI: the runtime's own map code runs the call (map-in-image.ts),
  // on a Job of this cluster when the pod's PIPELINE_TARGET says kubernetes (`pipeline run --on kubernetes` sets it).
  if (inContainer(env)) return runMapInImage<R>(file, task.export, items, opts, env);
  const on = opts.on ?? launchTarget(env);
  const name = opts.name ?? DEFAULT_IMAGE;
  let image = opts.image ?? (hasContainerImage(name, env) ? containerImageUri(name, env) : undefined);
  // Built but not pushed (`:NAME_binary`): the containers run the local layout; its digest is the reference's.
  const layout = containerImageLayouts(env)[name];
  if (image && layout && on !== "kubernetes" && image === containerImageUris(env)[name])
    image = `oci:${layout}@${image.slice(image.lastIndexOf("@") + 1)}`;
  const dir = fs.mkdtempSync(path.join(require("node:os").tmpdir(), "rules_pipeline-map-"));
  try {
    const lines = items.map((v) =>
      JSON.stringify(v instanceof Uint8Array ? { bytes: Buffer.from(v).toString("base64") } : { json: v }),
    );
    fs.writeFileSync(path.join(dir, "items.jsonl"), lines.length ? `${lines.join("\n")}\n` : "");
    const args = ["map", "--envelope", "--task", `${file}#${task.export}`, "--items", path.join(dir, "items.jsonl")];
    args.push(
      "--out",
      path.join(dir, "out.jsonl"),
      "--on",
      on,
      "--app-root",
      opts.appRoot ?? path.resolve(__dirname, "..", "..", ".."),
    );
    if (on === "inprocess") for (const o of process.execArgv) args.push(`--node-option=${o}`);
    const flags: [string, string | number | undefined][] = [
      ["--image", image],
      ["--parallelism", opts.parallelism],
      ["--retries", opts.retries],
      ["--chunk-size", opts.chunkSize],
      ["--timeout", opts.timeout],
      ["--artifacts", opts.artifacts],
      ["--max-item-size", opts.maxItemSize],
      ["--namespace", opts.kubernetes?.namespace],
      ["--cpu", opts.kubernetes?.cpu],
      ["--memory", opts.kubernetes?.memory],
      ["--gpu", opts.kubernetes?.gpu],
      ["--machine-type", opts.kubernetes?.machineType],
      ["--service-account", opts.kubernetes?.serviceAccount],
      ["--queue", opts.kubernetes?.queue],
    ];
    for (const [flag, v] of flags) if (v !== undefined) args.push(flag, String(v));
    const failure = await spawnCliCapturing(cliCommand(args, env));
    if (failure) throw new MapError(failure.code, failure.message);
    const out = fs.readFileSync(path.join(dir, "out.jsonl"), "utf8").split("\n").filter(Boolean);
    return out.map((l) => {
      const v = JSON.parse(l) as { json?: R; bytes?: string };
      return (typeof v.bytes === "string" ? Buffer.from(v.bytes, "base64") : v.json) as R;
    });
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** runMap inside an image (src/runtime/map-in-image.ts, loaded only there); Ctrl-C and SIGTERM stop the map first. */
async function runMapInImage<R>(
  file: string,
  exportName: string,
  items: readonly unknown[],
  opts: RunMapOptions,
  env: Env,
): Promise<R[]> {
  const { mapInImage } = require("./map-in-image") as typeof import("./map-in-image");
  const { MapRunError } = require("./map-error") as typeof import("./map-error");
  const { durationMs, sizeBytes } = require("./units") as typeof import("./units");
  const timeoutMs = opts.timeout === undefined ? 0 : durationMs(opts.timeout);
  const maxValueBytes = opts.maxItemSize === undefined ? 64 * 1024 * 1024 : sizeBytes(opts.maxItemSize);
  if (timeoutMs === undefined || maxValueBytes === undefined || maxValueBytes < 1)
    throw new MapError(
      "E_BAD_OPTION",
      `runMap: timeout expects a duration like 30s and maxItemSize a size like 64MiB, got ${JSON.stringify(opts.timeout)}, ${JSON.stringify(opts.maxItemSize)}`,
    );
  const on = opts.on ?? (env[ENV_TARGET] === "kubernetes" ? "kubernetes" : "inprocess");
  if (on === "container")
    throw new MapError(
      "E_MAP_TARGET",
      "runMap inside a container: on container is not available here (no container runtime in an image); use inprocess or kubernetes",
    );
  if (
    opts.kubernetes?.machineType !== undefined ||
    opts.kubernetes?.namespace !== undefined ||
    opts.kubernetes?.serviceAccount !== undefined
  )
    throw new MapError(
      "E_MAP_TARGET",
      "runMap inside a pod: kubernetes.machineType, namespace and serviceAccount are the pipeline's own (its pod's); give cpu, memory or gpu",
    );
  const stop = new AbortController();
  const handlers = (["SIGINT", "SIGTERM"] as const).map((sig) => [sig, () => stop.abort()] as const);
  for (const [sig, h] of handlers) process.on(sig, h);
  try {
    const values = await mapInImage({
      on,
      file,
      export: exportName,
      appRoot:
        opts.appRoot ?? (require("node:path") as typeof import("node:path")).resolve(__dirname, "..", "..", ".."),
      items,
      artifacts: opts.artifacts,
      parallelism: opts.parallelism,
      retries: opts.retries,
      chunkSize: opts.chunkSize,
      timeoutMs,
      maxValueBytes,
      resources: opts.kubernetes,
      queue: opts.kubernetes?.queue,
      env,
      signal: stop.signal,
      log: (line) => process.stderr.write(`${line}\n`),
    });
    return values as R[];
  } catch (e) {
    if (e instanceof MapRunError) throw new MapError(e.code, e.message);
    throw e;
  } finally {
    for (const [sig, h] of handlers) process.off(sig, h);
  }
}

/** Runs the CLI with its stderr passed on and read: undefined on success, else its `error[CODE]: message`. */
function spawnCliCapturing(cmd: {
  command: string;
  args: string[];
  env: Env;
}): Promise<{ code: string; message: string } | undefined> {
  const { spawn } = require("node:child_process") as typeof import("node:child_process");
  return new Promise((resolve, reject) => {
    const child = spawn(cmd.command, cmd.args, {
      env: cmd.env as NodeJS.ProcessEnv,
      stdio: ["ignore", "inherit", "pipe"],
    });
    let tail = "";
    child.stderr.on("data", (c: Buffer) => {
      process.stderr.write(c);
      tail = (tail + c.toString("utf8")).slice(-64 * 1024);
    });
    const forward = (sig: NodeJS.Signals) => () => child.kill(sig);
    const handlers = (["SIGINT", "SIGTERM"] as const).map((s) => [s, forward(s)] as const);
    for (const [s, h] of handlers) process.on(s, h);
    child.on("error", (e) =>
      reject(new ContainerImageError("E_RUN_MAP", `cannot start \`${cmd.command} map\`: ${e.message}`)),
    );
    child.on("close", (code) => {
      for (const [s, h] of handlers) process.off(s, h);
      if (code === 0) return resolve(undefined);
      // The CLI's error boundary prints `error[CODE]: message` then a `see docs/errors.md#…` line.
      const m = /error\[(E_[A-Z0-9_]+)\]: ([\s\S]*?)\s*(?:\nsee docs\/errors\.md#\S*\s*)?$/.exec(tail);
      resolve(
        m ? { code: m[1], message: m[2] } : { code: "E_RUN_MAP", message: `pipeline map exited with code ${code}` },
      );
    });
  });
}
