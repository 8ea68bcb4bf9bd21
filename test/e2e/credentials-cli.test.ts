/**
 * rules_pipeline's own credentials against the real CNCF registry behind htpasswd: `credentials test`
 * accepts the right password and reports a wrong one as rejected; a push authenticates with an env source
 * scoped to a repository prefix (and fails, naming where it looked, outside it); an AWS Secrets Manager
 * source (an in-process Secrets Manager) answers too. Every test ends with a leak audit.
 */
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PipelineError } from "../../src/errors";
import { pipelineCredentialsKeychain } from "../../src/registry-auth/credentials-file";
import {
  errorText,
  filesLeaking,
  leaksIn,
  startFakeSecretsManager,
  type FakeSecretsManager,
} from "../../src/credentials/testing";
import { credentialsAdd, credentialsList, credentialsTest } from "../../src/cli/commands/credentials";
import type { CliIo } from "../../src/cli/io";
import { pushImage } from "../../src/registry/push";
import { startRegistry, type RunningRegistry } from "../fixtures/registry";
import { randomImage } from "../fixtures/random-image";

const USER = "e2e-robot";
const PASSWORD = "E2e-Registry-Pa55-7Hk2";
const WRONG = "E2e-Wrong-Pa55-Zp4x";
const SECRETS = [PASSWORD, WRONG];
const USERS = [USER];
const FAST_RETRY = { retries: 1, baseDelayMs: 10, timeoutMs: 10_000 };

let reg: RunningRegistry;
let sm: FakeSecretsManager;
let tmp: string;
let home: string;
const secretFiles: string[] = [];
const output: string[] = [];
const errors: unknown[] = [];

function makeIo(configName: string, extraEnv: Record<string, string> = {}): CliIo & { out: string[] } {
  const out: string[] = [];
  return {
    out,
    stdout: (l) => {
      out.push(l);
      output.push(l);
    },
    stderr: (l) => output.push(l),
    env: {
      PATH: process.env.PATH,
      HOME: home,
      PIPELINE_CREDENTIALS_FILE: join(tmp, "config", configName),
      ...extraEnv,
    },
    cwd: tmp,
    isTTY: false,
    readStdin: async () => "",
  };
}

function secretFile(name: string, content: string): string {
  const path = join(tmp, "secrets", name);
  mkdirSync(join(tmp, "secrets"), { recursive: true });
  writeFileSync(path, content, { mode: 0o600 });
  secretFiles.push(path);
  return path;
}

async function failure(p: Promise<unknown>, code: string): Promise<PipelineError> {
  try {
    await p;
  } catch (e) {
    errors.push(e);
    expect(e).toBeInstanceOf(PipelineError);
    expect((e as PipelineError).code).toBe(code);
    return e as PipelineError;
  }
  throw new Error(`expected ${code}`);
}

beforeAll(async () => {
  tmp = mkdtempSync(join(tmpdir(), "credentials-cli-e2e-"));
  home = join(tmp, "home");
  mkdirSync(home);
  reg = await startRegistry({ htpasswd: { user: USER, password: PASSWORD } });
  sm = await startFakeSecretsManager({ "ci/registry": JSON.stringify({ username: USER, password: PASSWORD }) });
  vi.stubEnv("AWS_CONFIG_FILE", join(tmp, "aws-config"));
  vi.stubEnv("AWS_SHARED_CREDENTIALS_FILE", join(tmp, "aws-credentials"));
});

afterAll(async () => {
  vi.unstubAllEnvs();
  await sm?.stop();
  await reg?.stop();
  rmSync(tmp, { recursive: true, force: true });
});

