import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import type { ServerResponse } from "node:http";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PipelineError } from "../../errors";
import { chainKeychains } from "../../registry-auth/keychain";
import { dockerConfigKeychain } from "../../registry-auth/docker-config";
import { pipelineCredentialsKeychain } from "../../registry-auth/credentials-file";
import { errorText, filesLeaking, leaksIn } from "../../credentials/testing";
import { tempRegistry, type TempRegistry } from "../../devregistry/testing";
import type { CliIo } from "../io";
import { credentialsAdd, credentialsList, credentialsRemove, credentialsTest, type WithGitAuth } from "./credentials";
import { pipelineErrorOf } from "../../../test/fixtures/errors";

const USER = "robot";
const PASSWORD = "cli-Pa55w0rd-Xy9";
const WRONG = "cli-Wr0ng-Pa55-Qq1";
const GIT_TOKEN = "ghp_cliGitToken0123456789";
const SECRETS = [PASSWORD, WRONG, GIT_TOKEN];
const USERS = [USER, "x-access-token"];
const FAST_RETRY = { retries: 0, baseDelayMs: 1, timeoutMs: 5000 };

let tmp: string;
let home: string;
const secretFiles: string[] = [];
const allOutput: string[] = [];

interface TestIo extends CliIo {
  out: string[];
  err: string[];
}

function makeIo(extraEnv: Record<string, string> = {}, configName = "credentials.json"): TestIo {
  const out: string[] = [];
  const err: string[] = [];
  return {
    out,
    err,
    stdout: (l) => {
      out.push(l);
      allOutput.push(l);
    },
    stderr: (l) => {
      err.push(l);
      allOutput.push(l);
    },
    env: {
      PATH: process.env.PATH,
      HOME: home,
      GIT_CONFIG_NOSYSTEM: "1",
      PIPELINE_CREDENTIALS_FILE: join(tmp, "config", configName),
      ...extraEnv,
    },
    cwd: tmp,
    isTTY: false,
    readStdin: async () => "",
  };
}

function secretFile(name: string, content: string, mode = 0o600): string {
  const path = join(tmp, "secrets", name);
  mkdirSync(join(tmp, "secrets"), { recursive: true });
  writeFileSync(path, content, { mode });
  secretFiles.push(path);
  return path;
}

async function failure(p: Promise<unknown>, code: string): Promise<PipelineError> {
  const e = await pipelineErrorOf(p);
  expect(leaksIn(errorText(e), SECRETS, USERS)).toEqual([]);
  expect(e.code).toBe(code);
  return e;
}

beforeAll(() => {
  tmp = mkdtempSync(join(tmpdir(), "credentials-cli-test-"));
  home = join(tmp, "home");
  mkdirSync(home);
});
afterAll(() => {
  // Leak audit: no output line and no file but the secret files holds a secret in any form.
  expect(leaksIn(allOutput.join("\n"), SECRETS, USERS)).toEqual([]);
  expect(filesLeaking(tmp, SECRETS, secretFiles, USERS)).toEqual([]);
  rmSync(tmp, { recursive: true, force: true });
});

