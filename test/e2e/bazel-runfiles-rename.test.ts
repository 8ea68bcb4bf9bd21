/**
 * Issue #12, defect 7 and the runfiles-rename simulation. Bazel 4.2.3 (the only Bazel here) names repositories by
 * their WORKSPACE names; Bazel 8 names them `_main`, `rules_pipeline+`, `rules_pipeline++pipeline+rules_pipeline_npm`
 * and writes a `_repo_mapping` file in the runfiles root. A `_local` and a `_binary` launcher built in a workspace
 * named `acme_pipelines` are run from a copy of their runfiles tree renamed to Bazel 8's names, with the
 * `_repo_mapping` Bazel 8 would write: the bash launcher (`rl`) and the TypeScript side (src/launch/runfiles.ts) find
 * every file through it. The app tree (`external/<stable name>` in the runfiles and in the image) does not change.
 * Bazel 8 itself cannot run here: this is a simulation of its runfiles layout, not of its analysis.
 */
import { execFile, spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { bazel, makeConsumerWorkspace, discard } from "../fixtures/bazel";
import { STABLE_NAMES } from "../fixtures/repo-names";

const tmp = mkdtempSync(join(tmpdir(), "rp-e2e-rename-"));
let ws: string;

// Bazel 4 name -> Bazel 8 canonical name (bzlmod: rules_pipeline a bazel_dep, its extension `pipeline` creating the
// Node, tools' npm and the consumer's npm repositories, shared_data a bazel_dep with a local_path_override).
const BAZEL8: Record<string, string> = {
  acme_pipelines: "_main",
  rules_pipeline: "rules_pipeline+",
  rules_pipeline_npm: "rules_pipeline++pipeline+rules_pipeline_npm",
  rules_pipeline_tools: "rules_pipeline++pipeline+rules_pipeline_tools",
  rules_pipeline_node: "rules_pipeline++pipeline+rules_pipeline_node",
  npm: "rules_pipeline++pipeline+npm",
  shared_data: "shared_data+",
};

// What Bazel 8 writes for that graph: the main repository's apparent names, then rules_pipeline's (its use_repo).
const REPO_MAPPING = [
  ",acme_pipelines,_main",
  ",npm,rules_pipeline++pipeline+npm",
  ",rules_pipeline,rules_pipeline+",
  ",shared_data,shared_data+",
  "rules_pipeline+,rules_pipeline,rules_pipeline+",
  "rules_pipeline+,rules_pipeline_node,rules_pipeline++pipeline+rules_pipeline_node",
  "rules_pipeline+,rules_pipeline_npm,rules_pipeline++pipeline+rules_pipeline_npm",
  "rules_pipeline+,rules_pipeline_tools,rules_pipeline++pipeline+rules_pipeline_tools",
  "",
].join("\n");

beforeAll(() => {
  const shared = join(tmp, "shared_data");
  mkdirSync(shared, { recursive: true });
  writeFileSync(join(shared, "WORKSPACE"), 'workspace(name = "shared_data")\n');
  writeFileSync(join(shared, "BUILD.bazel"), 'exports_files(["msg.txt"])\n');
  writeFileSync(join(shared, "msg.txt"), "hello from another repository\n");
  ws = makeConsumerWorkspace(tmp, `local_repository(name = "shared_data", path = ${JSON.stringify(shared)})\n`);
  const wsFile = join(ws, "WORKSPACE");
  writeFileSync(
    wsFile,
    readFileSync(wsFile, "utf8").replace('workspace(name = "consumer")', 'workspace(name = "acme_pipelines")'),
  );
  mkdirSync(join(ws, "rename"));
  writeFileSync(
    join(ws, "rename", "main.js"),
    `const { readFileSync } = require("fs");
const { sum } = require("lodash");
const { containerImageUri, hasContainerImage } = require("@rules_pipeline/runtime");
console.log("data: " + readFileSync("external/shared_data/msg.txt", "utf8").trim());
console.log("sum: " + sum([1, 2, 3]));
console.log(hasContainerImage() ? "image: " + containerImageUri() : "no image");
`,
  );
  writeFileSync(
    join(ws, "rename", "BUILD.bazel"),
    `load("@rules_pipeline//bazel:pipeline.bzl", "pipeline")
load(":probe.bzl", "names_probe")

pipeline(
    name = "app",
    base = "@pipeline-host-node//image",
    data = ["@shared_data//:msg.txt"],
    entry = "main.js",
    registry = "localhost:5000",
    repository = "acme/app",
    deps = ["@npm//:node_modules/lodash"],
)

names_probe(name = "names", names = ${JSON.stringify(Object.keys(STABLE_NAMES))})

names_probe(name = "clash", check = True, names = ["foo~1.2.3", "x~~ext~foo"], tags = ["manual"])
`,
  );
  writeFileSync(
    join(ws, "rename", "probe.bzl"),
    `load("@rules_pipeline//bazel/private/common:app_layout.bzl", "check_stable_repo_names", "stable_repo_name")

def _impl(ctx):
    if ctx.attr.check:
        check_stable_repo_names(ctx.label, ctx.attr.names)
    out = ctx.actions.declare_file(ctx.label.name + ".json")
    ctx.actions.write(out, json.encode({n: stable_repo_name(n) for n in ctx.attr.names}))
    return [DefaultInfo(files = depset([out]))]

names_probe = rule(implementation = _impl, attrs = {"names": attr.string_list(), "check": attr.bool()})
`,
  );
});

afterAll(async () => {
  if (ws) await discard(ws);
  rmSync(tmp, { recursive: true, force: true });
});

/** Copies the launcher of `//rename:<target>` (`<target>.sh`) and its runfiles into `dest`, renamed to Bazel 8's names, with `_repo_mapping`. */
function bazel8Copy(target: string, dest: string): string {
  mkdirSync(dest, { recursive: true });
  const bin = join(ws, "bazel-bin", "rename");
  const exe = `${target}.sh`;
  const cp = spawnSync("cp", ["-a", join(bin, exe), join(bin, `${exe}.runfiles`), dest], { encoding: "utf8" });
  expect(cp.status, cp.stderr).toBe(0);
  const root = join(dest, `${exe}.runfiles`);
  const top = readdirSync(root);
  // The lazily loaded npm packages come as one bundle each from rules_pipeline_tools, not as the rules' npm tree.
  for (const name of ["acme_pipelines", "rules_pipeline", "rules_pipeline_tools", "rules_pipeline_node"])
    expect(top, `runfiles of ${target}`).toContain(name);
  expect(top, `runfiles of ${target}`).not.toContain("rules_pipeline_npm");
  for (const name of top) if (BAZEL8[name]) renameSync(join(root, name), join(root, BAZEL8[name]));
  rmSync(join(root, "MANIFEST"), { force: true });
  writeFileSync(join(root, "_repo_mapping"), REPO_MAPPING);
  expect(readdirSync(root)).not.toContain("acme_pipelines");
  return join(dest, exe);
}

/**
 * Runs a launcher (under `wrapper`, a command line the launcher's path is appended to) without blocking the event loop
 * (vitest's RPC times out on long synchronous calls).
 */
function runLauncher(
  exe: string,
  wrapper: string[] = [],
): Promise<{ status: number | null; stdout: string; stderr: string }> {
  const env = { ...process.env };
  for (const k of [
    "RUNFILES_DIR",
    "PIPELINE_RUNFILES_DIR",
    "PIPELINE_CONTAINER_IMAGE",
    "PIPELINE_CONTAINER_IMAGE_URIS",
    "PIPELINE_REPOSITORY",
  ])
    delete env[k];
  return new Promise((resolve, reject) => {
    const [file, ...args] = [...wrapper, exe];
    execFile(file, args, { env, cwd: tmp, timeout: 120_000 }, (err, stdout, stderr) => {
      if (err && typeof err.code !== "number") return reject(err);
      resolve({ status: err ? (err.code as number) : 0, stdout, stderr });
    });
  });
}

describe("a launcher in a runfiles tree with Bazel 8's names (simulated)", () => {
  test("app_local runs from the renamed copy: entry, preload, node, the runtime library, npm and another repository's data", async () => {
    const r = await bazel(ws, ["build", "//rename:app_local"]);
    expect(r.code, r.stderr).toBe(0);
    const exe = bazel8Copy("app_local", join(tmp, "copy-local"));
    const run = await runLauncher(exe);
    expect(run.status, run.stderr + run.stdout).toBe(0);
    expect(run.stdout).toContain("data: hello from another repository");
    expect(run.stdout).toContain("sum: 6");
    expect(run.stdout).toContain("no image");
  });

  test("app_binary runs from the renamed copy: the TypeScript preload finds the image's digest through _repo_mapping", async () => {
    const r = await bazel(ws, ["build", "//rename:app_binary"]);
    expect(r.code, r.stderr).toBe(0);
    const digest = readFileSync(join(ws, "bazel-bin", "rename", "app_image.digest"), "utf8").trim();
    const exe = bazel8Copy("app_binary", join(tmp, "copy-binary"));
    const run = await runLauncher(exe);
    expect(run.status, run.stderr + run.stdout).toBe(0);
    expect(run.stdout).toContain(`image: localhost:5000/acme/app@${digest}`);
  });

  test("the launcher starts no process of its own: until it execs Node, no subshell and no other program (strace)", async () => {
    const r = await bazel(ws, ["build", "//rename:app_local"]);
    expect(r.code, r.stderr).toBe(0);
    const exe = bazel8Copy("app_local", join(tmp, "copy-strace"));
    const trace = join(tmp, "launcher.strace");
    // Without RUNFILES_DIR: the launcher finds its runfiles beside itself, as under `bazel run`.
    const run = await runLauncher(exe, [
      "strace",
      "-f",
      "-qq",
      "-o",
      trace,
      "-e",
      "trace=execve,clone,clone3,fork,vfork",
    ]);
    expect(run.status, run.stderr + run.stdout).toBe(0);
    expect(run.stdout).toContain("sum: 6");
    // Lines are "PID syscall(...) = result"; the launcher's process ends by exec'ing Node (rl resolves every path).
    const lines = readFileSync(trace, "utf8").split("\n").filter(Boolean);
    const node = lines.findIndex((l) => /^\d+ +execve\("[^"]*rules_pipeline_node\/bin\/node",.* = 0$/.test(l));
    expect(node, lines.join("\n")).toBeGreaterThan(0);
    const pids = new Set(lines.slice(0, node + 1).map((l) => l.split(" ")[0]));
    expect([...pids], lines.slice(0, node + 1).join("\n")).toHaveLength(1);
  });

  test("the image places another repository's files at /app/external/<stable name>, not at a Bazel-version-specific one", () => {
    const layout = join(ws, "bazel-bin", "rename", "app_image");
    const index = JSON.parse(readFileSync(join(layout, "index.json"), "utf8"));
    const blob = (d: string) => readFileSync(join(layout, "blobs", "sha256", d.slice("sha256:".length)));
    const manifest = JSON.parse(blob(index.manifests[0].digest).toString("utf8"));
    const top = manifest.layers[manifest.layers.length - 1];
    const list = spawnSync("tar", ["-tzf", "-"], { input: blob(top.digest), encoding: "utf8" });
    expect(list.status, list.stderr).toBe(0);
    const entries = list.stdout.split("\n").map((e) => e.replace(/^\.?\/?/, ""));
    expect(entries).toContain("app/external/shared_data/msg.txt");
    expect(entries).toContain("app/rename/main.js");
    expect(entries.filter((e) => /acme_pipelines|_main|[+~]/.test(e))).toEqual([]);
  });
});

describe("stable repository names (bazel/private/common/app_layout.bzl)", () => {
  test("stable_repo_name maps Bazel 4-9 canonical names as src/launch/runfiles.ts does", async () => {
    const r = await bazel(ws, ["build", "//rename:names"]);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(readFileSync(join(ws, "bazel-bin", "rename", "names.json"), "utf8"))).toEqual(STABLE_NAMES);
  });

  test("two repositories with the same stable name fail analysis naming both", async () => {
    const r = await bazel(ws, ["build", "//rename:clash"]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain(`repositories "foo~1.2.3" and "x~~ext~foo" would both be at /app/external/foo`);
  });
});
