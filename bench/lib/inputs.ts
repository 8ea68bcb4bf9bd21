/** The benchmarks' inputs, generated into a work directory: trees, the base image, layers and images. */
import { cpSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { buildLayer, layerFromDescriptor, LayerDescriptor } from "../../src/layer/build";
import type { Layer } from "../../src/layer/layer";
import { composeImage } from "../../src/image/compose";
import type { Image } from "../../src/image/image";
import { readLayout } from "../../src/layout/read";
import { writeLayout } from "../../src/layout/write";
import { generateApp, generateNodeModules, generateRootfs, TreeStats } from "./gen";

export interface Sizes {
  nmFiles: number;
  nmBytes: number;
  appFiles: number;
  /** Raw bytes of the base's root file system (it compresses about 3x). */
  baseBytes: number;
}

export const FULL_SIZES: Sizes = { nmFiles: 20_000, nmBytes: 150e6, appFiles: 50, baseBytes: 300e6 };
export const SMOKE_SIZES: Sizes = { nmFiles: 300, nmBytes: 2e6, appFiles: 10, baseBytes: 3e6 };

export interface BuiltImage {
  layoutDir: string;
  image: Image;
  appLayer: Layer;
  nmLayer: Layer;
}

export class Inputs {
  readonly nmDir: string;
  readonly appDir: string;
  readonly baseDir: string;
  nmStats?: TreeStats;
  appStats?: TreeStats;
  baseRawBytes = 0;
  private nmLayer?: Promise<Layer>;

  constructor(
    readonly work: string,
    readonly sizes: Sizes,
    readonly seed: number,
  ) {
    this.nmDir = join(work, "tree", "node_modules");
    this.appDir = join(work, "tree", "app");
    this.baseDir = join(work, "base");
  }

  /** Generates the trees and builds the base image (an OCI layout, ref name "latest"). */
  async prepare(log: (s: string) => void): Promise<void> {
    let t = Date.now();
    this.nmStats = generateNodeModules(this.nmDir, { seed: this.seed, files: this.sizes.nmFiles, bytes: this.sizes.nmBytes });
    this.appStats = generateApp(this.appDir, this.seed + 1, this.sizes.appFiles);
    log(`generated node_modules (${this.nmStats.files} files, ${mb(this.nmStats.bytes)}) and app (${this.appStats.files} files) in ${Date.now() - t} ms`);
    t = Date.now();
    const libs = join(this.work, "rootfs", "libs");
    const rest = join(this.work, "rootfs", "rest");
    const a = generateRootfs(libs, this.seed + 2, Math.round(this.sizes.baseBytes * 0.7));
    const b = generateRootfs(rest, this.seed + 3, Math.round(this.sizes.baseBytes * 0.3));
    this.baseRawBytes = a.bytes + b.bytes;
    const layers: { layer: Layer; createdBy: string }[] = [];
    for (const [name, src] of [["libs", libs], ["rest", rest]] as const) {
      const p = join(this.work, "layers", `base-${name}.tar.gz`);
      layers.push({ layer: layerFromDescriptor(p, await buildLayer([{ dest: "/", src }], p)), createdBy: `bench base: ${name}` });
    }
    const base = composeImage({ layers, env: { PATH: "/usr/local/bin:/usr/bin:/bin" }, cmd: ["sh"] });
    await writeLayout(this.baseDir, base, { refName: "latest" });
    log(`built the base image (${base.layers.length} layers, ${mb(this.baseRawBytes)} raw, ${mb(imageBytes(base))} compressed) in ${Date.now() - t} ms`);
  }

  base(): Image {
    return readLayout(this.baseDir);
  }

  /** The node_modules layer (built once). */
  nodeModulesLayer(): Promise<Layer> {
    this.nmLayer ??= (async () => {
      const p = join(this.work, "layers", "node_modules.tar.gz");
      return layerFromDescriptor(p, await buildLayer([{ dest: "app/node_modules", src: this.nmDir }], p));
    })();
    return this.nmLayer;
  }

  /** A copy of the app with `main.js`'s version line changed (a one-line change). */
  changedApp(version: string): string {
    const dir = join(this.work, "tree", `app-${version}`);
    cpSync(this.appDir, dir, { recursive: true });
    const main = join(dir, "main.js");
    writeFileSync(main, readFileSync(main, "utf8").replace('const version = "v1";', `const version = "${version}";`));
    return dir;
  }

  /** base + node_modules layer + app layer, written as an OCI layout under work/images/<name>. */
  async image(name: string, appDir = this.appDir): Promise<BuiltImage> {
    const nmLayer = await this.nodeModulesLayer();
    const p = join(this.work, "layers", `app-${name}.tar.gz`);
    const desc: LayerDescriptor = await buildLayer([{ dest: "app", src: appDir }], p);
    const appLayer = layerFromDescriptor(p, desc);
    const image = composeImage({
      base: this.base(),
      layers: [
        { layer: nmLayer, createdBy: "bench: node_modules" },
        { layer: appLayer, createdBy: "bench: app" },
      ],
      entrypoint: ["node", "/app/main.js"],
      workingDir: "/app",
    });
    const layoutDir = join(this.work, "images", name);
    mkdirSync(join(this.work, "images"), { recursive: true });
    await writeLayout(layoutDir, image, { refName: "latest" });
    return { layoutDir, image, appLayer, nmLayer };
  }
}

export function imageBytes(image: Image): number {
  return image.layers.reduce((n, l) => n + l.size, 0) + image.configBytes.length + image.manifestBytes.length;
}

export function mb(bytes: number): string {
  return `${(bytes / 1e6).toFixed(bytes < 10e6 ? 2 : 1)} MB`;
}
