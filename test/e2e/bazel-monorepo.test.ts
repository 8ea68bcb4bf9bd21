/**
 * TypeScript shared across packages, as a monorepo uses it: `//lib` is a ts_library with a module_name, imported by
 * one pipeline by relative path and by another, two packages deeper, by package name; a JSON import through the
 * workspace-wide tsconfig (`pipeline_dependencies(tsconfig = ...)`, strict + resolveJsonModule). The consumer's
 * lockfile also has an esbuild-shaped package (bench/lib/npm-tree.ts's `fastbuild`: optional platform packages, only
 * this machine's installed), which the deeper pipeline loads at run time. Real Bazel, its default strategy (TsCompile
 * in the persistent worker, the rest sandboxed), a real registry, and runc.
 */
import { createHash } from "node:crypto";
import { appendFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { parseAquery, rulesNpmOffenders, TSC_ALLOWED } from "../../bench/lib/bazel-actions";
import { writeWorkspaceRoot } from "../../bench/lib/monorepo";
import { type LayerListing, listLayer } from "../../src/layer/tar-read";
import type { PlatformPackages } from "../../bench/lib/npm-tree";
import { bazel, QUIET, REPO_ROOT, discard, TEST_DISK_CACHE } from "../fixtures/bazel";
import { LIB_UTIL, writeMonorepo } from "../fixtures/monorepo";
import { type RunningRegistry, startRegistry } from "../fixtures/registry";
import { runPushedImage } from "../fixtures/runc";

const tmp = mkdtempSync(join(tmpdir(), "rp-e2e-mono-"));
const ws = join(tmp, "ws");
let reg: RunningRegistry;
let fastbuild: PlatformPackages;

function write(rel: string, text: string): void {
  mkdirSync(dirname(join(ws, rel)), { recursive: true });
  writeFileSync(join(ws, rel), text);
}

function makeWorkspace(registry: string): void {
  writeWorkspaceRoot(ws, REPO_ROOT, "mono");
  // The run's shared --disk_cache (test/fixtures/bazel.ts): the rules' tool actions and what other files built for the
  // same inputs are taken from it. The test whose subject is how the compiles run (worker against one-shot) turns it
  // off for its builds (NO_DISK_CACHE).
  if (TEST_DISK_CACHE) appendFileSync(join(ws, ".bazelrc"), `build --disk_cache=${TEST_DISK_CACHE}\n`);
  fastbuild = writeMonorepo(ws, tmp, registry);
}

/** An empty --disk_cache: none, whatever the .bazelrc says, so that every action of the build runs here. */
const NO_DISK_CACHE = "--disk_cache=";

beforeAll(async () => {
  reg = await startRegistry();
  makeWorkspace(reg.host);
});

afterAll(async () => {
  await discard(ws);
  await reg?.stop();
  rmSync(tmp, { recursive: true, force: true });
});

function sha(path: string): string {
  return createHash("sha256").update(readFileSync(path)).digest("hex");
}

describe("a monorepo: //lib shared by two pipelines", () => {
  for (const mode of [[], ["-c", "opt"]]) {
    test(`_local runs both pipelines with what the library computed (${mode.join(" ") || "fastbuild"})`, async () => {
      for (const [target, name] of [
        ["//pipelines/etl:etl_local", "etl"],
        ["//pipelines/deep/er/report:report_local", "report"],
      ]) {
        const r = await bazel(ws, ["run", ...mode, ...QUIET, target]);
        expect(r.code, r.stderr).toBe(0);
        expect(r.stdout).toContain(`${name} computed 42`);
        expect(r.stdout).toContain("hello-bin says hi");
        if (name === "report") expect(r.stdout).toContain(`report uses ${fastbuild.describes}`);
      }
    });
  }

  test("_binary runs; the pushed images run under runc and print what the library computed", async () => {
    const b = await bazel(ws, ["run", ...QUIET, "//pipelines/deep/er/report:report_binary"]);
    expect(b.code, b.stderr).toBe(0);
    expect(b.stdout).toContain("report computed 42");
    expect(b.stdout).toContain(`report uses ${fastbuild.describes}`);
    for (const [target, name] of [
      ["//pipelines/etl:etl_push", "etl"],
      ["//pipelines/deep/er/report:report_push", "report"],
    ]) {
      const r = await bazel(ws, ["run", ...QUIET, target]);
      expect(r.code, r.stderr).toBe(0);
      const ref = r.stdout.trim().split("\n").pop()!;
      expect(ref).toMatch(new RegExp(`^${reg.host}/mono/${name}@sha256:[a-f0-9]{64}$`));
      const run = runPushedImage(ref);
      expect(run.code, run.stderr).toBe(0);
      expect(run.stdout).toContain(`${name} computed 42`);
      expect(run.stdout).toContain("hello-bin says hi");
      // The image carries this machine's platform package (runc runs it on this machine's OS and CPU).
      if (name === "report") expect(run.stdout).toContain(`report uses ${fastbuild.describes}`);
    }
  });

  test("the images carry what runs, once: the library under its name is a symlink, no declarations, compiled JS 0644", async () => {
    const layers = async (pkg: string, name: string): Promise<LayerListing[]> => {
      const dir = join(ws, `bazel-bin/pipelines/${pkg}/${name}_image.layers`);
      return [...(await listLayer(join(dir, "node_modules.tar.gz"))), ...(await listLayer(join(dir, "app.tar.gz")))];
    };
    const r = await bazel(ws, [
      "build",
      ...QUIET,
      "//pipelines/etl:etl_image",
      "//pipelines/deep/er/report:report_image",
    ]);
    expect(r.code, r.stderr).toBe(0);
    for (const [pkg, name] of [
      ["etl", "etl"],
      ["deep/er/report", "report"],
    ]) {
      const entries = await layers(pkg, name);
      const byPath = new Map(entries.map((e) => [e.path.replace(/\/$/, ""), e]));
      // One copy of //lib: at app/lib, and app/node_modules/@acme/lib -> ../../lib (what `import "@acme/lib"` loads)
      expect(byPath.get("app/node_modules/@acme/lib"), name).toMatchObject({ type: "symlink", linkname: "../../lib" });
      expect(entries.filter((e) => e.path.startsWith("app/node_modules/@acme/lib/"))).toEqual([]);
      // Compiled JavaScript and JSON are 0644 (Bazel leaves its outputs executable); the runtime needs no declarations.
      for (const f of ["app/lib/index.js", "app/lib/util.js", "app/lib/bonus.json", `app/pipelines/${pkg}/main.js`]) {
        expect(byPath.get(f)?.mode, f).toBe(0o644);
      }
      expect(
        entries
          .filter((e) => /\.d\.[cm]?ts$/.test(e.path) || e.path.includes("node_modules/@types/"))
          .map((e) => e.path),
      ).toEqual([]);
      expect(byPath.get("app/node_modules/lodash/sum.js")?.type).toBe("file");
    }

    // include_declarations = True puts them back
    const build = readFileSync(join(ws, "pipelines/etl/BUILD.bazel"), "utf8");
    write(
      "pipelines/etl/BUILD.bazel",
      build.replace('entry = "main.ts",', 'entry = "main.ts",\n    include_declarations = True,'),
    );
    try {
      const b = await bazel(ws, ["build", ...QUIET, "//pipelines/etl:etl_image"]);
      expect(b.code, b.stderr).toBe(0);
      const paths = (await layers("etl", "etl")).map((e) => e.path);
      expect(paths).toContain("app/lib/index.d.ts");
      expect(paths).toContain("app/node_modules/@types/lodash/sum.d.ts");
    } finally {
      write("pipelines/etl/BUILD.bazel", build);
    }
  });

  test("no build action of the pipelines reads the rules' own npm tree (only the compiler and Node's types)", async () => {
    const r = await bazel(ws, [
      "aquery",
      "--output=jsonproto",
      "deps(//pipelines/etl:etl_image) + deps(//pipelines/etl:etl_local)",
    ]);
    expect(r.code, r.stderr).toBe(0);
    // The same policy as bench P11 (bench/lib/bazel-actions.ts): the rules' own tool actions are built once and are
    // not the app's; the launchers' runfiles plumbing reads nothing; TsCompile may read the compiler and Node's types.
    const actions = parseAquery(r.stdout);
    expect(actions.some((a) => a.mnemonic === "TsCompile" && a.inputs.some((p) => TSC_ALLOWED.test(p)))).toBe(true);
    expect(rulesNpmOffenders(actions).slice(0, 10)).toEqual([]);
  });

  test("the tsc worker and one-shot tsc give byte-identical outputs and the same image digest", async () => {
    const target = "//pipelines/etl:etl_image";
    const outs = [
      "bazel-bin/lib/index.js",
      "bazel-bin/lib/index.d.ts",
      "bazel-bin/lib/util.js",
      "bazel-bin/pipelines/etl/main.js",
    ];
    // The packages' outputs removed, not `bazel clean`: Bazel runs again the actions whose outputs are gone, and the
    // rules' tools (built without a cache here) are not built twice more.
    const forget = () => {
      for (const pkg of ["lib", "pipelines"]) rmSync(join(ws, "bazel-bin", pkg), { recursive: true, force: true });
    };
    forget();
    const worker = await bazel(ws, ["build", NO_DISK_CACHE, target]);
    expect(worker.code, worker.stderr).toBe(0);
    expect(worker.stderr).toMatch(/\d+ worker\b/);
    const before = Object.fromEntries(outs.map((o) => [o, sha(join(ws, o))]));
    const digest = readFileSync(join(ws, "bazel-bin/pipelines/etl/etl_image.digest"), "utf8");
    forget();
    // Every action one-shot: the compiles, and the CLI's layer and image actions (workers of their own since issue #23).
    const oneShot = await bazel(ws, [
      "build",
      NO_DISK_CACHE,
      "--strategy=TsCompile=sandboxed",
      "--strategy=PipelineLayer=sandboxed",
      "--strategy=PipelineImage=local",
      target,
    ]);
    expect(oneShot.code, oneShot.stderr).toBe(0);
    expect(oneShot.stderr).not.toMatch(/\d+ worker\b/);
    expect(oneShot.stderr).toMatch(/\d+ (linux-sandbox|processwrapper-sandbox)\b/);
    expect(Object.fromEntries(outs.map((o) => [o, sha(join(ws, o))]))).toEqual(before);
    expect(readFileSync(join(ws, "bazel-bin/pipelines/etl/etl_image.digest"), "utf8")).toBe(digest);
  });

  test("Bazel 8's defaults as flags: a pipeline using an esbuild-shaped package runs; the consumer's @npm has no target for the platform packages npm skipped", async () => {
    // Both lockfiles list optional platform packages of which npm installs one: the rules' own (esbuild's
    // @esbuild/*) and the consumer's (fastbuild's @fastbuild/*). A glob over an uninstalled one matches nothing,
    // which --incompatible_disallow_empty_glob makes an error.
    const starlark = ["--incompatible_disallow_empty_glob", "--incompatible_no_implicit_file_export"];
    const future = [...starlark, "--nolegacy_external_runfiles"];
    const installed = fastbuild.platforms.filter((p) => p.installed).map((p) => p.name);
    const skipped = fastbuild.platforms.filter((p) => !p.installed).map((p) => p.name);
    expect(installed).toContain(fastbuild.host);
    expect(skipped.length).toBeGreaterThanOrEqual(4);

    const r = await bazel(ws, ["run", ...future, ...QUIET, "//pipelines/deep/er/report:report_local"]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain("report computed 42");
    expect(r.stdout).toContain("hello-bin says hi");
    // fastbuild's main required @fastbuild/${process.platform}-${process.arch} from the runfiles' node_modules.
    expect(r.stdout).toContain(`report uses ${fastbuild.describes}`);

    // The premise: the repository's lockfile lists every platform package, npm installed only this machine's.
    const repo = join((await bazel(ws, ["info", "output_base"])).stdout.trim(), "external", "npm");
    const lock = JSON.parse(readFileSync(join(repo, "package-lock.json"), "utf8")) as {
      packages: Record<string, { optional?: boolean; os?: string[] }>;
    };
    for (const p of fastbuild.platforms)
      expect(lock.packages[`node_modules/${p.name}`], p.name).toMatchObject({ optional: true, os: p.os });
    expect(readdirSync(join(repo, "node_modules", `@${fastbuild.name}`)).sort()).toEqual(
      installed.map((n) => n.split("/")[1]).sort(),
    );
    // The generated BUILD globs the installed one (its own target, and in fastbuild's closure), never the others.
    const build = readFileSync(join(repo, "BUILD.bazel"), "utf8");
    expect(build).toContain(`name = "node_modules/${fastbuild.host}",`);
    expect(build).toContain(`"node_modules/${fastbuild.host}/**"`);
    expect(build).toContain(`name = "node_modules/${fastbuild.name}",`);
    for (const name of skipped) expect(build).not.toContain(`node_modules/${name}`);
    const q = await bazel(ws, ["query", ...starlark, "kind(npm_package, @npm//:*)"]);
    expect(q.code, q.stderr).toBe(0);
    expect(
      q.stdout
        .split("\n")
        .filter((l) => l.includes(`@${fastbuild.name}/`))
        .sort(),
    ).toEqual(installed.map((n) => `@npm//:node_modules/${n}`).sort());
    expect(q.stdout.split("\n")).toContain(`@npm//:node_modules/${fastbuild.name}`);
  });

  test("--action_env=SOURCE_DATE_EPOCH reaches the layer and image actions (aquery)", async () => {
    const r = await bazel(ws, [
      "aquery",
      "--output=text",
      "--action_env=SOURCE_DATE_EPOCH=1700000000",
      'mnemonic("PipelineLayer|PipelineImage", deps(//pipelines/etl:etl_image))',
    ]);
    expect(r.code, r.stderr).toBe(0);
    const actions = r.stdout.split(/\n(?=action ')/).filter((a) => /Mnemonic: Pipeline(Layer|Image)/.test(a));
    expect(actions.length).toBe(3); // two layers, one image
    for (const a of actions) expect(a).toMatch(/Environment: \[.*SOURCE_DATE_EPOCH=1700000000/);
  });

  test("a type error in the library fails the TypeScript action, naming the library's file and line", async () => {
    write("lib/util.ts", LIB_UTIL.replace("return n * 2;", "return `${n}` * 2;"));
    try {
      const r = await bazel(ws, ["build", "//pipelines/etl:etl_local"]);
      expect(r.code).not.toBe(0);
      expect(r.stderr).toContain("Compiling TypeScript //lib:lib failed");
      expect(r.stderr).toMatch(/lib\/util\.ts\(2,10\): error TS2362/);
    } finally {
      write("lib/util.ts", LIB_UTIL);
    }
  });

  test("an import of a package missing from deps gets a hint naming the label to add", async () => {
    // lodash would compile (the library's npm deps reach its users); zod is in no deps at all.
    write("pipelines/etl/extra.ts", `import { z } from "zod";\nexport const schema = z.string();\n`);
    write(
      "pipelines/etl/BUILD.bazel",
      readFileSync(join(ws, "pipelines/etl/BUILD.bazel"), "utf8").replace(
        'entry = "main.ts",',
        'entry = "main.ts",\n    srcs = ["extra.ts"],',
      ),
    );
    try {
      const r = await bazel(ws, ["build", "//pipelines/etl:etl_local"]);
      expect(r.code).not.toBe(0);
      expect(r.stderr).toMatch(/pipelines\/etl\/extra\.ts\(1,19\): error TS2307/);
      // The target the user declared (not the macro's internal etl_app), and the repository name the user wrote.
      expect(r.stderr).toContain(
        'hint: //pipelines/etl:etl does not depend on "zod". Add "@npm//:node_modules/zod" to its deps',
      );
      expect(r.stderr).toContain("Compiling TypeScript //pipelines/etl:etl failed");
    } finally {
      rmSync(join(ws, "pipelines/etl/extra.ts"));
      write(
        "pipelines/etl/BUILD.bazel",
        readFileSync(join(ws, "pipelines/etl/BUILD.bazel"), "utf8").replace('\n    srcs = ["extra.ts"],', ""),
      );
    }
  });
});
