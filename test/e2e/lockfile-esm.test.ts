/**
 * `pipeline build --lockfile` with a `"type": "module"` project (test/fixtures/esm-packages/app): the image runs the
 * ES module entry under runc, with top-level await, import.meta, named imports of the runtime library, an ESM-only
 * package with top-level await and a CommonJS package imported from ESM; the same image under podman too
 * (`pipeline run --runtime podman`). The two packages are npm workspaces here
 * (test/fixtures/esm-packages/src): the lockfile route does not install `file:` tarballs (npm ci runs on a copy of the
 * manifests, without the tarballs).
 */
import { spawnSync } from "node:child_process";
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, expect, it } from "vitest";
import { build } from "../../src/cli/commands/build";
import { run } from "../../src/cli/commands/run";
import type { CliIo } from "../../src/cli/io";
import { REPO_ROOT } from "../fixtures/repo";
import { runLayoutImage } from "../fixtures/runc";

const tmp = mkdtempSync(join(tmpdir(), "rp-e2e-lockfile-esm-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function quietIo(env: NodeJS.ProcessEnv, out: string[] = [], err: string[] = []): CliIo {
  const io: CliIo = {
    stdout: (l) => out.push(l),
    stderr: (l) => err.push(l),
    env,
    cwd: process.cwd(),
    isTTY: false,
    readStdin: async () => "",
  };
  return io;
}

const out = join(tmp, "out");
const WANT = [
  "esm pipeline: awaited; esm-tla ready, 2+3=5; 1+1=2; in container: false; args: x,y",
  "url=file:///app/main.js",
  "dirname=/app filename=/app/main.js",
];

it("builds a `type: module` project whose image runs its ES module entry", async () => {
  const project = join(tmp, "project");
  const fixture = join(REPO_ROOT, "test/fixtures/esm-packages");
  for (const f of ["main.js", "lib.js"]) cpSync(join(fixture, "app", f), join(project, f));
  for (const p of ["esm-tla", "cjs-math"])
    cpSync(join(fixture, "src", p), join(project, "packages", p), { recursive: true });
  const pkg = JSON.parse(readFileSync(join(fixture, "app/package.json"), "utf8"));
  pkg.workspaces = ["packages/*"];
  pkg.dependencies = { "cjs-math": "1.0.0", "esm-tla": "1.0.0" };
  writeFileSync(join(project, "package.json"), JSON.stringify(pkg, null, 2));
  const lock = spawnSync("npm", ["install", "--package-lock-only", "--ignore-scripts", "--offline"], {
    cwd: project,
    encoding: "utf8",
  });
  expect(lock.status, lock.stderr).toBe(0);
  const env = { ...process.env, npm_config_cache: join(tmp, "npm-cache") };
  await build({ lockfile: project, output: out, "cache-dir": join(tmp, "cache") }, quietIo(env));
  const r = runLayoutImage(out, ["x", "y"]);
  expect(r.code, r.stderr).toBe(0);
  expect(r.stdout.split("\n")).toEqual([...WANT, ""]);
});

it("the same image runs under podman (`pipeline run --runtime podman`)", async () => {
  const lines: string[] = [];
  const err: string[] = [];
  const io = quietIo({ ...process.env }, lines, err);
  const r = await run(
    { image: `oci:${out}`, "cache-dir": join(tmp, "run-cache"), runtime: "podman", "--": ["x", "y"] },
    io,
  );
  expect(r.exitCode, err.join("\n")).toBe(0);
  expect(lines).toEqual(WANT.map((l) => l.replace("in container: false", "in container: true")));
}, 300_000);
