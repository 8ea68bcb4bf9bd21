/**
 * Issue 18, item 5: what the build and the launchers read is what was declared, on real Bazel in a consumer
 * workspace.
 * - A program's modules named like the pipeline's runnable targets (`./etl`, `./etl_local`, `./etl_binary` in
 *   `pipeline(name = "etl")`): each launcher sits in its own runfiles beside the program, and Node's
 *   `require("./etl")` takes a file named exactly `etl` before `etl.js`. `bazel run` of NAME (with a registry),
 *   `_local` and `_binary` must run the program, not load a bash launcher as JavaScript.
 * - The rules' own CLI bundle (`@rules_pipeline//:pipeline_cli`) has the same bytes with and without a
 *   `node_modules/typescript` at the consumer's workspace root. Once the root package is in the build, Bazel links
 *   the root's entries into the execroot; esbuild follows the sandbox's symlinks to the execroot, and the bundle's
 *   optional `require("typescript")` (today a `require.resolve`) found the package there (1,229,420 bytes became
 *   12,218,569 on Bazel 4.2.3); and
 *   a declared package (`yaml`) also present at the root was refused as undeclared, failing the build.
 */
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { bazel, makeConsumerWorkspace, QUIET, REPO_ROOT, discard } from "../fixtures/bazel";
import { type RunningRegistry, startRegistry } from "../fixtures/registry";

const tmp = mkdtempSync(join(tmpdir(), "rp-e2e-undeclared-"));
let ws: string;
let reg: RunningRegistry;

function write(rel: string, text: string): void {
  mkdirSync(dirname(join(ws, rel)), { recursive: true });
  writeFileSync(join(ws, rel), text);
}

beforeAll(async () => {
  reg = await startRegistry();
  ws = makeConsumerWorkspace(join(tmp, "a"), "", { diskCache: false });
  write(
    "clash/BUILD.bazel",
    `load("@rules_pipeline//bazel:pipeline.bzl", "pipeline")

pipeline(
    name = "etl",
    entry = "main.ts",
    srcs = ["etl.ts", "etl_local.ts", "etl_binary.ts"],
    base = "@pipeline-host-node//image",
    registry = "${reg.host}",
    repository = "clash/etl",
)
`,
  );
  for (const m of ["etl", "etl_local", "etl_binary"])
    write(`clash/${m}.ts`, `export const name: string = "module ${m}";\n`);
  write(
    "clash/main.ts",
    `import { name as a } from "./etl";
import { name as b } from "./etl_local";
import { name as c } from "./etl_binary";
console.log([a, b, c].join(", "));
`,
  );
});

afterAll(async () => {
  if (ws) await discard(ws);
  await reg?.stop();
  rmSync(tmp, { recursive: true, force: true });
});

describe("a program whose modules are named like the pipeline's targets", () => {
  for (const target of ["etl_local", "etl_binary", "etl"]) {
    test(`bazel run //clash:${target} runs the program, which imports ./etl, ./etl_local and ./etl_binary`, async () => {
      const r = await bazel(ws, ["run", ...QUIET, `//clash:${target}`]);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toContain("module etl, module etl_local, module etl_binary");
    });
  }
});

describe("the rules' CLI bundle reads only declared inputs", () => {
  // Both files of the bundle (the second holds the commands: src/cli/lazy-bundle.ts).
  const dir = () => join(ws, "bazel-bin/external/rules_pipeline/pipeline_cli");
  const files = () => ["pipeline_cli.js", "pipeline_cli.lazy.js"].map((f) => join(dir(), f));
  const bundle = () => Buffer.concat(files().map((f) => readFileSync(f)));

  test("@rules_pipeline//:pipeline_cli has the same bytes with and without node_modules/{typescript,yaml} at the workspace root", async () => {
    // The root package in the build, as in any monorepo: Bazel then links every top-level entry of the workspace
    // (node_modules included) into the execroot.
    const targets = ["//:root", "@rules_pipeline//:pipeline_cli"];
    write("BUILD.bazel", 'filegroup(name = "root")\n');
    const clean = await bazel(ws, ["build", ...targets]);
    expect(clean.code, clean.stderr).toBe(0);
    const without = bundle();
    // A checkout builds the CLI from its sources (the release archive's prebuilt/ is not there).
    const aquery = await bazel(ws, ["aquery", "mnemonic(JsBundle, @rules_pipeline//:pipeline_cli)"]);
    expect(aquery.code, aquery.stderr).toBe(0);
    expect(aquery.stdout).toContain("Mnemonic: JsBundle");
    // A consumer's `npm install` at the root: in the execroot, and no input of any action.
    cpSync(join(REPO_ROOT, "node_modules", "typescript"), join(ws, "node_modules", "typescript"), { recursive: true });
    // And a package the bundle declares (`yaml`, from the rules' own npm tree): esbuild's upward walk meets the root's
    // copy first; it failed the action ("resolves to …/node_modules/yaml/…, which is not an input") and with it
    // `npm run demo` in the rules' own checkout. The declared copy must be bundled.
    write("node_modules/yaml/package.json", JSON.stringify({ name: "yaml", version: "0.0.1", main: "index.js" }));
    write("node_modules/yaml/index.js", 'module.exports = { parse() { return "UNDECLARED YAML COPY"; } };\n');
    try {
      // Deleting the output makes Bazel run the bundle action again (the sandboxed default strategy).
      for (const f of files()) rmSync(f);
      const r = await bazel(ws, ["build", ...targets]);
      expect(r.code, r.stderr).toBe(0);
      const withRoot = bundle();
      console.log(`pipeline_cli.js: ${without.length} bytes without a root node_modules, ${withRoot.length} with one`);
      expect(withRoot.length).toBe(without.length);
      expect(withRoot.equals(without)).toBe(true);
      // The optional lookup of the compiler stays a run-time one (src/lockfile/runtime-lib.ts: only when running from
      // TypeScript sources; `typescript` is also an explicit `external`).
      expect(withRoot.toString("utf8")).toContain('require.resolve("typescript")');
      expect(withRoot.toString("utf8")).not.toContain("UNDECLARED YAML COPY");
    } finally {
      rmSync(join(ws, "node_modules"), { recursive: true, force: true });
    }
  });
});
