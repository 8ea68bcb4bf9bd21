import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { execFileSync, spawn } from "node:child_process";
import {
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { basename, join, resolve } from "node:path";
import { buildSync } from "esbuild";
import { PipelineError } from "../errors";
import { type GitCredential, TOKEN_USERNAME, withGitAuth } from "./auth";
import { secretsOf } from "./redact";

const PASSWORD = "s3cret-Pa55word-unit";
const TOKEN = "ghs_unitTokenValue0123456789";
const KEY =
  "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW\nQyNTUxOQAAACBunitTestKeyMaterialNotARealKeyAtAll0000000000000000000000\n-----END OPENSSH PRIVATE KEY-----";

let root: string;
let tmp: string; // withGitAuth's tmpDir: must be empty after every call
let home: string;
beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), "git-auth-unit-"));
});
afterAll(() => rmSync(root, { recursive: true, force: true }));
beforeEach(() => {
  tmp = mkdtempSync(join(root, "tmp-"));
  home = mkdtempSync(join(root, "home-"));
});

/** A minimal environment with an isolated HOME and no system git config. */
function baseEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  return {
    PATH: process.env.PATH,
    HOME: home,
    XDG_CONFIG_HOME: join(home, ".config"),
    GIT_CONFIG_NOSYSTEM: "1",
    ...extra,
  };
}

function mode(path: string): number {
  return statSync(path).mode & 0o777;
}

function expectNoSecretIn(env: NodeJS.ProcessEnv, cred: GitCredential): void {
  const values = Object.entries(env)
    .map(([k, v]) => `${k}=${v}`)
    .join("\n");
  for (const s of secretsOf(cred)) expect(values).not.toContain(s);
}

/** `git credential fill` runs the configured helpers exactly as a fetch would. */
function credentialFill(
  env: NodeJS.ProcessEnv,
  protocol: string,
  host: string,
): { stdout: string; status: number | null; stderr: string } {
  try {
    const stdout = execFileSync("git", ["credential", "fill"], {
      env,
      input: `protocol=${protocol}\nhost=${host}\npath=org/repo.git\n\n`,
      encoding: "utf8",
      stdio: ["pipe", "pipe", "pipe"],
    });
    return { stdout, status: 0, stderr: "" };
  } catch (e) {
    const err = e as { status: number | null; stdout: string; stderr: string };
    return { stdout: err.stdout, status: err.status, stderr: err.stderr };
  }
}

