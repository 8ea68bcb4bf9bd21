/**
 * `pipeline map`: one task over the items of a JSON-lines file (docs/scale-out.md, src/map/).
 *
 *   pipeline map --task FILE#EXPORT --items FILE.jsonl [--out FILE.jsonl] [--on inprocess|container|kubernetes]
 *                [--image REF] [--parallelism N] [--retries N] [--timeout 30s] [--chunk-size N]
 *                [--artifacts DIR|s3://BUCKET/PREFIX] [--max-item-size 64MiB] [--json]
 *
 * Line i of --out (or stdout) is item i's result. Results are kept in the store under (code, task, item), the code
 * being the image's digest (--image) or, without an image, the task module's own digest: a map run again with the
 * same ones reads them back instead of running. Ctrl-C / SIGTERM stop every running task (threads, containers, the
 * Job) before the command returns; --out is written only when every result is there.
 */
import { once } from "node:events";
import { createReadStream, createWriteStream, promises as fs } from "node:fs";
import { availableParallelism, constants } from "node:os";
import { isAbsolute, join, relative, resolve, sep } from "node:path";
import { Readable } from "node:stream";
import { PipelineError } from "../../errors";
import { PINNED_RE } from "../../oci/grammar";
import { onTermination } from "../../process/signals";
import { holdTemp, tempPath } from "../../process/temp";
import { MapValueError, sha256Hex } from "../../runtime/map-codec";
import type { MapTarget } from "../../map/target";
import type { Keychain } from "../../registry-auth/keychain";
import { type ObjectStore, ObjectStoreError } from "../../runtime/object-store";
import { type CommandArgs, usageError as usage } from "../args";
import type { MAP } from "../command-specs";
import { type CliIo, showProgress } from "../io";

export type MapArgs = CommandArgs<typeof MAP>;

const DEFAULT_MAX_ITEM = 64 * 1024 * 1024;

/**
 * `FILE#EXPORT`: the module's file on this machine (absolute), its path from the app root, and the export. The file must
 * exist here for `inprocess` (it runs here); for `container` it is looked for in the image (container.ts check).
 */
async function parseTask(raw: string, cwd: string, appRoot: string, mustExist: boolean) {
  const hash = raw.lastIndexOf("#");
  const name = hash > 0 ? raw.slice(hash + 1) : "";
  if (hash <= 0 || !/^[A-Za-z_$][A-Za-z0-9_$]*$/.test(name))
    throw usage(
      `--task: expected FILE#EXPORT (a module and the name of an exported function), got ${JSON.stringify(raw)}`,
    );
  const file = resolve(cwd, raw.slice(0, hash));
  if (mustExist && !(await fs.stat(file).catch(() => undefined))?.isFile())
    throw new PipelineError("E_MAP_TASK_NOT_FOUND", `--task: ${file}: no such module file`);
  const module = relative(appRoot, file);
  if (module.startsWith(`..${sep}`) || module === ".." || isAbsolute(module))
    throw new PipelineError(
      "E_MAP_TASK_NOT_FOUND",
      `--task: ${file} is outside the pipeline's app root ${appRoot}: a task must be part of the pipeline's code (its image)`,
    );
  return { file, module: module.split(sep).join("/"), export: name };
}

/** The digest results are keyed by: the image's (`…@sha256:…`), else the module file's own. */
async function codeOf(image: string | undefined, file: string): Promise<string> {
  if (image) {
    const m = PINNED_RE.exec(image);
    if (!m)
      throw usage(
        `--image: expected a reference by digest (HOST/REPO@sha256:… or oci:DIR@sha256:…), got ${JSON.stringify(image)}`,
      );
    return `image:${m[1]}`;
  }
  return `file:sha256:${sha256Hex(await fs.readFile(file))}`;
}

function whole(flag: string, v: number | undefined, dflt: number, min: number): number {
  if (v === undefined) return dflt;
  if (!Number.isInteger(v) || v < min)
    throw usage(`--${flag}: expected a whole number ≥ ${min}, got ${JSON.stringify(v)}`);
  return v;
}

export async function map(a: MapArgs, io: CliIo): Promise<void> {
  try {
    await mapCommand(a, io);
  } catch (e) {
    // The runtime's own errors (its files import nothing of ours) become the CLI's, with the same code and message.
    if (e instanceof ObjectStoreError) throw new PipelineError(e.code, e.message, { cause: e });
    if (e instanceof MapValueError)
      throw new PipelineError("E_MAP_STORE", `the map's store: ${e.message}`, { cause: e });
    throw e;
  }
}

