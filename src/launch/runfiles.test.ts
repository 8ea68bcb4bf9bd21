import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
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
    expect(runfile(dir, "rules_pipeline_npm/node_modules/x/index.js")).toBe(
      join(dir, "rules_pipeline_npm/node_modules/x/index.js"),
    );
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
    expect(runfile(dir, "rules_pipeline_npm/node_modules")).toBe(
      join(dir, "rules_pipeline++pipeline+rules_pipeline_npm/node_modules"),
    );
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

/** The launchers' bash `rl` (runfiles_root_snippet in bazel/private/common/tools.bzl, as written into every launcher), run in `dir`. */
function bashRunfiles(dir: string, rels: string[]): string[] {
  const bzl = readFileSync(join(__dirname, "../../bazel/private/common/tools.bzl"), "utf8");
  const snippet = /def runfiles_root_snippet\(\):[\s\S]*?return """([\s\S]*?)"""/.exec(bzl)?.[1];
  if (!snippet) throw new Error("bazel/private/common/tools.bzl: no runfiles_root_snippet");
  const lines = rels.map((rel) => `rl _path ${JSON.stringify(rel)}; printf '%s\\n' "$_path"`);
  const r = spawnSync("bash", ["-c", ["set -euo pipefail", snippet, ...lines].join("\n")], {
    env: { ...process.env, RUNFILES_DIR: dir },
    encoding: "utf8",
  });
  expect(r.status, r.stderr).toBe(0);
  return r.stdout.split("\n").slice(0, -1);
}

describe("the launchers' bash lookup agrees with runfile()", () => {
  const rels = [
    "acme_pipelines",
    "acme_pipelines/a/b.js",
    "rules_pipeline/tools/preload.js",
    "rules_pipeline_npm/node_modules",
    "_main/x.js",
    "a/f",
    "x/f",
    "z",
    "y/f",
  ];
  const cases: Record<string, string | undefined> = {
    "no _repo_mapping": undefined,
    "Bazel 8's, the main repository first":
      ",acme_pipelines,_main\n,rules_pipeline,rules_pipeline+\nrules_pipeline+,rules_pipeline_npm,rp+npm\nother+,rules_pipeline_npm,else+\n",
    "the main repository's line after another's":
      "other+,rules_pipeline,wrong+\n,rules_pipeline,rules_pipeline+\nother+,rules_pipeline,wrong2+\n",
    "malformed and empty lines, no newline at the end": "garbage\n,a\n,b,c,d\n\n,z,\nother+,z,zz\n,x,y",
  };
  for (const [name, mapping] of Object.entries(cases)) {
    test(name, () => {
      const dir = tree(`bash-${Object.keys(cases).indexOf(name)}`, mapping);
      expect(bashRunfiles(dir, rels)).toEqual(rels.map((rel) => runfile(dir, rel)));
    });
  }
});

describe("stableRepoName (the /app/external/<name> of a repository)", () => {
  test.each(Object.entries(STABLE_NAMES))("%s → %s", (canonical, stable) => {
    expect(stableRepoName(canonical)).toBe(stable);
  });
});
