/**
 * Git operations with credentials against a real smart-HTTP server (`git http-backend` behind Basic auth):
 * branch resolution, checkout of a commit, rejected and missing credentials failing fast, a runner killed with
 * SIGKILL while git holds the credential (what it leaves, and the next start removing it), and a leak audit
 * over everything the scenarios printed, threw or left on disk (including git's own GIT_TRACE of every
 * command it ran). HOME and XDG_CONFIG_HOME point at a temp dir that must stay empty.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { execFileSync, spawn } from "node:child_process";
import { createServer, type Server } from "node:http";
import type { AddressInfo, Socket } from "node:net";
import {
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import type { PipelineError } from "../../src/errors";
import { cloneAt, fetchCheckout, type GitOpOptions, lsRemote } from "../../src/git/ops";
import { createTestRepo, type GitServer, startGitServer, type TestRepo } from "../fixtures/git-server";
import { pipelineErrorOf } from "../fixtures/errors";
import { pipelineCli, runCli } from "../fixtures/cli";

const USER = "alice";
const PASSWORD = "e2e-Pa55word-7c1d9b";
const TOKEN = "ghs_e2eTokenValue5f4e3d2c1b";
const SECRETS = [
  PASSWORD,
  TOKEN,
  Buffer.from(`${USER}:${PASSWORD}`).toString("base64"),
  Buffer.from(`x-access-token:${TOKEN}`).toString("base64"),
  Buffer.from(`${USER}:wrong-${PASSWORD}`).toString("base64"),
];

let root: string; // everything the scenarios write: HOME, clones, private dirs, the trace, the server's repos
let home: string;
let authTmp: string;
let trace: string;
let server: GitServer;
let repo: TestRepo;
let url: string;
let env: NodeJS.ProcessEnv;
const captured: string[] = []; // stdout, stderr, error messages
const restoreWrites: (() => void)[] = [];

function opts(extra: GitOpOptions = {}): GitOpOptions {
  return { env, tmpDir: authTmp, ...extra };
}

async function caught(p: Promise<unknown>): Promise<PipelineError> {
  const e = await pipelineErrorOf(p);
  captured.push(String(e), e.stack ?? "", JSON.stringify(e), String(e.cause ?? ""));
  return e;
}

function files(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const name of readdirSync(d)) {
      const p = join(d, name);
      const st = lstatSync(p);
      if (st.isDirectory()) walk(p);
      else out.push(p);
    }
  };
  if (existsSync(dir)) walk(dir);
  return out;
}

function headOf(dir: string): string {
  return execFileSync("git", ["-C", dir, "rev-parse", "HEAD"], { env, encoding: "utf8" }).trim();
}

/** The work tree's files (outside .git) with their contents. */
function workTree(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const f of files(dir)) {
    const rel = relative(dir, f);
    if (!rel.startsWith(".git/")) out[rel] = readFileSync(f, "utf8");
  }
  return out;
}

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), "git-credentials-e2e-"));
  home = join(root, "home");
  authTmp = join(root, "auth-tmp");
  trace = join(root, "git-trace.log");
  mkdirSync(home);
  mkdirSync(authTmp);
  repo = createTestRepo(join(root, "srv"), "private");
  server = await startGitServer({ root: join(root, "srv"), users: { [USER]: PASSWORD, "x-access-token": TOKEN } });
  url = server.repoUrl("private");
  env = {
    PATH: process.env.PATH,
    HOME: home,
    XDG_CONFIG_HOME: join(home, ".config"),
    GIT_CONFIG_NOSYSTEM: "1",
    GIT_TRACE: trace, // every command git runs, with its argv, for the leak audit
  };
  for (const stream of [process.stdout, process.stderr]) {
    const write = stream.write.bind(stream);
    stream.write = ((chunk: unknown, ...rest: unknown[]) => {
      captured.push(Buffer.isBuffer(chunk) ? chunk.toString("utf8") : String(chunk));
      return (write as (...a: unknown[]) => boolean)(chunk, ...rest);
    }) as typeof stream.write;
    restoreWrites.push(() => (stream.write = write));
  }
});