async function mapCommand(a: MapArgs, io: CliIo): Promise<void> {
  const on = a.on ?? io.env.PIPELINE_TARGET ?? (a.image ? "container" : "inprocess");
  if (on !== "inprocess" && on !== "container" && on !== "kubernetes")
    throw new PipelineError(
      "E_MAP_TARGET",
      `${a.on ? "--on" : "PIPELINE_TARGET"}: expected inprocess, container or kubernetes, got ${JSON.stringify(on)}`,
    );
  if (on !== "kubernetes") {
    const given = KUBERNETES_ONLY.filter((k) => a[k] !== undefined && a[k] !== false);
    if (given.length)
      throw usage(`${given.map((k) => `--${k}`).join(", ")}: with --on kubernetes only (got --on ${on})`);
  }
  if (on === "container" && !a.image)
    throw usage("--on container: name the pipeline's image with --image (HOST/REPO@sha256:… or oci:DIR@sha256:…)");
  const appRoot = resolve(io.cwd, a["app-root"] ?? ".");
  const task = await parseTask(a.task, io.cwd, appRoot, on === "inprocess");
  // A cluster's size is not this machine's: 10 pods at once unless told.
  const parallelism = whole("parallelism", a.parallelism, on === "kubernetes" ? 10 : availableParallelism(), 1);
  const retries = whole("retries", a.retries, 2, 0);
  const chunkSize = whole("chunk-size", a["chunk-size"], 0, 1);
  const { parseDuration, parseSize } = await import("../../units.js");
  const timeoutMs = a.timeout ? parseDuration(a.timeout, "--timeout") : 0;
  const maxValueBytes = a["max-item-size"] ? parseSize(a["max-item-size"], "--max-item-size") : DEFAULT_MAX_ITEM;
  if (maxValueBytes < 1)
    throw usage(`--max-item-size: expected at least 1 byte, got ${JSON.stringify(a["max-item-size"])}`);
  const code = await codeOf(a.image, task.file);
  const { store, workerEnv } = await openStoreFlag(a, io);
  const items =
    a.items === "-"
      ? Readable.from([Buffer.from(await io.readStdin())])
      : createReadStream(resolve(io.cwd, a.items)).on("error", () => {});
  if (a.items !== "-") {
    const st = await fs.stat(resolve(io.cwd, a.items)).catch(() => undefined);
    if (!st || st.isDirectory())
      throw new PipelineError("E_MAP_ITEM", `--items: ${resolve(io.cwd, a.items)}: no such file`);
  }

  const { runMap } = await import("../../map/run-map.js");
  const { MapCounter } = await import("../../map/progress.js");
  const stop = new AbortController();
  let stoppedBy: NodeJS.Signals | undefined;
  const offSignals = onTermination((sig) => {
    io.stderr(`${sig}: stopping the map's tasks`);
    stoppedBy ??= sig;
    stop.abort();
  });
  const outFile = a.out ? resolve(io.cwd, a.out) : undefined;
  const tmp = outFile ? tempPath(outFile) : undefined;
  const release = tmp ? holdTemp(tmp) : () => {};
  const file = tmp ? createWriteStream(tmp, { flags: "wx", mode: 0o644 }) : undefined;
  const closed = file ? once(file, "close") : undefined;
  try {
    await runMap({
      store,
      target: await targetOf(on, a, io, task.file, workerEnv),
      task: { module: task.module, export: task.export },
      code,
      items,
      itemsWhat: a.items === "-" ? "stdin" : a.items,
      format: a.envelope ? "envelope" : "json",
      out: (line) => (file ? file.write(`${line}\n`) : io.stdout(line)),
      parallelism,
      retries,
      timeoutMs,
      chunkSize,
      maxValueBytes,
      progress: (total) => new MapCounter(total, a.json ? "json" : showProgress(io) ? "terminal" : "lines", io.stderr),
      signal: stop.signal,
    });
    if (file && outFile && tmp) {
      file.end();
      await closed;
      await fs.rename(tmp, outFile);
    }
  } catch (e) {
    // Stopped by a signal: the exit code says which (130 for SIGINT, 143 for SIGTERM, as a shell's).
    if (stoppedBy && e instanceof PipelineError && e.code === "E_ABORTED")
      throw new PipelineError(
        "E_ABORTED",
        `${stoppedBy}: the map was stopped; the results stored so far stay (the next run does only the rest)`,
        {
          exitCode: 128 + (constants.signals[stoppedBy] ?? 15),
        },
      );
    throw e;
  } finally {
    offSignals();
    if (file && !file.closed) {
      file.destroy();
      await closed?.catch(() => {});
    }
    if (tmp) await fs.rm(tmp, { force: true }).catch(() => {});
    release();
  }
}

