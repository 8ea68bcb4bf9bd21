/**
 * Whether a base image has the shared libraries a binary needs, before the binary goes onto it: Node's official
 * binaries need the C++ runtime, and since Node 26 `libatomic.so.1`, which minimal bases (the host-node base,
 * distroless) may lack; the image would fail at its first start with `error while loading shared libraries`. The
 * base's file system is read from its layers' listings (whiteouts and symlinks honoured, nothing extracted) and each
 * library looked up where the dynamic loader looks by default.
 */
import { posix } from "node:path";
import type { Image } from "../oci/model";
import { remoteSourcesOf } from "../layout/remote";
import { decompressed } from "../layer/decompress";
import { readTarEntries } from "../layer/tar-read";

/** The multiarch triplets Debian and Ubuntu put libraries under, by OCI architecture. */
const TRIPLET: Readonly<Record<string, string>> = { amd64: "x86_64-linux-gnu", arm64: "aarch64-linux-gnu" };
const MAX_SYMLINK_HOPS = 16;

/** Where the dynamic loader looks without an ld.so.cache entry or an RPATH, in its order. */
export function libraryDirs(architecture: string | undefined): string[] {
  const triplet = architecture ? TRIPLET[architecture] : undefined;
  const multiarch = triplet ? [`lib/${triplet}`, `usr/lib/${triplet}`] : [];
  return [...multiarch, "lib64", "usr/lib64", "lib", "usr/lib", "usr/local/lib"];
}

type Entry = { type: string; linkname: string };

/** The image's file system as its layers leave it: path (no leading slash) -> type and link target. */
async function fileSystem(image: Image): Promise<Map<string, Entry>> {
  const fs = new Map<string, Entry>();
  const removeUnder = (dir: string) => {
    for (const p of [...fs.keys()]) if (p.startsWith(dir + "/")) fs.delete(p);
  };
  for (const layer of image.layers) {
    for await (const e of readTarEntries(decompressed(layer.open(), layer.digest))) {
      const p = posix
        .normalize("/" + e.path)
        .slice(1)
        .replace(/\/$/, "");
      const base = posix.basename(p);
      const dir = posix.dirname(p) === "." ? "" : posix.dirname(p);
      if (base === ".wh..wh..opq") removeUnder(dir);
      else if (base.startsWith(".wh.")) {
        const gone = posix.join(dir, base.slice(4));
        fs.delete(gone);
        removeUnder(gone);
      } else fs.set(p, { type: e.type, linkname: e.linkname });
    }
  }
  return fs;
}

/** Every directory the file system has, listed or implied by the paths under it. */
function directoriesOf(fs: Map<string, Entry>): Set<string> {
  const dirs = new Set<string>();
  for (const p of fs.keys()) {
    for (let i = p.indexOf("/"); i > 0; i = p.indexOf("/", i + 1)) dirs.add(p.slice(0, i));
  }
  return dirs;
}

/** `path` with every symlink on the way followed (absolute targets from the root), or undefined when it is absent. */
function resolve(fs: Map<string, Entry>, dirs: Set<string>, path: string): string | undefined {
  let parts = path.split("/").filter(Boolean);
  let done: string[] = [];
  for (let hops = 0; parts.length; ) {
    const next = [...done, parts[0]].join("/");
    const entry = fs.get(next);
    if (entry?.type === "symlink") {
      if (++hops > MAX_SYMLINK_HOPS) return undefined;
      const target = entry.linkname.startsWith("/") ? entry.linkname : posix.join(done.join("/"), entry.linkname);
      const normalized = posix.normalize("/" + target).slice(1);
      parts = [...normalized.split("/").filter(Boolean), ...parts.slice(1)];
      done = [];
      continue;
    }
    // A directory may exist only by its files' paths (layers need not list every parent).
    if (!entry && (parts.length === 1 || !dirs.has(next))) return undefined;
    done.push(parts[0]);
    parts = parts.slice(1);
  }
  return done.join("/");
}

/**
 * The libraries of `sonames` that `image` lacks in the loader's default directories for its architecture, or
 * undefined when its layers are not all here to read (a shallow base: not checked).
 */
export async function missingLibraries(image: Image, sonames: readonly string[]): Promise<string[] | undefined> {
  if (image.layers.some((l) => remoteSourcesOf(l))) return undefined;
  const fs = await fileSystem(image);
  const dirs = directoriesOf(fs);
  const search = libraryDirs(image.config.architecture);
  return sonames.filter((so) => !search.some((d) => resolve(fs, dirs, `${d}/${so}`) !== undefined));
}
