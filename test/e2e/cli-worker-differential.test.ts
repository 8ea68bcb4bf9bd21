/**
 * The CLI's persistent workers (PipelineLayer, PipelineImage: src/cli/worker.ts) ≡ one-shot runs, through real Bazel
 * 4.2.3 and 7.7.1 (WORKSPACE mode). A small consumer workspace (examples/hello) loads a copy of this checkout, so the
 * CLI's sources can be edited; it is built after every step twice by one Bazel server: Bazel's default strategy (the
 * workers) and `--strategy=PipelineLayer=sandboxed --strategy=PipelineImage=local` (one-shot, `node … @FLAGFILE`) in an
 * output directory of its own (`--platform_suffix`: its actions have other outputs, so it never reads an answer the
 * workers gave from the action cache; a second server and output base cost more than the builds).
 * Steps: the first build; an app source edited; a ts_library dep added; its source edited; the `env` attribute
 * changed; the CLI's own source edited (its version, which the SBOM names); the app source edited again. After each:
 * the same layer files, SBOM and image digest on both sides, a digest (at the CLI's edit: an SBOM) that moved, every
 * PipelineLayer/PipelineImage spawn of the worker side run by the worker runner (the execution log) and none of the
 * other side's; no worker is created between the first build and the CLI's edit, and from that edit on the workers
 * answer with the new CLI's code (its version in the SBOM), never the old worker's. The last state is checked once more
 * against a clean one-shot build.
 */
