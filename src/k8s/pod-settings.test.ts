import { describe, expect, it } from "vitest";
import { numericUser } from "../deploy/resolve";
import { minimalService } from "../../test/golden/k8s/specs";
import { LABEL_VALUE, labelValue, objectLabels } from "./names";
import { containerResources, DEFAULT_RUN_AS_USER, podSecurityContext, probes, scheduling } from "./pod-settings";

describe("runAsUser: the spec's, else the image's numeric non-root user, else 65532", () => {
  const user = (over: Partial<typeof minimalService>) => podSecurityContext({ ...minimalService, ...over })?.runAsUser;
  it("picks in that order", () => {
    expect(user({})).toBe(DEFAULT_RUN_AS_USER);
    expect(user({ imageUser: 1000 })).toBe(1000);
    expect(user({ imageUser: 0 })).toBe(65532);
    expect(user({ imageUser: 1000, spec: { ...minimalService.spec, securityContext: { runAsUser: 42 } } })).toBe(42);
    expect(
      podSecurityContext({
        ...minimalService,
        spec: { ...minimalService.spec, securityContext: { restricted: false } },
      }),
    ).toBeUndefined();
  });
  it("runAsGroup: the spec's, else the user's id (never left to the image's group); fsGroup: the spec's, else that group", () => {
    const ctx = (securityContext: NonNullable<typeof minimalService.spec.securityContext>, imageUser?: number) =>
      podSecurityContext({ ...minimalService, imageUser, spec: { ...minimalService.spec, securityContext } });
    expect(ctx({})).toMatchObject({ runAsUser: 65532, runAsGroup: 65532, fsGroup: 65532 });
    expect(ctx({}, 1000)).toMatchObject({ runAsUser: 1000, runAsGroup: 1000, fsGroup: 1000 });
    expect(ctx({ runAsUser: 42, runAsGroup: 7 })).toMatchObject({ runAsUser: 42, runAsGroup: 7, fsGroup: 7 });
    expect(ctx({ runAsGroup: 7, fsGroup: 9 })).toMatchObject({ runAsGroup: 7, fsGroup: 9 });
  });
  it("numericUser reads an image config's User", () => {
    expect(["1000", "1000:50", "0", "app", "", undefined, "app:1"].map(numericUser)).toEqual([
      1000,
      1000,
      undefined,
      undefined,
      undefined,
      undefined,
      undefined,
    ]);
  });
});

describe("labels", () => {
  it("version values are made valid label values (≤ 63, [A-Za-z0-9._-], alphanumeric ends)", () => {
    const long = `v${"1.2".repeat(40)}-rc_`;
    for (const v of ["2024-06", "v1.2.3+build.7", "_latest_", long, "sha256:abc"]) {
      expect(labelValue(v)).toMatch(LABEL_VALUE);
      expect(labelValue(v).length).toBeLessThanOrEqual(63);
    }
    expect(labelValue("v1.2.3+build.7")).toBe("v1.2.3-build.7");
    expect(labelValue("_latest_")).toBe("latest");
    expect(objectLabels("app", "")).toEqual({
      "app.kubernetes.io/name": "app",
      "app.kubernetes.io/instance": "app",
      "app.kubernetes.io/managed-by": "rules_pipeline",
    });
  });
});

describe("resources and scheduling", () => {
  it("a machine type's values, each replaced by the spec's own", () => {
    expect(containerResources({ replicas: 1, instanceType: "V100-32Gx2" })).toEqual({
      requests: { cpu: "16", memory: "60Gi" },
      limits: { memory: "60Gi", "nvidia.com/gpu": "2" },
    });
    expect(
      containerResources({ replicas: 1, instanceType: "V100-32Gx2", gpu: 1, cpu: { request: "2", limit: "4" } }),
    ).toEqual({
      requests: { cpu: "2", memory: "60Gi" },
      limits: { cpu: "4", memory: "60Gi", "nvidia.com/gpu": "1" },
    });
    expect(containerResources({ replicas: 1 })).toBeUndefined();
    expect(scheduling({ replicas: 1, instanceType: "C5" }).tolerations).toBeUndefined();
    expect(scheduling({ replicas: 1, gpu: 1 })).toEqual({
      tolerations: [{ key: "nvidia.com/gpu", operator: "Exists", effect: "NoSchedule" }],
    });
    expect(scheduling({ replicas: 1, instanceType: "C5", gpu: 0 }).affinity).toBeDefined();
  });

  it("probes: TCP defaults for long-running pods with a port, none for Jobs, none when turned off", () => {
    expect(probes({ ports: [8080] }, true)).toEqual({
      readinessProbe: { tcpSocket: { port: 8080 }, periodSeconds: 10 },
      livenessProbe: { tcpSocket: { port: 8080 }, initialDelaySeconds: 10, periodSeconds: 20 },
    });
    expect(probes({ ports: [8080] }, false)).toEqual({});
    expect(probes({ ports: [] }, true)).toEqual({});
    expect(probes({ ports: [8080], probes: { readiness: false } }, true)).toEqual({
      livenessProbe: { tcpSocket: { port: 8080 }, initialDelaySeconds: 10, periodSeconds: 20 },
    });
  });
});
