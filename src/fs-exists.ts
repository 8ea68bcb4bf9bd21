/**
 * Whether a path exists, in the two senses the code base needs, named so a call says which: `targetExists` follows
 * symbolic links (what the path leads to is there: a dangling link is not), `entryExists` does not (the name itself is
 * taken: a dangling link is). Neither throws: an error of any kind (absent, a component not a directory, no
 * permission) is "no".
 */
import { promises as fsp } from "node:fs";

/** The path leads to something: `stat` succeeds (links followed; a dangling link is false). */
export async function targetExists(path: string): Promise<boolean> {
  try {
    await fsp.stat(path);
    return true;
  } catch {
    return false;
  }
}

/** The name is taken: `lstat` succeeds (links not followed; a dangling link is true). */
export async function entryExists(path: string): Promise<boolean> {
  try {
    await fsp.lstat(path);
    return true;
  } catch {
    return false;
  }
}