import { createHash } from "node:crypto";
import { cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { type BazelResult, bazel, discard, makeConsumerWorkspace, REPO_ROOT } from "../fixtures/bazel";
import { bazel7, ensureBazel7, WORKSPACE_MODE_FLAGS } from "../fixtures/bazel7";
import { loggedSpawns } from "../fixtures/remote-cache";

const TARGET = "//examples/hello:hello_image";
const ONE_SHOT = ["--strategy=PipelineLayer=sandboxed", "--strategy=PipelineImage=local", "--platform_suffix=one-shot"];
/** Where a side's build puts examples/hello's outputs (`--platform_suffix` names 4.2.3's `k8-fastbuildone-shot`). */
function helloBin(ob: string, side: "worker" | "oneShot"): string {
  const out = join(ob, "execroot", "consumer", "bazel-out");
  const dir =
    side === "worker"
      ? "k8-fastbuild"
      : readdirSync(out).find((d) => d.startsWith("k8-fastbuild") && d.endsWith("one-shot"));
  return join(out, dir ?? "k8-fastbuild-one-shot", "bin", "examples", "hello");
}

/** Runs Bazel with startup options (`--output_base=…`) and command arguments. */
type Runner = (ws: string, startup: string[], args: string[]) => Promise<BazelResult>;

interface Built {
  digest: string;
  /** Each output of the image action and the layer actions: its sha256. */
  outputs: Record<string, string>;
  sbom: string;
  /** The runner of each spawn of the CLI's two mnemonics (execution log). */
  runners: string[];
  /** Workers created during the build (`--worker_verbose`), by mnemonic. */
  created: string[];
}

/** A copy of this checkout (the CLI's sources editable) and a consumer workspace loading it (examples/hello is built). */
function makeWorkspace(tmp: string): { ws: string; rules: string } {
  const rules = join(tmp, "rules_pipeline");
  for (const entry of [
    "BUILD.bazel",
    "WORKSPACE",
    "MODULE.bazel",
    "package.json",
    "tsconfig.json",
    "bazel",
    "bootstrap",
    "src",
    "tools",
  ]) {
    cpSync(join(REPO_ROOT, entry), join(rules, entry), { recursive: true });
  }
  const ws = makeConsumerWorkspace(tmp, "", { diskCache: false });
  rmSync(join(ws, ".bazelversion")); // Bazel 7's wrapper in the chroot does not take "4"; bazel-4 ignores it
  edit(join(ws, "WORKSPACE"), JSON.stringify(REPO_ROOT), JSON.stringify(rules));
  return { ws, rules };
}

function edit(file: string, from: string, to: string): void {
  const text = readFileSync(file, "utf8");
  if (!text.includes(from)) throw new Error(`${file} has no ${JSON.stringify(from)}`);
  writeFileSync(file, text.replace(from, to));
}

const sha = (p: string) => createHash("sha256").update(readFileSync(p)).digest("hex");

/**
 * `newToolsNewWorkers`: whether Bazel starts new workers when the tools change (7.7.1: they are in the worker key;
 * 4.2.3 keeps sending requests to the running ones, which then answer through the new file, src/tsc/protocol.ts).
 */
function suite(
  name: string,
  newToolsNewWorkers: boolean,
  setUp: () => Promise<void>,
  run: Runner,
  tmp: string,
  cleanUp: (ws: string, outputBases: string[]) => Promise<void>,
) {
  let ws = "";
  let rules = "";
  const ob = join(tmp, "ob");

  async function build(side: "worker" | "oneShot", clean = false): Promise<Built> {
    const startup = [`--output_base=${ob}`];
    if (clean) expect((await run(ws, startup, ["clean"])).code).toBe(0);
    const log = join(tmp, `exec-${side}.json`);
    const r = await run(ws, startup, [
      "build",
      TARGET,
      "--worker_verbose",
      `--execution_log_json_file=${log}`,
      ...(side === "oneShot" ? ONE_SHOT : []),
    ]);
    expect(r.code, `${name} ${side}: ${r.stderr.slice(-4000)}`).toBe(0);
    const bin = helloBin(ob, side);
    const outputs: Record<string, string> = {};
    for (const f of ["app.tar.gz", "app.json", "node_modules.tar.gz", "node_modules.json"])
      outputs[f] = sha(join(bin, "hello_image.layers", f));
    outputs["index.json"] = sha(join(bin, "hello_image", "index.json"));
    return {
      digest: readFileSync(join(bin, "hello_image.digest"), "utf8"),
      outputs,
      sbom: readFileSync(join(bin, "hello_image.spdx.json"), "utf8"),
      runners: loggedSpawns(readFileSync(log, "utf8"))
        .filter((s) => s.mnemonic === "PipelineLayer" || s.mnemonic === "PipelineImage")
        .map((s) => `${s.mnemonic} ${s.runner}`),
      created: [...r.stderr.matchAll(/Created new (?:non-)?sandboxed (\w+) worker/g)]
        .map((m) => m[1])
        .filter((m) => m.startsWith("Pipeline")),
    };
  }

  describe(`the CLI's workers ≡ one-shot runs (${name})`, () => {
    beforeAll(async () => {
      ({ ws, rules } = makeWorkspace(tmp));
      await setUp();
    });
    afterAll(async () => {
      if (ws) await cleanUp(ws, [ob]);
    });

    test("after every edit: same layers, SBOM and digest both ways; worker runner on one side only; new workers only for a new CLI", async () => {
      const version = /export const VERSION = "([^"]+)"/.exec(
        readFileSync(join(rules, "src", "version.ts"), "utf8"),
      )![1];
      const hello = join(ws, "examples", "hello");
      const steps: [string, () => void][] = [
        ["first build", () => undefined],
        ["app source edited", () => edit(join(hello, "greeting.ts"), "readFileSync(", "readFileSync(/* edited */ ")],
        [
          "ts_library dep added",
          () => {
            mkdirSync(join(ws, "examples", "lib"), { recursive: true });
            writeFileSync(
              join(ws, "examples", "lib", "BUILD.bazel"),
              'load("@rules_pipeline//bazel:pipeline.bzl", "ts_library")\nts_library(name = "lib", srcs = ["index.ts"], module_name = "@acme/lib", visibility = ["//visibility:public"])\n',
            );
            writeFileSync(join(ws, "examples", "lib", "index.ts"), 'export const suffix: string = "!";\n');
            edit(join(hello, "BUILD.bazel"), "deps = [", 'deps = [\n        "//examples/lib",');
            edit(
              join(hello, "greeting.ts"),
              'import { startCase } from "lodash";',
              'import { startCase } from "lodash";\nimport { suffix } from "@acme/lib";',
            );
            edit(join(hello, "greeting.ts"), ".toUpperCase() : text;", ".toUpperCase() + suffix : text;");
          },
        ],
        ["the dep's source edited", () => edit(join(ws, "examples", "lib", "index.ts"), '"!"', '"?"')],
        [
          "env attribute changed",
          () => edit(join(hello, "BUILD.bazel"), '"GREETING_STYLE": "shout"', '"GREETING_STYLE": "quiet"'),
        ],
        [
          "the CLI's source edited",
          () => edit(join(rules, "src", "version.ts"), `"${version}"`, `"${version}-edited"`),
        ],
        ["app source edited again", () => edit(join(hello, "greeting.ts"), "/* edited */", "/* edited twice */")],
      ];
      const cliEdit = steps.length - 2;
      let last = "";
      let lastSbom = "";
      let final: Built | undefined;
      for (const [i, [step, change]] of steps.entries()) {
        change();
        const w = await build("worker");
        const o = await build("oneShot");
        const what = `${name}, step ${i} (${step})`;
        expect(w.digest, what).toMatch(/^sha256:[0-9a-f]{64}$/);
        // The edit had an effect: a new digest (the CLI's edit changes only the SBOM, which names its version).
        if (i === cliEdit) expect(w.sbom, what).not.toBe(lastSbom);
        else expect(w.digest, what).not.toBe(last);
        last = w.digest;
        lastSbom = w.sbom;
        final = w;
        expect({ digest: w.digest, outputs: w.outputs, sbom: w.sbom }, what).toEqual({
          digest: o.digest,
          outputs: o.outputs,
          sbom: o.sbom,
        });
        // Every spawn of the two mnemonics ran in a worker on one side, in none on the other; the image ran each time.
        expect(w.runners.filter((r) => r.startsWith("PipelineImage")).length, what).toBe(1);
        expect(
          w.runners.filter((r) => !r.endsWith(" worker")),
          what,
        ).toEqual([]);
        expect(
          o.runners.filter((r) => r.endsWith(" worker")),
          what,
        ).toEqual([]);
        expect(o.runners, what).toContain("PipelineImage local");
        // Workers start at the first build, and for the rebuilt CLI (Bazel 7: a new tool digest is a new worker key;
        // 4.2.3: the old worker answers its first request with the new file one-shot and exits, src/tsc/protocol.ts).
        if (i === 0) expect(new Set(w.created), what).toEqual(new Set(["PipelineLayer", "PipelineImage"]));
        else if (i < cliEdit) expect(w.created, what).toEqual([]);
        else if (i === cliEdit && newToolsNewWorkers)
          expect(new Set(w.created), what).toEqual(new Set(["PipelineLayer", "PipelineImage"]));
        if (i === 1 || i === 3 || i === cliEdit + 1)
          expect(w.runners.sort(), what).toEqual(["PipelineImage worker", "PipelineLayer worker"]);
        // From the CLI's edit on, what the workers answer is the new code's: the SBOM names the edited version.
        const creators = JSON.parse(w.sbom).creationInfo.creators;
        expect(creators, what).toContain(`Tool: rules_pipeline-${i >= cliEdit ? `${version}-edited` : version}`);
      }
      // The last state once more, from a clean output tree, one-shot.
      const clean = await build("oneShot", true);
      expect({ digest: clean.digest, outputs: clean.outputs, sbom: clean.sbom }).toEqual({
        digest: last,
        outputs: final?.outputs,
        sbom: lastSbom,
      });
    });
  });
}

