/**
 * `pipeline map --on inprocess` (src/cli/commands/map.ts, src/map/): the task run in threads of this process against
 * a directory store, the same chunk runner the map worker runs inside images. Real files and threads, nothing faked.
 */
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runCli } from "../cli/run-cli";
import type { CliIo } from "../cli/io";

let dir: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "rp-map-"));
  // A CommonJS task that records each call (the marker files count the calls), and an ES module one.
  writeFileSync(
    join(dir, "score.js"),
    `const fs = require("node:fs");
exports.score = (item) => {
  fs.writeFileSync(__dirname + "/calls/" + process.hrtime.bigint() + "-" + Math.random(), JSON.stringify(item));
  if (item && item.fail) { console.error("about to fail on", item.n); throw new Error("cannot score " + item.n); }
  if (item && item.spin) for (;;) {}
  if (item && item.fn) return { f: () => 1 };
  if (item && item.big) return { n: 10n };
  if (item && item.cycle) { const o = {}; o.self = o; return o; }
  if (item && item.date) return { when: new Date(0) };
  return { n: item.n, square: item.n * item.n };
};
exports.notAFunction = 3;
`,
  );
  writeFileSync(
    join(dir, "bytes.mjs"),
    `export async function reverse(item) { return Buffer.from(item).reverse(); }\n`,
  );
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function pipeline(args: string[], stdin = "") {
  const stdout: string[] = [];
  const stderr: string[] = [];
  const io: CliIo = {
    stdout: (l) => stdout.push(l),
    stderr: (l) => stderr.push(l),
    env: { HOME: dir, PIPELINE_CACHE_DIR: join(dir, "cache") },
    cwd: dir,
    isTTY: false,
    readStdin: async () => stdin,
  };
  const code = await runCli(["map", ...args], io);
  return { code, stdout, stderr: stderr.join("\n") };
}

function items(name: string, values: unknown[]): string {
  writeFileSync(join(dir, name), values.map((v) => JSON.stringify(v)).join("\n") + "\n");
  return name;
}

function calls(): number {
  return readdirSync(join(dir, "calls")).length;
}

function resetCalls(): void {
  rmSync(join(dir, "calls"), { recursive: true, force: true });
  require("node:fs").mkdirSync(join(dir, "calls"));
}

