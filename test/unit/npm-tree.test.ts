/**
 * bootstrap/npm_tree.js judges where a node_modules link leads as the kernel does (realpath(3)), the rule of
 * src/layer/kept-link.ts: Node's fs.realpathSync reads a `..` after a link lexically, so a link whose chain climbs out
 * of the repository through another link was taken for a workspace package inside it, and replaced by a copy of a
 * directory it does not point at.
 */
import { execFileSync } from "node:child_process";
import {
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  realpathSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, expect, test } from "vitest";

const tmp = realpathSync(mkdtempSync(join(tmpdir(), "rp-npm-tree-")));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

test("a node_modules link whose chain leaves the repository is left a link, not taken for a workspace package", () => {
  const repo = join(tmp, "repo");
  for (const d of ["node_modules", "lib/c", "z", "lib/ws"]) mkdirSync(join(repo, d), { recursive: true });
  mkdirSync(join(tmp, "ws"));
  writeFileSync(join(tmp, "ws", "package.json"), JSON.stringify({ name: "x", version: "2.0.0" }));
  writeFileSync(join(repo, "lib", "ws", "package.json"), JSON.stringify({ name: "x", version: "1.0.0" }));
  symlinkSync("../../z", join(repo, "lib", "c", "a"));
  // Lexically repo/lib/ws; the kernel: lib/c/a is repo/z, ../.. from it is tmp, so tmp/ws.
  symlinkSync("../lib/c/a/../../ws", join(repo, "node_modules", "x"));
  writeFileSync(join(repo, "yarn.lock"), "");
  execFileSync(process.execPath, [resolve("bootstrap/npm_tree.js"), "yarn.lock", "out.json"], { cwd: repo });
  const out = JSON.parse(readFileSync(join(repo, "out.json"), "utf8"));
  expect(out.packages["node_modules/x"]).toMatchObject({ version: "2.0.0", link: true });
  expect(out.packages["node_modules/x"].workspace).toBeUndefined();
  expect(lstatSync(join(repo, "node_modules", "x")).isSymbolicLink()).toBe(true);
});
