/**
 * The error catalogue (src/error-codes/) is complete and docs/errors.md is what it generates: this fails when a code
 * used in src/, tools/ or bazel/ is not catalogued, when a catalogued code is used nowhere, or when docs/errors.md is
 * stale. To regenerate docs/errors.md after changing the catalogue:
 *   PIPELINE_UPDATE_GENERATED=1 npx vitest run --project unit test/unit/error-codes.test.ts
 */
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, test } from "vitest";
import { ERROR_CODES, ERROR_SECTIONS } from "../../src/error-codes/catalogue";
import { REPO_ROOT } from "../fixtures/repo";
import { namesUsed, sourceFiles } from "../fixtures/source-files";

const DOC = join(REPO_ROOT, "docs", "errors.md");
const CODE = /\bE_[A-Z][A-Z0-9_]*\b/g;
const CATALOGUE_DIR = "src/error-codes/";

function render(): string {
  const out = [
    "# Error codes",
    "",
    "<!-- GENERATED from src/error-codes/ by test/unit/error-codes.test.ts (PIPELINE_UPDATE_GENERATED=1): do not edit. -->",
    "",
    "Every error rules_pipeline raises on purpose is printed as `error[CODE]: message`. Find the code below: what it",
    "means, what to do next, and an example of the message.",
    "",
  ];
  for (const s of ERROR_SECTIONS)
    out.push(
      `- ${s.title}: ${Object.keys(s.codes)
        .map((c) => `[${c}](#${c.toLowerCase()})`)
        .join(", ")}`,
    );
  for (const s of ERROR_SECTIONS) {
    out.push("", `## ${s.title}`);
    for (const [code, doc] of Object.entries(s.codes)) {
      out.push(
        "",
        `### ${code}`,
        "",
        doc.meaning,
        "",
        `What to do: ${doc.next}`,
        "",
        "```",
        `error[${code}]: ${doc.example}`,
        "```",
      );
    }
  }
  return `${out.join("\n")}\n`;
}

describe("the error catalogue", () => {
  const files = sourceFiles(["src", "tools", "bazel", "bootstrap"]).filter((f) => !f.startsWith(CATALOGUE_DIR));
  const used = namesUsed(CODE, files);

  test("lists every code used in src/, tools/ and bazel/", () => {
    const missing = [...used]
      .filter(([code]) => !Object.hasOwn(ERROR_CODES, code))
      .map(([code, file]) => `${code} (${file})`);
    expect(missing, "codes missing from src/error-codes/ (add an entry to the part they belong to)").toEqual([]);
    expect(used.size).toBeGreaterThan(100);
  });

  test("lists no code that is used nowhere", () => {
    expect(Object.keys(ERROR_CODES).filter((code) => !used.has(code))).toEqual([]);
  });

  test("names each code once, with a meaning, a next step and an example", () => {
    const all = ERROR_SECTIONS.flatMap((s) => Object.keys(s.codes));
    expect(all.length, "a code in two parts").toBe(new Set(all).size);
    for (const [code, doc] of Object.entries(ERROR_CODES)) {
      expect(code).toMatch(/^E_[A-Z][A-Z0-9_]*$/);
      expect(
        [doc.meaning, doc.next, doc.example].every((t) => t.trim().length > 0),
        code,
      ).toBe(true);
    }
  });

  test("docs/errors.md is generated from it", () => {
    const want = render();
    if (process.env.PIPELINE_UPDATE_GENERATED) writeFileSync(DOC, want);
    expect(
      readFileSync(DOC, "utf8"),
      "stale: regenerate with PIPELINE_UPDATE_GENERATED=1 (see this test's header)",
    ).toBe(want);
  });
});
