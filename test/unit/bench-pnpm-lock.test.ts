/**
 * The bench's npm-lockfile → pnpm v9 lockfile conversion (bench/lib/pnpm-lock.ts), which the rules_js side of P9 hands
 * to rules_js's npm_translate_lock: every package once by name@version with its integrity, `file:` tarballs kept,
 * dependencies resolved as Node resolves them from each install path (a nested copy wins over the hoisted one),
 * platform packages with their os/cpu, and the root importer's specifiers. Parsed back with a YAML parser.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, expect, test } from "vitest";
import { parse } from "yaml";
import { writePnpmLock } from "../../bench/lib/pnpm-lock";

const tmp = mkdtempSync(join(tmpdir(), "rp-bench-pnpm-lock-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function convert(lock: unknown, pkg: unknown): Record<string, Record<string, Record<string, unknown>>> {
  writeFileSync(join(tmp, "package-lock.json"), JSON.stringify(lock));
  writeFileSync(join(tmp, "package.json"), JSON.stringify(pkg));
  writePnpmLock(join(tmp, "package.json"), join(tmp, "package-lock.json"), join(tmp, "pnpm-lock.yaml"));
  return parse(readFileSync(join(tmp, "pnpm-lock.yaml"), "utf8"));
}

const sri = (c: string) => `sha512-${c.repeat(86)}==`;

test("packages, snapshots and the importer of a tree with a nested copy, a file: tarball and platform packages", () => {
  const out = convert(
    {
      lockfileVersion: 3,
      packages: {
        "": { name: "root", dependencies: { a: "^1.0.0", "@s/c": "2.0.0" }, devDependencies: { "@types/a": "^1.0.0" } },
        "node_modules/a": {
          version: "1.2.0",
          resolved: "file:/t/a-1.2.0.tgz",
          integrity: sri("A"),
          dependencies: { b: "^2.0.0" },
        },
        "node_modules/a/node_modules/b": { version: "2.1.0", resolved: "file:/t/b-2.1.0.tgz", integrity: sri("B") },
        "node_modules/b": {
          version: "1.0.0",
          resolved: "https://registry.npmjs.org/b/-/b-1.0.0.tgz",
          integrity: sri("C"),
        },
        "node_modules/@s/c": {
          version: "2.0.0",
          resolved: "https://registry.npmjs.org/@s/c/-/c-2.0.0.tgz",
          integrity: sri("D"),
          dependencies: { b: "^1.0.0" },
          optionalDependencies: { "@s/c-linux-x64": "2.0.0", "@s/c-darwin-arm64": "2.0.0" },
        },
        "node_modules/@s/c-linux-x64": {
          version: "2.0.0",
          resolved: "file:/t/l.tgz",
          integrity: sri("E"),
          optional: true,
          os: ["linux"],
          cpu: ["x64"],
        },
        "node_modules/@s/c-darwin-arm64": {
          version: "2.0.0",
          resolved: "file:/t/d.tgz",
          integrity: sri("F"),
          optional: true,
          os: ["darwin"],
          cpu: ["arm64"],
        },
        "node_modules/@types/a": { version: "1.0.3", resolved: "file:/t/ta.tgz", integrity: sri("G"), dev: true },
      },
    },
    { name: "root", dependencies: { a: "^1.0.0", "@s/c": "2.0.0" }, devDependencies: { "@types/a": "^1.0.0" } },
  );
  expect(out.lockfileVersion).toBe("9.0");
  expect(out.importers["."]).toEqual({
    dependencies: { "@s/c": { specifier: "2.0.0", version: "2.0.0" }, a: { specifier: "^1.0.0", version: "1.2.0" } },
    devDependencies: { "@types/a": { specifier: "^1.0.0", version: "1.0.3" } },
  });
  expect(Object.keys(out.packages).sort()).toEqual(
    [
      "@s/c-darwin-arm64@2.0.0",
      "@s/c-linux-x64@2.0.0",
      "@s/c@2.0.0",
      "@types/a@1.0.3",
      "a@1.2.0",
      "b@1.0.0",
      "b@2.1.0",
    ].sort(),
  );
  expect(out.packages["a@1.2.0"]).toEqual({ resolution: { integrity: sri("A"), tarball: "file:/t/a-1.2.0.tgz" } });
  // A registry package: integrity only (rules_js makes the URL from its registry).
  expect(out.packages["b@1.0.0"]).toEqual({ resolution: { integrity: sri("C") } });
  expect(out.packages["@s/c-darwin-arm64@2.0.0"]).toMatchObject({ os: ["darwin"], cpu: ["arm64"] });
  // a's b is its nested copy; @s/c's is the hoisted one.
  expect(out.snapshots["a@1.2.0"]).toEqual({ dependencies: { b: "2.1.0" } });
  expect(out.snapshots["@s/c@2.0.0"]).toEqual({
    dependencies: { b: "1.0.0" },
    optionalDependencies: { "@s/c-darwin-arm64": "2.0.0", "@s/c-linux-x64": "2.0.0" },
  });
  expect(out.snapshots["@s/c-linux-x64@2.0.0"]).toEqual({ optional: true });
  expect(out.snapshots["b@2.1.0"]).toEqual({});
});

test("a dependency no node_modules above holds is an error naming the lockfile, the path and the name", () => {
  expect(() =>
    convert(
      {
        lockfileVersion: 3,
        packages: { "": {}, "node_modules/a": { version: "1.0.0", integrity: sri("A"), dependencies: { gone: "1" } } },
      },
      { dependencies: { a: "1.0.0" } },
    ),
  ).toThrow(/package-lock\.json: node_modules\/a depends on gone, which no node_modules above it holds/);
  expect(() => convert({ lockfileVersion: 1, packages: {} }, {})).toThrow(/lockfileVersion 1/);
});
