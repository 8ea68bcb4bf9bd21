/**
 * The dev registry's filesystem store. Layout under `root`:
 *
 *   blobs/sha256/<hex>                               content-addressed, shared by all repositories
 *   repositories/<name>/_layers/sha256/<hex>         link: the blob is visible in <name>
 *   repositories/<name>/_manifests/revisions/<hex>   {"mediaType":...}: the manifest is in <name>
 *   repositories/<name>/_manifests/tags/<tag>        the tagged manifest's digest
 *   uploads/<uuid>/{info.json,data}                  upload sessions (see uploads.ts)
 *   tmp/                                             scratch files, renamed into place when complete
 *
 * Every file is written to tmp/ then renamed, so a crash never leaves a partial blob, link or tag under
 * its final name, and concurrent writers never see each other's half-written files. Order of writes:
 * blob before link, manifest bytes before revision, revision before tag.
 */
import { randomUUID } from "node:crypto";
import { promises as fsp } from "node:fs";
import { join } from "node:path";
import { PipelineError } from "../errors";
import { type Digest, digestHex, isDigest, sha256 } from "../oci/digest";
import { TAG_RE } from "../oci/grammar";
import { targetExists } from "../fs-exists";

export interface StoredManifest {
  digest: Digest;
  mediaType: string;
  bytes: Buffer;
}

const STALE_TMP_MS = 60 * 60 * 1000;

const hex = digestHex;

function isNotFound(e: unknown): boolean {
  const code = (e as NodeJS.ErrnoException).code;
  return code === "ENOENT" || code === "ENOTDIR";
}

export class Storage {
  private constructor(readonly root: string) {}

  /** Creates the layout under `root` (if needed) and checks it is writable. */
  static async open(root: string): Promise<Storage> {
    const s = new Storage(root);
    try {
      for (const d of ["blobs/sha256", "repositories", "uploads", "tmp"])
        await fsp.mkdir(join(root, d), { recursive: true });
      const probe = s.tmpPath();
      await fsp.writeFile(probe, "probe");
      await fsp.unlink(probe);
    } catch (e) {
      const err = e as NodeJS.ErrnoException;
      throw new PipelineError(
        "E_REGISTRY_ROOT",
        `--root ${JSON.stringify(root)}: not a writable directory (${err.message})`,
        { cause: e },
      );
    }
    await s.sweepTmp();
    return s;
  }

  /** Removes scratch files a crashed process left behind (old enough that no live writer owns them). */
  private async sweepTmp(): Promise<void> {
    const dir = join(this.root, "tmp");
    const now = Date.now();
    for (const name of await fsp.readdir(dir).catch(() => [] as string[])) {
      const p = join(dir, name);
      const st = await fsp.stat(p).catch(() => undefined);
      if (st && now - st.mtimeMs > STALE_TMP_MS) await fsp.rm(p, { recursive: true, force: true }).catch(() => {});
    }
  }

  tmpPath(): string {
    return join(this.root, "tmp", randomUUID());
  }

  uploadsDir(): string {
    return join(this.root, "uploads");
  }

  blobPath(digest: Digest): string {
    return join(this.root, "blobs", "sha256", hex(digest));
  }

  repoDir(repo: string): string {
    return join(this.root, "repositories", ...repo.split("/"));
  }

  private linkPath(repo: string, digest: Digest): string {
    return join(this.repoDir(repo), "_layers", "sha256", hex(digest));
  }

  private revisionPath(repo: string, digest: Digest): string {
    return join(this.repoDir(repo), "_manifests", "revisions", hex(digest));
  }

  private tagsDir(repo: string): string {
    return join(this.repoDir(repo), "_manifests", "tags");
  }

  /** Writes `data` to a scratch file and renames it to `dest` (atomic replace). */
  async writeAtomic(dest: string, data: string | Buffer): Promise<void> {
    const tmp = this.tmpPath();
    try {
      await fsp.writeFile(tmp, data);
      await fsp.mkdir(join(dest, ".."), { recursive: true });
      await fsp.rename(tmp, dest);
    } catch (e) {
      await fsp.rm(tmp, { force: true }).catch(() => {});
      throw e;
    }
  }

  /** Size of a stored blob, or undefined when absent. */
  async blobSize(digest: Digest): Promise<number | undefined> {
    try {
      return (await fsp.stat(this.blobPath(digest))).size;
    } catch (e) {
      if (isNotFound(e)) return undefined;
      throw e;
    }
  }

  /**
   * Moves a complete, verified file to its content address (fsynced first). When the blob is already
   * there, the file is discarded instead: same digest, same bytes.
   */
  async commitBlob(file: string, digest: Digest): Promise<void> {
    const dest = this.blobPath(digest);
    if (await targetExists(dest)) {
      await fsp.rm(file, { force: true });
      return;
    }
    const fh = await fsp.open(file, "r+");
    try {
      await fh.sync();
    } finally {
      await fh.close();
    }
    await fsp.rename(file, dest);
  }

  /** Makes a stored blob visible in `repo`. */
  async linkBlob(repo: string, digest: Digest): Promise<void> {
    const link = this.linkPath(repo, digest);
    if (!(await targetExists(link))) await this.writeAtomic(link, digest);
  }

