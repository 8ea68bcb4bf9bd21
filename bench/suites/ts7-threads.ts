/**
 * P20: TypeScript 7's threads under Bazel's scheduling (issue #75 item 2). TypeScript 7's native tsc checks with 4
 * checker threads and parses on every core by default, while Bazel counts one CPU for a TsCompile action and runs
 * as many at once as the machine has cores: a build of many targets then runs several times the threads the machine
 * has. The rules run it on one thread (`--singleThreaded`, `--@rules_pipeline//bazel:tsc_threads=single`, the
 * default); `=compiler` leaves it its own threads. Measured: a cold compile of independent TypeScript 7.0.2
 * libraries in the monorepo's workspace (its lockfile holds typescript 7.0.2, bench/lib/monorepo-ts7.ts), the two
 * settings in alternating rounds on the same Bazel server, default strategy (the persistent worker). Each build
 * changes a comment in the libraries' tsconfig first, so that every TsCompile runs again and from nothing (the worker
 * drops TypeScript 7's incremental state when a config changed). Wall time is the ratio; the machine's busy CPU over
 * each build (/proc/stat) is in the notes. The emitted files of the two sides are checked equal.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { bazelOk } from "../lib/bazel";
import { check, type Ctx, versus } from "../lib/context";
import { stat } from "../lib/measure";
import { monorepo, PROFILED } from "../lib/monorepo-sides";
import { monorepoTs7 } from "../lib/monorepo-ts7";
import { write } from "../lib/monorepo";
import type { Row } from "../lib/report";
import { rounds } from "../lib/rounds";
import { TS7_LABEL } from "../lib/ts7-lockfile";

const PKG = "p20";
const TSCONFIG = `{ "compilerOptions": { "strict": true, "target": "es2022", "module": "commonjs" } }\n`;

/** Module `k` of library `lib`: a few types and generic functions over the module before it and Node's crypto. */
function moduleText(lib: number, k: number): string {
  const prev = k ? `import { step${k - 1} } from "./m${k - 1}";\n` : "";
  const chained = k
    ? `export const chained${k} = (items: readonly Item${k}[]): Item${k}[] =>\n  step${k - 1}(items.map((i) => ({ ...i, n: i.n + 1 })));\n`
    : "";
  return `${prev}import { createHash } from "node:crypto";
export interface Item${k} { id: string; n: number; tags: readonly string[]; meta?: Record<string, unknown> }
export type Keyed${k}<T extends Item${k}> = { [K in T["id"]]: T };
export function digest${k}(i: Item${k}): string {
  return createHash("sha256").update(\`${lib}/${k}/\${i.id}/\${i.n}\`).digest("hex");
}
export function index${k}<T extends Item${k}>(items: readonly T[]): Map<string, T> {
  return new Map(items.map((i) => [digest${k}(i), i] as const));
}
export function step${k}<T extends Item${k}>(items: readonly T[]): T[] {
  return [...index${k}(items).values()].filter((i) => i.tags.every((t) => t.length > 0)).sort((a, b) => a.n - b.n);
}
export const summary${k} = (items: readonly Item${k}[]): { count: number; total: number } =>
  items.reduce((acc, i) => ({ count: acc.count + 1, total: acc.total + i.n }), { count: 0, total: 0 });
${chained}`;
}

/** Machine-wide busy CPU so far (all cores), in seconds: /proc/stat's first line without idle and iowait. */
function busySeconds(): number {
  const v = readFileSync("/proc/stat", "utf8").split("\n")[0].trim().split(/\s+/).slice(1).map(Number);
  return (v.reduce((a, b) => a + b, 0) - v[3] - v[4]) / 100;
}

export async function p20(ctx: Ctx): Promise<Row[]> {
  const m = await monorepo(ctx);
  await monorepoTs7(ctx, m); // the workspace's TypeScript 7 fetched and checked
  const libs = ctx.smoke ? 2 : 6;
  const modules = ctx.smoke ? 3 : 24;
  const root = join(m.ws, PKG);
  let build = "";
  for (let lib = 0; lib < libs; lib++) {
    for (let k = 0; k < modules; k++) write(root, `lib${lib}/m${k}.ts`, moduleText(lib, k));
    build += `ts_library(
    name = "lib${lib}",
    srcs = glob(["lib${lib}/*.ts"]),
    tsconfig = "tsconfig.json",
    typescript = "${TS7_LABEL}",
)

`;
  }
  write(root, "BUILD.bazel", `load("@rules_pipeline//bazel:pipeline.bzl", "ts_library")\n\n${build}`);
  const cpu: Record<string, number[]> = { single: [], compiler: [] };
  const emitted: Record<string, string> = {};
  let n = 0;
  const side = (threads: "single" | "compiler") => async () => {
    writeFileSync(join(root, "tsconfig.json"), `// build ${n++}\n${TSCONFIG}`);
    const before = busySeconds();
    const r = await bazelOk(m.ws, [
      "build",
      ...PROFILED,
      `--@rules_pipeline//bazel:tsc_threads=${threads}`,
      `//${PKG}:all`,
    ]);
    cpu[threads].push(busySeconds() - before);
    const compiles = Number(/INFO: \d+ process(?:es)?: .*?(\d+) worker/.exec(r.stderr)?.[1] ?? 0);
    check(
      compiles >= libs,
      `P20: ${threads}: ${libs} TsCompile actions in the worker, got ${compiles}: ${r.stderr.slice(-800)}`,
    );
    emitted[threads] = Array.from({ length: libs }, (_, lib) =>
      readFileSync(join(m.ws, "bazel-bin", PKG, `lib${lib}`, `m${modules - 1}.js`), "utf8"),
    ).join("\n");
    return r.ms;
  };
  const [single, own] = await rounds(ctx.reps, ctx.smoke ? 0 : 1, [side("single"), side("compiler")]);
  check(emitted.single === emitted.compiler, "P20: one thread and the compiler's own emitted different files");
  const cpuOf = (k: string) => stat(ctx.smoke ? cpu[k] : cpu[k].slice(-ctx.reps)).median.toFixed(1);
  return [
    versus({
      id: "P20",
      key: "P20-threads",
      what: `cold \`bazel build\` of ${libs} independent TypeScript 7.0.2 libraries (${modules} modules each, persistent worker, default strategy): one thread per compile (\`--@rules_pipeline//bazel:tsc_threads=single\`, the default) vs TypeScript 7's own threads (\`=compiler\`)`,
      ours: single,
      peer: own,
      limit: 1.0,
      notes: `machine busy CPU per build (medians): one thread ${cpuOf("single")} core-s, the compiler's threads ${cpuOf("compiler")} core-s; both sides emit the same files; every TsCompile runs from nothing (a tsconfig comment changed)`,
    }),
  ];
}
