/**
 * `modelDelivery: imageVolume`: each model is an `image` volume of the pod (KEP-4639), pulled by digest and cached
 * by the node's container runtime, mounted read-only at the model's path — no init container, no emptyDir, no copy.
 * Private model registries are pulled with the pod's `imagePullSecrets` (pod.ts renders them from
 * `containerRegistry`), as the kubelet uses them for image volumes too.
 */
import type { V1Volume, V1VolumeMount } from "@kubernetes/client-node";
import type { DeploymentSpec } from "../deploy/types";
import { PipelineError } from "../errors";
import { MODEL_ROOT_TITLE } from "../weights/artifact";
import { parseReference } from "../oci/reference";
import { registryHosts } from "./secret-objects";

export interface ModelVolumes {
  volumes: V1Volume[];
  mounts: V1VolumeMount[];
  /** The spec field of each mount, for messages. */
  fields: string[];
  /** The models' registries (docker config keys): the pod's pull secret must hold credentials for them. */
  hosts: string[];
}

/** The volumes and the main container's mounts of a spec's models delivered as image volumes. */
export function modelImageVolumes(models: DeploymentSpec["models"]): ModelVolumes {
  const out: ModelVolumes = { volumes: [], mounts: [], fields: [], hosts: [] };
  const byPath = new Map<string, number>();
  models.forEach((m, i) => {
    const field = `models[${i}]`;
    const ref = parseReference(m.id, `${field}.id`);
    if (!ref.digest) {
      // A tag could name other bytes on each node that pulls it: every replica must mount the same model.
      throw new PipelineError(
        "E_K8S_UNRESOLVED",
        `${field}.id: ${JSON.stringify(m.id)} is a tag; an image volume needs the model by digest — resolve the spec first (pipeline deploy resolves tags when it can reach the registry)`,
      );
    }
    const other = byPath.get(m.path);
    if (other !== undefined) {
      // The init container merges models at one path into one directory; two volumes cannot share a mount point.
      throw new PipelineError(
        "E_K8S_SPEC",
        `${field}.path: ${JSON.stringify(m.path)} is also models[${other}].path; with modelDelivery: imageVolume each model is a volume of its own and needs its own path (or use modelDelivery: initContainer)`,
      );
    }
    byPath.set(m.path, i);
    const name = `model-${i}`;
    out.volumes.push({ name, image: { reference: m.id, pullPolicy: "IfNotPresent" } });
    // The model's files live under its directory layer's title (model/), as `oras pull` writes them: the same
    // sub-directory the init-container path mounts, so the container sees the same files at the same path.
    out.mounts.push({ name, mountPath: m.path, subPath: MODEL_ROOT_TITLE, readOnly: true });
    out.fields.push(`${field}.path`);
    for (const h of registryHosts(m.id)) if (!out.hosts.includes(h)) out.hosts.push(h);
  });
  return out;
}
