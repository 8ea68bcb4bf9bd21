/**
 * Pieces every reader of layer blobs shares (the unpacker, verify-image, model artifacts): the uncompressed
 * tar of a blob (and, re-exported from safety.ts, the lexical check that a symlink stays inside a root).
 */
import { createGunzip } from "node:zlib";
import { Readable } from "node:stream";
import { PipelineError } from "../errors";
import type { ExpansionMeter } from "./limits";

/**
 * The uncompressed tar of a layer blob: gunzipped when it starts with gzip's magic, as it is when not compressed.
 * Each uncompressed chunk is counted on `meter` (limits.ts) before it is passed on, with the compressed bytes read
 * so far, so a decompression bomb is refused while it expands, not after.
 */
export async function* decompressed(
  src: AsyncIterable<Buffer>,
  label: string,
  meter?: ExpansionMeter,
): AsyncGenerator<Buffer> {
  const it = src[Symbol.asyncIterator]();
  let head = Buffer.alloc(0);
  let done = false;
  let compressed = 0;
  while (head.length < 4) {
    const r = await it.next();
    if (r.done) {
      done = true;
      break;
    }
    head = Buffer.concat([head, r.value]);
  }
  async function* all(): AsyncGenerator<Buffer> {
    compressed += head.length;
    if (head.length) yield head;
    while (!done) {
      const r = await it.next();
      if (r.done) return;
      compressed += r.value.length;
      yield r.value;
    }
  }
  if (head[0] === 0x1f && head[1] === 0x8b) {
    const input = Readable.from(all(), { objectMode: false });
    const gunzip = createGunzip({ chunkSize: 1 << 20 });
    input.on("error", (e) => gunzip.destroy(e));
    try {
      for await (const chunk of input.pipe(gunzip) as AsyncIterable<Buffer>) {
        meter?.add(chunk.length, compressed);
        yield chunk;
      }
    } catch (e) {
      if (e instanceof PipelineError) throw e;
      throw new PipelineError(
        "E_TAR_READ",
        `layer ${label}: not a valid gzip stream (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`,
        { cause: e },
      );
    } finally {
      input.destroy();
      gunzip.destroy();
    }
    return;
  }
  if (head.length >= 4 && head.readUInt32LE(0) === 0xfd2fb528) {
    throw new PipelineError(
      "E_TAR_READ",
      `layer ${label}: zstd-compressed layers are not supported; use gzip or an uncompressed tar`,
    );
  }
  for await (const chunk of all()) {
    meter?.add(chunk.length);
    yield chunk;
  }
}

/** The lexical check that a symlink stays inside a root now lives with the rest of the judgement of entries. */
export { linkStaysInside } from "./safety";
