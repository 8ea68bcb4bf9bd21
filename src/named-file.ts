/**
 * The one reader of a small file that a spec or a flag names (a key, a password file, a secret): opened with
 * O_NONBLOCK, so a FIFO does not block the open itself; checked with fstat on the open descriptor (the file read is
 * the file checked) to be a regular file no larger than a bound stated per kind; then read to at most bound + 1 bytes,
 * so a file that grows while it is read is caught too. Before this, such paths were read whole and only then measured:
 * `/dev/zero` as a spec's requireSignature took a process to gigabytes of memory, deaf to SIGTERM (the read was
 * synchronous), and a FIFO blocked it for ever.
 *
 * readNamedFile is asynchronous (a signal is heard while it reads); readNamedFileSync, the same checks, is for the
 * readers whose callers are synchronous: the checks come before the first byte is read, so what it reads is a regular
 * file of at most `bound` bytes, read in a moment.
 */
import { closeSync, constants, fstatSync, openSync, promises as fsp, readSync, type Stats } from "node:fs";
import { PipelineError } from "./errors";
import type { ErrorCode } from "./error-codes/catalogue";

/** What a named file is, and how its errors read. */
export interface NamedFile {
  /** The field or flag that names it, and what it is: `requireSignature (public key)`, `--sign-password-file`. */
  what: string;
  /** The most bytes such a file may hold (a PEM key: 64 KiB). */
  bound: number;
  /** The error code of the errors (the kind's: E_SIGNING_KEY for keys). */
  code: ErrorCode;
  /** The error when there is no such file (default: `code`'s, saying so). */
  missing?: () => Error;
}

/** `a character device`, `a FIFO`: what a path that is not a regular file is, for messages. */
export function kindOf(st: Stats): string {
  if (st.isDirectory()) return "a directory";
  if (st.isCharacterDevice()) return "a character device";
  if (st.isBlockDevice()) return "a block device";
  if (st.isFIFO()) return "a FIFO (named pipe)";
  if (st.isSocket()) return "a socket";
  return "not a regular file";
}

function fail(spec: NamedFile, path: string, why: string): PipelineError {
  return new PipelineError(spec.code, `${spec.what}: ${path}: ${why}`);
}

function openError(spec: NamedFile, path: string, e: unknown): Error {
  const code = (e as NodeJS.ErrnoException).code;
  if (code === "ENOENT" && spec.missing) return spec.missing();
  return fail(
    spec,
    path,
    code === "ENOENT" ? "no such file" : `cannot read it (${code ?? (e as Error).message ?? String(e)})`,
  );
}

/** Throws unless `st` is a regular file of at most the bound. */
function checkStat(spec: NamedFile, path: string, st: Stats): void {
  if (!st.isFile()) throw fail(spec, path, `${kindOf(st)}, not a regular file`);
  if (st.size > spec.bound) throw fail(spec, path, `${st.size} bytes, more than such a file holds (${spec.bound})`);
}

function grewError(spec: NamedFile, path: string): PipelineError {
  return fail(spec, path, `more than ${spec.bound} bytes (it grew while it was read)`);
}

/**
 * The buffer a read starts with: the file's size and one byte more (the byte that tells a file grew past what fstat
 * said), not the kind's whole bound: a lockfile's bound is 256 MiB, and most are a few kB.
 */
function firstBuffer(st: Stats, spec: NamedFile): Buffer {
  return Buffer.alloc(Math.min(st.size, spec.bound) + 1);
}

/** `buf` while it has room after `n` bytes, else a copy twice as large (at most bound + 1 bytes). */
function room(buf: Buffer, n: number, bound: number): Buffer {
  if (n < buf.length || buf.length > bound) return buf;
  const next = Buffer.alloc(Math.min(bound + 1, Math.max(buf.length * 2, 64 * 1024)));
  buf.copy(next, 0, 0, n);
  return next;
}

// O_NONBLOCK: opening a FIFO for reading blocks until a writer comes; with it the open returns and fstat refuses it.
const FLAGS = constants.O_RDONLY | constants.O_NONBLOCK;

/** The file's bytes (a regular file of at most `spec.bound` bytes); PipelineError naming `spec.what` and `path` otherwise. */
export async function readNamedFile(path: string, spec: NamedFile): Promise<Buffer> {
  let fh: fsp.FileHandle;
  try {
    fh = await fsp.open(path, FLAGS);
  } catch (e) {
    throw openError(spec, path, e);
  }
  try {
    const st = await fh.stat();
    checkStat(spec, path, st);
    let buf = firstBuffer(st, spec);
    let n = 0;
    for (;;) {
      buf = room(buf, n, spec.bound);
      const { bytesRead } = await fh.read(buf, n, buf.length - n, n);
      if (bytesRead === 0) break;
      n += bytesRead;
      if (n > spec.bound) throw grewError(spec, path);
    }
    return buf.subarray(0, n);
  } catch (e) {
    if (e instanceof PipelineError) throw e;
    throw openError(spec, path, e);
  } finally {
    await fh.close();
  }
}

/** readNamedFile for synchronous callers: the same checks, made before any byte is read. */
export function readNamedFileSync(path: string, spec: NamedFile): Buffer {
  let fd: number;
  try {
    fd = openSync(path, FLAGS);
  } catch (e) {
    throw openError(spec, path, e);
  }
  try {
    const st = fstatSync(fd);
    checkStat(spec, path, st);
    let buf = firstBuffer(st, spec);
    let n = 0;
    for (;;) {
      buf = room(buf, n, spec.bound);
      const bytesRead = readSync(fd, buf, n, buf.length - n, n);
      if (bytesRead === 0) break;
      n += bytesRead;
      if (n > spec.bound) throw grewError(spec, path);
    }
    return buf.subarray(0, n);
  } catch (e) {
    if (e instanceof PipelineError) throw e;
    throw openError(spec, path, e);
  } finally {
    closeSync(fd);
  }
}
