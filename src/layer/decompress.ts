/**
 * Pieces every reader of layer blobs shares (the unpacker, verify-image, model artifacts): the uncompressed
 * tar of a blob, and the lexical check that a symlink stays inside a root.
 */
import { createGunzip } from "node:zlib";
import { Readable } from "node:stream";
import { PipelineError } from "../errors";

/** The uncompressed tar of a layer blob: gunzipped when it starts with gzip's magic, as it is when not compressed. */
export async function* decompressed(src: AsyncIterable<Buffer>, label: string): AsyncGenerator<Buffer> {
  const it = src[Symbol.asyncIterator]();
  let head = Buffer.alloc(0);
  let done = false;
  while (head.length < 4) {
    const r = await it.next();
    if (r.done) {
      done = true;
      break;
    }
    head = Buffer.concat([head, r.value]);
  }
  async function* all(): AsyncGenerator<Buffer> {
    if (head.length) yield head;
    while (!done) {
      const r = await it.next();
      if (r.done) return;
      yield r.value;
    }
  }
  if (head[0] === 0x1f && head[1] === 0x8b) {
    const input = Readable.from(all(), { objectMode: false });
    const gunzip = createGunzip({ chunkSize: 1 << 20 });
    input.on("error", (e) => gunzip.destroy(e));
    try {
      yield* input.pipe(gunzip);
    } catch (e) {
      if (e instanceof PipelineError) throw e;
      throw new PipelineError("E_TAR_READ", `layer ${label}: not a valid gzip stream (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`, { cause: e });
    }
    return;
  }
  if (head.length >= 4 && head.readUInt32LE(0) === 0xfd2fb528) {
    throw new PipelineError("E_TAR_READ", `layer ${label}: zstd-compressed layers are not supported; use gzip or an uncompressed tar`);
  }
  yield* all();
}

/** Whether a symlink at `dirParts/...` with `target` stays inside the root when followed (lexically). */
export function linkStaysInside(dirParts: readonly string[], target: string): boolean {
  const cur = target.startsWith("/") ? [] : [...dirParts];
  for (const p of target.split("/")) {
    if (p === "" || p === ".") continue;
    if (p === "..") {
      if (cur.length === 0) return false;
      cur.pop();
    } else cur.push(p);
  }
  return true;
}

