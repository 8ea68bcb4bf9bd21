import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { generateKeyPairSync } from "node:crypto";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { PipelineError } from "../errors";
import { chainKeychains } from "../registry-auth/keychain";
import { type CredentialEntry, saveCredentialsConfig } from "./config";
import { pipelineCredentialsKeychain } from "../registry-auth/credentials-file";
import { gitCredential } from "./lookup";
import { describeEntry, readSecret } from "./secret";
import { errorText, filesLeaking, leaksIn } from "./testing";
import { pipelineErrorOf } from "../../test/fixtures/errors";

const PASSWORD = "pa55:w0rd-Zq8#unit";
const TOKEN = "ghp_unitTestToken0123456789abcdef";
const USER = "robot";
const SECRETS = [PASSWORD, TOKEN];

let tmp: string;
let home: string;
let secretFiles: string[];
const warnings: string[] = [];

beforeAll(() => {
  tmp = mkdtempSync(join(tmpdir(), "credentials-secret-test-"));
  home = join(tmp, "home");
  mkdirSync(home);
  secretFiles = [];
});
afterAll(() => {
  // Leak audit: nothing but the secret files this test wrote holds a secret.
  expect(filesLeaking(tmp, SECRETS, secretFiles, [USER, "x-access-token"])).toEqual([]);
  expect(leaksIn(warnings.join("\n"), SECRETS, [USER])).toEqual([]);
  rmSync(tmp, { recursive: true, force: true });
});

function secretFile(name: string, content: string, mode = 0o600): string {
  const path = join(tmp, name);
  writeFileSync(path, content, { mode });
  secretFiles.push(path);
  return path;
}

const fileEntry = (service: "docker" | "git", url: string, path: string): CredentialEntry => ({
  service,
  url,
  source: { type: "file", path },
});
const opts = (env: Record<string, string | undefined> = {}) => ({
  env,
  home,
  onWarning: (m: string) => warnings.push(m),
});

async function failure(p: Promise<unknown>): Promise<PipelineError> {
  const e = await pipelineErrorOf(p);
  expect(leaksIn(errorText(e), SECRETS, [USER])).toEqual([]);
  return e;
}

