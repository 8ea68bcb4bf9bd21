// P10-ts7's floor rows that are Bazel's own work (issue #75). (1) How much of a nothing-changed command is Bazel
// looking at the source files it tracks: npm_dependencies names every file of node_modules as a source file of its
// repository, and Bazel stats each of them before every command; on 4.2.3 from the profile (`handleDiffs`), on 7.7.1
// by running the same command with `--noexperimental_check_external_repository_files`, alternately. (2) The floor
// under any compile of the change run by Bazel: the nothing-changed run, TypeScript 7's own recompile, Bazel's part
// of the compile action and Bazel's other work on the change (its build phase less the action, less the same phase
// with nothing changed).
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { bazelOk, QUIET } from "./bazel";
import { BUILD_PHASE, MERGED_PHASE, phaseMs, summarizeProfile } from "./bazel-actions";
import { check, row } from "./context";
import { type Stat, samplesOf, sideBySide, sleep, stat } from "./measure";
import { bazel7Local, bazel7Ok, type Mono7 } from "./monorepo-bazel7";
import { label, type Mono } from "./monorepo-sides";
import { SETTLE_MS, type TsCompileSamples } from "./monorepo-ts7";
import { fmtInt, fmtMs, fmtMsValue, type Row } from "./report";

/** Bazel 7's switch for the check of external repositories' files (7.7.1; 4.2.3 has none). */
export const NO_EXTERNAL_CHECK = "--noexperimental_check_external_repository_files";

export interface FileCheck {
  /** `handleDiffs` of nothing-changed `bazel run`s on 4.2.3, from their profiles. */
  diff: Stat;
  /** Their build phase (BUILD_PHASE). */
  build: Stat;
  /** The source files of the target's dependencies by repository ("" is the main one), most first. */
  sources: { repo: string; files: number }[];
  /** Nothing-changed runs on 7.7.1 (the wrapper's cost taken off), with the check and without, alternately. */
  bazel7: { checked: Stat; unchecked: Stat };
}

/** The source files of `target`'s dependencies by repository, from `bazel query` (4.2.3). */
async function sourcesOf(ws: string, target: string): Promise<{ repo: string; files: number }[]> {
  const q = await bazelOk(ws, ["query", "--noshow_progress", `kind("source file", deps(${target}))`]);
  const counts = new Map<string, number>();
  for (const l of q.stdout.split("\n")) {
    if (!l.includes("//")) continue;
    const repo = l.slice(0, l.indexOf("//"));
    counts.set(repo, (counts.get(repo) ?? 0) + 1);
  }
  return [...counts].map(([repo, files]) => ({ repo, files })).sort((a, b) => b.files - a.files);
}

/** Measures FileCheck for `x:etl_local` of the TypeScript 7 targets (mt on 4.2.3, m7t on 7.7.1), nothing changed. */
export async function fileCheck(m: Mono, mt: Mono, m7t: Mono7, n: number): Promise<FileCheck> {
  const target = label(mt, "x:etl_local");
  const profile = join(m.dir, "filecheck.profile.json");
  const builds: number[] = [];
  const diff = await samplesOf(n, async () => {
    await bazelOk(mt.ws, ["run", ...QUIET, `--profile=${profile}`, target]);
    const p = summarizeProfile(readFileSync(profile, "utf8"));
    builds.push(phaseMs(p, BUILD_PHASE, profile));
    return p.diffMs;
  });
  const sources = await sourcesOf(mt.ws, target);
  check(sources.length > 0, `P10: \`bazel query\` lists the source files of ${target}`);
  const run7 = (flags: string[]) => async () =>
    (await bazel7Ok(m, m7t.ws, ["run", ...QUIET, ...flags, label(m7t, "x:etl_local")])).ms - m7t.wrapperMs;
  const { a: checked, b: unchecked } = await sideBySide(n, 1, run7([]), run7([NO_EXTERNAL_CHECK]));
  return { diff, build: stat(builds), sources, bazel7: { checked, unchecked } };
}

/** "7,333 in @npm, 347 in @rules_pipeline, … 34 in the workspace". */
function describeSources(sources: FileCheck["sources"]): string {
  return sources.map((s) => `${fmtInt(s.files)} in ${s.repo || "the workspace"}`).join(", ");
}

