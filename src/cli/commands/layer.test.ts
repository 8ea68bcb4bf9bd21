/**
 * `pipeline layer`'s file lists (readFileList): the `dest<TAB>src<TAB>link` form the image rule writes for what may be
 * a rules_js package link. A relative link staying inside the app tree, judged with the whole chain of the layer's
 * links (src/layer/kept-link.ts), is kept as a symlink; a link leaving it, an absolute link (the sandbox's links to
 * inputs) and a plain file are read as `dest<TAB>src` is.
 */
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, expect, test } from "vitest";
import { readFileList } from "./layer";

const tmp = mkdtempSync(join(tmpdir(), "rp-layer-list-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

test("link lines: relative links inside the app tree stay links, everything else is read as a file", () => {
  mkdirSync(join(tmp, "store/b"), { recursive: true });
  writeFileSync(join(tmp, "store/b/index.js"), "");
  writeFileSync(join(tmp, "plain"), "");
  symlinkSync("../../b@1/node_modules/b", join(tmp, "dep"));
  symlinkSync("../../../../etc", join(tmp, "escape"));
  symlinkSync(join(tmp, "store/b"), join(tmp, "absolute"));
  const list = join(tmp, "files.txt");
  writeFileSync(
    list,
    [
      `app/node_modules/.aspect_rules_js/a@1/node_modules/b\t${join(tmp, "dep")}\tlink`,
      `app/node_modules/x\t${join(tmp, "escape")}\tlink`,
      `app/node_modules/y\t${join(tmp, "absolute")}\tlink`,
      `app/node_modules/z\t${join(tmp, "plain")}\tlink`,
      "",
    ].join("\n"),
  );
  expect(readFileList([list])).toEqual([
    { dest: "app/node_modules/.aspect_rules_js/a@1/node_modules/b", symlink: "../../b@1/node_modules/b" },
    { dest: "app/node_modules/x", src: join(tmp, "escape") },
    { dest: "app/node_modules/y", src: join(tmp, "absolute") },
    { dest: "app/node_modules/z", src: join(tmp, "plain") },
  ]);
});

test("link lines: a link is judged with the whole chain of the layer's links, as the kernel resolves it", () => {
  // One hop at a time both stay inside app/: x reads as app/b/etc/passwd, a as app/z. The kernel: app/b/c/a -> app/z,
  // then ../.. from app/z is /, and x is /etc/passwd. x is read as a file; a, whose own chain stays inside, is kept.
  const dir = join(tmp, "chain");
  mkdirSync(dir);
  symlinkSync("b/c/a/../../etc/passwd", join(dir, "x"));
  symlinkSync("../../z", join(dir, "a"));
  symlinkSync("y", join(dir, "y-link"));
  const list = join(dir, "files.txt");
  writeFileSync(
    list,
    [
      `app/x\t${join(dir, "x")}\tlink`,
      `app/b/c/a\t${join(dir, "a")}\tlink`,
      "app/d/y\tsymlink\t/app/../..",
      `app/d/w\t${join(dir, "y-link")}\tlink`,
      "",
    ].join("\n"),
  );
  expect(readFileList([list])).toEqual([
    { dest: "app/x", src: join(dir, "x") },
    { dest: "app/b/c/a", symlink: "../../z" },
    { dest: "app/d/y", symlink: "/app/../.." },
    { dest: "app/d/w", src: join(dir, "y-link") }, // y is app/d/y, which leads out
  ]);
});

test("a malformed line names the file, the line and the forms it takes", () => {
  const list = join(tmp, "bad.txt");
  writeFileSync(list, "app/x\tsrc\tlinks\n");
  expect(() => readFileList([list])).toThrow(
    /bad\.txt:1: expected .*"dest<TAB>src<TAB>link", got "app\/x\\tsrc\\tlinks"/,
  );
});
