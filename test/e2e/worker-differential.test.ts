/**
 * The compile worker ≡ the sandbox, through real Bazel 4.2.3 (test/fixtures/worker-fuzz-bazel.ts): after every step,
 * a build with Bazel's default strategy (TsCompile in the persistent worker) and one with
 * `--strategy=TsCompile=sandboxed`, from the same sources in two output bases, must give the same exit code,
 * diagnostics and compiled bytes. First the three sequences that gave stale answers (a dep added after the
 * missing-module error; `@types` removed and restored; a module-name library's index added after the failure), then
 * a fixed seed of random edits (deps, imports, renames, an exported type, a package.json `types` field, a tsconfig
 * option, module_name, a type error). `PIPELINE_FUZZ_SEED` / `PIPELINE_FUZZ_STEPS` run other sequences
 * (scripts/fuzz-worker.sh). test/e2e/bazel7-worker-differential.test.ts does the same on Bazel 7.7.1 with bzlmod.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, test } from "vitest";
import { bazel, shutdown } from "../fixtures/bazel";
import { initialState } from "../fixtures/worker-fuzz";
import { agree, randomEdits, REPORTED_SEQUENCES, REPORTED_START } from "../fixtures/worker-fuzz-bazel";

const tmp = mkdtempSync(join(tmpdir(), "rp-e2e-worker-diff-"));
const ws = join(tmp, "ws");
const outputBases = { worker: join(tmp, "ob-worker"), sandbox: join(tmp, "ob-sandbox") };
const seed = process.env.PIPELINE_FUZZ_SEED ? Number(process.env.PIPELINE_FUZZ_SEED) : 18;
const steps = process.env.PIPELINE_FUZZ_STEPS ? Number(process.env.PIPELINE_FUZZ_STEPS) : 30;
const run = (dir: string, startup: string[], args: string[]) => bazel(dir, args, {}, startup);

afterAll(() => {
  for (const ob of Object.values(outputBases)) shutdown(ws, [`--output_base=${ob}`]);
  rmSync(tmp, { recursive: true, force: true });
});

describe("Bazel 4.2.3: the persistent TsCompile worker against the sandbox", () => {
  test("the three reported sequences: after each step, what a clean sandboxed build gives", async () => {
    const { answers, workerSteps, sandboxUsedWorker } = await agree(run, ws, outputBases, REPORTED_START(), REPORTED_SEQUENCES, "worker-differential");
    expect(answers.map((a) => a.code)).toEqual([0, 1, 0, 1, 0, 1, 0]);
    expect(answers[1].diagnostics.join("\n")).toMatch(/error TS2307: Cannot find module 'untyped'/);
    expect(answers[1].diagnostics.join("\n")).toContain('hint: //app:app does not depend on "untyped". Add "@npm//:node_modules/untyped" to its deps');
    expect(answers[5].diagnostics.join("\n")).toMatch(/error TS2307: Cannot find module '@acme\/lib'/);
    expect(workerSteps).toBeGreaterThan(3);
    expect(sandboxUsedWorker).toBe(false);
  });

  test(`${steps} random edits (seed ${seed}): the same exit code, diagnostics and outputs after every step`, async () => {
    const { answers, workerSteps, sandboxUsedWorker } = await agree(run, ws, outputBases, initialState(), randomEdits(seed, steps), "worker-differential");
    // Not vacuous: the default strategy did use the worker, the other never did, and both outcomes occurred.
    expect(workerSteps).toBeGreaterThan(steps / 4);
    expect(sandboxUsedWorker).toBe(false);
    expect(answers.filter((a) => a.code === 0).length).toBeGreaterThan(2);
    expect(answers.filter((a) => a.code !== 0).length).toBeGreaterThan(2);
  });
});
