/**
 * The @rules_pipeline/runtime library as the Bazel rules put it in images: index.js and the map worker's files
 * (map-worker.js and what it requires), at /app/node_modules/@rules_pipeline/runtime/. Taken from the compiled tools (dist/src/runtime/ beside
 * this module), or beside a bundled CLI (`runtime/index.js` in the npm package @rules_pipeline/cli, see
 * scripts/pack.js; `src/runtime/index.js` beside the prebuilt bundle of the release archive, or one directory up from
 * the bundle a checkout builds, in the runfiles of `@rules_pipeline//:pipeline` (js_bundle.bzl)); when running from
 * TypeScript sources (tests), transpiled on the fly by the rules' own TsTranspile program (bazel/private/typescript/ts_transpile.js,
 * what `@rules_pipeline//:runtime_transpile` runs), so the bytes are the ones Bazel puts in images.
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import { PipelineError } from "../errors";

/** Where the runtime library's files go in an image. */
export const RUNTIME_LAYER_DIR = "app/node_modules/@rules_pipeline/runtime";

/** One file of the runtime library: `index.js`, the map worker and what it requires (src/runtime/*.ts, tests aside). */
export interface RuntimeFile {
  name: string;
  content: Buffer;
}

let cached: RuntimeFile[] | undefined;

/** The runtime library's JavaScript files, sorted by name. */
export function runtimeFiles(): RuntimeFile[] {
  if (cached) return cached;
  const compiled = [
    join(__dirname, "..", "runtime"),
    join(__dirname, "runtime"),
    join(__dirname, "src", "runtime"),
    join(__dirname, "..", "src", "runtime"),
  ];
  for (const dir of compiled) {
    if (!existsSync(join(dir, "index.js"))) continue;
    const names = readdirSync(dir).filter((n) => n.endsWith(".js") && !n.endsWith(".test.js"));
    return (cached = names.sort().map((name) => ({ name, content: readFileSync(join(dir, name)) })));
  }
  const sources = join(__dirname, "..", "runtime");
  const ts = join(sources, "index.ts");
  // From sources: the rules' own TsTranspile program, so that tests run the bytes an image gets from Bazel.
  const transpiler = join(__dirname, "..", "..", "bazel", "private", "typescript", "ts_transpile.js");
  if (existsSync(ts)) {
    if (!existsSync(transpiler))
      throw new PipelineError(
        "E_RUNTIME_LIB",
        `the runtime library is only available as ${ts}, and ${transpiler} is missing`,
      );
    const names = readdirSync(sources).filter(
      (n) => n.endsWith(".ts") && !n.endsWith(".test.ts") && !n.endsWith(".d.ts"),
    );
    return (cached = transpileRuntime(sources, names, transpiler).sort((a, b) => (a.name < b.name ? -1 : 1)));
  }
  throw new PipelineError(
    "E_RUNTIME_LIB",
    `the runtime library is missing: neither ${join(sources, "index.js")} nor ${ts} exists (a broken installation of rules_pipeline)`,
  );
}

/** `node ts_transpile.js TYPESCRIPT_JS SRC OUT_JS OUT_DTS...` into a temporary directory: the JavaScript it wrote. */
function transpileRuntime(sources: string, names: string[], transpiler: string): RuntimeFile[] {
  let compiler: string;
  try {
    compiler = require.resolve("typescript");
  } catch (e) {
    throw new PipelineError(
      "E_RUNTIME_LIB",
      `the runtime library is only available as TypeScript in ${sources} and the TypeScript compiler cannot be found to compile it`,
      { cause: e },
    );
  }
  const dir = mkdtempSync(join(tmpdir(), "rp-runtime-lib-"));
  try {
    const outs = names.map((n) => join(dir, n.replace(/\.ts$/, ".js")));
    const args = names.flatMap((n, i) => [join(sources, n), outs[i], `${outs[i]}.d.ts`]);
    const r = spawnSync(process.execPath, [transpiler, compiler, ...args], { encoding: "utf8" });
    if (r.status !== 0)
      throw new PipelineError(
        "E_RUNTIME_LIB",
        `compiling the runtime library in ${sources} failed (exit ${r.status ?? r.signal}): ${r.stderr.trim()}`,
      );
    return outs.map((out) => ({ name: basename(out), content: readFileSync(out) }));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
