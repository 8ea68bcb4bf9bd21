/**
 * src/tsc/transpile.ts (bundled into ts_transpile.js as the rules bundle it), the TsTranspile action of `@rules_pipeline//:runtime_transpile`, turns the runtime
 * library into `.js` and `.d.ts` file by file, with no program. Its bytes go into every image, so they must be the
 * bytes a full tsc compile of the same file gives with the options TsCompile uses for a target without a tsconfig
 * (bazel/private/typescript/ts_compile_action.bzl): otherwise every image digest would change behind the user's back. The real
 * compiler (the repository's dev dependency) on the real file.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import ts from "typescript";
import { afterAll, describe, expect, test } from "vitest";
import { tscBundle } from "../fixtures/tsc-bundle";

const ROOT = join(__dirname, "..", "..");
const TRANSPILER = tscBundle("ts_transpile.js");
const TYPESCRIPT = join(ROOT, "node_modules", "typescript", "lib", "typescript.js");
const tmp = mkdtempSync(join(tmpdir(), "rp-transpile-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function transpile(src: string) {
  const js = join(tmp, "out.js");
  const dts = join(tmp, "out.d.ts");
  rmSync(js, { force: true });
  rmSync(dts, { force: true });
  const r = spawnSync(process.execPath, [TRANSPILER, TYPESCRIPT, src, js, dts], { encoding: "utf8" });
  return { code: r.status, stderr: r.stderr, js: () => readFileSync(js, "utf8"), dts: () => readFileSync(dts, "utf8") };
}

describe("ts_transpile.js (the runtime library's TsTranspile action)", () => {
  test("src/runtime/index.ts: the same .js and .d.ts bytes as a full tsc program with TsCompile's options", () => {
    const src = join(ROOT, "src", "runtime", "index.ts");
    const out = transpile(src);
    expect(out.code, out.stderr).toBe(0);

    // ts_compile_action.bzl's compilerOptions for a target without a tsconfig (paths and roots aside).
    const options: ts.CompilerOptions = {
      target: ts.ScriptTarget.ES2022,
      module: ts.ModuleKind.CommonJS,
      moduleResolution: ts.ModuleResolutionKind.Node10,
      esModuleInterop: true,
      skipLibCheck: true,
      strict: true,
      declaration: true,
      types: ["node"],
      typeRoots: [join(ROOT, "node_modules", "@types")],
      noEmitOnError: true,
      newLine: ts.NewLineKind.LineFeed,
      outDir: join(tmp, "tsc"),
      rootDir: join(ROOT, "src", "runtime"),
    };
    const program = ts.createProgram([src], options);
    expect(ts.getPreEmitDiagnostics(program).map((d) => ts.flattenDiagnosticMessageText(d.messageText, "\n"))).toEqual(
      [],
    );
    const emitted = new Map<string, string>();
    program.emit(undefined, (file, text) => emitted.set(file.slice(options.outDir!.length + 1), text));
    // index.ts's types name the map code it loads inside images (map-in-image.ts and what it imports), so the program
    // emits those too; each is transpiled on its own as well (BUILD.bazel, _RUNTIME_STEMS).
    expect([...emitted.keys()].filter((k) => k.startsWith("index."))).toEqual(["index.js", "index.d.ts"]);
    expect(out.js()).toBe(emitted.get("index.js"));
    expect(out.dts()).toBe(emitted.get("index.d.ts"));
  });

  test("an export without an explicit type fails, naming the file, line and TypeScript's message; nothing is written", () => {
    const src = join(tmp, "untyped.ts");
    writeFileSync(src, `export const fine = 1;\nexport const doubled = [1].map((v) => v * 2);\n`);
    const out = transpile(src);
    expect(out.code).toBe(1);
    expect(out.stderr).toMatch(
      /untyped\.ts\(2,14\): error TS9010: Variable must have an explicit type annotation with --isolatedDeclarations/,
    );
    expect(() => out.js()).toThrow(/ENOENT/);
  });

  test("no type-check: a type error in a well-declared file is transpiled as written (CI type-checks the runtime)", () => {
    const src = join(tmp, "typed.ts");
    writeFileSync(
      src,
      `export const n: number = 1;\nconst s: string = n as unknown as string;\nexport function f(): string {\n  return s;\n}\n`,
    );
    const out = transpile(src);
    expect(out.code, out.stderr).toBe(0);
    expect(out.dts()).toBe("export declare const n: number;\nexport declare function f(): string;\n");
  });
});
