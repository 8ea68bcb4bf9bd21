import { describe, expect, it } from "vitest";
import type { V1Job, V1Role, V1RoleBinding } from "@kubernetes/client-node";
import { parseDeploymentSpec } from "../deploy/spec";
import { pipelineErrorOfSync } from "../../test/fixtures/errors";
import { parseDigest } from "../oci/digest";
import { EXIT_NOT_RETRIABLE } from "../runtime/map-chunk";
import { clusterJob, parseTemplate } from "../runtime/map-cluster";
import {
  INDEX_LABEL,
  MAP_LABEL,
  MAX_INDEXES,
  mapJob,
  mapSecret,
  parseIndexes,
  renderMappingJob,
  withMapTemplate,
} from "./map-job";
import { renderJob } from "./render";
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

/** The map's Job a run's pod makes from its PIPELINE_MAP_JOB (3 indexes unless told). */
function fromRunPod(over: Partial<Parameters<typeof clusterJob>[0]>): V1Job {
  const j = withMapTemplate(runJob({ name: "score-x1y2z", namespace: "ml", deployment }), {
    deployment,
  });
  const { job: template, namespace } = parseTemplate(
    j.spec!.template.spec!.containers[0].env!.find((e) => e.name === "PIPELINE_MAP_JOB")!.value,
  );
  return clusterJob({
    template,
    namespace,
    indexes: 3,
    parallelism: 1,
    retries: 0,
    env: {},
    ...over,
  }) as unknown as V1Job;
}

describe("a run's pod made able to map (withMapTemplate, the runtime's clusterJob)", () => {
  const withSecret = runSpec(
    parseDeploymentSpec(
      `name: score\nimage: ${IMAGE}\nenv: [{name: AWS_ACCESS_KEY_ID, value: "SECRET:s3-id"}, {name: PIPELINE_TARGET, value: inprocess}]\nresources: {cpu: 2}\n`,
      "score.yaml",
    ),
  );
  const run = () => runJob({ name: "score-x1y2z", namespace: "ml", deployment, serviceAccount: "mapper" });

  it("gives the run's container the map's Job, its own name and uid, and PIPELINE_TARGET=kubernetes", () => {
    const j = withMapTemplate(run(), { deployment });
    const env = j.spec!.template.spec!.containers[0].env!;
    const value = (n: string) => env.find((e) => e.name === n);
    expect(value("PIPELINE_TARGET")?.value).toBe("kubernetes");
    expect(value("PIPELINE_POD_NAME")?.valueFrom).toEqual({ fieldRef: { fieldPath: "metadata.name" } });
    expect(value("PIPELINE_POD_UID")?.valueFrom).toEqual({ fieldRef: { fieldPath: "metadata.uid" } });
    const { job: template, image, namespace } = parseTemplate(value("PIPELINE_MAP_JOB")!.value);
    expect([image, namespace]).toEqual([IMAGE, "ml"]);
    // The template is mapJob's for the same deployment (name aside), with none of the run's own variables.
    const made = clusterJob(
      {
        template,
        namespace,
        owner: { name: "score-x1y2z-0-abcde", uid: "u-1" },
        indexes: 40,
        parallelism: 10,
        retries: 2,
        env: { PIPELINE_MAP_STORE: "s3://b/p/", PIPELINE_MAP_PLAN: "f".repeat(64), AWS_REGION: "eu-west-1" },
      },
      "abcde",
    ) as unknown as V1Job;
    const name = "map-score-x1y2z-abcde";
    const expected = job({ name, secretEnv: [] });
    expect(made.spec).toEqual(expected.spec);
    expect(made.metadata).toEqual({
      ...expected.metadata,
      ownerReferences: [{ apiVersion: "v1", kind: "Pod", name: "score-x1y2z-0-abcde", uid: "u-1", controller: false }],
    });
    const mapEnv = made.spec!.template.spec!.containers[0].env!.map((e) => e.name);
    for (const own of ["PIPELINE_MAP_JOB", "PIPELINE_POD_NAME", "PIPELINE_POD_UID", "PIPELINE_TARGET"])
      expect(mapEnv).not.toContain(own);
    // The map's pods run as the namespace's default ServiceAccount, not the run's (which may create Jobs).
    expect(made.spec!.template.spec!.serviceAccountName).toBeUndefined();
  });

  it("keeps a PIPELINE_TARGET the run sets, and the spec's secrets as secretKeyRefs in the map's pods", () => {
    const d = { spec: withSecret, image: IMAGE, warnings: [] };
    const j = withMapTemplate(runJob({ name: "score-x1y2z", namespace: "ml", deployment: d }), {
      deployment: d,
    });
    const env = j.spec!.template.spec!.containers[0].env!;
    expect(env.filter((e) => e.name === "PIPELINE_TARGET").map((e) => e.value)).toEqual(["inprocess"]);
    const { job: template } = parseTemplate(env.find((e) => e.name === "PIPELINE_MAP_JOB")!.value);
    const mapEnv = (template as unknown as V1Job).spec!.template.spec!.containers[0].env!;
    expect(mapEnv.find((e) => e.name === "AWS_ACCESS_KEY_ID")?.valueFrom?.secretKeyRef?.name).toBe("rp-secret-s3-id");
    expect((template as unknown as V1Job).spec!.template.spec!.containers[0].resources?.requests?.cpu).toBe("2");
  });

  it("clusterJob sets per-call resources (request = limit) and a GPU limit", () => {
    const made = fromRunPod({ parallelism: 10, resources: { cpu: "500m", memory: "1Gi", gpu: 2 } });
    const r = made.spec!.template.spec!.containers[0].resources!;
    expect(r.requests).toMatchObject({ cpu: "500m", memory: "1Gi" });
    expect(r.limits).toMatchObject({ cpu: "500m", memory: "1Gi", "nvidia.com/gpu": "2" });
    expect(made.spec!.parallelism).toBe(3);
    expect(made.metadata!.name).toMatch(/^map-score-x1y2z-[0-9a-f]{5}$/);
  });

  it("parseTemplate refuses what a pod of another version or a hand-edited variable holds, naming the variable", () => {
    for (const bad of [undefined, "{", '{"kind":"Pod"}', JSON.stringify({ apiVersion: "batch/v1", kind: "Job" })])
      expect(() => parseTemplate(bad)).toThrow(/PIPELINE_MAP_JOB/);
  });
});

