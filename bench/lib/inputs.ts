/** The benchmarks' inputs, generated into a work directory: trees, the base image, layers and images. */
import { cpSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { buildLayer, layerFromDescriptor, type LayerDescriptor } from "../../src/layer/build";
import type { Layer, Image, ImageIndex } from "../../src/oci/model";
import { composeImage } from "../../src/image/compose";
import { composeIndex } from "../../src/image/image-index";
import { readLayout } from "../../src/layout/read";
import { writeLayout } from "../../src/layout/write";
import { generateApp, generateNodeModules, generateRootfs, type TreeStats } from "./gen";

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

export interface BuiltIndex {
  layoutDir: string;
  /** linux/amd64 (on the generated base) then linux/arm64/v8 (on the arm64 base). */
  index: ImageIndex;
  /** The layers both platforms have: node_modules, then the app. */
  shared: Layer[];
  /** Each platform's base layers (amd64, arm64): different blobs. */
  baseLayers: Layer[][];
}

export class Inputs {
  readonly nmDir: string;
  readonly appDir: string;
  readonly baseDir: string;
  nmStats?: TreeStats;
  appStats?: TreeStats;
  baseRawBytes = 0;
  private nmLayer?: Promise<Layer>;
  private arm64Base?: Promise<Image>;
  private multi?: Promise<BuiltIndex>;
  private small?: Promise<{ layoutDir: string; image: Image }>;

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
    this.nmStats = generateNodeModules(this.nmDir, {
      seed: this.seed,
      files: this.sizes.nmFiles,
      bytes: this.sizes.nmBytes,
    });
    this.appStats = generateApp(this.appDir, this.seed + 1, this.sizes.appFiles);
    log(
      `generated node_modules (${this.nmStats.files} files, ${mb(this.nmStats.bytes)}) and app (${this.appStats.files} files) in ${Date.now() - t} ms`,
    );
    t = Date.now();
    const { image: base, rawBytes } = await this.buildBase("", this.seed + 2, "usr/lib/x86_64-linux-gnu");
    this.baseRawBytes = rawBytes;
    await writeLayout(this.baseDir, base, { refName: "latest" });
    log(
      `built the base image (${base.layers.length} layers, ${mb(this.baseRawBytes)} raw, ${mb(imageBytes(base))} compressed) in ${Date.now() - t} ms`,
    );
  }

  /**
   * A base image of two layers ("libs", 70% of the raw size, and "rest") from root file systems generated with seeds
   * `seed` and `seed + 1`; `suffix` keeps another base's directories and layer files apart ("" is the main base).
   */
  private async buildBase(
    suffix: string,
    seed: number,
    libDir: string,
    platform?: { architecture: string; variant?: string },
  ): Promise<{ image: Image; rawBytes: number }> {
    const libs = join(this.work, `rootfs${suffix}`, "libs");
    const rest = join(this.work, `rootfs${suffix}`, "rest");
    const a = generateRootfs(libs, seed, Math.round(this.sizes.baseBytes * 0.7), libDir);
    const b = generateRootfs(rest, seed + 1, Math.round(this.sizes.baseBytes * 0.3), libDir);
    const layers: { layer: Layer; createdBy: string }[] = [];
    for (const [name, src] of [
      ["libs", libs],
      ["rest", rest],
    ] as const) {
      const p = join(this.work, "layers", `base${suffix}-${name}.tar.gz`);
      layers.push({
        layer: layerFromDescriptor(p, await buildLayer([{ dest: "/", src }], p)),
        createdBy: `bench base: ${name}`,
      });
    }
    const image = composeImage({
      layers,
      env: { PATH: "/usr/local/bin:/usr/bin:/bin" },
      cmd: ["sh"],
      ...(platform ?? {}),
    });
    return { image, rawBytes: a.bytes + b.bytes };
  }

  /**
   * A base for linux/arm64/v8 (built on first use): root file systems of the main base's sizes from other seeds, its
   * libraries under usr/lib/aarch64-linux-gnu, so none of its layers is the amd64 base's.
   */
  arm64BaseImage(log: (s: string) => void): Promise<Image> {
    this.arm64Base ??= (async () => {
      const t = Date.now();
      const { image, rawBytes } = await this.buildBase("-arm64", this.seed + 4, "usr/lib/aarch64-linux-gnu", {
        architecture: "arm64",
        variant: "v8",
      });
      log(
        `built the arm64 base image (${image.layers.length} layers, ${mb(rawBytes)} raw, ${mb(imageBytes(image))} compressed) in ${Date.now() - t} ms`,
      );
      return image;
    })();
    return this.arm64Base;
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
    const appLayer = await this.appLayer(name, appDir);
    const image = this.onBase(this.base(), nmLayer, appLayer);
    const layoutDir = join(this.work, "images", name);
    mkdirSync(join(this.work, "images"), { recursive: true });
    await writeLayout(layoutDir, image, { refName: "latest" });
    return { layoutDir, image, appLayer, nmLayer };
  }

  private async appLayer(name: string, appDir: string): Promise<Layer> {
    const p = join(this.work, "layers", `app-${name}.tar.gz`);
    const desc: LayerDescriptor = await buildLayer([{ dest: "app", src: appDir }], p);
    return layerFromDescriptor(p, desc);
  }

  private onBase(base: Image, nmLayer: Layer, appLayer: Layer): Image {
    return composeImage({
      base,
      layers: [
        { layer: nmLayer, createdBy: "bench: node_modules" },
        { layer: appLayer, createdBy: "bench: app" },
      ],
      entrypoint: ["node", "/app/main.js"],
      workdir: "/app",
    });
  }

  /**
   * A small image (built once), as an OCI layout under work/images/small: the app layer on a one-layer base from a
   * root file system of 3 MB raw (1 MB for smoke runs), the size of a distroless base under a small service.
   */
  smallImage(): Promise<{ layoutDir: string; image: Image }> {
    this.small ??= (async () => {
      const rootfs = join(this.work, "rootfs-small");
      generateRootfs(rootfs, this.seed + 6, Math.min(3e6, this.sizes.baseBytes / 3));
      const p = join(this.work, "layers", "small-base.tar.gz");
      const base = layerFromDescriptor(p, await buildLayer([{ dest: "/", src: rootfs }], p));
      const image = composeImage({
        layers: [
          { layer: base, createdBy: "bench: small base" },
          { layer: await this.appLayer("small", this.appDir), createdBy: "bench: app" },
        ],
        entrypoint: ["node", "/app/main.js"],
        workdir: "/app",
      });
      const layoutDir = join(this.work, "images", "small");
      mkdirSync(join(this.work, "images"), { recursive: true });
      await writeLayout(layoutDir, image, { refName: "latest" });
      return { layoutDir, image };
    })();
    return this.small;
  }

  /**
   * The image of image() for two platforms under one OCI image index (built once), as an OCI layout under
   * work/images/multi-platform: linux/amd64 on the generated base, linux/arm64/v8 on arm64BaseImage(); the
   * node_modules and app layers are the same blobs in both (as a `pipeline(platforms = [...])` of platform-neutral
   * JS gives), the base layers differ.
   */
  multiPlatform(log: (s: string) => void): Promise<BuiltIndex> {
    this.multi ??= (async () => {
      const nmLayer = await this.nodeModulesLayer();
      const appLayer = await this.appLayer("multi-platform", this.appDir);
      const amd64Base = this.base();
      const arm64Base = await this.arm64BaseImage(log);
      const index = composeIndex([
        this.onBase(amd64Base, nmLayer, appLayer),
        this.onBase(arm64Base, nmLayer, appLayer),
      ]);
      const layoutDir = join(this.work, "images", "multi-platform");
      mkdirSync(join(this.work, "images"), { recursive: true });
      await writeLayout(layoutDir, index, { refName: "latest" });
      return {
        layoutDir,
        index,
        shared: [nmLayer, appLayer],
        baseLayers: [[...amd64Base.layers], [...arm64Base.layers]],
      };
    })();
    return this.multi;
  }
}

export function imageBytes(image: Image): number {
  return image.layers.reduce((n, l) => n + l.size, 0) + image.configBytes.length + image.manifestBytes.length;
}

export function mb(bytes: number): string {
  return `${(bytes / 1e6).toFixed(bytes < 10e6 ? 2 : 1)} MB`;
}
