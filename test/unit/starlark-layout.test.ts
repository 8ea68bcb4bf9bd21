/**
 * The Starlark layout (issues #12 and #76), kept true: bazel/private/ is rooms, one package each with a header
 * paragraph in its BUILD.bazel; a room loads only from itself and the rooms before it in ROOMS; every file in a room
 * declares at most one rule (a `rule`, `repository_rule` or `module_extension`), like rules_oci's one-rule-per-file;
 * users' entry points (`bazel/*.bzl`) stay where they are; and docs/development.md's "Layout of this repository" table
 * names exactly the rooms and files bazel/ holds (no file missing from it, no row for a file that is gone).
 */
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, test } from "vitest";

const ROOT = join(__dirname, "..", "..");
const PRIVATE = join(ROOT, "bazel", "private");
const RULE = /^(\w+)\s*=\s*(rule|repository_rule|module_extension)\(/gm;

/** The rooms, in the order they may load from each other: a room loads only from itself and those before it. */
const ROOMS = ["common", "flags", "repositories", "npm", "typescript", "image", "bundle", "pipeline"];

/** What may lie in bazel/private/ itself, outside the rooms. */
const TOP = ["BUILD.bazel"];

/** The top-level names a Starlark file binds to `rule(...)`, `repository_rule(...)` or `module_extension(...)`. */
function declaredRules(text: string): string[] {
  return [...text.matchAll(RULE)].map((m) => m[1]);
}

/** The rooms a Starlark file loads from: `load("//bazel/private/ROOM:f.bzl", ...)`, or its own room for `":f.bzl"`. */
function loadedRooms(text: string, own: string): string[] {
  return [...text.matchAll(/^load\(\s*"([^"]*)"/gm)].flatMap((m) => {
    if (m[1].startsWith(":")) return [own];
    const room = /^(?:@rules_pipeline)?\/\/bazel\/private(?:\/([\w-]+))?:/.exec(m[1]);
    return room ? [room[1] ?? "(bazel/private itself)"] : [];
  });
}

/** The file names in the first column of docs/development.md's layout table, relative to bazel/. */
function layoutTableFiles(readme: string): string[] {
  const start = readme.indexOf("## Layout of this repository");
  expect(start, 'docs/development.md has no "## Layout of this repository" section').toBeGreaterThan(-1);
  const section = readme.slice(start).split("\n## ")[0];
  return [...section.matchAll(/^\| `([^`]+)` \|/gm)].map((m) => m[1]);
}

const rooms = () => readdirSync(PRIVATE).filter((n) => statSync(join(PRIVATE, n)).isDirectory());
const filesOf = (room: string) => readdirSync(join(PRIVATE, room)).filter((f) => f !== "BUILD.bazel");
const starlarkOf = (room: string) => readdirSync(join(PRIVATE, room)).filter((f) => /\.bzl$|^BUILD\.bazel$/.test(f));

describe("Starlark layout", () => {
  test("declaredRules finds each kind of rule and nothing else", () => {
    const text =
      "x = rule(\n  implementation = _i,\n)\ny = repository_rule(implementation = _j)\nz = module_extension(implementation = _k)\nw = provider()\n# v = rule(\n";
    expect(declaredRules(text)).toEqual(["x", "y", "z"]);
  });

  test("loadedRooms reads both forms of a load and ignores other repositories", () => {
    const text =
      'load(":a.bzl", "a")\nload("//bazel/private/common:b.bzl", "b")\nload("@rules_pipeline//bazel/private/npm:c.bzl", "c")\nload("@bazel_tools//tools:d.bzl", "d")\n';
    expect(loadedRooms(text, "image")).toEqual(["image", "common", "npm"]);
  });

  test("bazel/private/ holds the rooms and nothing else but its BUILD.bazel", () => {
    expect([...rooms()].sort()).toEqual([...ROOMS].sort());
    const loose = readdirSync(PRIVATE).filter((n) => !ROOMS.includes(n) && !TOP.includes(n));
    expect(loose, "files of bazel/private/ outside any room").toEqual([]);
  });

  test("no room holds JavaScript: what runs before anything is built is bootstrap/'s, every other program src/'s", () => {
    const js = rooms().flatMap((r) =>
      filesOf(r)
        .filter((f) => /\.[cm]?js$/.test(f))
        .map((f) => `${r}/${f}`),
    );
    expect(js, "JavaScript in bazel/private/").toEqual([]);
  });

  test("each room is a package whose BUILD.bazel opens with a header paragraph naming it", () => {
    for (const room of ROOMS) {
      const build = readFileSync(join(PRIVATE, room, "BUILD.bazel"), "utf8");
      const header = build
        .split("\n")
        .filter((l) => !l.startsWith("load("))
        .join("\n")
        .trimStart();
      expect(header.startsWith(`# bazel/private/${room}: `), `${room}/BUILD.bazel's first comment names the room`).toBe(
        true,
      );
      const paragraph = header.split("\n\n")[0];
      expect(paragraph.length, `${room}/BUILD.bazel's header says what the room holds`).toBeGreaterThan(100);
    }
  });

  test("a room loads only from itself and the rooms before it", () => {
    const wrong: string[] = [];
    for (const room of ROOMS)
      for (const f of starlarkOf(room))
        for (const from of loadedRooms(readFileSync(join(PRIVATE, room, f), "utf8"), room))
          if (!ROOMS.includes(from) || ROOMS.indexOf(from) > ROOMS.indexOf(room)) wrong.push(`${room}/${f} → ${from}`);
    expect(wrong, `loads against the order ${ROOMS.join(" < ")}`).toEqual([]);
  });

  test("each file in a room declares at most one rule", () => {
    const files = ROOMS.flatMap((room) =>
      filesOf(room)
        .filter((f) => f.endsWith(".bzl"))
        .map((f) => `${room}/${f}`),
    );
    expect(files.length).toBeGreaterThan(40);
    const crowded = files
      .map((f) => ({ file: f, rules: declaredRules(readFileSync(join(PRIVATE, f), "utf8")) }))
      .filter((x) => x.rules.length > 1);
    expect(crowded, `files declaring more than one rule: ${JSON.stringify(crowded)}`).toEqual([]);
  });

  test("docs/development.md's layout table names every room and file of bazel/, and only those", () => {
    const listed = layoutTableFiles(readFileSync(join(ROOT, "docs", "development.md"), "utf8"));
    const present = [
      ...readdirSync(join(ROOT, "bazel")).filter((f) => f.endsWith(".bzl")),
      ...ROOMS.flatMap((room) => [
        `private/${room}/`,
        ...filesOf(room)
          .filter((f) => f.endsWith(".bzl") || f.endsWith(".js"))
          .map((f) => `private/${room}/${f}`),
      ]),
    ];
    expect([...listed].sort()).toEqual([...present].sort());
    expect(new Set(listed).size, "a file has two rows").toBe(listed.length);
  });
});
