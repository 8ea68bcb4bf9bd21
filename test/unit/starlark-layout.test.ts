/**
 * Issue #12's Starlark layout, kept true: every file under bazel/private declares at most one rule (a `rule`,
 * `repository_rule` or `module_extension`), like rules_oci's one-rule-per-file, and docs/development.md's "Layout of
 * this repository" table names exactly the files bazel/ holds (no file missing from it, no row for a file that is gone).
 */
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, test } from "vitest";

const ROOT = join(__dirname, "..", "..");
const PRIVATE = join(ROOT, "bazel", "private");
const RULE = /^(\w+)\s*=\s*(rule|repository_rule|module_extension)\(/gm;

/** The top-level names a Starlark file binds to `rule(...)`, `repository_rule(...)` or `module_extension(...)`. */
function declaredRules(text: string): string[] {
  return [...text.matchAll(RULE)].map((m) => m[1]);
}

/** The file names in the first column of docs/development.md's layout table, relative to bazel/. */
function layoutTableFiles(readme: string): string[] {
  const start = readme.indexOf("## Layout of this repository");
  expect(start, 'docs/development.md has no "## Layout of this repository" section').toBeGreaterThan(-1);
  const section = readme.slice(start).split("\n## ")[0];
  return [...section.matchAll(/^\| `([^`]+)` \|/gm)].map((m) => m[1]);
}

describe("Starlark layout", () => {
  test("declaredRules finds each kind of rule and nothing else", () => {
    const text =
      "x = rule(\n  implementation = _i,\n)\ny = repository_rule(implementation = _j)\nz = module_extension(implementation = _k)\nw = provider()\n# v = rule(\n";
    expect(declaredRules(text)).toEqual(["x", "y", "z"]);
  });

  test("each file under bazel/private declares at most one rule", () => {
    const files = readdirSync(PRIVATE).filter((f) => f.endsWith(".bzl"));
    expect(files.length).toBeGreaterThan(20);
    const crowded = files
      .map((f) => ({ file: f, rules: declaredRules(readFileSync(join(PRIVATE, f), "utf8")) }))
      .filter((x) => x.rules.length > 1);
    expect(crowded, `files declaring more than one rule: ${JSON.stringify(crowded)}`).toEqual([]);
  });

  test("docs/development.md's layout table names every file of bazel/ and bazel/private, and only those", () => {
    const listed = layoutTableFiles(readFileSync(join(ROOT, "docs", "development.md"), "utf8"));
    const present = [
      ...readdirSync(join(ROOT, "bazel")).filter((f) => f.endsWith(".bzl")),
      ...readdirSync(PRIVATE)
        .filter((f) => f.endsWith(".bzl") || f.endsWith(".js"))
        .map((f) => `private/${f}`),
    ];
    expect([...listed].sort()).toEqual([...present].sort());
    expect(new Set(listed).size, "a file has two rows").toBe(listed.length);
  });
});
