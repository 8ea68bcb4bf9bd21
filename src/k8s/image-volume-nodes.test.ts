import { describe, expect, it } from "vitest";
import { pipelineErrorOfSync } from "../../test/fixtures/errors";
import { checkImageVolumeNodes, imageVolumeVerdict, type NodeVersions } from "./image-volume-nodes";

const node = (kubelet: string, runtime: string, name = "n1"): NodeVersions => ({ name, kubelet, runtime });

describe("imageVolumeVerdict: what a node's kubelet and runtime versions say", () => {
  it.each([
    ["v1.36.3", "containerd://2.2.1", true],
    ["v1.35.0", "cri-o://1.35.1", true],
    ["v1.36.3", "containerd://2.1.9", false], // the test cluster's: it ignores the subPath (test/e2e/k8s-real-deploy.test.ts)
    ["v1.36.0", "cri-o://1.32.0", false],
    ["v1.36.0", "containerd://2.0.5", false],
    ["v1.36.0", "containerd://1.7.27", false],
    ["v1.36.0", "cri-o://1.30.4", false],
    ["v1.36.0", "docker://28.0.1", false],
    ["v1.30.9", "containerd://2.2.0", false],
    ["v1.33.2", "containerd://2.2.0", "unknown"], // beta, off by default: the gate is not visible from the API
    ["v1.36.0", "remote://1.0", "unknown"],
    ["", "containerd://2.2.0", "unknown"],
  ])("kubelet %j, runtime %j: %j", (kubelet, runtime, ok) => {
    expect(imageVolumeVerdict(node(kubelet, runtime)).ok).toBe(ok);
  });
});

describe("checkImageVolumeNodes", () => {
  it("fails naming each node and why when none can mount image volumes; warns about the ones that cannot", () => {
    const warned: string[] = [];
    const e = pipelineErrorOfSync(() =>
      checkImageVolumeNodes(
        [node("v1.36.0", "containerd://1.7.27", "a"), node("v1.30.1", "cri-o://1.30.0", "b")],
        'https://k8s:6443 (context "c")',
        "modelDelivery",
        (l) => warned.push(l),
      ),
    );
    expect(e.code).toBe("E_K8S_UNSUPPORTED");
    expect(e.message).toBe(
      'modelDelivery: imageVolume needs nodes that mount image volumes, and none of https://k8s:6443 (context "c")\'s can: node a: runtime containerd://1.7.27 mounts no image volumes (containerd ≥ 2.2); node b: kubelet v1.30.1 has no image volumes (Kubernetes ≥ 1.31); use modelDelivery: initContainer',
    );
    checkImageVolumeNodes(
      [
        node("v1.36.0", "containerd://2.2.0", "ok"),
        node("v1.36.0", "docker://28.0.1", "old"),
        node("v1.34.0", "containerd://2.2.0", "gate"),
      ],
      "w",
      "modelDelivery",
      (l) => warned.push(l),
    );
    expect(warned).toEqual([
      "modelDelivery: node old: runtime docker://28.0.1 (cri-dockerd) mounts no image volumes; a pod placed there would not get the model at its path",
      "modelDelivery: node gate: kubelet v1.34.0 mounts image volumes only with the ImageVolume feature gate on (on by default from 1.35); a pod placed there may not get the model at its path",
    ]);
  });

  it("a kubeconfig that may not list nodes: a warning, and the apply goes on", () => {
    const warned: string[] = [];
    checkImageVolumeNodes(undefined, "w", "modelDelivery", (l) => warned.push(l));
    expect(warned).toEqual([
      "modelDelivery: the kubeconfig may not list nodes (RBAC), so whether they mount image volumes was not checked",
    ]);
  });
});
