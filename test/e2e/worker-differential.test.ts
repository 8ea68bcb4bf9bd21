/**
 * The compile worker ≡ the sandbox, through real Bazel 4.2.3 (test/fixtures/worker-fuzz-bazel-suite.ts): after every step,
 * a build with Bazel's default strategy (TsCompile in the persistent worker) and one with
 * `--strategy=TsCompile=sandboxed`, from the same sources on one server, the latter in an output directory of its own
 * (so that neither reads the other's cached actions), must give the same exit code, diagnostics and compiled bytes. First the three sequences that gave stale answers (a dep added after the
 * missing-module error; `@types` removed and restored; a module-name library's index added after the failure), then
 * a fixed seed of random edits (deps, imports, renames, an exported type, a package.json `types` field, a tsconfig
 * option, module_name, a type error, a declaration error, `isolatedDeclarations`) with //lib on TypeScript 5.9 and
 * //lib2 and //app on 7.0.2. (bazel7-worker-differential.test.ts also runs TypeScript 7's resident sequence: each edit
 * that starts a new compiler followed by one the kept compiler answers, checked.) `PIPELINE_FUZZ_SEED` / `PIPELINE_FUZZ_STEPS` run other sequences
 * (scripts/fuzz-worker.sh). test/e2e/bazel7-worker-differential.test.ts does the same on Bazel 7.7.1 with bzlmod.
 * Both run with another user's `node_modules` above the output base and in TMPDIR (with a package.json there).
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll } from "vitest";
import { bazel, discard } from "../fixtures/bazel";
import { plantPackageAndModuleType, plantTypedPackage, sharedDir } from "../fixtures/shared-tmp";
import { differentialSuite } from "../fixtures/worker-fuzz-bazel-suite";

const tmp = mkdtempSync(join(tmpdir(), "rp-e2e-worker-diff-"));
const ws = join(tmp, "ws");
// Another user's typed `node_modules/untyped` above the output base (as in /tmp, where an output root may lie): the
// sandboxed one-shot compile does not read it, as the worker's view of the inputs does not (the reported sequences
// import `untyped` before any dep gives it); and theirs with a `"type": "module"` package.json in TMPDIR. (Not that
// package.json above the output base: Node and esbuild read it for the actions' own .js files, as on any machine.)
plantTypedPackage(sharedDir(tmp), "untyped");
const sharedTmp = sharedDir(join(tmp, "shared-tmp"));
plantPackageAndModuleType(sharedTmp, "untyped");
const outputBase = join(tmp, "ob");
// What Bazel adds (the request's inputs and digests, the sandbox, the worker's lifetime) is checked here, through the
// reported sequences and 12 random steps, whose seed makes in 11 edits every kind of edit the reported sequences do
// not (RANDOM_KINDS, checked; theirs are deps added, removed and restored, imports, the library's index, failures and
// fixes): each kind once through each Bazel is what a Bazel-level difference needs to show. The compiler's answers
// after many more edits are test/unit/tsc-worker-fuzz.test.ts's (60 steps on 5.9 and on 7.0.2, in-process, at a tenth
// of the cost per step).
const seed = process.env.PIPELINE_FUZZ_SEED ? Number(process.env.PIPELINE_FUZZ_SEED) : 2044376;
const steps = process.env.PIPELINE_FUZZ_STEPS ? Number(process.env.PIPELINE_FUZZ_STEPS) : 12;

afterAll(async () => {
  await discard(ws, [`--output_base=${outputBase}`]);
  rmSync(tmp, { recursive: true, force: true });
});

differentialSuite(
  "Bazel 4.2.3",
  (dir, startup, args) => bazel(dir, args, { TMPDIR: sharedTmp }, startup),
  ws,
  outputBase,
  seed,
  steps,
);
