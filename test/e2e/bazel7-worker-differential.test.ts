/**
 * The compile worker ≡ the sandbox on real Bazel 7.7.1 with bzlmod (scripts/bazel7.sh; the workspace's MODULE.bazel
 * is README's, with a local_path_override): the sequences of test/e2e/worker-differential.test.ts, built after every
 * step with the default strategy (TsCompile in the worker) and with `--strategy=TsCompile=sandboxed` in two output
 * bases, must agree in exit code, diagnostics and compiled bytes; the missing-dep hint names `@npm//…` as the
 * MODULE.bazel declares it, never the extension's canonical repository name.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { homedir, tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { bazel7, ensureBazel7 } from "../fixtures/bazel7";
import { initialState } from "../fixtures/worker-fuzz";
import { agree, randomEdits, REPORTED_SEQUENCES, REPORTED_START } from "../fixtures/worker-fuzz-bazel";

const tmp = mkdtempSync(join(tmpdir(), "rp-e2e-bazel7-worker-diff-"));
const ws = join(tmp, "ws");
const outputBases = { worker: join(tmp, "ob-worker"), sandbox: join(tmp, "ob-sandbox") };
const seed = process.env.PIPELINE_FUZZ_SEED ? Number(process.env.PIPELINE_FUZZ_SEED) + 1 : 19;
const steps = process.env.PIPELINE_FUZZ_STEPS ? Number(process.env.PIPELINE_FUZZ_STEPS) : 30;
// The temp dir (output bases) and npm's cache (the fixture's tarballs, added on the host) are seen inside the chroot.
const mounts = [tmp, join(homedir(), ".npm")];
const run = (dir: string, startup: string[], args: string[]) => bazel7(dir, [...startup, ...args], { mounts });

beforeAll(() => ensureBazel7());
afterAll(async () => {
  for (const ob of Object.values(outputBases)) await bazel7(ws, [`--output_base=${ob}`, "shutdown"], { mounts });
  rmSync(tmp, { recursive: true, force: true });
});

describe("Bazel 7.7.1 (bzlmod): the persistent TsCompile worker against the sandbox", () => {
  test("the three reported sequences: after each step, what a clean sandboxed build gives", async () => {
    const { answers, workerSteps, sandboxUsedWorker } = await agree(run, ws, outputBases, REPORTED_START(), REPORTED_SEQUENCES, "bazel7-worker-differential");
    expect(answers.map((a) => a.code)).toEqual([0, 1, 0, 1, 0, 1, 0]);
    const hint = answers[1].diagnostics.join("\n");
    expect(hint).toContain('hint: //app:app does not depend on "untyped". Add "@npm//:node_modules/untyped" to its deps');
    expect(hint).not.toMatch(/rules_pipeline[~+]/);
    expect(workerSteps).toBeGreaterThan(3);
    expect(sandboxUsedWorker).toBe(false);
  });

  test(`${steps} random edits (seed ${seed}): the same exit code, diagnostics and outputs after every step`, async () => {
    const { answers, workerSteps, sandboxUsedWorker } = await agree(run, ws, outputBases, initialState(), randomEdits(seed, steps), "bazel7-worker-differential");
    expect(workerSteps).toBeGreaterThan(steps / 4);
    expect(sandboxUsedWorker).toBe(false);
    expect(answers.filter((a) => a.code === 0).length).toBeGreaterThan(2);
    expect(answers.filter((a) => a.code !== 0).length).toBeGreaterThan(2);
  });
});
