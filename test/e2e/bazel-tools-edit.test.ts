/**
 * Issue #23 items 3 and 4: the rules' tools are bundled by esbuild from their TypeScript sources (no tsc compile of
 * src/, once at fetch time and again as an action, as before), and launchers carry the npm packages run-time commands
 * load lazily as one file each instead of the rules' ~7,300-file npm tree. On real Bazel 4.2.3, in a consumer
 * workspace that loads a copy of this checkout with `local_repository`, as a developer of the rules does:
 * - an edit of src/ takes effect on the next `bazel run @rules_pipeline//:pipeline` (the JsBundle action reads the
 *   sources; nothing to refetch by hand);
 * - the CLI's runfiles are a handful of files, and the lazily loaded packages in them are what the CLI requires;
 * - no action of the rules compiles src/ beyond the runtime library (its files, each transpiled from itself, in two actions: the output enters images).
 */
import { spawnSync } from "node:child_process";
import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { bazel, makeConsumerWorkspace, REPO_ROOT, discard } from "../fixtures/bazel";

const tmp = mkdtempSync(join(tmpdir(), "rp-e2e-tools-edit-"));
/** The runtime library's sources (src/runtime/*.ts, tests aside): each goes into images, each transpiled from itself. */
const RUNTIME_SOURCES = readdirSync(join(REPO_ROOT, "src", "runtime")).filter(
  (f) => f.endsWith(".ts") && !f.endsWith(".test.ts"),
);
const rules = join(tmp, "rules_pipeline");
let ws: string;

beforeAll(() => {
  // What a checkout has, without its node_modules, Bazel's symlinks, tests and benchmarks.
  for (const entry of [
    "BUILD.bazel",
    "WORKSPACE",
    "MODULE.bazel",
    "package.json",
    "tsconfig.json",
    "bazel",
    "bootstrap",
    "src",
    "tools",
  ]) {
    cpSync(join(REPO_ROOT, entry), join(rules, entry), { recursive: true });
  }
  ws = makeConsumerWorkspace(join(tmp, "consumer"), "", { diskCache: false });
  const workspace = readFileSync(join(ws, "WORKSPACE"), "utf8").replace(
    JSON.stringify(REPO_ROOT),
    JSON.stringify(rules),
  );
  writeFileSync(join(ws, "WORKSPACE"), workspace);
});

afterAll(async () => {
  if (ws) await discard(ws);
  rmSync(tmp, { recursive: true, force: true });
});

const version = (): string =>
  /export const VERSION = "([^"]+)"/.exec(readFileSync(join(rules, "src", "version.ts"), "utf8"))?.[1] ?? "";

