/**
 * The compile worker ≡ the sandbox, through real Bazel (test/fixtures/worker-fuzz-bazel.ts): a fixed seed of random
 * edits to a consumer workspace (deps added and removed, sources renamed, an exported type changed, @types added and
 * removed, a package.json `types` field moved, a tsconfig option, module_name toggled, a type error introduced and
 * fixed), built after each step with Bazel's default strategy (TsCompile in the persistent worker) and with
 * `--strategy=TsCompile=sandboxed`, in two output bases. Exit code, diagnostics and every compiled byte must agree.
 * `PIPELINE_FUZZ_SEED` / `PIPELINE_FUZZ_STEPS` run other sequences (scripts/fuzz-worker.sh).
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, test } from "vitest";
import { bazel, shutdown } from "../fixtures/bazel";
import { fuzzBazel } from "../fixtures/worker-fuzz-bazel";

const tmp = mkdtempSync(join(tmpdir(), "rp-e2e-worker-diff-"));
const ws = join(tmp, "ws");
const outputBases = { worker: join(tmp, "ob-worker"), sandbox: join(tmp, "ob-sandbox") };
const seed = process.env.PIPELINE_FUZZ_SEED ? Number(process.env.PIPELINE_FUZZ_SEED) : 18;
const steps = process.env.PIPELINE_FUZZ_STEPS ? Number(process.env.PIPELINE_FUZZ_STEPS) : 32;

afterAll(() => {
  for (const ob of Object.values(outputBases)) shutdown(ws, [`--output_base=${ob}`]);
  rmSync(tmp, { recursive: true, force: true });
});

describe("Bazel 4.2.3: the persistent TsCompile worker against the sandbox", () => {
  test(`${steps} random edits (seed ${seed}): the same exit code, diagnostics and outputs after every step`, async () => {
    const seen = { worker: 0, sandboxedOnly: true, failing: 0, passing: 0 };
    const d = await fuzzBazel((dir, startup, args) => bazel(dir, args, {}, startup), ws, outputBases, seed, steps, (step, edit, a, processes) => {
      process.stderr.write(`worker-differential: step ${step} (${edit}): exit ${a.code}, ${a.diagnostics.length} diagnostic lines\n`);
      if (/\bworker\b/.test(processes.worker)) seen.worker++;
      if (/\bworker\b/.test(processes.sandbox)) seen.sandboxedOnly = false;
      if (a.code === 0) seen.passing++;
      else seen.failing++;
    });
    expect(d && { seed, step: d.step, lastEdits: d.edits.slice(-5), worker: d.worker, sandbox: d.sandbox }).toBeUndefined();
    // Not vacuous: the default strategy did use the worker, the other never did, and both outcomes occurred.
    expect(seen.worker).toBeGreaterThan(steps / 4);
    expect(seen.sandboxedOnly).toBe(true);
    expect(seen.failing).toBeGreaterThan(2);
    expect(seen.passing).toBeGreaterThan(2);
  });
});