describe("file sources", () => {
  it("reads user (line 1) and password (line 2), CRLF or not, and describes the source", async () => {
    const path = secretFile("ghcr", `${USER}\r\n${PASSWORD}\r\n`);
    const entry = fileEntry("docker", "ghcr.io/org/", path);
    expect(await readSecret(entry, opts())).toEqual({
      secret: { username: USER, password: PASSWORD },
      description: `rules_pipeline credential "docker ghcr.io/org/" from file ${path}`,
    });
  });

  it("expands ~/ against the home directory", async () => {
    secretFile("home/.creds-ghcr", `${USER}\n${PASSWORD}\n`);
    const entry = fileEntry("docker", "ghcr.io", "~/.creds-ghcr");
    expect((await readSecret(entry, opts())).secret).toEqual({ username: USER, password: PASSWORD });
    expect(describeEntry(entry)).toBe('rules_pipeline credential "docker ghcr.io" from file ~/.creds-ghcr');
  });

  it("reads a one-line token and an SSH private key for git", async () => {
    expect(
      (await readSecret(fileEntry("git", "https://github.com/", secretFile("tok", `${TOKEN}\n`)), opts())).secret,
    ).toEqual({ token: TOKEN });
    const { privateKey } = generateKeyPairSync("ed25519", {
      privateKeyEncoding: { type: "pkcs8", format: "pem" },
      publicKeyEncoding: { type: "spki", format: "pem" },
    });
    const keyPath = secretFile("id_ed25519", privateKey);
    const got = await readSecret(fileEntry("git", "git@github.com", keyPath), opts());
    expect(got.secret).toEqual({ privateKey });
    SECRETS.push(privateKey.split("\n")[1]);
  });

  it("refuses a private key, a token line or three lines for docker, without quoting the file", async () => {
    const key = secretFile(
      "key-for-docker",
      `-----BEGIN OPENSSH PRIVATE KEY-----\n${TOKEN}\n-----END OPENSSH PRIVATE KEY-----\n`,
    );
    expect((await failure(readSecret(fileEntry("docker", "ghcr.io", key), opts()))).message).toContain(
      "holds a private key",
    );
    const one = secretFile("one-line", `${TOKEN}\n`);
    expect((await failure(readSecret(fileEntry("docker", "ghcr.io", one), opts()))).message).toMatch(
      /user name on line 1 and the password on line 2; found 1 line/,
    );
    const three = secretFile("three", `${USER}\n${PASSWORD}\n${TOKEN}\n`);
    expect((await failure(readSecret(fileEntry("docker", "ghcr.io", three), opts()))).message).toContain(
      "found 3 line(s)",
    );
  });

  it("names a missing file", async () => {
    const err = await failure(readSecret(fileEntry("docker", "ghcr.io", join(tmp, "nope")), opts()));
    expect(err.code).toBe("E_CREDENTIAL_SOURCE");
    expect(err.message).toBe(
      `rules_pipeline credential "docker ghcr.io" from file ${join(tmp, "nope")}: file ${join(tmp, "nope")} does not exist`,
    );
  });

  it("warns (through the callback) when group or others can read the file, and still reads it", async () => {
    const before = warnings.length;
    const loose = secretFile("loose", `${USER}\n${PASSWORD}\n`, 0o644);
    expect((await readSecret(fileEntry("docker", "ghcr.io", loose), opts())).secret).toEqual({
      username: USER,
      password: PASSWORD,
    });
    expect(warnings.slice(before)).toEqual([
      `credential file ${loose} is accessible to group or others (mode 0644); run: chmod 600 ${loose}`,
    ]);
    const tight = secretFile("tight", `${USER}\n${PASSWORD}\n`, 0o600);
    await readSecret(fileEntry("docker", "ghcr.io", tight), opts());
    const groupOnly = secretFile("group", `${USER}\n${PASSWORD}\n`, 0o640);
    await readSecret(fileEntry("docker", "ghcr.io", groupOnly), opts());
    expect(warnings.slice(before + 1)).toEqual([
      `credential file ${groupOnly} is accessible to group or others (mode 0640); run: chmod 600 ${groupOnly}`,
    ]);
  });
});

describe("env sources", () => {
  const userEntry: CredentialEntry = {
    service: "docker",
    url: "localhost:5000",
    source: { type: "env", username: "REG_USER", password: "REG_PASS" },
  };
  const tokenEntry: CredentialEntry = {
    service: "git",
    url: "https://github.com/org/",
    source: { type: "env", token: "GH_TOKEN" },
  };

  it("reads the named variables from the given environment", async () => {
    expect(await readSecret(userEntry, opts({ REG_USER: USER, REG_PASS: PASSWORD }))).toEqual({
      secret: { username: USER, password: PASSWORD },
      description: 'rules_pipeline credential "docker localhost:5000" from env $REG_USER/$REG_PASS',
    });
    expect(await readSecret(tokenEntry, opts({ GH_TOKEN: TOKEN }))).toEqual({
      secret: { token: TOKEN },
      description: 'rules_pipeline credential "git https://github.com/org/" from env $GH_TOKEN',
    });
  });

  it("names an unset or empty variable", async () => {
    expect((await failure(readSecret(userEntry, opts({ REG_USER: USER })))).message).toContain(
      "environment variable REG_PASS is not set",
    );
    expect((await failure(readSecret(tokenEntry, opts({ GH_TOKEN: "" })))).message).toContain(
      "environment variable GH_TOKEN is not set",
    );
  });
});

