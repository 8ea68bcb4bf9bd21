#!/usr/bin/env node
// The end of `npm test` (scripts/test.sh): where the run's time went, then the plain closing line CI reads.
//   node scripts/lib/test-report.js RUN_START PHASES.tsv REPORT_DIR PROJECT...
// RUN_START: the run's start (seconds since the epoch); PHASES.tsv: one line per step (name, start, end, exit code),
// written by test.sh's phase(); REPORT_DIR/PROJECT.json: vitest's JSON report of each project that was to run. A
// missing report counts as a failure (its run ended before writing one). The times are a report, never an assertion:
// the next person sees growth in the CI log.
"use strict";
const fs = require("node:fs");

const [runStart, phasesFile, reportDir, ...projects] = process.argv.slice(2);
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
for (const project of projects) {
  const f = `${reportDir}/${project}.json`;
  if (!fs.existsSync(f)) {
    failed++;
    console.error(`no test report for project ${project} (${f}): its run ended before writing one`);
    continue;
  }
  const r = JSON.parse(fs.readFileSync(f, "utf8"));
  passed += r.numPassedTests;
  failed += r.numFailedTests;
  skipped += r.numPendingTests;
  for (const t of r.testResults ?? []) {
    const name = String(t.name).replace(`${process.cwd()}/`, "");
    files.push({ project, name, seconds: (t.endTime - t.startTime) / 1000, status: t.status });
  }
}

const total = Date.now() / 1000 - t0 || 0;
console.log(`\n== where the time went (${Math.round(total)} s in all; a report, not an assertion)`);
console.log(" from    to  secs  step");
for (const p of phases) {
  console.log(`${secs(p.start)} ${secs(p.end)} ${secs(p.end - p.start)}  ${p.name}${p.rc === "0" ? "" : ` (exit ${p.rc})`}`);
}
const slowest = files.sort((a, b) => b.seconds - a.seconds).slice(0, 15);
if (slowest.length) {
  console.log("the 15 slowest files:");
  for (const f of slowest) console.log(`${secs(f.seconds)} s  ${f.project.padEnd(11)} ${f.name}${f.status === "passed" ? "" : ` (${f.status})`}`);
}
console.log(`\n${passed} passed, ${failed} failed` + (skipped ? `, ${skipped} skipped` : ""));
