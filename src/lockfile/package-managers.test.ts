/**
 * Which package manager a lockfile needs: the kind from the file name, the version from the text (an unsupported one
 * names the file and the version found), and the pins, which must be the ones bazel/private/npm/package_managers.bzl has.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, test } from "vitest";
import { REPO_ROOT } from "../../test/fixtures/repo";
import { PipelineError } from "../errors";
import { installedPackages } from "./install-scripts";
import {
  checkYarnrc,
  ensureTool,
  integrityOf,
  LOCKFILE_NAMES,
  lockfileKind,
  lockfileManager,
  PACKAGE_MANAGERS,
  YARN_BERRY_METADATA,
  YARN_NODE_LINKERS,
} from "./package-managers";
import { readLockfileProject } from "./project";

const tmp = mkdtempSync(join(tmpdir(), "package-managers-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function errorOf(f: () => unknown): PipelineError {
  try {
    f();
  } catch (e) {
    if (e instanceof PipelineError) return e;
    throw e;
  }
  throw new Error("expected a PipelineError");
}

const fixture = (kind: string, name: string) =>
  readFileSync(join(REPO_ROOT, "test", "fixtures", "lockfiles", kind, name), "utf8");

describe("lockfileKind and lockfileManager", () => {
  test("the kind is the file name", () => {
    expect(lockfileKind("package-lock.json")).toBe("npm");
    expect(lockfileKind("npm-shrinkwrap.json")).toBe("npm");
    expect(lockfileKind("pnpm-lock.yaml")).toBe("pnpm");
    expect(lockfileKind("yarn.lock")).toBe("yarn");
    expect(lockfileKind("bun.lockb")).toBeUndefined();
    expect(lockfileKind("pnpm-lock.yml")).toBeUndefined();
  });

  test("the real lockfiles of the fixtures (written by pnpm 9.15.9, npm 11, yarn 1.22.22, Yarn 4.9.2)", () => {
    expect(lockfileManager("pnpm", fixture("pnpm", "pnpm-lock.yaml"), "p")).toBe("pnpm");
    expect(lockfileManager("npm", fixture("npm", "package-lock.json"), "p")).toBe("npm");
    expect(lockfileManager("yarn", fixture("yarn", "yarn.lock"), "p")).toBe("yarn-classic");
    expect(lockfileManager("yarn", fixture("berry", "yarn.lock"), "p")).toBe("yarn-berry");
  });

  test("an unsupported version names the file and the version found", () => {
    let e = errorOf(() => lockfileManager("pnpm", "lockfileVersion: '6.0'\n\nimporters:\n", "/p/pnpm-lock.yaml"));
    expect(e.code).toBe("E_LOCKFILE_VERSION");
    expect(e.message).toMatch(/^\/p\/pnpm-lock\.yaml: lockfileVersion "6\.0" is not supported \(supported: '9\.0'/);
    e = errorOf(() => lockfileManager("pnpm", "lockfileVersion: 5.4\nspecifiers:\n", "/p/pnpm-lock.yaml"));
    expect(e.message).toContain('lockfileVersion "5.4" is not supported');
    e = errorOf(() => lockfileManager("pnpm", "importers: {}\n", "/p/pnpm-lock.yaml"));
    expect(e.message).toContain("/p/pnpm-lock.yaml: no lockfileVersion found");
    e = errorOf(() =>
      lockfileManager(
        "yarn",
        '__metadata:\n  version: 4\n  cacheKey: 7\n\n"ms@npm:2.1.3":\n  version: 2.1.3\n',
        "/p/yarn.lock",
      ),
    );
    expect(e.code).toBe("E_LOCKFILE_VERSION");
    expect(e.message).toContain('/p/yarn.lock: yarn berry __metadata version "4" is not supported (supported: 8');
    e = errorOf(() => lockfileManager("yarn", "ms@2.1.3:\n  version 2.1.3\n", "/p/yarn.lock"));
    expect(e.message).toContain("/p/yarn.lock: neither a yarn classic lockfile");
    e = errorOf(() => lockfileManager("npm", JSON.stringify({ lockfileVersion: 1 }), "/p/package-lock.json"));
    expect(e.message).toBe(
      "/p/package-lock.json: lockfileVersion 1 is not supported (need 2 or 3, written by npm 7 or later)",
    );
  });
});

describe("a yarn berry project's .yarnrc.yml", () => {
  test("nodeLinker node-modules (or none) is honoured; pnp and pnpm name the file, the field and the value", () => {
    expect(() =>
      checkYarnrc("nodeLinker: node-modules\nyarnPath: .yarn/releases/yarn-4.1.1.cjs\n", "/p/.yarnrc.yml"),
    ).not.toThrow();
    expect(() => checkYarnrc('nodeLinker: "node-modules" # hoisted\n', "/p/.yarnrc.yml")).not.toThrow();
    expect(() => checkYarnrc("npmRegistryServer: https://registry.example\n", "/p/.yarnrc.yml")).not.toThrow();
    for (const [text, value] of [
      ["nodeLinker: pnp # Plug'n'Play\n", "pnp"],
      ["enableTelemetry: false\nnodeLinker: 'pnpm'\n", "pnpm"],
    ]) {
      const e = errorOf(() => checkYarnrc(text, "/p/.yarnrc.yml"));
      expect(e.code).toBe("E_BAD_INPUT");
      expect(e.message).toMatch(
        new RegExp(`^/p/\\.yarnrc\\.yml: nodeLinker "${value}" is not supported \\(supported: node-modules\\)`),
      );
    }
  });

  test("pipeline build --lockfile: a berry project's .yarnrc.yml is among what Yarn reads, once checked; other kinds' are not", () => {
    const project = join(tmp, "berry");
    mkdirSync(project, { recursive: true });
    writeFileSync(join(project, "package.json"), JSON.stringify({ name: "b", version: "1.0.0", main: "main.js" }));
    writeFileSync(join(project, "main.js"), "\n");
    writeFileSync(join(project, "yarn.lock"), fixture("berry", "yarn.lock"));
    writeFileSync(join(project, ".yarnrc.yml"), "nodeLinker: node-modules\n");
    const read = readLockfileProject(project);
    expect(read.manifests).toEqual([{ rel: ".yarnrc.yml", src: join(project, ".yarnrc.yml") }]);
    // Yarn reads it; the image does not hold it (like .npmrc, it may hold a registry token: npmAuthToken).
    expect(read.files.map((f) => f.rel)).toEqual(["main.js", "package.json", "yarn.lock"]);
    writeFileSync(join(project, ".yarnrc.yml"), "nodeLinker: pnp\n");
    const e = errorOf(() => readLockfileProject(project));
    expect(e.message).toContain(`${join(project, ".yarnrc.yml")}: nodeLinker "pnp" is not supported`);
    writeFileSync(join(project, "yarn.lock"), fixture("yarn", "yarn.lock"));
    expect(readLockfileProject(project).manifests).toEqual([]);
  });
});

describe("the pins", () => {
  test("are package_managers.bzl's (the Bazel rule and the CLI install with the same tools)", () => {
    const bzl = readFileSync(join(REPO_ROOT, "bazel", "private", "npm", "package_managers.bzl"), "utf8");
    const pins = Object.fromEntries(
      [
        ...bzl.matchAll(
          /"([a-z-]+)": struct\(\s*version = "([^"]+)",\s*url = "([^"]+)",\s*integrity = "([^"]+)",\s*bin = "([^"]+)",\s*\)/g,
        ),
      ].map((m) => [m[1], { version: m[2], url: m[3], integrity: m[4], bin: m[5] }]),
    );
    expect(pins).toEqual(PACKAGE_MANAGERS);
    const names = Object.fromEntries(
      [...bzl.slice(bzl.indexOf("LOCKFILE_NAMES")).matchAll(/"([^"]+)": "(npm|pnpm|yarn)"/g)].map((m) => [m[1], m[2]]),
    );
    expect(names).toEqual(Object.fromEntries(LOCKFILE_NAMES));
    expect(
      /YARN_BERRY_METADATA = \[([^\]]*)\]/
        .exec(bzl)?.[1]
        .match(/"\d+"/g)
        ?.map((s) => s.slice(1, -1)),
    ).toEqual(YARN_BERRY_METADATA);
    expect(
      /YARN_NODE_LINKERS = \[([^\]]*)\]/
        .exec(bzl)?.[1]
        .match(/"[^"]+"/g)
        ?.map((s) => s.slice(1, -1)),
    ).toEqual(YARN_NODE_LINKERS);
  });

  test("ensureTool refuses bytes that are not the pinned integrity, and keeps nothing of them", async () => {
    const fake = (async () => new Response(new Uint8Array(Buffer.from("not pnpm")))) as typeof fetch; // an in-process fake: the registry never serves other bytes
    const cache = join(tmp, "cache");
    await expect(ensureTool("pnpm", cache, fake)).rejects.toMatchObject({
      code: "E_INTEGRITY",
      message: expect.stringContaining(
        `integrity ${integrityOf(Buffer.from("not pnpm"), PACKAGE_MANAGERS.pnpm.integrity)} is not the pinned`,
      ),
    });
    expect(() => readFileSync(join(cache, "tools", "pnpm-9.15.9", "bin", "pnpm.cjs"))).toThrow();
  });
});

describe("installedPackages", () => {
  test("every package of a node_modules tree, scoped and nested, not links nor dot directories", () => {
    const root = join(tmp, "tree");
    for (const p of [
      "node_modules/a",
      "node_modules/@s/b",
      "node_modules/a/node_modules/c",
      "node_modules/.pnpm/d",
      "packages/lib",
    ]) {
      mkdirSync(join(root, p), { recursive: true });
      writeFileSync(join(root, p, "package.json"), "{}");
    }
    mkdirSync(join(root, "node_modules", "a", "lib"));
    symlinkSync("../packages/lib", join(root, "node_modules", "lib"));
    expect(Object.keys(installedPackages(root)).sort()).toEqual([
      "node_modules/@s/b",
      "node_modules/a",
      "node_modules/a/node_modules/c",
    ]);
  });
});
