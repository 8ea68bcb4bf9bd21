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
import { check, type Ctx, row } from "./context";
import { changeLibrary } from "./monorepo";
import { monorepoRulesJs, run } from "./monorepo-rules-js";
import { type Mono, PROFILED, peerProjects, type Pushed } from "./monorepo-sides";
import { peerTs7, tscWatchLatency } from "./monorepo-ts7";
import { type Stat, stat } from "./measure";
import { fmtMs, type Row } from "./report";

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

/** What P9's rules_img target stands on: warm runs with nothing changed in the rules_js workspace, after the rounds. */
export interface RulesImgFloor {
  /** `bazel run //x:etl_push`: Bazel's client and server, the up-to-date check, our launcher's push of an image the registry has. */
  run: Stat;
  /** `bazel build //x:etl_push`: the same without the launcher (what Bazel alone costs, for either side). */
  build: Stat;
  /** `bazel run //x:etl_img_push`: rules_img's own run with nothing changed. */
  imgRun: Stat;
  /**
   * TypeScript 7.0.2's own `tsc --watch` recompiling the peer's project after the same one-line change: the fastest
   * compile of the change measured here (undefined if the watcher did not notice a change).
   */
  watched: Stat | undefined;
}

export async function rulesImgFloor(ctx: Ctx, m: Mono, w: MonoRulesImg): Promise<RulesImgFloor> {
  const runs = { run: [] as number[], build: [] as number[], imgRun: [] as number[] };
  for (let i = 0; i < (ctx.smoke ? 1 : 5); i++) {
    runs.run.push((await run(m, w.ws, ["run", ...QUIET, "//x:etl_push"])).ms);
    runs.build.push((await run(m, w.ws, ["build", ...QUIET, "//x:etl_push"])).ms);
    runs.imgRun.push((await run(m, w.ws, ["run", ...QUIET, "//x:etl_img_push"])).ms);
  }
  const watched = await tscWatchLatency(
    m,
    await peerTs7(m, (await peerProjects(ctx, m)).tsc),
    ctx.smoke ? 1 : 5,
    10_000,
  );
  return { run: stat(runs.run), build: stat(runs.build), imgRun: stat(runs.imgRun), watched: watched && stat(watched) };
}

/** The floor row under P9-rules-img: our nothing-changed run against rules_img's samples of the change. */
export function rulesImgFloorRow(floor: RulesImgFloor, rulesImg: Stat, wrapperMs: number): Row {
  return row({
    id: "P9",
    key: "P9-rules-img-floor",
    what: "informational: the floor under P9-rules-img — warm `bazel run //x:etl_push` in the rules_js + pnpm workspace (Bazel 7.7.1) with nothing changed, vs rules_img's samples of the change",
    ours: fmtMs(floor.run),
    peer: fmtMs(rulesImg),
    ratio: floor.run.median / rulesImg.median,
    target: "—",
    notes:
      `${floor.run.n} runs after the rounds: Bazel's client and server, the up-to-date check and our launcher's push of an image the registry has (no compile, layer or image action); a ratio above 0.7 means P9-rules-img's target cannot be met by any compile, layer or image action. ` +
      `Its parts: \`bazel build\` with nothing changed ${fmtMs(floor.build)} (Bazel alone, which rules_img's side pays too), the launcher the rest (Node's start among it); ` +
      `rules_img's own run with nothing changed: ${fmtMs(floor.imgRun)}; each sample has the chroot wrapper's ${Math.round(wrapperMs)} ms`,
  });
}

/**
 * The floor under P9-rules-img with the change compiled: our nothing-changed run plus the fastest compile of the change
 * measured here (TypeScript 7's own `tsc --watch`), against rules_img's samples. Both sides compile the change with the
 * same ts_library (rules_img's program layer takes its outputs), so rules_img's samples hold a compile too: above 0.7,
 * no compile, however fast, lets our side meet the target, before any layer, image or push of ours.
 */
export function rulesImgFloorCompileRow(floor: RulesImgFloor, rulesImg: Stat, wrapperMs: number): Row[] {
  const w = floor.watched;
  if (!w) return [];
  const total = floor.run.median + w.median;
  return [
    row({
      id: "P9",
      key: "P9-rules-img-floor-compile",
      what: "informational: the floor under P9-rules-img with the change compiled — the nothing-changed run (P9-rules-img-floor) plus TypeScript 7.0.2's own `tsc --watch` recompile of the same change (the fastest compile of it measured here), vs rules_img's samples of the change",
      ours: `${Math.round(total)} ms`,
      peer: fmtMs(rulesImg),
      ratio: total / rulesImg.median,
      target: "—",
      notes: `medians: ${Math.round(floor.run.median)} ms (nothing changed, ${floor.run.n} runs, the chroot wrapper's ${Math.round(wrapperMs)} ms in each as in rules_img's) + ${Math.round(w.median)} ms (tsc --watch on the peer's project, ${w.n} changes, no Bazel); rules_img's samples compile the change with the same ts_library as ours; a ratio above 0.7 means no compile of the change meets P9-rules-img's target here, before our layer, image and push`,
    }),
  ];
}
