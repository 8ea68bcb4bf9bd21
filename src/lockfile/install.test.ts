/**
 * install.ts's guard (bootstrap/npm_guard.js) refuses before any package manager is downloaded or run: the
 * errors are E_BAD_INPUT naming the file. The real tools meet the guard in test/e2e/lockfile-hostile-repo.test.ts.
 */
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { pipelineErrorOf } from "../../test/fixtures/errors";
import { installDependencies } from "./install";

const tmp = mkdtempSync(join(tmpdir(), "rp-install-guard-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const BERRY =
  '__metadata:\n  version: 8\n  cacheKey: 10c0\n\n"evil@git+https://example.com/evil.git":\n  version: 1.0.0\n  resolution: "evil@git+https://example.com/evil.git#commit=abc"\n';

function project(name: string, files: Record<string, string>) {
  const dir = join(tmp, name);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, "package.json"), '{"name":"app","version":"1.0.0"}');
  for (const [rel, text] of Object.entries(files)) writeFileSync(join(dir, rel), text);
  const work = join(tmp, `${name}-work`);
  mkdirSync(work);
  const p = {
    dir,
    packageJsonPath: join(dir, "package.json"),
    lockfilePath: join(dir, "yarn.lock"),
    manager: "yarn-berry" as const,
    manifests: [],
    installTree: { files: [], links: [] },
  };
  return { work, p, cacheDir: join(tmp, `${name}-cache`) };
}

describe("installDependencies: the guard runs first", () => {
  it("a yarn.lock dependency prepared from source is E_BAD_INPUT naming the lockfile and the package", async () => {
    const { work, p, cacheDir } = project("git", { "yarn.lock": BERRY });
    const e = await pipelineErrorOf(installDependencies(work, p, { env: process.env, cacheDir }));
    expect(e.code).toBe("E_BAD_INPUT");
    expect(e.message).toContain(`${p.lockfilePath}: a dependency is prepared from source`);
    expect(e.message).toContain("  evil (evil@git+https://example.com/evil.git#commit=abc)");
    expect(existsSync(cacheDir)).toBe(false); // no tool downloaded
  });

  it("a .yarnrc.yml the guard cannot split into keys is E_BAD_INPUT naming the file and the line", async () => {
    const { work, p, cacheDir } = project("yaml", {
      "yarn.lock": "__metadata:\n  version: 8\n",
      ".yarnrc.yml": 'nodeLinker: node-modules\n"plugins": [x]\n',
    });
    const e = await pipelineErrorOf(installDependencies(work, p, { env: process.env, cacheDir }));
    expect(e.code).toBe("E_BAD_INPUT");
    expect(e.message).toContain(`${join(p.dir, ".yarnrc.yml")} line 2:`);
    expect(existsSync(cacheDir)).toBe(false);
  });
});
