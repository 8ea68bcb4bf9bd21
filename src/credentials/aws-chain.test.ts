/**
 * The CLI side's AWS chain for an S3 object store: the real SDK's default provider (loaded from beside
 * @aws-sdk/client-secrets-manager) reading temporary shared files; the endpoint and region rules.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test, vi } from "vitest";
import { PipelineError } from "../errors";
import { awsChainCredentials, type DefaultProviderModule, loadDefaultProvider, s3Location } from "./aws-chain";

const WHERE = "s3://maps/runs/";
const SECRET = "chain-Secret-7f3e!/+";
let tmp: string;
let files: { AWS_SHARED_CREDENTIALS_FILE: string; AWS_CONFIG_FILE: string };

beforeAll(() => {
  tmp = mkdtempSync(join(tmpdir(), "aws-chain-test-"));
  files = { AWS_SHARED_CREDENTIALS_FILE: join(tmp, "credentials"), AWS_CONFIG_FILE: join(tmp, "config") };
  writeFileSync(
    files.AWS_SHARED_CREDENTIALS_FILE,
    `[default]\naws_access_key_id = AKIDDEFAULT\naws_secret_access_key = default-secret\n\n` +
      `[ci]\naws_access_key_id = AKIDCI\naws_secret_access_key = ${SECRET}\naws_session_token = tok\n`,
  );
  // A profile only in the config file, with a role's temporary credential from a process (its expiry passed on).
  writeFileSync(
    files.AWS_CONFIG_FILE,
    `[profile proc]\ncredential_process = ${process.execPath} -e "console.log(JSON.stringify({Version:1,AccessKeyId:'AKIDPROC',SecretAccessKey:'p',SessionToken:'s',Expiration:'2099-01-01T00:00:00Z'}))"\n`,
  );
  // The SDK reads its other variables from process.env: keep this machine's away, and the instance metadata off.
  vi.stubEnv("AWS_EC2_METADATA_DISABLED", "true");
  for (const name of ["AWS_PROFILE", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_WEB_IDENTITY_TOKEN_FILE"])
    vi.stubEnv(name, undefined);
  vi.stubEnv("AWS_SHARED_CREDENTIALS_FILE", files.AWS_SHARED_CREDENTIALS_FILE);
  vi.stubEnv("AWS_CONFIG_FILE", files.AWS_CONFIG_FILE);
});
afterAll(() => {
  vi.unstubAllEnvs();
  rmSync(tmp, { recursive: true, force: true });
});

describe("awsChainCredentials", () => {
  test("the real @aws-sdk/credential-provider-node fits the interface used", () => {
    const sdk: DefaultProviderModule = loadDefaultProvider();
    expect(typeof sdk.defaultProvider).toBe("function");
  });

  test("static keys in the environment, as they are", async () => {
    const env = { AWS_ACCESS_KEY_ID: "AKIDENV", AWS_SECRET_ACCESS_KEY: "e", AWS_SESSION_TOKEN: "t" };
    expect(await awsChainCredentials(WHERE, { env })).toEqual({
      accessKeyId: "AKIDENV",
      secretAccessKey: "e",
      sessionToken: "t",
    });
  });

  test("AWS_PROFILE's keys from the shared credentials file the environment names (over the default profile)", async () => {
    expect(await awsChainCredentials(WHERE, { env: { ...files, AWS_PROFILE: "ci" } })).toEqual({
      accessKeyId: "AKIDCI",
      secretAccessKey: SECRET,
      sessionToken: "tok",
    });
    expect((await awsChainCredentials(WHERE, { env: files })).accessKeyId).toBe("AKIDDEFAULT");
  });

  test("a profile's credential_process: a temporary credential with its expiry", async () => {
    const got = await awsChainCredentials(WHERE, { env: files, profile: "proc" });
    expect(got).toEqual({
      accessKeyId: "AKIDPROC",
      secretAccessKey: "p",
      sessionToken: "s",
      expiration: new Date("2099-01-01T00:00:00Z"),
    });
  });

  test("none found: one E_MAP_STORE error naming the store, the profile and what to set", async () => {
    const e = await awsChainCredentials(WHERE, { env: { ...files, AWS_PROFILE: "absent" } }).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(PipelineError);
    expect((e as PipelineError).code).toBe("E_MAP_STORE");
    expect((e as PipelineError).message).toMatch(
      /^s3:\/\/maps\/runs\/: no AWS credential found for profile "absent": set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE/,
    );
    expect((e as PipelineError).message).not.toContain(SECRET);
  });
});

describe("s3Location", () => {
  test("endpoint: given, else AWS_ENDPOINT_URL_S3, else AWS_ENDPOINT_URL; none means AWS", () => {
    const env = { AWS_ENDPOINT_URL_S3: "http://s3:1", AWS_ENDPOINT_URL: "http://all:2", AWS_REGION: "eu-west-3" };
    expect(s3Location(WHERE, { endpoint: "http://given:3" }, env).endpoint).toBe("http://given:3");
    expect(s3Location(WHERE, {}, env).endpoint).toBe("http://s3:1");
    expect(s3Location(WHERE, {}, { ...env, AWS_ENDPOINT_URL_S3: "" }).endpoint).toBe("http://all:2");
    expect(s3Location(WHERE, {}, { AWS_REGION: "eu-west-3" })).toEqual({ region: "eu-west-3" });
  });

  test("region: given, else AWS_REGION, else AWS_DEFAULT_REGION, else us-east-1 for a custom endpoint only", () => {
    const env = { AWS_REGION: "eu-west-3", AWS_DEFAULT_REGION: "ap-south-1" };
    expect(s3Location(WHERE, { region: "us-west-2" }, env).region).toBe("us-west-2");
    expect(s3Location(WHERE, {}, env).region).toBe("eu-west-3");
    expect(s3Location(WHERE, {}, { AWS_DEFAULT_REGION: "ap-south-1" }).region).toBe("ap-south-1");
    expect(s3Location(WHERE, { endpoint: "http://127.0.0.1:8333" }, {}).region).toBe("us-east-1");
    expect(() => s3Location(WHERE, {}, {})).toThrow(
      "s3://maps/runs/: no AWS region for the bucket: set AWS_REGION (or AWS_DEFAULT_REGION), or give the store's region",
    );
  });
});
