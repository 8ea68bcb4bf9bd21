/**
 * The @rules_pipeline/runtime library as the Bazel rules put it in images: one file, index.js, at
 * /app/node_modules/@rules_pipeline/runtime/. Taken from the compiled tools (dist/src/runtime/index.js beside
 * this module), or beside a bundled CLI (`runtime/index.js` in the npm package @rules_pipeline/cli, see
 * scripts/pack.js; `src/runtime/index.js` beside the prebuilt bundle of the release archive, or one directory up from
 * the bundle a checkout builds, in the runfiles of `@rules_pipeline//:pipeline` (js_bundle.bzl)); when running from
 * TypeScript sources (tests), transpiled on the fly by the rules' own TsTranspile program (bazel/private/ts_transpile.js,
 * what `@rules_pipeline//:runtime_transpile` runs), so the bytes are the ones Bazel puts in images.
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PipelineError } from "../errors";

export const RUNTIME_LAYER_PATH = "app/node_modules/@rules_pipeline/runtime/index.js";

let cached: Buffer | undefined;

export function runtimeLibrary(): Buffer {
  if (cached) return cached;
  const js = join(__dirname, "..", "runtime", "index.js");
  const besideBundle = [
    join(__dirname, "runtime", "index.js"),
    join(__dirname, "src", "runtime", "index.js"),
    join(__dirname, "..", "src", "runtime", "index.js"),
  ];
  for (const candidate of [js, ...besideBundle]) {
    if (existsSync(candidate)) return (cached = readFileSync(candidate));
  }
  const ts = join(__dirname, "..", "runtime", "index.ts");
  // From sources: the rules' own TsTranspile program, so that tests run the bytes an image gets from Bazel.
  const transpiler = join(__dirname, "..", "..", "bazel", "private", "ts_transpile.js");
  if (existsSync(ts)) {
    if (!existsSync(transpiler))
      throw new PipelineError(
        "E_RUNTIME_LIB",
        `the runtime library is only available as ${ts}, and ${transpiler} is missing`,
      );
    return (cached = transpileRuntime(ts, transpiler));
  }
  throw new PipelineError(
    "E_RUNTIME_LIB",
    `the runtime library is missing: neither ${js} nor ${ts} exists (a broken installation of rules_pipeline)`,
  );
}

/** `node ts_transpile.js TYPESCRIPT_JS SRC OUT_JS OUT_DTS` into a temporary directory; the JavaScript it wrote. */
function transpileRuntime(ts: string, transpiler: string): Buffer {
  let compiler: string;
  try {
    compiler = require.resolve("typescript");
  } catch (e) {
    throw new PipelineError(
      "E_RUNTIME_LIB",
      `the runtime library is only available as ${ts} and the TypeScript compiler cannot be found to compile it`,
      {
        cause: e,
      },
    );
  }
  const dir = mkdtempSync(join(tmpdir(), "rp-runtime-lib-"));
  try {
    const out = join(dir, "index.js");
    const r = spawnSync(process.execPath, [transpiler, compiler, ts, out, join(dir, "index.d.ts")], {
      encoding: "utf8",
    });
    if (r.status !== 0)
      throw new PipelineError(
        "E_RUNTIME_LIB",
        `compiling ${ts} failed (exit ${r.status ?? r.signal}): ${r.stderr.trim()}`,
      );
    return readFileSync(out);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
