import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { pipelineErrorOfSync } from "../../test/fixtures/errors";
import { checkInstallScripts, HARMLESS_INSTALL_SCRIPTS, packageName, scriptedPackages } from "./install-scripts";

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function tree(pkgs: Record<string, { scripts?: Record<string, string>; gyp?: boolean }>): string {
  const root = mkdtempSync(join(tmpdir(), "rp-install-scripts-"));
  dirs.push(root);
  for (const [path, p] of Object.entries(pkgs)) {
    mkdirSync(join(root, path), { recursive: true });
    writeFileSync(join(root, path, "package.json"), JSON.stringify({ name: packageName(path), scripts: p.scripts }));
    if (p.gyp) writeFileSync(join(root, path, "binding.gyp"), "{}");
  }
  return root;
}

describe("install scripts in a --lockfile build", () => {
  it("the known-harmless list is npm_dependencies' (bazel/private/npm/install_scripts.bzl): one policy for both routes", () => {
    const bzl = readFileSync(join(__dirname, "..", "..", "bazel", "private", "npm", "install_scripts.bzl"), "utf8");
    const m = /^HARMLESS_INSTALL_SCRIPTS = (\[.*\])$/m.exec(bzl);
    expect(m).not.toBeNull();
    expect(JSON.parse(m![1])).toEqual([...HARMLESS_INSTALL_SCRIPTS]);
  });

  it("finds scripts, binding.gyp and hasInstallScript among installed packages only, nested ones by their name", () => {
    const root = tree({
      "node_modules/plain": {},
      "node_modules/addon": { gyp: true },
      "node_modules/banner": { scripts: { postinstall: "node banner.js", test: "x" } },
      "node_modules/a/node_modules/@s/nested": { scripts: { install: "make" } },
      "node_modules/flagged": {},
    });
    const lock = {
      "": {},
      "node_modules/plain": {},
      "node_modules/addon": {},
      "node_modules/banner": {},
      "node_modules/a/node_modules/@s/nested": {},
      "node_modules/flagged": { hasInstallScript: true },
      "node_modules/other-platform": { hasInstallScript: true }, // in the lockfile, not installed
    };
    const { installed, scripted } = scriptedPackages(root, lock);
    expect([...installed].sort()).toEqual(["@s/nested", "addon", "banner", "flagged", "plain"]);
    expect(scripted.map((s) => [s.name, s.why])).toEqual([
      ["@s/nested", 'install script "make"'],
      ["addon", "a binding.gyp (npm runs `node-gyp rebuild`)"],
      ["banner", 'postinstall script "node banner.js"'],
      ["flagged", "`hasInstallScript` in the lockfile"],
    ]);
  });

  it("fails on unlisted packages naming each and the flags; listed, ignored and harmless ones pass", () => {
    const scripted = [
      { name: "addon", path: "/x/addon", why: "a binding.gyp" },
      { name: "esbuild", path: "/x/esbuild", why: "postinstall" },
      { name: "banner", path: "/x/banner", why: "postinstall" },
    ];
    const installed = new Set(["addon", "esbuild", "banner"]);
    const e = pipelineErrorOfSync(() =>
      checkInstallScripts(scripted, installed, { allow: [], ignore: [] }, "/p/package-lock.json"),
    );
    expect(e.code).toBe("E_INSTALL_SCRIPTS");
    expect(e.message).toContain("packages of /p/package-lock.json have install scripts");
    expect(e.message).toContain("  addon (a binding.gyp)");
    expect(e.message).toContain("  banner (postinstall)");
    expect(e.message).not.toContain("esbuild (");
    expect(e.message).toContain("--allow-install-scripts addon --allow-install-scripts banner");
    expect(() => checkInstallScripts(scripted, installed, { allow: ["addon"], ignore: ["banner"] }, "l")).not.toThrow();
  });

  it("a name that is not installed, or in both lists, is an error naming the flag and the value", () => {
    const installed = new Set(["addon"]);
    expect(
      pipelineErrorOfSync(() => checkInstallScripts([], installed, { allow: ["adon"], ignore: [] }, "l")).message,
    ).toBe('--allow-install-scripts "adon": not a package l installs');
    expect(
      pipelineErrorOfSync(() => checkInstallScripts([], installed, { allow: ["addon"], ignore: ["addon"] }, "l"))
        .message,
    ).toContain('"addon" is in both --allow-install-scripts and --ignore-install-scripts');
  });
});
