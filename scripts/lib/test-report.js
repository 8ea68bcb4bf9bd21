#!/usr/bin/env node
// The end of `npm test` (scripts/test.sh): where the run's time went, then the plain closing line CI reads.
//   node scripts/lib/test-report.js RUN_START PHASES.tsv REPORT_DIR RUN...
// RUN_START: the run's start (seconds since the epoch); PHASES.tsv: one line per step (name, start, end, exit code),
// written by test.sh's phase(); REPORT_DIR/RUN.json: vitest's JSON report of each vitest run that was to happen. A
// missing report counts as a failure (its run ended before writing one). The times are a report, never an assertion:
// the next person sees growth in the CI log. With PIPELINE_TEST_DURATIONS_OUT=FILE (test/durations.json), each file's
// seconds are merged into FILE, which vitest.config.ts reads to run the longest files first.
"use strict";
const fs = require("node:fs");

const [runStart, phasesFile, reportDir, ...runs] = process.argv.slice(2);
const t0 = Number(runStart);
const secs = (s) => `${Math.round(s)}`.padStart(5);

const phases = fs.existsSync(phasesFile)
  ? fs
      .readFileSync(phasesFile, "utf8")
      .split("\n")
      .filter(Boolean)
      .map((l) => {
        const [name, start, end, rc] = l.split("\t");
        return { name, start: Number(start) - t0, end: Number(end) - t0, rc };
      })
      .sort((a, b) => a.start - b.start)
  : [];

let passed = 0;
let failed = 0;
let skipped = 0;
const files = [];
/** What failed, for the lines just above the closing one: a CI log shown by its tail still names them. */
const failures = [];
const firstLine = (text) =>
  String(text ?? "")
    .replace(/\x1b\[[0-9;]*m/g, "")
    .split("\n")
    .find((l) => l.trim()) ?? "";
for (const run of runs) {
  const f = `${reportDir}/${run}.json`;
  if (!fs.existsSync(f)) {
    failed++;
    console.error(`no test report for the vitest run ${run} (${f}): it ended before writing one`);
    continue;
  }
  const r = JSON.parse(fs.readFileSync(f, "utf8"));
  passed += r.numPassedTests;
  failed += r.numFailedTests;
  skipped += r.numPendingTests;
  for (const t of r.testResults ?? []) {
    const name = String(t.name).replace(`${process.cwd()}/`, "");
    const project = name.startsWith("test/e2e/k8s-real-")
      ? "e2e-cluster"
      : name.startsWith("test/e2e/")
        ? "e2e"
        : "unit";
    files.push({ project, name, seconds: (t.endTime - t.startTime) / 1000, status: t.status });
    const bad = (t.assertionResults ?? []).filter((a) => a.status === "failed");
    for (const a of bad) failures.push(`${name} > ${a.fullName}: ${firstLine(a.failureMessages?.[0]).slice(0, 300)}`);
    // A file that failed outside its tests (its set-up, an import): its own message.
    if (t.status === "failed" && !bad.length) failures.push(`${name}: ${firstLine(t.message).slice(0, 300)}`);
  }
}

const total = Date.now() / 1000 - t0 || 0;
console.log(`\n== where the time went (${Math.round(total)} s in all; a report, not an assertion)`);
console.log(" from    to  secs  step");
for (const p of phases) {
  console.log(
    `${secs(p.start)} ${secs(p.end)} ${secs(p.end - p.start)}  ${p.name}${p.rc === "0" ? "" : ` (exit ${p.rc})`}`,
  );
}
const slowest = files.sort((a, b) => b.seconds - a.seconds).slice(0, 15);
if (slowest.length) {
  console.log("the 15 slowest files:");
  for (const f of slowest)
    console.log(
      `${secs(f.seconds)} s  ${f.project.padEnd(11)} ${f.name}${f.status === "passed" ? "" : ` (${f.status})`}`,
    );
}
// CPU time: the machine's over the run (/proc/stat's first line at its start and end, scripts/test.sh), and each file's
// (test/fixtures/cpu-per-file.ts: a cgroup per file, what it started included), which its neighbours' load does not
// inflate as it does the wall time above.
const cpuOf = (f) => {
  if (!fs.existsSync(f)) return undefined;
  const v = fs.readFileSync(f, "utf8").trim().split(/\s+/).slice(1).map(Number); // user nice system idle iowait ...
  return { busy: v.reduce((a, b) => a + b, 0) - v[3] - v[4], idle: v[3], iowait: v[4] };
};
const [c0, c1] = [cpuOf(`${reportDir}/cpu-start`), cpuOf(`${reportDir}/cpu-end`)];
if (c0 && c1) {
  const hz = 100; // USER_HZ
  const s = (k) => Math.round((c1[k] - c0[k]) / hz);
  console.log(`CPU: ${s("busy")} core-s busy, ${s("idle")} idle, ${s("iowait")} iowait (all cores, the whole run)`);
}
const cpuFile = `${reportDir}/cpu.tsv`;
if (fs.existsSync(cpuFile)) {
  const rows = fs
    .readFileSync(cpuFile, "utf8")
    .split("\n")
    .filter(Boolean)
    .map((l) => {
      const [seconds, name] = l.split("\t");
      return { seconds: Number(seconds), name };
    });
  const sum = rows.reduce((a, r) => a + r.seconds, 0);
  console.log(
    `the 15 files using the most CPU (core-s; ${rows.length} files measured, ${Math.round(sum)} core-s in all):`,
  );
  for (const r of rows.sort((a, b) => b.seconds - a.seconds).slice(0, 15))
    console.log(`${secs(r.seconds)} core-s  ${r.name}`);
} else {
  console.log("no CPU time per file (it needs a writable cgroup v1 cpuacct hierarchy: scripts/test.sh)");
}

const out = process.env.PIPELINE_TEST_DURATIONS_OUT;
if (out) {
  const known = fs.existsSync(out) ? JSON.parse(fs.readFileSync(out, "utf8")) : {};
  for (const f of files) known[f.name] = Math.round(f.seconds * 10) / 10;
  const sorted = Object.fromEntries(
    Object.keys(known)
      .sort()
      .map((k) => [k, known[k]]),
  );
  fs.writeFileSync(out, `${JSON.stringify(sorted, null, 2)}\n`);
  console.log(`wrote each file's seconds to ${out}`);
}
if (failures.length) {
  console.log(`\nfailed (${failures.length}; the run's output above has each one's whole message):`);
  for (const f of failures) console.log(`  ${f}`);
}
console.log(`\n${passed} passed, ${failed} failed` + (skipped ? `, ${skipped} skipped` : ""));
