/**
 * src/tsc/worker.ts (bundled into tsc_worker.js as the rules bundle it), the TsCompile action's program, outside Bazel: the one-shot mode, and the persistent
 * worker spoken to over its real protocol (length-delimited WorkRequest/WorkResponse protobufs on stdin/stdout,
 * encoded here independently of the worker's own encoder).
 */
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { basename, dirname, join } from "node:path";
import { afterAll, describe, expect, test } from "vitest";
import { REPO_ROOT } from "../fixtures/bazel";
import { oneShot as runOneShot, WorkerProcess } from "../fixtures/worker-protocol";
import { tscBundle } from "../fixtures/tsc-bundle";

const WORKER = tscBundle("tsc_worker.js");
const TYPESCRIPT = join(REPO_ROOT, "node_modules", "typescript", "lib", "typescript.js");
const tmp = mkdtempSync(join(tmpdir(), "rp-tsc-worker-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function project(name: string, files: Record<string, string>): { dir: string; args: string[]; outs: string[] } {
  const dir = join(tmp, name);
  mkdirSync(join(dir, "src"), { recursive: true });
  for (const [f, text] of Object.entries(files)) writeFileSync(join(dir, "src", f), text);
  const ts = Object.keys(files).filter((f) => f.endsWith(".ts"));
  writeFileSync(
    join(dir, "tsconfig.json"),
    JSON.stringify({
      compilerOptions: {
        target: "ES2022",
        module: "commonjs",
        strict: true,
        resolveJsonModule: true,
        esModuleInterop: true,
        rootDir: "src",
        outDir: "out",
        declaration: true,
        types: [],
      },
      files: ts.map((f) => `src/${f}`),
    }),
  );
  const outs = ts.flatMap((f) => [`out/${f.replace(/\.ts$/, ".js")}`, `out/${f.replace(/\.ts$/, ".d.ts")}`]);
  const args = [
    "--typescript",
    TYPESCRIPT,
    "--project",
    "tsconfig.json",
    "--label",
    "//test:lib",
    ...outs.flatMap((o) => ["--expect", o]),
  ];
  return { dir, args, outs };
}

const oneShot = (dir: string, args: string[]) => runOneShot(WORKER, dir, args);

/** A worker process in `dir`, spoken to over the real protocol (test/fixtures/worker-protocol.ts). */
function startWorker(dir: string, env: Record<string, string> = {}) {
  const w = new WorkerProcess(WORKER, dir, env);
  return {
    request: (args: string[], inputs: string[], id: number) => w.request(args, inputs, id),
    stop: () => w.stop(),
  };
}

/** TypeScript's lib files, absolute: inputs of every request (the worker treats anything else as absent). */
function tsLibs(): string[] {
  const libDir = join(REPO_ROOT, "node_modules", "typescript", "lib");
  return readdirSync(libDir)
    .filter((f) => f.startsWith("lib.") && f.endsWith(".d.ts"))
    .map((f) => join(libDir, f));
}

const LIB = "export function double(n: number): number {\n  return n * 2;\n}\n";
const MAIN =
  'import data from "./data.json";\nimport { double } from "./lib";\nexport const answer = double(data.half);\n';

describe("tsc_worker.js", () => {
  test("one-shot: writes exactly the declared outputs (not the .json tsc would copy), and fails on a type error with tsc's line", async () => {
    const p = project("oneshot", { "lib.ts": LIB, "main.ts": MAIN, "data.json": '{ "half": 21 }' });
    const ok = await oneShot(p.dir, p.args);
    expect(ok.code, ok.stderr).toBe(0);
    for (const o of p.outs) expect(existsSync(join(p.dir, o)), o).toBe(true);
    expect(existsSync(join(p.dir, "out", "data.json"))).toBe(false);
    expect(readFileSync(join(p.dir, "out", "main.js"), "utf8")).toContain(
      "(0, lib_1.double)(data_json_1.default.half)",
    );
    writeFileSync(join(p.dir, "src", "lib.ts"), LIB.replace("n * 2", "`${n}` * 2"));
    const bad = await oneShot(p.dir, p.args);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/src\/lib\.ts\(2,10\): error TS2362/);
  });

  test("an import no dep provides: tsc's error and a hint naming the label to add", async () => {
    const p = project("hint", { "main.ts": 'import { z } from "zod";\nexport const s = z;\n' });
    const r = await oneShot(p.dir, [...p.args, "--npm-repo", "npm_deps"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/src\/main\.ts\(1,19\): error TS2307/);
    expect(r.stderr).toContain(
      'hint: //test:lib does not depend on "zod". Add "@npm_deps//:node_modules/zod" to its deps',
    );
  });

  test("an untyped package: a hint naming its @types package or how to declare it, and no absolute path", async () => {
    const p = project("untyped", { "main.ts": 'import { ms } from "ms";\nexport const s = ms;\n' });
    mkdirSync(join(p.dir, "node_modules", "ms"), { recursive: true });
    writeFileSync(
      join(p.dir, "node_modules", "ms", "package.json"),
      JSON.stringify({ name: "ms", version: "2.1.3", main: "index.js" }),
    );
    writeFileSync(join(p.dir, "node_modules", "ms", "index.js"), "exports.ms = 1;\n");
    const r = await oneShot(p.dir, [...p.args, "--npm-repo", "npm"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(
      /src\/main\.ts\(1,20\): error TS7016: Could not find a declaration file for module 'ms'\. 'node_modules\/ms\/index\.js' implicitly/,
    );
    expect(r.stderr).toContain(
      'hint: "ms" has no types of its own. Add "@npm//:node_modules/@types/ms" to the deps of //test:lib if that package exists; if none does, declare the module in a .d.ts file among its srcs: declare module "ms";',
    );
    expect(r.stderr).not.toContain(p.dir);
    expect(r.stderr).not.toContain("does not depend on");
  });

  test("the rules' defaults (tsconfig_defaults.json, extended first): the lib is ES2022 without the DOM (a pipeline runs on Node); the user's tsconfig, extended after them, wins", async () => {
    const p = project("lib", {
      "main.ts": "export const title: string = document.title;\nexport const n: number = [1, 2].at(-1) ?? 0;\n",
    });
    const config = JSON.parse(readFileSync(join(p.dir, "tsconfig.json"), "utf8"));
    const defaults = join(REPO_ROOT, "bazel", "private", "typescript", "tsconfig_defaults.json");
    writeFileSync(join(p.dir, "tsconfig.json"), JSON.stringify({ ...config, extends: [defaults] }));
    const r = await oneShot(p.dir, p.args);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/src\/main\.ts\(1,30\): error TS2584: Cannot find name 'document'/);
    writeFileSync(join(p.dir, "user.json"), JSON.stringify({ compilerOptions: { lib: ["ES2022", "DOM"] } }));
    writeFileSync(join(p.dir, "tsconfig.json"), JSON.stringify({ ...config, extends: [defaults, "./user.json"] }));
    const dom = await oneShot(p.dir, p.args);
    expect(dom.code, dom.stderr).toBe(0);
  });

  test("worker: answers over the protocol, recompiles a change, rewrites every output each time, byte for byte like one-shot", async () => {
    const p = project("worker", { "lib.ts": LIB, "main.ts": MAIN, "data.json": '{ "half": 21 }' });
    const inputs = ["tsconfig.json", "src/lib.ts", "src/main.ts", "src/data.json"];
    // The compiler's lib files are inputs too (the worker treats anything else as absent); absolute paths here.
    const libDir = join(REPO_ROOT, "node_modules", "typescript", "lib");
    const all = readdirSync(libDir)
      .filter((f) => f.startsWith("lib.") && f.endsWith(".d.ts"))
      .map((f) => join(libDir, f));
    const withLibs = (id: number) => w.request(p.args, [...inputs, ...all], id);
    const w = startWorker(p.dir);
    try {
      const first = await withLibs(7);
      expect(first, first.output).toMatchObject({ exitCode: 0, requestId: 7 });
      const firstOut = Object.fromEntries(p.outs.map((o) => [o, readFileSync(join(p.dir, o), "utf8")]));

      // Bazel deletes outputs before an action; change one file only.
      for (const o of p.outs) rmSync(join(p.dir, o));
      writeFileSync(join(p.dir, "src", "main.ts"), MAIN.replace("answer", "reply"));
      const second = await withLibs(8);
      expect(second, second.output).toMatchObject({ exitCode: 0, requestId: 8 });
      for (const o of p.outs) expect(existsSync(join(p.dir, o)), o).toBe(true);
      expect(readFileSync(join(p.dir, "out", "main.js"), "utf8")).toContain("exports.reply");
      expect(readFileSync(join(p.dir, "out", "lib.js"), "utf8")).toBe(firstOut["out/lib.js"]);

      // The same sources one-shot: identical bytes.
      const copy = project("worker-copy", {
        "lib.ts": LIB,
        "main.ts": MAIN.replace("answer", "reply"),
        "data.json": '{ "half": 21 }',
      });
      expect((await oneShot(copy.dir, copy.args)).code).toBe(0);
      for (const o of p.outs)
        expect(readFileSync(join(p.dir, o), "utf8"), o).toBe(readFileSync(join(copy.dir, o), "utf8"));

      // A file on disk that is not an input of the request is absent, as in the sandbox.
      const third = await w.request(p.args, ["tsconfig.json", "src/lib.ts", "src/main.ts", ...all], 9);
      expect(third.exitCode).toBe(1);
      expect(third.output).toMatch(/src\/main\.ts\(1,18\): error TS2307: Cannot find module '\.\/data\.json'/);
    } finally {
      w.stop();
    }
  }, 300_000); // several compiles through the worker: past 60 s once on this 2-core machine under a test run's load

  test("worker: a compiler replaced at the same path is loaded again, not answered by the old one (Bazel 4.2.3 keeps workers whose tools changed)", async () => {
    const p = project("replaced-compiler", { "lib.ts": LIB });
    // The compiler's directory is where its lib files are looked for: a copy of them beside the module.
    const tsDir = join(p.dir, "ts");
    mkdirSync(tsDir);
    const libs = tsLibs().map((f) => {
      const copy = join(tsDir, basename(f));
      copyFileSync(f, copy);
      return copy;
    });
    const tsPath = join(tsDir, "typescript.js");
    const args = p.args.map((a) => (a === TYPESCRIPT ? "ts/typescript.js" : a));
    writeFileSync(tsPath, `module.exports = require(${JSON.stringify(TYPESCRIPT)});\n`);
    const w = startWorker(p.dir);
    const inputs = ["tsconfig.json", "src/lib.ts", "ts/typescript.js", ...libs];
    try {
      const first = await w.request(args, inputs, 1);
      expect(first.exitCode, first.output).toBe(0);
      // A new compiler at the same path (here one that cannot load): the worker must load it, not keep the old one.
      writeFileSync(tsPath, 'throw new Error("the replaced compiler was loaded");\n');
      const replaced = await w.request(args, inputs, 2);
      expect(replaced.exitCode).toBe(1);
      expect(replaced.output).toContain("the replaced compiler was loaded");
      // And a working one again: compiled from scratch, the same bytes as one-shot.
      writeFileSync(tsPath, `module.exports = require(${JSON.stringify(TYPESCRIPT)}); // again\n`);
      for (const o of p.outs) rmSync(join(p.dir, o), { force: true });
      expect((await w.request(args, inputs, 3)).exitCode).toBe(0);
      const copy = project("replaced-compiler-copy", { "lib.ts": LIB });
      expect((await oneShot(copy.dir, copy.args)).code).toBe(0);
      for (const o of p.outs)
        expect(readFileSync(join(p.dir, o), "utf8"), o).toBe(readFileSync(join(copy.dir, o), "utf8"));
    } finally {
      w.stop();
    }
  }, 300_000);

  test("worker: the runner replaced on disk answers through its new code (Bazel 4.2.3 keeps workers whose tools changed)", async () => {
    const p = project("replaced-runner", { "lib.ts": LIB });
    // A copy of the runner (one bundled file, its modules inside it), so that it can be replaced while its worker lives.
    const runner = join(p.dir, "runner");
    mkdirSync(runner);
    copyFileSync(WORKER, join(runner, "tsc_worker.js"));
    const w = new WorkerProcess(join(runner, "tsc_worker.js"), p.dir);
    const inputs = ["tsconfig.json", "src/lib.ts", ...tsLibs()];
    try {
      const first = await w.request(p.args, inputs, 1);
      expect(first.exitCode, first.output).toBe(0);
      expect(first.output).not.toContain("targets in memory");
      // A rebuild writes a new file: here one whose answers add the memory line (PIPELINE_TSC_WORKER_STATS).
      const next = join(runner, "tsc_worker.next.js");
      writeFileSync(next, `${readFileSync(WORKER, "utf8")}\nprocess.env.PIPELINE_TSC_WORKER_STATS = "1";\n`);
      renameSync(next, join(runner, "tsc_worker.js"));
      const second = await w.request(p.args, inputs, 2);
      expect(second.exitCode, second.output).toBe(0);
      expect(second.output).toContain("targets in memory");
    } finally {
      w.stop();
    }
  });

  test("worker: a declared output the compiler did not write fails the action, naming it", async () => {
    const p = project("missing-output", { "lib.ts": LIB });
    const w = startWorker(p.dir);
    try {
      const r = await w.request(
        [...p.args, "--expect", "out/never.js"],
        ["tsconfig.json", "src/lib.ts", ...tsLibs()],
        1,
      );
      expect(r.exitCode).toBe(1);
      expect(r.output).toContain("error: //test:lib: the compiler produced no out/never.js");
    } finally {
      w.stop();
    }
  });

  // Several whole-program compiles in workers: on a loaded CI machine they took 60 s; the bound only guards a hang.
  test("worker: a symlink input (rules_js's node_modules/<pkg>) leads to the inputs under its target, as in the sandbox; a hint names the linked tree", async () => {
    // rules_js: bin/node_modules/dec is an unresolved symlink to its package store directory, whose files are inputs.
    const p = project("linked", { "main.ts": 'import { half } from "dec/half";\nexport const h: number = half(4);\n' });
    const store = join(p.dir, "node_modules", ".aspect_rules_js", "dec@1.0.0", "node_modules", "dec");
    mkdirSync(store, { recursive: true });
    writeFileSync(join(store, "package.json"), JSON.stringify({ name: "dec", version: "1.0.0" }));
    writeFileSync(join(store, "half.js"), "exports.half = (n) => n / 2;\n");
    writeFileSync(join(store, "half.d.ts"), "export declare function half(n: number): number;\n");
    symlinkSync(".aspect_rules_js/dec@1.0.0/node_modules/dec", join(p.dir, "node_modules", "dec"));
    const tsconfig = JSON.parse(readFileSync(join(p.dir, "tsconfig.json"), "utf8"));
    tsconfig.compilerOptions = {
      ...tsconfig.compilerOptions,
      baseUrl: ".",
      paths: { "*": ["node_modules/*"] },
      preserveSymlinks: true,
    };
    writeFileSync(join(p.dir, "tsconfig.json"), JSON.stringify(tsconfig));
    const storeFiles = ["package.json", "half.js", "half.d.ts"].map(
      (f) => `node_modules/.aspect_rules_js/dec@1.0.0/node_modules/dec/${f}`,
    );
    const args = [...p.args, "--npm-link", "//:node_modules"];
    const w = startWorker(p.dir);
    try {
      const ok = await w.request(
        args,
        ["tsconfig.json", "src/main.ts", "node_modules/dec", ...storeFiles, ...tsLibs()],
        1,
      );
      expect(ok, ok.output).toMatchObject({ exitCode: 0 });
      expect(readFileSync(join(p.dir, "out", "main.d.ts"), "utf8")).toContain("export declare const h: number;");
      // Without the link among the inputs, the package is absent (the sandbox would not hold it either).
      const noLink = await w.request(args, ["tsconfig.json", "src/main.ts", ...storeFiles, ...tsLibs()], 2);
      expect(noLink.exitCode).toBe(1);
      expect(noLink.output).toMatch(/src\/main\.ts\(1,22\): error TS2307: Cannot find module 'dec\/half'/);
      expect(noLink.output).toContain(
        'hint: //test:lib does not depend on "dec". Add "//:node_modules/dec" to its deps',
      );
      // Nor does the link lead to a store file that is not an input (the declarations here).
      const noTypes = await w.request(
        args,
        ["tsconfig.json", "src/main.ts", "node_modules/dec", ...storeFiles.slice(0, 2), ...tsLibs()],
        3,
      );
      expect(noTypes.exitCode).toBe(1);
      expect(noTypes.output).toMatch(/error TS7016: Could not find a declaration file for module 'dec\/half'/);
      expect(noTypes.output).toContain(
        'hint: "dec" has no types of its own. Add "//:node_modules/@types/dec" to the deps of //test:lib',
      );
    } finally {
      w.stop();
    }
    // A sandboxed worker's directory (--worker_sandboxing): every input a symlink to its file elsewhere, the
    // unresolved one copied as it is. An input is taken as it is, never followed out of the inputs.
    const box = join(tmp, "linked-sandbox");
    for (const f of ["tsconfig.json", "src/main.ts", ...storeFiles]) {
      mkdirSync(dirname(join(box, f)), { recursive: true });
      symlinkSync(join(p.dir, f), join(box, f));
    }
    symlinkSync(".aspect_rules_js/dec@1.0.0/node_modules/dec", join(box, "node_modules", "dec"));
    const sandboxed = startWorker(box);
    try {
      const ok = await sandboxed.request(
        args,
        ["tsconfig.json", "src/main.ts", "node_modules/dec", ...storeFiles, ...tsLibs()],
        1,
      );
      expect(ok, ok.output).toMatchObject({ exitCode: 0 });
      expect(readFileSync(join(box, "out", "main.d.ts"), "utf8")).toContain("export declare const h: number;");
    } finally {
      sandboxed.stop();
    }
  }, 300_000);

  // 40 targets, 8 past the cap of 32: an unbounded worker would report 33 to 40 kept; 8 requests in a row that each
  // evict show the bound holds from one request to the next, not once (eviction runs after every request, the same
  // code each time: more targets would repeat these requests). Each request measures the heap after a full
  // collection, the costlier the more targets are kept: 200 targets were half this file's time.
  test("worker: memory stays bounded over 40 targets (at most 32 kept; the heap cap evicts down to one)", async () => {
    const dir = join(tmp, "many");
    mkdirSync(join(dir, "src"), { recursive: true });
    writeFileSync(join(dir, "src", "lib.ts"), LIB);
    const libs = tsLibs();
    const run = async (env: Record<string, string>, targets: number) => {
      const w = startWorker(dir, { PIPELINE_TSC_WORKER_STATS: "1", ...env });
      const counts: number[] = [];
      let heap = 0;
      try {
        for (let i = 0; i < targets; i++) {
          // One target per tsconfig: a worker keeps its state per project file.
          writeFileSync(
            join(dir, `tsconfig-${i}.json`),
            JSON.stringify({
              compilerOptions: {
                target: "ES2022",
                lib: ["es5"],
                module: "commonjs",
                strict: true,
                rootDir: "src",
                outDir: `out-${i}`,
                types: [],
              },
              files: ["src/lib.ts"],
            }),
          );
          const r = await w.request(
            [
              "--typescript",
              TYPESCRIPT,
              "--project",
              `tsconfig-${i}.json`,
              "--label",
              `//t:${i}`,
              "--expect",
              `out-${i}/lib.js`,
            ],
            [`tsconfig-${i}.json`, "src/lib.ts", ...libs],
            i + 1,
          );
          expect(r.exitCode, r.output).toBe(0);
          const m = /tsc_worker: (\d+) targets in memory, heap (\d+) MB/.exec(r.output);
          expect(m, r.output).not.toBeNull();
          counts.push(Number(m![1]));
          heap = Math.max(heap, Number(m![2]));
        }
      } finally {
        w.stop();
      }
      return { max: Math.max(...counts), last: counts[counts.length - 1], heap };
    };
    const byCount = await run({}, 40);
    expect(byCount).toMatchObject({ max: 32, last: 32 });
    // The heap cap: one target kept under a cap of 1 MB; under a cap halfway between one target's live heap and
    // 32 targets', the live heap stays under it with more than one and fewer than 32 kept.
    const one = await run({ PIPELINE_TSC_WORKER_MAX_HEAP_MB: "1" }, 8);
    expect(one).toMatchObject({ max: 1, last: 1 });
    const capMb = Math.floor((one.heap + byCount.heap) / 2);
    const byHeap = await run({ PIPELINE_TSC_WORKER_MAX_HEAP_MB: String(capMb) }, 40);
    expect(byHeap.heap, JSON.stringify({ one, byCount, byHeap, capMb })).toBeLessThanOrEqual(capMb);
    expect(byHeap.max).toBeGreaterThan(1);
    expect(byHeap.max).toBeLessThan(32);
  }, 600_000);
});
