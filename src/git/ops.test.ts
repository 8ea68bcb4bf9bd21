import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { execFileSync, spawn } from "node:child_process";
import { buildSync } from "esbuild";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { GitCredential } from "./auth";
import { lowSpeedEnv } from "./low-speed";
import { cloneAt, fetchCheckout, type GitOpOptions, lsRemote } from "./ops";
import { secretsOf } from "./redact";
import { pipelineErrorOf as caught } from "../../test/fixtures/errors";

const PASSWORD = "unit-ops-Secret-9f8e7d";

let root: string;
let env: NodeJS.ProcessEnv;
let bare: string;
let url: string;
const c: Record<"first" | "main" | "dev" | "tag", string> = { first: "", main: "", dev: "", tag: "" };

function git(args: string[], cwd: string): string {
  return execFileSync("git", args, { cwd, env, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] }).trim();
}

beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), "git-ops-unit-"));
  const home = join(root, "home");
  mkdirSync(home);
  env = {
    PATH: process.env.PATH,
    HOME: home,
    XDG_CONFIG_HOME: join(home, ".config"),
    GIT_CONFIG_NOSYSTEM: "1",
    GIT_AUTHOR_NAME: "T",
    GIT_AUTHOR_EMAIL: "t@example.com",
    GIT_COMMITTER_NAME: "T",
    GIT_COMMITTER_EMAIL: "t@example.com",
  };
  bare = join(root, "repo.git");
  const work = join(root, "work");
  git(["init", "-q", "--bare", "--initial-branch=main", bare], root);
  git(["init", "-q", "--initial-branch=main", work], root);
  writeFileSync(join(work, "a.txt"), "first\n");
  git(["add", "-A"], work);
  git(["commit", "-q", "-m", "first"], work);
  c.first = git(["rev-parse", "HEAD"], work);
  git(["tag", "-a", "-m", "annotated", "v1"], work);
  git(["branch", "dev"], work);
  writeFileSync(join(work, "a.txt"), "main\n");
  git(["commit", "-q", "-am", "main"], work);
  c.main = git(["rev-parse", "HEAD"], work);
  git(["checkout", "-q", "dev"], work);
  writeFileSync(join(work, "b.txt"), "dev\n");
  git(["add", "-A"], work);
  git(["commit", "-q", "-m", "dev"], work);
  c.dev = git(["rev-parse", "HEAD"], work);
  git(["push", "-q", "--follow-tags", bare, "main", "dev", "v1"], work);
  c.tag = git(["rev-parse", "v1"], work); // the tag object, not the commit
  url = `file://${bare}`;
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe("lsRemote (local repository)", () => {
  it("resolves branches, full refs, annotated tags (peeled) and HEAD", async () => {
    const o = { env };
    expect(await lsRemote(url, "main", o)).toBe(c.main);
    expect(await lsRemote(url, "dev", o)).toBe(c.dev);
    expect(await lsRemote(url, "refs/heads/dev", o)).toBe(c.dev);
    expect(c.tag).not.toBe(c.first);
    expect(await lsRemote(url, "refs/tags/v1", o)).toBe(c.first);
    expect(await lsRemote(url, "HEAD", o)).toBe(c.main);
  });

  it("a missing branch is E_GIT_REF_NOT_FOUND naming the URL and branch; tail matches do not count", async () => {
    const e = await caught(lsRemote(url, "nope", { env }));
    expect(e.code).toBe("E_GIT_REF_NOT_FOUND");
    expect(e.message).toContain(`branch "nope"`);
    expect(e.message).toContain(url);
    // `git ls-remote URL refs/heads/ain` would not match main, but `heads/main` would tail-match refs/heads/main:
    expect((await caught(lsRemote(url, "refs/main", { env }))).code).toBe("E_GIT_REF_NOT_FOUND");
  });

  it("rejects ref names that could be options or patterns", async () => {
    for (const ref of ["-x", "ma*n", "a..b", "refs/heads/a b"]) {
      const e = await caught(lsRemote(url, ref, { env }));
      expect(e.code, ref).toBe(ref === "-x" ? "E_GIT_REF_NOT_FOUND" : "E_GIT");
    }
  });

  it("a repository that does not exist is E_GIT with git's stderr", async () => {
    const e = await caught(lsRemote(`file://${root}/missing.git`, "main", { env }));
    expect(e.code).toBe("E_GIT");
    expect(e.message).toMatch(
      /git ls-remote file:\/\/.*missing\.git failed \(exit code \d+\):\n.*(does not appear to be a git repository|Could not read)/s,
    );
  });
});

