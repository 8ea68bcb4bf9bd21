/**
 * Overwriting a file that held a secret before it is removed: unlinking alone leaves the bytes in the file
 * system's free blocks (and in any other name the file has). Zeros are written over the whole file in place and
 * synced; this reaches the disk blocks on file systems that write in place (ext4, xfs, tmpfs pages), not on
 * copy-on-write ones (btrfs, zfs), where only encryption of the disk helps. Used for git credential files
 * (auth.ts) and the local runner's bundles and env files (src/container/cleanup.ts).
 */
import { closeSync, constants, fstatSync, fsyncSync, openSync, writeSync } from "node:fs";

/** Overwrites a regular file's bytes with zeros (and syncs); a symlink is not followed; never throws. */
export function scrubFileSync(path: string): void {
  let fd: number | undefined;
  try {
    fd = openSync(path, constants.O_RDWR | constants.O_NOFOLLOW);
    const st = fstatSync(fd);
    if (!st.isFile()) return;
    const zeros = Buffer.alloc(Math.min(st.size, 1 << 20));
    for (let off = 0; off < st.size; off += zeros.length)
      writeSync(fd, zeros, 0, Math.min(zeros.length, st.size - off), off);
    fsyncSync(fd);
  } catch {
    // absent, a symlink, or not ours: nothing to scrub
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}
