/**
 * The @rules_pipeline/runtime library as the Bazel rules put it in images: index.js and the map worker's files
 * (map-worker.js and what it requires), at /app/node_modules/@rules_pipeline/runtime/. Taken from the compiled tools (dist/src/runtime/ beside
 * this module), or beside a bundled CLI (`runtime/index.js` in the npm package @rules_pipeline/cli, see
 * scripts/pack.js; `src/runtime/index.js` beside the prebuilt bundle of the release archive, or one directory up from
 * the bundle a checkout builds, in the runfiles of `@rules_pipeline//:pipeline` (js_bundle.bzl)); when running from
 * TypeScript sources (tests), transpiled on the fly by the rules' own TsTranspile code (src/tsc/transpile.ts, what
 * `@rules_pipeline//:runtime_transpile` runs), in this process, so the bytes are the ones Bazel puts in images.
 */
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { PipelineError } from "../errors";
import { loadCompiler, transpile } from "../tsc/transpile";

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
  // From sources: the rules' own TsTranspile code, so that tests run the bytes an image gets from Bazel.
  if (existsSync(join(sources, "index.ts"))) {
    const names = readdirSync(sources).filter(
      (n) => n.endsWith(".ts") && !n.endsWith(".test.ts") && !n.endsWith(".d.ts"),
    );
    return (cached = transpileRuntime(sources, names).sort((a, b) => (a.name < b.name ? -1 : 1)));
  }
  throw new PipelineError(
    "E_RUNTIME_LIB",
    `the runtime library is missing: neither ${join(sources, "index.js")} nor ${join(sources, "index.ts")} exists (a broken installation of rules_pipeline)`,
  );
}

/** The JavaScript of each of `names` (TypeScript files in `sources`), as `node ts_transpile.js` writes it. */
function transpileRuntime(sources: string, names: string[]): RuntimeFile[] {
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
  const tsApi = loadCompiler(compiler);
  return names.map((n) => {
    const src = join(sources, n);
    const out = transpile(tsApi, readFileSync(src, "utf8"), src);
    if ("problems" in out)
      throw new PipelineError(
        "E_RUNTIME_LIB",
        `compiling the runtime library in ${sources} failed: ${out.problems.trim()}`,
      );
    return { name: n.replace(/\.ts$/, ".js"), content: Buffer.from(out.js) };
  });
}
