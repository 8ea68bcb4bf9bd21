/**
 * The compiler is the workspace's choice, and ES modules compile, on the Bazel 4.2.3 users run (WORKSPACE): a consumer
 * whose own lockfile pins typescript 7.0.2 (test/fixtures/typescript/ts7: with its native compiler's package for
 * this platform, @types/node and p-limit, an ES-module-only package whose types are only in `exports`) names it
 * with `pipeline_dependencies(typescript = ...)`; one target picks TypeScript 6.0.3 from a second npm repository
 * with its own `typescript` attribute. The workspace's tsconfig uses `module: nodenext` and an option only
 * TypeScript ≥ 6 knows; the root package.json says `"type": "module"`. Checked: the ts_library and the pipeline
 * compile to ES modules (top-level await, import.meta, relative `.js` imports, a module_name import, the runtime
 * library, p-limit), in the persistent worker and sandboxed alike; the TypeScript 6 target compiles to CommonJS (no
 * `"type": "module"` package.json above it); a dep edit is seen; and the errors a user meets name what to change.
 */
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { bazel, discard, REPO_ROOT } from "../fixtures/bazel";

const FIXTURES = join(REPO_ROOT, "test", "fixtures", "typescript");
const tmp = mkdtempSync(join(tmpdir(), "rp-e2e-typescript-"));
const ws = join(tmp, "ws");

const write = (rel: string, text: string) => {
  mkdirSync(join(ws, rel, ".."), { recursive: true });
  writeFileSync(join(ws, rel), text);
};

const MAIN = `import pLimit from "p-limit";
import { double } from "@acme/lib";
import { hasContainerImage } from "@rules_pipeline/runtime";
import { label } from "./label.js";

const limit = pLimit(1);
const value = await limit(async () => double(21));
const url: string = import.meta.url;
console.log(\`\${label}: \${value} from \${url.startsWith("file:") ? "an ES module" : url} image=\${hasContainerImage()}\`);
`;

beforeAll(() => {
  for (const f of ["package.json", "package-lock.json"]) cpSync(join(FIXTURES, "ts7", f), join(ws, f));
  for (const f of ["package.json", "package-lock.json"]) cpSync(join(FIXTURES, "ts6", f), join(ws, "ts6", f));
  write(
    "WORKSPACE",
    `workspace(name = "consumer")

local_repository(name = "rules_pipeline", path = ${JSON.stringify(REPO_ROOT)})

load("@rules_pipeline//bazel:repositories.bzl", "npm_dependencies", "pipeline_dependencies")
pipeline_dependencies(typescript = "@npm//:node_modules/typescript", tsconfig = "//:tsconfig.json")

load("@rules_pipeline//bazel:pipeline.bzl", "base_images")
base_images()

npm_dependencies(name = "npm", package_json = "//:package.json", lockfile = "//:package-lock.json")
npm_dependencies(name = "ts6", package_json = "//ts6:package.json", lockfile = "//ts6:package-lock.json")
`,
  );
  write("ts6/BUILD.bazel", 'exports_files(["package.json", "package-lock.json"])\n');
  write(".bazelrc", "build --nosandbox_debug\nbuild --incompatible_strict_action_env\n");
  write(".bazelversion", "4\n");
  // nodenext, and an option TypeScript 5.9 does not know (stableTypeOrdering: 6.0 and later).
  write("tsconfig.json", JSON.stringify({ compilerOptions: { module: "nodenext", moduleResolution: "nodenext", stableTypeOrdering: true } }));
  write(
    "lib/BUILD.bazel",
    `load("@rules_pipeline//bazel:pipeline.bzl", "ts_library")

ts_library(
    name = "lib",
    srcs = ["index.ts", "math.ts"],
    data = ["//:package.json"],
    module_name = "@acme/lib",
    visibility = ["//visibility:public"],
)
`,
  );
  write("lib/index.ts", 'export { double } from "./math.js";\n');
  write("lib/math.ts", "export function double(n: number): number {\n  return n * 2;\n}\n");
  write(
    "app/BUILD.bazel",
    `load("@rules_pipeline//bazel:pipeline.bzl", "pipeline", "ts_library")

pipeline(
    name = "app",
    entry = "main.ts",
    srcs = ["label.ts"],
    data = ["//:package.json"],
    deps = ["//lib", "@npm//:node_modules/p-limit"],
    registry = "localhost:5000",
    repository = "consumer/app",
    base = "@pipeline-host-node//image",
)

# TypeScript 6 for this target only; no "type": "module" package.json in its files: CommonJS under nodenext.
ts_library(
    name = "six",
    srcs = ["six.ts"],
    typescript = "@ts6//:node_modules/typescript",
)

# A "type": "module" package compiled with the rules' default module (CommonJS): refused.
ts_library(
    name = "esm_as_cjs",
    srcs = ["six.ts"],
    data = ["//:package.json"],
    tsconfig = "//:cjs.json",
    tags = ["manual"],
)

# A label that is no typescript package.
ts_library(
    name = "not_typescript",
    srcs = ["six.ts"],
    typescript = "@npm//:node_modules/p-limit",
    tags = ["manual"],
)
`,
  );
  write("app/main.ts", MAIN);
  write("app/label.ts", 'export const label: string = "esm";\n');
  write("app/six.ts", 'import { sep } from "node:path";\nexport const six: string = sep;\n');
  write("cjs.json", JSON.stringify({ compilerOptions: { strict: true } }));
  write("BUILD.bazel", 'exports_files(["package.json", "package-lock.json", "tsconfig.json", "cjs.json"])\n');
});

