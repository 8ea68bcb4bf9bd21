/**
 * P17: a one-shot TypeScript compile, as TsCompile runs where workers do not (remote execution, the sandboxed
 * strategy): the TsCompile runner (src/tsc/, bundled as the rules bundle it: tsc_worker.js) started from the compiler
 * snapshot (`--@rules_pipeline//bazel:tsc_snapshot`, tsc_snapshot.js) against the same without it, and against `tsc -p` (what a ruleset running the TypeScript CLI per
 * target runs). One 5-file library using Node's types, the rules' compiler options, in alternating rounds; the same
 * working directory and relative paths as the actions. CPU time (user + system, /usr/bin/time) is the ratio; wall
 * time in the notes. The emitted files of the three are checked equal.
 */
import { spawnSync } from "node:child_process";
import { cpSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { check, type Ctx, nodeSide, row } from "../lib/context";
import { HAVE_TIME } from "../lib/measure";
import { rounds } from "../lib/rounds";
import { fmtMs, type Row } from "../lib/report";
import { RULES_COMPILER_OPTIONS } from "../../test/fixtures/rules-tsconfig";
import { tscBundle } from "../../test/fixtures/tsc-bundle";

const ROOT = resolve(__dirname, "..", "..", "..", "..");
// Node's own environment: NODE_OPTIONS with V8 flags would make Node refuse the snapshot.
const { NODE_OPTIONS: _, ...ENV } = process.env;

/** The library: five files, each importing the one before and a Node module. */
function writeProject(dir: string, name: string): void {
  mkdirSync(join(dir, name, "src"), { recursive: true });
  for (let i = 0; i < 5; i++) {
    const prev = i ? `import { f${i - 1} } from "./m${i - 1}";\n` : "";
    const use = i ? `f${i - 1}(s.length)` : "s.length";
    writeFileSync(
      join(dir, name, "src", `m${i}.ts`),
      `${prev}import { createHash } from "node:crypto";\nimport { join } from "node:path";\n` +
        `export interface R${i} { path: string; digest: string; n: number }\n` +
        `export function f${i}(n: number): R${i} {\n  const s = join("/tmp", String(n));\n` +
        `  return { path: s, digest: createHash("sha256").update(s).digest("hex"), n: ${i ? `${use}.n` : use} };\n}\n`,
    );
  }
  // `lib` as the runner sets it when the tsconfig names none, so that `tsc -p` compiles the same.
  const options = { ...RULES_COMPILER_OPTIONS, lib: ["es2022"] };
  const files = Array.from({ length: 5 }, (_, i) => `src/m${i}.ts`);
  writeFileSync(join(dir, name, "tsconfig.json"), JSON.stringify({ compilerOptions: options, files, include: [] }));
  const args = [
    "--typescript",
    "node_modules/typescript/lib/typescript.js",
    "--project",
    `${name}/tsconfig.json`,
    "--label",
    `//${name}`,
  ];
  for (const f of files)
    args.push(
      "--expect",
      `${name}/out/${f.replace(/\.ts$/, ".js")}`,
      "--expect",
      `${name}/out/${f.replace(/\.ts$/, ".d.ts")}`,
    );
  if (name === "snapshot") args.push("--snapshot", "tsc.blob");
  writeFileSync(join(dir, `${name}.args`), `${args.join("\n")}\n`);
}

const emitted = (dir: string) =>
  Object.fromEntries(
    readdirSync(join(dir, "out", "src")).map((f) => [f, readFileSync(join(dir, "out", "src", f), "utf8")]),
  );

export async function p17(ctx: Ctx): Promise<Row[]> {
  const dir = join(ctx.work, "p17");
  for (const pkg of ["typescript", "@types/node", "undici-types"])
    cpSync(join(ROOT, "node_modules", pkg), join(dir, "node_modules", pkg), { recursive: true });
  for (const name of ["plain", "snapshot", "tsc"]) writeProject(dir, name);
  const made = spawnSync(
    process.execPath,
    ["--snapshot-blob", "tsc.blob", "--build-snapshot", tscBundle("tsc_snapshot.js")].concat([
      "--typescript",
      "node_modules/typescript/lib/typescript.js",
      "--types-root",
      "node_modules/@types",
    ]),
    { cwd: dir, env: ENV, encoding: "utf8" },
  );
  check(made.status === 0, `P17: making the snapshot: ${made.stderr}`);
  // A compile that says it ran without the snapshot fails the row.
  const side = (args: string[]) =>
    nodeSide("P17", args, { cwd: dir, env: ENV }, (stderr) => !stderr.includes("compiler snapshot"));
  const plain = side([tscBundle("tsc_worker.js"), "@plain.args"]);
  const snapshot = side([tscBundle("tsc_worker.js"), "@snapshot.args"]);
  const tsc = side(["node_modules/typescript/lib/tsc.js", "-p", "tsc/tsconfig.json"]);
  // A first run of each (unmeasured: the page cache warm for all three); smoke runs have only the measured one.
  if (!ctx.smoke)
    for (const s of [plain, snapshot, tsc]) {
      await s.f();
      s.cpu.length = 0;
    }
  const [plainMs, snapshotMs, tscMs] = await rounds(ctx.reps, 0, [plain.f, snapshot.f, tsc.f]);
  // Every run writes the same files: the last ones compared.
  const [a, b, c] = ["plain", "snapshot", "tsc"].map((n) => JSON.stringify(emitted(join(dir, n))));
  check(a === b && b === c, "P17: the three compiles emitted different files");
  if (!HAVE_TIME) {
    ctx.log("P17: /usr/bin/time missing: CPU not measured");
    return [];
  }
  const median = (xs: number[]) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)];
  const cpuRow = (key: string, what: string, ours: number[], peer: number[], notes: string) =>
    row({
      id: "P17",
      key,
      what,
      ours: `${median(ours).toFixed(0)} ms CPU`,
      peer: `${median(peer).toFixed(0)} ms CPU`,
      ratio: median(ours) / median(peer),
      target: "—",
      notes,
    });
  const wall = `wall (medians): from the snapshot ${fmtMs(snapshotMs)}, without ${fmtMs(plainMs)}, tsc -p ${fmtMs(tscMs)}`;
  return [
    cpuRow(
      "P17-snapshot",
      "one-shot TsCompile of a 5-file library (Node's types), CPU: from the compiler snapshot vs without it",
      snapshot.cpu,
      plain.cpu,
      `${wall}; the snapshot's second Node start included`,
    ),
    cpuRow(
      "P17-tsc",
      "one-shot TsCompile of the same library, CPU: from the compiler snapshot vs `tsc -p`",
      snapshot.cpu,
      tsc.cpu,
      wall,
    ),
  ];
}