describe("credentials against a real registry with htpasswd", () => {
  it("credentials test: accepted with a file holding the right password", async () => {
    const io = makeIo("file.json");
    const file = secretFile("registry", `${USER}\n${PASSWORD}\n`);
    await credentialsAdd({ service: "docker", url: reg.host, file }, io);
    await credentialsTest({ service: "docker", url: `${reg.host}/e2e/app` }, io, { retry: FAST_RETRY });
    const source = `rules_pipeline credential "docker ${reg.host}" from file ${file}`;
    expect(io.out).toEqual([
      `credential for ${reg.host}/e2e/app: ${source}`,
      "GET /v2/: authenticated",
      "tags of e2e/app: accepted (the repository does not exist yet: NAME_UNKNOWN)",
      `ok: registry ${reg.host} accepted ${source}`,
    ]);
    await new Promise((r) => setTimeout(r, 100)); // let the access log catch up
    const reqs = reg.requests();
    expect(reqs.some((r) => r.path === "/v2/" && r.status === 200)).toBe(true);
    expect(reqs.some((r) => r.path.startsWith("/v2/e2e/app/tags/list") && r.status === 404)).toBe(true);
  });

  it("credentials test: rejected with a file holding a wrong password", async () => {
    const io = makeIo("wrong.json");
    const file = secretFile("registry-wrong", `${USER}\n${WRONG}\n`);
    await credentialsAdd({ service: "docker", url: `${reg.host}/e2e/`, file }, io);
    const err = await failure(
      credentialsTest({ service: "docker", url: `${reg.host}/e2e/app` }, io, { retry: FAST_RETRY }),
      "E_CREDENTIAL_REJECTED",
    );
    const source = `rules_pipeline credential "docker ${reg.host}/e2e/" from file ${file}`;
    expect(err.message).toBe(`registry ${reg.host} rejected ${source} for ${reg.host}/e2e/app (401 Unauthorized)`);
    expect(io.out[io.out.length - 1]).toBe(`rejected: registry ${reg.host} refused ${source} (401 Unauthorized)`);
  });

  it("pushes with an env source scoped to a repository prefix, and names where it looked outside it", async () => {
    const io = makeIo("env.json", { REG_USER: USER, REG_PASS: PASSWORD });
    await credentialsAdd(
      { service: "docker", url: `${reg.host}/e2e/`, "env-user": "REG_USER", "env-password": "REG_PASS" },
      io,
    );
    await credentialsList({}, io);
    expect(io.out).toEqual([
      "SERVICE  URL" + " ".repeat(reg.host.length + 5 - 3 + 2) + "SOURCE",
      `docker   ${reg.host}/e2e/  env $REG_USER/$REG_PASS`,
    ]);

    const keychain = pipelineCredentialsKeychain({ env: io.env, home });
    const image = randomImage({ layers: 2, layerSize: 4096 });
    const result = await pushImage(
      image,
      { registry: reg.host, repository: "e2e/env", tags: ["v1"] },
      { keychain, retry: FAST_RETRY },
    );
    expect(result.digest).toBe(image.digest);
    // An independent client reads it back (credentials given to skopeo directly).
    const raw = execFileSync("skopeo", [
      "inspect",
      "--tls-verify=false",
      "--creds",
      `${USER}:${PASSWORD}`,
      "--raw",
      `docker://${reg.host}/e2e/env:v1`,
    ]);
    expect(JSON.parse(raw.toString()).config.digest).toBe(image.configBlob.digest);

    const err = await failure(
      pushImage(
        randomImage({ layers: 1 }),
        { registry: reg.host, repository: "other/app" },
        { keychain, retry: FAST_RETRY },
      ),
      "E_UNAUTHORIZED",
    );
    expect(err.message).toContain(
      `no credentials found; looked in rules_pipeline credentials ${io.env.PIPELINE_CREDENTIALS_FILE}`,
    );
  });

  it("credentials test and push with an AWS Secrets Manager source", async () => {
    const io = makeIo("aws.json", {
      AWS_ENDPOINT_URL_SECRETS_MANAGER: sm.url,
      AWS_ACCESS_KEY_ID: "AKIDE2E",
      AWS_SECRET_ACCESS_KEY: "e2e-dummy-secret-key",
      AWS_REGION: "us-east-1",
    });
    await credentialsAdd({ service: "docker", url: reg.host, "aws-secret": "ci/registry" }, io);
    await credentialsTest({ service: "docker", url: `${reg.host}/e2e/aws` }, io, { retry: FAST_RETRY });
    expect(io.out[io.out.length - 1]).toBe(
      `ok: registry ${reg.host} accepted rules_pipeline credential "docker ${reg.host}" from AWS secret ci/registry`,
    );
    const image = randomImage({ layers: 1 });
    const result = await pushImage(
      image,
      { registry: reg.host, repository: "e2e/aws" },
      { keychain: pipelineCredentialsKeychain({ env: io.env, home }), retry: FAST_RETRY },
    );
    expect(result.digest).toBe(image.digest);

    await credentialsAdd({ service: "docker", url: `${reg.host}/e2e/missing`, "aws-secret": "ci/absent" }, io);
    const err = await failure(
      credentialsTest({ service: "docker", url: `${reg.host}/e2e/missing/app` }, io),
      "E_CREDENTIAL_SOURCE",
    );
    expect(err.message).toContain(
      'AWS Secrets Manager has no secret "ci/absent" in region us-east-1 (ResourceNotFoundException)',
    );
  });

  it("leak audit: no output, error or file but the secret files holds a password in any form", () => {
    expect(leaksIn(output.join("\n"), SECRETS, USERS)).toEqual([]);
    expect(leaksIn(errors.map(errorText).join("\n"), SECRETS, USERS)).toEqual([]);
    expect(filesLeaking(tmp, SECRETS, secretFiles, USERS)).toEqual([]);
    expect(filesLeaking(reg.dir, SECRETS, [], USERS)).toEqual([]);
    expect(errors.length).toBe(3); // rejected, unauthorized outside the prefix, missing AWS secret
  });
});
