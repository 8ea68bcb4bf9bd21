import { describe, expect, it } from "vitest";
import { PipelineError } from "../errors";
import { IgnoreRules } from "./ignore";

const rules = (text: string) => new IgnoreRules(text.split("\n"), ".dockerignore");

describe("IgnoreRules (.dockerignore subset)", () => {
  it("always leaves out node_modules and .git anywhere, and .npmrc, .yarnrc and .yarnrc.yml at any depth", () => {
    const r = rules("");
    expect(r.excludes("node_modules/ms/index.js")).toBe(true);
    expect(r.excludes("lib/node_modules/x.js")).toBe(true);
    expect(r.excludes(".git/HEAD")).toBe(true);
    for (const f of [".npmrc", ".yarnrc", ".yarnrc.yml"]) {
      expect(r.excludes(f)).toBe(true);
      expect(r.excludes(`config/${f}`)).toBe(true);
      expect(r.excludes(`packages/lib/deep/${f}`)).toBe(true);
    }
    expect(r.excludes("config/npmrc")).toBe(false);
    expect(r.excludes("main.js")).toBe(false);
  });

  it("a secrets' file is included only when a ! line names it, wildcards never re-include one", () => {
    const r = rules("!config/.npmrc\n!**/.yarnrc\n!*/.yarnrc.yml\n!.npmr?");
    expect(r.excludes("config/.npmrc")).toBe(false);
    expect(r.excludes("other/.npmrc")).toBe(true);
    expect(r.excludes(".npmrc")).toBe(true);
    expect(r.excludes("a/.yarnrc")).toBe(true);
    expect(r.excludes("a/.yarnrc.yml")).toBe(true);
  });

  it("*, ?, ** and [...] match like Docker's; a matched directory takes everything under it", () => {
    const r = rules("*.log\n/build\ndocs/**/*.md\ntmp?\n[ab].txt\n# comment\n\n");
    expect(r.excludes("debug.log")).toBe(true);
    expect(r.excludes("sub/debug.log")).toBe(false); // * does not cross "/"
    expect(r.excludes("build/out/x.js")).toBe(true);
    expect(r.excludes("src/build/x.js")).toBe(false);
    expect(r.excludes("docs/a.md")).toBe(true);
    expect(r.excludes("docs/x/y/a.md")).toBe(true);
    expect(r.excludes("docs/a.txt")).toBe(false);
    expect(r.excludes("tmp1/x")).toBe(true);
    expect(r.excludes("tmp12")).toBe(false);
    expect(r.excludes("a.txt")).toBe(true);
    expect(r.excludes("c.txt")).toBe(false);
  });

  it("the last matching line wins; ! re-includes", () => {
    const r = rules("build/\n!build/keep.js\n**/*.js\n!main.js");
    expect(r.excludes("build/out.js")).toBe(true);
    expect(r.excludes("build/keep.js")).toBe(true); // **/*.js comes later
    expect(r.excludes("main.js")).toBe(false);
    expect(r.hasNegations).toBe(true);
    const s = rules("build/\n!build/keep.js");
    expect(s.excludes("build/keep.js")).toBe(false);
    expect(s.excludes("build/other.js")).toBe(true);
  });

  it("a malformed pattern names the file and the line", () => {
    expect(() => rules("ok\n[abc")).toThrow(PipelineError);
    expect(() => rules("ok\n[abc")).toThrow('.dockerignore line 2: pattern "[abc" has an unclosed [');
  });
});
