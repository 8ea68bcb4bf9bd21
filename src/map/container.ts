/**
 * The `container` target of a map: each index a local container of the pipeline's image (src/container/: runc,
 * podman or docker, as `pipeline run`), running the map worker the rules put into every image
 * (`/app/node_modules/@rules_pipeline/runtime/map-worker.js`), `parallelism` at a time under the local schedule's
 * Indexed Job meaning (schedule.ts). A directory store is mounted into each container at CONTAINER_STORE; an S3 store
 * is reached from the container (the host's network) with the caller's credential in its environment.
 *
 * The worker says which item it starts and finishes on stdout (worker-output.ts): the progress, and which item a
 * failed attempt was on; its exit code says whether another attempt may change that (42: it never will).
 */
import { join } from "node:path";
import type { Writable } from "node:stream";
import { targetExists } from "../fs-exists";
import type { PreparedImage } from "../container/image-cache";
import type { Keychain } from "../registry-auth/keychain";
import type { LayerLimits } from "../layer/limits";
import { lineWriter } from "../lines";
import { EXIT_NOT_RETRIABLE } from "../runtime/map-chunk";
import { MAP_WORKER_IN_IMAGE } from "../runtime/map-cluster";
import { DirStore } from "../runtime/map-store-dir";
import type { MapRun, MapTarget, TargetFailure } from "./target";
import { scheduleRun } from "./schedule";
import { CurrentItem, chunkEvent, readFailure } from "./worker-output";
import { requireTaskAndWorker } from "./image-check";

/** Where the store is mounted in each container. */
export const CONTAINER_STORE = "/pipeline-map-store";
const TAIL_LINES = 20;

export interface ContainerTargetOptions {
  /** The image: HOST/REPO@sha256:… or oci:DIR@sha256:… */
  image: string;
  keychain?: Keychain;
  insecure?: boolean;
  cacheDir: string;
  limits?: LayerLimits;
  runtime?: "auto" | "runc" | "podman" | "docker";
  /** What a worker needs to open an S3 store (its credential, endpoint, region; treated as secrets); {} for a directory. */
  storeEnv: Record<string, string>;
  /** Where the task's output (the containers' stderr) goes. */
  output: (line: string) => void;
  log: (line: string) => void;
  warn: (line: string) => void;
}

export function containerTarget(o: ContainerTargetOptions): MapTarget {
  let prepared: PreparedImage | undefined;
  const prepare = async () =>
    (prepared ??= await (await import("../container/image-cache.js")).prepareImage(o.image, {
      cacheDir: o.cacheDir,
      keychain: o.keychain,
      insecure: o.insecure,
      log: o.log,
      warn: o.warn,
      limits: o.limits,
    }));
  return {
    name: "container",
    async check(run: MapRun): Promise<void> {
      const image = await prepare();
      // Checked in the image's root filesystem, before any container starts: what the map will run.
      await requireTaskAndWorker((path) => targetExists(join(image.rootfs, ...path.split("/").filter(Boolean))), {
        what: run.what,
        image: o.image,
        module: run.plan.task.module,
        worker: MAP_WORKER_IN_IMAGE,
      });
    },
    async run(run: MapRun): Promise<TargetFailure | undefined> {
      const { runPrepared } = await import("../container/container.js");
      const image = await prepare();
      // A directory store is mounted; an S3 store is reached over the network (the host's) with the caller's credential.
      const dir = run.store instanceof DirStore ? run.store.root : undefined;
      const failures = new Map<number, TargetFailure>();
      const failed = await scheduleRun(run, async (index, attempt, signal) => {
        const item = new CurrentItem();
        const tail: string[] = [];
        const stdout = lineWriter((line) => {
          const e = chunkEvent(line);
          if (!e) return o.output(line);
          item.see(e);
          run.progress.item(e);
        });
        const stderr = lineWriter((line) => {
          tail.push(line);
          if (tail.length > TAIL_LINES) tail.shift();
          o.output(line);
        });
        const { exitCode } = await runPrepared(image, {
          command: ["node", MAP_WORKER_IN_IMAGE],
          env: {
            ...o.storeEnv,
            PIPELINE_MAP_STORE: dir ? CONTAINER_STORE : run.store.where,
            PIPELINE_MAP_PLAN: run.planHex,
            PIPELINE_MAP_INDEX: String(index),
          },
          mounts: dir ? [{ source: dir, destination: CONTAINER_STORE, readonly: false }] : [],
          runtime: o.runtime,
          name: `map-${index}-${attempt}`,
          stdout: stdout as Writable,
          stderr: stderr as Writable,
          signal,
          cacheDir: o.cacheDir,
          log: o.log,
          warn: o.warn,
        });
        await Promise.all([stdout, stderr].map((s) => new Promise<void>((res) => s.end(res))));
        if (exitCode === 0) return { ok: true };
        if (signal.aborted) return { ok: false, retry: false, message: "stopped" };
        const current = item.current;
        const failure = current === undefined ? undefined : await readFailure(run, current);
        if (failure) run.progress.failed(failure);
        const message = failure?.message ?? `the map worker exited with code ${exitCode}`;
        failures.set(index, { attempts: attempt + 1, failure, log: [...tail], message });
        return { ok: false, retry: exitCode !== EXIT_NOT_RETRIABLE, message };
      });
      if (!failed) return undefined;
      return {
        ...(failures.get(failed.index) ?? { failure: undefined, log: [], message: failed.message }),
        attempts: failed.attempts,
      };
    },
  };
}
