/**
 * The lockfiles users have, installed by the real package manager pinned from the npm registry: pnpm-lock.yaml (v9,
 * pnpm 9.15.9), yarn.lock classic (yarn 1.22.22) and berry (Yarn 4.9.2), and package-lock.json, each a workspace
 * project (test/fixtures/lockfiles/<kind>: `ms` from the registry, and the workspace package `@acme/lib` in
 * packages/lib, which needs `lodash`). For each kind:
 * - `npm_dependencies` on Bazel 4.2.3 (one workspace for all): `@<kind>_deps//:node_modules/ms` and
 *   `@<kind>_deps//:node_modules/@acme/lib` as deps; `_local` prints what both compute; pnpm's `_image` runs under runc
 *   and its SBOM has the integrity pnpm-lock.yaml gives; an edit of a workspace package's file refetches;
 * - `pipeline build --lockfile`: the image runs under runc, the workspace package a link to the code layer's copy;
 * - an unsupported lockfile version (pnpm v6, yarn berry metadata 4) and an unknown lockfile name: clear errors naming
 *   the file and the version found, in both routes.
 * The pnpm project under Bazel 7.7.1 with bzlmod (`pipeline.npm(lockfile = pnpm-lock.yaml, workspace_files = [...])`)
 * runs in test/e2e/bazel7-typescript.test.ts's workspace: one Bazel 7 server for both.
 * The npm registry must be reachable (or the package managers' caches warm).
 */
import { appBuild } from "../fixtures/lockfile-app";
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { build } from "../../src/cli/commands/build";
import type { CliIo } from "../../src/cli/io";
import { listLayer } from "../../src/layer/tar-read";
import { blobPath, readLayout } from "../../src/layout/read";
import { bazel, type BazelResult, QUIET, REPO_ROOT } from "../fixtures/bazel";
import { type Borrowed, borrowConsumerWorkspace } from "../fixtures/workspace-pool";
import { pipelineErrorOf } from "../fixtures/errors";
import { runLayoutImage } from "../fixtures/runc";

const FIXTURES = join(REPO_ROOT, "test", "fixtures", "lockfiles");
const KINDS = [
  { kind: "pnpm", lock: "pnpm-lock.yaml", extra: ["pnpm-workspace.yaml"] },
  { kind: "npm", lock: "package-lock.json", extra: [] },
  { kind: "yarn", lock: "yarn.lock", extra: [] },
  { kind: "berry", lock: "yarn.lock", extra: [] },
];
const OUTPUT = (who: string, lib = "lib sum") => `${who}: ms 2m, ${lib} 42`;
const tmp = mkdtempSync(join(tmpdir(), "rp-e2e-lockfiles-"));
let ws = "";
let borrowed: Borrowed | undefined;
const env: NodeJS.ProcessEnv = { ...process.env };
delete env.SOURCE_DATE_EPOCH;

function captureIo(e: NodeJS.ProcessEnv): CliIo & { out: string[]; err: string[] } {
  const out: string[] = [];
  const err: string[] = [];
  return {
    out,
    err,
    stdout: (l) => out.push(l),
    stderr: (l) => err.push(l),
    env: e,
    cwd: process.cwd(),
    isTTY: false,
    readStdin: async () => "",
  };
}

const V6 = "lockfileVersion: '6.0'\n\ndependencies:\n  ms:\n    specifier: 2.1.3\n    version: 2.1.3\n";
/** yarn 1 quotes this URL in its error as it is: ESC ] 0 ; ... BEL would set the terminal's title. */
const ESCAPES_LOCK =
  '# yarn lockfile v1\n\n\nms@2.1.3:\n  version "2.1.3"\n  resolved "http://127.0.0.1:9/ms\\u001b]0;pwned\\u0007-2.1.3.tgz"\n';
const BERRY_V4 = '__metadata:\n  version: 4\n  cacheKey: 7\n\n"ms@npm:2.1.3":\n  version: 2.1.3\n';

function workspaceFiles(kind: string, extra: string[]): string[] {
  return [...extra, "packages/lib/package.json", "packages/lib/index.js"].map((f) => `//${kind}:${f}`);
}

