/**
 * bazel/private/common/outside_text.bzl is the Starlark twin of src/errors.ts's `outsideText` (#59 item 8): its table, read
 * from the file and applied as Starlark applies it (to a process's output as Bazel holds it, one character per byte),
 * gives what `outsideText` gives for every character `outsideText` escapes.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { outsideText } from "../../src/errors";

const BZL = readFileSync(join(__dirname, "..", "..", "bazel", "private", "common", "outside_text.bzl"), "latin1");

/** A Starlark string literal's value, one character per byte (octal and backslash escapes only: Bazel 4 has no others). */
function starlark(literal: string): string {
  return literal.replace(/\\([0-7]{3}|\\)/g, (_, e: string) =>
    e === "\\" ? "\\" : String.fromCharCode(Number.parseInt(e, 8)),
  );
}

/** `_ESCAPES`: [what, escape] in the file's order. */
const table: [string, string][] = [...BZL.matchAll(/^ {4}\("((?:[^"\\]|\\.)*)", "((?:[^"\\]|\\.)*)"\),$/gm)].map(
  (m) => [starlark(m[1]), starlark(m[2])],
);

/** outside_text() as Starlark runs it: each pair replaced in turn. */
function outsideTextBzl(bytes: string): string {
  let text = bytes;
  for (const [c, shown] of table) text = text.split(c).join(shown);
  return text;
}

/** What a process printing `text` gives Bazel: its UTF-8 bytes, one character each. */
const asBazelReadsIt = (text: string) => Buffer.from(text, "utf8").toString("latin1");

describe("outside_text.bzl", () => {
  it("escapes every character outsideText escapes, as outsideText does, and nothing else", () => {
    const escaped: string[] = [];
    for (let cp = 0; cp < 0x2100; cp++) {
      const c = String.fromCodePoint(cp);
      if (outsideText(c) !== c) escaped.push(c);
    }
    expect(table).toHaveLength(escaped.length);
    for (const c of escaped)
      expect(outsideTextBzl(asBazelReadsIt(c)), `U+${c.codePointAt(0)?.toString(16)}`).toBe(outsideText(c));
    const sample = "npm error a\u001b]0;pwned\u0007\u001b[2J\u009b2K\u202eevil\r\nnext\tline: é ü €";
    expect(outsideTextBzl(asBazelReadsIt(sample))).toBe(asBazelReadsIt(outsideText(sample)));
  });
});