afterAll(() => {
  discard(ws);
  rmSync(tmp, { recursive: true, force: true });
});

const bin = (rel: string) => readFileSync(join(ws, "bazel-bin", rel), "utf8");

describe("the workspace's TypeScript 7 and ES modules (Bazel 4.2.3)", () => {
  test("the library and the pipeline compile to ES modules with TypeScript 7; the TypeScript 6 target to CommonJS", async () => {
    const r = await bazel(ws, ["build", "//lib", "//app:app_app", "//app:six"]);
    expect(r.code, r.stderr.slice(-4000)).toBe(0);
    expect(r.stderr).toMatch(/\d+ worker/);
    expect(bin("lib/index.js")).toBe('export { double } from "./math.js";\n');
    const main = bin("app/main.js");
    expect(main).toContain('import pLimit from "p-limit";');
    expect(main).toContain("await limit(");
    expect(main).toContain("import.meta.url");
    expect(bin("app/six.js")).toContain('require("node:path")');
    // Which compiler each action ran: the workspace's (7.0.2) and the target's own (6.0.3).
    const q = await bazel(ws, ["aquery", "--include_param_files", "mnemonic(TsCompile, //lib + //app:six)"]);
    expect(q.code, q.stderr.slice(-2000)).toBe(0);
    expect(q.stdout).toMatch(/--typescript \\\n\s+external\/npm\/node_modules\/typescript \\\n/);
    expect(q.stdout).toMatch(/--typescript \\\n\s+external\/ts6\/node_modules\/typescript \\\n/);
  }, 900_000);

  test("_local runs the ES module pipeline; an edit of the library is seen", async () => {
    const first = await bazel(ws, ["run", "//app:app_local"]);
    expect(first.code, first.stderr.slice(-3000)).toBe(0);
    expect(first.stdout).toContain("esm: 42 from an ES module image=false");
    write("lib/math.ts", "export function double(n: number): number {\n  return n * 2 + 1;\n}\n");
    const edited = await bazel(ws, ["run", "//app:app_local"]);
    expect(edited.code, edited.stderr.slice(-3000)).toBe(0);
    expect(edited.stdout).toContain("esm: 43 from an ES module");
  }, 900_000);

  test("sandboxed compiles give the same bytes as the worker's", async () => {
    const worker = { lib: bin("lib/math.js"), main: bin("app/main.js") };
    const r = await bazel(ws, ["build", "--strategy=TsCompile=sandboxed", "//lib", "//app:app_app"]);
    expect(r.code, r.stderr.slice(-3000)).toBe(0);
    expect({ lib: bin("lib/math.js"), main: bin("app/main.js") }).toEqual(worker);
  }, 900_000);

  test("errors name what to change: a \"type\": \"module\" package compiled to CommonJS, a label that is no typescript", async () => {
    const cjs = await bazel(ws, ["build", "//app:esm_as_cjs"]);
    expect(cjs.code).not.toBe(0);
    expect(cjs.stderr).toContain('error: //app:esm_as_cjs: package.json says "type": "module"');
    expect(cjs.stderr).toContain('"module": "commonjs" in cjs.json');
    const other = await bazel(ws, ["build", "//app:not_typescript"]);
    expect(other.code).not.toBe(0);
    expect(other.stderr).toMatch(/`typescript`: @npm\/\/:node_modules\/p-limit is not the `typescript` npm package/);
  }, 900_000);
});
