/**
 * The scripts the docs name exist, and the ones they call directly run as written: README.md's
 * `scripts/k8s-cluster.sh build` answered "Permission denied" while the file was 0644.
 */
import { accessSync, constants, existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, test } from "vitest";
import { REPO_ROOT } from "../fixtures/repo";

const DOCS = [
  "README.md",
  ...readdirSync(join(REPO_ROOT, "docs"))
    .filter((f) => f.endsWith(".md"))
    .map((f) => `docs/${f}`),
];
const PATH = /(?<![\w/.-])scripts\/[A-Za-z0-9_./-]*[A-Za-z0-9_/]/g;

/** `scripts/...` paths each doc names, with how each is written: run through an interpreter (`node scripts/x.js`) or not. */
function named(): { doc: string; path: string; interpreted: boolean }[] {
  const out: { doc: string; path: string; interpreted: boolean }[] = [];
  for (const doc of DOCS) {
    const text = readFileSync(join(REPO_ROOT, doc), "utf8");
    for (const m of text.matchAll(PATH)) {
      const before = text.slice(Math.max(0, m.index - 8), m.index);
      out.push({ doc, path: m[0], interpreted: /\b(node|bash|sh|source|\.)\s+$/.test(before) });
    }
  }
  return out;
}

function executable(path: string): boolean {
  try {
    accessSync(join(REPO_ROOT, path), constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

describe("the scripts the docs name", () => {
  const paths = named();

  test("exist", () => {
    expect(paths.length).toBeGreaterThan(20);
    expect(paths.filter((p) => !existsSync(join(REPO_ROOT, p.path))).map((p) => `${p.doc}: ${p.path}`)).toEqual([]);
  });

  test("are executable when the docs call them directly (the sourced libraries of scripts/lib/ and `node x.js` aside)", () => {
    const direct = paths.filter(
      (p) => !p.interpreted && !p.path.startsWith("scripts/lib/") && statSync(join(REPO_ROOT, p.path)).isFile(),
    );
    expect(direct.some((p) => p.path === "scripts/k8s-cluster.sh")).toBe(true);
    expect(
      direct
        .filter((p) => /\.(sh|js)$/.test(p.path) && !p.path.endsWith(".js") && !executable(p.path))
        .map((p) => `${p.doc}: ${p.path}`),
    ).toEqual([]);
  });

  test("every script directly under scripts/ is executable", () => {
    const scripts = readdirSync(join(REPO_ROOT, "scripts")).filter((f) => f.endsWith(".sh"));
    expect(scripts.filter((f) => !executable(`scripts/${f}`))).toEqual([]);
  });
});
