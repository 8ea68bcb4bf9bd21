/**
 * The compile worker ≡ the sandbox, through real Bazel 4.2.3 (test/fixtures/worker-fuzz-bazel.ts): after every step,
 * a build with Bazel's default strategy (TsCompile in the persistent worker) and one with
 * `--strategy=TsCompile=sandboxed`, from the same sources in two output bases, must give the same exit code,
 * diagnostics and compiled bytes. First the three sequences that gave stale answers (a dep added after the
 * missing-module error; `@types` removed and restored; a module-name library's index added after the failure), then
 * a fixed seed of random edits (deps, imports, renames, an exported type, a package.json `types` field, a tsconfig
 * option, module_name, a type error, a declaration error, `isolatedDeclarations`). `PIPELINE_FUZZ_SEED` / `PIPELINE_FUZZ_STEPS` run other sequences
 * (scripts/fuzz-worker.sh). test/e2e/bazel7-worker-differential.test.ts does the same on Bazel 7.7.1 with bzlmod.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll } from "vitest";
import { bazel, discard } from "../fixtures/bazel";
import { differentialSuite } from "../fixtures/worker-fuzz-bazel";

const tmp = mkdtempSync(join(tmpdir(), "rp-e2e-worker-diff-"));
const ws = join(tmp, "ws");
const outputBases = { worker: join(tmp, "ob-worker"), sandbox: join(tmp, "ob-sandbox") };
// 15 random steps through each Bazel (two seeds, with the reported sequences): what Bazel adds (the request's inputs
// and digests, the sandbox, the worker's lifetime) is checked there; the compiler's answers after many more edits are
// test/unit/tsc-worker-fuzz.test.ts's (60 steps on 5.9 and on 7.0.2, in-process, at a tenth of the cost per step).
const seed = process.env.PIPELINE_FUZZ_SEED ? Number(process.env.PIPELINE_FUZZ_SEED) : 18;
const steps = process.env.PIPELINE_FUZZ_STEPS ? Number(process.env.PIPELINE_FUZZ_STEPS) : 15;

afterAll(() => {
  for (const ob of Object.values(outputBases)) discard(ws, [`--output_base=${ob}`]);
  rmSync(tmp, { recursive: true, force: true });
});

differentialSuite("Bazel 4.2.3", (dir, startup, args) => bazel(dir, args, {}, startup), ws, outputBases, seed, steps);
