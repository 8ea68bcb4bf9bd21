/**
 * The push launcher's bash client (bazel/private/pipeline/push_client.sh) against the daemon's side of the wire
 * format (src/cli/push-daemon/protocol.ts): the same state file name, the request it sends as the daemon parses it
 * (arguments, directory, every exported variable, newlines and all), output relayed byte for byte, the exit code, and
 * each way it must fall back to Node (no daemon, a foreign greeting, a decline, a connection ended early, a state file
 * that is not the user's). The daemon's side here is a loopback server built from protocol.ts's own readRequest,
 * parseRequest and encodeChunk: the push a real daemon runs needs a Bazel-built bundle, and
 * test/e2e/push-daemon.test.ts runs that one.
 */
import { spawn } from "node:child_process";
import { chmodSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { createServer, type Server, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, test } from "vitest";
import {
  daemonKey,
  encodeChunk,
  formatState,
  parseRequest,
  type PushRequest,
  readRequest,
  stateFile,
} from "../../src/cli/push-daemon/protocol";

const CLIENT = join(__dirname, "..", "..", "bazel", "private", "pipeline", "push_client.sh");
const tmp = mkdtempSync(join(tmpdir(), "rp-push-client-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

interface Run {
  code: number | null;
  stdout: Buffer;
  stderr: string;
}

/** Runs the launcher's use of the client: `_push_daemon ARGS` served → its exit code; not served → 99. */
function launcher(env: Record<string, string>, args: string[], cwd = tmp): Promise<Run> {
  const script = `set -euo pipefail
_config=/runfiles/app.launch.json
_ca=(--use-openssl-ca)
source ${JSON.stringify(CLIENT)}
if _push_daemon "$@"; then exit "$_pd_code"; fi
echo "not served" >&2
exit 99`;
  const child = spawn("bash", ["-c", script, "launcher", ...args], { cwd, env: { PATH: process.env.PATH, ...env } });
  const out: Buffer[] = [];
  let err = "";
  child.stdout.on("data", (d: Buffer) => out.push(d));
  child.stderr.on("data", (d: Buffer) => (err += d.toString("utf8")));
  return new Promise((resolve) =>
    child.on("close", (code) => resolve({ code, stdout: Buffer.concat(out), stderr: err })),
  );
}

/** Bash's own name for `cli`'s state file (the client's _pd_key). */
async function bashKey(cli: string): Promise<string> {
  const child = spawn("bash", ["-c", `source ${JSON.stringify(CLIENT)}; _pd_key; printf %s "$_pd_k"`], {
    env: { PATH: process.env.PATH, LANG: "C.UTF-8", PIPELINE_CLI: cli },
  });
  let out = "";
  child.stdout.on("data", (d: Buffer) => (out += d.toString("utf8")));
  await new Promise((resolve) => child.on("close", resolve));
  return out;
}

/** What `printf %b` makes of a protocol line's text (the client's relay), as bytes. */
async function printfB(line: string): Promise<Buffer> {
  const child = spawn("bash", ["-c", `printf '%b' "$1"`, "x", line.slice(1, -1)], {
    env: { PATH: process.env.PATH, LANG: "C.UTF-8" },
  });
  const out: Buffer[] = [];
  child.stdout.on("data", (d: Buffer) => out.push(d));
  await new Promise((resolve) => child.on("close", resolve));
  return Buffer.concat(out);
}

type Answer = (req: PushRequest | { problem: string }, socket: Socket) => void;

/** A loopback server speaking the daemon's side, its state file written where `home`'s client looks. */
async function daemon(home: string, cli: string, answer: Answer, greeting?: string): Promise<Server> {
  const server = createServer((socket) => {
    socket.write(`${greeting ?? "a".repeat(48)}\n`);
    readRequest(socket).then((fields) => (fields ? answer(parseRequest(fields), socket) : socket.destroy()));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as { port: number }).port;
  const file = stateFile({ HOME: home }, cli);
  mkdirSync(join(home, ".cache", "rules_pipeline", "push-daemon"), { recursive: true, mode: 0o700 });
  writeFileSync(file, formatState({ port, serverSecret: "a".repeat(48), clientSecret: "b".repeat(48), pid: 1 }), {
    mode: 0o600,
  });
  return server;
}

const close = (s: Server) => new Promise((resolve) => s.close(resolve));

describe("the push launcher's daemon client", () => {
  test("names the state file as the daemon does, byte for byte", async () => {
    const names = [
      "/root/.cache/bazel/_bazel_root/0123abcd/execroot/ws/bazel-out/k8-fastbuild/bin/external/rules_pipeline/pipeline_cli.js",
      "/tmp/ünïcödé dir/with spaces/and-dashes_and.dots/pipeline_cli.js",
      `/${"deep/".repeat(80)}pipeline_cli.js`,
    ];
    for (const cli of names) expect(await bashKey(cli)).toBe(daemonKey(cli));
  });

  test("every chunk of output comes out of printf %b as it went in", async () => {
    const texts = [
      "plain text",
      "back\\slash \\n \\c stop? \\0123 \\x41 %s %b",
      "line\nbreaks\r\nand\ttabs\x1b[2K\x1b[1Gprogress\x07",
      "ünïcödé ✓ 🚀",
      "\x00nul\x01\x7f",
      String.fromCharCode(...Array.from({ length: 128 }, (_, i) => i)),
    ];
    for (const text of texts) expect((await printfB(encodeChunk("o", text))).toString("utf8")).toBe(text);
    // A hang bound, not a timing: the machine of 2026-12-02 evening (fork and exec 10 ms) passed the default 60 s.
  }, 240_000);

  test("sends the push the launcher was asked for, relays its output and returns its exit code", async () => {
    const home = join(tmp, "served");
    const cwd = join(tmp, "served-cwd");
    mkdirSync(cwd, { recursive: true });
    const cli = "/out/bin/pipeline_cli.js";
    let seen: PushRequest | undefined;
    const server = await daemon(home, cli, (req, socket) => {
      if ("problem" in req) return socket.destroy();
      seen = req;
      socket.write("y\n");
      socket.write(encodeChunk("e", "pushing 3 layers\n\\done\\\n"));
      socket.write(encodeChunk("o", "localhost:5000/app@sha256:0123\n"));
      socket.end("x7\n");
    });
    try {
      const env = { HOME: home, PIPELINE_CLI: cli, MULTI_LINE: "one\ntwo\n", EMPTY: "" };
      const r = await launcher(env, ["--tag", "a b", "--repository", "x\ny"], cwd);
      expect(r.stderr).toBe("pushing 3 layers\n\\done\\\n");
      expect(r.stdout.toString("utf8")).toBe("localhost:5000/app@sha256:0123\n");
      expect(r.code).toBe(7);
      expect(seen?.clientSecret).toBe("b".repeat(48));
      expect(seen?.cwd).toBe(cwd);
      expect(seen?.tty).toBe(false);
      expect(seen?.nodeFlags).toEqual(["--use-openssl-ca"]);
      expect(seen?.args).toEqual(["--config", "/runfiles/app.launch.json", "--tag", "a b", "--repository", "x\ny"]);
      expect(seen?.env.MULTI_LINE).toBe("one\ntwo\n");
      expect(seen?.env.EMPTY).toBe("");
      expect(seen?.env.PIPELINE_CLI).toBe(cli);
      expect(seen?.env.HOME).toBe(home);
      // Only exported variables: the client's own locals and the launcher's unexported ones are not sent.
      expect(Object.keys(seen?.env ?? {}).filter((k) => k.startsWith("_pd") || k === "_config")).toEqual([]);
    } finally {
      await close(server);
    }
  });

  test("falls back to Node when the daemon declines, ends early or is not the daemon", async () => {
    const cli = "/out/bin/pipeline_cli.js";
    const cases: [string, Answer, string | undefined, RegExp | undefined][] = [
      ["declined", (_r, s) => s.end("n busy\n"), undefined, undefined],
      ["ended", (_r, s) => s.end(`y\n${encodeChunk("e", "half")}`), undefined, /ended before the push did/],
      ["foreign", (_r, s) => s.end("y\nx0\n"), "c".repeat(48), undefined],
    ];
    for (const [name, answer, greeting, message] of cases) {
      const home = join(tmp, name);
      const server = await daemon(home, cli, answer, greeting);
      try {
        const r = await launcher({ HOME: home, PIPELINE_CLI: cli }, []);
        expect(r.code, name).toBe(99);
        if (message) expect(r.stderr).toMatch(message);
      } finally {
        await close(server);
      }
    }
  });

  test("asks nothing when told not to, or when the state is missing or not the user's own", async () => {
    const cli = "/out/bin/pipeline_cli.js";
    let asked = 0;
    const home = join(tmp, "guarded");
    const server = await daemon(home, cli, (_r, s) => {
      asked++;
      s.end("y\nx0\n");
    });
    try {
      expect((await launcher({ HOME: home, PIPELINE_CLI: cli, PIPELINE_PUSH_DAEMON: "0" }, [])).code).toBe(99);
      expect((await launcher({ HOME: join(tmp, "nobody"), PIPELINE_CLI: cli }, [])).code).toBe(99);
      expect(asked).toBe(0);
      // A state file that is a symbolic link (someone else's file, or a trap) is not read.
      const file = stateFile({ HOME: home }, cli);
      const linked = join(tmp, "linked");
      mkdirSync(join(linked, ".cache", "rules_pipeline", "push-daemon"), { recursive: true });
      symlinkSync(file, stateFile({ HOME: linked }, cli));
      expect((await launcher({ HOME: linked, PIPELINE_CLI: cli }, [])).code).toBe(99);
      expect(asked).toBe(0);
      // The real one is served: the guard above was the link, not the server.
      chmodSync(file, 0o600);
      expect((await launcher({ HOME: home, PIPELINE_CLI: cli }, [])).code).toBe(0);
      expect(asked).toBe(1);
    } finally {
      await close(server);
    }
  });
});
