/**
 * P5 (reproducible clean builds), P6 (warm `bazel run` of _binary vs _local), P8 (disk growth per image
 * sharing a base), on consumer workspaces driving real Bazel. Every workspace's output base is deleted
 * and its server stopped at the end.
 */
import { cpSync, existsSync, mkdirSync, readFileSync, realpathSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { readLayout } from "../../src/layout/read";
import { bazelOk, expunge, makeConsumerWorkspace, QUIET } from "../lib/bazel";
import { check, type Ctx, row } from "../lib/context";
import { imageBytes } from "../lib/inputs";
import { du, sideBySide, sleep } from "../lib/measure";
import { fmtMs, fmtSize, type Row } from "../lib/report";

/** Workspace A is shared by P5, P6 and P8 (built once, warm afterwards). */
let shared: string | undefined;

function workspaceA(ctx: Ctx): string {
  if (!shared) {
    shared = makeConsumerWorkspace(join(ctx.work, "bazel-a"));
    const ws = shared;
    ctx.defer(() => expunge(ws));
  }
  return shared;
}

async function buildHello(
  ws: string,
  flags: string[] = [],
): Promise<{ digest: string; ms: number; processes: string }> {
  const r = await bazelOk(ws, ["build", ...flags, "//examples/hello:hello_image"]);
  const processes = /INFO: (\d+ process[^\n]*)/.exec(r.stderr)?.[1] ?? "?";
  return {
    digest: readFileSync(join(ws, "bazel-bin/examples/hello/hello_image.digest"), "utf8").trim(),
    ms: r.ms,
    processes,
  };
}

/** The repositories whose rules cost most of a cold build (the npm cis, bundling the tools, the host-node base). */
const SLOW_REPOSITORIES = [
  "rules_pipeline_node",
  "rules_pipeline_npm",
  "rules_pipeline_tools_npm",
  "rules_pipeline_tools",
  "npm",
  "pipeline-host-node",
];

/**
 * P5: two clean builds of examples/hello in different directories, seconds apart: the same manifest digest.
 * The full run builds both for real. Smoke runs stay fast: the second build shares a --disk_cache with the first
 * (its actions then come from the cache, which also checks that every action key is free of paths) and takes
 * the first workspace's fetched repositories with --override_repository instead of running their rules again.
 */
export async function p5(ctx: Ctx): Promise<Row[]> {
  const a = workspaceA(ctx);
  const b = makeConsumerWorkspace(join(ctx.work, "elsewhere", "nested", "bazel-b"));
  const flags = ctx.smoke ? [`--disk_cache=${join(ctx.work, "p5-disk-cache")}`] : [];
  try {
    const first = await buildHello(a, flags);
    await sleep(ctx.smoke ? 1100 : 3000); // whole seconds apart: a timestamp would show
    const overrides: string[] = [];
    if (ctx.smoke) {
      const external = join((await bazelOk(a, ["info", "output_base"])).stdout.trim(), "external");
      for (const r of SLOW_REPOSITORIES)
        if (existsSync(join(external, r))) overrides.push(`--override_repository=${r}=${join(external, r)}`);
    }
    const second = await buildHello(b, [...flags, ...overrides]);
    check(/^sha256:[0-9a-f]{64}$/.test(first.digest), `P5: a digest (${first.digest})`);
    // Smoke: the second build's actions all came from the first's cache (what README says the smoke variant checks:
    // keys free of paths), none ran; the first ran them.
    if (ctx.smoke)
      check(
        /cache hit/.test(second.processes) &&
          !/sandbox|worker|local/.test(second.processes) &&
          /sandbox|worker|local/.test(first.processes),
        `P5: the first build ran its actions (${first.processes}), the second took all of them from the cache (${second.processes})`,
      );
    const same = first.digest === second.digest;
    check(same, `P5: clean builds in different directories give the same digest (${first.digest} vs ${second.digest})`);
    return [
      row({
        id: "P5",
        key: "P5-digest",
        what: "two clean builds of //examples/hello:hello_image, different directories, ≥ 1 s apart, SOURCE_DATE_EPOCH unset: manifest digest",
        ours: first.digest.slice(0, 19) + "…",
        peer: second.digest.slice(0, 19) + "…",
        target: "identical",
        met: same,
        notes:
          `cold builds (new output base, repository rules included) took ${Math.round(first.ms)} ms (${first.processes}) and ` +
          `${Math.round(second.ms)} ms (${second.processes})${ctx.smoke ? "; smoke: a shared --disk_cache, the second build reuses the first's repositories" : "; no disk cache"}`,
      }),
    ];
  } finally {
    await expunge(b);
  }
}

/**
 * P6: warm `bazel run` of hello_binary vs hello_local in the same workspace and server. hello's launch script runs
 * its image in a local container when it has one; P6 measures what the rules add, so both runs do the same work
 * in-process (PIPELINE_IN_CONTAINER=1 tells the script it is already inside). A second, informational row measures
 * hello_binary as users run it: the launch script starting the built image under runc (warm image cache).
 */
export async function p6(ctx: Ctx): Promise<Row[]> {
  const ws = workspaceA(ctx);
  const inProcess = { ...process.env, PIPELINE_IN_CONTAINER: "1" };
  const runTarget = (t: string, env?: NodeJS.ProcessEnv) =>
    bazelOk(ws, ["run", ...QUIET, `//examples/hello:${t}`], env);
  // Warm: builds what each needs (the image for _binary), then measure no-op runs.
  const bin = await runTarget("hello_binary", inProcess);
  const loc = await runTarget("hello_local", inProcess);
  const container = await runTarget("hello_binary");
  check(
    /container image: \S+@sha256:[0-9a-f]{64}/.test(container.stdout),
    `P6: hello_binary runs with the image's reference (${container.stdout.trim()})`,
  );
  check(
    /running inside the container/.test(container.stdout),
    `P6: hello_binary's launch script runs the image in a container (${container.stdout.trim()})`,
  );
  check(
    /HELLO/.test(bin.stdout) && /HELLO/.test(loc.stdout),
    `P6: both do the pipeline's work in-process (${bin.stdout.trim()} / ${loc.stdout.trim()})`,
  );
  const t = await sideBySide(
    ctx.reps,
    ctx.smoke ? 0 : 1,
    async () => (await runTarget("hello_binary", inProcess)).ms,
    async () => (await runTarget("hello_local", inProcess)).ms,
  );
  const c = await sideBySide(
    ctx.reps,
    0,
    async () => (await runTarget("hello_binary")).ms,
    async () => (await runTarget("hello_local", inProcess)).ms,
  );
  return [
    row({
      id: "P6",
      key: "P6-wall",
      what: "warm `bazel run //examples/hello:hello_binary` vs `…:hello_local` (same workspace and server; the script's work in-process in both)",
      ours: fmtMs(t.a),
      peer: fmtMs(t.b),
      ratio: t.a.median / t.b.median,
      target: "≤ 1.2",
      met: t.a.median / t.b.median <= 1.2,
    }),
    row({
      id: "P6",
      key: "P6-container",
      what: "informational: `hello_binary` as shipped (launch script runs the built image under runc, warm caches) vs `hello_local`",
      ours: fmtMs(c.a),
      peer: fmtMs(c.b),
      ratio: c.a.median / c.b.median,
      target: "—",
    }),
  ];
}

const P8_BUILD = (i: number, deps: boolean) => `load("@rules_pipeline//bazel:pipeline.bzl", "pipeline")

pipeline(
    name = "img${i}",
    entry = "main.js",${deps ? '\n    deps = ["@npm//:node_modules/lodash"],' : ""}
    registry = "localhost:5000",
    repository = "bench/img${i}",
    base = "//bench_base:image",
)
`;

// JavaScript (passed through, no tsc action): P8 is about disk use, not compiling. Full runs give each image lodash
// (own layers of about half a megabyte); smoke runs no npm deps (fewer sandboxed inputs, faster).
const P8_MAIN = (i: number) => `console.log("image ${i}", require("@rules_pipeline/runtime").hasContainerImage());
`;

/** P8: N images sharing the base: growth of bazel-out and of a --disk_cache per extra image vs its own layers. */
export async function p8(ctx: Ctx): Promise<Row[]> {
  const ws = workspaceA(ctx);
  const n = ctx.smoke ? 2 : 3;
  cpSync(ctx.inputs.baseDir, join(ws, "bench_base"), { recursive: true });
  writeFileSync(
    join(ws, "bench_base", "BUILD.bazel"),
    'filegroup(name = "image", srcs = glob(["**"], exclude = ["BUILD.bazel"]), visibility = ["//visibility:public"])\n',
  );
  for (let i = 1; i <= n; i++) {
    mkdirSync(join(ws, "bench_p8", `img${i}`), { recursive: true });
    writeFileSync(join(ws, "bench_p8", `img${i}`, "BUILD.bazel"), P8_BUILD(i, !ctx.smoke));
    writeFileSync(join(ws, "bench_p8", `img${i}`, "main.js"), P8_MAIN(i));
  }
  const cache = join(ctx.work, "disk-cache");
  mkdirSync(cache, { recursive: true });
  const base = ctx.inputs.base();
  const baseSize = imageBytes(base);
  // Everything else the workspace needs (npm, tools, compiled app) is built before the first measurement.
  await bazelOk(ws, ["build", `--disk_cache=${cache}`, "//examples/hello:hello_image"]);
  const out = realpathSync(join(ws, "bazel-out"));
  const sizes: { out: number; outAll: number; cache: number; own: number; linked: boolean }[] = [];
  const measure = (own: number, linked: boolean) =>
    sizes.push({ out: du(out, "disk"), outAll: du(out, "apparent-all-links"), cache: du(cache, "disk"), own, linked });
  measure(0, false);
  for (let i = 1; i <= n; i++) {
    await bazelOk(ws, ["build", `--disk_cache=${cache}`, `//bench_p8/img${i}:img${i}_image`]);
    const dir = join(ws, "bazel-bin", "bench_p8", `img${i}`, `img${i}_image`);
    const img = readLayout(dir);
    check(
      img.layers.slice(0, base.layers.length).every((l, j) => l.digest === base.layers[j].digest),
      "P8: the image starts with the base's layers",
    );
    const own =
      img.layers.slice(base.layers.length).reduce((s, l) => s + l.size, 0) +
      img.configBytes.length +
      img.manifestBytes.length;
    const linked = statSync(join(dir, "blobs", "sha256", base.layers[0].digest.slice(7))).nlink > 1;
    measure(own, linked);
  }
  const per = (k: "out" | "outAll" | "cache") => (sizes[n][k] - sizes[1][k]) / (n - 1);
  const ownAvg = sizes.slice(2).reduce((s, x) => s + x.own, 0) / (n - 1);
  const growth = sizes
    .slice(1)
    .map((s, i) => fmtSize(s.out - sizes[i].out))
    .join(", ");
  const ok = (g: number) => g <= ownAvg + 0.1 * baseSize;
  const target = `≈ own layers (≤ own + 10% of the ${fmtSize(baseSize)} base)`;
  return [
    row({
      id: "P8",
      key: "P8-bazel-out",
      what: `bazel-out growth (du) per extra image sharing the base (${n} images) / the image's own layers + config + manifest`,
      ours: fmtSize(per("out")),
      peer: fmtSize(ownAvg),
      ratio: per("out") / ownAvg,
      target,
      met: ok(per("out")),
      notes: `growth per image ${growth}; base blobs in the layouts are ${sizes.slice(1).every((s) => s.linked) ? "hard links (the first image brings the base's inodes into bazel-out)" : "copies (each image holds a whole copy of the base)"}; the base is ${fmtSize(baseSize)}; du counts 4 KiB blocks, so each small output file adds a few kB`,
    }),
    row({
      id: "P8",
      key: "P8-apparent",
      what: "the same, apparent size counting every hard link (what a copy would cost)",
      ours: fmtSize(per("outAll")),
      peer: fmtSize(ownAvg),
      ratio: per("outAll") / ownAvg,
      target: "info",
      notes: "du -l -b: hard links counted each time",
    }),
    row({
      id: "P8",
      key: "P8-disk-cache",
      what: "--disk_cache growth (du) per extra image / its own layers + config + manifest",
      ours: fmtSize(per("cache")),
      peer: fmtSize(ownAvg),
      ratio: per("cache") / ownAvg,
      target,
      met: ok(per("cache")),
    }),
  ];
}
