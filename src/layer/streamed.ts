/**
 * A layer made again for each reader instead of written to disk: one pass describes it (the tar and blob hashed,
 * the bytes dropped), and each open() runs the same deterministic stages again (build.ts: sorted entries, fixed
 * mtime and owners, gzip cut at fixed offsets), so its bytes are the described ones — and whoever stores them checks
 * that against the digest (a registry refuses an upload whose bytes do not match it). For big inputs pushed once,
 * such as a model's weights: no copy on disk, at the cost of reading the inputs once per open().
 */
import { PassThrough, Writable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { VerifyStream } from "../oci/verifying-stream";
import type { Layer } from "../oci/model";
import { type BuildLayerOptions, describe, type LayerInput, layerStages, prepareLayer } from "./build";

export async function streamedLayer(files: readonly LayerInput[], opts: BuildLayerOptions = {}): Promise<Layer> {
  const p = await prepareLayer(files, opts);
  const tarHash = new VerifyStream();
  const blobHash = new VerifyStream();
  const drop = new Writable({ highWaterMark: 1 << 20, write: (_chunk, _enc, done) => done() });
  await pipeline([...layerStages(p, tarHash), ...(p.compress ? [blobHash] : []), drop]);
  const desc = describe(p, tarHash, p.compress ? blobHash : tarHash, opts.annotations);
  return {
    ...desc,
    open: () => {
      const out = new PassThrough({ highWaterMark: 1 << 20 });
      pipeline([...layerStages(p, new PassThrough()), out]).catch((e: Error) => out.destroy(e));
      return out;
    },
  };
}
