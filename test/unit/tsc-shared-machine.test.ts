/**
 * TypeScript 7's native compiles on a machine shared with other users (src/tsc/native.ts, tree.ts),
 * outside Bazel, on the real 7.0.2 (test/compilers): what another user can put in a shared directory (a /tmp-like
 * one, mode 1777, given as TMPDIR and holding the working directory, as an output root or sandbox base under /tmp
 * would) changes nothing. Their entries are owned by uid 65534 (`nobody`).
 * - The native compiler is taken only from the package manager's tree that holds typescript (beside it, under it),
 *   by the path as given and its real path (a rules_js link), never from a directory above that tree.
 * - A compile, one-shot or in a worker, sees no `node_modules` and no `package.json` above its tree: an undeclared
 *   import does not compile, and a `nodenext` target stays CommonJS. So does 5.9's one-shot compile above its working
 *   directory.
 * - The sweep of killed workers' trees removes only this user's and never fails a compile (run as another uid, 65533,
 *   for whom another user's entry in a sticky directory cannot be removed, as it can for root).
 */
import { spawnSync } from "node:child_process";
import {
  chmodSync,
  chownSync,
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { afterAll, describe, expect, test } from "vitest";
import { REPO_ROOT } from "../fixtures/bazel";
import { NOBODY, sharedDir as makeShared, plantAs as plant, readableCopy } from "../fixtures/shared-tmp";
import { oneShot, WorkerProcess } from "../fixtures/worker-protocol";
import { tscBundle } from "../fixtures/tsc-bundle";

const WORKER = tscBundle("tsc_worker.js");
const DEFAULTS = join(REPO_ROOT, "bazel", "private", "typescript", "tsconfig_defaults.json");
const COMPILERS = join(REPO_ROOT, "test", "compilers", "node_modules");
const TS7 = join(COMPILERS, "typescript7");
const TS5 = join(REPO_ROOT, "node_modules", "typescript");
const NATIVE = `@typescript/typescript-${process.platform}-${process.arch}`;

const tmp = mkdtempSync(join(tmpdir(), "rp-tsc-shared-"));
// Other users (65533 below) go through it, as through /tmp.
chmodSync(tmp, 0o755);
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** A /tmp-like directory (mode 1777) of the test's own. */
const sharedDir = (name: string) => makeShared(join(tmp, name));

/** A target as the rules lay it out (test/unit/tsc-compilers.test.ts): `pkg/main.ts`, its config in `out/pkg/`. */
function project(dir: string, typescript: string, main: string, user: object = {}): string[] {
  mkdirSync(join(dir, "pkg"), { recursive: true });
  mkdirSync(join(dir, "out", "pkg"), { recursive: true });
  writeFileSync(join(dir, "pkg", "main.ts"), main);
  writeFileSync(join(dir, "tsconfig.json"), JSON.stringify(user));
  writeFileSync(
    join(dir, "out", "pkg", "app.tsconfig.json"),
    JSON.stringify({
      extends: [DEFAULTS, "../../tsconfig.json"],
      compilerOptions: { preserveSymlinks: true, rootDir: "../..", outDir: "../../out", types: [], newLine: "lf" },
      files: ["../../pkg/main.ts"],
      include: [],
    }),
  );
  return ["--typescript", typescript, "--project", "out/pkg/app.tsconfig.json", "--label", "//pkg:app"].concat(
    "--expect",
    "out/pkg/main.js",
  );
}

const INPUTS = ["out/pkg/app.tsconfig.json", "pkg/main.ts", "tsconfig.json", DEFAULTS];

describe("TypeScript 7's native compiler: only from the package manager's tree that holds typescript", () => {
  // Another user's `tsc` above the tree: it would leave a marker where they can read it.
  const shared = sharedDir("native");
  const marker = join(shared, "ran-as-the-build-user");
  plant(shared, { [`node_modules/${NATIVE}/lib/tsc`]: `#!/bin/sh\ntouch ${marker}\nexit 0\n` }, NOBODY);

  test("typescript without its native package beside it: refused naming the package; the tsc above its tree never runs", async () => {
    const ws = join(shared, "ws");
    cpSync(TS7, join(ws, "node_modules", "typescript"), { recursive: true });
    const args = project(join(ws, "proj"), join(ws, "node_modules", "typescript"), "export const a = 1;\n");
    const r = await oneShot(WORKER, join(ws, "proj"), args);
    expect(existsSync(marker)).toBe(false);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`the package ${NATIVE}: it is not installed beside`);
  });

  test("rules_js's layout: node_modules/typescript links into the store, where the native package sits beside it", async () => {
    const ws = join(shared, "rules-js");
    const store = join(ws, "node_modules", ".aspect_rules_js", "typescript@7.0.2", "node_modules");
    cpSync(TS7, join(store, "typescript"), { recursive: true });
    mkdirSync(join(store, "@typescript"));
    symlinkSync(join(COMPILERS, NATIVE), join(store, NATIVE));
    symlinkSync(
      join(".aspect_rules_js", "typescript@7.0.2", "node_modules", "typescript"),
      join(ws, "node_modules", "typescript"),
    );
    const args = project(join(ws, "proj"), join(ws, "node_modules", "typescript"), "export const a = 1;\n");
    const r = await oneShot(WORKER, join(ws, "proj"), args);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(existsSync(marker)).toBe(false);
    expect(readFileSync(join(ws, "proj", "out", "pkg", "main.js"), "utf8")).toContain("exports.a = 1;");
  });
});

