/**
 * Facts the project states in more than one place, kept equal by this test rather than by a sentence (issue #76 item
 * 4): the supported TypeScript range (what the compile accepts, its error message, README, docs/typescript.md,
 * docs/ARCHITECTURE.md), the package-manager pins (bazel/private/npm/package_managers.bzl's, which
 * src/lockfile/package-managers.test.ts keeps equal to the CLI's, and the versions docs/npm.md and docs/rules.md name),
 * and the three package.json files users get (the repository's, packages/cli's and packages/runtime's: one version,
 * src/version.ts's; one Node floor, MIN_NODE_LINE; the CLI's dependencies at the ranges the repository builds with).
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, test } from "vitest";
import { MIN_NODE_LINE } from "../../src/base/node-releases";
import { PACKAGE_MANAGERS } from "../../src/lockfile/package-managers";
import { VERSION } from "../../src/version";
import { REPO_ROOT } from "../fixtures/repo";
import { compilerAt, SUPPORTED } from "../../src/tsc/compilers";

const read = (rel: string) => readFileSync(join(REPO_ROOT, rel), "utf8");
const json = (rel: string) => JSON.parse(read(rel)) as Record<string, unknown>;
const tmp = mkdtempSync(join(tmpdir(), "rp-stated-facts-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe("the supported TypeScript range", () => {
  const compilers = { SUPPORTED, compilerAt };
  const m = /^TypeScript (\d+)\.0 to (\d+)\.x$/.exec(compilers.SUPPORTED);

  test("the compile accepts exactly the majors its message names", () => {
    expect(m, compilers.SUPPORTED).not.toBeNull();
    const [floor, top] = [Number(m![1]), Number(m![2])];
    const accepts = (version: string) => {
      const dir = join(tmp, `typescript-${version}`);
      mkdirSync(dir, { recursive: true });
      writeFileSync(join(dir, "package.json"), JSON.stringify({ name: "typescript", version }));
      try {
        compilers.compilerAt(dir, "//:ts");
        return true;
      } catch (e) {
        // Past the range check, a 7.x without its native package fails for that reason instead.
        return !String((e as Error).message).includes("is not supported");
      }
    };
    expect([floor - 1, floor, top, top + 1].map((major) => accepts(`${major}.0.0`))).toEqual([
      false,
      true,
      true,
      false,
    ]);
  });

  test("README, docs/typescript.md and docs/ARCHITECTURE.md state that range", () => {
    const [floor, top] = [m![1], m![2]];
    expect(read("README.md").replace(/\s+/g, " ")).toContain(`(${floor}.0 to ${top}.x,`);
    expect(read("docs/typescript.md")).toContain(`**TypeScript ${floor}.0 to ${top}.x**`);
    expect(read("docs/ARCHITECTURE.md")).toContain(`against ${floor}.0-${top}.x`);
  });
});

describe("the package-manager pins", () => {
  test("package_managers.bzl pins what the CLI pins, and docs/npm.md and docs/rules.md name those versions", () => {
    const bzl = read("bazel/private/npm/package_managers.bzl");
    const pinned = Object.fromEntries(
      [...bzl.matchAll(/"([a-z-]+)": struct\(\s*version = "([^"]+)"/g)].map((x) => [x[1], x[2]]),
    );
    const cli = Object.fromEntries(Object.entries(PACKAGE_MANAGERS).map(([k, v]) => [k, v.version]));
    expect(pinned).toEqual(cli);
    const npm = read("docs/npm.md").replace(/\s+/g, " ");
    const rules = read("docs/rules.md").replace(/\s+/g, " ");
    for (const doc of [npm, rules]) {
      expect(doc).toContain(`${cli.pnpm}`);
      expect(doc).toContain(`yarn ${cli["yarn-classic"]}`);
      expect(doc).toContain(`Yarn ${cli["yarn-berry"]}`);
    }
    expect(npm).toContain(`pnpm ${cli.pnpm}`);
  });
});

describe("the three package.json files users get", () => {
  const root = json("package.json");
  const cli = json("packages/cli/package.json");
  const runtime = json("packages/runtime/package.json");

  test("one version (src/version.ts) and one Node floor (MIN_NODE_LINE)", () => {
    expect([root.version, cli.version, runtime.version]).toEqual([VERSION, VERSION, VERSION]);
    const engines = { node: `>=${MIN_NODE_LINE}` };
    expect([root.engines, cli.engines, runtime.engines]).toEqual([engines, engines, engines]);
  });

  test("the CLI's and the rules' tools' dependencies at the ranges the repository builds with", () => {
    const ours = root.dependencies as Record<string, string>;
    for (const file of ["packages/cli/package.json", "bazel/npm_tools/package.json"]) {
      const deps = json(file).dependencies as Record<string, string>;
      for (const [name, range] of Object.entries(deps)) {
        if (name in ours) expect(`${file}: ${name}@${range}`).toBe(`${file}: ${name}@${ours[name]}`);
      }
    }
    // The runtime library is Node built-ins only.
    expect(runtime.dependencies).toBeUndefined();
  });
});