describe("credentials add / list / remove", () => {
  it("round-trips entries through the file, which holds only references", async () => {
    const io = makeIo({}, "roundtrip.json");
    const path = io.env.PIPELINE_CREDENTIALS_FILE!;
    const file = secretFile("ghcr", `${USER}\n${PASSWORD}\n`);
    await credentialsAdd({ service: "docker", url: "ghcr.io/org/", file: "secrets/ghcr" }, io);
    await credentialsAdd(
      { service: "docker", url: "localhost:5000", "env-user": "REG_USER", "env-password": "REG_PASS" },
      io,
    );
    await credentialsAdd({ service: "git", url: "https://github.com/org/", "env-token": "GITHUB_TOKEN" }, io);
    await credentialsAdd(
      {
        service: "git",
        url: "git@github.com",
        "aws-secret": "ci/deploy-key",
        "aws-region": "eu-west-1",
        "aws-profile": "ci",
      },
      io,
    );
    expect(io.err).toEqual([
      `added docker ghcr.io/org/ (file ${file}) in ${path}`,
      "warning: environment variable REG_USER is not set here; it must be where the credential is used",
      "warning: environment variable REG_PASS is not set here; it must be where the credential is used",
      `added docker localhost:5000 (env $REG_USER/$REG_PASS) in ${path}`,
      "warning: environment variable GITHUB_TOKEN is not set here; it must be where the credential is used",
      `added git https://github.com/org/ (env $GITHUB_TOKEN) in ${path}`,
      `added git git@github.com (AWS secret ci/deploy-key (region eu-west-1, profile ci)) in ${path}`,
    ]);
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(JSON.parse(readFileSync(path, "utf8"))).toEqual({
      version: 1,
      credentials: [
        { service: "docker", url: "ghcr.io/org/", source: { type: "file", path: file } },
        {
          service: "docker",
          url: "localhost:5000",
          source: { type: "env", username: "REG_USER", password: "REG_PASS" },
        },
        { service: "git", url: "https://github.com/org/", source: { type: "env", token: "GITHUB_TOKEN" } },
        {
          service: "git",
          url: "git@github.com",
          source: { type: "aws-secret", secretId: "ci/deploy-key", region: "eu-west-1", profile: "ci" },
        },
      ],
    });

    await credentialsList({}, io);
    expect(io.out).toEqual([
      "SERVICE  URL                      SOURCE",
      `docker   ghcr.io/org/             file ${file}`,
      "docker   localhost:5000           env $REG_USER/$REG_PASS",
      "git      https://github.com/org/  env $GITHUB_TOKEN",
      "git      git@github.com           AWS secret ci/deploy-key (region eu-west-1, profile ci)",
    ]);

    io.err.length = 0;
    await credentialsAdd(
      { service: "docker", url: "GHCR.io/org", "env-user": "U", "env-password": "P" },
      makeIo({ U: "x", P: "y" }, "roundtrip.json"),
    );
    await credentialsRemove({ service: "docker", url: "localhost:5000/" }, io);
    await credentialsRemove({ service: "git", url: "ssh://git@github.com" }, io);
    expect(io.err).toEqual([
      `removed docker localhost:5000 (env $REG_USER/$REG_PASS) from ${path}`,
      `removed git git@github.com (AWS secret ci/deploy-key (region eu-west-1, profile ci)) from ${path}`,
    ]);
    io.out.length = 0;
    await credentialsList({ json: true }, io);
    expect(JSON.parse(io.out.join("\n")).credentials).toEqual([
      { service: "docker", url: "GHCR.io/org", source: { type: "env", username: "U", password: "P" } },
      { service: "git", url: "https://github.com/org/", source: { type: "env", token: "GITHUB_TOKEN" } },
    ]);
  });

  it("warns about a credential file others can read, and one that does not exist yet", async () => {
    const io = makeIo({}, "warn.json");
    const loose = secretFile("loose", `${USER}\n${PASSWORD}\n`, 0o644);
    await credentialsAdd({ service: "docker", url: "ghcr.io", file: loose }, io);
    expect(io.err[0]).toBe(
      `warning: credential file ${loose} is accessible to group or others (mode 0644); run: chmod 600 ${loose}`,
    );
    await credentialsAdd({ service: "docker", url: "quay.io", file: "~/later" }, io);
    expect(io.err[2]).toBe(`warning: credential file ${join(home, "later")} does not exist yet`);
  });

  it("lists nothing for a missing file", async () => {
    const io = makeIo({}, "missing.json");
    await credentialsList({}, io);
    expect(io.out).toEqual([]);
    expect(io.err).toEqual([`no credentials in ${io.env.PIPELINE_CREDENTIALS_FILE} (the file does not exist)`]);
  });

  it("rejects bad arguments with usage errors naming the value", async () => {
    const io = makeIo({}, "bad-args.json");
    const cases: [Parameters<typeof credentialsAdd>[0], RegExp][] = [
      // @ts-expect-error the type (from the command's choices) refuses "svn" too; an untyped caller gets the usage error
      [{ service: "svn", url: "x", file: "/f" }, /service: expected "docker" or "git", got "svn"/],
      [{ service: "docker", url: "ghcr.io/Org", file: "/f" }, /url: expected a registry host .* got "ghcr.io\/Org"/],
      [{ service: "docker", url: "ghcr.io" }, /give exactly one source/],
      [{ service: "docker", url: "ghcr.io", file: "/f", "env-token": "T" }, /got --file and --env-token/],
      [{ service: "docker", url: "ghcr.io", "env-user": "U" }, /--env-user and --env-password go together/],
      [
        { service: "docker", url: "ghcr.io", file: "/f", "aws-region": "eu-west-1" },
        /--aws-region and --aws-profile go with --aws-secret/,
      ],
      [
        { service: "docker", url: "ghcr.io", "env-token": "T" },
        /--env-token is for git; docker registries need a user name/,
      ],
      [
        { service: "git", url: "git@github.com", "aws-secret": "x", "aws-region": "Europe" },
        /^credential.source.region: expected an AWS region like "eu-west-1", got "Europe"$/,
      ],
      [{ service: "git", url: "https://me:tok@github.com/", "env-token": "T" }, /must not hold a password/],
    ];
    for (const [args, re] of cases) {
      let err: unknown;
      try {
        await credentialsAdd(args, io);
      } catch (e) {
        err = e;
      }
      expect(err, JSON.stringify(args)).toBeInstanceOf(PipelineError);
      expect((err as Error).message).toMatch(re);
    }
    expect(() => statSync(io.env.PIPELINE_CREDENTIALS_FILE!)).toThrow();
  });

  it("fails to remove an entry that is not there, listing what is", async () => {
    const io = makeIo({}, "remove.json");
    await credentialsAdd({ service: "docker", url: "ghcr.io/org/", file: "/x" }, io);
    const err = await failure(
      credentialsRemove({ service: "docker", url: "ghcr.io/org/app" }, io),
      "E_CREDENTIAL_NOT_FOUND",
    );
    expect(err.message).toBe(
      `no docker credential for "ghcr.io/org/app" in ${io.env.PIPELINE_CREDENTIALS_FILE} (docker entries: "ghcr.io/org/")`,
    );
  });
});

