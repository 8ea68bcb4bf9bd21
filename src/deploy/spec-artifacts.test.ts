/** The spec's `artifacts` field (spec-artifacts.ts): the environment it gives, what it refuses, and the rendered Job. */
import type { V1Job, V1Secret } from "@kubernetes/client-node";
import { describe, expect, it } from "vitest";
import { type BadSpecCase, expectOneSpecIssue } from "../../test/fixtures/spec-errors";
import { renderJob } from "../k8s/render";
import { parseDigest } from "../oci/digest";
import { parseDeploymentSpec } from "./spec";

const FILE = "maps.yaml";
const IMAGE = `r.example/a/score@${parseDigest(`sha256:${"c".repeat(64)}`, "DIGEST")}`;
const spec = (artifacts: string, extra = "") => `name: score\nimage: ${IMAGE}\n${extra}artifacts:\n${artifacts}`;

describe("artifacts: {s3: …}", () => {
  it("becomes the variables runMap and the map worker read, the credential as SECRET: values", () => {
    const s = parseDeploymentSpec(
      spec(
        "  s3: {bucket: acme-maps, prefix: score, endpoint: 'https://minio.example:9000', region: eu-west-1,\n" +
          "       accessKeyId: 'SECRET:s3-id', secretAccessKey: 'SECRET:s3-key'}\n",
        "env: [{name: A, value: b}]\n",
      ),
      FILE,
    );
    expect(s.env).toEqual([
      { name: "A", value: "b" },
      { name: "PIPELINE_ARTIFACTS", value: "s3://acme-maps/score/" },
      { name: "AWS_ENDPOINT_URL_S3", value: "https://minio.example:9000" },
      { name: "AWS_REGION", value: "eu-west-1" },
      { name: "AWS_ACCESS_KEY_ID", value: "SECRET:s3-id" },
      { name: "AWS_SECRET_ACCESS_KEY", value: "SECRET:s3-key" },
    ]);
  });

  it("a bucket alone: its root, AWS's endpoint and region, the pods' own identity", () => {
    const s = parseDeploymentSpec(spec("  s3: {bucket: acme-maps}\n"), FILE);
    expect(s.env).toEqual([{ name: "PIPELINE_ARTIFACTS", value: "s3://acme-maps/" }]);
  });

  it("a rendered Job reads the credential from the placeholder Secrets deploy --apply fills, never as a value", () => {
    const s = parseDeploymentSpec(
      spec("  s3: {bucket: acme-maps, accessKeyId: 'SECRET:s3-id', secretAccessKey: 'SECRET:s3-key'}\n"),
      FILE,
    );
    const objects = renderJob({ spec: s, image: IMAGE, warnings: [] }, { namespace: "ml" });
    const secrets = objects.filter((o): o is V1Secret => o.kind === "Secret").map((o) => o.metadata?.name);
    expect(secrets).toEqual(["rp-secret-s3-id", "rp-secret-s3-key"]);
    const job = objects.find((o): o is V1Job => o.kind === "Job")!;
    const env = job.spec!.template.spec!.containers[0].env!;
    expect(env.find((e) => e.name === "AWS_SECRET_ACCESS_KEY")).toEqual({
      name: "AWS_SECRET_ACCESS_KEY",
      valueFrom: { secretKeyRef: { name: "rp-secret-s3-key", key: "value" } },
    });
    expect(env.find((e) => e.name === "PIPELINE_ARTIFACTS")?.value).toBe("s3://acme-maps/");
  });

  const bad: BadSpecCase[] = [
    {
      name: "a bucket name S3 refuses",
      text: spec("  s3: {bucket: Acme_Maps}\n"),
      path: "artifacts.s3.bucket",
      line: 4,
      got: '"Acme_Maps"',
      problem: /bucket/,
    },
    {
      name: "no bucket",
      text: spec("  s3: {prefix: x/}\n"),
      path: "artifacts.s3.bucket",
      line: 4,
      problem: /bucket/,
    },
    {
      name: "a prefix that climbs",
      text: spec("  s3: {bucket: acme-maps, prefix: a/../b}\n"),
      path: "artifacts.s3.prefix",
      line: 4,
      got: '"a/../b"',
      problem: /'\.\.'/,
    },
    {
      name: "an endpoint with credentials in it",
      text: spec("  s3: {bucket: acme-maps, endpoint: 'https://k:s@minio.example'}\n"),
      path: "artifacts.s3.endpoint",
      line: 4,
      // The URL's user part is not echoed.
      got: '"https://REDACTED@minio.example"',
      problem: /without credentials/,
    },
    {
      name: "one half of the credential",
      text: spec("  s3: {bucket: acme-maps, accessKeyId: 'SECRET:s3-id'}\n"),
      path: "artifacts.s3.accessKeyId",
      line: 4,
      problem: /both accessKeyId and secretAccessKey, or neither/,
    },
    {
      name: "a plaintext secret (never echoed)",
      text: spec("  s3: {bucket: acme-maps, accessKeyId: 'SECRET:s3-id', secretAccessKey: hunter2}\n"),
      path: "artifacts.s3.secretAccessKey",
      line: 4,
      got: "a plaintext value",
      problem: /secret reference/,
    },
    {
      name: "a variable env sets too",
      text: spec("  s3: {bucket: acme-maps, region: eu-west-1}\n", "env: [{name: AWS_REGION, value: us-east-2}]\n"),
      path: "env[0].name",
      line: 3,
      got: '"AWS_REGION"',
      problem: /AWS_REGION is set by "artifacts" too/,
    },
  ];
  it.each(bad)("refuses $name, naming the field and the value", (c) => {
    const err = expectOneSpecIssue(c, FILE);
    expect(err.message).not.toContain("hunter2");
  });
});
