import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { npmPackages, packageJsonPath } from "./npm-packages";

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
    expect(packageJsonPath("external/npm/node_modules/lodash/package.json")).toEqual({ installPath: "node_modules/lodash", name: "lodash" });
    expect(packageJsonPath("node_modules/@types/node/package.json")).toEqual({ installPath: "node_modules/@types/node", name: "@types/node" });
    expect(packageJsonPath("x/node_modules/a/node_modules/@s/b/package.json")).toEqual({ installPath: "node_modules/a/node_modules/@s/b", name: "@s/b" });
    expect(packageJsonPath("node_modules/a/lib/package.json")).toBeUndefined();
    expect(packageJsonPath("node_modules/.bin/package.json")).toBeUndefined();
    expect(packageJsonPath("src/package.json")).toBeUndefined();
  });

  it("reads name, version and license from package.json and integrity and resolved from the lockfile", () => {
    const a = file("repo/node_modules/a/package.json", { name: "a", version: "1.0.0", license: "MIT" });
    const s = file("repo/node_modules/@s/b/package.json", { name: "@s/b", version: "2.0.0", licenses: [{ type: "MIT" }, { type: "Apache-2.0" }] });
    const nested = file("repo/node_modules/a/node_modules/c/package.json", { name: "c", version: "0.1.0", license: { type: "ISC" } });
    const inner = file("repo/node_modules/a/dist/package.json", { type: "module" });
    file("repo/node_modules/.package-lock.json", {
      lockfileVersion: 3,
      packages: {
        "node_modules/a": { version: "1.0.0", integrity: "sha512-AAAA", resolved: "https://registry.npmjs.org/a/-/a-1.0.0.tgz" },
        "node_modules/a/node_modules/c": { version: "0.1.0", integrity: "sha512-CCCC" },
        "node_modules/@s/b": { version: "1.9.0", integrity: "sha512-OLD" },
      },
    });
    const pkgs = npmPackages([a, s, nested, inner]);
    expect(pkgs).toEqual([
      { name: "a", version: "1.0.0", license: "MIT", integrity: "sha512-AAAA", resolved: "https://registry.npmjs.org/a/-/a-1.0.0.tgz" },
      // The lockfile entry names another version: its integrity is not this package's.
      { name: "@s/b", version: "2.0.0", license: "(MIT OR Apache-2.0)", integrity: undefined, resolved: undefined },
      { name: "c", version: "0.1.0", license: "ISC", integrity: "sha512-CCCC", resolved: undefined },
    ]);
  });

  it("falls back to the project's package-lock.json, and works with no lockfile at all", () => {
    const d = file("proj/node_modules/d/package.json", { name: "d", version: "4.0.0" });
    file("proj/package-lock.json", { lockfileVersion: 2, packages: { "node_modules/d": { version: "4.0.0", integrity: "sha512-DDDD" } } });
    expect(npmPackages([d])[0].integrity).toBe("sha512-DDDD");
    const e = file("bare/node_modules/e/package.json", { name: "e", version: "5.0.0" });
    expect(npmPackages([e])).toEqual([{ name: "e", version: "5.0.0", integrity: undefined, license: undefined, resolved: undefined }]);
  });

  it("names the file when a package.json is not JSON", () => {
    const bad = file("broken/node_modules/f/package.json", "{nope");
    expect(() => npmPackages([bad])).toThrow(expect.objectContaining({ code: "E_BAD_INPUT", message: expect.stringContaining(bad) }));
  });
});
