import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, test } from "vitest";
import { STABLE_NAMES } from "../../test/fixtures/repo-names";
import { repoMapping, runfile, runfilesDir, stableRepoName } from "./runfiles";

const tmp = mkdtempSync(join(tmpdir(), "rp-runfiles-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function tree(name: string, mapping?: string): string {
  const dir = join(tmp, name);
  mkdirSync(dir, { recursive: true });
  if (mapping !== undefined) writeFileSync(join(dir, "_repo_mapping"), mapping);
  return dir;
}

describe("runfile", () => {
  test("without _repo_mapping (Bazel 4-6): the path as it is", () => {
    const dir = tree("plain");
    expect(runfile(dir, "rules_pipeline_npm/node_modules/x/index.js")).toBe(join(dir, "rules_pipeline_npm/node_modules/x/index.js"));
    expect(runfile(dir, "acme_pipelines")).toBe(join(dir, "acme_pipelines"));
  });

  test("with Bazel 8's _repo_mapping: apparent names become canonical ones, the main repository's mapping first", () => {
    const dir = tree(
      "bazel8",
      [
        ",acme_pipelines,_main",
        ",rules_pipeline,rules_pipeline+",
        "rules_pipeline+,rules_pipeline,rules_pipeline+",
        "rules_pipeline+,rules_pipeline_npm,rules_pipeline++pipeline+rules_pipeline_npm",
        "other+,rules_pipeline_npm,somewhere+else",
        "",
      ].join("\n"),
    );
    expect(runfile(dir, "acme_pipelines/examples/hello/main.js")).toBe(join(dir, "_main/examples/hello/main.js"));
    expect(runfile(dir, "acme_pipelines")).toBe(join(dir, "_main"));
    expect(runfile(dir, "rules_pipeline/tools/preload.js")).toBe(join(dir, "rules_pipeline+/tools/preload.js"));
    // Only other repositories see it: the first of their mappings.
    expect(runfile(dir, "rules_pipeline_npm/node_modules")).toBe(join(dir, "rules_pipeline++pipeline+rules_pipeline_npm/node_modules"));
    // A name the file does not list (already canonical) is taken as it is.
    expect(runfile(dir, "_main/x.js")).toBe(join(dir, "_main/x.js"));
    expect(repoMapping(dir).get("rules_pipeline")).toBe("rules_pipeline+");
  });

  test("a malformed line is skipped", () => {
    const dir = tree("bad", "garbage\n,a\n,b,c,d\n,x,y\n");
    expect(runfile(dir, "a/f")).toBe(join(dir, "a/f"));
    expect(runfile(dir, "x/f")).toBe(join(dir, "y/f"));
  });

  test("runfilesDir: PIPELINE_RUNFILES_DIR, else RUNFILES_DIR, else E_RUNFILES", () => {
    expect(runfilesDir({ PIPELINE_RUNFILES_DIR: "/a", RUNFILES_DIR: "/b" })).toBe("/a");
    expect(runfilesDir({ RUNFILES_DIR: "/b" })).toBe("/b");
    expect(() => runfilesDir({})).toThrow(expect.objectContaining({ code: "E_RUNFILES" }));
  });
});

describe("stableRepoName (the /app/external/<name> of a repository)", () => {
  test.each(Object.entries(STABLE_NAMES))("%s → %s", (canonical, stable) => {
    expect(stableRepoName(canonical)).toBe(stable);
  });
});