describe("withGitAuth over HTTP(S)", () => {
  const cred = { username: "alice", password: PASSWORD };

  it("configures a one-shot helper in a private dir; no secret in the environment", async () => {
    const base = baseEnv();
    const before = { ...base };
    let seenDir = "";
    await withGitAuth(
      "https://git.example.com/org/repo.git",
      cred,
      async (env) => {
        expectNoSecretIn(env, cred);
        expect(env.GIT_TERMINAL_PROMPT).toBe("0");
        expect(env.GIT_ASKPASS).toBe("");
        expect(env.GIT_CONFIG_COUNT).toBe("3");
        expect([env.GIT_CONFIG_KEY_0, env.GIT_CONFIG_VALUE_0]).toEqual(["credential.helper", ""]);
        expect(env.GIT_CONFIG_KEY_1).toBe("credential.helper");
        expect([env.GIT_CONFIG_KEY_2, env.GIT_CONFIG_VALUE_2]).toEqual(["credential.useHttpPath", "true"]);
        const helper = /^!'(.+)'$/.exec(env.GIT_CONFIG_VALUE_1!)![1];
        seenDir = resolve(helper, "..");
        expect(resolve(seenDir, "..")).toBe(tmp);
        expect(basename(seenDir)).toMatch(new RegExp(`^\\.git-auth\\.tmp-${process.pid}-\\d+-[0-9a-f]{8}$`)); // found by the next start's sweep
        expect(env.PIPELINE_GIT_AUTH_DIR).toBe(seenDir); // marks git and its children for that sweep
        expect(mode(seenDir)).toBe(0o700);
        expect(mode(helper)).toBe(0o700);
        expect(readFileSync(helper, "utf8")).not.toContain(PASSWORD);
        const files = readdirSync(seenDir);
        expect(files.sort()).toEqual(["credential", "credential-helper"]);
        expect(mode(join(seenDir, "credential"))).toBe(0o600);
        expect(lstatSync(join(seenDir, "credential")).isFIFO()).toBe(true); // served from memory (credential-fifo.ts)
        // Through git itself:
        const fill = credentialFill(env, "https", "git.example.com");
        expect(fill.stdout).toContain("username=alice\n");
        expect(fill.stdout).toContain(`password=${PASSWORD}\n`);
      },
      { baseEnv: base, tmpDir: tmp },
    );
    expect(existsSync(seenDir)).toBe(false);
    expect(readdirSync(tmp)).toEqual([]);
    expect(base).toEqual(before);
    expect(Object.values(process.env).join("\n")).not.toContain(PASSWORD);
  });

  it("answers only `get`, and only for the URL's protocol and host (port included)", async () => {
    await withGitAuth(
      "http://127.0.0.1:8080/repo.git",
      cred,
      async (env) => {
        const helper = /^!'(.+)'$/.exec(env.GIT_CONFIG_VALUE_1!)![1];
        const run = (op: string, input: string) => execFileSync(helper, [op], { input, encoding: "utf8" });
        expect(run("get", "protocol=http\nhost=127.0.0.1:8080\n")).toBe(`username=alice\npassword=${PASSWORD}\n`);
        expect(run("get", "protocol=http\nhost=127.0.0.1:9090\n")).toBe("");
        expect(run("get", "protocol=https\nhost=127.0.0.1:8080\n")).toBe("");
        expect(run("get", "protocol=http\nhost=evil.example\n")).toBe("");
        expect(run("store", `protocol=http\nhost=127.0.0.1:8080\nusername=alice\npassword=${PASSWORD}\n`)).toBe("");
        expect(run("erase", "protocol=http\nhost=127.0.0.1:8080\n")).toBe("");
        // git: another host gets nothing, and with prompts off git fails instead of asking.
        const other = credentialFill(env, "http", "evil.example");
        expect(other.stdout).not.toContain(PASSWORD);
        expect(other.status).not.toBe(0);
        expect(other.stderr).toMatch(/terminal prompts disabled/);
      },
      { baseEnv: baseEnv(), tmpDir: tmp },
    );
  });

  it("a credential whose answer would not fit one pipe record is E_GIT_CREDENTIAL, before anything is written", async () => {
    const long = { username: "alice", password: "p".repeat(4096) };
    const e = await withGitAuth("https://git.example.com/r.git", long, async () => "ran", {
      baseEnv: baseEnv(),
      tmpDir: tmp,
    }).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(PipelineError);
    expect((e as PipelineError).code).toBe("E_GIT_CREDENTIAL");
    expect((e as PipelineError).message).toContain(
      "https://git.example.com/r.git: the user name and password are too long",
    );
    expect((e as PipelineError).message).not.toContain("pppp");
    expect(readdirSync(tmp)).toEqual([]);
    const fits = { username: "alice", password: "p".repeat(4096 - "username=alice\npassword=\n".length - 1) };
    const answered = async (c: GitCredential) =>
      withGitAuth(
        "https://git.example.com/r.git",
        c,
        async (env) => credentialFill(env, "https", "git.example.com").stdout,
        {
          baseEnv: baseEnv(),
          tmpDir: tmp,
        },
      );
    expect(await answered(fits)).toContain(`password=${fits.password}\n`);
    expect(fits.username.length + fits.password.length).toBe(4075); // docs/deployments.md
    const token = await withGitAuth("https://git.example.com/r.git", { token: "t".repeat(4062) }, async () => "ran", {
      baseEnv: baseEnv(),
      tmpDir: tmp,
    }).catch((x: unknown) => x);
    expect((token as PipelineError).message).toContain("the token is too long");
    const fitsToken = { token: "t".repeat(4061) };
    expect(await answered(fitsToken)).toContain(`password=${fitsToken.token}\n`);
    expect(readdirSync(tmp)).toEqual([]);
  });

  it("a {token} is sent as user x-access-token", async () => {
    expect(TOKEN_USERNAME).toBe("x-access-token");
    const token = { token: TOKEN };
    await withGitAuth(
      "https://github.com/org/private.git",
      token,
      async (env) => {
        expectNoSecretIn(env, token);
        const fill = credentialFill(env, "https", "github.com");
        expect(fill.stdout).toContain("username=x-access-token\n");
        expect(fill.stdout).toContain(`password=${TOKEN}\n`);
      },
      { baseEnv: baseEnv(), tmpDir: tmp },
    );
    expect(readdirSync(tmp)).toEqual([]);
  });

  it("the user's own credential helpers are neither asked nor told to store", async () => {
    const log = join(home, "user-helper.log");
    const userHelper = join(home, "user-helper.sh");
    writeFileSync(
      userHelper,
      `#!/bin/sh\necho "$1" >> '${log}'\ncat >> '${log}'\necho username=wrong\necho password=wrong\n`,
      { mode: 0o755 },
    );
    writeFileSync(
      join(home, ".gitconfig"),
      `[credential]\n\thelper = ${userHelper}\n[credential "https://git.example.com"]\n\thelper = ${userHelper}\n`,
    );
    const base = baseEnv();
    expect(credentialFill(base, "https", "git.example.com").stdout).toContain("password=wrong"); // the helper works
    rmSync(log);
    await withGitAuth(
      "https://git.example.com/org/repo.git",
      cred,
      async (env) => {
        const fill = credentialFill(env, "https", "git.example.com");
        expect(fill.stdout).toContain(`password=${PASSWORD}`);
        execFileSync("git", ["credential", "approve"], {
          env,
          input: `protocol=https\nhost=git.example.com\nusername=alice\npassword=${PASSWORD}\n\n`,
        });
      },
      { baseEnv: base, tmpDir: tmp },
    );
    expect(existsSync(log)).toBe(false);
  });

  it("keeps GIT_CONFIG_COUNT entries the caller has and puts its own after `git -c` parameters", async () => {
    const base = baseEnv({
      GIT_CONFIG_COUNT: "1",
      GIT_CONFIG_KEY_0: "http.extraHeader",
      GIT_CONFIG_VALUE_0: "X-Test: 1",
      GIT_CONFIG_PARAMETERS: "'credential.helper'='!echo password=from-parameters'",
    });
    await withGitAuth(
      "https://git.example.com/org/repo.git",
      cred,
      async (env) => {
        expect(env.GIT_CONFIG_COUNT).toBe("4");
        expect(env.GIT_CONFIG_KEY_0).toBe("http.extraHeader");
        expect(env.GIT_CONFIG_KEY_1).toBe("credential.helper");
        expect(env.GIT_CONFIG_VALUE_1).toBe("");
        const helpers = execFileSync("git", ["config", "--get-all", "credential.helper"], { env, encoding: "utf8" })
          .trim()
          .split("\n");
        expect(helpers.at(-1)).toMatch(/^!'.*credential-helper'$/);
        const fill = credentialFill(env, "https", "git.example.com");
        expect(fill.stdout).toContain(`password=${PASSWORD}`);
        expect(fill.stdout).not.toContain("from-parameters");
      },
      { baseEnv: base, tmpDir: tmp },
    );
  });

  it("removes the private dir when fn throws", async () => {
    let dir = "";
    const boom = new Error("boom");
    await expect(
      withGitAuth(
        "https://git.example.com/r.git",
        cred,
        async (env) => {
          dir = resolve(/^!'(.+)'$/.exec(env.GIT_CONFIG_VALUE_1!)![1], "..");
          expect(existsSync(dir)).toBe(true);
          throw boom;
        },
        { baseEnv: baseEnv(), tmpDir: tmp },
      ),
    ).rejects.toBe(boom);
    expect(dir).not.toBe("");
    expect(existsSync(dir)).toBe(false);
    expect(readdirSync(tmp)).toEqual([]);
  });

  it("removes a dead runner's dir from tmpDir before writing its own", async () => {
    // A pid above Linux's pid_max: its owner is gone. The name of today and an earlier version's.
    const stale = [join(tmp, ".git-auth.tmp-4194305-1-0badc0de"), join(tmp, "git-auth-4194305-1-0badc0de")];
    for (const dir of stale) {
      mkdirSync(dir);
      writeFileSync(join(dir, "credential"), "password=left-behind\n");
    }
    await withGitAuth("https://git.example.com/r.git", cred, async () => expect(stale.filter(existsSync)).toEqual([]), {
      baseEnv: baseEnv(),
      tmpDir: tmp,
    });
    expect(readdirSync(tmp)).toEqual([]);
  });

  it("without a credential: the caller's environment plus GIT_TERMINAL_PROMPT=0, nothing written", async () => {
    const base = baseEnv({ GIT_ASKPASS: "/usr/bin/some-askpass" });
    const env = await withGitAuth("https://git.example.com/r.git", undefined, async (e) => e, {
      baseEnv: base,
      tmpDir: tmp,
    });
    expect(env).toEqual({ ...base, GIT_TERMINAL_PROMPT: "0" });
    expect(readdirSync(tmp)).toEqual([]);
  });

  it("rejects bad input before writing anything", async () => {
    const fn = async () => "ran";
    const opts = { baseEnv: baseEnv(), tmpDir: tmp };
    const cases: [string, GitCredential | undefined, string][] = [
      ["https://alice:pw@git.example.com/r.git", cred, "E_GIT_URL"],
      ["https://TOKEN123@git.example.com/r.git", undefined, "E_GIT_URL"],
      ["--upload-pack=touch /tmp/x", undefined, "E_GIT_URL"],
      ["https://git.example.com/r.git", { privateKey: KEY }, "E_GIT_CREDENTIAL"],
      ["git@github.com:org/r.git", cred, "E_GIT_CREDENTIAL"],
      ["/srv/git/r.git", cred, "E_GIT_CREDENTIAL"],
      ["https://git.example.com/r.git", { username: "a", password: "x\nprotocol=https" }, "E_GIT_CREDENTIAL"],
      ["https://git.example.com/r.git", { token: "" }, "E_GIT_CREDENTIAL"],
    ];
    for (const [url, c, code] of cases) {
      const err = await withGitAuth(url, c, fn, opts).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err, url).toBeInstanceOf(PipelineError);
      expect((err as PipelineError).code, url).toBe(code);
      expect((err as PipelineError).message).not.toContain("pw@");
      expect((err as PipelineError).message).not.toContain("TOKEN123");
      expect((err as PipelineError).message).not.toContain("x\nprotocol");
    }
    expect(readdirSync(tmp)).toEqual([]);
  });
});