describe("a map's Job in a Kueue LocalQueue", () => {
  it("carries kueue.x-k8s.io/queue-name and is created suspended (Kueue starts it)", () => {
    const j = job({ queue: "team-a" });
    expect(j.metadata!.labels!["kueue.x-k8s.io/queue-name"]).toBe("team-a");
    expect(j.spec!.suspend).toBe(true);
    expect(job().metadata!.labels!["kueue.x-k8s.io/queue-name"]).toBeUndefined();
  });

  it("refuses a name that is not a LocalQueue's, naming the flag and the value", () => {
    const e = pipelineErrorOfSync(() => job({ queue: "Team A" }));
    expect(e.code).toBe("E_MAP_TARGET");
    expect(e.message).toBe(
      `--queue: expected a LocalQueue name (lower-case letters, digits, '-' and '.', at most 63), got "Team A"`,
    );
  });

  it("from inside a pod too (clusterJob)", () => {
    const made = fromRunPod({ queue: "team-a" });
    expect(made.metadata!.labels!["kueue.x-k8s.io/queue-name"]).toBe("team-a");
    expect(made.spec!.suspend).toBe(true);
  });
});

describe("deploy --job of a spec with artifacts (renderMappingJob)", () => {
  const mapping = parseDeploymentSpec(
    `name: score\nimage: ${IMAGE}\nartifacts: {s3: {bucket: acme-maps, accessKeyId: "SECRET:s3-id", secretAccessKey: "SECRET:s3-key"}}\n`,
    "score.yaml",
  );
  const d = { spec: mapping, image: IMAGE, warnings: [] };

  it("renders a ServiceAccount that may create, get and delete Jobs and nothing more, before the Job that runs as it", () => {
    const objects = renderMappingJob(d, { namespace: "ml" });
    expect(objects.map((o) => `${o.kind}/${o.metadata?.name}`)).toEqual([
      "Secret/rp-secret-s3-id",
      "Secret/rp-secret-s3-key",
      "ServiceAccount/score-maps",
      "Role/score-maps",
      "RoleBinding/score-maps",
      expect.stringMatching(/^Job\/score-[0-9a-f]+$/),
    ]);
    const [role, binding, job] = objects.slice(3) as [V1Role, V1RoleBinding, V1Job];
    expect(role.rules).toEqual([{ apiGroups: ["batch"], resources: ["jobs"], verbs: ["create", "get", "delete"] }]);
    expect(binding.roleRef).toEqual({ apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: "score-maps" });
    expect(binding.subjects).toEqual([{ kind: "ServiceAccount", name: "score-maps", namespace: "ml" }]);
    const pod = job.spec!.template.spec!;
    expect(pod.serviceAccountName).toBe("score-maps");
    const env = pod.containers[0].env!;
    expect(env.find((e) => e.name === "PIPELINE_TARGET")?.value).toBe("kubernetes");
    expect(env.find((e) => e.name === "PIPELINE_IN_CONTAINER")?.value).toBe("1");
    expect(env.find((e) => e.name === "PIPELINE_ARTIFACTS")?.value).toBe("s3://acme-maps/");
    const { job: template } = parseTemplate(env.find((e) => e.name === "PIPELINE_MAP_JOB")!.value);
    const mapPod = (template as unknown as V1Job).spec!.template.spec!;
    // The map's pods: the same credential's Secrets, the namespace's default ServiceAccount.
    expect(mapPod.serviceAccountName).toBeUndefined();
    expect(mapPod.containers[0].env!.find((e) => e.name === "AWS_ACCESS_KEY_ID")?.valueFrom?.secretKeyRef?.name).toBe(
      "rp-secret-s3-id",
    );
  });

  it("renders what renderJob does for a spec without artifacts", () => {
    expect(renderMappingJob(deployment, { namespace: "ml" })).toEqual(renderJob(deployment, { namespace: "ml" }));
  });
});
