import { describe, expect, it, test } from "vitest";
import { type BadSpecCase, expectOneSpecIssue } from "../../test/fixtures/spec-errors";
import { parseDeploymentSpec } from "./spec";

const FILE = "deploy.yaml";
const IMG = "image: registry.example.com/team/app:v1\n";

describe("cluster fields: a valid spec", () => {
  it("reads probes, resources, securityContext, job, modelCache, initImages", () => {
    const spec = parseDeploymentSpec(
      `${IMG}port: 8080
probes:
  readiness: {http: /ready, periodSeconds: 5}
  liveness: none
resources: {replicas: 3, machineType: A100-80Gx2, cpu: 4, memory: {request: 8Gi, limit: 16Gi}, gpu: 1}
securityContext: {runAsUser: 1000, fsGroup: 2000}
job: {ttlSecondsAfterFinished: 60, activeDeadlineSeconds: 3600}
modelCache: shared-models
initImages: {git: "mirror.example.com/git@sha256:${"a".repeat(64)}"}
`,
      FILE,
    );
    expect(spec.probes).toEqual({
      readiness: { kind: "http", path: "/ready", port: 8080, periodSeconds: 5 },
      liveness: false,
    });
    expect(spec.resources).toEqual({
      replicas: 3,
      instanceType: "A100-80Gx2",
      cpu: { request: "4" },
      memory: { request: "8Gi", limit: "16Gi" },
      gpu: 1,
    });
    expect(spec.securityContext).toEqual({ runAsUser: 1000, fsGroup: 2000 });
    expect(spec.job).toEqual({ ttlSecondsAfterFinished: 60, activeDeadlineSeconds: 3600 });
    expect(spec.modelCache).toBe("shared-models");
    expect(spec.initImages).toEqual({ git: `mirror.example.com/git@sha256:${"a".repeat(64)}` });
    // Absent: the init container (the renderer's default); no field is made up.
    expect(spec.modelDelivery).toBeUndefined();
  });

  it("modelDelivery: imageVolume or initContainer, kept as given", () => {
    for (const d of ["imageVolume", "initContainer"] as const) {
      expect(parseDeploymentSpec(`${IMG}modelDelivery: ${d}\n`, FILE).modelDelivery).toBe(d);
    }
    // initContainer keeps working with a cache.
    const cached = parseDeploymentSpec(`${IMG}modelDelivery: initContainer\nmodelCache: m\n`, FILE);
    expect(cached.modelCache).toBe("m");
  });

  it("a scalar memory is request and limit; a scalar cpu is a request; tcp probes; restricted: false", () => {
    const spec = parseDeploymentSpec(
      `${IMG}resources: {cpu: 500m, memory: 2Gi}\nprobes: {liveness: {tcp: 9000}}\nsecurityContext: {restricted: false}\n`,
      FILE,
    );
    expect(spec.resources).toEqual({ replicas: 1, cpu: { request: "500m" }, memory: { request: "2Gi", limit: "2Gi" } });
    expect(spec.probes).toEqual({ liveness: { kind: "tcp", port: 9000 } });
    expect(spec.securityContext).toEqual({ restricted: false });
  });
});

const BAD: BadSpecCase[] = [
  {
    name: "unknown machine type",
    text: `${IMG}resources:\n  instanceType: A100-80G-x2\n`,
    path: "resources.instanceType",
    line: 3,
    got: '"A100-80G-x2"',
    problem: /unknown machine type \(did you mean "A100-80Gx2"\?\)/,
  },
  {
    name: "an AWS name is not a Gradient machine",
    text: `${IMG}resources: {machineType: g5.xlarge}\n`,
    path: "resources.machineType",
    line: 2,
    got: '"g5.xlarge"',
    problem: /unknown machine type; known: C3, C4/,
  },
  {
    name: "bad cpu quantity",
    text: `${IMG}resources: {cpu: two}\n`,
    path: "resources.cpu",
    line: 2,
    got: '"two"',
    problem: /Kubernetes quantity/,
  },
  {
    name: "zero memory",
    text: `${IMG}resources:\n  memory: {limit: 0}\n`,
    path: "resources.memory.limit",
    line: 3,
    got: "0",
    problem: /positive Kubernetes quantity/,
  },
  {
    name: "negative gpu",
    text: `${IMG}resources: {gpu: -1}\n`,
    path: "resources.gpu",
    line: 2,
    got: "-1",
    problem: /number of GPUs/,
  },
  {
    name: "probe with http and tcp",
    text: `${IMG}port: 80\nprobes:\n  readiness: {http: /, tcp: 80}\n`,
    path: "probes.readiness",
    line: 4,
    got: "both",
    problem: /exactly one of "http"/,
  },
  {
    name: "probe path without a slash",
    text: `${IMG}port: 80\nprobes: {liveness: {http: healthz}}\n`,
    path: "probes.liveness.http",
    line: 3,
    got: '"healthz"',
    problem: /starting with '\/'/,
  },
  {
    name: "http probe with no port anywhere",
    text: `${IMG}probes:\n  readiness: {http: /ready}\n`,
    path: "probes.readiness",
    line: 3,
    problem: /needs a port/,
  },
  {
    name: "unknown probe field",
    text: `${IMG}probes: {readiness: {tcp: 80, period: 5}}\n`,
    path: "probes.readiness.period",
    line: 2,
    problem: /unknown field \(did you mean "periodSeconds"\?\)/,
  },
  {
    name: "root under restricted",
    text: `${IMG}securityContext:\n  runAsUser: 0\n`,
    path: "securityContext.runAsUser",
    line: 3,
    got: "0",
    problem: /root \(0\) cannot run under Pod Security restricted/,
  },
  {
    name: "restricted not a boolean",
    text: `${IMG}securityContext: {restricted: no-thanks}\n`,
    path: "securityContext.restricted",
    line: 2,
    got: '"no-thanks"',
    problem: /true or false/,
  },
  {
    name: "ttl negative",
    text: `${IMG}job: {ttlSecondsAfterFinished: -1}\n`,
    path: "job.ttlSecondsAfterFinished",
    line: 2,
    got: "-1",
    problem: /seconds/,
  },
  {
    name: "model cache not a PVC name",
    text: `${IMG}modelCache: My_Cache\n`,
    path: "modelCache",
    line: 2,
    got: '"My_Cache"',
    problem: /PersistentVolumeClaim/,
  },
  {
    name: "model delivery not a known one",
    text: `${IMG}modelDelivery: imagevolume\n`,
    path: "modelDelivery",
    line: 2,
    got: '"imagevolume"',
    problem: /initContainer.*imageVolume/,
  },
  {
    name: "imageVolume with modelCache: both fields named",
    text: `${IMG}modelCache: shared-models\nmodelDelivery: imageVolume\n`,
    path: "modelDelivery",
    line: 3,
    got: '"imageVolume"',
    problem: /^imageVolume does not go with modelCache: .*drop modelCache/,
  },
  {
    name: "init image by tag",
    text: `${IMG}initImages:\n  oras: ghcr.io/oras-project/oras:v1.2.3\n`,
    path: "initImages.oras",
    line: 3,
    got: '"ghcr.io/oras-project/oras:v1.2.3"',
    problem: /by digest/,
  },
];

describe("cluster fields: each error names the file, line, path and value", () => {
  test.each(BAD.map((c) => [c.name, c] as const))("%s", (_, c) => {
    expectOneSpecIssue(c, FILE);
  });
});