function npmDeps(name: string, pkg: string, lock: string, files: string[] = [], attrs = ""): string {
  return `npm_dependencies(name = "${name}", package_json = "//${pkg}:package.json", lockfile = "//${pkg}:${lock}", workspace_files = ${JSON.stringify(files)}${attrs})\n`;
}

/**
 * test/fixtures/lockfiles/scripts/<kind>: ms, `scripted` (a vendored tarball whose install script writes the built.js
 * its index requires; source in scripts/scripted) and the devDependency @types/ms. Each kind with `omit_dev` and
 * `allow_install_scripts`; pnpm also without them (`ignore_install_scripts`), yarn classic with no list (the error).
 */
const SCRIPT_KINDS = ["pnpm", "yarn", "berry"];
const SCRIPTED = ["//scripts_X:vendor/scripted-1.0.0.tgz"];
const scriptRepos = () =>
  SCRIPT_KINDS.map((k) =>
    npmDeps(
      `scripts_${k}`,
      `scripts_${k}`,
      k === "pnpm" ? "pnpm-lock.yaml" : "yarn.lock",
      SCRIPTED.map((f) => f.replace("X", k)),
      ', omit_dev = True, allow_install_scripts = ["scripted"]',
    ),
  ).join("") +
  npmDeps(
    "scripts_pnpm_dev",
    "scripts_pnpm",
    "pnpm-lock.yaml",
    [SCRIPTED[0].replace("X", "pnpm")],
    ', ignore_install_scripts = ["scripted"]',
  ) +
  npmDeps("scripts_yarn_unlisted", "scripts_yarn", "yarn.lock", [SCRIPTED[0].replace("X", "yarn")]) +
  YARNRC.map(([dir, , listed]) =>
    npmDeps(
      dir,
      dir,
      "yarn.lock",
      [SCRIPTED[0].replace("scripts_X", dir), ...(listed ? [`//${dir}:.yarnrc.yml`] : [])],
      ', ignore_install_scripts = ["scripted"]',
    ),
  ).join("") +
  npmDeps(
    "yarnrc_unlisted",
    "yarnrc_pnp",
    "yarn.lock",
    [SCRIPTED[0].replace("scripts_X", "yarnrc_pnp")],
    ', ignore_install_scripts = ["scripted"]',
  );

/** Copies of scripts/berry with a .yarnrc.yml (directory, its text, listed in `workspace_files`). */
const YARNRC: [string, string, boolean][] = [
  ["yarnrc_ok", "nodeLinker: node-modules\nyarnPath: .yarn/releases/yarn-4.1.1.cjs\nenableTelemetry: false\n", true],
  ["yarnrc_pnp", "nodeLinker: pnp # Plug'n'Play\n", true],
];

beforeAll(async () => {
  let extra = "";
  for (const k of KINDS) extra += npmDeps(`${k.kind}_deps`, k.kind, k.lock, workspaceFiles(k.kind, k.extra));
  extra += scriptRepos();
  extra +=
    npmDeps("old_pnpm", "old", "pnpm-lock.yaml") +
    npmDeps("old_berry", "oldberry", "yarn.lock") +
    npmDeps("bad_name", "old", "deps.lock");
  extra += npmDeps("escapes", "escapes", "yarn.lock");
  borrowed = borrowConsumerWorkspace(extra);
  ws = borrowed.ws;
  for (const k of KINDS) {
    cpSync(join(FIXTURES, k.kind), join(ws, k.kind), { recursive: true });
    writeFileSync(join(ws, k.kind, "BUILD.bazel"), appBuild(k.kind, `${k.kind}_deps`));
  }
  for (const [dir, yarnrc] of YARNRC) {
    cpSync(join(FIXTURES, "scripts", "berry"), join(ws, dir), { recursive: true });
    writeFileSync(join(ws, dir, ".yarnrc.yml"), yarnrc);
    writeFileSync(join(ws, dir, "BUILD.bazel"), 'exports_files(glob(["**"]))\n');
  }
  for (const k of SCRIPT_KINDS) {
    cpSync(join(FIXTURES, "scripts", k), join(ws, `scripts_${k}`), { recursive: true });
    writeFileSync(
      join(ws, `scripts_${k}`, "BUILD.bazel"),
      appBuild(`scripts_${k}`, `scripts_${k}`, ["ms", "scripted"]),
    );
  }
  for (const [dir, file, text] of [
    ["old", "pnpm-lock.yaml", V6],
    ["old", "deps.lock", V6],
    ["oldberry", "yarn.lock", BERRY_V4],
    ["escapes", "yarn.lock", ESCAPES_LOCK],
  ]) {
    mkdirSync(join(ws, dir), { recursive: true });
    writeFileSync(join(ws, dir, file), text);
    writeFileSync(
      join(ws, dir, "package.json"),
      JSON.stringify({ name: "old", version: "1.0.0", dependencies: { ms: "2.1.3" } }),
    );
    writeFileSync(join(ws, dir, "BUILD.bazel"), 'exports_files(glob(["**"]))\n');
  }
});

