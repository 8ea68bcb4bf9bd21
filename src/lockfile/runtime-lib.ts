/**
 * The @rules_pipeline/runtime library as the Bazel rules put it in images: one file, index.js, at
 * /app/node_modules/@rules_pipeline/runtime/. Taken from the compiled tools (dist/src/runtime/index.js beside
 * this module), or beside a bundled CLI (`runtime/index.js` in the npm package @rules_pipeline/cli, see
 * scripts/pack.js; `src/runtime/index.js` in the runfiles of `@rules_pipeline//:pipeline`); when running from
 * TypeScript sources (tests), compiled on the fly with the TypeScript compiler.
 */
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { PipelineError } from "../errors";

export const RUNTIME_LAYER_PATH = "app/node_modules/@rules_pipeline/runtime/index.js";

let cached: Buffer | undefined;

export function runtimeLibrary(): Buffer {
  if (cached) return cached;
  const js = join(__dirname, "..", "runtime", "index.js");
  for (const candidate of [js, join(__dirname, "runtime", "index.js"), join(__dirname, "src", "runtime", "index.js")]) {
    if (existsSync(candidate)) return (cached = readFileSync(candidate));
  }
  const ts = join(__dirname, "..", "runtime", "index.ts");
  if (existsSync(ts)) {
    let typescript: typeof import("typescript");
    try {
      typescript = require("typescript") as typeof import("typescript");
    } catch (e) {
      throw new PipelineError(
        "E_RUNTIME_LIB",
        `the runtime library is only available as ${ts} and the TypeScript compiler cannot be loaded to compile it`,
        { cause: e },
      );
    }
    const out = typescript.transpileModule(readFileSync(ts, "utf8"), {
      compilerOptions: { module: typescript.ModuleKind.CommonJS, target: typescript.ScriptTarget.ES2022 },
      fileName: "index.ts",
    });
    return (cached = Buffer.from(out.outputText));
  }
  throw new PipelineError(
    "E_RUNTIME_LIB",
    `the runtime library is missing: neither ${js} nor ${ts} exists (a broken installation of rules_pipeline)`,
  );
}
