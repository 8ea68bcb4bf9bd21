/**
 * Reads a secret string from AWS Secrets Manager (GetSecretValue) with the AWS SDK v3. The SDK is loaded
 * only here, with a dynamic import, so the CLI runs without it unless an aws-secret source is used.
 * Region: the entry's, else $AWS_REGION / $AWS_DEFAULT_REGION, else the SDK's (the profile's config).
 * Credentials: the entry's profile, else the keys in the given environment, else the SDK's default chain.
 * Endpoint: $AWS_ENDPOINT_URL_SECRETS_MANAGER, else $AWS_ENDPOINT_URL (a local endpoint in tests).
 */
import type { PipelineError } from "../errors";
import type { AwsSecretSource } from "./config";

export interface AwsClientOptions {
  /** Attempts per request, retries included (default the SDK's, 3). */
  awsMaxAttempts?: number;
}

type Fail = (message: string, cause?: unknown) => PipelineError;

/** The npm package, named through a variable so compiling this file never needs it installed. */
const SDK = "@aws-sdk/client-secrets-manager";

/** The part of the SDK module used here (aws-secret.test.ts checks the real module fits it). */
export interface SecretsManagerModule {
  SecretsManagerClient: new (config: {
    region?: string;
    endpoint?: string;
    profile?: string;
    credentials?: { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
    maxAttempts?: number;
    requestHandler?: { connectionTimeout?: number; requestTimeout?: number };
  }) => {
    send(command: InstanceType<SecretsManagerModule["GetSecretValueCommand"]>): Promise<{ SecretString?: string }>;
    destroy(): void;
  };
  GetSecretValueCommand: new (input: { SecretId: string }) => object;
}

/** Loads the SDK (once; node caches modules). */
export async function loadSecretsManager(): Promise<SecretsManagerModule> {
  return (await import(SDK)) as SecretsManagerModule;
}

function awsErrorMessage(e: unknown, source: AwsSecretSource, region: string | undefined): string {
  const err = e as { name?: string; message?: string; $metadata?: { httpStatusCode?: number } };
  const name = err?.name ?? "Error";
  const id = JSON.stringify(source.secretId);
  const inRegion = region ? ` in region ${region}` : "";
  switch (name) {
    case "ResourceNotFoundException":
      return `AWS Secrets Manager has no secret ${id}${inRegion} (ResourceNotFoundException)`;
    case "AccessDeniedException":
    case "AccessDenied":
      return `AWS denied reading secret ${id}${inRegion} (${name}): ${err.message ?? ""}`.trim();
    case "DecryptionFailure":
    case "InvalidRequestException":
    case "InvalidParameterException":
      return `AWS could not return secret ${id}${inRegion} (${name}): ${err.message ?? ""}`.trim();
    case "CredentialsProviderError":
      return `no AWS credentials to read secret ${id} (set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or AWS_PROFILE, or give the entry a profile): ${err.message ?? ""}`.trim();
  }
  if (/region is missing/i.test(err?.message ?? ""))
    return `no AWS region to read secret ${id}: set AWS_REGION or give the entry a region`;
  const status = err?.$metadata?.httpStatusCode;
  return `reading AWS secret ${id}${inRegion} failed (${name}${status ? `, HTTP ${status}` : ""}): ${err?.message ?? String(e)}`;
}

/** The SecretString of `source.secretId`. */
export async function getAwsSecretString(
  source: AwsSecretSource,
  opts: AwsClientOptions & { env: Record<string, string | undefined> },
  fail: Fail,
): Promise<string> {
  let sdk: SecretsManagerModule;
  try {
    sdk = await loadSecretsManager();
  } catch (e) {
    throw fail(
      `aws-secret sources need the npm package ${SDK} (npm install ${SDK}): ${(e as Error).message.split("\n")[0]}`,
      e,
    );
  }
  const env = opts.env;
  const region = source.region ?? (env.AWS_REGION || env.AWS_DEFAULT_REGION || undefined);
  const endpoint = env.AWS_ENDPOINT_URL_SECRETS_MANAGER || env.AWS_ENDPOINT_URL || undefined;
  const profile = source.profile ?? (env.AWS_PROFILE || undefined);
  const credentials =
    !profile && env.AWS_ACCESS_KEY_ID && env.AWS_SECRET_ACCESS_KEY
      ? {
          accessKeyId: env.AWS_ACCESS_KEY_ID,
          secretAccessKey: env.AWS_SECRET_ACCESS_KEY,
          sessionToken: env.AWS_SESSION_TOKEN || undefined,
        }
      : undefined;
  const client = new sdk.SecretsManagerClient({
    ...(region ? { region } : {}),
    ...(endpoint ? { endpoint } : {}),
    ...(profile ? { profile } : {}),
    ...(credentials ? { credentials } : {}),
    ...(opts.awsMaxAttempts ? { maxAttempts: opts.awsMaxAttempts } : {}),
    requestHandler: { connectionTimeout: 10_000, requestTimeout: 30_000 },
  });
  try {
    const out = await client.send(new sdk.GetSecretValueCommand({ SecretId: source.secretId }));
    if (typeof out.SecretString !== "string") {
      throw fail(`AWS secret ${JSON.stringify(source.secretId)} holds binary data; expected a JSON SecretString`);
    }
    return out.SecretString;
  } catch (e) {
    if ((e as Error)?.name === "PipelineError") throw e;
    throw fail(awsErrorMessage(e, source, region), e);
  } finally {
    client.destroy();
  }
}
