/**
 * Where a map's S3 bucket is and the credential to reach it, on the machine that starts the map (the CLI side): the
 * AWS SDK v3's default credential chain (the environment, the shared config and credentials files with AWS_PROFILE,
 * SSO, web identity, process credentials, ECS/EC2 metadata), loaded only here, with a dynamic require, as
 * aws-secret.ts loads its client. What it gives is a static credential: the pods that run the map get it through a
 * Secret and read it with `s3Credentials` (src/runtime/s3.ts), which needs no SDK.
 *
 * Region: the caller's, else $AWS_REGION / $AWS_DEFAULT_REGION, else us-east-1 for a custom endpoint (versitygw's
 * default, which refuses a signature for any other region than its own; MinIO accepts any). Endpoint: the caller's,
 * else $AWS_ENDPOINT_URL_S3, else $AWS_ENDPOINT_URL; none means AWS.
 */
import { createRequire } from "node:module";
import { PipelineError } from "../errors";
import type { S3Credentials } from "../runtime/s3";

type Env = Record<string, string | undefined>;

/** A credential from the chain; a temporary one (SSO, a role, web identity) says when it expires. */
export interface AwsStaticCredentials extends S3Credentials {
  expiration?: Date;
}

/** The SDK package the project depends on; the chain is its dependency, found from it. */
const SDK = "@aws-sdk/client-secrets-manager";
const PROVIDER = "@aws-sdk/credential-provider-node";

/** The part of @aws-sdk/credential-provider-node used here (aws-chain.test.ts checks the real module fits it). */
export interface DefaultProviderModule {
  defaultProvider(init?: {
    profile?: string;
    filepath?: string;
    configFilepath?: string;
    ignoreCache?: boolean;
  }): () => Promise<{ accessKeyId: string; secretAccessKey: string; sessionToken?: string; expiration?: Date }>;
}

/**
 * Loads the chain (once; node caches modules). It is resolved from the SDK package's own directory, so it is found
 * however the package manager lays out node_modules (pnpm links a package's dependencies beside it, not at the top).
 */
export function loadDefaultProvider(): DefaultProviderModule {
  let from: string;
  try {
    from = require.resolve(SDK);
  } catch (e) {
    throw new PipelineError(
      "E_MAP_STORE",
      `an S3 object store needs the npm package ${SDK} (npm install ${SDK}) for the AWS credential chain: ${(e as Error).message.split("\n")[0]}`,
      { cause: e },
    );
  }
  return createRequire(from)(PROVIDER) as DefaultProviderModule;
}

export interface S3Location {
  endpoint?: string;
  region?: string;
}

/** The endpoint and region of a bucket, from `given` and the environment (see the top of this file). */
export function s3Location(where: string, given: S3Location, env: Env): { endpoint?: string; region: string } {
  const endpoint = given.endpoint || env.AWS_ENDPOINT_URL_S3 || env.AWS_ENDPOINT_URL || undefined;
  const region = given.region || env.AWS_REGION || env.AWS_DEFAULT_REGION || (endpoint ? "us-east-1" : undefined);
  if (!region)
    throw new PipelineError(
      "E_MAP_STORE",
      `${where}: no AWS region for the bucket: set AWS_REGION (or AWS_DEFAULT_REGION), or give the store's region`,
    );
  return { ...(endpoint ? { endpoint } : {}), region };
}

/**
 * The credential the default chain gives for `where` (an `s3://bucket/prefix/` for messages). Static keys in `env`
 * are used as they are (unless a profile is named); otherwise the chain runs with the profile and the shared files
 * `env` names. The SDK reads its other variables (web identity, container credentials, AWS_EC2_METADATA_DISABLED)
 * from process.env.
 */
export async function awsChainCredentials(
  where: string,
  opts: { env: Env; profile?: string; load?: () => DefaultProviderModule },
): Promise<AwsStaticCredentials> {
  const env = opts.env;
  const profile = opts.profile || env.AWS_PROFILE || undefined;
  if (!profile && env.AWS_ACCESS_KEY_ID && env.AWS_SECRET_ACCESS_KEY) {
    const sessionToken = env.AWS_SESSION_TOKEN || undefined;
    return {
      accessKeyId: env.AWS_ACCESS_KEY_ID,
      secretAccessKey: env.AWS_SECRET_ACCESS_KEY,
      ...(sessionToken ? { sessionToken } : {}),
    };
  }
  const sdk = (opts.load ?? loadDefaultProvider)();
  const provider = sdk.defaultProvider({
    ...(profile ? { profile } : {}),
    ...(env.AWS_SHARED_CREDENTIALS_FILE ? { filepath: env.AWS_SHARED_CREDENTIALS_FILE } : {}),
    ...(env.AWS_CONFIG_FILE ? { configFilepath: env.AWS_CONFIG_FILE } : {}),
    ignoreCache: true,
  });
  let got: Awaited<ReturnType<typeof provider>>;
  try {
    got = await provider();
  } catch (e) {
    // The SDK's message names the sources it tried (a profile, a file), never a secret.
    const message = ((e as Error)?.message ?? String(e)).split("\n")[0].slice(0, 300);
    throw new PipelineError(
      "E_MAP_STORE",
      `${where}: no AWS credential found${profile ? ` for profile ${JSON.stringify(profile)}` : ""}: set ` +
        `AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE naming a profile of ~/.aws/config or ` +
        `~/.aws/credentials (${(e as Error)?.name ?? "Error"}: ${message})`,
      { cause: e },
    );
  }
  return {
    accessKeyId: got.accessKeyId,
    secretAccessKey: got.secretAccessKey,
    ...(got.sessionToken ? { sessionToken: got.sessionToken } : {}),
    ...(got.expiration ? { expiration: got.expiration } : {}),
  };
}
