/**
 * A base image plus Node: takes `/usr/local/bin/node` out of a Node image's layers (honouring whiteouts), or the
 * `bin/node` of Node's npm package (node-package.ts), and adds it as one layer on top of another base, e.g. a CUDA
 * runtime or an image whose own Node is past its end of life. The result honours the image contract (`node` on
 * PATH). The node binary needs the base's libc and libstdc++ (true of NVIDIA's Ubuntu runtime images).
 */
import { createWriteStream, promises as fsp } from "node:fs";
import { basename, dirname, join, posix } from "node:path";
import { pipeline } from "node:stream/promises";
import { createGunzip } from "node:zlib";
import { elfNeeded } from "../elf";
import { PipelineError } from "../errors";
import { composeImage } from "../image/compose";
import type { Digest } from "../oci/digest";
import type { Image, Layer } from "../oci/model";
import { buildLayer, layerFromDescriptor } from "../layer/build";
import { readTarEntries } from "../layer/tar-read";
import { writeLayout } from "../layout/write";
import { NODE_PACKAGE_NAMES, type NodePackage } from "./node-package";
import { libraryDirs, missingLibraries } from "./shared-libraries";

/** The Debian/Ubuntu packages of the libraries Node's official binaries need, for the hint of a base that lacks one. */
const DEBIAN_PACKAGES: Readonly<Record<string, string>> = {
  "libatomic.so.1": "libatomic1",
  "libstdc++.so.6": "libstdc++6",
  "libgcc_s.so.1": "libgcc-s1",
};

export const NODE_IN_IMAGE = "usr/local/bin/node";
const MAX_SYMLINK_HOPS = 8;

function normalize(p: string): string {
  return posix
    .normalize("/" + p)
    .slice(1)
    .replace(/\/$/, "");
}

function tarOf(layer: Layer) {
  const raw = layer.open();
  if (!/gzip/.test(layer.mediaType)) return raw;
  const gunzip = createGunzip({ chunkSize: 1 << 20 });
  raw.on("error", (e) => gunzip.destroy(e));
  return raw.pipe(gunzip);
}

/**
 * Writes the file at `path` in `image`'s filesystem to `dest`, following symlinks. Layers are searched from the
 * top; a whiteout (`.wh.<name>`) hides the path in the layers below it.
 */
export async function extractFile(image: Image, path: string, dest: string, hops = 0): Promise<void> {
  const want = normalize(path);
  const whiteout = posix.join(posix.dirname(want), ".wh." + posix.basename(want));
  for (let i = image.layers.length - 1; i >= 0; i--) {
    let found: { type: string; linkname: string } | undefined;
    let hidden = false;
    const layer = image.layers[i];
    try {
      for await (const entry of readTarEntries(tarOf(layer))) {
        const p = normalize(entry.path);
        if (p === whiteout) hidden = true;
        if (p !== want) continue;
        found = { type: entry.type, linkname: entry.linkname };
        if (entry.type === "file") await pipeline(entry.body, createWriteStream(dest, { mode: 0o755 }));
        break;
      }
    } catch (e) {
      // Name the layer: a malformed archive or compression is the image's fault, not ours.
      const err = e as NodeJS.ErrnoException;
      if (e instanceof PipelineError) {
        throw e.code === "E_TAR_READ"
          ? new PipelineError(e.code, `layer ${layer.digest} of the Node image: ${e.message}`, { cause: e })
          : e;
      }
      if (err.code?.startsWith("Z_")) {
        throw new PipelineError(
          "E_TAR_READ",
          `layer ${layer.digest} of the Node image: not a valid gzip stream (${err.message})`,
          { cause: e },
        );
      }
      throw new PipelineError(
        "E_BASE",
        `cannot extract /${want} from layer ${layer.digest} to ${dest}: ${err.code ?? err.message}`,
        { cause: e },
      );
    }
    if (found?.type === "file") return;
    if (found?.type === "symlink" || found?.type === "link") {
      if (hops >= MAX_SYMLINK_HOPS)
        throw new PipelineError("E_BASE", `/${want}: more than ${MAX_SYMLINK_HOPS} symlinks`);
      const target =
        found.type === "link" || found.linkname.startsWith("/")
          ? found.linkname
          : posix.join(posix.dirname(want), found.linkname);
      return extractFile(image, target, dest, hops + 1);
    }
    if (found) throw new PipelineError("E_BASE", `/${want} in the Node image is a ${found.type}, not a file`);
    if (hidden) break;
  }
  throw new PipelineError("E_BASE", `the Node image ${image.digest} has no /${want}`);
}

