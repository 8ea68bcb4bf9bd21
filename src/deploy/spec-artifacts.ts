/**
 * The spec's `artifacts` field (its checks: spec-fields.ts ARTIFACTS_FIELD): where the pipeline's maps keep their items and results (docs/scale-out.md).
 *
 *   artifacts:
 *     s3:
 *       bucket: acme-maps
 *       prefix: score/                      # default: the bucket's root
 *       endpoint: https://minio.example     # an S3-compatible server; default AWS
 *       region: eu-west-1                   # default us-east-1
 *       accessKeyId: SECRET:s3-id           # both or neither: without them the pods use their own identity
 *       secretAccessKey: SECRET:s3-key      #   (IRSA, a node role) and the run's env
 *
 * It becomes the pipeline container's environment, the variables runMap and the map worker read (PIPELINE_ARTIFACTS,
 * AWS_ENDPOINT_URL_S3, AWS_REGION, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY), the credential as `SECRET:` values: so
 * every path that takes a spec's env takes it alike (a local run reads the local secrets, a rendered or run Job reads
 * the Secrets `pipeline deploy --apply` fills, and the maps' pods get the same secretKeyRefs). A variable the spec's
 * `env` sets as well is an error naming both.
 */
import type { SpecContext } from "./spec-schema";
import type { EnvVar, SecretRef } from "./types";

export function prefixProblem(s: string): string | undefined {
  if (s.startsWith("/")) return "expected a key prefix without a leading '/' (e.g. score/)";
  if (s.split("/").some((p) => p === "." || p === "..")) return "expected a key prefix without '.' or '..' parts";
  return undefined;
}

export function endpointProblem(s: string): string | undefined {
  let u: URL;
  try {
    u = new URL(s);
  } catch {
    return "expected an http(s) URL (e.g. https://minio.example:9000)";
  }
  if (u.protocol !== "https:" && u.protocol !== "http:") return "expected an http(s) URL";
  if (u.username || u.password) return "expected a URL without credentials (give accessKeyId and secretAccessKey)";
  if (u.search || u.hash) return "expected a URL without a query or fragment";
  return undefined;
}

/** What the checked field holds (spec-fields.ts). */
interface CheckedArtifacts {
  s3?: {
    /** False when a field was refused (reported already). */
    __valid?: boolean;
    bucket?: string;
    prefix?: string;
    endpoint?: string;
    region?: string;
    accessKeyId?: SecretRef;
    secretAccessKey?: SecretRef;
  };
}

/** The environment `artifacts` gives the pipeline's container; a variable `env` already has is reported. */
export function artifactsEnv(a: CheckedArtifacts | undefined, env: readonly EnvVar[], cx: SpecContext): EnvVar[] {
  const s3 = a?.s3;
  if (!s3?.bucket || s3.__valid === false) return [];
  if ((s3.accessKeyId === undefined) !== (s3.secretAccessKey === undefined)) {
    const given = s3.accessKeyId === undefined ? "secretAccessKey" : "accessKeyId";
    cx.report(
      `artifacts.s3.${given}`,
      cx.where(`artifacts.s3.${given}`),
      "give both accessKeyId and secretAccessKey, or neither (the pods' own identity)",
    );
    return [];
  }
  const prefix = s3.prefix ? (s3.prefix.endsWith("/") ? s3.prefix : `${s3.prefix}/`) : "";
  const out: EnvVar[] = [{ name: "PIPELINE_ARTIFACTS", value: `s3://${s3.bucket}/${prefix}` }];
  if (s3.endpoint) out.push({ name: "AWS_ENDPOINT_URL_S3", value: s3.endpoint });
  if (s3.region) out.push({ name: "AWS_REGION", value: s3.region });
  if (s3.accessKeyId && s3.secretAccessKey) {
    out.push({ name: "AWS_ACCESS_KEY_ID", value: `SECRET:${s3.accessKeyId.secret}` });
    out.push({ name: "AWS_SECRET_ACCESS_KEY", value: `SECRET:${s3.secretAccessKey.secret}` });
  }
  for (const v of out) {
    const i = env.findIndex((e) => e.name === v.name);
    if (i >= 0)
      cx.report(
        `env[${i}].name`,
        cx.where(`env[${i}].name`),
        `${v.name} is set by "artifacts" too: give it in one place`,
        JSON.stringify(v.name),
      );
  }
  return out;
}
