import { describe, expect, it } from "vitest";
import type { V1Job } from "@kubernetes/client-node";
import { parseDeploymentSpec } from "../deploy/spec";
import { pipelineErrorOfSync } from "../../test/fixtures/errors";
import { parseDigest } from "../oci/digest";
import { EXIT_NOT_RETRIABLE } from "../runtime/map-chunk";
import { INDEX_LABEL, MAP_LABEL, MAX_INDEXES, mapJob, mapSecret, parseIndexes } from "./map-job";
import { RUN_CONTAINER, runJob, runSpec } from "./run-job";

const IMAGE = `r.example/a/score@${parseDigest(`sha256:${"c".repeat(64)}`, "DIGEST")}`;
const spec = runSpec(
  parseDeploymentSpec(
    `name: score\nimage: ${IMAGE}\ncontainerRegistry: ci-registry\nresources: {machineType: A100, gpu: 1, cpu: 4, memory: 16Gi}\n`,
    "score.yaml",
  ),
);
const deployment = { spec, image: IMAGE, warnings: [] };
const WORKER = ["node", "/app/node_modules/@rules_pipeline/runtime/map-worker.js"];

const job = (over: Partial<Parameters<typeof mapJob>[0]> = {}): V1Job =>
  mapJob({
    name: "map-score-abcde",
    namespace: "ml",
    deployment,
    command: WORKER,
    indexes: 40,
    parallelism: 10,
    retries: 2,
    env: { PIPELINE_MAP_STORE: "s3://b/p/", PIPELINE_MAP_PLAN: "f".repeat(64), AWS_REGION: "eu-west-1" },
    secretEnv: ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"],
    ...over,
  });

describe("a map's Indexed Job", () => {
  it("is an Indexed Job with per-index retries, no failed index allowed, and a pod failure policy", () => {
    const j = job();
    expect(j.spec).toMatchObject({
      completions: 40,
      completionMode: "Indexed",
      parallelism: 10,
      backoffLimitPerIndex: 2,
      maxFailedIndexes: 0,
      podFailurePolicy: {
        rules: [
          { action: "Ignore", onPodConditions: [{ type: "DisruptionTarget", status: "True" }] },
          {
            action: "FailIndex",
            onExitCodes: { containerName: RUN_CONTAINER, operator: "In", values: [EXIT_NOT_RETRIABLE] },
          },
        ],
      },
    });
    // backoffLimit would cap every index's retries together: with backoffLimitPerIndex it is left to Kubernetes.
    expect(j.spec!.backoffLimit).toBeUndefined();
    expect(j.spec!.template.spec!.restartPolicy).toBe("Never");
    expect(j.metadata!.labels![MAP_LABEL]).toBe("map-score-abcde");
    expect(j.spec!.template.metadata!.labels![MAP_LABEL]).toBe("map-score-abcde");
  });

  it("has the pod settings of `pipeline run --on kubernetes` (one set of pod functions), with the worker as command", () => {
    const run = runJob({ name: "map-score-abcde", namespace: "ml", deployment });
    const map = job();
    const [a, b] = [run, map].map((x) => x.spec!.template.spec!);
    for (const k of ["securityContext", "tolerations", "affinity", "imagePullSecrets", "restartPolicy"] as const)
      expect(b[k]).toEqual(a[k]);
    expect(b.containers[0].resources).toEqual(a.containers[0].resources);
    expect(b.containers[0].securityContext).toEqual(a.containers[0].securityContext);
    expect(b.containers[0].resources?.limits?.["nvidia.com/gpu"]).toBe("1");
    expect(b.containers[0].image).toBe(IMAGE);
    expect(b.containers[0].command).toEqual(WORKER);
    expect(b.containers[0].args).toEqual([]);
  });

  it("reads the credential from the call's Secret, never as a value in the Job", () => {
    const env = job().spec!.template.spec!.containers[0].env!;
    expect(env.find((e) => e.name === "AWS_REGION")).toEqual({ name: "AWS_REGION", value: "eu-west-1" });
    expect(env.find((e) => e.name === "AWS_SECRET_ACCESS_KEY")).toEqual({
      name: "AWS_SECRET_ACCESS_KEY",
      valueFrom: { secretKeyRef: { name: "map-score-abcde", key: "AWS_SECRET_ACCESS_KEY" } },
    });
    expect(env.filter((e) => e.name === "PIPELINE_IN_CONTAINER")).toHaveLength(1);
    const secret = mapSecret(job(), { AWS_SECRET_ACCESS_KEY: "s3cr3t" }, { uid: "u-1" });
    expect(secret.metadata!.ownerReferences).toEqual([
      { apiVersion: "batch/v1", kind: "Job", name: "map-score-abcde", uid: "u-1", controller: false },
    ]);
    expect(JSON.stringify(job())).not.toContain("s3cr3t");
  });

  it("is created suspended when asked; parallelism never above the indexes", () => {
    expect(job({ suspend: true }).spec!.suspend).toBe(true);
    expect(job().spec!.suspend).toBeUndefined();
    expect(job({ indexes: 3, parallelism: 10 }).spec!.parallelism).toBe(3);
  });

  it("refuses a plan of more indexes than a Job takes, naming the flag that fixes it", () => {
    const e = pipelineErrorOfSync(() => job({ indexes: MAX_INDEXES + 1 }));
    expect(e.code).toBe("E_MAP_TARGET");
    expect(e.message).toContain("--chunk-size");
    expect(e.message).toContain(String(MAX_INDEXES + 1));
  });
});

describe("parseIndexes (status.completedIndexes, status.failedIndexes)", () => {
  it("reads ranges and single indexes", () => {
    expect(parseIndexes("0-2,5,7-8", "completedIndexes", 10)).toEqual([0, 1, 2, 5, 7, 8]);
    expect(parseIndexes(undefined, "completedIndexes", 10)).toEqual([]);
    expect(parseIndexes("", "completedIndexes", 10)).toEqual([]);
  });
  it("refuses what a server should not send, naming the field", () => {
    for (const bad of ["3-1", "a", "1,,2", "0-10", "-1", "99999999999"]) {
      const e = pipelineErrorOfSync(() => parseIndexes(bad, "failedIndexes", 10));
      expect(e.code).toBe("E_K8S_API");
      expect(e.message).toContain("status.failedIndexes");
    }
  });
  it("the index label is Kubernetes' own", () => expect(INDEX_LABEL).toBe("batch.kubernetes.io/job-completion-index"));
});