describe("pipelineCredentialsKeychain and gitCredential", () => {
  let configPath: string;
  let env: Record<string, string>;
  beforeAll(() => {
    configPath = join(tmp, "cfg", "credentials.json");
    env = { PIPELINE_CREDENTIALS_FILE: configPath, ORG_USER: USER, ORG_PASS: PASSWORD, GH_TOKEN: TOKEN };
    saveCredentialsConfig(configPath, {
      version: 1,
      credentials: [
        {
          service: "docker",
          url: "ghcr.io",
          source: { type: "file", path: secretFile("ghcr-host", `host-user\nhost-pass-not-secret\n`) },
        },
        { service: "docker", url: "ghcr.io/org/", source: { type: "env", username: "ORG_USER", password: "ORG_PASS" } },
        {
          service: "docker",
          url: "ghcr.io/keyfile",
          source: {
            type: "file",
            path: secretFile("ghcr-key", "-----BEGIN RSA PRIVATE KEY-----\nx\n-----END RSA PRIVATE KEY-----\n"),
          },
        },
        { service: "git", url: "https://github.com/org/", source: { type: "env", token: "GH_TOKEN" } },
      ],
    });
  });

  it("resolves registry/repository by longest prefix and names the source", async () => {
    const k = pipelineCredentialsKeychain({ env, home });
    expect(await k.resolve("ghcr.io", "org/app")).toEqual({
      credential: { username: USER, password: PASSWORD },
      source: 'rules_pipeline credential "docker ghcr.io/org/" from env $ORG_USER/$ORG_PASS',
    });
    expect((await k.resolve("ghcr.io", "organization/app"))?.credential).toEqual({
      username: "host-user",
      password: "host-pass-not-secret",
    });
    expect((await k.resolve("ghcr.io"))?.source).toContain('"docker ghcr.io"');
    expect(await k.resolve("quay.io", "org/app")).toBeUndefined();
    expect(k.describe()).toBe(`rules_pipeline credentials ${configPath}`);
  });

  it("warns once per keychain about a loose credential file", async () => {
    const loose = secretFile("loose-keychain", `${USER}\n${PASSWORD}\n`, 0o644);
    const path = join(tmp, "cfg-loose", "credentials.json");
    saveCredentialsConfig(path, {
      version: 1,
      credentials: [{ service: "docker", url: "ghcr.io", source: { type: "file", path: loose } }],
    });
    const seen: string[] = [];
    const k = pipelineCredentialsKeychain({
      env: { PIPELINE_CREDENTIALS_FILE: path },
      home,
      onWarning: (m) => seen.push(m),
    });
    await k.resolve("ghcr.io", "a");
    await k.resolve("ghcr.io", "b");
    expect(seen).toEqual([
      `credential file ${loose} is accessible to group or others (mode 0644); run: chmod 600 ${loose}`,
    ]);
  });

  it("chains: a later keychain answers when this one has nothing", async () => {
    const fallback = {
      resolve: async () => ({ credential: { username: "f", password: "f" }, source: "fallback" }),
      describe: () => "fallback",
    };
    const chain = chainKeychains(pipelineCredentialsKeychain({ env, home }), fallback);
    expect((await chain.resolve("quay.io", "x"))?.source).toBe("fallback");
    expect((await chain.resolve("ghcr.io", "org/x"))?.source).toContain("ghcr.io/org/");
  });

  it("has nothing to say when the file is missing, and throws when it is malformed", async () => {
    expect(
      await pipelineCredentialsKeychain({ env: { PIPELINE_CREDENTIALS_FILE: join(tmp, "none.json") }, home }).resolve(
        "ghcr.io",
      ),
    ).toBeUndefined();
    const bad = join(tmp, "bad.json");
    writeFileSync(bad, '{"version": 3}');
    await expect(
      pipelineCredentialsKeychain({ env: { PIPELINE_CREDENTIALS_FILE: bad }, home }).resolve("ghcr.io"),
    ).rejects.toThrow(/version: expected 1, got 3/);
  });

  it("refuses a key where a registry needs a password", async () => {
    const err = await failure(pipelineCredentialsKeychain({ env, home }).resolve("ghcr.io", "keyfile/app"));
    expect(err.message).toContain(
      "the file holds a private key; docker credentials are a user name (line 1) and a password (line 2)",
    );
  });

  it("finds git credentials by URL", async () => {
    const got = await gitCredential("https://github.com/org/repo.git", { env, home });
    expect(got).toEqual({
      entry: { service: "git", url: "https://github.com/org/", source: { type: "env", token: "GH_TOKEN" } },
      secret: { token: TOKEN },
      description: 'rules_pipeline credential "git https://github.com/org/" from env $GH_TOKEN',
    });
    expect(await gitCredential("https://github.com/other/repo.git", { env, home })).toBeUndefined();
    expect(await gitCredential("git@github.com:org/repo.git", { env, home })).toBeUndefined();
  });
});
