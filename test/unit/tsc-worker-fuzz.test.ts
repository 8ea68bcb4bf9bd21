/**
 * The compile worker ≡ the sandbox (test/fixtures/worker-fuzz.ts): a fixed seed of random edits (deps added and
 * removed, files renamed, package.json `types` moved, tsconfig options, module names, type and declaration errors), compiled after
 * each step by one persistent worker and one-shot in a directory holding only the inputs; every answer must agree.
 * `PIPELINE_FUZZ_SEED` / `PIPELINE_FUZZ_STEPS` run other sequences (scripts/fuzz-worker.sh).
 */
import { describe, expect, test } from "vitest";
import { fuzzWorker, TS5, TS7 } from "../fixtures/worker-fuzz";

const seed = process.env.PIPELINE_FUZZ_SEED ? Number(process.env.PIPELINE_FUZZ_SEED) : 18;
const steps = process.env.PIPELINE_FUZZ_STEPS ? Number(process.env.PIPELINE_FUZZ_STEPS) : 60;

describe("tsc_worker.js under any sequence of edits", () => {
  // TypeScript 5.9 in-process (an incremental program per target) and 7.0.2's native tsc (one-shot in a tree of the
  // request's inputs): each worker must answer as the sandbox does.
  for (const [name, compiler] of [
    ["5.9", TS5],
    ["7.0.2", TS7],
  ] as const) {
    test(
      `TypeScript ${name}: ${steps} random steps (seed ${seed}): the worker's answer equals the sandbox's after each`,
      async () => {
        const d = await fuzzWorker(
          seed,
          steps,
          (step) => {
            if (step % 25 === 0)
              process.stderr.write(`tsc-worker-fuzz: TypeScript ${name}, seed ${seed}, step ${step} of ${steps}\n`);
          },
          compiler,
        );
        expect(
          d && { seed, step: d.step, lastEdits: d.edits.slice(-4), worker: d.worker, sandbox: d.sandbox },
        ).toBeUndefined();
      },
      60_000 + steps * 30_000,
    );
  }
});