  async unlinkBlob(repo: string, digest: Digest): Promise<boolean> {
    try {
      await fsp.unlink(this.linkPath(repo, digest));
      return true;
    } catch (e) {
      if (isNotFound(e)) return false;
      throw e;
    }
  }

  /** Size of a blob visible in `repo` (linked there and stored), or undefined. */
  async repoBlobSize(repo: string, digest: Digest): Promise<number | undefined> {
    if (!(await targetExists(this.linkPath(repo, digest)))) return undefined;
    return this.blobSize(digest);
  }

  /**
   * Stores a manifest's exact bytes under `repo` and, for a tag, points the tag at it. Returns its digest.
   * The bytes live in the blob store like any other content, so they are fetchable as a blob too.
   */
  async putManifest(repo: string, bytes: Buffer, mediaType: string, tag?: string): Promise<string> {
    const digest = sha256(bytes);
    if ((await this.blobSize(digest)) !== bytes.length) {
      const tmp = this.tmpPath();
      await fsp.writeFile(tmp, bytes);
      await this.commitBlob(tmp, digest);
    }
    await this.linkBlob(repo, digest);
    await this.writeAtomic(this.revisionPath(repo, digest), JSON.stringify({ mediaType }));
    if (tag !== undefined) await this.writeAtomic(join(this.tagsDir(repo), tag), digest);
    return digest;
  }

  /**
   * Media type of a manifest stored in `repo`, or undefined when `repo` does not have it. Returned as
   * recorded, unchecked: stores written before media types were validated at PUT may hold anything (a
   * damaged record reads as ""), and the caller decides how to answer that.
   */
  async manifestMediaType(repo: string, digest: Digest): Promise<string | undefined> {
    let text: string;
    try {
      text = await fsp.readFile(this.revisionPath(repo, digest), "utf8");
    } catch (e) {
      if (isNotFound(e)) return undefined;
      throw e;
    }
    let parsed: { mediaType?: unknown };
    try {
      parsed = JSON.parse(text) as { mediaType?: unknown };
    } catch {
      return "";
    }
    return typeof parsed?.mediaType === "string" ? parsed.mediaType : "application/octet-stream";
  }

  async resolveTag(repo: string, tag: string): Promise<Digest | undefined> {
    try {
      const digest = (await fsp.readFile(join(this.tagsDir(repo), tag), "utf8")).trim();
      return isDigest(digest) ? digest : undefined;
    } catch (e) {
      if (isNotFound(e)) return undefined;
      throw e;
    }
  }

  /** A manifest by tag or digest, or undefined. */
  async getManifest(repo: string, reference: string): Promise<StoredManifest | undefined> {
    const digest = isDigest(reference) ? reference : await this.resolveTag(repo, reference);
    if (!digest) return undefined;
    const mediaType = await this.manifestMediaType(repo, digest);
    if (mediaType === undefined) return undefined;
    let bytes: Buffer;
    try {
      bytes = await fsp.readFile(this.blobPath(digest));
    } catch (e) {
      if (isNotFound(e)) return undefined;
      throw e;
    }
    return { digest, mediaType, bytes };
  }

  /** Removes a manifest from `repo` together with every tag pointing at it. */
  async deleteManifest(repo: string, digest: Digest): Promise<boolean> {
    try {
      await fsp.unlink(this.revisionPath(repo, digest));
    } catch (e) {
      if (isNotFound(e)) return false;
      throw e;
    }
    for (const tag of (await this.listTags(repo)) ?? []) {
      if ((await this.resolveTag(repo, tag)) === digest) await this.deleteTag(repo, tag);
    }
    return true;
  }

  async deleteTag(repo: string, tag: string): Promise<boolean> {
    try {
      await fsp.unlink(join(this.tagsDir(repo), tag));
      return true;
    } catch (e) {
      if (isNotFound(e)) return false;
      throw e;
    }
  }

  /** A repository exists once something was pushed or mounted into it. */
  async repoExists(repo: string): Promise<boolean> {
    const dir = this.repoDir(repo);
    return (await targetExists(join(dir, "_manifests"))) || (await targetExists(join(dir, "_layers")));
  }

  /** Sorted tags of `repo`, or undefined when the repository does not exist. */
  async listTags(repo: string): Promise<string[] | undefined> {
    if (!(await this.repoExists(repo))) return undefined;
    let names: string[];
    try {
      names = await fsp.readdir(this.tagsDir(repo));
    } catch (e) {
      if (isNotFound(e)) return [];
      throw e;
    }
    return names.filter((n) => TAG_RE.test(n)).sort();
  }

  /** Sorted names of all repositories. */
  async listRepositories(): Promise<string[]> {
    const out: string[] = [];
    const walk = async (dir: string, prefix: string): Promise<void> => {
      let entries: import("node:fs").Dirent[];
      try {
        entries = await fsp.readdir(dir, { withFileTypes: true });
      } catch (e) {
        if (isNotFound(e)) return;
        throw e;
      }
      if (prefix && entries.some((e) => e.isDirectory() && (e.name === "_manifests" || e.name === "_layers"))) {
        out.push(prefix);
      }
      for (const e of entries) {
        if (e.isDirectory() && !e.name.startsWith("_"))
          await walk(join(dir, e.name), prefix ? `${prefix}/${e.name}` : e.name);
      }
    };
    await walk(join(this.root, "repositories"), "");
    return out.sort();
  }
}