describe("withGitAuth over SSH", () => {
  const cred = { privateKey: KEY };

  for (const url of [
    "git@github.com:org/repo.git",
    "ssh://git@git.example.com:2222/org/repo.git",
    "git+ssh://git.example.com/org/repo.git",
  ]) {
    it(`writes the key to a 0600 file and sets GIT_SSH_COMMAND (${url})`, async () => {
      let keyPath = "";
      await withGitAuth(
        url,
        cred,
        async (env) => {
          expectNoSecretIn(env, cred);
          const m =
            /^ssh -i '([^']+)' -o IdentitiesOnly=yes -o BatchMode=yes -o StrictHostKeyChecking=accept-new$/.exec(
              env.GIT_SSH_COMMAND ?? "",
            );
          expect(m, env.GIT_SSH_COMMAND).not.toBeNull();
          keyPath = m![1];
          expect(resolve(keyPath, "../..")).toBe(tmp);
          expect(mode(resolve(keyPath, ".."))).toBe(0o700);
          expect(mode(keyPath)).toBe(0o600);
          expect(readFileSync(keyPath, "utf8")).toBe(KEY + "\n");
          expect(env.GIT_SSH_VARIANT).toBe("ssh");
          expect(env.GIT_SSH).toBeUndefined();
          expect(env.GIT_TERMINAL_PROMPT).toBe("0");
          expect(env.GIT_CONFIG_COUNT).toBeUndefined();
        },
        { baseEnv: baseEnv({ GIT_SSH: "/usr/bin/plink" }), tmpDir: tmp },
      );
      expect(existsSync(keyPath)).toBe(false);
      expect(readdirSync(tmp)).toEqual([]);
    });
  }

  it("honours strictHostKeyChecking and knownHostsFile", async () => {
    await withGitAuth(
      "ssh://git.example.com/r.git",
      cred,
      async (env) => {
        expect(env.GIT_SSH_COMMAND).toMatch(
          / -o StrictHostKeyChecking=yes -o 'UserKnownHostsFile=\/etc\/pipeline\/known_hosts'$/,
        );
      },
      { baseEnv: baseEnv(), tmpDir: tmp, strictHostKeyChecking: "yes", knownHostsFile: "/etc/pipeline/known_hosts" },
    );
  });

  it("ssh reads the command git would run (argv holds a path, never the key)", async () => {
    await withGitAuth(
      "git@github.com:org/repo.git",
      cred,
      async (env) => {
        // `ssh -G` prints the effective configuration without connecting.
        const out = execFileSync("sh", ["-c", `${env.GIT_SSH_COMMAND} -G github.com`], {
          env,
          encoding: "utf8",
          stdio: ["ignore", "pipe", "pipe"],
        });
        expect(out).toMatch(/^identitiesonly yes$/m);
        expect(out).toMatch(/^batchmode yes$/m);
        expect(out).toMatch(/^stricthostkeychecking accept-new$/m);
        expect(out).toContain(`identityfile ${join(tmp)}`);
      },
      { baseEnv: baseEnv(), tmpDir: tmp },
    );
  });
});

