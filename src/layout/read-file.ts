/** Reading a file of a layout that may come from someone else: a regular file, of a bounded size (src/layout/read.ts). */
import { closeSync, constants, fstatSync, openSync, readSync } from "node:fs";
import { PipelineError } from "../errors";
import { formatBytes } from "../units";

const MiB = 2 ** 20;
/** index.json, manifests and indexes: the size the distribution spec asks registries to accept. */
export const MAX_LAYOUT_JSON_BYTES = 4 * MiB;
/** Image configs (their history can be long). */
export const MAX_LAYOUT_CONFIG_BYTES = 16 * MiB;

/**
 * The bytes of `file`, a regular file of at most `max` bytes (opened without blocking, so a FIFO cannot hang us;
 * its size checked on the open descriptor before reading). `what` names it in E_LAYOUT messages.
 */
export function readLayoutFile(file: string, max: number, what: string): Buffer {
  let fd: number;
  try {
    fd = openSync(file, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (e) {
    throw new PipelineError(
      "E_LAYOUT",
      `${what}: cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`,
    );
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) throw new PipelineError("E_LAYOUT", `${what}: ${file} is not a regular file`);
    if (st.size > max)
      throw new PipelineError(
        "E_LAYOUT",
        `${what}: ${file} is ${formatBytes(st.size)}, more than the ${formatBytes(max)} such a file may be`,
      );
    const buf = Buffer.alloc(st.size);
    let n = 0;
    while (n < buf.length) {
      const k = readSync(fd, buf, n, buf.length - n, n);
      if (k === 0) break;
      n += k;
    }
    return buf.subarray(0, n);
  } finally {
    closeSync(fd);
  }
}
