/**
 * `pipeline run --on kubernetes` and the runtime's runOnKubernetes(), minus a cluster: the Job, its pod and the
 * pod's log come from the fake API server (test/fixtures/kube-api.ts + kube-jobs.ts) over HTTPS with a
 * self-signed CA, which scripts the pod's phases (Pending → Running → Succeeded/Failed with
 * state.terminated.exitCode) and streams the log chunked with timestamps, follow and sinceTime, the way the
 * real API does. Ctrl-C and the exit code are checked on the CLI as its own process.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { run } from "../../src/cli/commands/run";
import type { RunKubernetesArgs } from "../../src/cli/commands/run-kubernetes";
import type { V1Job } from "@kubernetes/client-node";
import { resolveDeployment } from "../../src/deploy/resolve";
import { loadDeploymentSpec } from "../../src/deploy/spec";
import { renderJob } from "../../src/k8s/render";
import { runOnKubernetes } from "../../src/runtime";
import { REPO_ROOT } from "../fixtures/bazel";
import { execProgram, pipelineCli } from "../fixtures/cli";
import { pipelineErrorOf } from "../fixtures/errors";
import { type FakeKubeApi, selfSignedCert, startFakeKubeApi, fakeKubeconfig, type KubeTestIo, kubeTestIo } from "../fixtures/kube-api";

const KUBE_TOKEN = "kube-Bearer-T0ken-77aa";
const IMAGE = `registry.example.com/ml/train@sha256:${"a".repeat(64)}`;

let tmp: string;
let api: FakeKubeApi;
let tls: { key: string; cert: string };
/** Every line printed in this file, for the audit in afterAll. */
const printed: string[] = [];

type TestIo = KubeTestIo;
const makeIo = (env: Record<string, string> = {}): TestIo => kubeTestIo(tmp, env, printed);

function writeKubeconfig(server: string, caPem: string): void {
  writeFileSync(join(tmp, "kubeconfig"), fakeKubeconfig(server, caPem, KUBE_TOKEN));
}

function runK8s(a: Partial<RunKubernetesArgs>, io: TestIo) {
  return run({ on: "kubernetes", image: IMAGE, "poll-interval": 10, timeout: 2, ...a } as RunKubernetesArgs, io);
}

const created = () => api.jobs.created;
const createRequests = () => api.requests.filter((r) => r.method === "POST");

beforeAll(() => {
  tmp = mkdtempSync(join(tmpdir(), "k8s-run-"));
  mkdirSync(join(tmp, "home"));
  tls = selfSignedCert();
});

afterEach(async () => {
  await api?.stop();
});

afterAll(() => {
  // The kubeconfig's token and the registry password never appear in anything printed.
  expect(printed.length).toBeGreaterThan(0);
  expect(printed.filter((l) => l.includes(KUBE_TOKEN) || l.includes("p-Secret-9"))).toEqual([]);
  rmSync(tmp, { recursive: true, force: true });
});

async function freshApi(opts: { http?: boolean } = {}): Promise<FakeKubeApi> {
  api = await startFakeKubeApi(KUBE_TOKEN, opts.http ? {} : { tls });
  writeKubeconfig(api.url, api.caPem);
  return api;
}

