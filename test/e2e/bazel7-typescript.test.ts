/**
 * The workspace's TypeScript 7 and ES modules on Bazel 7.7.1 with bzlmod (scripts/bazel7.sh's chroot): the same
 * consumer as test/e2e/bazel-typescript.test.ts (test/fixtures/esm-workspace.ts), its compiler named by
 * `pipeline.config(typescript = ...)` and its npm repositories by `pipeline.npm(...)`. The library and the pipeline
 * compile to ES modules with TypeScript 7 (its native compiler in the chroot), the per-target TypeScript 6 to
 * CommonJS; `_local` runs the pipeline and sees an edit of the library, and its image runs it under runc. (That
 * sandboxed compiles give the worker's bytes is checked on this workspace on 4.2.3, and on 7.7.1 by
 * test/e2e/bazel7-worker-differential.test.ts and bazel7-rules-js.test.ts.) Another user's `node_modules` and
 * `"type": "module"` package.json in TMPDIR change no TypeScript 7 compile, in the worker or sandboxed.
 * The same server also runs test/e2e/lockfiles.test.ts's pnpm project (test/fixtures/lockfiles/pnpm) under bzlmod:
 * `pipeline.npm(lockfile = pnpm-lock.yaml, workspace_files = [...])`, pnpm v9 with a workspace package, installed by
 * the pinned pnpm that Bazel's downloader fetches from the npm registry.
 */
