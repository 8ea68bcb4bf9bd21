/**
 * The compiler snapshot of one-shot compiles (src/tsc/snapshot.ts, the runner's `--snapshot`; both bundled as the rules bundle them), with the
 * checkout's TypeScript and a copy of @types/node, as the TsSnapshot and TsCompile actions run them: each in a
 * directory of its own (a sandbox), where the packages are symlinks to one tree and are named by the same relative
 * paths:
 * - with it, a compile writes the same bytes and the same diagnostics as without it, and took the compiler and the
 *   parsed files from it (PIPELINE_TSC_WORKER_STATS=1);
 * - a file changed after the snapshot was made is parsed again (a declaration added to @types/node is seen);
 * - a snapshot Node refuses (other V8 flags through NODE_OPTIONS, a broken file) is said in one line and the compile
 *   runs without it, with the same result.
 * Real Bazel runs the flag in test/e2e/bazel7-worker-differential.test.ts.
 */
import {
  appendFileSync,
  cpSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, expect, test } from "vitest";
import { execProgram } from "../fixtures/cli";
import { REPO_ROOT } from "../fixtures/repo";
import { RULES_COMPILER_OPTIONS } from "../fixtures/rules-tsconfig";
import { tscBundle } from "../fixtures/tsc-bundle";

const tmp = mkdtempSync(join(tmpdir(), "rp-unit-tsc-snapshot-"));
const TYPESCRIPT = "node_modules/typescript/lib/typescript.js";
/** Where the snapshot is made and where the compiles run: two "sandboxes" over one tree of packages. */
const MADE = join(tmp, "made");
const RUN = join(tmp, "run");
const BLOB = join(tmp, "tsc.blob");
// Node's own environment only: no NODE_OPTIONS of the caller (V8 flags would make Node refuse the snapshot).
const { NODE_OPTIONS: _, ...ENV } = process.env;

/** Node run to its end without blocking this worker's event loop (vitest's RPC times out behind a long synchronous call). */
async function node(cwd: string, args: string[], env: NodeJS.ProcessEnv = {}) {
  const r = await execProgram(process.execPath, args, { cwd, env: { ...ENV, ...env } });
  return { code: r.code, stderr: r.stderr };
}

beforeAll(async () => {
  // @types/node and its dependency, copied: one of its files is edited after the snapshot is made.
  for (const pkg of ["@types/node", "undici-types"])
    cpSync(join(REPO_ROOT, "node_modules", pkg), join(tmp, "tree", pkg), { recursive: true });
  for (const dir of [MADE, RUN]) {
    mkdirSync(join(dir, "node_modules", "@types"), { recursive: true });
    symlinkSync(join(REPO_ROOT, "node_modules", "typescript"), join(dir, "node_modules", "typescript"));
    symlinkSync(join(tmp, "tree", "@types/node"), join(dir, "node_modules", "@types", "node"));
    symlinkSync(join(tmp, "tree", "undici-types"), join(dir, "node_modules", "undici-types"));
  }
  const made = await node(MADE, [
    "--snapshot-blob",
    BLOB,
    "--build-snapshot",
    tscBundle("tsc_snapshot.js"),
    "--typescript",
    TYPESCRIPT,
    "--types-root",
    "node_modules/@types",
  ]);
  expect(made.code, made.stderr).toBe(0);
  expect(made.stderr).toBe("");
}, 60_000);
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** A project in RUN/NAME with main.ts, compiled with the rules' options: its exit code, stderr and emitted files. */
async function compile(name: string, source: string, opts: { snapshot?: string; env?: NodeJS.ProcessEnv } = {}) {
  const dir = join(RUN, name);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(join(dir, "src"), { recursive: true });
  writeFileSync(join(dir, "src", "main.ts"), source);
  const options = RULES_COMPILER_OPTIONS;
  writeFileSync(
    join(dir, "tsconfig.json"),
    JSON.stringify({ compilerOptions: options, files: ["src/main.ts"], include: [] }),
  );
  const args = ["--typescript", TYPESCRIPT, "--project", `${name}/tsconfig.json`, "--label", `//${name}`];
  args.push("--expect", `${name}/out/src/main.js`, "--expect", `${name}/out/src/main.d.ts`);
  if (opts.snapshot) args.push("--snapshot", opts.snapshot);
  writeFileSync(join(RUN, `${name}.args`), `${args.join("\n")}\n`);
  const r = await node(RUN, [tscBundle("tsc_worker.js"), `@${name}.args`], {
    PIPELINE_TSC_WORKER_STATS: "1",
    ...opts.env,
  });
  const out = join(dir, "out", "src");
  const files = Object.fromEntries(
    (() => {
      try {
        return readdirSync(out).map((f) => [f, readFileSync(join(out, f), "utf8")]);
      } catch {
        return [];
      }
    })(),
  );
  return { ...r, files };
}

