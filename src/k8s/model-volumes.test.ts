import { describe, expect, it } from "vitest";
import { Deployment } from "kubernetes-models/apps/v1";
import type { V1PodSpec } from "@kubernetes/client-node";
import type { ResolvedDeployment } from "../deploy/types";
import { DIGEST, fullExample, pipelineJob } from "../../test/golden/k8s/specs";
import { apiServerProblems } from "../../test/fixtures/k8s-checks";
import { pipelineErrorOf } from "../../test/fixtures/errors";
import { manifestsFor } from "./render-output";
import { renderDeployment, renderJob } from "./render";

const M1 = `registry.example.com/models/resnet50@sha256:${"1".repeat(64)}`;
const M2 = `models.example.org/embeddings@sha256:${"2".repeat(64)}`;

function withModels(base: ResolvedDeployment, models: { id: string; path: string }[]): ResolvedDeployment {
  const spec = { ...base.spec, models, modelDelivery: "imageVolume" as const };
  delete spec.modelCache;
  return { ...base, spec };
}

function podOf(objects: { kind?: string; spec?: unknown }[]): V1PodSpec {
  const w = objects.find((o) => o.kind === "Deployment" || o.kind === "Job") as {
    spec: { template: { spec: V1PodSpec } };
  };
  return w.spec.template.spec;
}

describe("modelDelivery: imageVolume", () => {
  it("each model is an image volume by digest, mounted read-only at its path; no init container, no emptyDir", () => {
    const r = withModels(fullExample, [
      { id: M1, path: "/opt/models" },
      { id: M2, path: "/opt/embeddings" },
    ]);
    const objects = renderDeployment(r, { namespace: "ml" });
    const pod = podOf(objects);
    expect(pod.volumes?.filter((v) => v.name.startsWith("model"))).toEqual([
      { name: "model-0", image: { reference: M1, pullPolicy: "IfNotPresent" } },
      { name: "model-1", image: { reference: M2, pullPolicy: "IfNotPresent" } },
    ]);
    expect(pod.containers[0].volumeMounts?.filter((m) => m.name.startsWith("model"))).toEqual([
      { name: "model-0", mountPath: "/opt/models", subPath: "model", readOnly: true },
      { name: "model-1", mountPath: "/opt/embeddings", subPath: "model", readOnly: true },
    ]);
    // fullExample clones two repositories: their clones are the only init containers left.
    expect(pod.initContainers?.map((c) => c.name)).toEqual(["clone-0", "clone-1"]);
    expect(pod.volumes?.some((v) => v.emptyDir && v.name.startsWith("models-"))).toBe(false);
    expect(pod.volumes?.some((v) => v.persistentVolumeClaim)).toBe(false);
    // The kubelet pulls the models with the pod's pull secret; its placeholder names their registries.
    expect(pod.imagePullSecrets).toEqual([{ name: "rp-registry-example-registry" }]);
    const filled = manifestsFor(
      objects,
      "fill",
      {
        env: {
          PIPELINE_SECRET_EXAMPLE_REGISTRY: JSON.stringify({ username: "u", password: "p" }),
          PIPELINE_SECRET_GIT_TOKEN: "t",
          PIPELINE_SECRET_INFERENCE_API_TOKEN: "t",
          PIPELINE_SECRET_EXAMPLE_GIT: "t",
        },
      },
      "spec.yaml",
    );
    const secret = filled.objects.find((o) => o.metadata?.name === "rp-registry-example-registry") as {
      data: Record<string, string>;
    };
    const auths = Object.keys(
      JSON.parse(Buffer.from(secret.data[".dockerconfigjson"], "base64").toString()).auths as object,
    );
    expect(auths).toEqual(expect.arrayContaining(["registry.example.com", "models.example.org"]));
    // Valid for the Kubernetes schema and for what the API server checks.
    new Deployment(objects.find((o) => o.kind === "Deployment") as never).validate();
    expect(apiServerProblems(filled.objects)).toEqual([]);
  });

  it("a Job gets the same volumes; absent or initContainer keeps the init container", () => {
    const job = podOf(renderJob(withModels(pipelineJob, [{ id: M1, path: "/opt/models" }]), { namespace: "ml" }));
    expect(job.volumes?.find((v) => v.name === "model-0")).toEqual({
      name: "model-0",
      image: { reference: M1, pullPolicy: "IfNotPresent" },
    });
    expect(job.initContainers?.some((c) => c.name.startsWith("model-"))).toBe(false);
    for (const delivery of [undefined, "initContainer"] as const) {
      const r = { ...pipelineJob, spec: { ...pipelineJob.spec, modelDelivery: delivery } };
      const pod = podOf(renderJob(r, { namespace: "ml" }));
      expect(pod.initContainers?.map((c) => c.name)).toContain("model-0");
      expect(pod.volumes?.some((v) => v.image)).toBe(false);
    }
  });

  it("refuses a model by tag and two models at one path, naming the field", async () => {
    const render = (models: { id: string; path: string }[]) =>
      pipelineErrorOf(
        Promise.resolve().then(() => renderDeployment(withModels(fullExample, models), { namespace: "ml" })),
      );
    const tag = await render([{ id: "registry.example.com/models/resnet50:v2", path: "/opt/models" }]);
    expect(tag.code).toBe("E_K8S_UNRESOLVED");
    expect(tag.message).toMatch(
      /^models\[0\]\.id: "registry\.example\.com\/models\/resnet50:v2" is a tag; an image volume needs the model by digest/,
    );
    const shared = await render([
      { id: M1, path: "/opt/models" },
      { id: `registry.example.com/models/tok@${DIGEST}`, path: "/opt/models" },
    ]);
    expect(shared.code).toBe("E_K8S_SPEC");
    expect(shared.message).toMatch(
      /^models\[1\]\.path: "\/opt\/models" is also models\[0\]\.path; with modelDelivery: imageVolume/,
    );
  });
});
