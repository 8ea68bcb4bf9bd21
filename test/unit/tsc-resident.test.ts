/**
 * TypeScript 7's resident compile (src/tsc/resident.ts): a worker answers a target's requests through one `tsc --watch`
 * kept between them, and each answer (exit code, diagnostics, compiled bytes) equals a one-shot compile's in a
 * directory holding only the request's files, over edits that keep the program's files (contents, type errors, a
 * change every module depends on; `noEmitOnError`, as the rules' generated config says) and ones that do not (a module
 * added); a compiler that died or gave no answer within its bound is replaced and the request still answered; no
 * compiler outlives its worker; a configuration it cannot follow (a rootDir leaving out its sentinel) is compiled
 * one-shot. The real worker bundle and TypeScript 7.0.2's native tsc.
 */
import {
  chmodSync,
  cpSync,
  linkSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, test } from "vitest";
import { TS7 } from "../fixtures/worker-fuzz";
import { descendants, residentCompilers, waitUntil } from "../fixtures/processes";
import { tscBundle } from "../fixtures/tsc-bundle";
import { oneShot, WorkerProcess } from "../fixtures/worker-protocol";

const WORKER = tscBundle("tsc_worker.js");
const tmp = mkdtempSync(join(tmpdir(), "rp-tsc-resident-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const MODULES = 30;
const STATS = /^tsc_worker: answered by (the resident compiler|a one-shot compile)\n/m;

function moduleText(i: number, value: string): string {
  const imp = i > 0 ? `import { f${i - 1} } from "./m${i - 1}";\n` : "";
  const call = i > 0 ? `f${i - 1}(x) + ` : "";
  return `${imp}export function f${i}(x: number): number { return ${call}x * ${i}; }\nexport const c${i}: string = ${value};\n`;
}

/**
 * A library of MODULES chained modules in `dir` (rootDir `rootDir`, and `options` besides), and the worker's arguments
 * for it.
 */
function library(dir: string, rootDir: string, modules = MODULES, options: object = {}): string[] {
  mkdirSync(join(dir, "src"), { recursive: true });
  for (let i = 0; i < modules; i++) writeFileSync(join(dir, "src", `m${i}.ts`), moduleText(i, '"v0"'));
  const files = Array.from({ length: modules }, (_, i) => `src/m${i}.ts`);
  writeFileSync(
    join(dir, "tsconfig.json"),
    JSON.stringify({
      compilerOptions: {
        target: "ES2022",
        module: "commonjs",
        strict: true,
        declaration: true,
        rootDir,
        outDir: "out",
        ...options,
      },
      files,
    }),
  );
  const base = rootDir === "." ? "out/src" : "out";
  const outs = files.flatMap((f) => {
    const name = f.slice("src/".length, -".ts".length);
    return [`${base}/${name}.js`, `${base}/${name}.d.ts`];
  });
  return [
    "--typescript",
    TS7.typescript,
    "--project",
    "tsconfig.json",
    "--label",
    "//test:lib",
    ...outs.flatMap((o) => ["--expect", o]),
  ];
}

function inputsOf(dir: string): string[] {
  return ["tsconfig.json", ...readdirSync(join(dir, "src")).map((f) => `src/${f}`)];
}

function outputs(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string, rel: string) => {
    let names: string[] = [];
    try {
      names = readdirSync(d, { withFileTypes: true }).map((e) => (e.isDirectory() ? `${e.name}/` : e.name));
    } catch {
      return;
    }
    for (const n of names) {
      if (n.endsWith("/")) walk(join(d, n), `${rel}${n}`);
      else out[`${rel}${n}`] = readFileSync(join(d, n), "utf8");
    }
  };
  walk(join(dir, "out"), "");
  return out;
}

/** What a one-shot compile answers in a directory holding only `dir`'s sources and config. */
async function sandboxAnswer(dir: string, args: string[]): Promise<{ code: number; output: string; outs: object }> {
  const sandbox = mkdtempSync(join(tmp, "sandbox-"));
  cpSync(join(dir, "src"), join(sandbox, "src"), { recursive: true });
  cpSync(join(dir, "tsconfig.json"), join(sandbox, "tsconfig.json"));
  const r = await oneShot(WORKER, sandbox, args);
  const answer = { code: r.code === 0 ? 0 : 1, output: r.stderr, outs: r.code === 0 ? outputs(sandbox) : {} };
  rmSync(sandbox, { recursive: true, force: true });
  return answer;
}

/** The worker's answer to a request of `dir`'s files, and which compile gave it. */
async function workerAnswer(worker: WorkerProcess, dir: string, args: string[]) {
  rmSync(join(dir, "out"), { recursive: true, force: true });
  const r = await worker.request(args, inputsOf(dir));
  const by = STATS.exec(r.output)?.[1];
  const output = r.output.replace(STATS, "").replace(/^tsc_worker: \d+ targets in memory, heap \d+ MB\n/m, "");
  return { by, code: r.exitCode, output, outs: r.exitCode === 0 ? outputs(dir) : {} };
}

const tscOf = (worker: WorkerProcess) => residentCompilers(worker.pid ?? -1);

const RESIDENT = "the resident compiler";
const ONE_SHOT = "a one-shot compile";

/** Whether process `pid` runs (not gone, not a zombie). */
function alive(pid: number): boolean {
  try {
    return !readFileSync(`/proc/${pid}/stat`, "utf8").includes(") Z ");
  } catch {
    return false;
  }
}

/** Checks that the worker answers the request of `dir`'s files as the sandbox does, through `by`. */
async function expectAnswer(worker: WorkerProcess, dir: string, args: string[], by: string): Promise<void> {
  expect(await workerAnswer(worker, dir, args)).toEqual({ by, ...(await sandboxAnswer(dir, args)) });
}

describe("TypeScript 7's resident compile in the worker", () => {
  // The rules' generated config says noEmitOnError (a build with errors writes nothing): so does this one.
  test("answers every edit as a one-shot compile in a sandbox does, from one tsc --watch per target", async () => {
    const dir = join(tmp, "edits");
    const args = library(dir, ".", MODULES, { noEmitOnError: true });
    const worker = new WorkerProcess(WORKER, dir, { PIPELINE_TSC_WORKER_STATS: "1" });
    try {
      const edits: [string, () => void][] = [
        ["initial", () => {}],
        ["a constant of m5", () => writeFileSync(join(dir, "src/m5.ts"), moduleText(5, '"v1"'))],
        ["a type error in m8", () => writeFileSync(join(dir, "src/m8.ts"), moduleText(8, "42"))],
        ["another file while m8 is wrong", () => writeFileSync(join(dir, "src/m20.ts"), moduleText(20, '"v2"'))],
        ["m8 mended", () => writeFileSync(join(dir, "src/m8.ts"), moduleText(8, '"v3"'))],
        [
          "m0's signature, which every module depends on",
          () =>
            writeFileSync(
              join(dir, "src/m0.ts"),
              'export function f0(x: number): string { return String(x); }\nexport const c0: string = "v4";\n',
            ),
        ],
        ["m0 back", () => writeFileSync(join(dir, "src/m0.ts"), moduleText(0, '"v5"'))],
      ];
      const by: string[] = [];
      for (const [name, edit] of edits) {
        edit();
        const got = await workerAnswer(worker, dir, args);
        by.push(`${name}: ${got.by}`);
        expect({ name, ...got, by: undefined }).toEqual({ name, ...(await sandboxAnswer(dir, args)), by: undefined });
      }
      expect(by).toEqual(edits.map(([name]) => `${name}: ${RESIDENT}`));
      expect(tscOf(worker)).toHaveLength(1);
    } finally {
      worker.stop();
    }
  }, 120_000);

  test("a module added starts a new compiler; one that died or gave no answer in time is replaced, the request still answered", async () => {
    const dir = join(tmp, "replaced");
    let args = library(dir, ".", 5);
    const worker = new WorkerProcess(WORKER, dir, { PIPELINE_TSC_WORKER_STATS: "1" });
    try {
      expect((await workerAnswer(worker, dir, args)).by).toBe(RESIDENT);
      const [first] = tscOf(worker);
      // A module added: not a change of contents only, so a new compiler (and a new program) answers.
      args = library(dir, ".", 6);
      await expectAnswer(worker, dir, args, RESIDENT);
      await waitUntil("the first compiler is gone", () => !tscOf(worker).some((p) => p.pid === first.pid));
      // Killed: the next request is compiled one-shot; the one after by a new compiler.
      process.kill(tscOf(worker)[0].pid, "SIGKILL");
      writeFileSync(join(dir, "src/m2.ts"), moduleText(2, "42"));
      await expectAnswer(worker, dir, args, ONE_SHOT);
      writeFileSync(join(dir, "src/m2.ts"), moduleText(2, '"v1"'));
      await expectAnswer(worker, dir, args, RESIDENT);
    } finally {
      worker.stop();
    }
    // No answer within its bound (a hung compiler; 1 ms here): the request is compiled one-shot, the compiler stopped.
    const slow = new WorkerProcess(WORKER, dir, {
      PIPELINE_TSC_WORKER_STATS: "1",
      PIPELINE_TSC_RESIDENT_BOUND_MS: "1",
    });
    try {
      expect((await workerAnswer(slow, dir, args)).by).toBe(RESIDENT);
      const [hung] = tscOf(slow);
      writeFileSync(join(dir, "src/m3.ts"), moduleText(3, '"v2"'));
      await expectAnswer(slow, dir, args, ONE_SHOT);
      expect(tscOf(slow).some((p) => p.pid === hung.pid)).toBe(false);
    } finally {
      slow.stop();
    }
  }, 120_000);

  test("an answer's outputs keep their bytes while later builds write theirs: tsc never writes into one", async () => {
    const dir = join(tmp, "held");
    const modules = 6;
    const args = library(dir, ".", modules, { noEmitOnError: true });
    const worker = new WorkerProcess(WORKER, dir, { PIPELINE_TSC_WORKER_STATS: "1" });
    try {
      // The last answer's files, held under other names (as Bazel's disk cache or a later action's links hold an
      // output): they must still have that answer's bytes after a later build rewrote every output.
      const held = join(tmp, "held-elsewhere");
      const heldAs = (rel: string) => join(held, rel.replaceAll("/", "_"));
      const expectHeld = (outs: Record<string, string>) => {
        for (const [rel, text] of Object.entries(outs))
          expect({ rel, text: readFileSync(heldAs(rel), "utf8") }).toEqual({ rel, text });
      };
      let before: Record<string, string> = {};
      for (const value of ['"v0"', '"v1"', '"v2"']) {
        for (let i = 0; i < modules; i++) writeFileSync(join(dir, "src", `m${i}.ts`), moduleText(i, value));
        const got = await workerAnswer(worker, dir, args);
        expect(got.by).toBe(RESIDENT);
        expect(got.outs).toEqual((await sandboxAnswer(dir, args)).outs);
        expectHeld(before);
        rmSync(held, { recursive: true, force: true });
        mkdirSync(held);
        for (const rel of Object.keys(got.outs)) linkSync(join(dir, "out", rel), heldAs(rel));
        before = got.outs;
      }
      expect(Object.keys(before)).toHaveLength(2 * modules);
      // Outputs of the last run left in place and read-only (as Bazel leaves them): replaced, never written through.
      for (const rel of Object.keys(before)) chmodSync(join(dir, "out", rel), 0o444);
      for (let i = 0; i < modules; i++) writeFileSync(join(dir, "src", `m${i}.ts`), moduleText(i, '"v3"'));
      const r = await worker.request(args, inputsOf(dir));
      expect(r.exitCode, r.output).toBe(0);
      expect(outputs(dir)).toEqual((await sandboxAnswer(dir, args)).outs);
      expectHeld(before);
    } finally {
      worker.stop();
    }
  }, 60_000);

  test("a worker whose stdin closes stops its compilers and exits", async () => {
    const dir = join(tmp, "closed");
    const args = library(dir, ".", 3);
    const worker = new WorkerProcess(WORKER, dir, { PIPELINE_TSC_WORKER_STATS: "1" });
    expect((await workerAnswer(worker, dir, args)).by).toBe(RESIDENT);
    const below = descendants(worker.pid ?? -1);
    expect(tscOf(worker)).toHaveLength(1);
    const exited = new Promise<number | null>((done) => worker.onExit(done));
    worker.close();
    expect(await exited).toBe(0);
    await waitUntil("the worker's compilers are gone", () => !below.some((p) => alive(p.pid)));
  }, 60_000);

  test("no compiler outlives its worker, even one killed outright", async () => {
    const dir = join(tmp, "lifetime");
    const args = library(dir, ".", 3);
    const worker = new WorkerProcess(WORKER, dir, { PIPELINE_TSC_WORKER_STATS: "1" });
    expect((await workerAnswer(worker, dir, args)).by).toBe(RESIDENT);
    const below = descendants(worker.pid ?? -1);
    expect(tscOf(worker)).toHaveLength(1);
    process.kill(worker.pid ?? -1, "SIGKILL");
    await waitUntil("the worker's compilers are gone", () => !below.some((p) => alive(p.pid)));
  }, 60_000);

  test("a configuration it cannot follow (a rootDir leaving out its sentinel) is compiled one-shot", async () => {
    const dir = join(tmp, "root-dir");
    const args = library(dir, "src", 3);
    const worker = new WorkerProcess(WORKER, dir, { PIPELINE_TSC_WORKER_STATS: "1" });
    try {
      for (const value of ['"v0"', "42", '"v1"']) {
        writeFileSync(join(dir, "src/m1.ts"), moduleText(1, value));
        await expectAnswer(worker, dir, args, ONE_SHOT);
      }
      expect(tscOf(worker)).toHaveLength(0);
    } finally {
      worker.stop();
    }
  }, 60_000);
});