/**
 * The store --artifacts names: a directory (default the cache's maps/), or s3://BUCKET/PREFIX with the credential of
 * the AWS chain (src/credentials/aws-chain.ts) and the endpoint and region of --s3-endpoint/--s3-region, else the
 * environment's. Returned with the variables a worker elsewhere (a container) needs to open the same store.
 */
async function openStoreFlag(
  a: MapArgs,
  io: CliIo,
): Promise<{ store: ObjectStore; workerEnv: Record<string, string> }> {
  const raw = a.artifacts ?? io.env.PIPELINE_ARTIFACTS;
  if (raw?.startsWith("s3://")) {
    const [{ awsChainCredentials, s3Location }, { parseS3Location, s3StoreAt }] = await Promise.all([
      import("../../credentials/aws-chain.js"),
      import("../../runtime/map-store-s3.js"),
    ]);
    const { bucket, prefix } = parseS3Location(raw, "--artifacts");
    const where = `s3://${bucket}/${prefix}`;
    const loc = s3Location(where, { endpoint: a["s3-endpoint"], region: a["s3-region"] }, io.env);
    const creds = await awsChainCredentials(where, { env: io.env });
    const env = { AWS_REGION: loc.region, ...(loc.endpoint ? { AWS_ENDPOINT_URL_S3: loc.endpoint } : {}) };
    const workerEnv: Record<string, string> = {
      ...env,
      AWS_ACCESS_KEY_ID: creds.accessKeyId,
      AWS_SECRET_ACCESS_KEY: creds.secretAccessKey,
      ...(creds.sessionToken ? { AWS_SESSION_TOKEN: creds.sessionToken } : {}),
    };
    return { store: s3StoreAt(raw, env, creds, "--artifacts"), workerEnv };
  }
  const { openStore } = await import("../../runtime/map-store.js");
  const { cacheRoot } = await import("../../cache/layout.js");
  const dir = raw ? resolve(io.cwd, raw) : join(cacheRoot(io.env, a["cache-dir"]), "maps");
  return { store: await openStore(dir, io.env, "--artifacts"), workerEnv: {} };
}

/** The flags that mean something only on Kubernetes. */
const KUBERNETES_ONLY = [
  "namespace",
  "kubeconfig",
  "context",
  "cpu",
  "memory",
  "gpu",
  "machine-type",
  "service-account",
  "keep-job",
  "pod-timeout",
  "queue",
] as const satisfies readonly (keyof MapArgs)[];

/** The target `on` names, made from the command's flags. */
async function targetOf(
  on: "inprocess" | "container" | "kubernetes",
  a: MapArgs,
  io: CliIo,
  file: string,
  storeEnv: Record<string, string>,
): Promise<MapTarget> {
  if (on === "inprocess") {
    const { inProcessTarget } = await import("../../map/inprocess.js");
    return inProcessTarget({ file, execArgv: a["node-option"], output: (t) => io.stderr(t.replace(/\n$/, "")) });
  }
  if (on === "kubernetes") return (await import("./map-kubernetes.js")).kubernetesTargetOf(a, io, storeEnv);
  const image = a.image!;
  const { containerTarget } = await import("../../map/container.js");
  const { cacheRoot } = await import("../../cache/layout.js");
  const { limitsFromFlags } = await import("../../layer/limits.js");
  const { isLayoutReference } = await import("../../deploy/layout-image.js");
  let keychain: Keychain | undefined;
  if (!isLayoutReference(image)) {
    const { parseReference } = await import("../../oci/reference.js");
    const { keychainFor } = await import("../auth-flags.js");
    keychain = await keychainFor(a, parseReference(image, "--image").registry, io);
  }
  return containerTarget({
    image,
    keychain,
    insecure: a.insecure,
    cacheDir: cacheRoot(io.env, a["cache-dir"]),
    limits: limitsFromFlags({}, io.env),
    runtime: a.runtime,
    storeEnv,
    output: (line) => io.stderr(line),
    log: (line) => io.stderr(line),
    warn: (line) => io.stderr(`warning: ${line}`),
  });
}
