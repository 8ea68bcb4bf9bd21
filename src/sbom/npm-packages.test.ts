import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { npmPackages, packageJsonPath } from "./npm-packages";
import { parseDigest } from "../oci/digest";
import { buildSbom } from "./spdx";

const root = mkdtempSync(join(tmpdir(), "npm-packages-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));

function file(rel: string, value: unknown): string {
  const p = join(root, rel);
  mkdirSync(join(p, ".."), { recursive: true });
  writeFileSync(p, typeof value === "string" ? value : JSON.stringify(value));
  return p;
}

describe("npm packages of an image", () => {
  it("knows a package's own package.json from one inside a package", () => {
    expect(packageJsonPath("external/npm/node_modules/lodash/package.json")).toEqual({
      installPath: "node_modules/lodash",
      name: "lodash",
    });
    expect(packageJsonPath("node_modules/@types/node/package.json")).toEqual({
      installPath: "node_modules/@types/node",
      name: "@types/node",
    });
    expect(packageJsonPath("x/node_modules/a/node_modules/@s/b/package.json")).toEqual({
      installPath: "node_modules/a/node_modules/@s/b",
      name: "@s/b",
    });
    expect(packageJsonPath("node_modules/a/lib/package.json")).toBeUndefined();
    expect(packageJsonPath("node_modules/.bin/package.json")).toBeUndefined();
    expect(packageJsonPath("src/package.json")).toBeUndefined();
  });

  it("reads name, version and license from package.json and integrity and resolved from the lockfile given for the tree", () => {
    const a = file("repo/node_modules/a/package.json", { name: "a", version: "1.0.0", license: "MIT" });
    const s = file("repo/node_modules/@s/b/package.json", {
      name: "@s/b",
      version: "2.0.0",
      licenses: [{ type: "MIT" }, { type: "Apache-2.0" }],
    });
    const nested = file("repo/node_modules/a/node_modules/c/package.json", {
      name: "c",
      version: "0.1.0",
      license: { type: "ISC" },
    });
    const inner = file("repo/node_modules/a/dist/package.json", { type: "module" });
    const lock = file("repo/package-lock.json", {
      lockfileVersion: 3,
      packages: {
        "node_modules/a": {
          version: "1.0.0",
          integrity: "sha512-AAAA",
          resolved: "https://registry.npmjs.org/a/-/a-1.0.0.tgz",
        },
        "node_modules/a/node_modules/c": { version: "0.1.0", integrity: "sha512-CCCC" },
        "node_modules/@s/b": { version: "1.9.0", integrity: "sha512-OLD" },
      },
    });
    const pkgs = npmPackages([a, s, nested, inner], [lock]);
    expect(pkgs).toEqual([
      {
        name: "a",
        version: "1.0.0",
        license: "MIT",
        integrity: "sha512-AAAA",
        resolved: "https://registry.npmjs.org/a/-/a-1.0.0.tgz",
      },
      // The lockfile entry names another version: its integrity is not this package's.
      { name: "@s/b", version: "2.0.0", license: "(MIT OR Apache-2.0)", integrity: undefined, resolved: undefined },
      { name: "c", version: "0.1.0", license: "ISC", integrity: "sha512-CCCC", resolved: undefined },
    ]);
  });

  it("reads only the lockfiles it is given: npm's node_modules/.package-lock.json or a package-lock.json beside the tree is not looked at", () => {
    const d = file("undeclared/node_modules/d/package.json", { name: "d", version: "4.0.0" });
    // What npm leaves beside an installed tree, but the image action does not declare as an input.
    file("undeclared/node_modules/.package-lock.json", {
      lockfileVersion: 3,
      packages: { "node_modules/d": { version: "4.0.0", integrity: "sha512-HIDDEN" } },
    });
    file("undeclared/package-lock.json", {
      lockfileVersion: 3,
      packages: { "node_modules/d": { version: "4.0.0", integrity: "sha512-BESIDE" } },
    });
    expect(npmPackages([d])).toEqual([
      { name: "d", version: "4.0.0", integrity: undefined, license: undefined, resolved: undefined },
    ]);
    // A lockfile serves the tree in its own directory only.
    const other = file("elsewhere/package-lock.json", {
      lockfileVersion: 3,
      packages: { "node_modules/d": { version: "4.0.0", integrity: "sha512-OTHER" } },
    });
    expect(npmPackages([d], [other])[0].integrity).toBeUndefined();
  });

  it("maps each lockfile to the tree beside it, for several trees (relative paths, as the image action passes them)", () => {
    const cwd = process.cwd();
    process.chdir(root);
    try {
      file("multi/npm/node_modules/e/package.json", { name: "e", version: "5.0.0" });
      file("multi/npm/package-lock.json", {
        lockfileVersion: 3,
        packages: {
          "node_modules/e": {
            version: "5.0.0",
            integrity: "sha512-EEEE",
            resolved: "https://mirror.example/e-5.0.0.tgz",
          },
        },
      });
      file("multi/tools/node_modules/e/package.json", { name: "e", version: "6.0.0" });
      file("multi/tools/package-lock.json", {
        lockfileVersion: 2,
        packages: { "node_modules/e": { version: "6.0.0", integrity: "sha512-FFFF" } },
      });
      file("node_modules/g/package.json", { name: "g", version: "7.0.0" });
      file("package-lock.json", {
        lockfileVersion: 3,
        packages: { "node_modules/g": { version: "7.0.0", integrity: "sha512-GGGG" } },
      });
      const pkgs = npmPackages(
        [
          "multi/npm/node_modules/e/package.json",
          "multi/tools/node_modules/e/package.json",
          "node_modules/g/package.json",
        ],
        ["multi/npm/package-lock.json", "multi/tools/package-lock.json", "package-lock.json"],
      );
      expect(pkgs.map((p) => [p.name, p.version, p.integrity, p.resolved])).toEqual([
        ["e", "5.0.0", "sha512-EEEE", "https://mirror.example/e-5.0.0.tgz"],
        ["e", "6.0.0", "sha512-FFFF", undefined],
        ["g", "7.0.0", "sha512-GGGG", undefined],
      ]);
    } finally {
      process.chdir(cwd);
    }
  });

  it("names the file when a package.json or a lockfile is not JSON, or a lockfile is missing; two lockfiles for one tree are refused", () => {
    const bad = file("broken/node_modules/f/package.json", "{nope");
    expect(() => npmPackages([bad])).toThrow(
      expect.objectContaining({ code: "E_BAD_INPUT", message: expect.stringContaining(bad) }),
    );
    const f = file("broken2/node_modules/f/package.json", { name: "f", version: "1.0.0" });
    const badLock = file("broken2/package-lock.json", "[1, 2]");
    expect(() => npmPackages([f], [badLock])).toThrow(
      expect.objectContaining({
        code: "E_BAD_INPUT",
        message: expect.stringContaining(`npm lockfile ${badLock}: not a valid JSON object`),
      }),
    );
    const missing = join(root, "nowhere/package-lock.json");
    expect(() => npmPackages([f], [missing])).toThrow(
      expect.objectContaining({
        code: "E_BAD_INPUT",
        message: expect.stringContaining(`npm lockfile ${missing}: cannot read it (ENOENT)`),
      }),
    );
    const one = file("two/package-lock.json", { lockfileVersion: 3, packages: {} });
    const two = file("two/npm-shrinkwrap.json", { lockfileVersion: 3, packages: {} });
    expect(() => npmPackages([], [one, one])).not.toThrow();
    expect(() => npmPackages([], [one, two])).toThrow(
      expect.objectContaining({
        code: "E_BAD_INPUT",
        message: expect.stringContaining(`npm lockfiles ${one} and ${two}: two lockfiles for the node_modules tree in`),
      }),
    );
  });

  it("publishes no credential of a lockfile's resolved URLs in the SBOM (userinfo, credential-like query parameters)", () => {
    const names = ["a", "b", "c", "d"];
    const jsons = names.map((n) => file(`creds/node_modules/${n}/package.json`, { name: n, version: "1.0.0" }));
    const lock = file("creds/package-lock.json", {
      lockfileVersion: 3,
      packages: {
        "node_modules/a": { version: "1.0.0", resolved: "https://ci-user:npm_SeCrEt1@npm.example/a/-/a-1.0.0.tgz" },
        "node_modules/b": {
          version: "1.0.0",
          resolved: "https://gitlab.example/api/v4/packages/npm/b/-/b-1.0.0.tgz?private_token=SeCrEt2",
        },
        "node_modules/c": {
          version: "1.0.0",
          resolved: "https://blob.example/c-1.0.0.tgz?sv=2022&sig=SeCrEt3&access_token=SeCrEt4",
        },
        "node_modules/d": { version: "1.0.0", resolved: "https://ghp_SeCrEt5@npm.example/d/-/d-1.0.0.tgz" },
      },
    });
    const digest = parseDigest(`sha256:${"a".repeat(64)}`, "test");
    const sbom = buildSbom({
      name: "//app:image",
      imageDigest: digest,
      created: 0,
      packages: npmPackages(jsons, [lock]),
    }).toString();
    expect(sbom).not.toMatch(/SeCrEt|ci-user/);
    const locations = (JSON.parse(sbom) as { packages: { downloadLocation: string }[] }).packages.map(
      (p) => p.downloadLocation,
    );
    expect(locations).toEqual([
      "NOASSERTION",
      "https://npm.example/a/-/a-1.0.0.tgz",
      "https://gitlab.example/api/v4/packages/npm/b/-/b-1.0.0.tgz",
      "https://blob.example/c-1.0.0.tgz?sv=2022",
      "https://npm.example/d/-/d-1.0.0.tgz",
    ]);
  });
});
