/**
 * The environment contract (src/environment/) lists every PIPELINE_* variable, and the files generated from it are
 * current: bazel/private/common/environment.bzl (the names Starlark uses) and docs/environment.md. This fails when a
 * PIPELINE_* name used in the checkout is not listed, when a listed one is used nowhere, when a path the catalogue
 * names does not exist, or when a generated file is stale. To regenerate after changing the catalogue:
 *   PIPELINE_UPDATE_GENERATED=1 npx vitest run --project unit test/unit/environment.test.ts
 */
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, test } from "vitest";
import { ENVIRONMENT_SECTIONS, ENVIRONMENT_VARIABLES, FAMILY } from "../../src/environment/catalogue";
import { REPO_ROOT } from "../fixtures/repo";
import { namesUsed, sourceFiles } from "../fixtures/source-files";

const BZL = "bazel/private/common/environment.bzl";
const DOC = "docs/environment.md";
const NAME = /\bPIPELINE_[A-Z0-9_]+/g;
const PREFIX = "PIPELINE_";
const GENERATED = `GENERATED from src/environment/ by test/unit/environment.test.ts (PIPELINE_UPDATE_GENERATED=1): do not edit.`;

const listed = Object.keys(ENVIRONMENT_VARIABLES);
const families = listed.filter((n) => n.endsWith(FAMILY)).map((n) => n.slice(0, -FAMILY.length));

/** The catalogue's entry a name belongs to: itself, or the family whose prefix it starts with. */
function entryOf(name: string): string | undefined {
  if (listed.includes(name)) return name;
  const family = families.find((p) => name.startsWith(p));
  return family === undefined ? undefined : `${family}${FAMILY}`;
}

function renderBzl(): string {
  const names = ENVIRONMENT_SECTIONS.filter((s) => s.starlark)
    .flatMap((s) => Object.keys(s.variables))
    .filter((n) => !n.endsWith(FAMILY))
    .sort();
  return [
    '"""The PIPELINE_* environment variables the rules set or read: Starlark takes their names from here.',
    "",
    GENERATED,
    "docs/environment.md says who sets each, who reads it and its format.",
    '"""',
    "",
    "ENV = struct(",
    ...names.map((n) => `    ${n.slice(PREFIX.length)} = "${n}",`),
    ")",
    "",
  ].join("\n");
}

function renderDoc(): string {
  const cell = (s: string) => s.replaceAll("|", "\\|");
  const out = [
    "# Environment variables",
    "",
    `<!-- ${GENERATED} -->`,
    "",
    "Every `PIPELINE_*` variable rules_pipeline sets or reads: who sets it, who reads it, what a value looks like.",
    "Starlark takes the names from `bazel/private/common/environment.bzl`; both files come from `src/environment/`.",
  ];
  for (const s of ENVIRONMENT_SECTIONS) {
    out.push(
      "",
      `## ${s.title}`,
      "",
      "| Variable | Set by | Read by | Format | What it does |",
      "| --- | --- | --- | --- | --- |",
    );
    for (const [name, v] of Object.entries(s.variables)) {
      out.push(`| \`${name}\` | ${cell(v.setBy)} | ${cell(v.readBy)} | ${cell(v.format)} | ${cell(v.meaning)} |`);
    }
  }
  return `${out.join("\n")}\n`;
}

function checkGenerated(path: string, want: string): void {
  if (process.env.PIPELINE_UPDATE_GENERATED) writeFileSync(join(REPO_ROOT, path), want);
  expect(
    readFileSync(join(REPO_ROOT, path), "utf8"),
    `${path} is stale: regenerate with PIPELINE_UPDATE_GENERATED=1 (see this test's header)`,
  ).toBe(want);
}

describe("the environment contract", () => {
  const files = [
    ...sourceFiles(["src", "tools", "bazel", "bootstrap", "scripts", "test", "examples", "docs", "bench", "packages"]),
    "README.md",
    "BUILD.bazel",
    "MODULE.bazel",
    "WORKSPACE",
  ].filter((f) => !f.startsWith("src/environment/") && f !== BZL && f !== DOC && f !== "test/unit/environment.test.ts");
  const used = namesUsed(NAME, files);

  test("lists every PIPELINE_* name used in the checkout", () => {
    const missing = [...used].filter(([name]) => !entryOf(name)).map(([name, file]) => `${name} (${file})`);
    expect(missing, "names missing from src/environment/ (add an entry to the part they belong to)").toEqual([]);
    expect(used.size).toBeGreaterThan(50);
  });

  test("lists no variable that is used nowhere", () => {
    const usedEntries = new Set([...used.keys()].map(entryOf));
    expect(listed.filter((n) => !usedEntries.has(n))).toEqual([]);
  });

  test("names once each variable, and only paths that exist", () => {
    const all = ENVIRONMENT_SECTIONS.flatMap((s) => Object.keys(s.variables));
    expect(all.length, "a variable in two parts").toBe(new Set(all).size);
    for (const [name, v] of Object.entries(ENVIRONMENT_VARIABLES)) {
      expect(name).toMatch(/^PIPELINE_[A-Z0-9_]+(<NAME>)?$/);
      const paths = [...`${v.setBy} ${v.readBy}`.matchAll(/`((?:src|tools|bazel|scripts|test)\/[^`\s']*)/g)].map(
        (m) => m[1],
      );
      expect(
        paths.filter((p) => !existsSync(join(REPO_ROOT, p))),
        `${name}: paths that do not exist`,
      ).toEqual([]);
    }
  });

  test("Starlark takes the names from environment.bzl: no .bzl file spells one out in code", () => {
    const spelled: string[] = [];
    for (const file of sourceFiles(["bazel"], [".bzl"]).filter((f) => f !== BZL)) {
      // Docstrings, comments and attributes' doc= strings may name variables for readers; code takes them from ENV.
      const code = readFileSync(join(REPO_ROOT, file), "utf8").replace(/"""[\s\S]*?"""/g, (doc) =>
        doc.replace(/[^\n]/g, ""),
      );
      code.split("\n").forEach((line, i) => {
        const text = line.replace(/#.*/, "");
        if (!/\bdoc = /.test(text) && NAME.test(text)) spelled.push(`${file}:${i + 1}: ${text.trim()}`);
        NAME.lastIndex = 0;
      });
    }
    expect(spelled, "use ENV.<NAME> from environment.bzl").toEqual([]);
  });

  test(`${BZL} is generated from it`, () => checkGenerated(BZL, renderBzl()));
  test(`${DOC} is generated from it`, () => checkGenerated(DOC, renderDoc()));
});