afterAll(async () => {
  for (const restore of restoreWrites) restore();
  await server?.stop();
  rmSync(root, { recursive: true, force: true });
});

describe("git over smart HTTP with Basic auth", () => {
  it("ls-remote resolves main and dev to their commits", async () => {
    const cred = { username: USER, password: PASSWORD };
    expect(await lsRemote(url, "main", opts({ credential: cred }))).toBe(repo.commits.main);
    expect(await lsRemote(url, "dev", opts({ credential: cred }))).toBe(repo.commits.dev);
    const seen = server.requests.filter((r) => r.authenticated);
    expect(seen.length).toBeGreaterThan(0);
    expect(new Set(seen.map((r) => r.user))).toEqual(new Set([USER]));
  });

  it("a token is accepted as user x-access-token", async () => {
    const before = server.requests.length;
    expect(await lsRemote(url, "main", opts({ credential: { token: TOKEN } }))).toBe(repo.commits.main);
    expect(
      server.requests
        .slice(before)
        .filter((r) => r.authenticated)
        .map((r) => r.user),
    ).toContain("x-access-token");
  });

  it("cloneAt checks out the commit; fetchCheckout moves the clone to another", async () => {
    const cred = { username: USER, password: PASSWORD };
    const dir = join(root, "clone-main");
    await cloneAt(url, repo.commits.main, dir, opts({ credential: cred }));
    expect(headOf(dir)).toBe(repo.commits.main);
    expect(workTree(dir)).toEqual(repo.files.main);

    await fetchCheckout(dir, repo.commits.dev, opts({ credential: cred }));
    expect(headOf(dir)).toBe(repo.commits.dev);
    expect(workTree(dir)).toEqual(repo.files.dev);

    const first = join(root, "clone-first");
    await cloneAt(url, repo.commits.first, first, opts({ credential: { token: TOKEN } }));
    expect(headOf(first)).toBe(repo.commits.first);
    expect(workTree(first)).toEqual(repo.files.first);
  });

  it("a wrong password is E_GIT_AUTH at once, naming the URL, never the password", async () => {
    const before = server.requests.length;
    const started = Date.now();
    const e = await caught(
      lsRemote(url, "main", opts({ credential: { username: USER, password: `wrong-${PASSWORD}` } })),
    );
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(e.code).toBe("E_GIT_AUTH");
    expect(e.message).toContain(
      `git authentication to ${url} failed: the server rejected the credential (password for user "alice")`,
    );
    const attempts = server.requests.slice(before);
    expect(attempts.length).toBeLessThanOrEqual(3);
    expect(attempts.every((r) => r.status === 401)).toBe(true);

    const dir = join(root, "clone-wrong");
    const c = await caught(cloneAt(url, repo.commits.main, dir, opts({ credential: { token: `wrong-${TOKEN}` } })));
    expect(c.code).toBe("E_GIT_AUTH");
    expect(existsSync(dir)).toBe(false);
  });

  it("no credential for a private repository is E_GIT_AUTH without prompting", async () => {
    const started = Date.now();
    const e = await caught(lsRemote(url, "main", opts()));
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(e.code).toBe("E_GIT_AUTH");
    expect(e.message).toContain("the server requires a credential and none was given");
  });

  it("a missing branch is E_GIT_REF_NOT_FOUND; a missing repository is E_GIT", async () => {
    const cred = { username: USER, password: PASSWORD };
    const e = await caught(lsRemote(url, "feature", opts({ credential: cred })));
    expect(e.code).toBe("E_GIT_REF_NOT_FOUND");
    expect(e.message).toBe(`branch "feature" not found in ${url} (git ls-remote listed no refs/heads/feature)`);
    const missing = await caught(lsRemote(server.repoUrl("missing"), "main", opts({ credential: cred })));
    expect(missing.code).toBe("E_GIT");
    expect(missing.message).toContain(server.repoUrl("missing"));
  });

  it("the user's credential helper is not asked and stores nothing", async () => {
    const userHome = join(root, "user-home");
    mkdirSync(userHome);
    const log = join(root, "user-helper.log");
    const helper = join(userHome, "helper.sh");
    writeFileSync(helper, `#!/bin/sh\necho "$1" >> '${log}'\n`, { mode: 0o755 });
    writeFileSync(join(userHome, ".gitconfig"), `[credential]\n\thelper = ${helper}\n\thelper = store\n`);
    const before = files(userHome).map((f) => [f, readFileSync(f, "utf8")]);
    const userEnv = { ...env, HOME: userHome, XDG_CONFIG_HOME: join(userHome, ".config") };
    const dir = join(root, "clone-user-home");
    await cloneAt(url, repo.commits.dev, dir, {
      env: userEnv,
      tmpDir: authTmp,
      credential: { username: USER, password: PASSWORD },
    });
    expect(headOf(dir)).toBe(repo.commits.dev);
    expect(existsSync(log)).toBe(false);
    expect(files(userHome).map((f) => [f, readFileSync(f, "utf8")])).toEqual(before); // no ~/.git-credentials
  });
});

