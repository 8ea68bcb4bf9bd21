/**
 * The compile worker ≡ the sandbox on real Bazel 7.7.1 with bzlmod (scripts/bazel7.sh; the workspace's MODULE.bazel
 * is README's, with a local_path_override): the suite of test/e2e/worker-differential.test.ts
 * (test/fixtures/worker-fuzz-bazel-suite.ts) with another seed; the missing-dep hint names `@npm//…` as the MODULE.bazel
 * declares it, never the extension's canonical repository name. Its sandboxed side starts the one-shot compiles from
 * the compiler snapshot (`--@rules_pipeline//bazel:tsc_snapshot`; 4.2.3's side runs them without it): the worker ≡
 * a compile from the snapshot, and each of them took the compiler from it. Another user's `node_modules` lies above
 * the output base and in TMPDIR, as in worker-differential.test.ts.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll } from "vitest";
import { bazel7, ensureBazel7 } from "../fixtures/bazel7";
import { plantPackageAndModuleType, plantTypedPackage, sharedDir } from "../fixtures/shared-tmp";
import { SANDBOXED_FROM_SNAPSHOT } from "../fixtures/worker-fuzz-bazel";
import { differentialSuite } from "../fixtures/worker-fuzz-bazel-suite";

const tmp = mkdtempSync(join(tmpdir(), "rp-e2e-bazel7-worker-diff-"));
const ws = join(tmp, "ws");
const outputBase = join(tmp, "ob");
// Another seed that makes every kind of edit the reported sequences do not, here in 12 edits (as
// worker-differential.test.ts says).
const seed = process.env.PIPELINE_FUZZ_SEED ? Number(process.env.PIPELINE_FUZZ_SEED) + 1 : 1095792;
const steps = process.env.PIPELINE_FUZZ_STEPS ? Number(process.env.PIPELINE_FUZZ_STEPS) : 13;
// The temp dir (output bases) and npm's cache (the fixture's tarballs, added on the host) are seen inside the chroot.
const mounts = [tmp];
// Another user's node_modules above the output base, and theirs with a package.json in TMPDIR
// (worker-differential.test.ts).
plantTypedPackage(sharedDir(tmp), "untyped");
const env = { TMPDIR: sharedDir(join(tmp, "shared-tmp")) };
plantPackageAndModuleType(env.TMPDIR, "untyped");

beforeAll(() => ensureBazel7());
afterAll(async () => {
  await bazel7(ws, [`--output_base=${outputBase}`, "shutdown"], { mounts, hostNpmCache: true, env });
  rmSync(tmp, { recursive: true, force: true });
});

differentialSuite(
  "Bazel 7.7.1 (bzlmod)",
  (dir, startup, args) => bazel7(dir, [...startup, ...args], { mounts, hostNpmCache: true, env }),
  ws,
  outputBase,
  seed,
  steps,
  SANDBOXED_FROM_SNAPSHOT,
  { resident: true },
);