const GOOD =
  'import { join } from "node:path";\nexport const where = (d: string): string => join(d, "x");\nexport const b: Buffer = Buffer.from(where("."));\n';
const BAD = `${GOOD}const n: number = process.version;\n`;

test("with the snapshot: the same bytes and diagnostics, the compiler and the parsed files taken from it", async () => {
  for (const [source, code] of [
    [GOOD, 0],
    [BAD, 1],
  ] as const) {
    const plain = await compile("plain", source);
    const fast = await compile("fast", source, { snapshot: BLOB });
    expect([plain.code, fast.code]).toEqual([code, code]);
    expect(fast.files).toEqual(plain.files);
    const diagnostics = (s: string) =>
      s
        .split("\n")
        .filter((l) => l.includes("error TS"))
        .map((l) => l.replace(/^\w+\//, ""));
    expect(diagnostics(fast.stderr)).toEqual(diagnostics(plain.stderr));
    if (code === 1) expect(diagnostics(plain.stderr).join("\n")).toContain("error TS2322");
    // Every file it parsed (the lib files, @types/node and undici-types): the compile reads the same ones.
    const taken = /from the compiler snapshot: the compiler, (\d+) of its (\d+) parsed files/.exec(fast.stderr);
    expect(taken, fast.stderr).not.toBeNull();
    expect(Number(taken?.[2])).toBeGreaterThan(100);
    expect(taken?.[1]).toBe(taken?.[2]);
    expect(plain.stderr).not.toContain("compiler snapshot");
  }
  expect((await compile("fast", GOOD, { snapshot: BLOB })).files["main.d.ts"]).toContain(
    "export declare const b: Buffer",
  );
}, 60_000);

test("a file changed since the snapshot was made is parsed again", async () => {
  const edited = join(tmp, "tree", "@types", "node", "globals.d.ts");
  const before = readFileSync(edited, "utf8");
  appendFileSync(edited, "\ndeclare var SNAPSHOT_EDITED: number;\n");
  try {
    const r = await compile("edited", "export const n: number = SNAPSHOT_EDITED;\n", { snapshot: BLOB });
    expect(r.code, r.stderr).toBe(0);
    // All but the edited file.
    const taken = /from the compiler snapshot: the compiler, (\d+) of its (\d+) parsed files/.exec(r.stderr);
    expect(Number(taken?.[2]) - Number(taken?.[1]), r.stderr).toBe(1);
  } finally {
    writeFileSync(edited, before);
  }
}, 60_000);

test("a snapshot Node refuses: one line says so, and the compile runs without it", async () => {
  const plain = await compile("plain", GOOD);
  const broken = join(tmp, "broken.blob");
  writeFileSync(broken, "not a snapshot");
  for (const [blob, env] of [
    [BLOB, { NODE_OPTIONS: "--max-semi-space-size=64" }],
    [broken, {}],
  ] as const) {
    const r = await compile("refused", GOOD, { snapshot: blob, env });
    expect(r.code, r.stderr).toBe(0);
    expect(r.files).toEqual(plain.files);
    expect(r.stderr).toContain(`tsc_worker: compiling without the compiler snapshot ${blob}: `);
    expect(r.stderr.split("\n").filter((l) => l.includes("compiler snapshot"))).toHaveLength(1);
  }
}, 60_000);