describe("pipeline run --on kubernetes", () => {
  it("creates a restricted Job, streams the pod's log in order, returns exit code 0 and deletes the Job", async () => {
    await freshApi();
    const lines = Array.from({ length: 8 }, (_, i) => `step ${i} ${"x".repeat(i * 7)}`);
    api.jobs.script = { lines, exitCode: 0, pending: [{ waiting: { reason: "ContainerCreating" } }] };
    const io = makeIo();
    const res = await runK8s({ env: ["MODE=fast"], cpu: "500m", memory: "1Gi", "--": ["--epochs", "2"] }, io);
    expect(res.exitCode).toBe(0);
    expect(io.out).toEqual(lines);
    expect(createRequests()).toHaveLength(1);
    const job = createRequests()[0];
    expect(job.path).toBe("/apis/batch/v1/namespaces/ml/jobs");
    expect(job.headers.authorization).toBe(`Bearer ${KUBE_TOKEN}`);
    const [deleted] = api.jobs.deletions;
    expect(deleted).toMatchObject({ namespace: "ml", propagationPolicy: "Background" });
    expect(deleted.name).toMatch(/^train-[0-9a-z]{5}$/);
    expect(api.jobs.jobs.size).toBe(0);
    // The log was followed with timestamps, and the pods found by the run's label.
    expect(api.jobs.logRequests[0]).toMatchObject({ container: "main", follow: "true", timestamps: "true" });
    const list = api.requests.find((r) => r.method === "GET" && r.path === "/api/v1/namespaces/ml/pods")!;
    expect(list.query.labelSelector).toBe(`rules-pipeline/run=${deleted.name}`);
    expect(io.err).toContain(`Job ml/${deleted.name} deleted`);
  });

  it("over plain HTTP to a test server whose kubeconfig says insecure-skip-tls-verify", async () => {
    await freshApi({ http: true });
    api.jobs.script = { lines: ["plain"], exitCode: 0 };
    const io = makeIo();
    expect((await runK8s({}, io)).exitCode).toBe(0);
    expect(io.out).toEqual(["plain"]);
    expect(api.requests[0].headers.authorization).toBe(`Bearer ${KUBE_TOKEN}`);
  });

  it("the Job: backoffLimit 0, ttlSecondsAfterFinished, activeDeadlineSeconds, Pod Security restricted, resources, GPU toleration, args and env", async () => {
    await freshApi();
    await runK8s(
      { env: ["MODE=fast"], cpu: "2", memory: "4Gi", gpu: 1, "service-account": "trainer", "--": ["--epochs", "2"], "keep-job": true },
      makeIo(),
    );
    const [job] = created();
    expect(job.spec).toMatchObject({ backoffLimit: 0, ttlSecondsAfterFinished: 86400, activeDeadlineSeconds: 604800 });
    const pod = job.spec.template.spec;
    expect(pod).toMatchObject({
      restartPolicy: "Never",
      serviceAccountName: "trainer",
      securityContext: { runAsNonRoot: true, runAsUser: 65532, runAsGroup: 65532, fsGroup: 65532, seccompProfile: { type: "RuntimeDefault" } },
      tolerations: [{ key: "nvidia.com/gpu", operator: "Exists", effect: "NoSchedule" }],
    });
    const c = pod.containers[0];
    expect(c).toMatchObject({
      name: "main",
      image: IMAGE,
      args: ["--epochs", "2"],
      securityContext: { allowPrivilegeEscalation: false, capabilities: { drop: ["ALL"] } },
      resources: { requests: { cpu: "2", memory: "4Gi" }, limits: { cpu: "2", memory: "4Gi", "nvidia.com/gpu": "1" } },
    });
    expect(c.env).toEqual([
      { name: "MODE", value: "fast" },
      { name: "PIPELINE_IN_CONTAINER", value: "1" },
    ]);
  });

  it("returns a non-zero exit code from the pod's terminated state; --keep-job keeps the Job", async () => {
    await freshApi();
    api.jobs.script = { lines: ["loading", "boom"], exitCode: 3 };
    const io = makeIo();
    const res = await runK8s({ "keep-job": true }, io);
    expect(res.exitCode).toBe(3);
    expect(io.out).toEqual(["loading", "boom"]);
    expect(api.jobs.deletions).toEqual([]);
    expect(api.jobs.jobs.size).toBe(1);
    const name = created()[0].metadata.name;
    expect(io.err).toContain(`Job ml/${name} kept (--keep-job): kubectl delete job -n ml ${name}`);
    expect(io.err).toContain(`Job ml/${name}: the container exited with code 3`);
  });

  it("a Job deleted by someone else meanwhile is not an error: the run still ends with the container's exit code", async () => {
    await freshApi();
    api.jobs.script = { lines: Array.from({ length: 12 }, (_, i) => `l${i}`), exitCode: 4, lineIntervalMs: 20 };
    const io = makeIo();
    const removed = setTimeout(() => api.jobs.jobs.clear(), 100);
    try {
      expect((await runK8s({}, io)).exitCode).toBe(4);
    } finally {
      clearTimeout(removed);
    }
    expect(io.out).toHaveLength(12);
    expect(io.err).toContain(`Job ml/${created()[0].metadata.name} was already deleted`);
  });

  it("a dropped log stream resumes with sinceTime and prints no line twice", async () => {
    await freshApi();
    const lines = Array.from({ length: 14 }, (_, i) => `line ${i}`);
    api.jobs.script = { lines, exitCode: 0, dropAfterLines: 5, lineIntervalMs: 10 };
    const io = makeIo();
    expect((await runK8s({}, io)).exitCode).toBe(0);
    expect(io.out).toEqual(lines);
    const follows = api.jobs.logRequests.filter((q) => q.follow === "true");
    expect(follows.length).toBeGreaterThanOrEqual(2);
    expect(follows[0].sinceTime).toBeUndefined();
    expect(follows[1].sinceTime).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    expect(io.err.some((l) => /the log stream broke; resuming from/.test(l))).toBe(true);
  });

  it("403: names the verb, the resource and the namespace", async () => {
    await freshApi();
    api.jobs.forbidden.add("create jobs");
    const e = await pipelineErrorOf(runK8s({ namespace: "other" }, makeIo()));
    expect(e.code).toBe("E_K8S_FORBIDDEN");
    expect(e.message).toMatch(
      /^create jobs "train-[0-9a-z]{5}" in namespace "other": the API server at https:\/\/127\.0\.0\.1:\d+\/ \(context "fake"\) answered 403 Forbidden — the kubeconfig's user may not create jobs in namespace "other" \(RBAC\): jobs\.batch is forbidden: User "robot" cannot create resource "jobs" in API group "batch" in the namespace "other"$/,
    );
  });

  it("403 on reading the pod's log still deletes the Job", async () => {
    await freshApi();
    api.jobs.forbidden.add("get pods/log");
    const e = await pipelineErrorOf(runK8s({}, makeIo()));
    expect(e.code).toBe("E_K8S_FORBIDDEN");
    expect(e.message).toMatch(/^get pods\/log "train-[0-9a-z]{5}-[0-9a-z]{5}" in namespace "ml": .* may not get pods\/log in namespace "ml"/);
    expect(api.jobs.deletions).toHaveLength(1);
  });

  it("404: a namespace the cluster does not have", async () => {
    await freshApi();
    const e = await pipelineErrorOf(runK8s({ namespace: "nope" }, makeIo()));
    expect(e.code).toBe("E_K8S_NOT_FOUND");
    expect(e.message).toMatch(/^create jobs "train-[0-9a-z]{5}" in namespace "nope": .* answered 404 Not Found: namespaces "nope" not found$/);
  });

  it("a pod stuck in ImagePullBackOff times out naming the phase and the reason, and the Job is deleted", async () => {
    await freshApi();
    api.jobs.script = {
      pending: [
        { waiting: { reason: "ContainerCreating" } },
        { waiting: { reason: "ImagePullBackOff", message: `Back-off pulling image "${IMAGE}"` } },
      ],
      stuck: true,
    };
    const io = makeIo();
    const e = await pipelineErrorOf(runK8s({ timeout: 0.3 }, io));
    expect(e.code).toBe("E_K8S_POD_TIMEOUT");
    expect(e.message).toMatch(
      new RegExp(
        `^pod ml/train-[0-9a-z]{5}-[0-9a-z]{5} did not start within 0s \\(--timeout\\): phase Pending \\(ImagePullBackOff: Back-off pulling image "${IMAGE.replace(/[.]/g, "\\.")}"\\)$`,
      ),
    );
    expect(io.err.some((l) => /: Pending \(ContainerCreating\)$/.test(l))).toBe(true);
    expect(api.jobs.deletions).toHaveLength(1);
  });

  it("an unschedulable pod (no GPU node) times out with the scheduler's message", async () => {
    await freshApi();
    api.jobs.script = { pending: [{ unschedulable: "0/3 nodes are available: 3 Insufficient nvidia.com/gpu." }], stuck: true };
    const e = await pipelineErrorOf(runK8s({ timeout: 0.2, gpu: 2 }, makeIo()));
    expect(e.code).toBe("E_K8S_POD_TIMEOUT");
    expect(e.message).toMatch(/phase Pending \(Unschedulable: 0\/3 nodes are available: 3 Insufficient nvidia\.com\/gpu\.\)$/);
  });

  it("no pod at all times out saying so; an invalid image name fails at once", async () => {
    await freshApi();
    api.jobs.script = { noPod: true };
    const e = await pipelineErrorOf(runK8s({ timeout: 0.2 }, makeIo()));
    expect(e.code).toBe("E_K8S_POD_TIMEOUT");
    expect(e.message).toMatch(/^Job ml\/train-[0-9a-z]{5}'s pod did not start within 0s \(--timeout\): the Job controller created no pod$/);
    api.jobs.script = { pending: [{ waiting: { reason: "InvalidImageName", message: "couldn't parse image name" } }], stuck: true };
    const started = Date.now();
    const e2 = await pipelineErrorOf(runK8s({ timeout: 30 }, makeIo()));
    expect(e2.code).toBe("E_K8S_POD_FAILED");
    expect(e2.message).toMatch(/cannot start: Pending \(InvalidImageName: couldn't parse image name\)$/);
    expect(Date.now() - started).toBeLessThan(5000);
    expect(api.jobs.deletions).toHaveLength(2);
  });

  it("an unreachable API server is named with the context", async () => {
    await freshApi();
    const url = api.url;
    await api.stop();
    const e = await pipelineErrorOf(runK8s({}, makeIo()));
    expect(e.code).toBe("E_K8S_UNREACHABLE");
    expect(e.message).toBe(
      `create jobs "${e.message.match(/"(train-[0-9a-z]{5})"/)![1]}" in namespace "ml": cannot reach the Kubernetes API at ${url}/ (context "fake"): ECONNREFUSED`,
    );
  });

  it("refuses flags that make no sense on a cluster, a tag, a local layout; and Kubernetes flags without --on kubernetes", async () => {
    await freshApi();
    let e = await pipelineErrorOf(runK8s({ runtime: "runc", network: "none" }, makeIo()));
    expect(e.code).toBe("E_USAGE");
    expect(e.message).toBe(
      "--on kubernetes: --runtime, --network apply to local containers only (the cluster decides the runtime and network; use volumes in a spec instead of --mount)",
    );
    e = await pipelineErrorOf(runK8s({ image: "registry.example.com/ml/train:v1" }, makeIo()));
    expect(e.message).toBe(
      "--image registry.example.com/ml/train:v1: --on kubernetes needs the image by digest (HOST/REPO@sha256:...), so the pod runs exactly the pushed bytes",
    );
    e = await pipelineErrorOf(runK8s({ image: `oci:${tmp}` }, makeIo()));
    expect(e.message).toMatch(/an OCI layout on this machine cannot be pulled by a cluster/);
    e = await pipelineErrorOf(run({ image: IMAGE, "keep-job": true, namespace: "ml" } as RunKubernetesArgs, makeIo()));
    expect(e.message).toBe("--keep-job, --namespace go with --on kubernetes (got --on local)");
    e = await pipelineErrorOf(runK8s({ cpu: "two" }, makeIo()));
    expect(e.message).toBe('--cpu: expected a Kubernetes CPU quantity such as "2" or "500m", got "two"');
    expect(createRequests()).toEqual([]);
  });

  it("SPEC: its image, command, args, env (SECRET: values as secretKeyRefs) and registry credential", async () => {
    await freshApi();
    writeFileSync(
      join(tmp, "spec.yaml"),
      `name: trainer
image: ${IMAGE}
containerRegistry: ci-registry
command: [node, train.js]
args: [--epochs, "1"]
env:
  - {name: MODE, value: slow}
  - {name: API_TOKEN, value: "SECRET:api_token"}
`,
    );
    const io = makeIo({ PIPELINE_SECRET_CI_REGISTRY: JSON.stringify({ username: "u", password: "p-Secret-9" }) });
    expect((await runK8s({ image: undefined, spec: "spec.yaml", env: ["MODE=fast"] }, io)).exitCode).toBe(0);
    const [job] = created();
    expect(job.metadata.name).toMatch(/^trainer-[0-9a-z]{5}$/);
    expect(job.spec.template.spec.imagePullSecrets).toEqual([{ name: "rp-registry-ci-registry" }]);
    const c = job.spec.template.spec.containers[0];
    expect(c).toMatchObject({ image: IMAGE, command: ["node", "train.js"], args: ["--epochs", "1"] });
    expect(c.env).toEqual([
      { name: "MODE", value: "fast" },
      { name: "API_TOKEN", valueFrom: { secretKeyRef: { name: expect.stringMatching(/^rp-secret-api-token-[0-9a-f]{8}$/), key: "value" } } },
      { name: "PIPELINE_IN_CONTAINER", value: "1" },
    ]);
    expect(io.err.join("\n")).toMatch(/env API_TOKEN: read from the Secrets rp-secret-api-token-[0-9a-f]{8}/);
    expect(io.err.join("\n")).not.toMatch(/p-Secret-9/);
  });

  it("SPEC with a machineType: the machine's requests and preferred node affinity, the pod settings `deploy --job` renders", async () => {
    await freshApi();
    const specPath = join(tmp, "gpu.yaml");
    writeFileSync(specPath, `name: gpu-train\nimage: ${IMAGE}\nport: 9090\nprobes: {liveness: {tcp: 9090}}\nresources: {machineType: A100-80Gx2}\n`);
    expect((await runK8s({ image: undefined, spec: "gpu.yaml" }, makeIo())).exitCode).toBe(0);
    const [job] = created();
    const pod = job.spec.template.spec;
    expect(pod.containers[0].resources).toEqual({ requests: { cpu: "24", memory: "180Gi" }, limits: { memory: "180Gi", "nvidia.com/gpu": "2" } });
    expect(pod.affinity).toEqual({
      nodeAffinity: {
        preferredDuringSchedulingIgnoredDuringExecution: [
          { weight: 100, preference: { matchExpressions: [{ key: "node.kubernetes.io/instance-type", operator: "In", values: ["A100-80Gx2"] }] } },
        ],
      },
    });
    expect(pod.tolerations).toEqual([{ key: "nvidia.com/gpu", operator: "Exists", effect: "NoSchedule" }]);
    // The same spec rendered by `pipeline deploy SPEC --job`: the same pod settings; the run leaves the probe out.
    const rendered = renderJob(await resolveDeployment(loadDeploymentSpec(specPath), { env: makeIo().env, warn: () => {} }), {
      namespace: "ml",
    }).find((o) => o.kind === "Job") as V1Job;
    const renderedPod = rendered.spec!.template.spec!;
    for (const k of ["securityContext", "tolerations", "affinity", "imagePullSecrets", "restartPolicy"] as const)
      expect(pod[k], k).toEqual(renderedPod[k]);
    for (const k of ["resources", "securityContext", "ports"] as const) expect(pod.containers[0][k], k).toEqual(renderedPod.containers[0][k]);
    expect(renderedPod.containers[0].livenessProbe).toEqual({ tcpSocket: { port: 9090 } });
    expect(pod.containers[0].livenessProbe).toBeUndefined();
    expect({ ttl: job.spec.ttlSecondsAfterFinished, deadline: job.spec.activeDeadlineSeconds }).toEqual({
      ttl: rendered.spec!.ttlSecondsAfterFinished,
      deadline: rendered.spec!.activeDeadlineSeconds,
    });
  });

  it("SPEC with models or repositories points to deploy --apply --job", async () => {
    await freshApi();
    writeFileSync(
      join(tmp, "models.yaml"),
      `name: m\nimage: ${IMAGE}\nmodels:\n  - {id: registry.example.com/models/x@sha256:${"b".repeat(64)}, path: /opt/models}\n`,
    );
    const e = await pipelineErrorOf(runK8s({ image: undefined, spec: "models.yaml" }, makeIo()));
    expect(e.message).toBe(
      `${join(tmp, "models.yaml")}: models need init containers, which --on kubernetes does not run: use \`pipeline deploy models.yaml --apply --job\``,
    );
  });
});

describe("as a process", () => {
  it("Ctrl-C deletes the Job (even with --keep-job) and exits 130", async () => {
    await freshApi();
    api.jobs.script = { lines: ["epoch 1"], runForever: true };
    const cli = await pipelineCli();
    const child = spawn(process.execPath, [cli, "run", "--on", "kubernetes", "--image", IMAGE, "--keep-job", "--poll-interval", "10"], {
      env: { PATH: process.env.PATH, HOME: join(tmp, "home"), KUBECONFIG: join(tmp, "kubeconfig") },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stderr!.on("data", (d) => (stderr += d));
    const exit = new Promise<number | null>((resolve) => child.on("close", (code) => resolve(code)));
    await Promise.race([
      exit,
      new Promise<void>((resolve) =>
        child.stdout!.on("data", (d) => {
          stdout += d;
          if (stdout.includes("epoch 1\n")) resolve();
        }),
      ),
    ]);
    expect(child.exitCode, stderr).toBeNull();
    child.kill("SIGINT");
    expect(await exit).toBe(130);
    expect(api.jobs.deletions).toHaveLength(1);
    expect(api.jobs.deletions[0].propagationPolicy).toBe("Background");
    expect(api.jobs.jobs.size).toBe(0);
    expect(stderr).toMatch(/SIGINT: deleting Job ml\/train-[0-9a-z]{5}/);
    expect(stderr).toMatch(/Job ml\/train-[0-9a-z]{5} deleted/);
  }, 30_000);

  it("runOnKubernetes() from a launch script resolves to the container's exit code", async () => {
    await freshApi();
    api.jobs.script = { lines: ["from the pod"], exitCode: 7 };
    const cli = await pipelineCli();
    const code = await runOnKubernetes({
      args: ["a"],
      memory: "256Mi",
      processEnv: {
        PATH: process.env.PATH,
        HOME: join(tmp, "home"),
        KUBECONFIG: join(tmp, "kubeconfig"),
        PIPELINE_CONTAINER_IMAGE: IMAGE,
        PIPELINE_CLI: cli,
        PIPELINE_CLI_NODE: process.execPath,
      },
    });
    expect(code).toBe(7);
    const [c] = api.jobs.deletions;
    expect(c.name).toMatch(/^train-/);
    const job = createRequests()[0];
    expect(job.status).toBe(201);
  }, 30_000);

  it("examples/hello's launch script: PIPELINE_TARGET=kubernetes runs it as a Job; a bad value names the variable", async () => {
    await freshApi();
    api.jobs.script = { lines: ["HELLO FROM THE POD"], exitCode: 0 };
    // The launch script as Bazel would run it, minus Bazel: bundled with the runtime library it imports (lodash,
    // which Bazel fetches for the example, is a stand-in: the kubernetes path does not call it).
    const script = join(tmp, "hello-main.js");
    const lodash = join(tmp, "lodash-stand-in.js");
    writeFileSync(lodash, "exports.sum = (a) => a.reduce((x, y) => x + y, 0);\nexports.startCase = (s) => s;\n");
    const esbuild = await execProgram(join(REPO_ROOT, "node_modules", ".bin", "esbuild"), [
      join(REPO_ROOT, "examples", "hello", "main.ts"),
      "--bundle",
      "--platform=node",
      "--target=node20",
      "--log-level=error",
      `--alias:@rules_pipeline/runtime=${join(REPO_ROOT, "src", "runtime", "index.ts")}`,
      `--alias:lodash=${lodash}`,
      `--outfile=${script}`,
    ]);
    expect(esbuild.code, esbuild.stderr).toBe(0);
    const env = {
      PATH: process.env.PATH,
      HOME: join(tmp, "home"),
      KUBECONFIG: join(tmp, "kubeconfig"),
      PIPELINE_CONTAINER_IMAGE: IMAGE,
      PIPELINE_CLI: await pipelineCli(),
      PIPELINE_CLI_NODE: process.execPath,
    };
    const r = await execProgram(process.execPath, [script, "4", "5"], { env: { ...env, PIPELINE_TARGET: "kubernetes", HELLO_NAMESPACE: "other" } });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe(`container image: ${IMAGE} (on Kubernetes)\nHELLO FROM THE POD\n`);
    const [job] = created();
    expect(job.metadata.namespace).toBe("other");
    expect(job.spec.template.spec.containers[0]).toMatchObject({ args: ["4", "5"], resources: { limits: { cpu: "250m", memory: "256Mi" } } });
    expect(api.jobs.deletions).toHaveLength(1);
    const bad = await execProgram(process.execPath, [script], { env: { ...env, PIPELINE_TARGET: "cloud" } });
    expect(bad.code).toBe(1);
    expect(bad.stderr).toBe('hello: PIPELINE_TARGET: expected one of inprocess, container, kubernetes, got "cloud"\n');
  }, 60_000);
});