const tmp4 = mkdtempSync(join(tmpdir(), "rp-e2e-cli-worker-"));
// Bazel 4.2.3 writes the raw log behind each --execution_log_json_file to a temp file of its JVM (java.io.tmpdir,
// /tmp: `exec<digits>.log`) and leaves it there: here, in this file's directory, removed with it.
const jvmTmp = join(tmp4, "jvm-tmp");
mkdirSync(jvmTmp);
const jvmTmpArg = `--host_jvm_args=-Djava.io.tmpdir=${jvmTmp}`;
suite(
  "Bazel 4.2.3",
  false,
  async () => undefined,
  (ws, startup, args) => bazel(ws, args, {}, [...startup, jvmTmpArg]),
  tmp4,
  async (ws, obs) => {
    for (const ob of obs) await discard(ws, [`--output_base=${ob}`, jvmTmpArg]);
  },
);

const tmp7 = mkdtempSync(join(tmpdir(), "rp-e2e-cli-worker7-"));
// The temp dir (workspace, rules copy, output bases) and npm's cache are seen inside the chroot.
const mounts = [tmp7];
suite(
  "Bazel 7.7.1",
  true,
  () => ensureBazel7(),
  (ws, startup, args) =>
    bazel7(ws, [...startup, ...args, ...(args[0] === "shutdown" ? [] : WORKSPACE_MODE_FLAGS)], {
      mounts,
      hostNpmCache: true,
    }),
  tmp7,
  async (ws, obs) => {
    for (const ob of obs) await bazel7(ws, [`--output_base=${ob}`, "shutdown"], { mounts, hostNpmCache: true });
  },
);

// Both temporary directories go, whichever suites ran (a suite left out by -t runs no hook of its own).
afterAll(() => {
  for (const t of [tmp4, tmp7]) rmSync(t, { recursive: true, force: true });
});
