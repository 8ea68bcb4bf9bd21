/**
 * P18's pieces (issue #61 item 4): a generated base of incompressible layers, the targets both sides build on it in
 * the rules_js + pnpm workspace of the monorepo fixture (bench/lib/monorepo-rules-js.ts: our rules and shared/peers'
 * rules_img 0.3.17 on one Bazel 7.7.1 server), and what a counting proxy saw, read as layer bytes downloaded and base
 * bytes uploaded.
 */
import { appendFileSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Image } from "../../src/oci/model";
import { randomImage } from "../../test/fixtures/random-image";
import type { ProxiedRequest } from "./proxy";

/**
 * A base of `layers` layers of `layerBytes` random bytes each, blobs as files under `dir` (test/fixtures/random-image.ts),
 * stored uncompressed in gzip (level 0): random bytes do not compress, so generating a gigabyte costs about what
 * reading it does.
 */
export function generateBase(dir: string, layers: number, layerBytes: number): Image {
  mkdirSync(dir, { recursive: true });
  return randomImage({ layers, layerSize: layerBytes, dir, gzipLevel: 0 });
}

/** The targets' names: one image per side and purpose, so that each measured command starts from nothing built. */
export const P18 = {
  /** First build + push on a base repository not fetched before: ours shallow, ours eager, rules_img. */
  cold: { ours: "s_cold", eager: "e_cold", img: "r_cold" },
  /** Built with the remote cache: the first image and an extra one on the same base, per side. */
  cache: { ours: ["s_c1", "s_c2"], eager: ["e_c1"], img: ["r_c1", "r_c2"] },
} as const;

/**
 * Appends the three base repositories (the same digest: ours shallow and eager, rules_img's `pull`, whose default is
 * its shallow pull) to the workspace's MODULE.bazel, and writes //p18: one `pipeline` per image (each with its own
 * entry file of the same content, so no compile is shared), and for rules_img an `image_layer` of a `pipeline`'s
 * compiled entry (the same compiler, the same bytes) under `image_manifest` and `image_push`. `warm_push` (a rules_img
 * image without a base, built and not run) builds rules_img's tools before anything is measured, as P9 did ours.
 */
export function writeP18(ws: string, host: string, baseRepo: string, digest: string): void {
  const repo = (rule: string, name: string, extra: string) =>
    `${rule}(name = "${name}", registry = "${host}", repository = "${baseRepo}", digest = "${digest}"${extra})\n`;
  appendFileSync(
    join(ws, "MODULE.bazel"),
    `
# bench P18 (bench/lib/shallow-base.ts): one generated base by digest, three repositories.
p18_base = use_repo_rule("@rules_pipeline//bazel:pipeline.bzl", "pipeline_base_image")
p18_pull = use_repo_rule("@rules_img//img:pull.bzl", "pull")
${repo("p18_base", "p18_shallow", ', layer_handling = "shallow"')}${repo("p18_base", "p18_eager", ', layer_handling = "eager"')}${repo("p18_pull", "p18_img", "")}`,
  );
  const dir = join(ws, "p18");
  mkdirSync(dir, { recursive: true });
  const ours = (name: string, base: string, repository: string) => {
    writeFileSync(join(dir, `${name}.ts`), 'console.log("p18: the same app on every side");\n');
    return `pipeline(name = "${name}", entry = "${name}.ts", registry = "${host}", repository = "${repository}", base = "${base}")\n`;
  };
  const img = (name: string, tag: string) =>
    `${ours(name, "@p18_shallow//image", "p18/unused")}image_layer(name = "${name}_layer", srcs = {"/app/main.js": ":${name}_app"})
image_manifest(name = "${name}_image_img", base = "@p18_img//:image", layers = [":${name}_layer"])
image_push(name = "${name}_push_img", image = ":${name}_image_img", registry = "${host}", repository = "p18/img", tag = "${tag}")
`;
  let build = `load("@rules_img//img:image.bzl", "image_manifest")
load("@rules_img//img:layer.bzl", "image_layer")
load("@rules_img//img:push.bzl", "image_push")
load("@rules_pipeline//bazel:pipeline.bzl", "pipeline")

image_layer(name = "warm_layer", srcs = {"/app/warm.txt": "warm.txt"})
image_manifest(name = "warm_image", layers = [":warm_layer"])
image_push(name = "warm_push", image = ":warm_image", registry = "${host}", repository = "p18/warm", tag = "warm")
`;
  writeFileSync(join(dir, "warm.txt"), "warm\n");
  build += ours(P18.cold.ours, "@p18_shallow//image", "p18/ours");
  build += ours(P18.cold.eager, "@p18_eager//image", "p18/eager");
  build += img(P18.cold.img, "cold");
  for (const n of P18.cache.ours) build += ours(n, "@p18_shallow//image", "p18/ours");
  for (const n of P18.cache.eager) build += ours(n, "@p18_eager//image", "p18/eager");
  for (const n of P18.cache.img) build += img(n, n);
  writeFileSync(join(dir, "BUILD.bazel"), build);
}

const DIGEST = /sha256(?::|%3A)([0-9a-f]{64})/i;

/** Bytes of the answers to GETs of these blobs (hex digests): what was downloaded of them. */
export function downloaded(reqs: ProxiedRequest[], hex: Set<string>): number {
  return reqs
    .filter((r) => r.method === "GET" && r.path.includes("/blobs/") && hex.has(DIGEST.exec(r.path)?.[1] ?? ""))
    .reduce((n, r) => n + r.responseBytes, 0);
}

/**
 * Blob uploads seen: request-body bytes of every upload (POST, PATCH, PUT under /blobs/uploads/), those of the blobs
 * named by `hex`, and how many of those were mounted (POST ?mount= answered 201). An upload session's requests share
 * its path; the digest is named only by its last request (`?digest=`), so bytes are summed per session.
 */
export function uploads(reqs: ProxiedRequest[], hex: Set<string>): { total: number; named: number; mounted: number } {
  const sessions = new Map<string, { bytes: number; digest?: string }>();
  let total = 0;
  let mounted = 0;
  for (const [i, r] of reqs.entries()) {
    if (!r.path.includes("/blobs/uploads/")) continue;
    const [p, query = ""] = r.path.split("?");
    // A POST opens a session (or is a whole upload, `?digest=`): its path names none.
    const path = r.method === "POST" ? `${p}#${i}` : p;
    const mount = /(?:^|&)mount=([^&]+)/.exec(query)?.[1];
    if (r.method === "POST" && mount && r.status === 201 && hex.has(DIGEST.exec(mount)?.[1] ?? "")) mounted++;
    const s = sessions.get(path) ?? { bytes: 0 };
    s.bytes += r.bodyBytes;
    total += r.bodyBytes;
    const d = /(?:^|&)digest=([^&]+)/.exec(query)?.[1];
    if (d) s.digest = DIGEST.exec(d)?.[1];
    sessions.set(path, s);
  }
  let named = 0;
  for (const s of sessions.values()) if (s.digest && hex.has(s.digest)) named += s.bytes;
  return { total, named, mounted };
}

/** Request-body bytes of the PUTs a remote cache received (Bazel's HTTP cache protocol writes by PUT). */
export function cacheWrites(reqs: ProxiedRequest[]): { bytes: number; puts: number } {
  const puts = reqs.filter((r) => r.method === "PUT");
  return { bytes: puts.reduce((n, r) => n + r.bodyBytes, 0), puts: puts.length };
}
