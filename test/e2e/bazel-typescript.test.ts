/**
 * The compiler is the workspace's choice, and ES modules compile, on the Bazel 4.2.3 users run (WORKSPACE): a consumer
 * whose own lockfile pins typescript 7.0.2 (test/fixtures/typescript/ts7: with its native compiler's package for
 * this platform, @types/node and p-limit, an ES-module-only package whose types are only in `exports`) names it
 * with `pipeline_dependencies(typescript = ...)`; one target picks TypeScript 6.0.3 from a second npm repository
 * with its own `typescript` attribute. The workspace's tsconfig uses `module: nodenext` and an option only
 * TypeScript ≥ 6 knows; the root package.json says `"type": "module"`. Checked: the ts_library and the pipeline
 * compile to ES modules (top-level await, import.meta, relative `.js` imports, a module_name import, the runtime
 * library, p-limit), in the persistent worker and sandboxed alike, on one thread or the compiler's own; the TypeScript 6 target compiles to CommonJS (no
 * `"type": "module"` package.json above it); a dep edit is seen; the errors a user meets name what to change; and
 * another user's `node_modules` and `"type": "module"` package.json in TMPDIR (test/fixtures/esm-workspace.ts
 * writeSharedTmp) change no TypeScript 7 compile, in the worker or sandboxed.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { bazel, discard } from "../fixtures/bazel";
import { SHARED_TMP_SIDES, writeEsmWorkspace, writeSharedTmp } from "../fixtures/esm-workspace";
import { residentCompilers, tscWorkersOf } from "../fixtures/processes";
import { runLayoutImage } from "../fixtures/runc";

const tmp = mkdtempSync(join(tmpdir(), "rp-e2e-typescript-"));
const ws = join(tmp, "ws");

beforeAll(() => writeEsmWorkspace(ws, "workspace"));

afterAll(async () => {
  await discard(ws);
  rmSync(tmp, { recursive: true, force: true });
});

const THREADS = "--@rules_pipeline//bazel:tsc_threads=compiler";
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
    // TypeScript 7's threads: one by default (no argument: tsc_compilers.js passes --singleThreaded), the compiler's
    // own with --@rules_pipeline//bazel:tsc_threads=compiler; another value is refused naming the flag.
    expect(q.stdout).not.toContain("--threads");
    const own = await bazel(ws, ["aquery", "--include_param_files", THREADS, "mnemonic(TsCompile, //lib)"]);
    expect(own.stdout).toContain("--threads=compiler");
    const bad = await bazel(ws, ["aquery", "--@rules_pipeline//bazel:tsc_threads=8", "mnemonic(TsCompile, //lib)"]);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toContain('--@rules_pipeline//bazel:tsc_threads must be single or compiler, got "8"');
  }, 900_000);

  test("_local runs the ES module pipeline; an edit of the library is seen", async () => {
    const first = await bazel(ws, ["run", "//app:app_local"]);
    expect(first.code, first.stderr.slice(-3000)).toBe(0);
    expect(first.stdout).toContain("esm: 42 from an ES module image=false");
    writeFileSync(join(ws, "lib", "math.ts"), "export function double(n: number): number {\n  return n * 2 + 1;\n}\n");
    const edited = await bazel(ws, ["run", "//app:app_local"]);
    expect(edited.code, edited.stderr.slice(-3000)).toBe(0);
    expect(edited.stdout).toContain("esm: 43 from an ES module");
    // The edit's TypeScript 7 compiles were answered by resident compilers (src/tsc/resident.ts) the worker keeps.
    expect(tscWorkersOf(ws).flatMap((pid) => residentCompilers(Number(pid)))).not.toHaveLength(0);
  }, 900_000);

  test('its image runs the ES module pipeline under runc (/app/package.json says "type": "module")', async () => {
    const r = await bazel(ws, ["build", "//app:app_image"]);
    expect(r.code, r.stderr.slice(-3000)).toBe(0);
    const img = runLayoutImage(join(ws, "bazel-bin", "app", "app_image"));
    expect(img.code, img.stderr).toBe(0);
    expect(img.stdout).toContain("esm: 43 from an ES module");
  }, 900_000);

  test("sandboxed compiles give the same bytes as the worker's", async () => {
    const worker = { lib: bin("lib/math.js"), main: bin("app/main.js") };
    const r = await bazel(ws, ["build", "--strategy=TsCompile=sandboxed", "//lib", "//app:app_app"]);
    expect(r.code, r.stderr.slice(-3000)).toBe(0);
    expect({ lib: bin("lib/math.js"), main: bin("app/main.js") }).toEqual(worker);
    // And the compiler's own threads (in the worker) give the same bytes as one thread.
    const threads = await bazel(ws, ["build", THREADS, "//lib", "//app:app_app"]);
    expect(threads.code, threads.stderr.slice(-3000)).toBe(0);
    expect({ lib: bin("lib/math.js"), main: bin("app/main.js") }).toEqual(worker);
    // A type error, then its fix: the worker's resident compiler answers as the sandbox does, both times.
    const errors = (text: string) => text.split("\n").filter((l) => / error TS\d+: /.test(l));
    const source = readFileSync(join(ws, "lib", "math.ts"), "utf8");
    writeFileSync(join(ws, "lib", "math.ts"), source.replace("n * 2 + 1", 'n * 2 + "1"'));
    const broken = await bazel(ws, ["build", "//lib"]);
    const brokenSandboxed = await bazel(ws, ["build", "--strategy=TsCompile=sandboxed", "//lib"]);
    expect(broken.code).not.toBe(0);
    expect(errors(broken.stderr)).not.toEqual([]);
    expect({ code: brokenSandboxed.code, errors: errors(brokenSandboxed.stderr) }).toEqual({
      code: broken.code,
      errors: errors(broken.stderr),
    });
    writeFileSync(join(ws, "lib", "math.ts"), source);
    const fixed = await bazel(ws, ["build", "//lib"]);
    expect(fixed.code, fixed.stderr.slice(-3000)).toBe(0);
    expect(bin("lib/math.js")).toBe(worker.lib);
  }, 900_000);

  test("another user's node_modules and package.json in TMPDIR: neither the worker nor the sandbox sees them", async () => {
    const shared = join(tmp, "shared");
    writeSharedTmp(ws, shared);
    const outputs: string[] = [];
    for (const side of SHARED_TMP_SIDES) {
      const strategy = side === "worker" ? [] : ["--strategy=TsCompile=sandboxed"];
      const r = await bazel(
        ws,
        ["build", "--keep_going", ...strategy, `//shared_tmp/${side}:cjs`, `//shared_tmp/${side}:undeclared`],
        { TMPDIR: shared },
      );
      expect(r.code, r.stderr.slice(-3000)).not.toBe(0);
      expect(r.stderr).toMatch(/undeclared\.ts\(1,19\): error TS2307: Cannot find module 'planted'/);
      expect(r.stderr).toMatch(side === "worker" ? /\d+ worker/ : /\d+ (linux-)?sandbox/);
      const cjs = bin(`shared_tmp/${side}/cjs.js`);
      expect(cjs).toContain("exports.x = 1;");
      expect(cjs).not.toContain("export const");
      outputs.push(cjs);
    }
    // Worker ≡ sandbox: the same bytes from the same source.
    expect(outputs[0]).toBe(outputs[1]);
  }, 900_000);

  test('errors name what to change: a "type": "module" package compiled to CommonJS, a label that is no typescript', async () => {
    const cjs = await bazel(ws, ["build", "//app:esm_as_cjs"]);
    expect(cjs.code).not.toBe(0);
    expect(cjs.stderr).toContain('error: //app:esm_as_cjs: package.json says "type": "module"');
    expect(cjs.stderr).toContain('"module": "commonjs" in cjs.json');
    const other = await bazel(ws, ["build", "//app:not_typescript"]);
    expect(other.code).not.toBe(0);
    expect(other.stderr).toMatch(/`typescript`: @npm\/\/:node_modules\/p-limit is not the `typescript` npm package/);
  }, 900_000);
});
