/**
 * aws-secret sources against an in-process Secrets Manager (the real AWS SDK v3 client, signing and all,
 * pointed at 127.0.0.1 through AWS_ENDPOINT_URL_SECRETS_MANAGER).
 */
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { PipelineError } from "../errors";
import { type CredentialEntry, saveCredentialsConfig } from "./config";
import { pipelineCredentialsKeychain } from "../registry-auth/credentials-file";
import { gitCredential } from "./lookup";
import { readSecret } from "./secret";
import { loadSecretsManager, type SecretsManagerModule } from "./aws-secret";
import { errorText, type FakeSecretsManager, filesLeaking, leaksIn, startFakeSecretsManager } from "./testing";
import { pipelineErrorOf } from "../../test/fixtures/errors";

const PASSWORD = "aws-Pa55word-Kq7!zz";
const TOKEN = "ghp_awsTokenFromSecretsManager42";
const KEY_BODY = "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW";
const PRIVATE_KEY = `-----BEGIN OPENSSH PRIVATE KEY-----\n${KEY_BODY}\n-----END OPENSSH PRIVATE KEY-----\n`;
const SECRETS = [PASSWORD, TOKEN, KEY_BODY];

let sm: FakeSecretsManager;
let tmp: string;
let env: Record<string, string>;

beforeAll(async () => {
  tmp = mkdtempSync(join(tmpdir(), "credentials-aws-test-"));
  // The SDK reads region and profile files from process.env: keep it away from this machine's.
  vi.stubEnv("AWS_CONFIG_FILE", join(tmp, "aws-config"));
  vi.stubEnv("AWS_SHARED_CREDENTIALS_FILE", join(tmp, "aws-credentials"));
  for (const name of [
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "AWS_PROFILE",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_SECRETS_MANAGER",
  ]) {
    vi.stubEnv(name, undefined);
  }
  sm = await startFakeSecretsManager({
    "ci/ghcr": JSON.stringify({ username: "robot", password: PASSWORD }),
    "ci/github-token": JSON.stringify({ token: TOKEN }),
    "ci/deploy-key": JSON.stringify({ private_key: PRIVATE_KEY }),
    "ci/not-json": `password=${PASSWORD}`,
    "ci/wrong-keys": JSON.stringify({ user: "robot", pass: PASSWORD }),
  });
  env = {
    AWS_ENDPOINT_URL_SECRETS_MANAGER: sm.url,
    AWS_ACCESS_KEY_ID: "AKIDUNITTEST",
    AWS_SECRET_ACCESS_KEY: "unit-test-secret-access-key",
    AWS_REGION: "us-east-1",
  };
});
afterAll(async () => {
  await sm?.stop();
  vi.unstubAllEnvs();
  expect(filesLeaking(tmp, SECRETS, [], ["robot"])).toEqual([]);
  rmSync(tmp, { recursive: true, force: true });
});

const entry = (service: "docker" | "git", secretId: string, extra: { region?: string } = {}): CredentialEntry => ({
  service,
  url: service === "docker" ? "registry.example.com" : "https://git.example.com/",
  source: { type: "aws-secret", secretId, ...extra },
});

async function failure(p: Promise<unknown>): Promise<PipelineError> {
  const e = await pipelineErrorOf(p);
  expect(leaksIn(errorText(e), SECRETS, ["robot"])).toEqual([]);
  return e;
}

describe("aws-secret sources", () => {
  it("loads the SDK lazily, and the real module fits the interface aws-secret.ts uses", async () => {
    const real: SecretsManagerModule = await import("@aws-sdk/client-secrets-manager");
    expect(await loadSecretsManager()).toBe(real);
  });

  it("reads {username, password} with a signed GetSecretValue", async () => {
    const got = await readSecret(entry("docker", "ci/ghcr"), { env });
    expect(got).toEqual({
      secret: { username: "robot", password: PASSWORD },
      description: 'rules_pipeline credential "docker registry.example.com" from AWS secret ci/ghcr',
    });
    const req = sm.requests[sm.requests.length - 1];
    expect(req.target).toBe("secretsmanager.GetSecretValue");
    expect(req.body).toEqual({ SecretId: "ci/ghcr" });
    expect(String(req.headers.authorization)).toMatch(
      /^AWS4-HMAC-SHA256 Credential=AKIDUNITTEST\/\d{8}\/us-east-1\/secretsmanager\/aws4_request/,
    );
  });

  it("uses the entry's region over AWS_REGION, and AWS_ENDPOINT_URL when there is no service-specific endpoint", async () => {
    const { AWS_ENDPOINT_URL_SECRETS_MANAGER: url, ...rest } = env;
    await readSecret(entry("docker", "ci/ghcr", { region: "eu-west-1" }), { env: { ...rest, AWS_ENDPOINT_URL: url } });
    expect(String(sm.requests[sm.requests.length - 1].headers.authorization)).toContain("/eu-west-1/secretsmanager/");
  });

  it("reads a token and a private key for git", async () => {
    expect((await readSecret(entry("git", "ci/github-token"), { env })).secret).toEqual({ token: TOKEN });
    expect((await readSecret(entry("git", "ci/deploy-key"), { env })).secret).toEqual({ privateKey: PRIVATE_KEY });
  });

  it("names the secret id when the secret does not exist", async () => {
    const err = await failure(readSecret(entry("docker", "ci/missing-one"), { env }));
    expect(err.code).toBe("E_CREDENTIAL_SOURCE");
    expect(err.message).toBe(
      'rules_pipeline credential "docker registry.example.com" from AWS secret ci/missing-one: ' +
        'AWS Secrets Manager has no secret "ci/missing-one" in region us-east-1 (ResourceNotFoundException)',
    );
  });

  it("explains a secret that is not JSON or lacks the fields, without showing it", async () => {
    expect((await failure(readSecret(entry("docker", "ci/not-json"), { env }))).message).toContain(
      "the secret is not JSON",
    );
    const err = await failure(readSecret(entry("docker", "ci/wrong-keys"), { env }));
    expect(err.message).toContain('must hold "username" and "password" as non-empty strings; its keys: "user", "pass"');
    expect((await failure(readSecret(entry("docker", "ci/deploy-key"), { env }))).message).toContain(
      'its keys: "private_key"',
    );
  });

  it("says when there is no region", async () => {
    const { AWS_REGION: _unused, ...noRegion } = env;
    void _unused;
    const err = await failure(readSecret(entry("docker", "ci/ghcr"), { env: noRegion }));
    expect(err.message).toContain("no AWS region");
  });

  it("answers through the keychain and gitCredential", async () => {
    const configPath = join(tmp, "credentials.json");
    saveCredentialsConfig(configPath, {
      version: 1,
      credentials: [entry("docker", "ci/ghcr"), entry("git", "ci/github-token")],
    });
    const e = { ...env, PIPELINE_CREDENTIALS_FILE: configPath };
    expect(await pipelineCredentialsKeychain({ env: e }).resolve("registry.example.com", "team/app")).toEqual({
      credential: { username: "robot", password: PASSWORD },
      source: 'rules_pipeline credential "docker registry.example.com" from AWS secret ci/ghcr',
    });
    expect((await gitCredential("https://git.example.com/team/repo.git", { env: e }))?.secret).toEqual({
      token: TOKEN,
    });
  });
});