/** Our processes whose command line mentions `text`, with their state (Z: a zombie, dead but not reaped). */
function processesMentioning(text: string): { pid: number; state: string; cmdline: string }[] {
  const out: { pid: number; state: string; cmdline: string }[] = [];
  for (const p of readdirSync("/proc").filter((x) => /^\d+$/.test(x))) {
    try {
      const cmdline = readFileSync(`/proc/${p}/cmdline`, "utf8").replace(/\0/g, " ");
      if (!cmdline.includes(text) || Number(p) === process.pid) continue;
      const stat = readFileSync(`/proc/${p}/stat`, "utf8");
      out.push({ pid: Number(p), state: stat.slice(stat.lastIndexOf(")") + 2).split(" ")[0], cmdline });
    } catch {
      // gone
    }
  }
  return out;
}

describe("a runner killed (SIGKILL) during a git operation (issue #9)", () => {
  let stall: Server;
  let stallUrl: string;
  const sockets = new Set<Socket>();
  let authedRequests = 0;
  beforeAll(async () => {
    // Asks for a credential, then never answers the request that carries it: git stalls holding it.
    stall = createServer((req, res) => {
      if (!req.headers.authorization) {
        res.writeHead(401, { "WWW-Authenticate": 'Basic realm="stall"' });
        res.end();
        return;
      }
      authedRequests++;
    });
    stall.on("connection", (s) => {
      sockets.add(s);
      s.on("close", () => sockets.delete(s));
    });
    await new Promise<void>((r) => stall.listen(0, "127.0.0.1", r));
    stallUrl = `http://127.0.0.1:${(stall.address() as AddressInfo).port}/stall.git`;
  });
  afterAll(async () => {
    for (const s of sockets) s.destroy();
    await new Promise((r) => stall?.close(r));
  });

  function specFile(name: string, repoUrl: string, user: string): string {
    const path = join(root, `${name}.yaml`);
    const image = `127.0.0.1:9/none@sha256:${"0".repeat(64)}`; // never reached: the repositories come first
    const repo = `{url: ${repoUrl}, name: r, ref: main, username: ${user}, password: "SECRET:git-bot"}`;
    writeFileSync(
      path,
      [`image: ${image}`, "repositories:", `  dataset: ${name}`, "  repositories:", `    - ${repo}`, ""].join("\n"),
    );
    return path;
  }

  it("leaves no credential on disk, only the dir and a running git; the next start kills that git and removes the dir", async () => {
    const cliTmp = join(root, "cli-tmp"); // the CLI's TMPDIR: where its credential dirs go
    mkdirSync(cliTmp);
    const cliEnv = {
      PATH: process.env.PATH,
      HOME: home,
      CI: "1",
      TMPDIR: cliTmp,
      PIPELINE_SECRET_GIT_BOT: PASSWORD,
      GIT_CONFIG_NOSYSTEM: "1",
    };
    const cache = join(root, "cli-cache");
    const cli = await pipelineCli();
    const runner = spawn(process.execPath, [cli, "run", specFile("stalled", stallUrl, "bot"), "--cache-dir", cache], {
      env: cliEnv,
      stdio: ["ignore", "pipe", "pipe"],
    });
    let output = "";
    runner.stdout.on("data", (d) => (output += d));
    runner.stderr.on("data", (d) => (output += d));
    const exited = new Promise((r) => runner.on("close", r));
    for (let i = 0; i < 300 && authedRequests === 0; i++) await new Promise((r) => setTimeout(r, 100));
    expect(authedRequests, output).toBeGreaterThan(0); // git asked the helper and sent the credential: it holds it now

    runner.kill("SIGKILL");
    await exited;
    captured.push(output);
    // The window SIGKILL leaves: the dir (named after the dead runner) and git still running, but no credential
    // on disk: "credential" is a FIFO the runner served from memory (src/git/credential-fifo.ts), now empty.
    const dirs = readdirSync(cliTmp);
    expect(dirs).toHaveLength(1);
    expect(dirs[0]).toMatch(new RegExp(`^\\.git-auth\\.tmp-${runner.pid}-\\d+-[0-9a-f]{8}$`));
    const dir = join(cliTmp, dirs[0]);
    expect(lstatSync(dir).mode & 0o777).toBe(0o700);
    expect(readdirSync(dir).sort()).toEqual(["credential", "credential-helper"]);
    for (const f of files(dir)) {
      if (!lstatSync(f).isFile()) continue; // a FIFO is not opened: reading it would wait for a writer
      for (const secret of SECRETS)
        expect(readFileSync(f).includes(secret), `${relative(root, f)} holds ${secret.slice(0, 6)}…`).toBe(false);
    }
    expect(lstatSync(join(dir, "credential")).isFIFO()).toBe(true);
    const orphans = processesMentioning(stallUrl).filter((p) => p.state !== "Z");
    expect(orphans.length, "git and its remote helper outlive the runner").toBeGreaterThan(0);

    // The next start: a run whose repository is reachable; its first git credential sweeps.
    const next = await runCli(["run", specFile("next", url, USER), "--cache-dir", cache], { env: cliEnv });
    captured.push(next.stdout, next.stderr);
    expect(next.stderr).toContain("repository r:"); // it got past the repositories (and fails later on the image)
    expect(readdirSync(cliTmp)).toEqual([]);
    for (let i = 0; i < 50 && processesMentioning(stallUrl).some((p) => p.state !== "Z"); i++)
      await new Promise((r) => setTimeout(r, 100));
    expect(processesMentioning(stallUrl).filter((p) => p.state !== "Z")).toEqual([]);
  });
});

describe("leak audit", () => {
  it("nothing printed, thrown or left on disk holds the password, the token or their Basic header", () => {
    expect(captured.length).toBeGreaterThan(0);
    const onDisk = files(root);
    expect(onDisk.some((f) => f.endsWith(join(".git", "config")))).toBe(true);
    expect(onDisk.some((f) => f.endsWith(join(".git", "FETCH_HEAD")))).toBe(true);
    const traceText = readFileSync(trace, "utf8");
    expect(traceText).toMatch(/credential-helper\S* get/); // git ran the one-shot helper (and logged its argv)
    expect(traceText).toMatch(/ls-remote/);
    for (const secret of SECRETS) {
      for (const text of captured)
        expect(text.includes(secret), `captured output holds ${secret.slice(0, 6)}…`).toBe(false);
      for (const f of onDisk)
        expect(readFileSync(f).includes(secret), `${relative(root, f)} holds ${secret.slice(0, 6)}…`).toBe(false);
      expect(Object.values(process.env).some((v) => v?.includes(secret))).toBe(false);
    }
    // No private dir left, nothing written to HOME (no ~/.git-credentials, no global config).
    expect(readdirSync(authTmp)).toEqual([]);
    expect(files(home)).toEqual([]);
  });
});
