/**
 * The API-server rules of test/fixtures/k8s-checks.ts can fail: each rule, broken on purpose in a rendered
 * manifest, is reported; and Jobs rendered from different specs never collide on their immutable fields.
 */
import { describe, expect, it } from "vitest";
import { apiServerProblems, jobUpdateProblems } from "../../test/fixtures/k8s-checks";
import { fullExample, pipelineJob } from "../../test/golden/k8s/specs";
import { manifestsFor } from "./render-output";
import { renderDeployment, renderJob } from "./render";

type Obj = Record<string, any>;
const copy = <T>(o: T): T => JSON.parse(JSON.stringify(o));

function deploymentSet(): Obj[] {
  return copy(manifestsFor(renderDeployment(fullExample, { namespace: "ml" }), "reference", {}).objects) as Obj[];
}

describe("k8s-checks: each rule reports a broken object", () => {
  const cases: [string, (objects: Obj[]) => void, RegExp][] = [
    ["a long name", (o) => (o[0].metadata.name = "x".repeat(254)), /name .* is not a DNS-1123 subdomain/],
    ["a Service name with a dot", (o) => (o[1].metadata.name = "infer.ence"), /is not a DNS-1035 label/],
    [
      "a label value with a slash",
      (o) => (o[0].metadata.labels["app.kubernetes.io/version"] = "v1/2"),
      /is not a valid label value/,
    ],
    [
      "a label value of 64 characters",
      (o) => (o[0].spec.template.metadata.labels["app.kubernetes.io/version"] = "a".repeat(64)),
      /template: label app.kubernetes.io\/version value/,
    ],
    [
      "a selector the template does not match",
      (o) => (o[0].spec.selector.matchLabels["app.kubernetes.io/name"] = "other"),
      /does not match the template's labels/,
    ],
    [
      "a Service selector matching no pod",
      (o) => (o[1].spec.selector = { app: "none" }),
      /matches no rendered pod template/,
    ],
    [
      "a port name like p-8080 is fine, p--8080 is not",
      (o) => (o[1].spec.ports[0].name = "p--8080"),
      /is not an IANA service name/,
    ],
    [
      "a port name longer than 15",
      (o) => (o[1].spec.ports[0].name = "http-metrics-port"),
      /is not an IANA service name/,
    ],
    [
      "a mount of an undeclared volume",
      (o) => o[0].spec.template.spec.containers[0].volumeMounts.push({ name: "ghost", mountPath: "/g" }),
      /mounts undeclared volume ghost/,
    ],
    [
      "a secret reference neither rendered nor named",
      (o) => (o[0].spec.template.metadata.annotations = {}),
      /refers to Secret rp-registry-example-registry, neither rendered nor named/,
    ],
    [
      "privilege escalation under restricted",
      (o) => (o[0].spec.template.spec.containers[0].securityContext.allowPrivilegeEscalation = true),
      /allowPrivilegeEscalation must be false/,
    ],
    [
      "root under restricted",
      (o) => (o[0].spec.template.spec.securityContext.runAsUser = 0),
      /runAsNonRoot must be true and runAsUser non-zero/,
    ],
    [
      "a memory limit below its request",
      (o) => (o[0].spec.template.spec.containers[0].resources.limits.memory = "1Gi"),
      /memory limit 1Gi is below its request 32Gi/,
    ],
    [
      "a GPU as a request only",
      (o) => {
        const r = o[0].spec.template.spec.containers[0].resources;
        r.requests["nvidia.com/gpu"] = "1";
        delete r.limits["nvidia.com/gpu"];
      },
      /extended resource nvidia.com\/gpu must be given as a limit/,
    ],
    [
      "a probe on an undeclared port",
      (o) => (o[0].spec.template.spec.containers[0].livenessProbe.tcpSocket.port = 7777),
      /probe port 7777 is not a declared containerPort/,
    ],
    [
      "a dockerconfigjson Secret without its key",
      (o) =>
        o.unshift({
          apiVersion: "v1",
          kind: "Secret",
          metadata: { name: "rp-registry-x" },
          type: "kubernetes.io/dockerconfigjson",
          data: { other: "e30=" },
        }),
      /requires data\[\.dockerconfigjson\]/,
    ],
  ];
  it("the unbroken set passes", () => expect(apiServerProblems(deploymentSet())).toEqual([]));
  for (const [name, breakIt, problem] of cases) {
    it(name, () => {
      const objects = deploymentSet();
      breakIt(objects);
      expect(apiServerProblems(objects).join("\n")).toMatch(problem);
    });
  }

  it("Jobs: restartPolicy, Indexed without completions", () => {
    const [job] = copy(manifestsFor(renderJob(pipelineJob, { namespace: "ml" }), "reference", {}).objects) as Obj[];
    expect(apiServerProblems([job])).toEqual([]);
    job.spec.template.spec.restartPolicy = "Always";
    delete job.spec.completions;
    const problems = apiServerProblems([job]).join("\n");
    expect(problems).toMatch(/restartPolicy must be Never or OnFailure/);
    expect(problems).toMatch(/completionMode Indexed needs completions/);
  });
});

describe("Jobs: immutable fields never collide under one name", () => {
  const job = (r: typeof pipelineJob) => renderJob(r, { namespace: "ml" }).find((o) => o.kind === "Job")!;
  it("replicas 2 → 3, 1, a new ttl: each either renames the Job or changes only mutable fields", () => {
    const base = job(pipelineJob);
    const variants = [
      { ...pipelineJob, spec: { ...pipelineJob.spec, resources: { ...pipelineJob.spec.resources, replicas: 3 } } },
      { ...pipelineJob, spec: { ...pipelineJob.spec, resources: { ...pipelineJob.spec.resources, replicas: 1 } } },
      { ...pipelineJob, spec: { ...pipelineJob.spec, job: { ttlSecondsAfterFinished: 5, activeDeadlineSeconds: 60 } } },
      { ...pipelineJob, spec: { ...pipelineJob.spec, env: [{ name: "A", value: "b" }] } },
    ];
    for (const v of variants) expect(jobUpdateProblems(base, job(v))).toEqual([]);
    expect(job(variants[2]).metadata!.name).toBe(base.metadata!.name);
    expect(job(variants[0]).metadata!.name).not.toBe(base.metadata!.name);
    // The check itself fails for a same-named Job with another template.
    const clash = copy(base) as Obj;
    clash.spec.completions = 5;
    expect(jobUpdateProblems(base, clash)).toEqual([`Job ${base.metadata!.name}: field spec.completions is immutable`]);
  });
});
