/**
 * The compilers a TsCompile action runs (src/tsc/compilers.ts and native.ts through the bundled runner, tsc_worker.js), outside Bazel, on the
 * real TypeScript 5.0.4 (the floor), 5.9 (the rules' pinned one), 6.0.3 and 7.0.2 (test/compilers; 7 through its native
 * tsc): the config
 * the rules write (tsconfig_defaults.json extended first, the user's tsconfig after it, `paths` without `baseUrl`)
 * compiles on each without an option the compiler refuses; CommonJS output is the same bytes on every major; a
 * `nodenext` project in a `"type": "module"` package becomes ES modules; a `"type": "module"` package compiled to
 * CommonJS is refused naming its package.json; ES module code whose package.json the target does not list fails with
 * TypeScript's TS1309 and a hint naming the package.json to list and where; and a package that is not a supported typescript is refused naming the
 * version, the label and the range.
 */
import { cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, test } from "vitest";
import { REPO_ROOT } from "../fixtures/bazel";
import { tscBundle } from "../fixtures/tsc-bundle";
import { oneShot, WorkerProcess } from "../fixtures/worker-protocol";

const WORKER = tscBundle("tsc_worker.js");
const DEFAULTS = join(REPO_ROOT, "bazel", "private", "typescript", "tsconfig_defaults.json");
const COMPILERS = join(REPO_ROOT, "test", "compilers", "node_modules");
const MAJORS = {
  "5.0": join(COMPILERS, "typescript5"),
  "5.9": join(REPO_ROOT, "node_modules", "typescript"),
  "6.0": join(COMPILERS, "typescript6"),
  "7.0": join(COMPILERS, "typescript7"),
};
const TYPES_ROOT = join(REPO_ROOT, "node_modules", "@types");
const tmp = mkdtempSync(join(tmpdir(), "rp-tsc-compilers-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

interface Project {
  dir: string;
  args: string[];
}

/**
 * A target as the rules lay it out: sources under `pkg/`, the generated config in `out/pkg/`, extending the rules'
 * defaults then `user` (a tsconfig, if any), a library's declarations mapped by module name through `paths`.
 */
function project(name: string, typescript: string, files: Record<string, string>, user?: object): Project {
  const dir = join(tmp, name);
  for (const [f, text] of Object.entries(files)) {
    mkdirSync(join(dir, f, ".."), { recursive: true });
    writeFileSync(join(dir, f), text);
  }
  mkdirSync(join(dir, "out", "pkg"), { recursive: true });
  mkdirSync(join(dir, "out", "lib"), { recursive: true });
  writeFileSync(join(dir, "out", "lib", "index.d.ts"), "export declare function double(n: number): number;\n");
  const extendsList = [DEFAULTS];
  if (user) {
    writeFileSync(join(dir, "tsconfig.json"), JSON.stringify(user));
    extendsList.push("../../tsconfig.json");
  }
  const sources = Object.keys(files).filter(
    (f) => /\.[mc]?ts$/.test(f) && !f.endsWith(".d.ts") && !f.startsWith("external/"),
  );
  writeFileSync(
    join(dir, "out", "pkg", "app.tsconfig.json"),
    JSON.stringify({
      extends: extendsList,
      compilerOptions: {
        declaration: false,
        preserveSymlinks: true,
        rootDir: "../..",
        rootDirs: ["../..", "../../out"],
        outDir: "../../out",
        // As ts_compile_action.bzl maps a module_name: the directory (node10), then its index's declarations
        // (node16/nodenext/bundler, which look in no directory).
        paths: { "@acme/lib": ["../../out/lib", "../../out/lib/index.d.ts"] },
        typeRoots: [TYPES_ROOT],
        types: ["node"],
        noEmitOnError: true,
        newLine: "lf",
      },
      files: sources.map((f) => `../../${f}`),
      include: [],
    }),
  );
  const outs = sources.map(
    (f) =>
      `out/${f
        .replace(/\.ts$/, ".js")
        .replace(/\.mts$/, ".mjs")
        .replace(/\.cts$/, ".cjs")}`,
  );
  const args = [
    "--typescript",
    typescript,
    "--typescript-label=@npm//:node_modules/typescript",
    "--project",
    "out/pkg/app.tsconfig.json",
  ];
  args.push(
    "--label",
    "//pkg:app",
    ...(user ? ["--tsconfig", "tsconfig.json"] : []),
    ...outs.flatMap((o) => ["--expect", o]),
  );
  return { dir, args };
}

const CJS_MAIN = `import { double } from "@acme/lib";
import * as path from "node:path";
export const x: string = path.join("a", String(double(21)));
export async function later(): Promise<number> {
  const m = await import("./other");
  return m.y;
}
`;

const ESM_MAIN = `import { double } from "@acme/lib";
import { y } from "./other.js";
const value = await Promise.resolve(double(y));
export const where: string = import.meta.url;
console.log(value);
`;

describe("the rules' config on each supported TypeScript major", () => {
  const cjs: Record<string, string> = {};
  for (const [major, typescript] of Object.entries(MAJORS)) {
    test(`${major}: CommonJS by default, paths without baseUrl; from 5.9 on, the same bytes as 5.9`, async () => {
      const p = project(`cjs-${major}`, typescript, {
        "pkg/main.ts": CJS_MAIN,
        "pkg/other.ts": "export const y = 1;\n",
      });
      const r = await oneShot(WORKER, p.dir, p.args);
      expect(r.stderr).toBe("");
      expect(r.code).toBe(0);
      cjs[major] = readFileSync(join(p.dir, "out", "pkg", "main.js"), "utf8");
      expect(cjs[major]).toContain('require("@acme/lib")');
      // 5.0's emit helpers differ from 5.9's; from 5.9 on, the bytes are the same.
      if (major !== "5.0") expect(cjs[major]).toBe(cjs["5.9"]);
    });

    test(`${major}: nodenext ES module code without its package.json among the inputs: TS1309 and a hint naming the package.json to list`, async () => {
      const user = { compilerOptions: { module: "nodenext", moduleResolution: "nodenext" } };
      const p = project(
        `esm-unlisted-${major}`,
        typescript,
        { "pkg/main.ts": ESM_MAIN, "pkg/other.ts": "export const y = 2;\n" },
        user,
      );
      const r = await oneShot(WORKER, p.dir, p.args);
      expect(r.code).not.toBe(0);
      const said = r.stderr;
      expect(said).toMatch(/error TS1309: /);
      expect(said).toContain(
        '  hint: TypeScript compiles this file as CommonJS: no package.json among the inputs of //pkg:app says "type": "module" for it',
      );
      expect(said).toContain('data = ["//:package.json"]');
    });

    test(`${major}: a "type": "module" package with the user's nodenext compiles to ES modules (top-level await, import.meta)`, async () => {
      const user = { compilerOptions: { module: "nodenext", moduleResolution: "nodenext" } };
      const files = {
        "pkg/package.json": '{"type": "module"}',
        "pkg/main.ts": ESM_MAIN,
        "pkg/other.ts": "export const y = 2;\n",
      };
      const p = project(`esm-${major}`, typescript, files, user);
      const r = await oneShot(WORKER, p.dir, p.args);
      expect(r.stderr).toBe("");
      expect(r.code).toBe(0);
      const js = readFileSync(join(p.dir, "out", "pkg", "main.js"), "utf8");
      expect(js).toMatch(/^import \{ double \} from "@acme\/lib";/m);
      expect(js).toContain("await Promise.resolve");
      expect(js).toContain("import.meta.url");
      expect(js).not.toContain("require(");
    });

    test(`${major}: a "type": "module" package compiled to CommonJS is refused, naming its package.json and the option`, async () => {
      const files = {
        "pkg/package.json": '{"type": "module"}',
        "pkg/main.ts": CJS_MAIN,
        "pkg/other.ts": "export const y = 1;\n",
      };
      const p = project(`esm-as-cjs-${major}`, typescript, files, { compilerOptions: { strict: true } });
      const r = await oneShot(WORKER, p.dir, p.args);
      expect(r.code).toBe(1);
      expect(r.stderr).toContain('error: //pkg:app: pkg/package.json says "type": "module"');
      expect(r.stderr).toContain('"module": "commonjs" in tsconfig.json');
      expect(r.stderr).toContain('Set "module": "nodenext"');
    });
  }

  for (const [major, typescript] of Object.entries(MAJORS)) {
    test(`${major}: ES module imports of npm packages resolve as Node's do (types only in \`exports\`, a subpath, a CommonJS package)`, async () => {
      const user = { compilerOptions: { module: "nodenext", moduleResolution: "nodenext" } };
      const exportsOnly = {
        name: "exonly",
        type: "module",
        exports: {
          ".": { types: "./dist/types.d.ts", import: "./dist/index.js" },
          "./sub": { types: "./dist/sub.d.ts", import: "./dist/sub.js" },
        },
      };
      const files = {
        "pkg/package.json": '{"type": "module"}',
        "pkg/main.ts":
          'import { ex } from "exonly";\nimport { sub } from "exonly/sub";\nimport cjs from "cjs";\nexport const all = [ex, sub, cjs.n];\n',
        "external/npm/node_modules/exonly/package.json": JSON.stringify(exportsOnly),
        "external/npm/node_modules/exonly/dist/types.d.ts": "export declare const ex: number;\n",
        "external/npm/node_modules/exonly/dist/sub.d.ts": "export declare const sub: string;\n",
        "external/npm/node_modules/cjs/package.json": '{"name": "cjs", "main": "index.js", "types": "index.d.ts"}',
        "external/npm/node_modules/cjs/index.d.ts": "declare const c: { n: number };\nexport = c;\n",
      };
      const p = project(`esm-npm-${major}`, typescript, files, user);
      const r = await oneShot(WORKER, p.dir, [...p.args, "--node-modules", "external/npm/node_modules"]);
      expect(r.stderr).toBe("");
      expect(r.code).toBe(0);
      // Without the compile's node_modules, none of them resolves.
      const without = await oneShot(WORKER, p.dir, p.args);
      expect(without.stderr).toContain("Cannot find module 'exonly'");
    });
  }

  test("6.0 and 7.0: an option only TypeScript ≥ 6 knows (stableTypeOrdering) in the user's tsconfig compiles; 5.9 names it in the user's file", async () => {
    const user = { compilerOptions: { stableTypeOrdering: true } };
    for (const major of ["6.0", "7.0"] as const) {
      const p = project(`ts6-option-${major}`, MAJORS[major], { "pkg/main.ts": "export const a = 1;\n" }, user);
      const r = await oneShot(WORKER, p.dir, p.args);
      expect(r.stderr, major).toBe("");
    }
    const p = project("ts6-option-5.9", MAJORS["5.9"], { "pkg/main.ts": "export const a = 1;\n" }, user);
    const r = await oneShot(WORKER, p.dir, p.args);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^tsconfig\.json\(1,\d+\): error TS5023: Unknown compiler option 'stableTypeOrdering'/m);
  });

  test("7.0 in a worker: answers as one-shot, seeing only the request's inputs (a file on disk that is no input is absent)", async () => {
    const p = project("worker-7", MAJORS["7.0"], {
      "pkg/main.ts": 'import { z } from "./stray";\nexport const a: number = z;\n',
    });
    // On disk, as other targets' files are in the execroot, but an input of the second request only.
    writeFileSync(join(p.dir, "pkg", "stray.ts"), "export const z = 1;\n");
    const w = new WorkerProcess(WORKER, p.dir);
    try {
      const inputs = ["out/pkg/app.tsconfig.json", "pkg/main.ts", "out/lib/index.d.ts", DEFAULTS];
      const missing = await w.request(p.args, inputs, 1);
      expect(missing.exitCode).toBe(1);
      expect(missing.output).toMatch(/^pkg\/main\.ts\(1,19\): error TS2307: Cannot find module '\.\/stray'/m);
      const found = await w.request(p.args, [...inputs, "pkg/stray.ts"], 2);
      expect(found.output).toBe("");
      expect(found.exitCode).toBe(0);
      expect(readFileSync(join(p.dir, "out", "pkg", "main.js"), "utf8")).toContain('require("./stray")');
    } finally {
      w.stop();
    }
  });
});

describe("TypeScript 7's incremental state in a worker", () => {
  test("a changed source compiles from the kept .tsbuildinfo (an unchanged module is not emitted again); an added input starts over", async () => {
    const p = project("worker-7-incremental", MAJORS["7.0"], {
      "pkg/main.ts": 'import { y } from "./other";\nexport const a: number = y;\n',
      "pkg/other.ts": "export const y = 1;\n",
    });
    const w = new WorkerProcess(WORKER, p.dir);
    // The kept output of the module that never changes, in the worker's state beside its tree for the target (in the
    // working directory's bazel-out/rules_pipeline-tsc, src/tsc/tree.ts), where each file tsc writes moves
    // (src/tsc/native.ts, kept/): one emitted again would replace it.
    const kept = () => {
      const own = join(p.dir, "bazel-out", "rules_pipeline-tsc");
      const [trees] = readdirSync(own).filter((n) => n.startsWith(`worker-${w.pid}-`));
      return statSync(join(own, trees, "1.state", "kept", "pkg", "other.js")).mtimeMs;
    };
    try {
      const inputs = ["out/pkg/app.tsconfig.json", "pkg/main.ts", "pkg/other.ts", "out/lib/index.d.ts", DEFAULTS];
      expect((await w.request(p.args, inputs)).exitCode).toBe(0);
      const first = kept();
      writeFileSync(join(p.dir, "pkg", "main.ts"), 'import { y } from "./other";\nexport const a: number = y + 1;\n');
      const changed = await w.request(p.args, inputs);
      expect([changed.exitCode, changed.output]).toEqual([0, ""]);
      expect(readFileSync(join(p.dir, "out", "pkg", "main.js"), "utf8")).toContain("other_1.y + 1");
      expect(readFileSync(join(p.dir, "out", "pkg", "other.js"), "utf8")).toContain("exports.y = 1");
      expect(kept()).toBe(first);
      writeFileSync(join(p.dir, "pkg", "extra.d.ts"), "export {};\n");
      expect((await w.request(p.args, [...inputs, "pkg/extra.d.ts"])).exitCode).toBe(0);
      expect(kept()).not.toBe(first);
    } finally {
      w.stop();
    }
  });
});

describe("one worker, every compiler (ts_compile_action.bzl: the compiler is an input, not part of the worker's key)", () => {
  test("5.9 and 6.0 compile the same target in turn in one worker: each answers as its one-shot, keeps a program of its own, and no parsed file crosses over", async () => {
    // The same sources and config, compiled by two compilers in turn (as two targets on two compilers share
    // @types/node's files): a program or parsed file of one compiler given to the other would answer wrongly or crash.
    const files = { "pkg/main.ts": CJS_MAIN, "pkg/other.ts": "export const y = 2;\n" };
    const p = project("one-worker", MAJORS["5.9"], files);
    const args = (major: "5.9" | "6.0") => p.args.map((a) => (a === MAJORS["5.9"] ? MAJORS[major] : a));
    const out = () => readFileSync(join(p.dir, "out", "pkg", "main.js"), "utf8");
    const oneShots: Record<string, string> = {};
    for (const major of ["5.9", "6.0"] as const) {
      const r = await oneShot(WORKER, p.dir, args(major));
      expect([r.code, r.stderr]).toEqual([0, ""]);
      oneShots[major] = out();
    }
    // What Bazel lists in a request: the target's files, the compiler's (its lib files and typescript.js), Node's types.
    const under = (dir: string): string[] =>
      readdirSync(dir, { recursive: true, encoding: "utf8" })
        .map((f) => join(dir, f))
        .filter((f) => statSync(f).isFile());
    const types = [...under(join(TYPES_ROOT, "node")), ...under(join(REPO_ROOT, "node_modules", "undici-types"))];
    const compilerFiles = (major: "5.9" | "6.0") =>
      under(join(MAJORS[major], "lib")).filter((f) => /\/lib\.[^/]*\.d\.ts$|\/typescript\.js$/.test(f));
    const target = ["out/pkg/app.tsconfig.json", "pkg/main.ts", "pkg/other.ts", "out/lib/index.d.ts", DEFAULTS];
    const inputs = (major: "5.9" | "6.0") => [...target, ...types, ...compilerFiles(major)];
    const w = new WorkerProcess(WORKER, p.dir, { PIPELINE_TSC_WORKER_STATS: "1" });
    try {
      for (let round = 0; round < 2; round++)
        for (const major of ["5.9", "6.0"] as const) {
          const r = await w.request(args(major), inputs(major));
          expect(r.exitCode, r.output).toBe(0);
          expect(out()).toBe(oneShots[major]);
          // Two targets' states after the first request of each: one per compiler, neither evicting the other.
          if (round === 1) expect(r.output).toMatch(/tsc_worker: 2 targets in memory/);
        }
      // A type error through each compiler after both were warm: each reports it itself.
      writeFileSync(join(p.dir, "pkg", "other.ts"), "export const y: string = 2;\n");
      for (const major of ["5.9", "6.0"] as const) {
        const r = await w.request(args(major), inputs(major));
        expect(r.exitCode).toBe(1);
        expect(r.output).toMatch(
          /^pkg\/other\.ts\(1,14\): error TS2322: Type 'number' is not assignable to type 'string'/m,
        );
      }
    } finally {
      w.stop();
    }
    // A hang bound, not a timing: the machine of 2026-12-02 evening (fork and exec 10 ms) passed the default 60 s.
  }, 240_000);
});

describe("TypeScript 7's threads (--@rules_pipeline//bazel:tsc_threads)", () => {
  test("one thread by default (the one CPU Bazel counts for the action); `--threads=compiler` leaves tsc its own; the same output", async () => {
    // The real typescript 7.0.2 and its native tsc, reached through a script that writes down its arguments.
    const root = join(tmp, "ts7-threads", "node_modules");
    cpSync(MAJORS["7.0"], join(root, "typescript"), { recursive: true });
    const platform = `typescript-${process.platform}-${process.arch}`;
    const real = join(COMPILERS, "@typescript", platform, "lib", "tsc");
    const log = join(tmp, "ts7-threads", "argv.log");
    mkdirSync(join(root, "@typescript", platform, "lib"), { recursive: true });
    writeFileSync(
      join(root, "@typescript", platform, "lib", "tsc"),
      `#!/bin/sh\nprintf '%s\\n' "$*" >> '${log}'\nexec '${real}' "$@"\n`,
      { mode: 0o755 },
    );
    const outputs: string[] = [];
    for (const threads of [[], ["--threads=compiler"]]) {
      const p = project(`threads-${threads.length}`, join(root, "typescript"), {
        "pkg/main.ts": CJS_MAIN,
        "pkg/other.ts": "export const y = 2;\n",
      });
      const r = await oneShot(WORKER, p.dir, [...p.args, ...threads]);
      expect([r.code, r.stderr]).toEqual([0, ""]);
      outputs.push(readFileSync(join(p.dir, "out", "pkg", "main.js"), "utf8"));
    }
    const runs = readFileSync(log, "utf8").trim().split("\n");
    expect(runs).toHaveLength(2);
    expect(runs[0].split(" ")).toContain("--singleThreaded");
    expect(runs[1].split(" ")).not.toContain("--singleThreaded");
    expect(outputs[1]).toBe(outputs[0]);
    const bad = project("threads-bad", join(root, "typescript"), { "pkg/main.ts": "export const a = 1;\n" });
    const r = await oneShot(WORKER, bad.dir, [...bad.args, "--threads=8"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("--threads is single or compiler, got 8");
  });
});

describe("a typescript package the rules cannot compile with", () => {
  const fakePackage = (name: string, pkg: object) => {
    const dir = join(tmp, name, "node_modules", "typescript");
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, "package.json"), JSON.stringify(pkg));
    return dir;
  };
  const compile = (typescript: string) => {
    const p = project(`bad-${typescript.length}-${Math.random()}`, typescript, {
      "pkg/main.ts": "export const a = 1;\n",
    });
    return oneShot(WORKER, p.dir, p.args);
  };

  test("an unsupported version: refused naming the version, the label and the supported range", async () => {
    const r = await compile(fakePackage("ts4", { name: "typescript", version: "4.9.5" }));
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(
      "@npm//:node_modules/typescript is TypeScript 4.9.5, which is not supported (supported: TypeScript 5.0 to 7.x)",
    );
  });

  test("another package under the label: refused naming what its package.json says", async () => {
    const r = await compile(fakePackage("other", { name: "left-pad", version: "1.3.0" }));
    expect(r.stderr).toContain(
      '@npm//:node_modules/typescript is not the typescript package: its package.json names "left-pad"',
    );
  });

  test("TypeScript 7 without its native compiler's package (a lockfile made on another platform): refused naming the package", async () => {
    // The real typescript 7.0.2 package, without the @typescript/typescript-<os>-<arch> package beside it.
    const dir = join(tmp, "ts7-alone", "node_modules", "typescript");
    cpSync(MAJORS["7.0"], dir, { recursive: true });
    const r = await compile(dir);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(
      `@npm//:node_modules/typescript is TypeScript 7.0.2, which compiles with its native compiler, the package @typescript/typescript-${process.platform}-${process.arch}: it is not installed beside`,
    );
  });
});
