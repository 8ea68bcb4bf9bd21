/**
 * Issue #12's `--all_incompatible_changes` check: a consumer workspace (examples/hello and examples/service, with
 * @rules_pipeline as an external repository) loads and analyses with every `--incompatible_*` flag of the running
 * Bazel turned on (`bazel build --nobuild`, so repository rules — including the fetch-time build of the tools — and
 * analysis run, but no build action). Bazel 4.2.3 has the expansion flag; it turns on, among others,
 * --incompatible_disallow_empty_glob, --incompatible_no_implicit_file_export,
 * --incompatible_visibility_private_attributes_at_definition and --incompatible_disallow_struct_provider_syntax.
 *
 * A package with an empty glob must fail under the same flags, so the check cannot pass by the flag being ignored.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { bazel, makeConsumerWorkspace, shutdown } from "../fixtures/bazel";

const tmp = mkdtempSync(join(tmpdir(), "rp-e2e-incompatible-"));
const FLAGS = ["build", "--nobuild", "--all_incompatible_changes"];
let ws: string;

beforeAll(() => {
  ws = makeConsumerWorkspace(tmp);
  mkdirSync(join(ws, "sanity"));
  writeFileSync(join(ws, "sanity", "BUILD.bazel"), 'filegroup(name = "empty", srcs = glob(["none/*"]))\n');
});

afterAll(() => {
  if (ws) shutdown(ws);
  rmSync(tmp, { recursive: true, force: true });
});

describe("bazel --all_incompatible_changes", () => {
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
