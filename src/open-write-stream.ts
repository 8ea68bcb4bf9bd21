/**
 * A write stream to a file that exists once the promise resolves. `createWriteStream(path)` opens its file later, on
 * its own: a pipeline whose source fails at once rejects before that open, the caller's clean-up (`rm` of its
 * temporary file) runs first, and the open then creates the file it removed, left behind for good
 * (src/tarball/write.test.ts caught one). Every writer that removes its file on failure opens it with this.
 */
import type { WriteStream } from "node:fs";
import { open } from "node:fs/promises";

export interface OpenWriteStreamOptions {
  /** Permission bits of a file this creates (before the umask); default 0o666. */
  mode?: number;
  highWaterMark?: number;
}

/** Opens (creates or truncates) `path`, then returns a stream that writes it and closes it when it ends or fails. */
export async function openWriteStream(path: string, opts: OpenWriteStreamOptions = {}): Promise<WriteStream> {
  const fh = await open(path, "w", opts.mode ?? 0o666);
  return fh.createWriteStream(opts.highWaterMark ? { highWaterMark: opts.highWaterMark } : {});
}
