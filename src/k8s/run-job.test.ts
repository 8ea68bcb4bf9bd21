import { describe, expect, it } from "vitest";
import type { V1Job } from "@kubernetes/client-node";
import { parseDeploymentSpec } from "../deploy/spec";
import type { DeploymentSpec, ResolvedDeployment } from "../deploy/types";
import { pipelineErrorOfSync } from "../../test/fixtures/errors";
import { renderJob } from "./render";
import { imageSpec, RUN_CONTAINER, RUN_LABEL, runJob, runJobName, type RunOverrides, runSpec } from "./run-job";
import { parseDigest } from "../oci/digest";

const DIGEST = parseDigest(`sha256:${"c".repeat(64)}`, "DIGEST");
const IMAGE = `r.example/a/train@${DIGEST}`;

const resolved = (spec: DeploymentSpec): ResolvedDeployment => ({ spec, image: IMAGE, warnings: [] });
const specOf = (extra: string) => parseDeploymentSpec(`name: train\nimage: ${IMAGE}\n${extra}`, "train.yaml");

/** The Job `pipeline deploy SPEC --job` renders. */
const rendered = (spec: DeploymentSpec) =>
  renderJob(resolved(spec), { namespace: "ml" }).find((o): o is V1Job => o.kind === "Job")!;
/** The Job `pipeline run --on kubernetes SPEC` creates (run-kubernetes.ts: runSpec, then runJob). */
const ran = (spec: DeploymentSpec, flags: RunOverrides = {}, serviceAccount?: string) =>
  runJob({ name: "train-abcde", namespace: "ml", deployment: resolved(runSpec(spec, flags)), serviceAccount });

/** The pod settings both must agree on. */
function podSettings(job: V1Job) {
  const pod = job.spec!.template.spec!;
  const main = pod.containers[0];
  return {
    resources: main.resources,
    containerSecurityContext: main.securityContext,
    securityContext: pod.securityContext,
    tolerations: pod.tolerations,
    affinity: pod.affinity,
    imagePullSecrets: pod.imagePullSecrets,
    initContainers: pod.initContainers,
    restartPolicy: pod.restartPolicy,
    job: {
      backoffLimit: job.spec!.backoffLimit,
      ttl: job.spec!.ttlSecondsAfterFinished,
      deadline: job.spec!.activeDeadlineSeconds,
    },
  };
}

const GPU_MACHINE = "containerRegistry: ci-registry\nresources: {machineType: A100, gpu: 1, cpu: 4, memory: 16Gi}\n";
const A100_AFFINITY = {
  nodeAffinity: {
    preferredDuringSchedulingIgnoredDuringExecution: [
      {
        weight: 100,
        preference: {
          matchExpressions: [{ key: "node.kubernetes.io/instance-type", operator: "In", values: ["A100"] }],
        },
      },
    ],
  },
};

describe("the run's Job and the rendered Job have the same pod settings", () => {
  it("gpu, machine type, cpu/memory, registry credential; restricted by default", () => {
    const spec = specOf(GPU_MACHINE);
    const run = podSettings(ran(spec));
    expect(run).toEqual(podSettings(rendered(spec)));
    // Not equal by both being empty:
    expect(run).toMatchObject({
      resources: { requests: { cpu: "4", memory: "16Gi" }, limits: { memory: "16Gi", "nvidia.com/gpu": "1" } },
      containerSecurityContext: { allowPrivilegeEscalation: false, capabilities: { drop: ["ALL"] } },
      securityContext: {
        runAsNonRoot: true,
        runAsUser: 65532,
        fsGroup: 65532,
        seccompProfile: { type: "RuntimeDefault" },
      },
      tolerations: [{ key: "nvidia.com/gpu", operator: "Exists", effect: "NoSchedule" }],
      affinity: A100_AFFINITY,
      imagePullSecrets: [{ name: "rp-registry-ci-registry" }],
      restartPolicy: "Never",
      job: { backoffLimit: 0, ttl: 86400, deadline: 604800 },
    });
  });

  it("restricted: false (no securityContext), a machine type's own cpu/memory, the spec's runAsUser and job timing", () => {
    for (const extra of [
      `${GPU_MACHINE}securityContext: {restricted: false}\n`,
      "resources: {machineType: A100}\nsecurityContext: {runAsUser: 1000, runAsGroup: 2000}\njob: {ttlSecondsAfterFinished: 60, activeDeadlineSeconds: 7200}\n",
      "resources: {instanceType: C5, gpu: 2}\n",
    ]) {
      const spec = specOf(extra);
      expect(podSettings(ran(spec)), extra).toEqual(podSettings(rendered(spec)));
    }
    const unrestricted = podSettings(ran(specOf(`${GPU_MACHINE}securityContext: {restricted: false}\n`)));
    expect(unrestricted.securityContext).toBeUndefined();
    expect(unrestricted.containerSecurityContext).toBeUndefined();
    expect(podSettings(ran(specOf("resources: {machineType: A100}\n"))).resources).toEqual({
      requests: { cpu: "12", memory: "90Gi" },
      limits: { memory: "90Gi", "nvidia.com/gpu": "1" },
    });
  });

  it("flags are the spec fields of the same name: --machine-type, --gpu, --cpu, --memory, --no-restricted, --run-as-user, --ttl-seconds", () => {
    const fromFlags = (flags: RunOverrides) =>
      ran(imageSpec("train", { kind: "ContainerAtDigest", repository: "r.example/a/train", digest: DIGEST }), flags);
    expect(podSettings(fromFlags({ machineType: "A100", gpu: 1, restricted: false }))).toEqual(
      podSettings(rendered(specOf("resources: {machineType: A100, gpu: 1}\nsecurityContext: {restricted: false}\n"))),
    );
    expect(podSettings(fromFlags({ cpu: "2", memory: "4Gi", runAsUser: 1000, ttlSecondsAfterFinished: 60 }))).toEqual(
      podSettings(
        rendered(
          specOf(
            "resources: {cpu: {request: 2, limit: 2}, memory: 4Gi}\nsecurityContext: {runAsUser: 1000}\njob: {ttlSecondsAfterFinished: 60}\n",
          ),
        ),
      ),
    );
    // A flag replaces the spec's value; --no-restricted drops the spec's user too (no securityContext at all).
    const spec = specOf(`${GPU_MACHINE}securityContext: {runAsUser: 1000}\n`);
    expect(podSettings(ran(spec, { machineType: "C5", cpu: "1", restricted: false }))).toMatchObject({
      resources: {
        requests: { cpu: "1", memory: "16Gi" },
        limits: { cpu: "1", memory: "16Gi", "nvidia.com/gpu": "1" },
      },
      securityContext: undefined,
      affinity: {
        nodeAffinity: {
          preferredDuringSchedulingIgnoredDuringExecution: [{ preference: { matchExpressions: [{ values: ["C5"] }] } }],
        },
      },
    });
  });
});