afterAll(async () => {
  await borrowed?.release();
  rmSync(tmp, { recursive: true, force: true });
});

async function ok(args: string[]): Promise<BazelResult> {
  const r = await bazel(ws, args);
  expect(r.code, `bazel ${args.join(" ")}:\n${r.stderr.slice(-4000)}`).toBe(0);
  return r;
}

describe("npm_dependencies (Bazel 4.2.3) reads the lockfile the file name says", () => {
  test("pnpm v9, npm workspaces, yarn classic and berry: ms and the workspace package @acme/lib run in _local", async () => {
    await ok(["build", "--noshow_progress", ...KINDS.map((k) => `//${k.kind}:app_local`)]);
    for (const k of KINDS) {
      const r = await ok(["run", ...QUIET, `//${k.kind}:app_local`, "--", k.kind]);
      expect(r.stdout.trim()).toBe(OUTPUT(k.kind));
    }
  });

  test("pnpm: the image runs, its SBOM has pnpm-lock.yaml's integrity, also from the repository cache; a workspace package's edit refetches", async () => {
    // The test above fetched @pnpm_deps, filling the repository cache (README, "Cold builds"): fetched again, it comes
    // from there, and must still hold the lockfile copy the image action reads for the SBOM.
    await ok(["sync", "--noshow_progress", "--only=pnpm_deps"]);
    await ok(["build", "--noshow_progress", "//pnpm:app_image"]);
    const run = runLayoutImage(join(ws, "bazel-bin", "pnpm", "app_image"), ["image"]);
    expect(run.stdout.trim(), run.stderr).toBe(OUTPUT("image"));
    const sbom = JSON.parse(readFileSync(join(ws, "bazel-bin", "pnpm", "app_image.spdx.json"), "utf8"));
    const ms = sbom.packages.find((p: { name: string }) => p.name === "ms");
    expect(ms).toMatchObject({ versionInfo: "2.1.3", checksums: [{ algorithm: "SHA512" }] });
    expect(sbom.packages.find((p: { name: string }) => p.name === "@acme/lib")).toMatchObject({ versionInfo: "1.0.0" });

    const lib = join(ws, "pnpm", "packages", "lib", "index.js");
    writeFileSync(lib, readFileSync(lib, "utf8").replace("lib sum", "edited lib sum"));
    const r = await ok(["run", ...QUIET, "//pnpm:app_local", "--", "edited"]);
    expect(r.stdout.trim()).toBe(OUTPUT("edited", "edited lib sum"));
  });

  test("an unsupported version or lockfile name fails the fetch naming the file and what was found", async () => {
    for (const [repo, want] of [
      ["old_pnpm", `\`lockfile\` //old:pnpm-lock.yaml: lockfileVersion "6.0" is not supported (supported: '9.0'`],
      [
        "old_berry",
        `\`lockfile\` //oldberry:yarn.lock: yarn berry \`__metadata\` version "4" is not supported (supported: 8`,
      ],
      [
        "bad_name",
        `\`lockfile\` //old:deps.lock: the file name says which package manager wrote it, and "deps.lock" is none of`,
      ],
    ]) {
      const r = await bazel(ws, ["query", "--noshow_progress", `@${repo}//:all`]);
      expect(r.code).not.toBe(0);
      expect(r.stderr).toContain(`npm_dependencies(name = "${repo}"): ${want}`);
    }
  });
});