/** The two informational rows: the part of P10-ts7's floors that is Bazel checking the tracked source files. */
export function fileCheckRows(fc: FileCheck, floor: Stat, peer: Stat): Row[] {
  const total = fc.sources.reduce((s, r) => s + r.files, 0);
  const saved = fc.bazel7.checked.median - fc.bazel7.unchecked.median;
  return [
    row({
      id: "P10",
      key: "P10-ts7-floor-filecheck",
      what: "informational: of P10-ts7's floor (warm `bazel run //ts7/x:etl_local`, Bazel 4.2.3, nothing changed), the part that is Bazel checking every source file it tracks for a change (`handleDiffs` in the profile), vs that floor",
      ours: fmtMs(fc.diff),
      peer: fmtMs(floor),
      ratio: fc.diff.median / floor.median,
      target: "—",
      notes: `${fc.diff.n} profiled runs after the floor's; the target's dependencies have ${fmtInt(total)} source files (${describeSources(fc.sources)}): npm_dependencies names every file of node_modules as a source file of its repository, and Bazel stats each of them before every command (4.2.3 cannot be told not to). Packed packages unpacked by actions (rules_js's design) would leave a few hundred source files, but Bazel checks every file of an action's output directory after each command too (measured by hand on 4.2.3, bench/README.md's forty-eighth-session findings)`,
    }),
    row({
      id: "P10",
      key: "P10-ts7-bazel7-floor-no-external-check",
      what: `informational: P10-ts7-bazel7's floor (warm \`bazel run //ts7/x:etl_local\`, Bazel 7.7.1, nothing changed, less the chroot wrapper's cost) with \`${NO_EXTERNAL_CHECK}\` (external repositories' files not checked for changes) vs without, alternately; and against the hand-run native \`tsc\` 7.0.2 + \`node\` of P10-ts7`,
      ours: fmtMs(fc.bazel7.unchecked),
      peer: fmtMs(fc.bazel7.checked),
      ratio: fc.bazel7.unchecked.median / fc.bazel7.checked.median,
      target: "—",
      notes: `${fc.bazel7.checked.n} runs each after one unmeasured pair (ABBA); the check costs ${fmtMsValue(saved)} of each command here. Against P10-ts7's peer (${fmtMs(peer)}): with the check ${(fc.bazel7.checked.median / peer.median).toFixed(2)}, without ${(fc.bazel7.unchecked.median / peer.median).toFixed(2)}. The flag is the user's to set (an edit inside the output base's external/ then goes unseen); the bench's other rows run with Bazel's default`,
    }),
  ];
}

/** An informational P10 row whose "ours" is a sum of medians (ms), against the peer's samples. */
export function sumRow(key: string, what: string, total: number, peer: Stat, notes: string): Row {
  return row({
    id: "P10",
    key,
    what,
    ours: `${fmtInt(Math.round(total))} ms`,
    peer: fmtMs(peer),
    ratio: total / peer.median,
    target: "—",
    notes,
  });
}

/**
 * P10-ts7-floor-bazel: what a Bazel 4.2.3 build of the change pays whatever compiles it, against the peer: the
 * nothing-changed run (`floor`), TypeScript 7's own `tsc --watch` recompile (`watched`), Bazel's part of a compile
 * action in a worker (the smaller of the two compilers' medians) and Bazel's other work on the change (the change
 * runs' build phase less the action, less the nothing-changed runs' build phase; never below 0).
 */
export function floorBazelRow(
  fc: FileCheck,
  floor: Stat,
  watched: Stat,
  tsc: { ts59: TsCompileSamples; ts7: TsCompileSamples },
  peer: Stat,
): Row {
  const action = Math.min(tsc.ts7.bazel.median, tsc.ts59.bazel.median);
  const other = Math.max(0, tsc.ts7.outside.median - fc.build.median);
  const total = floor.median + watched.median + action + other;
  return sumRow(
    "P10-ts7-floor-bazel",
    "informational: the floor under P10-ts7 in Bazel — the nothing-changed run (P10-ts7-floor), TypeScript 7.0.2's own `tsc --watch` recompile of the change, Bazel's own part of a compile action in a worker, and Bazel's other work on the change (its build phase less the compile action, less the same phase with nothing changed), vs the hand-run native `tsc` 7.0.2 + `node dist/x/etl.js` of P10-ts7",
    total,
    peer,
    `medians: ${Math.round(floor.median)} (nothing changed) + ${fmtMsValue(watched.median)} (tsc --watch) + ${fmtMsValue(action)} (Bazel's part of the action: its span less the worker's answer, TypeScript 7 ${fmtMsValue(tsc.ts7.bazel.median)}, 5.9 ${fmtMsValue(tsc.ts59.bazel.median)}) + ${fmtMsValue(other)} (the build phase of P10-tscompile-ts7's ${tsc.ts7.outside.n} profiled changes less their TsCompile, ${fmtMsValue(tsc.ts7.outside.median)}, less the build phase of ${fc.build.n} profiled nothing-changed runs, ${fmtMsValue(fc.build.median)}). A ratio above 1.3 means no Bazel 4.2.3 build of the change in this workspace meets P10-ts7's target, however fast its compile: what is left is Bazel's (the nothing-changed run's check of the tracked files among it, P10-ts7-floor-filecheck) and the program's run`,
  );
}