function withLocalBin(env: string[] | null | undefined): Record<string, string> {
  const path = env?.find((e) => e.startsWith("PATH="))?.slice(5);
  if (!path) return { PATH: "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" };
  return path.split(":").includes("/usr/local/bin") ? {} : { PATH: `/usr/local/bin:${path}` };
}

/** Writes `base` + Node from `nodeImage` as an OCI layout at `outDir` (ref name "latest"). */
export async function addNodeToBase(
  base: Image,
  nodeImage: Image,
  outDir: string,
  opts: { baseName?: string; nodeName?: string; mtime?: number } = {},
): Promise<{ digest: Digest }> {
  const from = opts.nodeName ?? nodeImage.digest;
  const extract = async (work: string) => {
    const dest = join(work, "node");
    await extractFile(nodeImage, NODE_IN_IMAGE, dest);
    return dest;
  };
  return withNode(base, extract, from, outDir, opts);
}

/**
 * Writes `base` + the `bin/node` of Node's npm package `pkg` (src/base/node-package.ts, checked) as an OCI layout at
 * `outDir`. The package must be for the base's platform, and the base must have the shared libraries its binary
 * needs (shared-libraries.ts; not checked on a shallow base, said on `log`): E_BASE names what is wrong.
 */
export async function addNodePackageToBase(
  base: Image,
  pkg: NodePackage,
  outDir: string,
  opts: { baseName?: string; label?: string; mtime?: number; log?: (line: string) => void } = {},
): Promise<{ digest: Digest }> {
  const arch = base.config.architecture;
  const label = opts.label ?? pkg.dir;
  if (arch !== pkg.platform.architecture) {
    throw new PipelineError(
      "E_BASE",
      `${label} is ${pkg.id}, a linux/${pkg.platform.architecture} Node, and the base ${opts.baseName ?? base.digest} is ${base.config.os ?? "?"}/${arch ?? "?"}: give the package of its architecture (${NODE_PACKAGE_NAMES.join(", ")})`,
    );
  }
  const missing = await missingLibraries(base, elfNeeded(pkg.binary, `${label}'s bin/node`));
  if (missing === undefined) {
    opts.log?.(
      `note: not checked that the base has the shared libraries ${pkg.id} needs: its layers are not here (a shallow base)`,
    );
  } else if (missing.length) {
    const debian = missing.map((so) => DEBIAN_PACKAGES[so]).filter(Boolean);
    throw new PipelineError(
      "E_BASE",
      `${label} (${pkg.id}) needs ${missing.join(", ")}, which the base ${opts.baseName ?? base.digest} lacks (looked in /${libraryDirs(arch).join(", /")}): its node would not start there; use a base that has ${missing.length > 1 ? "them" : "it"}${debian.length ? ` (Debian and Ubuntu: ${debian.join(", ")})` : ""}`,
    );
  }
  return withNode(base, async () => pkg.binary, `npm:${pkg.id}`, outDir, opts);
}

async function withNode(
  base: Image,
  /** Where the node binary is: written into `work`, or a file that is there already. */
  nodeFile: (work: string) => Promise<string>,
  from: string,
  outDir: string,
  opts: { baseName?: string; mtime?: number },
): Promise<{ digest: Digest }> {
  const work = join(dirname(outDir), `.${basename(outDir)}.work-${process.pid}`);
  await fsp.mkdir(work, { recursive: true });
  try {
    const src = await nodeFile(work);
    const layerPath = join(work, "node.tar.gz");
    const desc = await buildLayer([{ dest: "/" + NODE_IN_IMAGE, src, mode: 0o755 }], layerPath, {
      mtime: opts.mtime ?? 0,
    });
    const image = composeImage({
      base,
      baseName: opts.baseName,
      layers: [
        { layer: layerFromDescriptor(layerPath, desc), createdBy: `rules_pipeline: /${NODE_IN_IMAGE} from ${from}` },
      ],
      env: withLocalBin(base.config.config?.Env),
      labels: { "rules_pipeline.node.from": from },
      created: opts.mtime ?? 0,
    });
    await writeLayout(outDir, image, { refName: "latest", atomic: true });
    return { digest: image.digest };
  } finally {
    await fsp.rm(work, { recursive: true, force: true });
  }
}
