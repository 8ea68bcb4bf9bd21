/**
 * P9's rules_img side (issue #61 item 4): the same one-line library change turned into a pushed image by shared/peers'
 * rules_img 0.3.17 instead of our `pipeline`, in the rules_js + pnpm workspace (bench/lib/monorepo-rules-js.ts) on
 * its server. The image is what a rules_img user of this monorepo would write: the host-node base the other P9 sides
 * use (`@pipeline-host-node//image`, through `image_manifest_from_oci_layout`), a layer of rules_js's
 * `//:node_modules` and a layer of the compiled program (our `ts_library` outputs of //lib and //util and the
 * pipeline's compiled entry, `:etl_app`), `image_manifest`, `image_push`. Its targets are added on first use, then it
 * is built and pushed once (its cold part: the base converted, the node_modules layer), outside the rounds.
 */
import { appendFileSync } from "node:fs";
import { join } from "node:path";
import { QUIET } from "./bazel";
import { check, type Ctx } from "./context";
import { changeLibrary } from "./monorepo";
import { monorepoRulesJs, run } from "./monorepo-rules-js";
import { type Mono, PROFILED, type Pushed } from "./monorepo-sides";

export interface MonoRulesImg {
  ws: string;
  /** Its first `bazel run //x:etl_img_push` (the workspace already built by the rules_js side). */
  first: { ms: number; processes: string };
}

const GZ = '"application/vnd.oci.image.layer.v1.tar+gzip"';

/** The digest a rules_img push printed for `repository` (it prints the tag's reference after it). */
function pushedImg(stdout: string, repository: string): string {
  const line = stdout.split("\n").find((l) => l.startsWith(`${repository}@sha256:`));
  check(line !== undefined, `P9 (rules_img): image_push printed ${repository}@sha256:… (${stdout.trim().slice(-300)})`);
  return line!.slice(repository.length + 1);
}

let shared: Promise<MonoRulesImg> | undefined;

export function monorepoRulesImg(ctx: Ctx, m: Mono): Promise<MonoRulesImg> {
  shared ??= (async () => {
    const { ws } = await monorepoRulesJs(ctx, m);
    appendFileSync(
      join(ws, "x", "BUILD.bazel"),
      `
# rules_img 0.3.17 (bench/lib/monorepo-rules-img.ts): the same program on the same base.
load("@rules_img//img:convert.bzl", "image_manifest_from_oci_layout")
load("@rules_img//img:image.bzl", "image_manifest")
load("@rules_img//img:layer.bzl", "image_layer")
load("@rules_img//img:push.bzl", "image_push")

image_manifest_from_oci_layout(
    name = "host_node_img",
    src = "@pipeline-host-node//image",
    architecture = "amd64",
    os = "linux",
    layers = [${GZ}, ${GZ}],
)

image_layer(name = "etl_img_npm", srcs = {"/app": "//:node_modules"})

image_layer(name = "etl_img_app", srcs = {"/app/lib": "//lib", "/app/util": "//util", "/app/x": ":etl_app"})

image_manifest(
    name = "etl_img",
    base = ":host_node_img",
    entrypoint = ["node", "/app/x/etl.js"],
    layers = [":etl_img_npm", ":etl_img_app"],
)

image_push(name = "etl_img_push", image = ":etl_img", registry = "${m.reg.host}", repository = "mono/etl-img", tag = "latest")
`,
    );
    // Smoke runs have one sample and no warm-up: it does this first build's work (bench-smoke's CPU budget).
    if (ctx.smoke) return { ws, first: { ms: Number.NaN, processes: "not run in smoke runs" } };
    const r = await run(m, ws, ["run", ...PROFILED, "//x:etl_img_push"]);
    const processes = /INFO: (\d+ process[^\n]*)/.exec(r.stderr)?.[1] ?? "?";
    pushedImg(r.stdout, `${m.reg.host}/mono/etl-img`);
    ctx.log(`monorepo (rules_img, Bazel 7.7.1): first build + push in ${Math.round(r.ms)} ms (${processes})`);
    return { ws, first: { ms: r.ms, processes } };
  })();
  return shared;
}

/** One-line change in the rules_js workspace, then `bazel run //x:etl_img_push` (rules_img) there. */
export async function rulesImgPush(m: Mono, w: MonoRulesImg): Promise<Pushed> {
  changeLibrary(w.ws, m.src, m.next());
  const r = await run(m, w.ws, ["run", ...QUIET, "//x:etl_img_push"]);
  return { ms: r.ms, digest: pushedImg(r.stdout, `${m.reg.host}/mono/etl-img`) };
}

export const RULES_IMG_WHAT =
  "informational: the same change on Bazel 7.7.1 in the rules_js + pnpm workspace, pushed by our `pipeline` (`//x:etl_push`) vs by rules_img 0.3.17 (`//x:etl_img_push`: `image_layer` of //:node_modules and of the compiled program, `image_manifest` on the same host-node base, `image_push`; the same sources, rounds and registry)";

export const rulesImgNotes = (w: MonoRulesImg) =>
  `shared/peers' rules_img (its img tool built from source); the base through \`image_manifest_from_oci_layout\` of @pipeline-host-node//image; the program layer holds //lib's and //util's ts_library outputs and :etl_app's compiled entry, the npm layer rules_js's //:node_modules (its store, symlinks as rules_img writes them); its first build + push, after the rules_js side's: ${Math.round(w.first.ms)} ms (${w.first.processes})`;