describe("pipeline map --on inprocess", () => {
  it("runs every item, results in item order; a second run reuses them (no task call); a new item runs alone", async () => {
    resetCalls();
    const values = Array.from({ length: 40 }, (_, n) => ({ n }));
    const file = items("items.jsonl", values);
    const first = await pipeline([
      "--task",
      "score.js#score",
      "--items",
      file,
      "--out",
      "out.jsonl",
      "--parallelism",
      "3",
      "--chunk-size",
      "4",
    ]);
    expect(first.stderr).toContain("map: 40/40 done (0 reused");
    expect(first.code).toBe(0);
    const out = readFileSync(join(dir, "out.jsonl"), "utf8")
      .trimEnd()
      .split("\n")
      .map((l) => JSON.parse(l));
    expect(out).toEqual(values.map(({ n }) => ({ n, square: n * n })));
    expect(calls()).toBe(40);

    resetCalls();
    const again = await pipeline(["--task", "score.js#score", "--items", file]);
    expect(again.code).toBe(0);
    expect(again.stdout.map((l) => JSON.parse(l))).toEqual(out);
    expect(again.stderr).toContain("40 reused from the store");
    expect(calls()).toBe(0);

    resetCalls();
    const more = await pipeline(["--task", "score.js#score", "--items", items("more.jsonl", [...values, { n: 99 }])]);
    expect(more.code).toBe(0);
    expect(JSON.parse(more.stdout[40])).toEqual({ n: 99, square: 9801 });
    expect(calls()).toBe(1);
  });

  it("an item that throws fails the map after --retries, naming its index, line, message and last log lines; the others' results stay stored", async () => {
    resetCalls();
    const file = items("fail.jsonl", [{ n: 1 }, { n: 2 }, { n: 3, fail: true }, { n: 4 }]);
    const r = await pipeline([
      "--task",
      "score.js#score",
      "--items",
      file,
      "--retries",
      "2",
      "--chunk-size",
      "1",
      "--parallelism",
      "1",
      "--out",
      "never.jsonl",
    ]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain("error[E_MAP_TASK]");
    expect(r.stderr).toContain("item 2 (line 3 of fail.jsonl) failed after 3 attempts: cannot score 3");
    expect(r.stderr).toMatch(/last lines of its log:\n\s+about to fail on 3/);
    // The failing item ran three times; nothing was written to --out.
    const failing = readdirSync(join(dir, "calls")).filter((f) =>
      readFileSync(join(dir, "calls", f), "utf8").includes('"fail"'),
    );
    expect(failing.length).toBe(3);
    expect(() => readFileSync(join(dir, "never.jsonl"))).toThrow();
    expect(readdirSync(dir).filter((f) => f.includes("never.jsonl"))).toEqual([]);
  });

  it("a task past --timeout is stopped and reported like a throw", async () => {
    const r = await pipeline([
      "--task",
      "score.js#score",
      "--items",
      items("spin.jsonl", [{ n: 1, spin: true }]),
      "--timeout",
      "1s",
      "--retries",
      "0",
    ]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain("item 0 (line 1 of spin.jsonl) failed after 1 attempt: timed out after 1 s");
  });

  it.each([
    ["fn", "could not be cloned"],
    ["big", "result.n: a bigint is not a JSON value"],
    ["cycle", "result.self: a cycle"],
    ["date", "result.when: a Date instance is not a plain JSON object"],
  ])("a result that is not storable (%s) is E_MAP_ITEM naming the item, not retried", async (kind, message) => {
    resetCalls();
    const r = await pipeline([
      "--task",
      "score.js#score",
      "--items",
      items(`${kind}.jsonl`, [{ n: 1, [kind]: true }]),
      "--retries",
      "3",
    ]);
    expect(r.stderr).toContain("error[E_MAP_ITEM]");
    expect(r.stderr).toContain("item 0 (line 1 of");
    expect(r.stderr).toContain(message);
    expect(calls()).toBe(1);
  });

  it("a line that is not JSON is E_MAP_ITEM naming the file and line, before any task runs", async () => {
    resetCalls();
    writeFileSync(join(dir, "bad.jsonl"), '{"n":1}\n{"n":\n');
    const r = await pipeline(["--task", "score.js#score", "--items", "bad.jsonl"]);
    expect(r.stderr).toContain("error[E_MAP_ITEM]: bad.jsonl:2: not JSON");
    expect(calls()).toBe(0);
  });

  it("flags of the kubernetes target are refused elsewhere; --on kubernetes wants a pushed image by digest", async () => {
    const file = items("one.jsonl", [{ n: 1 }]);
    const k8sFlags = await pipeline(["--task", "score.js#score", "--items", file, "--namespace", "ml", "--cpu", "1"]);
    expect(k8sFlags.code).toBe(2);
    expect(k8sFlags.stderr).toContain("--namespace, --cpu: with --on kubernetes only (got --on inprocess)");
    const layout = await pipeline([
      ...["--task", "score.js#score", "--items", file, "--on", "kubernetes"],
      ...["--image", `oci:${dir}/layout@sha256:${"a".repeat(64)}`],
    ]);
    expect(layout.code).toBe(2);
    expect(layout.stderr).toContain("a cluster cannot pull an OCI layout on this machine");
    const tag = await pipeline([
      "--task",
      "score.js#score",
      "--items",
      file,
      "--on",
      "kubernetes",
      "--image",
      "r.example/a:v1",
    ]);
    expect(tag.stderr).toContain("--image: expected a reference by digest");
  });

  it("a missing module or export is E_MAP_TASK_NOT_FOUND naming it, before any item runs", async () => {
    resetCalls();
    const file = items("one.jsonl", [{ n: 1 }]);
    const noExport = await pipeline(["--task", "score.js#scor", "--items", file]);
    expect(noExport.stderr).toContain('error[E_MAP_TASK_NOT_FOUND]: task score.js#scor: the module exports no "scor"');
    const notFn = await pipeline(["--task", "score.js#notAFunction", "--items", file]);
    expect(notFn.stderr).toContain('the export "notAFunction" is a number, not a function');
    const noFile = await pipeline(["--task", "nope.js#score", "--items", file]);
    expect(noFile.stderr).toContain("no such module file");
    expect(calls()).toBe(0);
  });

  it("--json: one JSON event per line on stderr (item-start, item-done, finish), results alone on stdout", async () => {
    const r = await pipeline([
      "--task",
      "score.js#score",
      "--items",
      items("json.jsonl", [{ n: 5 }, { n: 6 }]),
      "--json",
      "--artifacts",
      join(dir, "json-store"),
    ]);
    expect(r.code).toBe(0);
    const events = r.stderr.split("\n").map((l) => JSON.parse(l) as { event: string; index?: number });
    expect(
      events
        .filter((e) => e.event === "item-done")
        .map((e) => e.index)
        .sort(),
    ).toEqual([0, 1]);
    expect(events.at(-1)).toMatchObject({ event: "finish", ok: true, done: 2, total: 2, reused: 0 });
    expect(r.stdout.map((l) => JSON.parse(l))).toEqual([
      { n: 5, square: 25 },
      { n: 6, square: 36 },
    ]);
  });

  it("SIGINT stops the running tasks and the command (exit 130), leaving --out unwritten", async () => {
    const { spawn } = await import("node:child_process");
    const { pipelineCli } = await import("../../test/fixtures/cli.js");
    const child = spawn(
      process.execPath,
      [
        await pipelineCli(),
        "map",
        "--task",
        "score.js#score",
        "--items",
        items("sigint.jsonl", [
          { n: 1, spin: true },
          { n: 2, spin: true },
        ]),
        "--out",
        "sigint-out.jsonl",
        "--parallelism",
        "2",
      ],
      {
        cwd: dir,
        env: { ...process.env, PIPELINE_CACHE_DIR: join(dir, "cache") },
        stdio: ["ignore", "ignore", "pipe"],
      },
    );
    let err = "";
    child.stderr.on("data", (d) => {
      err += d;
    });
    const closed = new Promise<number | null>((res) => child.on("close", (code) => res(code)));
    // Both tasks running (each writes its call to calls/ before its busy loop, which never ends by itself).
    const spinning = () =>
      (existsSync(join(dir, "calls")) ? readdirSync(join(dir, "calls")) : []).filter((f) =>
        readFileSync(join(dir, "calls", f), "utf8").includes('"spin":true'),
      ).length;
    const before = spinning();
    for (let i = 0; i < 600 && spinning() < before + 2; i++) await new Promise((r) => setTimeout(r, 100));
    child.kill("SIGINT");
    // Should it not stop, the test fails and the busy loops must not outlive it.
    const watchdog = setTimeout(() => child.kill("SIGKILL"), 30_000);
    const code = await closed.finally(() => clearTimeout(watchdog));
    expect(err).toContain("SIGINT: stopping the map's tasks");
    expect(code).toBe(130);
    expect(readdirSync(dir).filter((f) => f.includes("sigint-out"))).toEqual([]);
  });

  it("byte buffers go both ways in the envelope form (runMap's), and a bytes result prints as {bytes} in plain JSON lines", async () => {
    const lines = [
      { bytes: Buffer.from("abc").toString("base64") },
      { bytes: Buffer.from([0, 255]).toString("base64") },
    ];
    const r = await pipeline(
      ["--task", "bytes.mjs#reverse", "--items", "-", "--envelope"],
      lines.map((l) => JSON.stringify(l)).join("\n"),
    );
    expect(r.code).toBe(0);
    expect(r.stdout.map((l) => Buffer.from(JSON.parse(l).bytes, "base64"))).toEqual([
      Buffer.from("cba"),
      Buffer.from([255, 0]),
    ]);
  });
});