describe("cloneAt / fetchCheckout (local repository)", () => {
  it("checks out a commit that is not a branch tip, shallow", async () => {
    const dir = join(root, "clone-first");
    await cloneAt(url, c.first, dir, { env });
    expect(git(["rev-parse", "HEAD"], dir)).toBe(c.first);
    expect(readFileSync(join(dir, "a.txt"), "utf8")).toBe("first\n");
    expect(existsSync(join(dir, "b.txt"))).toBe(false);
    expect(git(["rev-parse", "--is-shallow-repository"], dir)).toBe("true");
    expect(git(["remote", "get-url", "origin"], dir)).toBe(url);
  });

  it("falls back to fetching all branches from servers that refuse unadvertised commits (protocol v0)", async () => {
    const dir = join(root, "clone-v0");
    const v0 = {
      env: { ...env, GIT_CONFIG_COUNT: "1", GIT_CONFIG_KEY_0: "protocol.version", GIT_CONFIG_VALUE_0: "0" },
    };
    await cloneAt(url, c.first, dir, v0);
    expect(git(["rev-parse", "HEAD"], dir)).toBe(c.first);
  });

  it("fetchCheckout moves an existing clone to another commit, fetching only when needed", async () => {
    const dir = join(root, "clone-move");
    await cloneAt(url, c.main, dir, { env });
    await fetchCheckout(dir, c.dev, { env });
    expect(git(["rev-parse", "HEAD"], dir)).toBe(c.dev);
    expect(readFileSync(join(dir, "b.txt"), "utf8")).toBe("dev\n");
    // Already present: no remote access at all (origin now points nowhere).
    git(["remote", "set-url", "origin", `file://${root}/gone.git`], dir);
    await fetchCheckout(dir, c.main, { env });
    expect(git(["rev-parse", "HEAD"], dir)).toBe(c.main);
    // An explicit URL overrides origin.
    await fetchCheckout(dir, c.first, { env, url });
    expect(git(["rev-parse", "HEAD"], dir)).toBe(c.first);
  });

  it("a commit the remote does not have is E_GIT_REF_NOT_FOUND and the new dir is removed", async () => {
    const dir = join(root, "clone-missing");
    const e = await caught(cloneAt(url, "0".repeat(40), dir, { env }));
    expect(["E_GIT_REF_NOT_FOUND", "E_GIT"]).toContain(e.code);
    expect(e.message).toContain(url);
    expect(existsSync(dir)).toBe(false);
  });

  it("refuses a non-empty directory and abbreviated commit ids", async () => {
    const dir = join(root, "not-empty");
    mkdirSync(dir);
    writeFileSync(join(dir, "x"), "");
    expect((await caught(cloneAt(url, c.main, dir, { env }))).message).toMatch(/not empty/);
    expect(readdirSync(dir)).toEqual(["x"]); // left as it was
    expect((await caught(cloneAt(url, c.main.slice(0, 12), join(root, "short"), { env }))).message).toMatch(
      /not a full commit id/,
    );
  });
});

/**
 * A fake git that records its argv and environment and answers with canned output, to check what reaches git
 * with a credential and how failures are reported.
 */
function fakeGit(dir: string, behaviour: { stderr?: string; exit?: number; lsRemote?: string }): string {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, "stderr"), behaviour.stderr ?? "");
  writeFileSync(join(dir, "ls-remote"), behaviour.lsRemote ?? "");
  const path = join(dir, "git");
  writeFileSync(
    path,
    [
      "#!/bin/sh",
      `d='${dir}'`,
      'printf "%s\\0" "$@" >> "$d/argv"; printf "\\n" >> "$d/argv"',
      'env >> "$d/env"',
      'for a in "$@"; do [ "$a" = ls-remote ] && cat "$d/ls-remote"; done',
      'cat "$d/stderr" >&2',
      `exit ${behaviour.exit ?? 0}`,
      "",
    ].join("\n"),
    { mode: 0o755 },
  );
  return path;
}

