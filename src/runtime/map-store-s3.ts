/**
 * The S3 side of openStore (map-store.ts): an `s3://BUCKET/PREFIX` location made an S3Store (s3.ts) with what the
 * environment says — inside an image, the map worker's: the credential from AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and
 * AWS_SESSION_TOKEN (a Secret on Kubernetes, the container's environment locally), the endpoint from
 * AWS_ENDPOINT_URL_S3 (else AWS_ENDPOINT_URL), the region from AWS_REGION (else AWS_DEFAULT_REGION, else us-east-1).
 * The CLI resolves its own credential through the AWS chain (src/credentials/aws-chain.ts) and passes it here.
 *
 * Part of `@rules_pipeline/runtime`: Node built-ins only.
 */
import { ObjectStoreError } from "./object-store";
import { type S3Credentials, s3Credentials, S3Store } from "./s3";

type Env = Record<string, string | undefined>;

/** `s3://BUCKET/PREFIX` split; `what` names the location in errors. */
export function parseS3Location(location: string, what: string): { bucket: string; prefix: string } {
  const m = /^s3:\/\/([^/]+)(?:\/(.*))?$/.exec(location);
  if (!m)
    throw new ObjectStoreError("E_MAP_STORE", `${what}: expected s3://BUCKET/PREFIX, got ${JSON.stringify(location)}`);
  const prefix = m[2] ?? "";
  return { bucket: m[1], prefix: prefix === "" || prefix.endsWith("/") ? prefix : `${prefix}/` };
}

/** The store at `location`, with `credentials` (default: the environment's AWS_* keys) and the environment's endpoint and region. */
export function s3StoreAt(
  location: string,
  env: Env,
  credentials?: S3Credentials,
  what = "PIPELINE_MAP_STORE",
): S3Store {
  const { bucket, prefix } = parseS3Location(location, what);
  const endpoint = env.AWS_ENDPOINT_URL_S3 || env.AWS_ENDPOINT_URL || undefined;
  const region = env.AWS_REGION || env.AWS_DEFAULT_REGION || "us-east-1";
  return new S3Store({
    bucket,
    prefix,
    ...(endpoint ? { endpoint } : {}),
    region,
    credentials: credentials ?? s3Credentials(env),
  });
}
