/**
 * Issue #12's incompatible-flags check on Bazel 4.2.3: a consumer workspace (examples/hello and examples/service, with
 * @rules_pipeline as an external repository) loads and analyses under 4.2.3's explicit list of `--incompatible_*`
 * flags (test/fixtures/incompatible-flags.ts: what Bazel 7.7.1 and later have by default, as far as 4.2.3 has the
 * flag), with `bazel build --nobuild`, so repository rules — including the fetch-time build of the tools — and
 * analysis run, but no build action. 7.7.1's list runs in test/e2e/bazel7-bzlmod.test.ts.
 *
 * A package with an empty glob must fail under the same flags, so the check cannot pass by the flags being ignored.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { bazel, makeConsumerWorkspace, discard } from "../fixtures/bazel";
import { INCOMPATIBLE_FLAGS } from "../fixtures/incompatible-flags";

const tmp = mkdtempSync(join(tmpdir(), "rp-e2e-incompatible-"));
const FLAGS = ["build", "--nobuild", ...INCOMPATIBLE_FLAGS["4.2.3"]];
let ws: string;

beforeAll(() => {
  ws = makeConsumerWorkspace(tmp);
  mkdirSync(join(ws, "sanity"));
  writeFileSync(join(ws, "sanity", "BUILD.bazel"), 'filegroup(name = "empty", srcs = glob(["none/*"]))\n');
});

afterAll(async () => {
  if (ws) await discard(ws);
  rmSync(tmp, { recursive: true, force: true });
});

describe("Bazel 4.2.3 under its explicit --incompatible_* list", () => {
  test("the examples load and analyse in a consumer workspace", async () => {
    const r = await bazel(ws, [...FLAGS, "//examples/..."]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/Analyzed \d+ targets/);
  });

  test("the flags are in effect: an empty glob fails", async () => {
    const r = await bazel(ws, [...FLAGS, "//sanity:empty"]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain("allow_empty");
  });
});
