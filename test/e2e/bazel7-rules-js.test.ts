/**
 * rules_pipeline in a rules_js + pnpm + rules_ts + rules_oci workspace (issue #40): real Bazel 7.7.1 under bzlmod with
 * the real rules_js 3.4.1, rules_ts 3.10.1 and rules_oci 2.3.2 from shared/peers (offline: only npm tarballs are
 * downloaded), rules_pipeline by local_path_override of this checkout. The workspace is test/fixtures/rules-js-workspace:
 * a `.ts` pipeline importing lodash (`//:node_modules/lodash` and `//:node_modules/@types/lodash` of rules_js's
 * npm_link_all_packages), a rules_ts ts_project with declarations and our ts_library on the same rules_js packages,
 * and rules_oci `oci_image`s on `@pipeline-host-node//image` and on the pipeline's `_image`. One workspace, one Bazel
 * server, two commands (`build //...`, then `run` of `_local`); the server and its output base go at the end.
 */
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { collect, QUIET, REPO_ROOT } from "../fixtures/bazel";
import { bazel7, ensureBazel7, failure, shutdown7 } from "../fixtures/bazel7";

/** shared/peers: beside the checkout in CI (`../shared`), or where $PIPELINE_PEERS_DIR says. */
const PEERS = resolve(process.env.PIPELINE_PEERS_DIR ?? join(REPO_ROOT, "..", "shared", "peers"));
const FIXTURE = join(REPO_ROOT, "test", "fixtures", "rules-js-workspace");
const tmp = mkdtempSync(join(tmpdir(), "rp-e2e-rules-js-"));
const ws = join(tmp, "ws");

/** Runs a script of the kit (async: tools.sh takes minutes on a new machine, and vitest's worker must stay responsive). */
async function peers(script: string, args: string[]): Promise<void> {
  const r = await collect("bash", [join(PEERS, script), ...args], { env: process.env }, "SIGTERM");
  if (r.code !== 0) throw new Error(`${join(PEERS, script)} ${args.join(" ")} exited ${r.code}:\n${r.stderr.slice(-4000)}`);
}

/** The layer digests of the one image of an OCI layout in bazel-bin. */
function layers(layout: string): string[] {
  const dir = join(ws, "bazel-bin", layout);
  const blob = (digest: string) => JSON.parse(readFileSync(join(dir, "blobs", "sha256", digest.slice("sha256:".length)), "utf8"));
  const index = JSON.parse(readFileSync(join(dir, "index.json"), "utf8"));
  expect(index.manifests, `${layout}: one manifest`).toHaveLength(1);
  return blob(index.manifests[0].digest).layers.map((l: { digest: string }) => l.digest);
}

beforeAll(async () => {
  await ensureBazel7();
  // The peers' tool binaries: minutes once per machine, then cached (scripts/test.sh starts this in the background at
  // the start of a run; tools.sh takes a lock, so this waits for that one).
  await peers("tools.sh", []);
  cpSync(FIXTURE, ws, { recursive: true });
  const module = join(ws, "MODULE.bazel");
  const text = readFileSync(module, "utf8");
  if (!text.includes('"RULES_PIPELINE_PATH"')) throw new Error(`${module} has no "RULES_PIPELINE_PATH" to replace`);
  writeFileSync(module, text.replace('"RULES_PIPELINE_PATH"', JSON.stringify(REPO_ROOT)));
  await peers("setup.sh", [ws]);
}, 1_800_000);

afterAll(async () => {
  // clean --expunge stops the server and deletes the output base (the repository cache stays).
  await shutdown7(ws, { expunge: true }).finally(() => rmSync(tmp, { recursive: true, force: true }));
}, 300_000);

describe("rules_pipeline beside rules_js, rules_ts and rules_oci (Bazel 7.7.1, bzlmod)", () => {
  test("build //...: the .ts pipeline type-checks against rules_js packages and a ts_project; rules_oci builds on our base and our image", async () => {
    // --keep_going: every one of the three failures of issue #40 shows in one run.
    const r = await bazel7(ws, ["build", "--keep_going", "//..."]);
    const out = r.stdout + r.stderr;
    expect.soft(out, "(a) an import of a rules_js linked package (lodash + @types/lodash) does not resolve").not.toMatch(/error TS2307/);
    expect.soft(out, "(b) the ts_project's .d.ts (OutputGroupInfo types) is not among the compile's inputs").not.toMatch(/error TS7016/);
    expect.soft(out, "(c) a base image repository's `image` is not one directory").not.toContain("must produce a single file");
    expect(r.code, failure("build --keep_going //...", r)).toBe(0);

    const pipe = layers("pipe/pipe_image");
    // pipe_image: the base's layers, then node_modules and the app; rules_oci's images add no layer to their base.
    expect(pipe.length).toBeGreaterThan(2);
    expect(layers("pipe/on_host_node")).toEqual(pipe.slice(0, -2));
    expect(layers("pipe/on_pipe")).toEqual(pipe);
  }, 900_000);

  test("pipe_local runs what main.ts computed with lodash, the ts_project and the ts_library", async () => {
    const r = await bazel7(ws, ["run", ...QUIET, "//pipe:pipe_local"]);
    expect(r.code, failure("run //pipe:pipe_local", r)).toBe(0);
    expect(r.stdout).toContain("hello a pipeline from ts_project; pairs=[[1,2],[3,4],[5]] sum=5");
  }, 600_000);
});
