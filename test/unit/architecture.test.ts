/**
 * docs/ARCHITECTURE.md, the module map, stays true: every folder of src/, every file of bazel/private/, every
 * program of bootstrap/ and every entry point of tools/ is named there, every path it names exists, and its table of names has one row a folder.
 */
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, test } from "vitest";

const ROOT = join(__dirname, "..", "..");
const MAP = readFileSync(join(ROOT, "docs", "ARCHITECTURE.md"), "utf8");
const PRIVATE = join(ROOT, "bazel", "private");

/** Paths written in backquotes that look like repository paths (`src/x/`, `bazel/private/y.bzl`, `tools/z.ts`). */
function namedPaths(): string[] {
  const out = new Set<string>();
  for (const m of MAP.matchAll(/`((?:src|bazel|bootstrap|tools|test|bench|scripts|docs)\/[^`\s]*)`/g)) out.add(m[1]);
  return [...out];
}

describe("docs/ARCHITECTURE.md", () => {
  test("names every folder of src/", () => {
    const folders = readdirSync(join(ROOT, "src")).filter((n) => statSync(join(ROOT, "src", n)).isDirectory());
    const missing = folders.filter((f) => !MAP.includes(`\`src/${f}/\``));
    expect(missing, "src/ folders missing from the map").toEqual([]);
  });

  test("its table of names has one row for each folder of src/, and no other", () => {
    const folders = readdirSync(join(ROOT, "src")).filter((n) => statSync(join(ROOT, "src", n)).isDirectory());
    const rows = [...MAP.matchAll(/^\| `src\/([^`/]+)\/` \|/gm)].map((m) => m[1]);
    expect(rows.length, "rows of the names table").toBeGreaterThan(0);
    expect(rows, "the names table's rows (one a folder of src/, sorted)").toEqual([...folders].sort());
  });

  test("names every room and file of bazel/private/ (rules and the programs their actions run)", () => {
    const rooms = readdirSync(PRIVATE).filter((n) => statSync(join(PRIVATE, n)).isDirectory());
    expect(rooms.length).toBeGreaterThan(5);
    const missingRooms = rooms.filter((r) => !MAP.includes(`\`bazel/private/${r}/\``));
    expect(missingRooms, "bazel/private rooms missing from the map").toEqual([]);
    const files = rooms.flatMap((r) =>
      readdirSync(join(PRIVATE, r))
        .filter((n) => n.endsWith(".bzl") || n.endsWith(".js"))
        .map((n) => [r, n]),
    );
    const missing = files.filter(([r, f]) => !MAP.includes(`\`${f}\``) && !MAP.includes(`\`bazel/private/${r}/${f}\``));
    expect(missing, "bazel/private files missing from the map").toEqual([]);
  });

  test("names every program of bootstrap/, by its path", () => {
    const files = readdirSync(join(ROOT, "bootstrap")).filter((n) => n.endsWith(".js"));
    expect(files.length).toBeGreaterThan(3);
    const missing = files.filter((f) => !MAP.includes(`\`bootstrap/${f}\``));
    expect(missing, "bootstrap/ programs missing from the map").toEqual([]);
  });

  test("names every entry point of tools/", () => {
    const files = readdirSync(join(ROOT, "tools")).filter((n) => n.endsWith(".ts") && !n.endsWith(".test.ts"));
    const missing = files.filter((f) => !MAP.includes(`\`tools/${f}\``));
    expect(missing, "tools/ entry points missing from the map").toEqual([]);
  });

  test("every path it names exists", () => {
    const paths = namedPaths();
    expect(paths.length).toBeGreaterThan(30);
    const gone = paths.filter((p) => !existsSync(join(ROOT, p.replace(/\*\*.*$/, ""))));
    expect(gone, "paths in the map that do not exist").toEqual([]);
    // Bare file names in the bazel/private list, too: each in one of its rooms.
    const rooms = readdirSync(PRIVATE).filter((n) => statSync(join(PRIVATE, n)).isDirectory());
    const bare = [...MAP.matchAll(/`([a-z_]+\.(?:bzl|js))`/g)].map((m) => m[1]);
    const goneBare = bare.filter((f) => !rooms.some((r) => existsSync(join(PRIVATE, r, f))));
    expect(goneBare, "bazel/private files in the map that do not exist").toEqual([]);
  });
});
