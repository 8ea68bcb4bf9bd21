/**
 * Getting a cached image into podman or docker, once per image.
 *
 * The image keeps its manifest digest as its name: `localhost/rp-sha256-<hex of the manifest digest>:latest`.
 * On a cache hit one `image inspect` of that name (~30 ms) finds it and nothing is copied. Otherwise a
 * one-image OCI layout is made under <cache>/<engine>/load/: an index.json naming exactly this manifest and
 * blobs/ holding symlinks to the manifest, config and layer blobs of the cached layout (or the user's oci:
 * directory), so a layout with several images, a nested index or no ref names still gives the right one. Then:
 *  - podman: `podman pull oci:rp-sha256-<hex>` run in that directory (the relative path becomes the image's
 *    name). podman checks every blob against its digest and keeps the manifest digest (`podman images
 *    --digests` shows the same sha256 as the registry).
 *  - docker: `tar -ch` of the layout (symlinks followed) into `docker load` (OCI layouts: docker >= 25, and
 *    podman's Docker API), then `docker tag ID NAME`.
 * The layout is removed afterwards. Images stay in the engine's store until removed by hand (`podman
 * --root <cache>/podman/root rmi ...`, see engine-cli.ts); the store is not garbage collected.
 */
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { mkdir, rm, symlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { PipelineError } from "../errors";
import { engineExec, EngineName, engineGlobalArgs, lastLine } from "./engine-cli";

export interface EngineImageSource {
  /** Manifest digest (sha256:...). */
  digest: string;
  /** OCI layout holding that manifest and its blobs. */
  layoutDir: string;
}

const DIGEST = /^([a-z0-9]+):([a-f0-9]{32,128})$/;

function splitDigest(d: string, what: string): { alg: string; hex: string } {
  const m = DIGEST.exec(d);
  if (!m) throw new PipelineError("E_LAYOUT", `${what}: not a digest: ${JSON.stringify(d)}`);
  return { alg: m[1], hex: m[2] };
}

/** The name the image has in the engine's store. */
export function engineImageName(digest: string): string {
  const { alg, hex } = splitDigest(digest, "image");
  return `localhost/rp-${alg}-${hex}:latest`;
}

function blobPath(layoutDir: string, digest: string, what: string): string {
  const { alg, hex } = splitDigest(digest, what);
  return join(layoutDir, "blobs", alg, hex);
}

/** Writes a one-manifest OCI layout at `dir` whose blobs are symlinks into `src.layoutDir`. */
async function singleImageLayout(src: EngineImageSource, dir: string): Promise<void> {
  const manifestPath = blobPath(src.layoutDir, src.digest, "image");
  let bytes: Buffer;
  let manifest: { mediaType?: string; config?: { digest?: string }; layers?: { digest?: string }[] };
  try {
    bytes = readFileSync(manifestPath);
    manifest = JSON.parse(bytes.toString("utf8"));
  } catch (e) {
    throw new PipelineError("E_LAYOUT", `OCI layout ${src.layoutDir}: cannot read manifest ${src.digest}: ${(e as Error).message}`);
  }
  const digests = [src.digest, manifest.config?.digest ?? "", ...(manifest.layers ?? []).map((l) => l.digest ?? "")];
  for (const d of new Set(digests)) {
    const target = blobPath(src.layoutDir, d, `manifest ${src.digest}`);
    const { alg, hex } = splitDigest(d, "blob");
    await mkdir(join(dir, "blobs", alg), { recursive: true });
    await symlink(target, join(dir, "blobs", alg, hex));
  }
  const mediaType = manifest.mediaType ?? "application/vnd.oci.image.manifest.v1+json";
  await writeFile(join(dir, "oci-layout"), JSON.stringify({ imageLayoutVersion: "1.0.0" }));
  await writeFile(join(dir, "index.json"), JSON.stringify({ schemaVersion: 2, manifests: [{ mediaType, digest: src.digest, size: bytes.length }] }));
}

/** The engine's id of the image, loading it first when the engine does not have it. */
export async function loadIntoEngine(engine: EngineName, src: EngineImageSource, cacheDir: string, log: (line: string) => void = () => undefined): Promise<string> {
  const global = engineGlobalArgs(engine, cacheDir);
  const name = engineImageName(src.digest);
  const have = await engineExec(engine, [...global, "image", "inspect", "--format", "{{.Id}}", name]);
  if (have.code === 0 && have.stdout.trim()) return have.stdout.trim().split("\n")[0];

  log(`loading ${src.digest} into ${engine}`);
  const work = join(cacheDir, engine, "load", `${process.pid}-${randomBytes(4).toString("hex")}`);
  const dirName = name.slice("localhost/".length, -":latest".length);
  const dir = join(work, dirName);
  try {
    await singleImageLayout(src, dir);
    if (engine === "podman") {
      const r = await engineExec(engine, [...global, "pull", "-q", `oci:${dirName}`], { cwd: work });
      const id = r.stdout.trim().split("\n").pop();
      if (r.code !== 0 || !id) throw new PipelineError("E_RUNTIME", `podman could not load ${src.digest} from ${src.layoutDir}: ${lastLine(r.stderr) || `exit code ${r.code}`}`);
      return id;
    }
    const tar = spawn("tar", ["-C", dir, "-chf", "-", "."], { stdio: ["ignore", "pipe", "pipe"] });
    let tarErr = "";
    tar.stderr.on("data", (d) => (tarErr += d));
    const r = await engineExec("docker", ["load"], { input: tar.stdout });
    const m = /Loaded image(?: ID)?: (\S+)/.exec(r.stdout);
    if (r.code !== 0 || !m) {
      throw new PipelineError("E_RUNTIME", `docker could not load ${src.digest} from ${src.layoutDir}: ${lastLine(r.stderr) || lastLine(tarErr) || lastLine(r.stdout) || `exit code ${r.code}`}`);
    }
    const tag = await engineExec("docker", ["tag", m[1], name]);
    if (tag.code !== 0) throw new PipelineError("E_RUNTIME", `docker tag ${m[1]} ${name} failed: ${lastLine(tag.stderr)}`);
    return m[1];
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}