describe("what makes it a run", () => {
  it("a name of its own, the run label, the main container, PIPELINE_IN_CONTAINER, the service account; no probes", () => {
    const spec = specOf(
      "port: 8080\nprobes: {liveness: {tcp: 8080}}\nenv: [{name: MODE, value: slow}, {name: TOKEN, value: 'SECRET:api_token'}]\n",
    );
    expect(rendered(spec).spec!.template.spec!.containers[0].livenessProbe).toEqual({ tcpSocket: { port: 8080 } });
    const job = ran(spec, { env: { MODE: "fast", EXTRA: "1" }, args: ["--epochs", "2"] }, "trainer");
    expect(job.metadata).toMatchObject({
      name: "train-abcde",
      namespace: "ml",
      labels: { [RUN_LABEL]: "train-abcde", "app.kubernetes.io/name": "train" },
    });
    expect(job.spec!.template.metadata!.labels).toMatchObject({ [RUN_LABEL]: "train-abcde" });
    const pod = job.spec!.template.spec!;
    expect(pod.serviceAccountName).toBe("trainer");
    const main = pod.containers[0];
    expect(main).toMatchObject({ name: RUN_CONTAINER, image: IMAGE, args: ["--epochs", "2"] });
    expect(main.livenessProbe).toBeUndefined();
    expect(main.readinessProbe).toBeUndefined();
    expect(main.env).toEqual([
      { name: "MODE", value: "fast" },
      {
        name: "TOKEN",
        valueFrom: { secretKeyRef: { name: expect.stringMatching(/^rp-secret-api-token-[0-9a-f]{8}$/), key: "value" } },
      },
      { name: "EXTRA", value: "1" },
      { name: "PIPELINE_IN_CONTAINER", value: "1" },
      { name: "PORT", value: "8080" },
    ]);
  });

  it("names: a DNS label of at most 46 characters with a random suffix", () => {
    expect(runJobName("My_Pipeline.v2", () => "abcde")).toBe("my-pipeline-v2-abcde");
    expect(runJobName("9-lives", () => "abcde")).toBe("lives-abcde");
    expect(runJobName("___", () => "abcde")).toBe("run-abcde");
    expect(runJobName("x".repeat(80), () => "abcde")).toHaveLength(46);
    expect(runJobName("a")).not.toBe(runJobName("a"));
  });

  it("bad flag values name the flag and the value", () => {
    const spec = specOf("");
    for (const [flags, message] of [
      [{ memory: "4GB" }, '--memory: expected a Kubernetes memory quantity such as "4Gi" or "512Mi", got "4GB"'],
      [{ gpu: 1.5 }, "--gpu: expected a whole number of GPUs >= 0, got 1.5"],
      [{ cpu: "-1" }, '--cpu: expected a Kubernetes CPU quantity such as "2" or "500m", got "-1"'],
      [{ cpu: "0" }, '--cpu: expected a Kubernetes CPU quantity such as "2" or "500m", got "0"'],
      [{ runAsUser: 0 }, "--run-as-user: expected a non-root user id (an integer >= 1), got 0"],
      [{ ttlSecondsAfterFinished: -1 }, "--ttl-seconds: expected whole seconds >= 0, got -1"],
      [{ machineType: "g5.xlarge" }, /^--machine-type: unknown machine type; known: C3, C4, .*, got "g5\.xlarge"$/],
      [
        { restricted: false, runAsUser: 1000 },
        /^--run-as-user: a pod that is not restricted .* runs as the image's user, got 1000$/,
      ],
    ] as const) {
      const err = pipelineErrorOfSync(() => runSpec(spec, flags));
      expect(err.code).toBe("E_K8S_RUN_OPTION");
      expect(err.exitCode).toBe(2);
      if (typeof message === "string") expect(err.message).toBe(message);
      else expect(err.message).toMatch(message);
    }
    expect(
      pipelineErrorOfSync(() => runSpec(specOf("securityContext: {restricted: false}\n"), { runAsUser: 1000 })).message,
    ).toMatch(/^--run-as-user: a pod that is not restricted/);
  });
});