describe("credentials and failures (fake git)", () => {
  const https = "https://git.example.com/org/private.git";
  const creds: GitCredential[] = [{ username: "alice", password: PASSWORD }, { token: PASSWORD }];

  function recorded(dir: string): string {
    return readFileSync(join(dir, "argv"), "utf8") + readFileSync(join(dir, "env"), "utf8");
  }

  for (const cred of creds) {
    it(`argv and environment never hold the secret (${"token" in cred ? "token" : "password"})`, async () => {
      const dir = join(root, `fake-ok-${"token" in cred ? "t" : "p"}`);
      const git = fakeGit(dir, { lsRemote: `${c.main}\trefs/heads/main\n` });
      const o: GitOpOptions = { env, credential: cred, git, tmpDir: root };
      expect(await lsRemote(https, "main", o)).toBe(c.main);
      await cloneAt(https, c.main, join(dir, "clone"), o); // every fake git command succeeds
      const all = recorded(dir);
      expect(all).toContain("ls-remote");
      expect(all).toContain("fetch");
      expect(all).toContain("GIT_CONFIG_VALUE_1=!'");
      for (const s of secretsOf(cred)) expect(all).not.toContain(s);
    });
  }

  const authCases: [string, string][] = [
    ["https", "fatal: Authentication failed for 'https://git.example.com/org/private.git/'\n"],
    ["https", "fatal: could not read Username for 'https://git.example.com': terminal prompts disabled\n"],
    [
      "https",
      "remote: HTTP Basic: Access denied\nfatal: Authentication failed for 'https://git.example.com/org/private.git/'\n",
    ],
    ["ssh", "git@github.com: Permission denied (publickey).\nfatal: Could not read from remote repository.\n"],
  ];
  for (const [kind, stderr] of authCases) {
    it(`E_GIT_AUTH for: ${stderr.split("\n")[0]}`, async () => {
      const dir = join(root, `fake-auth-${authCases.findIndex((x) => x[1] === stderr)}`);
      const git = fakeGit(dir, { stderr, exit: 128 });
      const target = kind === "ssh" ? "git@github.com:org/private.git" : https;
      const credential: GitCredential =
        kind === "ssh"
          ? { privateKey: "-----BEGIN KEY-----\nKEYMATERIALKEYMATERIAL\n-----END KEY-----" }
          : { username: "alice", password: PASSWORD };
      const e = await caught(lsRemote(target, "main", { env, credential, git, tmpDir: root }));
      expect(e.code).toBe("E_GIT_AUTH");
      expect(e.message).toContain(`git authentication to ${target} failed: the server rejected the credential`);
      const none = await caught(lsRemote(target, "main", { env, git, tmpDir: root }));
      expect(none.code).toBe("E_GIT_AUTH");
      expect(none.message).toContain("the server requires a credential and none was given");
    });
  }

  it("E_GIT carries git's stderr with URL userinfo redacted and the secret masked", async () => {
    const b64 = Buffer.from(`alice:${PASSWORD}`).toString("base64");
    const stderr = `fatal: unable to access 'https://alice:${PASSWORD}@git.example.com/org/private.git/': Could not resolve host\ndebug: Authorization: Basic ${b64}\nechoed ${PASSWORD}\n`;
    const git = fakeGit(join(root, "fake-other"), { stderr, exit: 128 });
    const e = await caught(
      lsRemote(https, "main", { env, credential: { username: "alice", password: PASSWORD }, git, tmpDir: root }),
    );
    expect(e.code).toBe("E_GIT");
    expect(e.message).toContain("git ls-remote https://git.example.com/org/private.git failed (exit code 128):");
    expect(e.message).toContain("https://REDACTED@git.example.com/org/private.git/");
    expect(e.message).toContain("Could not resolve host");
    expect(e.message).toContain("echoed ***");
    expect(e.message).not.toContain(PASSWORD);
    expect(e.message).not.toContain(b64);
  });

  it("a timeout kills git and says so", async () => {
    const dir = join(root, "fake-slow");
    mkdirSync(dir);
    const git = join(dir, "git");
    writeFileSync(git, "#!/bin/sh\nexec sleep 30\n", { mode: 0o755 });
    const started = Date.now();
    const e = await caught(lsRemote(https, "main", { env, git, timeoutMs: 200 }));
    expect(Date.now() - started).toBeLessThan(5000);
    expect(e.code).toBe("E_GIT");
    expect(e.message).toMatch(/timed out/);
  });

  /** A fake git that starts a child of its own (as git starts git-remote-http) and waits; the child's pid in `pidFile`. */
  function stallingGit(name: string): { git: string; pidFile: string } {
    const dir = join(root, name);
    mkdirSync(dir);
    const pidFile = join(dir, "child.pid");
    const git = join(dir, "git");
    writeFileSync(git, `#!/bin/sh\nsleep 60 &\necho $! > '${pidFile}'\nwait\n`, { mode: 0o755 });
    return { git, pidFile };
  }

  async function childPid(pidFile: string): Promise<number> {
    for (let i = 0; i < 100 && !existsSync(pidFile); i++) await new Promise((r) => setTimeout(r, 50));
    return Number(readFileSync(pidFile, "utf8").trim());
  }

  function running(pid: number): boolean {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
      return stat.slice(stat.lastIndexOf(")") + 2)[0] !== "Z";
    } catch {
      return false;
    }
  }

  it("a timeout kills git's whole process group, not only git", async () => {
    const { git, pidFile } = stallingGit("fake-group");
    const e = await caught(lsRemote(https, "main", { env, git, timeoutMs: 500 }));
    expect(e.message).toMatch(/timed out/);
    const pid = await childPid(pidFile);
    for (let i = 0; i < 20 && running(pid); i++) await new Promise((r) => setTimeout(r, 50));
    expect(running(pid)).toBe(false);
  });

  it("aborting the caller's signal kills git's group and fails with E_GIT", async () => {
    const { git, pidFile } = stallingGit("fake-abort");
    const ac = new AbortController();
    const p = caught(
      lsRemote(https, "main", {
        env,
        git,
        signal: ac.signal,
        credential: { username: "alice", password: PASSWORD },
        tmpDir: root,
      }),
    );
    const pid = await childPid(pidFile);
    ac.abort();
    const e = await p;
    expect(e.code).toBe("E_GIT");
    expect(e.message).toBe(
      "git ls-remote https://git.example.com/org/private.git was stopped (the operation was aborted)",
    );
    for (let i = 0; i < 20 && running(pid); i++) await new Promise((r) => setTimeout(r, 50));
    expect(running(pid)).toBe(false);
  });

  it("SIGINT to a process running git reaches git's group, and the process still dies of SIGINT", async () => {
    const { git, pidFile } = stallingGit("fake-sigint");
    const bundle = join(root, "ops-bundle.js");
    buildSync({
      entryPoints: [join(__dirname, "ops.ts")],
      bundle: true,
      platform: "node",
      format: "cjs",
      outfile: bundle,
      logLevel: "silent",
    });
    const script = `require(${JSON.stringify(bundle)}).lsRemote(${JSON.stringify(https)}, "main", { git: ${JSON.stringify(git)} }).catch(() => {});`;
    const child = spawn(process.execPath, ["-e", script], { stdio: "ignore", env });
    const pid = await childPid(pidFile);
    const exit = new Promise<NodeJS.Signals | null>((res) => child.on("exit", (_code, signal) => res(signal)));
    child.kill("SIGINT");
    expect(await exit).toBe("SIGINT");
    for (let i = 0; i < 100 && running(pid); i++) await new Promise((r) => setTimeout(r, 50));
    expect(running(pid)).toBe(false);
  });

  it("leaves no private dir behind", () => {
    expect(readdirSync(root).filter((n) => n.includes("git-auth"))).toEqual([]);
  });
});

describe("lowSpeedEnv: a git server is held to the minimum transfer rate (issue #72)", () => {
  it("gives git the rate and window of $PIPELINE_MIN_TRANSFER_RATE (default 1 KiB/s over 30 s), unless git's own limit is set", () => {
    expect(lowSpeedEnv({ HOME: "/h" })).toEqual({
      HOME: "/h",
      GIT_HTTP_LOW_SPEED_LIMIT: "1024",
      GIT_HTTP_LOW_SPEED_TIME: "30",
    });
    expect(lowSpeedEnv({ PIPELINE_MIN_TRANSFER_RATE: "64KiB/s", PIPELINE_TRANSFER_RATE_WINDOW: "10s" })).toMatchObject({
      GIT_HTTP_LOW_SPEED_LIMIT: "65536",
      GIT_HTTP_LOW_SPEED_TIME: "10",
    });
    expect(lowSpeedEnv({ PIPELINE_MIN_TRANSFER_RATE: "0" })).toEqual({ PIPELINE_MIN_TRANSFER_RATE: "0" });
    expect(lowSpeedEnv({ GIT_HTTP_LOW_SPEED_LIMIT: "1" })).toEqual({ GIT_HTTP_LOW_SPEED_LIMIT: "1" });
  });
});