describe("cleanup when the process is interrupted", () => {
  it("SIGINT while fn runs removes the private dir and the process still dies of SIGINT", async () => {
    const dir = mkdtempSync(join(root, "sigint-"));
    const bundle = join(dir, "auth.js");
    buildSync({
      entryPoints: [join(__dirname, "auth.ts")],
      bundle: true,
      platform: "node",
      format: "cjs",
      outfile: bundle,
      logLevel: "silent",
    });
    const authTmp = join(dir, "tmp");
    mkdirSync(authTmp);
    const script = `
      const { withGitAuth } = require(${JSON.stringify(bundle)});
      withGitAuth("https://git.example.com/r.git", { username: "u", password: "p" }, async (env) => {
        process.stdout.write(env.GIT_CONFIG_VALUE_1 + "\\n");
        await new Promise(() => setInterval(() => {}, 1000));
      }, { tmpDir: ${JSON.stringify(authTmp)} });
    `;
    const child = spawn(process.execPath, ["-e", script], { stdio: ["ignore", "pipe", "inherit"] });
    const line = await new Promise<string>((res) => child.stdout.once("data", (d: Buffer) => res(d.toString())));
    expect(readdirSync(authTmp)).toHaveLength(1);
    expect(line).toContain(authTmp);
    const exit = new Promise<NodeJS.Signals | null>((res) => child.on("exit", (_code, signal) => res(signal)));
    child.kill("SIGINT");
    expect(await exit).toBe("SIGINT");
    expect(readdirSync(authTmp)).toEqual([]);
  });
});
