/**
 * A map's store in a directory of this machine (object-store.ts): the `inprocess` and `container` targets' store when
 * no bucket is named (`<cache>/maps`, or `--artifacts DIR`), mounted into each container at the same meaning. An
 * object is a file under its key, written to a temporary name beside it and renamed: a reader sees all of it or
 * nothing, and a process killed mid-write leaves only a `.tmp-*` file, which a later write never reads.
 *
 * Part of `@rules_pipeline/runtime`: Node built-ins only.
 */
import { randomBytes } from "node:crypto";
import { constants, promises as fs } from "node:fs";
import { dirname, isAbsolute, join, sep } from "node:path";
import { type ObjectStore, ObjectStoreError } from "./object-store";

export class DirStore implements ObjectStore {
  readonly where: string;

  constructor(readonly root: string) {
    if (!isAbsolute(root))
      throw new ObjectStoreError("E_MAP_STORE", `a store directory must be absolute, got ${JSON.stringify(root)}`);
    this.where = root.endsWith(sep) ? root : root + sep;
  }

  /** The file of `key`: keys are `/`-separated names of [A-Za-z0-9._-], never `.` or `..`, so none leaves the root. */
  private file(key: string): string {
    const parts = key.split("/");
    if (!parts.every((p) => /^[A-Za-z0-9_-][A-Za-z0-9._-]*$/.test(p)))
      throw new ObjectStoreError("E_MAP_STORE", `${this.where}: not a store key: ${JSON.stringify(key)}`);
    return join(this.root, ...parts);
  }

  async check(): Promise<void> {
    try {
      await fs.mkdir(this.root, { recursive: true });
      await fs.access(this.root, constants.R_OK | constants.W_OK | constants.X_OK);
    } catch (e) {
      throw new ObjectStoreError(
        "E_MAP_STORE",
        `${this.where}: cannot read and write it (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`,
      );
    }
  }

  async has(key: string): Promise<boolean> {
    try {
      return (await fs.stat(this.file(key))).isFile();
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === "ENOENT") return false;
      throw this.failed("look up", key, e);
    }
  }

  async get(key: string, maxBytes: number): Promise<Buffer | undefined> {
    let h: fs.FileHandle;
    try {
      h = await fs.open(this.file(key), constants.O_RDONLY | constants.O_NOFOLLOW);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === "ENOENT") return undefined;
      throw this.failed("read", key, e);
    }
    try {
      const st = await h.stat();
      if (!st.isFile()) throw new ObjectStoreError("E_MAP_STORE", `${this.where}${key}: not a regular file`);
      if (st.size > maxBytes)
        throw new ObjectStoreError(
          "E_MAP_STORE_TOO_LARGE",
          `${this.where}${key}: ${st.size} bytes, above the limit of ${maxBytes}`,
        );
      const buf = Buffer.alloc(st.size);
      let off = 0;
      while (off < buf.length) {
        const { bytesRead } = await h.read(buf, off, buf.length - off, off);
        if (bytesRead === 0) break;
        off += bytesRead;
      }
      return buf.subarray(0, off);
    } finally {
      await h.close();
    }
  }

  async put(key: string, body: Buffer): Promise<void> {
    const file = this.file(key);
    const tmp = `${file}.tmp-${process.pid}-${randomBytes(6).toString("hex")}`;
    try {
      await fs.mkdir(dirname(file), { recursive: true });
      await fs.writeFile(tmp, body, { flag: "wx" });
      await fs.rename(tmp, file);
    } catch (e) {
      await fs.rm(tmp, { force: true }).catch(() => {});
      throw this.failed("write", key, e);
    }
  }

  /** Read entry by entry, and left as soon as there are more than `limit` (a cache of many maps is not read whole). */
  async list(dir: string, limit: number): Promise<string[] | undefined> {
    const keys: string[] = [];
    try {
      for await (const e of await fs.opendir(this.file(dir.replace(/\/$/, "")))) {
        if (!e.isFile() || e.name.includes(".tmp-")) continue;
        if (keys.length === limit) return undefined;
        keys.push(dir + e.name);
      }
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === "ENOENT") return [];
      throw this.failed("list", dir, e);
    }
    return keys;
  }

  private failed(what: string, key: string, e: unknown): ObjectStoreError {
    if (e instanceof ObjectStoreError) return e;
    const why = (e as NodeJS.ErrnoException).code ?? (e as Error).message;
    return new ObjectStoreError("E_MAP_STORE", `${this.where}${key}: cannot ${what} it (${why})`);
  }
}