import { appBuild } from "../fixtures/lockfile-app";
import { spawnSync } from "node:child_process";
import { appendFileSync, cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { discard, QUIET, REPO_ROOT } from "../fixtures/bazel";
import { bazel7, ensureBazel7, failure, shutdown7 } from "../fixtures/bazel7";
import { SHARED_TMP_SIDES, writeEsmWorkspace, writeSharedTmp } from "../fixtures/esm-workspace";
import { peersFile } from "../fixtures/peers";
import { residentCompilers, tscWorkersOf } from "../fixtures/processes";
import { runLayoutImage } from "../fixtures/runc";

const tmp = mkdtempSync(join(tmpdir(), "rp-e2e-bazel7-typescript-"));
const ws = join(tmp, "ws");

beforeAll(async () => {
  await ensureBazel7();
  writeEsmWorkspace(ws, "bzlmod");
  // //pnpm: test/fixtures/lockfiles/pnpm (ms, and the workspace package @acme/lib in packages/lib, which needs lodash).
  cpSync(join(REPO_ROOT, "test", "fixtures", "lockfiles", "pnpm"), join(ws, "pnpm"), { recursive: true });
  appendFileSync(
    join(ws, "MODULE.bazel"),
    `
pipeline.npm(
    name = "pnpm_deps",
    package_json = "//pnpm:package.json",
    lockfile = "//pnpm:pnpm-lock.yaml",
    workspace_files = ["//pnpm:pnpm-workspace.yaml", "//pnpm:packages/lib/package.json", "//pnpm:packages/lib/index.js"],
)
use_repo(pipeline, "pnpm_deps")
`,
  );
  writeFileSync(join(ws, "pnpm", "BUILD.bazel"), appBuild("bzlmod", "pnpm_deps"));
  // Bazel's JVM downloads pnpm (rctx.download): make it trust the machine's CA bundle, which may hold a TLS proxy's
  // CA, as shared/peers does for rules_js's downloads (its lib/mkjks.py: a JKS trust store without a JDK).
  const jks = spawnSync(
    "python3",
    [peersFile("lib", "mkjks.py"), "/etc/ssl/certs/ca-certificates.crt", join(ws, "cacerts.jks")],
    { encoding: "utf8" },
  );
  if (jks.status !== 0) throw new Error(`mkjks.py: ${jks.stderr}`);
  appendFileSync(
    join(ws, ".bazelrc"),
    [
      `startup --host_jvm_args=-Djavax.net.ssl.trustStore=${join(ws, "cacerts.jks")}`,
      "startup --host_jvm_args=-Djavax.net.ssl.trustStorePassword=changeit",
      "startup --host_jvm_args=-Djavax.net.ssl.trustStoreType=JKS",
      "",
    ].join("\n"),
  );
}, 1_800_000);

afterAll(async () => {
  await shutdown7(ws, { expunge: true });
  await discard(ws);
  rmSync(tmp, { recursive: true, force: true });
});

const bin = (rel: string) => readFileSync(join(ws, "bazel-bin", rel), "utf8");

describe("the workspace's TypeScript 7 and ES modules (Bazel 7.7.1, bzlmod)", () => {
  test("pipeline.config(typescript = ...): ES modules with TypeScript 7; the target's TypeScript 6 gives CommonJS", async () => {
    const r = await bazel7(ws, ["build", "--noenable_workspace", "//lib", "//app:app_app", "//app:six"]);
    expect(r.code, failure("build", r)).toBe(0);
    expect(bin("lib/index.js")).toBe('export { double } from "./math.js";\n');
    const main = bin("app/main.js");
    expect(main).toContain('import pLimit from "p-limit";');
    expect(main).toContain("await limit(");
    expect(bin("app/six.js")).toContain('require("node:path")');
  });

  test("_local runs the ES module pipeline; an edit of the library is seen", async () => {
    const first = await bazel7(ws, ["run", "--noenable_workspace", ...QUIET, "//app:app_local"]);
    expect(first.code, failure("run //app:app_local", first)).toBe(0);
    expect(first.stdout).toContain("esm: 42 from an ES module image=false");
    writeFileSync(join(ws, "lib", "math.ts"), "export function double(n: number): number {\n  return n * 2 + 1;\n}\n");
    const edited = await bazel7(ws, ["run", "--noenable_workspace", ...QUIET, "//app:app_local"]);
    expect(edited.code, failure("run //app:app_local after the edit", edited)).toBe(0);
    expect(edited.stdout).toContain("esm: 43 from an ES module");
  });

  test("its image runs the ES module pipeline under runc", async () => {
    const r = await bazel7(ws, ["build", "--noenable_workspace", "//app:app_image"]);
    expect(r.code, failure("build //app:app_image", r)).toBe(0);
    const img = runLayoutImage(join(ws, "bazel-bin", "app", "app_image"));
    expect(img.code, img.stderr).toBe(0);
    expect(img.stdout).toContain("esm: 43 from an ES module");
  });

  test("a TypeScript 6 target and the TypeScript 7 ones share one tsc worker: switching between them starts none (issue #75)", async () => {
    // Bazel 7 keeps one idle worker per mnemonic here and killed the other compiler's to start its own, so every switch
    // compiled from nothing; the compiler is now an input of TsCompile, not part of the worker's key.
    const build = async (target: string) => {
      const r = await bazel7(ws, ["build", "--noenable_workspace", target]);
      expect(r.code, failure(`build ${target}`, r)).toBe(0);
      return tscWorkersOf(ws);
    };
    await build("//app:six");
    // The workers the build before this test started (one, or more where compiles ran at once).
    const pids = await build("//lib");
    expect(pids.length).toBeGreaterThan(0);
    for (let i = 0; i < 2; i++) {
      writeFileSync(
        join(ws, "app", "six.ts"),
        `import { sep } from "node:path";\nexport const six: string = sep + "${i}";\n`,
      );
      expect(await build("//app:six")).toEqual(pids);
      writeFileSync(
        join(ws, "lib", "math.ts"),
        `export function double(n: number): number {\n  return n * 2 + ${i};\n}\n`,
      );
      expect(await build("//lib")).toEqual(pids);
    }
    expect(bin("app/six.js")).toContain('path_1.sep + "1"');
    expect(bin("lib/math.js")).toContain("n * 2 + 1");
    // //lib's TypeScript 7 compiles were answered by its resident compiler (src/tsc/resident.ts), kept by a worker.
    expect(pids.flatMap((pid) => residentCompilers(Number(pid)))).not.toHaveLength(0);
  });

  test("another user's node_modules and package.json in TMPDIR: neither the worker nor the sandbox sees them", async () => {
    // Inside the workspace, which the chroot and the server's mount namespace already have.
    const shared = join(ws, "shared-tmp");
    writeSharedTmp(ws, shared);
    const outputs: string[] = [];
    for (const side of SHARED_TMP_SIDES) {
      const strategy = side === "worker" ? [] : ["--strategy=TsCompile=sandboxed"];
      const targets = [`//shared_tmp/${side}:cjs`, `//shared_tmp/${side}:undeclared`];
      const r = await bazel7(ws, ["build", "--noenable_workspace", "--keep_going", ...strategy, ...targets], {
        env: { TMPDIR: shared },
      });
      expect(r.code, failure(`build ${side}`, r)).not.toBe(0);
      expect(r.stderr).toMatch(/undeclared\.ts\(1,19\): error TS2307: Cannot find module 'planted'/);
      expect(r.stderr).toMatch(side === "worker" ? /\d+ worker/ : /\d+ (linux-)?sandbox/);
      const cjs = bin(`shared_tmp/${side}/cjs.js`);
      expect(cjs).toContain("exports.x = 1;");
      expect(cjs).not.toContain("export const");
      outputs.push(cjs);
    }
    // Worker ≡ sandbox: the same bytes from the same source.
    expect(outputs[0]).toBe(outputs[1]);
  });

  test("pipeline.npm(lockfile = pnpm-lock.yaml, workspace_files = ...): ms and the pnpm workspace package @acme/lib run in _local", async () => {
    const r = await bazel7(ws, ["run", "--noenable_workspace", ...QUIET, "//pnpm:app_local", "--", "bzlmod"]);
    expect(r.code, failure("run //pnpm:app_local", r)).toBe(0);
    expect(r.stdout.trim()).toBe("bzlmod: ms 2m, lib sum 42");
  });
});
