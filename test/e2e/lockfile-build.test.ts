/**
 * `pipeline build --lockfile`: a package.json + lockfile project (one tiny real dependency, `ms`, from the npm
 * registry) becomes base + node_modules + code layers. Reproducible across paths and times; the node_modules
 * layer is cached by the lockfile (a cached build runs without npm on PATH); a code change touches only the
 * code layer; a lockfile change rebuilds node_modules. The image passes verify-image and runs under runc.
 */
import { cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { build } from "../../src/cli/commands/build";
import { run } from "../../src/cli/commands/run";
import { verifyImageCommand } from "../../src/cli/commands/verify-image";
import type { CliIo } from "../../src/cli/io";
import { listLayer } from "../../src/layer/tar-read";
import { blobPath, readLayout } from "../../src/layout/read";
import { pushImage } from "../../src/registry/push";
import { pipelineErrorOf } from "../fixtures/errors";
import { type RunningRegistry, startRegistry } from "../fixtures/registry";
import { runPushedImage } from "../fixtures/runc";

const INTEGRITY: Record<string, string> = {
  "2.1.3": "sha512-6FlzubTLZG3J2a/NVCAleEhjzq5oxgHyaCU9yYXvcLsvoVaHJq/s5xXI6/XXP6tz7R9xAOtHnSO/tXtF3WRTlA==",
  "2.1.2": "sha512-sGkPx+VjMtmA6MX27oA4FBFELFCZZ4S4XqeGOXCv68tT+jb3vk/RyaKWP0PTKyWtmLSM0b+adUTEvbs1PEaH2w==",
};

const MAIN_JS = [
  'const ms = require("ms");',
  'const { hasContainerImage } = require("@rules_pipeline/runtime");',
  'console.log(JSON.stringify({ ms: ms("2 days"), args: process.argv.slice(2), image: hasContainerImage(), cwd: process.cwd() }));',
  "",
].join("\n");

function writeProject(dir: string, msVersion: string): void {
  mkdirSync(join(dir, "lib"), { recursive: true });
  const pkg = { name: "lock-app", version: "1.0.0", main: "main.js", dependencies: { ms: msVersion } };
  writeFileSync(join(dir, "package.json"), JSON.stringify(pkg, null, 2) + "\n");
  const lock = {
    name: "lock-app",
    version: "1.0.0",
    lockfileVersion: 3,
    requires: true,
    packages: {
      "": { name: "lock-app", version: "1.0.0", dependencies: { ms: msVersion } },
      "node_modules/ms": {
        version: msVersion,
        resolved: `https://registry.npmjs.org/ms/-/ms-${msVersion}.tgz`,
        integrity: INTEGRITY[msVersion],
        license: "MIT",
      },
    },
  };
  writeFileSync(join(dir, "package-lock.json"), JSON.stringify(lock, null, 2) + "\n");
  writeFileSync(join(dir, "main.js"), MAIN_JS);
  writeFileSync(join(dir, "lib", "util.js"), "module.exports = 1;\n");
  // Left out of the code layer: .dockerignore'd files, .npmrc, node_modules, .git.
  writeFileSync(join(dir, ".dockerignore"), "# local files\n*.log\nbuild/\n!build/keep.js\n");
  writeFileSync(join(dir, "debug.log"), "noise\n");
  mkdirSync(join(dir, "build"), { recursive: true });
  writeFileSync(join(dir, "build", "out.js"), "// generated\n");
  writeFileSync(join(dir, "build", "keep.js"), "// kept\n");
  writeFileSync(join(dir, ".npmrc"), "//registry.example.invalid/:_authToken=not-a-real-token\n");
  mkdirSync(join(dir, "node_modules", "stale"), { recursive: true });
  writeFileSync(join(dir, "node_modules", "stale", "index.js"), "// not from the lockfile\n");
  mkdirSync(join(dir, ".git"), { recursive: true });
  writeFileSync(join(dir, ".git", "HEAD"), "ref: refs/heads/main\n");
}

function captureIo(env: NodeJS.ProcessEnv): CliIo & { out: string[]; err: string[] } {
  const out: string[] = [];
  const err: string[] = [];
  return {
    out,
    err,
    stdout: (l) => out.push(l),
    stderr: (l) => err.push(l),
    env,
    cwd: process.cwd(),
    isTTY: false,
    readStdin: async () => "",
  };
}

let tmp: string;
let env: NodeJS.ProcessEnv;
let projectA: string;
let cacheA: string;
let outA: string;
let digestA: string;
let reg: RunningRegistry;

beforeAll(async () => {
  tmp = mkdtempSync(join(tmpdir(), "rp-e2e-lockfile-"));
  // A private npm cache: the first build really downloads `ms`.
  env = { ...process.env, npm_config_cache: join(tmp, "npm-cache") };
  delete env.SOURCE_DATE_EPOCH;
  projectA = join(tmp, "project-a");
  writeProject(projectA, "2.1.3");
  cacheA = join(tmp, "cache-a");
  outA = join(tmp, "out-a");
  const io = captureIo(env);
  const r = await build({ lockfile: projectA, output: outA, "cache-dir": cacheA }, io);
  digestA = r.result.digest;
  expect(io.out).toEqual([digestA]);
  expect(io.err.join("\n")).toContain("node_modules layer: running npm ci (lockfile sha256:");
  expect(io.err.join("\n")).toContain("base: building the host-node base");
  expect(r.result.nodeModules.cached).toBe(false);
  reg = await startRegistry();
});

afterAll(async () => {
  await reg?.stop();
  rmSync(tmp, { recursive: true, force: true });
});

function layerPaths(layout: string, i: number): Promise<string[]> {
  const img = readLayout(layout);
  return listLayer(blobPath(layout, img.layers[i].digest)).then((l) => l.map((e) => e.path));
}

describe("pipeline build --lockfile", () => {
  it("lays the image out like the Bazel rules: base, node_modules at /app/node_modules (with the runtime), code at /app", async () => {
    const img = readLayout(outA, { refName: "latest" });
    expect(img.digest).toBe(digestA);
    expect(img.config.config?.Entrypoint).toEqual(["node", "/app/main.js"]);
    expect(img.config.config?.Cmd).toEqual([]);
    expect(img.config.config?.WorkingDir).toBe("/app");
    expect(img.config.created).toBe("1970-01-01T00:00:00Z");
    expect(img.layers).toHaveLength(4); // host-node base: system + node; then node_modules, app
    const nm = await layerPaths(outA, 2);
    expect(nm).toContain("app/node_modules/ms/index.js");
    expect(nm).toContain("app/node_modules/@rules_pipeline/runtime/index.js");
    expect(nm.some((p) => p.includes("stale"))).toBe(false);
    const code = await layerPaths(outA, 3);
    expect(code.filter((p) => !p.endsWith("/")).sort()).toEqual(
      [
        "app/.dockerignore",
        "app/build/keep.js",
        "app/lib/util.js",
        "app/main.js",
        "app/package-lock.json",
        "app/package.json",
      ].sort(),
    );
  });

  it("passes verify-image: every requirement of the image contract is met", async () => {
    const io = captureIo(env);
    const r = await verifyImageCommand({ reference: `oci:${outA}` }, io);
    // Its base (host-node) sets no user, so C12 warns that it runs as root; nothing else may.
    expect(io.out.filter((l) => /^(MISS|warn)/.test(l))).toEqual([expect.stringMatching(/^warn C12 no user set/)]);
    expect(io.out).toContain('ok   C2 entrypoint is ["node", "/app/main.js"]');
    expect(io.out).toContain("ok   C6 node at /usr/local/bin/node (mode 0755)");
    expect(io.out).toContain("ok   C10 runtime library at /app/node_modules/@rules_pipeline/runtime (index.js)");
    expect(r.exitCode).toBe(0);
  });

  it("a second build with the same lockfile reuses the cached node_modules layer without npm (npm is not on PATH)", async () => {
    const io = captureIo({ ...env, PATH: "/nonexistent" });
    const r = await build({ lockfile: projectA, output: join(tmp, "out-a2"), "cache-dir": cacheA }, io);
    expect(io.err).toContain(`node_modules layer: cached (lockfile ${r.result.lockfileSha256})`);
    expect(r.result.nodeModules.cached).toBe(true);
    expect(r.result.digest).toBe(digestA);
  });

  it("same inputs, same digest: a copy at another path with other mtimes, a fresh cache (npm runs again)", async () => {
    const copy = join(tmp, "elsewhere", "copy-of-project");
    cpSync(projectA, copy, { recursive: true });
    for (const f of ["main.js", "package.json", "lib/util.js"]) utimesSync(join(copy, f), 1_600_000_000, 1_600_000_000);
    const io = captureIo(env);
    const r = await build(
      {
        lockfile: copy,
        output: join(tmp, "out-copy"),
        "cache-dir": join(tmp, "cache-b"),
        base: `oci:${join(cacheA, "bases")}/${baseDirName()}`,
      },
      io,
    );
    expect(io.err.join("\n")).toContain("node_modules layer: running npm ci");
    expect(r.result.digest).toBe(digestA);
  });

  it("a code change changes only the code layer; a lockfile change rebuilds node_modules", async () => {
    const changed = join(tmp, "changed-code");
    cpSync(projectA, changed, { recursive: true });
    writeFileSync(join(changed, "lib", "util.js"), "module.exports = 2;\n");
    const io = captureIo(env);
    const r = await build({ lockfile: changed, output: join(tmp, "out-changed"), "cache-dir": cacheA }, io);
    expect(r.result.nodeModules.cached).toBe(true);
    const a = readLayout(outA).manifest.layers.map((l) => l.digest);
    const b = readLayout(join(tmp, "out-changed")).manifest.layers.map((l) => l.digest);
    expect(b.slice(0, 3)).toEqual(a.slice(0, 3));
    expect(b[3]).not.toBe(a[3]);

    const relocked = join(tmp, "relocked");
    cpSync(projectA, relocked, { recursive: true });
    writeProject(relocked, "2.1.2");
    const io2 = captureIo(env);
    const r2 = await build({ lockfile: relocked, output: join(tmp, "out-relocked"), "cache-dir": cacheA }, io2);
    expect(io2.err.join("\n")).toContain("node_modules layer: running npm ci");
    expect(r2.result.nodeModules.cached).toBe(false);
    const c = readLayout(join(tmp, "out-relocked")).manifest.layers.map((l) => l.digest);
    expect(c.slice(0, 2)).toEqual(a.slice(0, 2));
    expect(c[2]).not.toBe(a[2]);
    const pkg = JSON.parse(readFileSync(join(relocked, "package.json"), "utf8"));
    expect(pkg.dependencies.ms).toBe("2.1.2");
  });

  it("runs under runc after a push: node finds ms and the runtime library, arguments reach the script", async () => {
    const pushed = await pushImage(readLayout(outA), { registry: reg.host, repository: "lockfile/app", tags: ["v1"] });
    expect(pushed.digest).toBe(digestA);
    const run = runPushedImage(`${reg.host}/lockfile/app:v1`, ["one", "two"]);
    expect(run.code, run.stderr).toBe(0);
    expect(JSON.parse(run.stdout)).toEqual({ ms: 172_800_000, args: ["one", "two"], image: false, cwd: "/app" });
  });

  it("`pipeline run` of a LockfileProject spec builds the image from the code's lockfile and runs it under runc", async () => {
    const specPath = join(tmp, "lockfile-spec.yaml");
    writeFileSync(
      specPath,
      `name: lock-app\ninterpreter: {type: LockfileProject}\ncode: {type: ServerAvailableFolder, codePaths: [${projectA}]}\nargs: [from-spec]\n`,
    );
    const cache = join(tmp, "run-cache");
    const io = captureIo(env);
    const r = await run({ spec: specPath, "cache-dir": cache }, io);
    expect(r.exitCode, io.err.join("\n")).toBe(0);
    // The same image `pipeline build --lockfile` makes, run from /app with the spec's args.
    expect(io.err.join("\n")).toContain(`project ${projectA}: built from its lockfile as ${digestA}`);
    expect(io.out.map((l) => JSON.parse(l))).toEqual([
      { ms: 172_800_000, args: ["from-spec"], image: false, cwd: "/app" },
    ]);
    expect(readdirSync(join(cache, "lockfile-builds"))).toEqual([]); // the build's layout is removed after the run
  });

  it("--base from a registry: the same layers, the base recorded by digest", async () => {
    const baseLayout = join(cacheA, "bases", baseDirName());
    const base = await pushImage(readLayout(baseLayout), {
      registry: reg.host,
      repository: "bases/host-node",
      tags: ["20"],
    });
    const io = captureIo({ ...env, PATH: "/nonexistent" }); // cached node_modules: npm is not needed
    const r = await build(
      {
        lockfile: projectA,
        output: join(tmp, "out-remote-base"),
        "cache-dir": cacheA,
        base: `${reg.host}/bases/host-node:20`,
      },
      io,
    );
    const img = readLayout(join(tmp, "out-remote-base"));
    expect(img.manifest.layers.map((l) => l.digest)).toEqual(readLayout(outA).manifest.layers.map((l) => l.digest));
    expect(img.manifest.annotations).toMatchObject({
      "org.opencontainers.image.base.name": `${reg.host}/bases/host-node@${base.digest}`,
      "org.opencontainers.image.base.digest": base.digest,
    });
    expect(r.result.base.digest).toBe(base.digest);
  });

  it("bad input names the flag and the value; an unreachable npm registry is a clear error", async () => {
    const empty = join(tmp, "empty-project");
    mkdirSync(empty, { recursive: true });
    writeFileSync(join(empty, "package.json"), "{}");
    let e = await pipelineErrorOf(
      build({ lockfile: empty, output: join(tmp, "x"), "cache-dir": cacheA }, captureIo(env)),
    );
    expect(e.message).toContain(
      `--lockfile ${empty}: no lockfile in ${empty} (looked for npm-shrinkwrap.json, package-lock.json, pnpm-lock.yaml, yarn.lock)`,
    );
    e = await pipelineErrorOf(
      build({ lockfile: projectA, output: join(tmp, "x"), "cache-dir": cacheA, entry: "nope.js" }, captureIo(env)),
    );
    expect(e.message).toMatch(/^--entry: entry script "nope.js" is not among the project's files/);
    e = await pipelineErrorOf(
      build({ lockfile: projectA, output: join(tmp, "x"), "cache-dir": cacheA, entry: "debug.log" }, captureIo(env)),
    );
    expect(e.message).toContain('got "debug.log"');

    const offline = join(tmp, "offline");
    cpSync(projectA, offline, { recursive: true });
    writeProject(offline, "2.1.2");
    rmSync(join(offline, ".npmrc"));
    const offEnv = {
      ...env,
      npm_config_cache: join(tmp, "empty-npm-cache"),
      npm_config_registry: "http://127.0.0.1:9/",
      npm_config_fetch_retries: "0",
    };
    e = await pipelineErrorOf(
      build(
        {
          lockfile: offline,
          output: join(tmp, "x"),
          "cache-dir": join(tmp, "cache-offline"),
          base: `oci:${join(cacheA, "bases")}/${baseDirName()}`,
        },
        captureIo(offEnv),
      ),
    );
    expect(e.code).toBe("E_NPM_NETWORK");
    expect(e.message).toContain("npm ci could not reach the npm registry (http://127.0.0.1:9/)");
  });
});

/** The host-node base the first build made in its cache. */
function baseDirName(): string {
  const names = readdirSync(join(cacheA, "bases")).filter((n) => n.startsWith("host-node-"));
  expect(names).toHaveLength(1);
  return names[0];
}
