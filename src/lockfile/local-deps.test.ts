/**
 * local-deps.ts: which specs name local paths, and that every one (package.json files, workspace patterns, the
 * lockfile) is resolved in the project, where the file naming it is, and refused when it leaves the project.
 */
import { mkdirSync, mkdtempSync, realpathSync, rmSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { pipelineErrorOfSync } from "../../test/fixtures/errors";
import { type LocalDependencyInputs, localDependencies, localPath } from "./local-deps";

const tmp = realpathSync(mkdtempSync(join(tmpdir(), "rp-local-deps-")));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
const root = join(tmp, "p");
mkdirSync(join(root, "vendor", "x"), { recursive: true });
mkdirSync(join(root, "packages", "a"), { recursive: true });
mkdirSync(join(tmp, "outside"));
symlinkSync("../../outside", join(root, "vendor", "out"));

function inputs(over: Partial<LocalDependencyInputs>): LocalDependencyInputs {
  return {
    root,
    dir: root,
    manifests: [{ rel: "package.json", json: {} }],
    lockfileRel: "package-lock.json",
    lockfile: Buffer.from("{}"),
    npmLock: {},
    ...over,
  };
}
const deps = (d: Record<string, string>, rel = "package.json") =>
  inputs({ manifests: [{ rel, json: { dependencies: d } }] });

describe("localPath", () => {
  it.each([
    ["file:../x", "../x"],
    ["file:vendor/x.tgz", "vendor/x.tgz"],
    ["file:///abs/x", "/abs/x"],
    ["link:../x", "../x"],
    ["portal:../x::locator=app%40workspace%3A.", "../x"],
    ["workspace:../x", "../x"],
    ["workspace:*", undefined],
    ["workspace:^1.0.0", undefined],
    ["./x", "./x"],
    ["../x", "../x"],
    ["/abs", "/abs"],
    ["~/x", "~/x"],
    ["^1.2.3", undefined],
    ["npm:other@1", undefined],
    ["github:a/b", undefined],
    ["https://example.com/x.tgz", undefined],
  ])("%s -> %s", (spec, path) => expect(localPath(spec)).toBe(path));
});

describe("localDependencies", () => {
  it("returns the local packages inside the project, resolved where the file naming them is", () => {
    expect(localDependencies(deps({ x: "file:vendor/x", y: "^1.0.0" }))).toEqual(["vendor/x"]);
    expect(localDependencies(deps({ x: "link:../../vendor/x" }, "packages/a/package.json"))).toEqual(["vendor/x"]);
    expect(localDependencies(deps({ x: `file:${join(root, "vendor", "x")}` }))).toEqual(["vendor/x"]);
  });

  it.each([
    ["file:../outside", "package.json"],
    ["../outside", "package.json"],
    ["~/.docker", "package.json"],
    ["file:../../../../.docker", "package.json"],
    ["/etc", "package.json"],
    ["file:vendor/out/x", "package.json"], // through a link of the project that leads out
    ["portal:../../../outside", "packages/a/package.json"],
  ])("refuses %s in %s, naming the file, the dependency and the spec", (spec, rel) => {
    const e = pipelineErrorOfSync(() => localDependencies(deps({ evil: spec }, rel)));
    expect(e.code).toBe("E_BAD_INPUT");
    expect(e.message).toContain(`${join(root, rel)}: dependency "evil": ${JSON.stringify(spec)} `);
  });

  it("checks overrides, resolutions and pnpm.overrides too", () => {
    for (const json of [
      { overrides: { a: { b: "file:../outside" } } },
      { resolutions: { b: "link:../outside" } },
      { pnpm: { overrides: { b: "../outside" } } },
    ]) {
      expect(
        pipelineErrorOfSync(() => localDependencies(inputs({ manifests: [{ rel: "package.json", json }] }))).message,
      ).toContain('"b"');
    }
  });

  it("refuses workspace patterns that leave the project", () => {
    const e = pipelineErrorOfSync(() =>
      localDependencies(inputs({ manifests: [{ rel: "package.json", json: { workspaces: ["packages/*", "../*"] } }] })),
    );
    expect(e.message).toContain(`${join(root, "package.json")}: workspace pattern "../*" leads outside the project`);
    const p = pipelineErrorOfSync(() =>
      localDependencies(inputs({ pnpmWorkspace: "packages:\n  - 'packages/*'\n  - '/abs/*'\n" })),
    );
    expect(p.message).toContain(`${join(root, "pnpm-workspace.yaml")}: workspace pattern "/abs/*"`);
  });

  it("checks the lockfile's local paths: npm's link targets and file: tarballs, pnpm's and yarn's file:/link:/portal:", () => {
    const npm = (packages: Record<string, unknown>) => localDependencies(inputs({ npmLock: { packages } }));
    expect(npm({ "": {}, "vendor/x": {}, "node_modules/x": { resolved: "vendor/x", link: true } })).toEqual([]);
    expect(pipelineErrorOfSync(() => npm({ "../outside": {} })).message).toContain(
      'package-lock.json: package "../outside"',
    );
    expect(npm({ "vendor/x/node_modules/y": {} })).toEqual([]);
    expect(pipelineErrorOfSync(() => npm({ "../outside/node_modules/y": {} })).message).toContain(
      'package "../outside/node_modules/y"',
    );
    expect(pipelineErrorOfSync(() => npm({ "node_modules/x": { resolved: "file:../x.tgz" } })).message).toContain(
      '"../x.tgz" leads outside',
    );
    // Unless the lockfile pins the tarball's bytes (npm checks `integrity`): then what is installed is the lockfile's.
    expect(npm({ "node_modules/x": { resolved: "file:/srv/tarballs/x-1.0.0.tgz", integrity: "sha512-AAAA" } })).toEqual(
      [],
    );
    expect(
      pipelineErrorOfSync(() =>
        npm({ "node_modules/x": { resolved: "file:/home/u/.docker", integrity: "sha512-AAAA" } }),
      ).message,
    ).toContain('"/home/u/.docker" leads outside');
    expect(
      pipelineErrorOfSync(() => npm({ "node_modules/x": { resolved: "file:/srv/x.tgz", integrity: "md5-AAAA" } }))
        .message,
    ).toContain('"/srv/x.tgz" leads outside');
    const text = (lockfileRel: string, body: string) =>
      localDependencies(
        inputs({
          lockfileRel,
          lockfile: Buffer.from(body),
          manifests: [
            { rel: "package.json", json: {} },
            { rel: "packages/a/package.json", json: {} },
          ],
        }),
      );
    expect(
      text(
        "pnpm-lock.yaml",
        "      x:\n        specifier: link:../../vendor/x\n        version: link:../../vendor/x\n",
      ),
    ).toEqual([]);
    expect(pipelineErrorOfSync(() => text("pnpm-lock.yaml", "    version: link:../../../outside\n")).message).toContain(
      'pnpm-lock.yaml: "link:../../../outside"',
    );
    expect(
      pipelineErrorOfSync(() => text("yarn.lock", '"x@portal:../outside::locator=p%40workspace%3A.":\n')).message,
    ).toContain("yarn.lock");
  });
});