describe("a TypeScript 7 compile sees nothing above its tree", () => {
  // TMPDIR, and the directory that holds the working directory: another user's node_modules and package.json there.
  const shared = sharedDir("above");
  plant(
    shared,
    {
      "node_modules/planted/package.json": '{"name": "planted", "types": "index.d.ts"}',
      "node_modules/planted/index.d.ts": "export declare const p: number;\n",
      "package.json": '{"type": "module"}',
    },
    NOBODY,
  );
  const env = { TMPDIR: shared };
  const undeclared = 'import { p } from "planted";\nexport const a: number = p;\n';
  const nodenext = { compilerOptions: { module: "nodenext", moduleResolution: "nodenext" } };

  // TypeScript 5.9 one-shot too (in-process: the same rule for the one-shot view, src/tsc/inputs.ts).
  for (const mode of ["one-shot", "worker", "5.9 one-shot"] as const) {
    test(`${mode}: an import of a package that is no input is not found; a nodenext target is CommonJS`, async () => {
      const a = join(shared, `${mode}-import`);
      const b = join(shared, `${mode}-format`);
      const typescript = mode === "5.9 one-shot" ? TS5 : TS7;
      const argsA = project(a, typescript, undeclared);
      const argsB = project(b, typescript, "export const x: number = 1;\n", nodenext);
      let found: { code: number; output: string };
      let format: { code: number; output: string };
      if (mode !== "worker") {
        const ra = await oneShot(WORKER, a, argsA, env);
        const rb = await oneShot(WORKER, b, argsB, env);
        [found, format] = [
          { code: ra.code, output: ra.stderr },
          { code: rb.code, output: rb.stderr },
        ];
      } else {
        const wa = new WorkerProcess(WORKER, a, env);
        const wb = new WorkerProcess(WORKER, b, env);
        try {
          const ra = await wa.request(argsA, INPUTS);
          const rb = await wb.request(argsB, INPUTS);
          [found, format] = [
            { code: ra.exitCode, output: ra.output },
            { code: rb.exitCode, output: rb.output },
          ];
        } finally {
          wa.stop();
          wb.stop();
        }
      }
      expect(found.output).toMatch(/^pkg\/main\.ts\(1,19\): error TS2307: Cannot find module 'planted'/m);
      expect(found.code).toBe(1);
      expect(format.output).toBe("");
      expect(format.code).toBe(0);
      const js = readFileSync(join(b, "out", "pkg", "main.js"), "utf8");
      expect(js).toContain("exports.x = 1;");
      expect(js).not.toContain("export const");
    });
  }
});

describe("the sweep of killed workers' trees", () => {
  test("removes this user's trees of dead processes only; another user's entry, or one it cannot remove, fails no compile", () => {
    // Run as uid 65533: for root, another user's entry in a sticky directory is removable.
    const me = 65533;
    const shared = sharedDir("sweep");
    const cwd = join(shared, "execroot");
    const own = join(cwd, "bazel-out", "rules_pipeline-tsc");
    mkdirSync(own, { recursive: true, mode: 0o700 });
    for (let d = own; d !== shared; d = dirname(d)) chownSync(d, me, me);
    const gone = spawnSync(process.execPath, ["-e", "0"]).pid;
    // Where earlier versions made them (TMPDIR), and where they live now: another user's, which we cannot remove.
    plant(shared, { [`rules_pipeline-tsc-${gone}-aaaaaa/1/x`]: "" }, NOBODY);
    plant(own, { [`worker-${gone}-bbbbbb/1/x`]: "" }, NOBODY);
    // Ours: one removable, one holding another user's directory (its removal fails half-way).
    plant(own, { [`worker-${gone}-cccccc/1/x`]: "" }, me);
    plant(own, { [`worker-${gone}-dddddd/1/x`]: "" }, me);
    chownSync(join(own, `worker-${gone}-dddddd`, "1"), NOBODY, NOBODY);
    const r = spawnSync(
      "setpriv",
      [
        `--reuid=${me}`,
        `--regid=${me}`,
        "--clear-groups",
        process.execPath,
        "-e",
        `console.log(require(${JSON.stringify(readableCopy(tscBundle("tree.js"), shared))}).workerTree("p").root)`,
      ],
      { cwd, encoding: "utf8", env: { ...process.env, TMPDIR: shared } },
    );
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(new RegExp(`^${own}/worker-\\d+-\\w+/1$`, "m"));
    expect(existsSync(join(own, `worker-${gone}-cccccc`))).toBe(false);
    expect(existsSync(join(own, `worker-${gone}-bbbbbb`, "1", "x"))).toBe(true);
    expect(existsSync(join(own, `worker-${gone}-dddddd`, "1", "x"))).toBe(true);
    expect(existsSync(join(shared, `rules_pipeline-tsc-${gone}-aaaaaa`, "1", "x"))).toBe(true);
  });
});