describe("credentials test docker (dev registry with Basic auth)", () => {
  let reg: TempRegistry;
  beforeAll(async () => {
    reg = await tempRegistry({ auth: { user: USER, password: PASSWORD } });
  });
  afterAll(async () => {
    await reg?.cleanup();
  });

  it("reports the source and acceptance with the right password", async () => {
    const io = makeIo({}, "test-ok.json");
    const file = secretFile("reg-ok", `${USER}\n${PASSWORD}\n`);
    await credentialsAdd({ service: "docker", url: reg.address, file }, io);
    await credentialsTest({ service: "docker", url: `${reg.address}/team/app` }, io, { retry: FAST_RETRY });
    const source = `rules_pipeline credential "docker ${reg.address}" from file ${file}`;
    expect(io.out).toEqual([
      `credential for ${reg.address}/team/app: ${source}`,
      "GET /v2/: authenticated",
      "tags of team/app: accepted (the repository does not exist yet: NAME_UNKNOWN)",
      `ok: registry ${reg.address} accepted ${source}`,
    ]);
  });

  it("throws E_CREDENTIAL_REJECTED with a wrong password", async () => {
    const io = makeIo({ REG_USER: USER, REG_PASS: WRONG }, "test-wrong.json");
    await credentialsAdd(
      { service: "docker", url: `${reg.address}/team`, "env-user": "REG_USER", "env-password": "REG_PASS" },
      io,
    );
    const err = await failure(
      credentialsTest({ service: "docker", url: `${reg.address}/team/app` }, io, { retry: FAST_RETRY }),
      "E_CREDENTIAL_REJECTED",
    );
    const source = `rules_pipeline credential "docker ${reg.address}/team" from env $REG_USER/$REG_PASS`;
    expect(err.message).toBe(
      `registry ${reg.address} rejected ${source} for ${reg.address}/team/app (401 Unauthorized)`,
    );
    expect(io.out).toEqual([
      `credential for ${reg.address}/team/app: ${source}`,
      `rejected: registry ${reg.address} refused ${source} (401 Unauthorized)`,
    ]);
  });

  it("resolves through the chain it is given", async () => {
    const dockerDir = mkdtempSync(join(tmp, "docker-"));
    writeFileSync(
      join(dockerDir, "config.json"),
      JSON.stringify({ auths: { [reg.address]: { auth: Buffer.from(`${USER}:${PASSWORD}`).toString("base64") } } }),
    );
    secretFiles.push(join(dockerDir, "config.json"));
    const io = makeIo({}, "chain.json"); // no rules_pipeline entry: docker config answers
    const keychain = chainKeychains(
      pipelineCredentialsKeychain({ env: io.env, home }),
      dockerConfigKeychain({ env: { DOCKER_CONFIG: dockerDir } }),
    );
    await credentialsTest({ service: "docker", url: reg.address }, io, { keychain, retry: FAST_RETRY });
    const source = `docker config ${join(dockerDir, "config.json")} auths[${JSON.stringify(reg.address)}]`;
    expect(io.out).toEqual([
      `credential for ${reg.address}: ${source}`,
      "GET /v2/: authenticated",
      `ok: registry ${reg.address} accepted ${source}`,
    ]);
  });

  it("says when no source has a credential", async () => {
    const io = makeIo({}, "none.json");
    const err = await failure(
      credentialsTest({ service: "docker", url: `${reg.address}/x` }, io),
      "E_CREDENTIAL_NOT_FOUND",
    );
    expect(err.message).toBe(
      `no docker credential for ${reg.address}/x; looked in rules_pipeline credentials ${io.env.PIPELINE_CREDENTIALS_FILE}`,
    );
  });

  it("says when a registry never asked for the credential", async () => {
    const open = await tempRegistry();
    try {
      const io = makeIo({ U: USER, P: PASSWORD }, "anon.json");
      await credentialsAdd({ service: "docker", url: open.address, "env-user": "U", "env-password": "P" }, io);
      await credentialsTest({ service: "docker", url: `${open.address}/team/app` }, io);
      expect(io.out.slice(1)).toEqual([
        "GET /v2/: answered without asking for credentials",
        "tags of team/app: accepted (the repository does not exist yet: NAME_UNKNOWN)",
        `ok: ${open.address}/team/app allows anonymous access; it never asked for rules_pipeline credential "docker ${open.address}" from env $U/$P, which was not checked`,
      ]);
    } finally {
      await open.cleanup();
    }
  });
});