describe("the rules' tools in a checkout", () => {
  test("an edit of src/ takes effect on the next bazel run, without a refetch", async () => {
    const before = version();
    const r1 = await bazel(ws, ["run", "@rules_pipeline//:pipeline", "--", "--version"]);
    expect(r1.code, r1.stderr).toBe(0);
    expect(r1.stdout).toContain(`pipeline ${before} `);
    const file = join(rules, "src", "version.ts");
    writeFileSync(file, readFileSync(file, "utf8").replace(`"${before}"`, `"${before}-edited"`));
    const r2 = await bazel(ws, ["run", "@rules_pipeline//:pipeline", "--", "--version"]);
    expect(r2.code, r2.stderr).toBe(0);
    expect(r2.stdout).toContain(`pipeline ${before}-edited `);
  });

  test("the CLI's runfiles are a handful of files; the lazily loaded packages load from them", async () => {
    const manifest = readFileSync(join(ws, "bazel-bin/external/rules_pipeline/pipeline.sh.runfiles_manifest"), "utf8")
      .trim()
      .split("\n");
    // (two of them the `{"type": "commonjs"}` package.json beside the CLI's bundle and beside its loader: js_bundle.bzl;
    // and the runtime library's files beside it, for `pipeline build --lockfile`, each listed twice: Bazel 4.2.3's
    // legacy external runfiles)
    expect(manifest.length).toBeLessThan(22 + 2 * (RUNTIME_SOURCES.length - 1));
    expect(manifest.filter((l) => /^rules_pipeline\/src\/runtime\/[^/]+\.js /.test(l))).toHaveLength(
      RUNTIME_SOURCES.length,
    );
    expect(manifest.filter((l) => l.includes("/node_modules/"))).toEqual([]);
    const modules = manifest.map((l) => l.split(" ")[0]).filter((p) => /^rules_pipeline_tools\/modules\//.test(p));
    expect(modules.sort()).toEqual([
      "rules_pipeline_tools/modules/@aws-sdk/client-secrets-manager/index.js",
      "rules_pipeline_tools/modules/@kubernetes/client-node/index.js",
    ]);
    // The CLI finds them through PIPELINE_TOOLS_NODE_MODULES, as the launcher sets it: the real client objects load.
    const dir = join(ws, "bazel-bin/external/rules_pipeline/pipeline.sh.runfiles/rules_pipeline_tools/modules");
    const probe = spawnSync(
      process.execPath,
      [
        "-e",
        'const k = require("@kubernetes/client-node"); const a = require("@aws-sdk/client-secrets-manager"); console.log(typeof new k.KubeConfig().loadFromString, typeof a.GetSecretValueCommand)',
      ],
      { encoding: "utf8", env: { ...process.env, NODE_PATH: dir }, cwd: tmp },
    );
    expect(probe.stdout.trim(), probe.stderr).toBe("function function");
  });

  test("no tsc program over the rules' own sources: each file of the runtime library is transpiled from itself and the compiler", async () => {
    const r = await bazel(ws, [
      "aquery",
      "--output=text",
      "mnemonic('TsCompile|TsTranspile', deps(//examples/hello:hello_local))",
    ]);
    expect(r.code, r.stderr).toBe(0);
    const rulesActions = [
      ...r.stdout.matchAll(/^action '(Compiling|Transpiling) TypeScript (@rules_pipeline\/\/\S+)'/gm),
    ].map((m) => `${m[1]} TypeScript ${m[2]}`);
    const stems = RUNTIME_SOURCES.map((f) => f.slice(0, -".ts".length));
    // Two actions: index.ts (which TsCompile's types wait for) and the map worker's files together (one Node start).
    expect(rulesActions.sort()).toEqual([
      "Transpiling TypeScript @rules_pipeline//:runtime_transpile",
      "Transpiling TypeScript @rules_pipeline//:runtime_transpile_map",
    ]);
    // Their inputs: the sources, the compiler's one file, the transpiler (src/tsc/transpile.ts bundled, with its
    // package.json) and Node (no @types, no tsconfig); every runtime source in exactly one of them.
    const transpiles = r.stdout.split(/\n(?=action ')/).filter((a) => a.startsWith("action 'Transpiling"));
    expect(transpiles).toHaveLength(2);
    const transpiled: string[] = [];
    for (const transpile of transpiles) {
      const inputs = /Inputs: \[([^\]]*)\]/.exec(transpile)?.[1].split(", ") ?? [];
      const sources = inputs.filter((i) => i.startsWith("external/rules_pipeline/src/"));
      expect(sources.length).toBeGreaterThan(0);
      transpiled.push(...sources);
      const transpiler = inputs.filter((i) => i.includes("/bin/external/rules_pipeline/ts_transpiler/"));
      expect(transpiler.map((i) => i.slice(i.indexOf("/bin/") + "/bin/".length)).sort()).toEqual([
        "external/rules_pipeline/ts_transpiler/package.json",
        "external/rules_pipeline/ts_transpiler/ts_transpile.js",
      ]);
      expect(inputs.filter((i) => !i.includes("rules_pipeline_node/") && !transpiler.includes(i)).sort()).toEqual(
        [...sources, "external/rules_pipeline_npm/node_modules/typescript/lib/typescript.js"].sort(),
      );
    }
    expect(transpiled.sort()).toEqual(stems.map((stem) => `external/rules_pipeline/src/runtime/${stem}.ts`).sort());
  });
});