describe("npm_dependencies (Bazel 4.2.3): the package manager's output", () => {
  test("reaches the terminal with its control characters shown, not sent (outside_text.bzl)", async () => {
    const r = await bazel(ws, ["query", "--noshow_progress", "@escapes//:all"]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('npm_dependencies(name = "escapes"): `yarn-classic install');
    expect(r.stderr).toContain("ms\\x1b]0;pwned\\x07-2.1.3.tgz");
    expect(r.stderr).not.toMatch(/\u001b\]|\u0007/);
  });
});

describe("npm_dependencies (Bazel 4.2.3): omit_dev and install scripts with pnpm and yarn lockfiles", () => {
  test.each(SCRIPT_KINDS)(
    "%s: allow_install_scripts runs `scripted`'s install script; omit_dev leaves @types/ms out",
    async (kind) => {
      const r = await ok(["run", ...QUIET, `//scripts_${kind}:app_local`, "--", kind]);
      expect(r.stdout.trim()).toBe(`${kind}: ms 2m, built by its install script`);
      const q = await ok(["query", "--noshow_progress", `@scripts_${kind}//:all`]);
      expect(q.stdout).toContain(`@scripts_${kind}//:node_modules/scripted\n`);
      expect(q.stdout).not.toContain("@types/ms");
      const external = join((await ok(["info", "output_base"])).stdout.trim(), "external");
      expect(existsSync(join(external, `scripts_${kind}`, "node_modules", "ms", "index.js"))).toBe(true);
      expect(existsSync(join(external, `scripts_${kind}`, "node_modules", "@types", "ms"))).toBe(false);
    },
  );

  test("without omit_dev the devDependency is there; ignore_install_scripts installs `scripted` unbuilt; unlisted, the fetch fails naming it", async () => {
    const q = await ok(["query", "--noshow_progress", "@scripts_pnpm_dev//:all"]);
    expect(q.stdout).toContain("@scripts_pnpm_dev//:node_modules/@types/ms\n");
    const external = join((await ok(["info", "output_base"])).stdout.trim(), "external");
    expect(existsSync(join(external, "scripts_pnpm_dev", "node_modules", "scripted", "index.js"))).toBe(true);
    expect(existsSync(join(external, "scripts_pnpm_dev", "node_modules", "scripted", "built.js"))).toBe(false);
    const r = await bazel(ws, ["query", "--noshow_progress", "@scripts_yarn_unlisted//:all"]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain(
      'npm_dependencies(name = "scripts_yarn_unlisted"): package of //scripts_yarn:yarn.lock has install scripts',
    );
    expect(r.stderr).toContain('scripted (node_modules/scripted: install script "node build.js")');
  });
});

describe("npm_dependencies (Bazel 4.2.3) reads a berry project's .yarnrc.yml", () => {
  test("listed in workspace_files: Yarn reads it, the pinned Yarn runs (its yarnPath ignored); nodeLinker pnp, or a .yarnrc.yml not listed, fails the fetch naming the file, the field and the value", async () => {
    const q = await ok(["query", "--noshow_progress", "@yarnrc_ok//:all"]);
    expect(q.stdout).toContain("@yarnrc_ok//:node_modules/ms\n");
    for (const [repo, want] of [
      [
        "yarnrc_pnp",
        '`workspace_files` //yarnrc_pnp:.yarnrc.yml: nodeLinker "pnp" is not supported (supported: node-modules): the packages are installed as a node_modules tree',
      ],
      [
        "yarnrc_unlisted",
        "`lockfile` //yarnrc_pnp:yarn.lock is a Yarn berry lockfile, and there is a .yarnrc.yml beside //yarnrc_pnp:package.json that is not in `workspace_files`",
      ],
    ]) {
      const r = await bazel(ws, ["query", "--noshow_progress", `@${repo}//:all`]);
      expect(r.code, repo).not.toBe(0);
      expect(r.stderr).toContain(`npm_dependencies(name = "${repo}"): ${want}`);
    }
  });
});

describe("pipeline build --lockfile with each lockfile", () => {
  const cacheDir = join(tmp, "cli-cache");

  test.each(KINDS.map((k) => k.kind))(
    "%s: the image runs; @acme/lib is a link to the code layer's packages/lib",
    async (kind) => {
      const project = join(tmp, "cli", kind);
      cpSync(join(FIXTURES, kind), project, { recursive: true });
      const output = join(tmp, "cli-out", kind);
      const io = captureIo(env);
      const r = await build({ lockfile: project, entry: "main.js", "cache-dir": cacheDir, output }, io);
      expect(r.exitCode, io.err.join("\n")).toBe(0);
      const run = runLayoutImage(output, [kind]);
      expect(run.stdout.trim(), run.stderr).toBe(OUTPUT(kind));
      const img = readLayout(output);
      const layers = await Promise.all(img.manifest.layers.slice(-2).map((l) => listLayer(blobPath(output, l.digest))));
      const link = layers[0].find((e) => e.path === "app/node_modules/@acme/lib");
      expect(link).toMatchObject({ type: "symlink", linkname: "../../packages/lib" });
      expect(layers[1].map((e) => e.path)).toContain("app/packages/lib/index.js");
      expect(layers[0].map((e) => e.path)).toContain("app/node_modules/lodash/sum.js");
    },
  );

  test("berry: Yarn reads the project's .yarnrc.yml (nmHoistingLimits: workspaces keeps lodash in packages/lib), not its yarnPath", async () => {
    const project = join(tmp, "cli", "berry-yarnrc");
    cpSync(join(FIXTURES, "berry"), project, { recursive: true });
    writeFileSync(
      join(project, ".yarnrc.yml"),
      "nodeLinker: node-modules\nnmHoistingLimits: workspaces\nyarnPath: .yarn/releases/yarn-4.1.1.cjs\n",
    );
    const output = join(tmp, "cli-out", "berry-yarnrc");
    const io = captureIo(env);
    const r = await build({ lockfile: project, entry: "main.js", "cache-dir": cacheDir, output }, io);
    expect(r.exitCode, io.err.join("\n")).toBe(0);
    const run = runLayoutImage(output, ["yarnrc"]);
    expect(run.stdout.trim(), run.stderr).toBe(OUTPUT("yarnrc"));
    const img = readLayout(output);
    const paths = (await Promise.all(img.manifest.layers.map((l) => listLayer(blobPath(output, l.digest)))))
      .flat()
      .map((e) => e.path);
    expect(paths).toContain("app/packages/lib/node_modules/lodash/sum.js");
    expect(paths).not.toContain("app/node_modules/lodash/sum.js");
    expect(paths).not.toContain("app/.yarnrc.yml"); // like .npmrc, it may hold a registry token
  });

  test("an unsupported version names the file and the version; two kinds of lockfile are refused", async () => {
    const project = join(tmp, "cli", "old");
    mkdirSync(project, { recursive: true });
    writeFileSync(join(project, "package.json"), JSON.stringify({ name: "old", version: "1.0.0", main: "main.js" }));
    writeFileSync(join(project, "main.js"), "\n");
    writeFileSync(join(project, "pnpm-lock.yaml"), V6);
    const args = { lockfile: project, "cache-dir": cacheDir, output: join(tmp, "x") };
    let e = await pipelineErrorOf(build(args, captureIo(env)));
    expect(e.code).toBe("E_LOCKFILE_VERSION");
    expect(e.message).toContain(`${join(project, "pnpm-lock.yaml")}: lockfileVersion "6.0" is not supported`);
    writeFileSync(join(project, "yarn.lock"), BERRY_V4);
    e = await pipelineErrorOf(build(args, captureIo(env)));
    expect(e.message).toContain("more than one package manager's lockfile");
    rmSync(join(project, "pnpm-lock.yaml"));
    e = await pipelineErrorOf(build(args, captureIo(env)));
    expect(e.message).toContain(`${join(project, "yarn.lock")}: yarn berry __metadata version "4" is not supported`);
  });
});
