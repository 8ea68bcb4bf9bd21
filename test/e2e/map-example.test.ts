/**
 * examples/map end to end (issue #73): a Bazel-built pipeline whose launch script maps a step over shards with
 * runMap, on the `inprocess` target (`:map_local`, threads of this machine) and the `container` target (`:map_binary`
 * with PIPELINE_TARGET=container: each index a runc container of the built image, running the map worker the rules
 * put into it). Both give the same results in item order; a second run reuses the stored results (the task does not
 * run again); the store is the cache's (PIPELINE_CACHE_DIR). Inside a container of the image (`pipeline run`), where
 * there is no CLI, runMap runs with the runtime's own map code on the container's threads. And runMap's failure comes
 * back as the CLI's error code.
 */
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { bazel, QUIET } from "../fixtures/bazel";
import { pipelineCli, runCli } from "../fixtures/cli";
import { type Borrowed, borrowConsumerWorkspace } from "../fixtures/workspace-pool";

const tmp = mkdtempSync(join(tmpdir(), "rp-e2e-map-"));
let ws: string;
let borrowed: Borrowed | undefined;

beforeAll(() => {
  borrowed = borrowConsumerWorkspace();
  ws = borrowed.ws;
});

afterAll(async () => {
  await borrowed?.release();
  rmSync(tmp, { recursive: true, force: true });
});

function summary(stdout: string): string {
  return stdout.trim().split("\n").pop() ?? "";
}

describe("examples/map: runMap over shards, in threads and in containers of the built image", () => {
  const env = { PIPELINE_CACHE_DIR: join(tmp, "cache") };

  test("inprocess (:map_local): every shard scored in order; a second run reuses every result", async () => {
    const first = await bazel(ws, ["run", ...QUIET, "//examples/map:map_local", "--", "40"], env);
    expect(first.code, first.stderr).toBe(0);
    expect(summary(first.stdout)).toBe("scored 40 shards on inprocess: 235 words, in order: true");
    expect(first.stderr).toContain("map: 40/40 done (0 reused from the store)");
    const again = await bazel(ws, ["run", ...QUIET, "//examples/map:map_local", "--", "40"], env);
    expect(again.code, again.stderr).toBe(0);
    expect(summary(again.stdout)).toBe(summary(first.stdout));
    expect(again.stderr).toContain("map: 40/40 done (40 reused from the store)");
  });

  test("container (:map_binary, PIPELINE_TARGET=container): the same results from runc containers of the image; then reused", async () => {
    const cenv = { ...env, PIPELINE_TARGET: "container", MAP_PARALLELISM: "2" };
    const first = await bazel(ws, ["run", ...QUIET, "//examples/map:map_binary", "--", "40"], cenv);
    expect(first.code, first.stderr).toBe(0);
    expect(summary(first.stdout)).toBe("scored 40 shards on container: 235 words, in order: true");
    // Results are keyed by the image's digest here, not by the module's: none of the inprocess run's is reused.
    expect(first.stderr).toContain("map: 40/40 done (0 reused from the store)");
    // Four indexes (chunks of 10), each a container, each gone once it ended.
    expect(first.stderr).toMatch(/unpacking \d+ layer/);
    expect(readdirSync(join(tmp, "cache", "runs")).filter((n) => n.startsWith("rp-map-"))).toEqual([]);
    const again = await bazel(ws, ["run", ...QUIET, "//examples/map:map_binary", "--", "40"], cenv);
    expect(again.code, again.stderr).toBe(0);
    expect(summary(again.stdout)).toBe(summary(first.stdout));
    expect(again.stderr).toContain("map: 40/40 done (40 reused from the store)");
  });

  test("inside a container of the image (`pipeline run`, no CLI there): runMap on the container's threads, the same results", async () => {
    const built = await bazel(ws, ["build", ...QUIET, "//examples/map:map_image"], env);
    expect(built.code, built.stderr).toBe(0);
    const r = await runCli(
      [
        "run",
        "--image",
        `oci:${join(ws, "bazel-bin", "examples", "map", "map_image")}`,
        "--cache-dir",
        join(tmp, "run-cache"),
        "--",
        "40",
      ],
      { env: { ...process.env, ...env, MAP_PARALLELISM: "2" } },
    );
    expect(r.code, r.stderr).toBe(0);
    // launchTarget() is inprocess in a container; runMap ran with the runtime's own map code (map-in-image.ts).
    expect(summary(r.stdout)).toBe("scored 40 shards on inprocess: 235 words, in order: true");
  });

  test("runMap rejects with the CLI's code and message when a shard fails (the task's error, the item's index)", async () => {
    const script = join(tmp, "fail.js");
    writeFileSync(
      join(tmp, "task.js"),
      "exports.t = (x) => { if (x === 3) throw new Error('three is bad'); return x * 2; };\n",
    );
    writeFileSync(
      script,
      `const { runMap } = require(${JSON.stringify(join(ws, "bazel-bin", "examples", "map", "map_local.sh.runfiles", "consumer", "node_modules", "@rules_pipeline", "runtime", "index.js"))});
runMap({ module: ${JSON.stringify(join(tmp, "task.js"))}, export: "t" }, [1, 2, 3, 4], { on: "inprocess", retries: 1, appRoot: ${JSON.stringify(tmp)}, chunkSize: 1 })
  .then((r) => console.log(JSON.stringify(r)), (e) => console.log(JSON.stringify({ name: e.name, code: e.code, message: e.message })));`,
    );
    const { spawnSync } = await import("node:child_process");
    const cli = await pipelineCli();
    const r = spawnSync(process.execPath, [script], {
      encoding: "utf8",
      env: { ...process.env, ...env, PIPELINE_CLI: cli, PIPELINE_CLI_NODE: process.execPath },
    });
    const out = JSON.parse(r.stdout.trim().split("\n").pop() ?? "{}");
    expect(out.name, r.stderr).toBe("MapError");
    expect(out.code).toBe("E_MAP_TASK");
    expect(out.message).not.toContain("line 3");
    expect(out.message).not.toContain("docs/errors.md");
    expect(out.message).toMatch(/^task task.js#t: item 2 failed after 2 attempts: three is bad$/);
  });
});
