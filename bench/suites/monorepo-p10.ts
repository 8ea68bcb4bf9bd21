/**
 * P10: a one-line library change to a local run (`bazel run //x:etl_local`) against a hand-run incremental tsc +
 * running the program, on the generated monorepo of bench/lib/monorepo.ts; with TypeScript 7 and on Bazel 7.7.1 in
 * the same rounds, the TsCompile of //lib split into the worker's part and Bazel's, and the floor rows that say what
 * no compile can take away (bench/lib/monorepo-floors.ts).
 */
import { bazelOk, QUIET } from "../lib/bazel";
import { type Ctx, quiet, row } from "../lib/context";
import { bazelLocal, label, monorepo, peerProjects, tscAndRun } from "../lib/monorepo-sides";
import { bazel7Local, bazel7Ok, monorepo7, monorepo7Ts7 } from "../lib/monorepo-bazel7";
import { bazel7Work, fileCheck, fileCheckRows, floorBazel7Row, floorBazelRow, sumRow } from "../lib/monorepo-floors";
import { monorepoTs7, peerTs7, tsc7AndRun, tscLibByHand, tscWatchLatency, tsCompileOfLib } from "../lib/monorepo-ts7";
import { runOk, samplesOf, type Stat, stat } from "../lib/measure";
import { rounds } from "../lib/rounds";
import { fmtInt, fmtMs, fmtMsValue, type Row } from "../lib/report";
import { Parts, profiled, repsOf, SERVER_WARMUP, warmServers } from "./monorepo";

