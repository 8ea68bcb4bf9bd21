/**
 * project.ts: the project's files read without following links (kept inside, refused outside, as the kernel
 * resolves them), and what the package manager's scratch directory gets of them (installTree).
 */
import { mkdirSync, mkdtempSync, realpathSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, expect, it } from "vitest";
import { pipelineErrorOfSync } from "../../test/fixtures/errors";
import { readLockfileProject } from "./project";

const tmp = realpathSync(mkdtempSync(join(tmpdir(), "rp-lockfile-project-")));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function project(name: string, pkg: Record<string, unknown> = {}): string {
  const dir = join(tmp, name);
  mkdirSync(dir);
  writeFileSync(join(dir, "package.json"), JSON.stringify({ name, version: "1.0.0", main: "main.js", ...pkg }));
  writeFileSync(join(dir, "package-lock.json"), JSON.stringify({ lockfileVersion: 3, packages: { "": {} } }));
  writeFileSync(join(dir, "main.js"), "");
  return dir;
}

it("keeps links inside as links (absolute ones relative), gives the scratch directory only those to packages", () => {
  const dir = project("p", { workspaces: ["packages/*"], dependencies: { v: "file:vendor/v" } });
  mkdirSync(join(dir, "shared", "lib"), { recursive: true });
  mkdirSync(join(dir, "packages"));
  mkdirSync(join(dir, "vendor", "v"), { recursive: true });
  writeFileSync(join(dir, "shared", "lib", "package.json"), JSON.stringify({ name: "lib" }));
  writeFileSync(join(dir, "shared", "hook.cjs"), "");
  writeFileSync(join(dir, "vendor", "v", "package.json"), JSON.stringify({ name: "v" }));
  writeFileSync(join(dir, "vendor", "v", "index.js"), "v");
  symlinkSync("../shared/lib", join(dir, "packages", "lib"));
  symlinkSync("shared/hook.cjs", join(dir, ".pnpmfile.cjs"));
  symlinkSync("shared", join(dir, ".yarn")); // leads to a package directory, but a dot name at the top is never given
  symlinkSync(join(dir, "main.js"), join(dir, "abs.js"));
  const p = readLockfileProject(dir);
  expect(p.links.map((l) => [l.rel, l.target])).toEqual([
    [".pnpmfile.cjs", "shared/hook.cjs"],
    [".yarn", "shared"],
    ["abs.js", "main.js"],
    ["packages/lib", "../shared/lib"],
  ]);
  expect(p.files.map((f) => f.rel)).not.toContain("packages/lib/package.json");
  expect(p.installTree.links.map((l) => l.rel)).toEqual(["packages/lib"]);
  expect(p.installTree.files.map((f) => [f.rel, f.bytes.toString()])).toEqual([
    ["vendor/v/index.js", "v"],
    ["vendor/v/package.json", '{"name":"v"}'],
  ]);
});

it("refuses a link that leads out, naming it and its target; a dangling one inside is kept", () => {
  const dir = project("out");
  symlinkSync("sub/missing.js", join(dir, "dangling.js"));
  expect(readLockfileProject(dir).links.map((l) => l.rel)).toEqual(["dangling.js"]);
  symlinkSync("..", join(dir, "up"));
  const e = pipelineErrorOfSync(() => readLockfileProject(dir));
  expect(e.code).toBe("E_BAD_INPUT");
  expect(e.message).toContain('--lockfile project: symlink up -> ".." leads outside the project;');
});
