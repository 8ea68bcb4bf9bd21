import { describe, expect, it } from "vitest";
import { deploymentState, jobState } from "./rollout";

describe("deploymentState (kubectl rollout status rules)", () => {
  const d = (status: object, replicas = 3, generation = 2) => ({
    metadata: { generation },
    spec: { replicas, selector: {}, template: {} },
    status,
  });
  it("waits for the new generation to be observed", () => {
    expect(
      deploymentState(d({ observedGeneration: 1, updatedReplicas: 3, availableReplicas: 3, replicas: 3 })),
    ).toEqual({
      done: false,
      status: "waiting for the controller to observe the new spec",
    });
    // The generation the apply returned wins over a stale read.
    expect(
      deploymentState(d({ observedGeneration: 2, updatedReplicas: 3, availableReplicas: 3, replicas: 3 }), 3).done,
    ).toBe(false);
  });
  it("counts updated, old and available replicas", () => {
    expect(deploymentState(d({ observedGeneration: 2, updatedReplicas: 1, replicas: 4 }))).toMatchObject({
      status: "1 of 3 new replicas updated",
    });
    expect(
      deploymentState(d({ observedGeneration: 2, updatedReplicas: 3, replicas: 4, availableReplicas: 3 })),
    ).toMatchObject({
      status: "1 old replicas pending termination",
    });
    expect(
      deploymentState(d({ observedGeneration: 2, updatedReplicas: 3, replicas: 3, availableReplicas: 2 })),
    ).toMatchObject({
      status: "2 of 3 updated replicas available",
    });
    expect(
      deploymentState(d({ observedGeneration: 2, updatedReplicas: 3, replicas: 3, availableReplicas: 3 })),
    ).toEqual({ done: true });
  });
  it("fails on ProgressDeadlineExceeded", () => {
    const s = deploymentState(
      d({
        observedGeneration: 2,
        conditions: [
          { type: "Progressing", status: "False", reason: "ProgressDeadlineExceeded", message: "timed out" },
        ],
      }),
    );
    expect(s).toMatchObject({ done: false, failed: "progress deadline exceeded: timed out" });
  });
});

describe("jobState", () => {
  const j = (status: object) => ({ spec: { completions: 2, backoffLimit: 0, template: {} }, status });
  it("reports progress, completion and failure", () => {
    expect(jobState(j({ active: 2 }))).toEqual({ done: false, status: "0 of 2 pods succeeded, 2 running, 0 failed" });
    expect(jobState(j({ succeeded: 2 }))).toEqual({ done: true });
    expect(jobState(j({ conditions: [{ type: "Complete", status: "True" }] }))).toEqual({ done: true });
    expect(jobState(j({ failed: 1, active: 1 }))).toMatchObject({ failed: "1 pod(s) failed" });
    expect(jobState(j({ conditions: [{ type: "Failed", status: "True", reason: "DeadlineExceeded" }] }))).toMatchObject(
      {
        failed: "DeadlineExceeded",
      },
    );
  });
});