export async function p10(ctx: Ctx): Promise<Row[]> {
  const m = await monorepo(ctx);
  const m7 = await monorepo7(ctx, m);
  const mt = await monorepoTs7(ctx, m);
  const m7t = await monorepo7Ts7(ctx, m);
  const peers = await peerProjects(ctx, m);
  const peer7Dir = await peerTs7(m, peers.tsc);
  const warmup = ctx.smoke ? 0 : 1;
  const parts = new Parts();
  const parts7 = new Parts();
  // The Bazel servers brought to their steady state before the rounds (SERVER_WARMUP).
  await warmServers(ctx, [
    () => bazelLocal(m),
    () => bazel7Local(m, m7),
    () => bazelLocal(mt.m),
    () => bazel7Local(m, m7t),
  ]);
  await quiet(ctx);
  const [ours, peer, ours7, oursTs7, peerTs7Stat, oursTs7b7] = await rounds(repsOf(ctx), warmup, [
    async () => (await bazelLocal(m)).ms,
    async () => {
      const r = await tscAndRun(m, peers.tsc);
      parts.add(r.parts);
      return r.ms;
    },
    async () => (await bazel7Local(m, m7)).ms,
    async () => (await bazelLocal(mt.m)).ms,
    async () => {
      const r = await tsc7AndRun(m, peer7Dir);
      parts7.add(r.parts);
      return r.ms;
    },
    async () => (await bazel7Local(m, m7t)).ms,
  ]);
  if (warmup) for (const p of [parts, parts7]) p.dropFirst();
  // TsCompile of //lib alone, 5.9 in its worker against 7 run one-shot by the worker, from profiled runs (alternating).
  const tsc = await tsCompileOfLib(m, mt.m, ctx.smoke ? 1 : 5, ctx.smoke ? 1 : 2);
  // Its floor: the native tsc run by hand on the same library after the same change; and what tsc --watch would give.
  const byHand = await tscLibByHand(m, peer7Dir, ctx.smoke ? 1 : 5);
  const watchWait = 10_000;
  const watchedMs = await tscWatchLatency(m, peer7Dir, ctx.smoke ? 1 : 5, watchWait);
  const watched = watchedMs && stat(watchedMs);
  const where = await profiled(m, "p10", "//x:etl_local");
  // The floor under the TypeScript 7 rows: the same warm `bazel run //x:etl_local` with nothing changed (Bazel's
  // client and server, the up-to-date check, the program's run), no compile at all.
  const floor = await samplesOf(
    ctx.smoke ? 1 : 5,
    async () => (await bazelOk(mt.m.ws, ["run", ...QUIET, label(mt.m, "x:etl_local")])).ms,
  );
  // The same on Bazel 7.7.1 (its TypeScript 7 targets), less the chroot wrapper's own cost per command.
  const floor7 = await samplesOf(
    ctx.smoke ? 1 : 5,
    async () => (await bazel7Ok(m, m7t.ws, ["run", ...QUIET, label(m7t, "x:etl_local")])).ms - m7t.wrapperMs,
  );
  // Of those floors, Bazel's check of the source files it tracks (4.2.3's profile; 7.7.1 with and without the check).
  const fc = await fileCheck(m, mt.m, m7t, ctx.smoke ? 1 : 5);
  const work7 = await bazel7Work(m, m7t, ctx.smoke ? 1 : 5);
  // For scale: Node's own start, which the program's run includes.
  const node = await samplesOf(3, async () => (await runOk(process.execPath, ["-e", "0"])).ms);
  /** A floor row: a nothing-changed run (`base`) plus TypeScript 7's own recompile of the change, against the peer. */
  const floorCompileRow = (key: string, what: string, base: Stat, baseSaid: string, meaning: string, w: Stat) =>
    sumRow(
      key,
      what,
      base.median + w.median,
      peerTs7Stat,
      `medians: ${Math.round(base.median)} ms (${baseSaid}) + ${Math.round(w.median)} ms (tsc --watch, ${w.n} changes); ${meaning}`,
    );
  return [
    row({
      id: "P10",
      key: "P10-wall",
      what: `one-line change in //lib → warm \`bazel run //x:etl_local\` vs a hand-run incremental \`tsc -p\` of the same change + running the program (\`node dist/x/etl.js\`)`,
      ours: fmtMs(ours),
      peer: fmtMs(peer),
      ratio: ours.median / peer.median,
      target: "≤ 0.5",
      met: ours.median / peer.median <= 0.5,
      notes: `each Bazel side warmed by ${ctx.smoke ? 0 : SERVER_WARMUP} unmeasured changes before the rounds (its server at steady state); peer: ${parts.describe()} (\`node -e 0\`: ${Math.round(node.median)} ms); both sides check the program printed the changed value; the peer's tsconfig is Bazel's options plus incremental (dist/.tsbuildinfo), and it type-checks every @types package in node_modules as tsc does by default. ${where}`,
    }),
    row({
      id: "P10",
      key: "P10-bazel7",
      what: "the same change → warm `bazel run //x:etl_local` on Bazel 7.7.1 with bzlmod vs the same hand-run `tsc -p` + `node dist/x/etl.js`",
      ours: fmtMs(ours7),
      peer: fmtMs(peer),
      ratio: ours7.median / peer.median,
      target: "≤ 0.5",
      met: ours7.median / peer.median <= 0.5,
      notes: `in the same rounds as the 4.2.3 row (4.2.3: ${fmtMs(ours)}); README's MODULE.bazel, through scripts/bazel7.sh's chroot (its own cost, \`scripts/bazel7.sh probe\` with \`true\` in place of Bazel: ${Math.round(m7.wrapperMs)} ms, in every sample)`,
    }),
    row({
      id: "P10",
      key: "P10-ts7",
      what: "the same change with TypeScript 7.0.2 → warm `bazel run //x:etl_local` (Bazel 4.2.3) vs a hand-run native `tsc` 7.0.2 (incremental) + `node dist/x/etl.js`",
      ours: fmtMs(oursTs7),
      peer: fmtMs(peerTs7Stat),
      ratio: oursTs7.median / peerTs7Stat.median,
      target: "≤ 1.3",
      met: oursTs7.median / peerTs7Stat.median <= 1.3,
      notes: `in the same rounds as the 5.9 rows (5.9: ours ${fmtMs(ours)}, peer ${fmtMs(peer)}); ours: the TypeScript 7 targets of P9-ts7-podman (\`//ts7/x:etl_local\`); peer: ${parts7.describe()}, the native binary run directly (test/compilers' typescript 7.0.2; \`npx tsc\` adds Node's start for its launcher), the peers' tsconfig without \`baseUrl\` and \`moduleResolution: "node"\` (TypeScript 7 refuses both), incremental (dist/.tsbuildinfo)`,
    }),
    row({
      id: "P10",
      key: "P10-ts7-bazel7",
      what: "the same change with TypeScript 7.0.2 → warm `bazel run //x:etl_local` on Bazel 7.7.1 with bzlmod vs the same hand-run native `tsc` 7.0.2 + `node dist/x/etl.js` (the ratio without the chroot wrapper's own cost per command)",
      ours: fmtMs(oursTs7b7),
      peer: fmtMs(peerTs7Stat),
      ratio: (oursTs7b7.median - m7t.wrapperMs) / peerTs7Stat.median,
      target: "≤ 1.5",
      met: (oursTs7b7.median - m7t.wrapperMs) / peerTs7Stat.median <= 1.5,
      notes: `in the same rounds as the 4.2.3 rows (4.2.3 with TypeScript 7: ${fmtMs(oursTs7)}); the TypeScript 7 targets of P9-ts7-bazel7-podman; through scripts/bazel7.sh's chroot (its own cost, \`scripts/bazel7.sh probe\` with \`true\` in place of Bazel: ${Math.round(m7t.wrapperMs)} ms, in every sample)`,
    }),
    row({
      id: "P10",
      key: "P10-ts7-floor",
      what: "informational: the floor under P10-ts7 — warm `bazel run //ts7/x:etl_local` (the TypeScript 7 targets, Bazel 4.2.3) with nothing changed, vs the hand-run native `tsc` 7.0.2 + `node dist/x/etl.js` of P10-ts7",
      ours: fmtMs(floor),
      peer: fmtMs(peerTs7Stat),
      ratio: floor.median / peerTs7Stat.median,
      target: "—",
      notes: `${floor.n} runs after the rounds: Bazel's client and server, the up-to-date check and the program's run, no compile; a ratio above 1.3 here means P10-ts7's target cannot be met by any compile`,
    }),
    ...(watched
      ? [
          floorCompileRow(
            "P10-ts7-floor-compile",
            "informational: the floor under P10-ts7 with the change compiled — the nothing-changed run above plus TypeScript 7.0.2's own `tsc --watch` recompile of the same change (what a compile kept resident needs at least), vs the hand-run native `tsc` 7.0.2 + `node dist/x/etl.js` of P10-ts7",
            floor,
            "nothing changed",
            "a ratio above 1.3 means no Bazel build of the change meets P10-ts7's target here, however fast its compile is kept",
            watched,
          ),
          floorBazelRow(fc, floor, watched, tsc, peerTs7Stat),
          floorBazel7Row(work7, floor7, watched, peerTs7Stat),
          floorCompileRow(
            "P10-ts7-bazel7-floor-compile",
            "informational: the floor under P10-ts7-bazel7 — warm `bazel run //ts7/x:etl_local` on Bazel 7.7.1 with nothing changed, less the chroot wrapper's own cost per command, plus TypeScript 7.0.2's own `tsc --watch` recompile of the change, vs the hand-run native `tsc` 7.0.2 + `node dist/x/etl.js` of P10-ts7",
            floor7,
            `nothing changed, ${floor7.n} runs, the wrapper's ${Math.round(m7t.wrapperMs)} ms taken off each`,
            "a ratio above 1.5 means no Bazel 7.7.1 build of the change meets P10-ts7-bazel7's target here",
            watched,
          ),
        ]
      : []),
    ...fileCheckRows(fc, floor, peerTs7Stat),
    row({
      id: "P10",
      key: "P10-tscompile-ts7",
      what: `TsCompile of //lib (${m.src.libFiles} modules) after the one-line change, from \`bazel run --profile\` of \`//x:etl_local\`: TypeScript 7.0.2 (the worker answers through the target's resident native \`tsc --watch\`, its program kept in memory, in a tree of the request's inputs) vs 5.9 in the persistent worker (incremental program)`,
      ours: fmtMs(tsc.ts7.action),
      peer: fmtMs(tsc.ts59.action),
      ratio: tsc.ts7.action.median / tsc.ts59.action.median,
      target: "≤ 1.0",
      met: tsc.ts7.action.median / tsc.ts59.action.median <= 1,
      notes: `${tsc.ts7.action.n} profiled runs per compiler (//lib:lib and //ts7/lib:lib of the same workspace), alternating (ABBA), each change 600 ms after the last build (tsc's watcher waits 50 ms before a build within 500 ms of its last: back-to-back requests of one TypeScript 7 target pay that), after the rounds; Bazel's span of the action (the worker's request included). Of it, medians: the worker's answer (its first byte read to its answer written, as it logs it with \`${"--worker_extra_flag=TsCompile=--timings"}\`) ${fmtMsValue(tsc.ts7.worker.median)} for TypeScript 7 and ${fmtMsValue(tsc.ts59.worker.median)} for 5.9; the rest, Bazel's own part, ${fmtMsValue(tsc.ts7.bazel.median)} and ${fmtMsValue(tsc.ts59.bazel.median)}`,
    }),
    row({
      id: "P10",
      key: "P10-tscompile-ts7-floor",
      what: `informational: the floor under a one-shot TypeScript 7 TsCompile — the native \`tsc\` 7.0.2 run by hand (no Bazel, no worker) on the peer's //util and //lib after the same one-line change, \`--incremental\` and \`--singleThreaded\` as the worker runs it, vs 5.9's TsCompile of //lib in its worker`,
      ours: fmtMs(byHand),
      peer: fmtMs(tsc.ts59.action),
      ratio: byHand.median / tsc.ts59.action.median,
      target: "—",
      notes: `${byHand.n} samples after the profiled runs (5.9's are P10-tscompile-ts7's); the hand-run project compiles util's sources where the action reads its .d.ts. A ratio above 1.0 means P10-tscompile-ts7's target cannot be met by any one-shot compile: only a compiler that stays resident between requests could. TypeScript 7.0.2's \`tsc --watch\` on the same project, the change written, waited ${watchWait / 1000} s per change: ${watched ? `recompiled in ${fmtMs(watched)}` : "did not notice the change (7.0.2 watches no directory within two levels of /; TS_WATCH_DEBUG=1 prints 'no watchable ancestor')"}: what a compiler resident between requests could give; its API (\`typescript/unstable/sync\`) checks but does not emit`,
    }),
    ...(watched
      ? [
          row({
            id: "P10",
            key: "P10-tscompile-ts7-watch",
            what: "informational: the floor under a resident TypeScript 7 TsCompile — TypeScript 7.0.2's own `tsc --watch` recompiling the peer's project after the same one-line change, without a `.tsbuildinfo` (its fastest rebuild; no Bazel, no worker), vs 5.9's TsCompile of //lib in its worker",
            ours: fmtMs(watched),
            peer: fmtMs(tsc.ts59.action),
            ratio: watched.median / tsc.ts59.action.median,
            target: "—",
            notes: `${watched.n} changes, each waited for (the change written to tsc's last output line); a ratio above 1.0 means P10-tscompile-ts7's target cannot be met by TypeScript 7.0.2 here, resident or not`,
          }),
          row({
            id: "P10",
            key: "P10-tscompile-ts7-floor-bazel",
            what: "informational: the floor under a resident TypeScript 7 TsCompile in Bazel — TypeScript 7.0.2's own `tsc --watch` recompile of the change (the row above) plus Bazel's own part of 5.9's TsCompile of //lib (the action's span less its worker's answer), vs 5.9's TsCompile of //lib in its worker",
            ours: `${fmtInt(Math.round(watched.median + tsc.ts59.bazel.median))} ms`,
            peer: fmtMs(tsc.ts59.action),
            ratio: (watched.median + tsc.ts59.bazel.median) / tsc.ts59.action.median,
            target: "—",
            notes: `medians: ${fmtMsValue(watched.median)} (tsc --watch) + ${fmtMsValue(tsc.ts59.bazel.median)} (Bazel's part of 5.9's action, ${tsc.ts59.bazel.n} samples: its span less the answer its worker logged, ${fmtMsValue(tsc.ts59.worker.median)}); TypeScript 7's action: Bazel's part ${fmtMsValue(tsc.ts7.bazel.median)}, its worker's answer ${fmtMsValue(tsc.ts7.worker.median)} (${fmtMsValue(tsc.ts7.worker.median - watched.median)} over tsc --watch's recompile). A ratio above 1.0 means P10-tscompile-ts7's target cannot be met by a compile kept resident in TypeScript 7.0.2's own watch, however little a worker adds to it: 5.9's worker answers the change faster than tsc 7 recompiles it`,
          }),
        ]
      : []),
  ];
}
