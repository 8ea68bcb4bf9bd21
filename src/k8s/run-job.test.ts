import { describe, expect, it } from "vitest";
import { PipelineError } from "../errors";
import { runJob, runJobName } from "./run-job";

const IMAGE = `r.example/a/b@sha256:${"c".repeat(64)}`;

describe("runJob", () => {
  it("names: a DNS label of at most 46 characters with a random suffix", () => {
    expect(runJobName("My_Pipeline.v2", () => "abcde")).toBe("my-pipeline-v2-abcde");
    expect(runJobName("9-lives", () => "abcde")).toBe("lives-abcde");
    expect(runJobName("___", () => "abcde")).toBe("run-abcde");
    expect(runJobName("x".repeat(80), () => "abcde")).toHaveLength(46);
    expect(runJobName("a")).not.toBe(runJobName("a"));
  });

  it("no resources: no resources field and no toleration; runAsUser can be set, never to root", () => {
    const job = runJob({ name: "a-abcde", namespace: "ns", image: IMAGE, runAsUser: 1000, ttlSecondsAfterFinished: 0 });
    expect(job.spec.ttlSecondsAfterFinished).toBe(0);
    expect(job.spec.template.spec.securityContext.runAsUser).toBe(1000);
    expect(job.spec.template.spec.tolerations).toBeUndefined();
    expect(job.spec.template.spec.containers[0].resources).toBeUndefined();
    expect(() => runJob({ name: "a", namespace: "ns", image: IMAGE, runAsUser: 0 })).toThrow(/runAsUser: expected a non-root user id \(an integer >= 1\), got 0/);
  });

  it("bad quantities name the field and the value", () => {
    for (const [resources, message] of [
      [{ memory: "4GB" }, 'memory: expected a Kubernetes memory quantity such as "4Gi" or "512Mi", got "4GB"'],
      [{ gpu: 1.5 }, "gpu: expected a whole number of GPUs >= 0, got 1.5"],
      [{ cpu: "-1" }, 'cpu: expected a Kubernetes CPU quantity such as "2" or "500m", got "-1"'],
    ] as const) {
      let err: unknown;
      try {
        runJob({ name: "a", namespace: "ns", image: IMAGE, resources });
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(PipelineError);
      expect((err as PipelineError).code).toBe("E_K8S_RUN_OPTION");
      expect((err as PipelineError).message).toBe(message);
    }
  });
});
