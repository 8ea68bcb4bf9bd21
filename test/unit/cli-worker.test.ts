/**
 * The `pipeline` CLI as the PipelineLayer and PipelineImage actions run it (src/cli/worker.ts), outside Bazel: the
 * real CLI bundle as a persistent worker spoken to over the real protocol (test/fixtures/worker-protocol.ts encodes
 * requests independently of src/tsc/protocol.ts), against the same CLI one-shot with a flag file.
 */
import { spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { execProgram, pipelineCli } from "../fixtures/cli";
import { WorkerProcess, type WorkResponse } from "../fixtures/worker-protocol";
import { tscBundle } from "../fixtures/tsc-bundle";

const tmp = mkdtempSync(join(tmpdir(), "rp-cli-worker-"));
let cli: string;
beforeAll(async () => {
  cli = await pipelineCli();
  // A small app tree: a file, a nested one, one with a mode, and a symlink line.
  mkdirSync(join(tmp, "src", "lib"), { recursive: true });
  writeFileSync(join(tmp, "src", "main.js"), 'require("./lib/util");\n');
  writeFileSync(join(tmp, "src", "lib", "util.js"), "module.exports = 42;\n");
  writeFileSync(join(tmp, "src", "data.json"), '{ "a": 1 }\n');
  writeFileSync(
    join(tmp, "app.files"),
    "app/main.js\tsrc/main.js\napp/lib/util.js\tsrc/lib/util.js\napp/data.json\tsrc/data.json\tmode\t0644\napp/node_modules/lib\tsymlink\t../lib\n",
  );
  writeFileSync(join(tmp, "bad.files"), "app/main.js\tsrc/main.js\nno tab here\n");
  writeFileSync(
    join(tmp, "config.json"),
    JSON.stringify({
      entrypoint: ["node", "/app/main.js"],
      cmd: [],
      env: { A: "1" },
      workdir: "/app",
      labels: {},
      user: "",
      exposedPorts: [],
      annotations: {},
      os: "linux",
      architecture: "amd64",
    }),
  );
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const layerArgs = (out: string, files = "app.files") => [
  "layer",
  `--out=${out}.tar.gz`,
  `--descriptor=${out}.json`,
  "--name=app",
  `--files=${files}`,
];
const imageArgs = (out: string, layer: string) => [
  "image",
  "--config=config.json",
  `--out-layout=${out}`,
  `--out-digest=${out}.digest`,
  `--layer=${layer}.tar.gz:${layer}.json`,
  "--ref-name=latest",
  `--sbom-out=${out}.spdx.json`,
  "--sbom-name=//app:image",
];
const read = (p: string) => readFileSync(join(tmp, p));

/** The CLI one-shot as the sandboxed strategy runs it: `node pipeline_cli.js @FLAGFILE`. */
async function oneShot(name: string, args: string[]) {
  writeFileSync(join(tmp, `${name}.flags`), args.join("\n") + "\n");
  return execProgram(process.execPath, [cli, `@${name}.flags`], { cwd: tmp });
}

function startWorker(env: Record<string, string> = {}) {
  return new WorkerProcess(cli, tmp, env);
}

describe("the CLI's persistent worker (layer, image)", () => {
  test("answers each request like a one-shot run; a failing request answers with its code and message, and the worker goes on", async () => {
    const once = await oneShot("once", layerArgs("once"));
    expect(once.code, once.stderr).toBe(0);
    const onceImage = await oneShot("once-image", imageArgs("once-image", "once"));
    expect(onceImage.code, onceImage.stderr).toBe(0);

    const w = startWorker();
    try {
      const r1 = await w.request(layerArgs("w1"), [], 11);
      expect(r1).toEqual({ exitCode: 0, output: "", requestId: 11 });
      expect(read("w1.tar.gz").equals(read("once.tar.gz"))).toBe(true);
      expect(JSON.parse(read("w1.json").toString())).toEqual(JSON.parse(read("once.json").toString()));

      // Bad input: E_BAD_INPUT naming the file, line and value (exit 1).
      const bad = await w.request(layerArgs("w2", "bad.files"), [], 12);
      expect(bad.exitCode).toBe(1);
      expect(bad.requestId).toBe(12);
      expect(bad.output).toBe(
        'error[E_BAD_INPUT]: bad.files:2: expected "dest<TAB>src", "dest<TAB>src<TAB>mode<TAB>0644", "dest<TAB>symlink<TAB>target" or "dest<TAB>src<TAB>link", got "no tab here"\nsee docs/errors.md#e_bad_input\n',
      );
      // A usage error (exit 2), and a command the worker does not run (exit 2, named).
      const usage = await w.request([...layerArgs("w3"), "--bogus=1"], [], 13);
      expect(usage.exitCode).toBe(2);
      expect(usage.output).toMatch(/^error\[E_USAGE\]: .*bogus/);
      const other = await w.request(["push", "oci:x", "127.0.0.1:1/x:y"], [], 14);
      expect(other).toEqual({
        exitCode: 2,
        output: 'error[E_USAGE]: the persistent worker runs only layer and image, got "push"\n',
        requestId: 14,
      });
      // An internal error (exit 70; a file list the rule always writes, missing, is not reported as bad input).
      const missing = await w.request(layerArgs("w4", "nowhere.files"), [], 15);
      expect(missing.exitCode).toBe(70);
      expect(missing.output).toMatch(/^internal error: Error: ENOENT: no such file or directory, open 'nowhere.files'/);

      // Still alive, and still right: the same bytes again, then an image from them with the one-shot digest.
      const r2 = await w.request(layerArgs("w5"), [], 16);
      expect(r2).toEqual({ exitCode: 0, output: "", requestId: 16 });
      expect(read("w5.tar.gz").equals(read("once.tar.gz"))).toBe(true);
      const img = await w.request(imageArgs("w-image", "w5"), [], 17);
      expect(img, img.output).toMatchObject({ exitCode: 0, requestId: 17 });
      expect(read("w-image.digest").toString()).toMatch(/^sha256:[0-9a-f]{64}$/);
      expect(read("w-image.digest").toString()).toBe(read("once-image.digest").toString());
      expect(read("w-image.spdx.json").equals(read("once-image.spdx.json"))).toBe(true);
    } finally {
      w.stop();
    }
  });

  test("--timings (`--worker_extra_flag=MNEMONIC=--timings`): one line a request in the worker's log, what it was for and its milliseconds; the answers are the same; a request of many chunks is one request", async () => {
    // ~20,000 inputs make a request of ~1 MB, which reaches the worker in many chunks of the pipe.
    const many = Array.from({ length: 20_000 }, () => "src/main.js");
    const runAll = async (w: WorkerProcess) => [
      await w.request(layerArgs("t1"), [], 1),
      await w.request(["no-such-command"], many, 2),
      await w.request(layerArgs("t2"), ["src/main.js"], 3),
    ];
    const timed = new WorkerProcess(cli, tmp, {}, { args: ["--timings"], captureStderr: true });
    const plain = new WorkerProcess(cli, tmp, {}, { captureStderr: true });
    try {
      const [withTimings, without] = [await runAll(timed), await runAll(plain)];
      expect(withTimings).toEqual(without);
      expect(withTimings.map((r) => r.exitCode)).toEqual([0, 2, 0]);
      const lines = timed.stderr.split("\n").filter((l) => l.startsWith("pipeline: answered"));
      expect(lines.map((l) => l.replace(/ in \d+\.\d ms$/, ""))).toEqual([
        "pipeline: answered request 1 (layer)",
        "pipeline: answered request 2 (no-such-command)",
        "pipeline: answered request 3 (layer)",
      ]);
      expect(
        lines.every((l) => / in \d+\.\d ms$/.test(l)),
        lines.join("\n"),
      ).toBe(true);
      expect(plain.stderr).not.toContain("answered request");
    } finally {
      timed.stop();
      plain.stop();
    }
  });

  test("a worker whose CLI file was replaced hands every later request to one worker of the new CLI", async () => {
    // Bazel 4.2.3 sends requests to a running worker after its tools changed: the worker must not answer with old code.
    const copy = join(tmp, "cli-copy.js");
    const original = readFileSync(cli, "utf8");
    writeFileSync(copy, original);
    const w = new WorkerProcess(copy, tmp, { PIPELINE_CLI_WORKER_STATS: "1" });
    // The stats line each answer ends with names the process that answered.
    const answeredBy = (r: { output: string }) => /^pipeline worker (\d+):/m.exec(r.output)?.[1];
    const quiet = (r: { exitCode: number; output: string; requestId: number }) => ({
      ...r,
      output: r.output.replace(/^pipeline worker .*\n/m, ""),
    });
    let exited = false;
    w.onExit(() => {
      exited = true;
    });
    try {
      expect(quiet(await w.request(layerArgs("r1"), [], 1))).toEqual({ exitCode: 0, output: "", requestId: 1 });
      const first = await w.request(imageArgs("r-image1", "r1"), [], 2);
      expect(first.exitCode, first.output).toBe(0);
      const firstPid = answeredBy(first);
      expect(firstPid).toBeDefined();
      const sbomVersion = (f: string) =>
        JSON.parse(read(f).toString()).creationInfo.creators.find((c: string) => c.startsWith("Tool: "));
      const before = sbomVersion("r-image1.spdx.json");
      // A rebuilt CLI: another file at the same path (Bazel replaces outputs), whose SBOM names another version.
      rmSync(copy);
      writeFileSync(copy, original.replace(/(\bVERSION = ")([^"]+)"/, '$1$2-rebuilt"'));
      const second = await w.request(imageArgs("r-image2", "r1"), [], 3);
      expect(quiet(second), second.output).toEqual({ exitCode: 0, output: "", requestId: 3 });
      expect(sbomVersion("r-image2.spdx.json")).toBe(`${before}-rebuilt`);
      // Still serving, still with the new code, by the same successor (a worker, not a process per request); a
      // failing request answers as the new CLI does.
      const third = await w.request(imageArgs("r-image3", "r1"), [], 4);
      expect(quiet(third), third.output).toEqual({ exitCode: 0, output: "", requestId: 4 });
      expect(sbomVersion("r-image3.spdx.json")).toBe(`${before}-rebuilt`);
      expect(answeredBy(second)).not.toBe(firstPid);
      expect(answeredBy(third)).toBe(answeredBy(second));
      const bad = await w.request(layerArgs("r2", "bad.files"), [], 5);
      expect(bad.exitCode).toBe(1);
      expect(bad.output).toMatch(/^error\[E_BAD_INPUT\]: bad\.files:2: /);
      expect(exited).toBe(false);
    } finally {
      w.stop();
    }
  });

  test("what Bazel prints of a request shows control characters from outside as escapes, one-shot and in the worker", async () => {
    // A file name is text from outside: this one would set the terminal's title (ESC ] ... BEL) if printed as it is.
    const name = "\u001b]0;pwned\u0007.files";
    const shown = "\\x1b]0;pwned\\x07.files";
    const once = await oneShot("escapes", layerArgs("escapes", name));
    expect(once.code).toBe(70);
    expect(once.stderr).toContain(shown);
    expect(once.stderr).not.toMatch(/\u001b|\u0007/);
    const w = startWorker();
    try {
      const r = await w.request(layerArgs("escapes-w", name), [], 1);
      expect(r.exitCode).toBe(70);
      expect(r.output).toContain(shown);
      expect(r.output).not.toMatch(/\u001b|\u0007/);
    } finally {
      w.stop();
    }
  });

  test("one-shot: an unreadable flag file is an E_BAD_INPUT naming it", async () => {
    const r = await execProgram(process.execPath, [cli, "@no-such.flags"], { cwd: tmp });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('error[E_BAD_INPUT]: cannot read the flag file "no-such.flags"');
  });

  test("nothing accumulates over requests: listeners, open files, handles, environment, working directory", async () => {
    const w = startWorker({ PIPELINE_CLI_WORKER_STATS: "1" });
    const stats: string[] = [];
    try {
      for (let i = 0; i < 24; i++) {
        const kind = i % 4;
        const args =
          kind === 0
            ? layerArgs(`s${i}`)
            : kind === 1
              ? layerArgs(`s${i}`, "bad.files")
              : kind === 2
                ? imageArgs(`s-image${i}`, `s${i - 2}`)
                : ["inspect", "x"];
        const r: WorkResponse = await w.request(args, [], i + 1);
        expect(r.exitCode, r.output).toBe([0, 1, 0, 2][kind]);
        const line = r.output.trimEnd().split("\n").pop() ?? "";
        expect(line).toMatch(/^pipeline worker \d+: listeners /);
        stats.push(line);
      }
    } finally {
      w.stop();
    }
    // After the first round (each command's modules loaded once), every request leaves the process as it found it.
    expect(new Set(stats.slice(4)), stats.join("\n")).toEqual(new Set([stats[4]]));
    expect(stats[4]).toContain(`cwd ${tmp}`);
  });

  test("src/tsc/protocol.ts: a stray console.log or stdout write goes to stderr, a throwing handler answers exit 1", async () => {
    // An in-process handler (the CLI's commands write through their io, so a stray write has to be provoked).
    const script = `
      const { serveWorker } = require(${JSON.stringify(tscBundle("protocol.js"))});
      serveWorker("probe", (req) => {
        console.log("stray console.log");
        process.stdout.write("stray write\\n");
        if (req.args[0] === "throw") throw new Error("boom");
        return { code: 0, output: "ok " + req.args.join(" ") };
      });`;
    const probe = join(tmp, "probe.js");
    writeFileSync(probe, script);
    const w = new WorkerProcess(probe, tmp);
    const stderr: string[] = [];
    // WorkerProcess inherits stderr: run a second one with stderr captured to see where the strays went.
    try {
      expect(await w.request(["a", "b"], [], 1)).toEqual({ exitCode: 0, output: "ok a b", requestId: 1 });
      const thrown = await w.request(["throw"], [], 2);
      expect(thrown.exitCode).toBe(1);
      expect(thrown.output).toMatch(/^probe: Error: boom\n/);
      expect(await w.request(["c"], [], 3)).toEqual({ exitCode: 0, output: "ok c", requestId: 3 });
    } finally {
      w.stop();
    }
    await new Promise<void>((done) => {
      const c = spawn(process.execPath, [probe, "--persistent_worker"], { cwd: tmp, stdio: ["pipe", "pipe", "pipe"] });
      let out = Buffer.alloc(0);
      c.stdout.on("data", (d: Buffer) => (out = Buffer.concat([out, d])));
      c.stderr.on("data", (d: Buffer) => stderr.push(d.toString()));
      c.on("close", () => {
        // Exactly one response (length-delimited: its length byte, then the body), nothing else.
        expect(out[0]).toBe(out.length - 1);
        expect(out.toString()).not.toContain("stray");
        done();
      });
      // A request with one argument "x": field 1 (tag 0x0a), length 1; then close stdin, which ends the worker.
      c.stdin.end(Buffer.from([3, 0x0a, 1, 0x78]));
    });
    expect(stderr.join("")).toContain("stray console.log\nstray write\n");
  });
});