/** A git smart-HTTP server that advertises one ref to clients sending the right Basic credentials. */
async function fakeGitServer(
  user: string,
  password: string,
): Promise<{ url: string; stop(): Promise<void>; auths: string[] }> {
  const sha = "0123456789abcdef0123456789abcdef01234567";
  const pkt = (s: string) => (s.length + 4).toString(16).padStart(4, "0") + s;
  const auths: string[] = [];
  const server = createServer((req, res: ServerResponse) => {
    auths.push(req.headers.authorization ?? "");
    if (!req.url?.startsWith("/org/repo.git/info/refs?service=git-upload-pack")) {
      res.writeHead(404).end();
      return;
    }
    if (req.headers.authorization !== "Basic " + Buffer.from(`${user}:${password}`).toString("base64")) {
      res.writeHead(401, { "WWW-Authenticate": 'Basic realm="git"' }).end();
      return;
    }
    res.writeHead(200, { "Content-Type": "application/x-git-upload-pack-advertisement", "Cache-Control": "no-cache" });
    res.end(
      pkt("# service=git-upload-pack\n") +
        "0000" +
        pkt(`${sha} HEAD\0multi_ack side-band-64k ofs-delta symref=HEAD:refs/heads/main agent=git/fake\n`) +
        pkt(`${sha} refs/heads/main\n`) +
        "0000",
    );
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}/org/repo.git`,
    auths,
    stop: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

describe("credentials test git (git ls-remote against a smart-HTTP server)", () => {
  let git: Awaited<ReturnType<typeof fakeGitServer>>;
  beforeAll(async () => {
    git = await fakeGitServer("x-access-token", GIT_TOKEN);
  });
  afterAll(async () => {
    await git?.stop();
  });

  it("accepts the right token through src/git/auth.ts", async () => {
    const io = makeIo({ GIT_TOKEN }, "git-ok.json");
    await credentialsAdd(
      { service: "git", url: git.url.replace(/\/org\/repo\.git$/, "/org/"), "env-token": "GIT_TOKEN" },
      io,
    );
    await credentialsTest({ service: "git", url: git.url }, io);
    const source = `rules_pipeline credential "git ${git.url.replace(/\/org\/repo\.git$/, "/org/")}" from env $GIT_TOKEN`;
    expect(io.out).toEqual([
      `credential for ${git.url}: ${source}`,
      "git ls-remote: 2 ref(s)",
      `ok: ${git.url} accepted ${source}`,
    ]);
  });

  it("reports a wrong token as rejected, with git's message cleaned", async () => {
    const io = makeIo({ GIT_TOKEN: WRONG }, "git-wrong.json");
    await credentialsAdd({ service: "git", url: git.url, "env-token": "GIT_TOKEN" }, io);
    const err = await failure(credentialsTest({ service: "git", url: git.url }, io), "E_CREDENTIAL_REJECTED");
    expect(err.message).toMatch(
      /^git server rejected rules_pipeline credential "git http:\/\/127\.0\.0\.1:\d+\/org\/repo\.git" from env \$GIT_TOKEN for .*: .*Authentication failed/,
    );
  });

  it("uses the withGitAuth it is given and the environment it prepares", async () => {
    const io = makeIo({}, "git-di.json");
    const calls: { url: string; cred: unknown }[] = [];
    const basic = Buffer.from(`x-access-token:${GIT_TOKEN}`).toString("base64");
    const stub: WithGitAuth = async (url, cred, fn, opts) => {
      calls.push({ url, cred });
      return fn({
        ...opts?.baseEnv,
        GIT_TERMINAL_PROMPT: "0",
        GIT_CONFIG_COUNT: "1",
        GIT_CONFIG_KEY_0: "http.extraHeader",
        GIT_CONFIG_VALUE_0: `Authorization: Basic ${basic}`,
      });
    };
    const found = { secret: { token: GIT_TOKEN }, description: "a test credential" };
    await credentialsTest({ service: "git", url: git.url }, io, {
      withGitAuth: stub,
      gitCredential: async () => found,
    });
    expect(calls).toEqual([{ url: git.url, cred: { token: GIT_TOKEN } }]);
    expect(io.out).toEqual([
      `credential for ${git.url}: a test credential`,
      "git ls-remote: 2 ref(s)",
      `ok: ${git.url} accepted a test credential`,
    ]);
  });

  it("says when there is no git credential", async () => {
    const io = makeIo({}, "git-none.json");
    const err = await failure(
      credentialsTest({ service: "git", url: "https://git.example.com/x.git" }, io),
      "E_CREDENTIAL_NOT_FOUND",
    );
    expect(err.message).toBe(
      `no git credential for https://git.example.com/x.git; looked in rules_pipeline credentials ${io.env.PIPELINE_CREDENTIALS_FILE}`,
    );
  });
});
