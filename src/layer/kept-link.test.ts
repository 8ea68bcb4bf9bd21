/**
 * The one judgement of a kept symlink (kept-link.ts): the whole chain as the kernel resolves it, inside the tree.
 * In memory (a layer's tree) and on disk (HostRoot, a project directory), where the kernel's own answer
 * (realpath) is checked against ours.
 */
import { mkdirSync, mkdtempSync, readlinkSync, realpathSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { HostRoot } from "./host-root";
import { ABSOLUTE_LEAVES, absoluteUnder, judgeKeptLink } from "./kept-link";
import type { Node, TreeView } from "./safety";

/** A tree of links (path -> target); every other path is a directory. */
function tree(links: Record<string, string>): TreeView {
  return {
    node: (parts): Node =>
      parts.join("/") in links ? { type: "symlink", target: links[parts.join("/")] } : { type: "dir" },
  };
}

const judge = (links: Record<string, string>, at: string, abs = ABSOLUTE_LEAVES) =>
  judgeKeptLink(tree(links), at.split("/"), links[at], abs);

describe("judgeKeptLink in a layer's tree", () => {
  it("keeps a link whose chain stays inside, and says where it leads", () => {
    expect(judge({ "nm/a": "../store/a", "store/a": "../real/a" }, "nm/a")).toEqual({ ok: true, parts: ["real", "a"] });
    expect(judge({ "d/e/l": "x/../../y" }, "d/e/l")).toEqual({ ok: true, parts: ["d", "y"] });
  });

  it("refuses a `..` taken after a link from where the link led, though one hop at a time each link stays inside", () => {
    // Lexically x is b/etc/passwd and a is z: both "inside". The kernel: b/c/a -> z, then .. .. climbs above the root.
    const links = { x: "b/c/a/../../etc/passwd", "b/c/a": "../../z" };
    expect(judge(links, "b/c/a")).toEqual({ ok: true, parts: ["z"] });
    expect(judge(links, "x")).toEqual({
      ok: false,
      why: 'leads outside the tree (through the link b/c/a -> "../../z")',
    });
  });

  it("refuses a chain whose second link climbs out, and a link to a link that leaves", () => {
    expect(judge({ a: "b", b: "../etc" }, "a")).toMatchObject({
      ok: false,
      why: expect.stringContaining('through the link b -> "../etc"'),
    });
    expect(judge({ "d/a": "../b/c", b: "d/../.." }, "d/a").ok).toBe(false);
  });

  it("absolute targets: inside only where mapped into the tree, along the whole chain", () => {
    const app = absoluteUnder("/app");
    expect(judge({ l: "/app/lib/x" }, "l", app)).toEqual({ ok: true, parts: ["lib", "x"] });
    expect(judge({ l: "/etc/passwd" }, "l", app)).toEqual({ ok: false, why: "leads outside the tree" });
    expect(judge({ l: "/app/../etc/passwd" }, "l", app).ok).toBe(false);
    expect(judge({ l: "/application/x" }, "l", app).ok).toBe(false);
    expect(judge({ a: "b/x", b: "/etc" }, "a", app).ok).toBe(false);
    expect(judge({ a: "b/x", b: "/app/c" }, "a", app)).toEqual({ ok: true, parts: ["c", "x"] });
    expect(judge({ l: "/app/x" }, "l")).toMatchObject({ ok: false });
  });

  it("refuses loops and chains longer than 40 links (ELOOP), and an empty target", () => {
    expect(judge({ a: "b", b: "a" }, "a")).toEqual({
      ok: false,
      why: "meets more than 40 symlinks on its way (a loop?)",
    });
    const long: Record<string, string> = {};
    for (let i = 0; i < 41; i++) long[`l${i}`] = `l${i + 1}`;
    expect(judge(long, "l0").ok).toBe(false);
    delete long.l40;
    expect(judge(long, "l0")).toEqual({ ok: true, parts: ["l40"] });
    expect(judgeKeptLink(tree({}), ["a"], "", ABSOLUTE_LEAVES).ok).toBe(false);
  });

  it("a dangling link inside is kept (what is missing leads nowhere else)", () => {
    const none: TreeView = { node: () => undefined };
    expect(judgeKeptLink(none, ["d", "l"], "../missing/x", ABSOLUTE_LEAVES)).toEqual({
      ok: true,
      parts: ["missing", "x"],
    });
    expect(judgeKeptLink(none, ["d", "l"], "../../x", ABSOLUTE_LEAVES).ok).toBe(false);
  });
});

describe("judgeKeptLink on disk agrees with the kernel", () => {
  const tmp = realpathSync(mkdtempSync(join(tmpdir(), "rp-kept-link-")));
  afterAll(() => rmSync(tmp, { recursive: true, force: true }));
  const root = join(tmp, "project");
  mkdirSync(join(root, "b", "c"), { recursive: true });
  mkdirSync(join(root, "z", "deep"), { recursive: true });
  mkdirSync(join(tmp, "etc"));
  writeFileSync(join(tmp, "etc", "passwd"), "host\n");
  writeFileSync(join(root, "z", "f"), "");
  symlinkSync("../../z/deep", join(root, "b", "c", "a"));
  symlinkSync("b/c/a/../../../etc/passwd", join(root, "escape"));
  symlinkSync("b/c/a/../f", join(root, "inside"));
  symlinkSync(join(root, "z", "f"), join(root, "absolute"));
  const view = new HostRoot(root);

  it.each([
    ["inside", true],
    ["escape", false],
    ["absolute", true],
  ])(
    "%s: inside %s, as the kernel's realpath(3) says (not Node's realpathSync, which reads `..` after a link lexically)",
    (name, inside) => {
      const real = realpathSync.native(join(root, name));
      expect(!relative(root, real).startsWith("..")).toBe(inside);
      const r = judgeKeptLink(view, [name], readlinkSync(join(root, name)), absoluteUnder(root));
      expect(r.ok).toBe(inside);
      if (r.ok) expect(join(root, ...r.parts)).toBe(real);
    },
  );
});
