import { describe, expect, it } from "vitest";
import { parseDeploymentSpec } from "../deploy/spec";
import { localRunSettings } from "./cluster-fields";

const IMG = "image: registry.example.com/team/app@sha256:" + "a".repeat(64) + "\n";

describe("localRunSettings", () => {
  it("the machine type's memory is a limit; its cpu request, GPUs and affinity are ignored", () => {
    const s = localRunSettings(parseDeploymentSpec(`${IMG}resources: {instanceType: A4000}\n`, "s.yaml"), true);
    expect(s.cgroup).toEqual({ memoryBytes: 45 * 2 ** 30 });
    expect(s.ignored).toEqual(["resources.instanceType (its node affinity and cpu request and GPUs)"]);
  });

  it("an explicit cpu limit and memory request/limit; the user from runAsUser", () => {
    const s = localRunSettings(
      parseDeploymentSpec(
        `${IMG}resources: {cpu: {limit: 250m}, memory: {request: 1Gi, limit: 2Gi}}\nsecurityContext: {restricted: true, runAsUser: 1000}\n`,
        "s.yaml",
      ),
      true,
    );
    expect(s.cgroup).toEqual({ memoryBytes: 2 * 2 ** 30, cpus: 0.25 });
    expect(s.user).toEqual({ uid: 1000, gid: 1000 });
    expect(s.ignored).toEqual([
      "resources.memory.request",
      "securityContext (restricted: seccomp and dropped capabilities)",
    ]);
  });

  it("host runs (no container) honour none of it", () => {
    const s = localRunSettings(
      parseDeploymentSpec(`${IMG}resources: {memory: 1Gi}\nsecurityContext: {runAsUser: 7}\n`, "s.yaml"),
      false,
    );
    expect(s.cgroup).toBeUndefined();
    expect(s.ignored).toContain("resources.memory (no container)");
    expect(s.ignored).toContain("securityContext.runAsUser (no container)");
  });

  it("nothing to say for a spec without cluster fields", () => {
    expect(localRunSettings(parseDeploymentSpec(IMG, "s.yaml"), true)).toEqual({ ignored: [] });
  });
});
