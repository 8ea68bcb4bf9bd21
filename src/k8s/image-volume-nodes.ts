/**
 * `modelDelivery: imageVolume` at `--apply`: whether the cluster's nodes can mount an image volume, read from what
 * each node reports (`status.nodeInfo.kubeletVersion`, `containerRuntimeVersion`) before anything is applied.
 *  - kubelet: the `ImageVolume` feature gate is on by default from 1.35 (beta but off in 1.33-1.34, alpha in
 *    1.31-1.32, absent before): ≥ 1.35 supports it, 1.31-1.34 only with the gate (not visible from the API: a
 *    warning), older not at all;
 *  - runtime: containerd ≥ 2.2, CRI-O ≥ 1.33 — the model is mounted with `subPath: model` (its directory in the
 *    artifact), which the runtime applies: containerd 2.1 mounts image volumes but silently ignores the subPath
 *    (seen on the test cluster's containerd 2.1.9: the pod saw `<path>/model/...`; containerd #11578 added it in
 *    2.2, CRI-O in 1.33); Docker (cri-dockerd) mounts none; another runtime: a warning.
 * A node that cannot is named in a warning; when no node can, `--apply` stops with E_K8S_UNSUPPORTED before applying
 * anything (its pod would wait in ContainerCreating, or see the model under `model/` where the runtime ignores the subPath). A kubeconfig that may not list nodes (RBAC) gets a warning
 * and the apply goes on: the kubelet's own event then says what is wrong.
 * The default delivery stays `initContainer` whatever the cluster supports: a spec renders the same manifests for
 * every cluster (GitOps), and `--render` never asks one.
 */
import { PipelineError } from "../errors";
import type { K8sClient } from "./api-client";

export interface NodeVersions {
  name: string;
  kubelet: string;
  runtime: string;
}

export type Verdict = { ok: true } | { ok: false; why: string } | { ok: "unknown"; why: string };

function minor(v: string): [number, number] | undefined {
  const m = /^v?(\d+)\.(\d+)/.exec(v);
  return m ? [Number(m[1]), Number(m[2])] : undefined;
}

const atLeast = (v: [number, number], major: number, min: number) => v[0] > major || (v[0] === major && v[1] >= min);

/** Whether one node can mount image volumes, from its kubelet and runtime versions. */
export function imageVolumeVerdict(n: NodeVersions): Verdict {
  const k = minor(n.kubelet);
  if (!k) return { ok: "unknown", why: `kubelet version ${JSON.stringify(n.kubelet)} is not one this tool reads` };
  if (!atLeast(k, 1, 31)) return { ok: false, why: `kubelet ${n.kubelet} has no image volumes (Kubernetes ≥ 1.31)` };
  const [runtime, version = ""] = n.runtime.split("://");
  const r = minor(version);
  if (runtime === "docker") return { ok: false, why: `runtime ${n.runtime} (cri-dockerd) mounts no image volumes` };
  if (runtime === "containerd" && r && !atLeast(r, 2, 2))
    return {
      ok: false,
      why: `runtime ${n.runtime} ${atLeast(r, 2, 1) ? "ignores an image volume's subPath" : "mounts no image volumes"} (containerd ≥ 2.2)`,
    };
  if (runtime === "cri-o" && r && !atLeast(r, 1, 33))
    return {
      ok: false,
      why: `runtime ${n.runtime} ${atLeast(r, 1, 31) ? "ignores an image volume's subPath" : "mounts no image volumes"} (CRI-O ≥ 1.33)`,
    };
  if (!((runtime === "containerd" || runtime === "cri-o") && r))
    return { ok: "unknown", why: `runtime ${JSON.stringify(n.runtime)} is not one this tool knows` };
  if (!atLeast(k, 1, 35))
    return {
      ok: "unknown",
      why: `kubelet ${n.kubelet} mounts image volumes only with the ImageVolume feature gate on (on by default from 1.35)`,
    };
  return { ok: true };
}

/** The nodes' versions, or undefined when the kubeconfig may not list nodes. */
export async function nodeVersions(client: K8sClient): Promise<NodeVersions[] | undefined> {
  try {
    const list = await client.api.list("v1", "Node");
    return list.items.map((o) => {
      const info = (o as { status?: { nodeInfo?: { kubeletVersion?: string; containerRuntimeVersion?: string } } })
        .status?.nodeInfo;
      return {
        name: o.metadata?.name ?? "(unnamed)",
        kubelet: info?.kubeletVersion ?? "",
        runtime: info?.containerRuntimeVersion ?? "",
      };
    });
  } catch (e) {
    if ((e as { code?: unknown }).code === 403) return undefined;
    throw e;
  }
}

/**
 * Checks that the cluster's nodes (nodeVersions', at `where`) can mount the spec's models as image volumes (`field`
 * names the spec field for messages); warns about nodes that cannot or may not, fails when none can.
 */
export function checkImageVolumeNodes(
  list: readonly NodeVersions[] | undefined,
  where: string,
  field: string,
  warn: (line: string) => void,
): void {
  if (!list) {
    warn(`${field}: the kubeconfig may not list nodes (RBAC), so whether they mount image volumes was not checked`);
    return;
  }
  const verdicts = list.map((n) => ({ n, v: imageVolumeVerdict(n) }));
  if (verdicts.length && verdicts.every(({ v }) => v.ok === false))
    throw new PipelineError(
      "E_K8S_UNSUPPORTED",
      `${field}: imageVolume needs nodes that mount image volumes, and none of ${where}'s can: ${verdicts
        .map(({ n, v }) => `node ${n.name}: ${v.ok === false ? v.why : ""}`)
        .join("; ")}; use modelDelivery: initContainer`,
    );
  for (const { n, v } of verdicts)
    if (v.ok !== true)
      warn(
        `${field}: node ${n.name}: ${v.why}; a pod placed there ${v.ok === false ? "would not" : "may not"} get the model at its path`,
      );
}
