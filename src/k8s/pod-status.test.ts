import { describe, expect, it } from "vitest";
import { podSituation } from "./pod-status";

// Statuses shaped as the kubelet reports them (the real-cluster tests see them too: test/e2e/k8s-real-deploy.test.ts).
const crashingInit = {
  name: "clone-0",
  state: {
    waiting: {
      reason: "CrashLoopBackOff",
      message: "back-off 10s restarting failed container=clone-0 pod=web-abc_ns(uid)",
    },
  },
  lastState: { terminated: { exitCode: 128, reason: "Error" } },
};

describe("podSituation", () => {
  it("names an init container that keeps crashing, with its last exit, before the containers waiting on it", () => {
    const pod = {
      status: {
        phase: "Pending",
        initContainerStatuses: [
          { name: "model-0", state: { terminated: { exitCode: 0, reason: "Completed" } } },
          crashingInit,
        ],
        containerStatuses: [{ name: "web", state: { waiting: { reason: "PodInitializing" } } }],
      },
    };
    expect(podSituation(pod)).toEqual({
      text: "Pending (init container clone-0: CrashLoopBackOff: back-off 10s restarting failed container=clone-0 pod=web-abc_ns(uid) (last exit code 128))",
      fatal: false,
    });
  });

  it("an init container that failed for good (restartPolicy Never), with the kubelet's reason and message", () => {
    const pod = {
      status: {
        phase: "Failed",
        initContainerStatuses: [
          { name: "code", state: { terminated: { exitCode: 137, reason: "OOMKilled", message: "out of memory" } } },
        ],
      },
    };
    expect(podSituation(pod).text).toBe(
      "Failed (init container code: failed with exit code 137, OOMKilled: out of memory)",
    );
    // Any exit code but 0 is a failure, the most common one (1) included; 0 is an init container that is done.
    const exited = (exitCode: number) => ({
      status: {
        phase: "Pending",
        initContainerStatuses: [
          { name: "clone-0", state: { terminated: { exitCode, reason: exitCode ? "Error" : "Completed" } } },
        ],
      },
    });
    expect(podSituation(exited(1)).text).toBe("Pending (init container clone-0: failed with exit code 1)");
    expect(podSituation(exited(0)).text).toBe("Pending");
  });

  it("an init container still at work, or at work again after a crash", () => {
    const running = (extra: object) => ({
      status: { phase: "Pending", initContainerStatuses: [{ name: "model-0", state: { running: {} }, ...extra }] },
    });
    expect(podSituation(running({})).text).toBe("Pending (init container model-0: running)");
    expect(
      podSituation(
        running({ restartCount: 2, lastState: { terminated: { exitCode: 1, message: "oras: not found\n" } } }),
      ).text,
    ).toBe("Pending (init container model-0: running after 2 restart(s) (last exit code 1: oras: not found))");
  });

  it("a run's own container only, by name; a fatal reason says so", () => {
    const pod = {
      status: {
        phase: "Pending",
        containerStatuses: [
          { name: "sidecar", state: { waiting: { reason: "ImagePullBackOff" } } },
          { name: "main", state: { waiting: { reason: "InvalidImageName", message: "couldn't parse image name" } } },
        ],
      },
    };
    expect(podSituation(pod, "main")).toEqual({
      text: "Pending (InvalidImageName: couldn't parse image name)",
      fatal: true,
    });
    expect(podSituation(pod).text).toBe("Pending (container sidecar: ImagePullBackOff)");
  });

  it("the scheduler's reason, then readiness; nothing to say is the phase alone", () => {
    const unscheduled = {
      status: {
        phase: "Pending",
        conditions: [
          { type: "PodScheduled", status: "False", reason: "Unschedulable", message: "0/1 nodes are available" },
        ],
      },
    };
    expect(podSituation(unscheduled).text).toBe("Pending (Unschedulable: 0/1 nodes are available)");
    const unready = {
      status: {
        phase: "Running",
        conditions: [
          {
            type: "Ready",
            status: "False",
            reason: "ContainersNotReady",
            message: "containers with unready status: [web]",
          },
        ],
        containerStatuses: [{ name: "web", state: { running: {} } }],
      },
    };
    expect(podSituation(unready).text).toBe(
      "Running, not ready (ContainersNotReady: containers with unready status: [web])",
    );
    expect(podSituation({ status: { phase: "Running" } }).text).toBe("Running");
    expect(podSituation(undefined).text).toBe("no pod created yet");
  });
});
