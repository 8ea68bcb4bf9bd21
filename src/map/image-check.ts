/**
 * Before a map runs on Kubernetes: does the pipeline's image (in its registry, by digest) hold the task's module and
 * the map worker? Answered from the image's layers' tar headers (image-contract/file-index.ts: whiteouts and
 * in-image symlinks applied, nothing unpacked), so a task that is not part of the image is an error naming it before
 * any pod starts, as the container target answers from the unpacked image. Reading the headers means reading every
 * layer once: a positive answer is kept in the cache (`map-checks/`, keyed by the image's digest and the module: an
 * image by digest never changes), so the next map of the same image and task does not read it again.
 */
import { createHash } from "node:crypto";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { PipelineError } from "../errors";
import { targetExists } from "../fs-exists";
import type { LayerLimits } from "../layer/limits";
import type { Keychain } from "../registry-auth/keychain";

export interface ImageCheckOptions {
  /** HOST/REPO@sha256:… */
  image: string;
  keychain?: Keychain;
  insecure?: boolean;
  cacheDir: string;
  limits?: LayerLimits;
  /** The map worker's path in the image. */
  worker: string;
}

/** `what` names the task in messages (`task pkg/score.js#score`). */
export async function checkImageHolds(module: string, what: string, o: ImageCheckOptions): Promise<void> {
  const digest = o.image.slice(o.image.lastIndexOf("@") + 1);
  const marker = join(
    o.cacheDir,
    "map-checks",
    createHash("sha256").update(`${digest}\0${module}\0${o.worker}`).digest("hex"),
  );
  if (await targetExists(marker)) return;
  const [{ parseReference }, { pullImage }, { indexImage }] = await Promise.all([
    import("../oci/reference.js"),
    import("../registry/pull.js"),
    import("../image-contract/verify-image.js"),
  ]);
  const image = await pullImage(parseReference(o.image, "--image"), {
    keychain: o.keychain,
    insecure: o.insecure,
    limits: o.limits,
  });
  const index = await indexImage(image, o.image, o.limits);
  await requireTaskAndWorker(
    async (path) => {
      const r = index.resolve(path);
      return r.ok && r.entry.type === "file";
    },
    { what, image: o.image, module, worker: o.worker },
  );
  mkdirSync(join(o.cacheDir, "map-checks"), { recursive: true, mode: 0o700 });
  writeFileSync(marker, "");
}

/**
 * The two things a map needs of an image, asked through `isFile` (an absolute path in the image): the task's module
 * under /app (else E_MAP_TASK_NOT_FOUND) and the map worker (else E_MAP_TARGET). The container target asks its
 * unpacked root filesystem, the kubernetes target the registry's layers (above): the same checks and words for both.
 */
export async function requireTaskAndWorker(
  isFile: (path: string) => Promise<boolean>,
  o: { what: string; image: string; module: string; worker: string },
): Promise<void> {
  if (!(await isFile(`/app/${o.module}`)))
    throw new PipelineError(
      "E_MAP_TASK_NOT_FOUND",
      `${o.what}: the image ${o.image} has no /app/${o.module}: a task must be a module of the pipeline (its srcs or deps)`,
    );
  if (!(await isFile(o.worker)))
    throw new PipelineError(
      "E_MAP_TARGET",
      `the image ${o.image} has no map worker (${o.worker}): it was built by an older rules_pipeline; rebuild it`,
    );
}
