/**
 * ES modules at run time (docs/typescript.md, "ES modules at run time"), on real Bazel 4.2.3: pipelines whose code is
 * JavaScript ES modules run in `_local`, `_binary` (the built image under runc), NAME (pushed to a loopback registry,
 * then the launch script runs the pushed image) and in the image itself, under runc and under podman.
 * - `esm`: `"type": "module"` from its own package.json (in `srcs`), a `.js` entry with top-level await, import.meta,
 *   named imports of `@rules_pipeline/runtime`, an ESM-only npm package with top-level await (`esm-tla`, which
 *   `require()` cannot load) and a CommonJS one imported from ESM (`cjs-math`): test/fixtures/esm-packages/app, its
 *   packages `file:` tarballs of an npm lockfile read by `npm_dependencies`.
 * - `rootesm`: `"type": "module"` from the root's package.json, given through `data = ["//:package.json"]`.
 * - `mjs`: a `.mjs` entry in a package with no package.json.
 * - `cjs`: a CommonJS `.js` entry in a package with no package.json, while the root's package.json (not given to it)
 *   says `"type": "module"`; it has data from the root package, so Bazel links the root's files into the execroot.
 *   CommonJS in runfiles as in the image (the runfiles tree has its own `{}` package.json at its root), and the rules'
 *   own bundles, run by build actions in the execroot below the workspace root, load as CommonJS (js_bundle.bzl).
 */
import { cpSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { bazel, QUIET, REPO_ROOT } from "../fixtures/bazel";
import { type Borrowed, borrowConsumerWorkspace } from "../fixtures/workspace-pool";
import { runCli } from "../fixtures/cli";
import { type RunningRegistry, startRegistry } from "../fixtures/registry";
import { runLayoutImage } from "../fixtures/runc";

const tmp = mkdtempSync(join(tmpdir(), "rp-e2e-esm-"));
let reg: RunningRegistry;
let ws: string;
let borrowed: Borrowed | undefined;

const PIPELINE = (name: string, entry: string, extra: string) =>
  `pipeline(name = "${name}", entry = "${entry}", base = "@pipeline-host-node//image", registry = "localhost:5000", ` +
  `repository = "esm/${name}", ${extra})\n`;
const LOAD = 'load("@rules_pipeline//bazel:pipeline.bzl", "pipeline")\n';

/** The line the fixture's main.js prints where it does the work. */
const WORK = (inContainer: boolean, args: string) => [
  `esm pipeline: awaited; esm-tla ready, 2+3=5; 1+1=2; in container: ${inContainer}; args: ${args}`,
];

beforeAll(async () => {
  reg = await startRegistry();
  borrowed = borrowConsumerWorkspace(
    'npm_dependencies(name = "esmnpm", package_json = "//esm:package.json", lockfile = "//esm:package-lock.json", ' +
      'workspace_files = ["//esm:vendor/esm-tla-1.0.0.tgz", "//esm:vendor/cjs-math-1.0.0.tgz"])\n',
  );
  ws = borrowed.ws;
  cpSync(join(REPO_ROOT, "test/fixtures/esm-packages/app"), join(ws, "esm"), { recursive: true });
  writeFileSync(
    join(ws, "esm/BUILD.bazel"),
    `${LOAD}exports_files(["package.json", "package-lock.json", "vendor/esm-tla-1.0.0.tgz", "vendor/cjs-math-1.0.0.tgz"])\n` +
      PIPELINE(
        "esm",
        "main.js",
        'srcs = ["lib.js", "package.json"], deps = ["@esmnpm//:node_modules/esm-tla", "@esmnpm//:node_modules/cjs-math"]',
      ),
  );
  writeFileSync(join(ws, "package.json"), '{ "private": true, "type": "module" }\n');
  writeFileSync(
    join(ws, "BUILD.bazel"),
    'exports_files(["package.json"])\nfilegroup(name = "shared", srcs = ["shared.txt"], visibility = ["//visibility:public"])\n',
  );
  writeFileSync(join(ws, "shared.txt"), "shared\n");
  cpSync(join(ws, "esm"), join(ws, "rootesm"), {
    recursive: true,
    filter: (f) => !f.endsWith("package.json") && !f.endsWith("BUILD.bazel"),
  });
  writeFileSync(
    join(ws, "rootesm/BUILD.bazel"),
    LOAD +
      PIPELINE(
        "rootesm",
        "main.js",
        'srcs = ["lib.js"], data = ["//:package.json"], deps = ["@esmnpm//:node_modules/esm-tla", "@esmnpm//:node_modules/cjs-math"]',
      ),
  );
  writeFileSync(
    join(ws, "examples/mjs.mjs"),
    'import { hasContainerImage } from "@rules_pipeline/runtime";\nconst v = await Promise.resolve(import.meta.filename);\n' +
      "console.log(`mjs: ${v} ${hasContainerImage()}`);\n",
  );
  mkdirSync(join(ws, "cjs"));
  writeFileSync(
    join(ws, "cjs/main.js"),
    'const { hasContainerImage } = require("@rules_pipeline/runtime");\nconsole.log(`cjs: ${typeof module} ${hasContainerImage()}`);\n',
  );
  writeFileSync(join(ws, "cjs/BUILD.bazel"), LOAD + PIPELINE("cjs", "main.js", 'data = ["//:shared"]'));
  writeFileSync(
    join(ws, "examples/BUILD.bazel"),
    `exports_files(["package.json", "package-lock.json"])\n${LOAD}${PIPELINE("mjs", "mjs.mjs", "")}`,
  );
});

afterAll(async () => {
  await borrowed?.release();
  await reg?.stop();
  rmSync(tmp, { recursive: true, force: true });
});

describe("ES module pipelines on Bazel 4.2.3", () => {
  test("_local: `type: module` from the pipeline's package.json or the root's; a .mjs entry", async () => {
    const r = await bazel(ws, ["run", ...QUIET, "//esm:esm_local", "--", "a", "b"]);
    expect(r.code, r.stderr).toBe(0);
    const dir = /dirname=(\S+) filename=(\S+)/.exec(r.stdout);
    expect(dir?.[1], r.stdout).toMatch(/\.runfiles\/consumer\/esm$/);
    expect(dir?.[2]).toBe(`${dir?.[1]}/main.js`);
    expect(r.stdout).toContain(`url=file://${dir?.[2]}\n`);
    expect(r.stdout.split("\n").slice(0, 1)).toEqual(WORK(false, "a,b"));
    const root = await bazel(ws, ["run", ...QUIET, "//rootesm:rootesm_local"]);
    expect(root.code, root.stderr).toBe(0);
    expect(root.stdout).toContain("filename=");
    expect(root.stdout.split("\n").slice(0, 1)).toEqual(WORK(false, ""));
    const mjs = await bazel(ws, ["run", ...QUIET, "//examples:mjs_local"]);
    expect(mjs.code, mjs.stderr).toBe(0);
    expect(mjs.stdout).toMatch(/^mjs: \S+\.runfiles\/consumer\/examples\/mjs\.mjs false\n$/);
  });

  test("a CommonJS entry under a root package.json that says `type: module` (not given to it) stays CommonJS", async () => {
    const r = await bazel(ws, ["run", ...QUIET, "//cjs:cjs_local"]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe("cjs: object false\n");
    const b = await bazel(ws, ["build", "//cjs:cjs_image"]);
    expect(b.code, b.stderr).toBe(0);
    const img = runLayoutImage(join(ws, "bazel-bin/cjs/cjs_image"));
    expect(img.code, img.stderr).toBe(0);
    expect(img.stdout).toBe("cjs: object false\n");
  });

  test("the images run the ES module entries under runc, package.json at its workspace path in /app", async () => {
    const r = await bazel(ws, ["build", "//esm:esm_image", "//rootesm:rootesm_image", "//examples:mjs_image"]);
    expect(r.code, r.stderr).toBe(0);
    const esm = runLayoutImage(join(ws, "bazel-bin/esm/esm_image"), ["1"]);
    expect(esm.code, esm.stderr).toBe(0);
    expect(esm.stdout.split("\n")).toEqual([
      ...WORK(false, "1"),
      "url=file:///app/esm/main.js",
      "dirname=/app/esm filename=/app/esm/main.js",
      "",
    ]);
    const root = runLayoutImage(join(ws, "bazel-bin/rootesm/rootesm_image"));
    expect(root.code, root.stderr).toBe(0);
    expect(root.stdout).toContain("dirname=/app/rootesm filename=/app/rootesm/main.js");
    const mjs = runLayoutImage(join(ws, "bazel-bin/examples/mjs_image"));
    expect(mjs.code, mjs.stderr).toBe(0);
    expect(mjs.stdout).toBe("mjs: /app/examples/mjs.mjs false\n");
  });

  test("the Bazel-built ESM image runs under podman too (`pipeline run --runtime podman`)", async () => {
    const r = await runCli([
      "run",
      "--image",
      `oci:${join(ws, "bazel-bin/esm/esm_image")}`,
      "--cache-dir",
      join(tmp, "run-cache"),
      "--runtime",
      "podman",
      "--",
      "4",
    ]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.split("\n")).toEqual([
      ...WORK(true, "4"),
      "url=file:///app/esm/main.js",
      "dirname=/app/esm filename=/app/esm/main.js",
      "",
    ]);
  });

  test("_binary: the ESM launch script awaits runInContainer() of the built image (runc)", async () => {
    const r = await bazel(ws, ["run", ...QUIET, "//esm:esm_binary", "--", "2"], {
      PIPELINE_REPOSITORY: `${reg.host}/esm/binary`,
    });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(new RegExp(`^container image: ${reg.host}/esm/binary@sha256:[0-9a-f]{64} true\n`));
    expect(r.stdout).toContain(`${WORK(true, "2")[0]}\n`);
    expect(r.stdout).toContain("dirname=/app/esm filename=/app/esm/main.js");
  });

  test("NAME: pushes to the registry, then the ESM launch script runs the pushed image", async () => {
    const r = await bazel(ws, ["run", ...QUIET, "//esm:esm", "--", "3"], {
      PIPELINE_REPOSITORY: `${reg.host}/esm/pushed`,
    });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(new RegExp(`^container image: ${reg.host}/esm/pushed@sha256:[0-9a-f]{64} true\n`));
    expect(r.stdout).toContain(`${WORK(true, "3")[0]}\n`);
    expect(r.stdout).toContain("dirname=/app/esm filename=/app/esm/main.js");
  });
});