/** Bazel 7.7.1's own work on the change of P10-ts7-bazel7, from profiles of `//ts7/x:etl_local`. */
export interface Bazel7Work {
  /** The TsCompile of //ts7/lib:lib less Bazel's wait for its worker ("Worker #N working"): Bazel's part. */
  action: Stat;
  /** Bazel's wait for the worker. */
  worker: Stat;
  /** The change runs' merged phase less the TsCompile, less the nothing-changed runs' merged phase (medians). */
  other: number;
  changed: Stat;
  unchanged: Stat;
}

/** `n` profiled changes and `n` profiled nothing-changed runs on 7.7.1, alternately, each after the worker's settle. */
export async function bazel7Work(m: Mono, m7t: Mono7, n: number): Promise<Bazel7Work> {
  const file = join(m.dir, "bazel7-work.profile.json");
  const target = label(m7t, "lib:lib");
  const action: number[] = [];
  const worker: number[] = [];
  const changed: number[] = [];
  const unchanged: number[] = [];
  for (let i = 0; i < n; i++) {
    await sleep(SETTLE_MS);
    await bazel7Local(m, m7t, [`--profile=${file}`]);
    const p = summarizeProfile(readFileSync(file, "utf8"));
    const lib = p.actions.filter((a) => /TypeScript/.test(a.name) && a.name.includes(target));
    check(lib.length === 1, `P10 (Bazel 7.7.1): TsCompile of ${target} ran once in the profiled run (${lib.length})`);
    const wait = lib[0].parts["worker.working"];
    check(wait !== undefined, `P10 (Bazel 7.7.1): the profile has the wait for ${target}'s worker`);
    action.push(lib[0].ms - (wait ?? 0));
    worker.push(wait ?? 0);
    changed.push(phaseMs(p, MERGED_PHASE, file) - lib[0].ms);
    await sleep(SETTLE_MS);
    await bazel7Ok(m, m7t.ws, ["run", ...QUIET, `--profile=${file}`, label(m7t, "x:etl_local")]);
    unchanged.push(phaseMs(summarizeProfile(readFileSync(file, "utf8")), MERGED_PHASE, file));
  }
  const [c, u] = [stat(changed), stat(unchanged)];
  return {
    action: stat(action),
    worker: stat(worker),
    other: Math.max(0, c.median - u.median),
    changed: c,
    unchanged: u,
  };
}

/** P10-ts7-bazel7-floor-bazel: floorBazelRow's sum on Bazel 7.7.1 (the wrapper's cost off the nothing-changed run). */
export function floorBazel7Row(w: Bazel7Work, floor7: Stat, watched: Stat, peer: Stat): Row {
  const total = floor7.median + watched.median + w.action.median + w.other;
  return sumRow(
    "P10-ts7-bazel7-floor-bazel",
    "informational: the floor under P10-ts7-bazel7 in Bazel — the nothing-changed run on 7.7.1 less the chroot wrapper's cost, TypeScript 7.0.2's own `tsc --watch` recompile of the change, Bazel's own part of the compile action (its span less its wait for the worker) and Bazel's other work on the change (the merged analysis-and-execution phase less the compile action, less the same phase with nothing changed), vs the hand-run native `tsc` 7.0.2 + `node dist/x/etl.js` of P10-ts7",
    total,
    peer,
    `medians: ${Math.round(floor7.median)} (nothing changed) + ${fmtMsValue(watched.median)} (tsc --watch) + ${fmtMsValue(w.action.median)} (Bazel's part of the action; its wait for the worker ${fmtMsValue(w.worker.median)}) + ${fmtMsValue(w.other)} (${w.changed.n} profiled changes: the phase less the TsCompile ${fmtMsValue(w.changed.median)}, less ${w.unchanged.n} nothing-changed runs' phase ${fmtMsValue(w.unchanged.median)}). A ratio above 1.5 means no Bazel 7.7.1 build of the change meets P10-ts7-bazel7's target here; under it, the target is within reach`,
  );
}
