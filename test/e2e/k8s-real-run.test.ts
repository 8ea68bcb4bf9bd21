/**
 * `pipeline run --on kubernetes SPEC` on a real cluster (scripts/k8s-cluster.sh): the image (host-Node base +
 * test/fixtures/runner-app.ts) is pushed to a real registry that demands a password; the pull secret is created
 * from the same credential (`pipeline deploy SPEC --secrets-only --apply`); the Job runs in a namespace labelled
 * pod-security.kubernetes.io/enforce=restricted, so the API server's PodSecurity admission checks the pod; the
 * kubelet pulls `registry/run/app@sha256:…` through containerd; the pod's log streams back; the container's exit
 * code is the run's. What a real cluster makes go wrong, on demand: a digest the registry lacks (ImagePullBackOff),
 * a pod no node can take (Unschedulable), a ResourceQuota that leaves the Job without a pod, a namespace that does
 * not exist (404), a ServiceAccount's token with too little RBAC (403), a Job deleted meanwhile. Then the
 * launch-script path, runOnKubernetes(), and Ctrl-C on the CLI as its own process. No fake server here
 * (`pipeline deploy` on a real cluster: k8s-real-deploy.test.ts).
 */
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { explicitKeychain } from "../../src/registry-auth/static";
import { deploy } from "../../src/cli/commands/deploy";
import { run } from "../../src/cli/commands/run";
import type { RunKubernetesArgs } from "../../src/cli/commands/run-kubernetes";
import type { V1Job } from "@kubernetes/client-node";
import { resolveDeployment } from "../../src/deploy/resolve";
import { loadDeploymentSpec } from "../../src/deploy/spec";
import { renderJob } from "../../src/k8s/render";
import { runOnKubernetes } from "../../src/runtime";
import { pipelineCli } from "../fixtures/cli";
import { pipelineErrorOf } from "../fixtures/errors";
import { BUILD_WAIT_MS, clusterForFile, type FileCluster } from "../fixtures/k8s-cluster";
import { type RunningRegistry, startRegistry } from "../fixtures/registry";
import { buildRunnerApp, captureIo, type RunnerApp } from "../fixtures/runner-app";

const USER = "k8s-puller";
const PASSWORD = "k8s-Pull-Secret-7f3a";
const NS = "restricted-runs";

let tmp: string;
let reg: RunningRegistry;
let cluster: FileCluster;
let app: RunnerApp;

function ioFor() {
  return captureIo(tmp, {
    KUBECONFIG: cluster.kubeconfig,
    PIPELINE_SECRET_TEST_REGISTRY: JSON.stringify({ username: USER, password: PASSWORD }),
  });
}

function writeSpec(name: string, extra = ""): string {
  const file = join(tmp, `${name}.yaml`);
  writeFileSync(file, `name: ${name}\nimage: ${app.ref}\n${extra}`);
  return file;
}

function runK8s(spec: string, args: string[], more: Partial<RunKubernetesArgs> = {}) {
  const c = ioFor();
  const result = run(
    {
      on: "kubernetes",
      spec,
      namespace: NS,
      timeout: 120,
      "poll-interval": 500,
      insecure: true,
      "--": args,
      ...more,
    } as RunKubernetesArgs,
    c.io,
  );
  return { ...c, result };
}

beforeAll(async () => {
  tmp = mkdtempSync(join(tmpdir(), "k8s-real-run-"));
  mkdirSync(join(tmp, "app"));
  reg = await startRegistry({ htpasswd: { user: USER, password: PASSWORD } });
  app = await buildRunnerApp(join(tmp, "app"), reg, explicitKeychain(reg.host, { username: USER, password: PASSWORD }));
  cluster = await clusterForFile(inject("k8sCluster"));
  // containerd talks plain HTTP to a loopback registry only when its hosts.toml says so.
  mkdirSync(join(cluster.certsDir, reg.host), { recursive: true });
  writeFileSync(
    join(cluster.certsDir, reg.host, "hosts.toml"),
    `server = "http://${reg.host}"\n[host."http://${reg.host}"]\n  capabilities = ["pull", "resolve"]\n`,
  );
  await cluster.restrictedNamespace(NS);
  // The pull secret, from the same named credential the spec's containerRegistry names.
  writeSpec("secrets", "containerRegistry: test-registry\n");
  await deploy({ spec: join(tmp, "secrets.yaml"), apply: true, "secrets-only": true, namespace: NS }, ioFor().io);
}, BUILD_WAIT_MS);

afterAll(async () => {
  // Its namespaces go (the ResourceQuota, RBAC and ServiceAccounts it made are in them), and its hosts.toml.
  if (cluster) expect(await cluster.release()).toEqual([]);
  await reg?.stop();
  rmSync(tmp, { recursive: true, force: true });
});

describe("pipeline run --on kubernetes on a real cluster", () => {
  it("the namespace enforces Pod Security restricted: a root pod is refused by the API server", async () => {
    const err = await cluster.kubectl(["run", "root-pod", "-n", NS, "--image", app.ref, "--dry-run=server"]).then(
      () => "admitted",
      (e: { stderr: string }) => e.stderr,
    );
    expect(err).toMatch(/violates PodSecurity "restricted/);
  });

  it("pulls with the pull secret, runs as non-root, streams the output, exit code 0", async () => {
    const spec = writeSpec("ids", "containerRegistry: test-registry\n");
    const { result, out, err } = runK8s(spec, ["ids"]);
    const { exitCode } = await result;
    // The user and the group are the securityContext's runAsUser and runAsGroup (not the image's group, root).
    expect({ exitCode, out }).toEqual({ exitCode: 0, out: ["uid=65532 gid=65532"] });
    expect(err.join("\n")).toMatch(/Job restricted-runs\/ids-[0-9a-z]{5}: deleted/);
    // containerd fetched the manifest by digest from the registry, with the credential (no 401 left unanswered).
    const manifestGets = reg
      .requests()
      .filter((r) => r.method === "GET" && r.path === `/v2/run/app/manifests/${app.digest}`);
    expect(manifestGets.map((r) => r.status)).toContain(200);
  });

  it("the container's output in order, and a non-zero exit code passes through", async () => {
    const spec = writeSpec("echo", "containerRegistry: test-registry\n");
    const { result, out, err } = runK8s(spec, ["echo", "3", "a", "b c"], { env: ["FOO=bar"] });
    expect((await result).exitCode).toBe(3);
    expect(out.filter((l) => l !== "to stderr")).toEqual(["args=a,b c", "FOO=bar cwd=/app home=/"]);
    expect(out).toContain("to stderr");
    expect(err.join("\n")).toMatch(/the container exited with code 3/);
  });

  it("--keep-job keeps the finished Job and its pod", async () => {
    const spec = writeSpec("kept", "containerRegistry: test-registry\n");
    const { result, err } = runK8s(spec, ["hello"], { "keep-job": true });
    expect((await result).exitCode).toBe(0);
    const { stdout } = await cluster.kubectl(["get", "jobs", "-n", NS, "-o", "jsonpath={.items[*].metadata.name}"]);
    const kept = stdout.split(" ").filter((n) => n.startsWith("kept-"));
    expect(kept).toHaveLength(1);
    expect(err).toContain(`Job ${NS}/${kept[0]}: kept (--keep-job): kubectl delete job -n ${NS} ${kept[0]}`);
  });

  it("SPEC: its command, args and env, a SECRET: value read from its Secret, the flags' env over the spec's", async () => {
    const spec = writeSpec(
      "spec-env",
      'containerRegistry: test-registry\ncommand: [node, /app/main.js]\nargs: [env, MODE, API_TOKEN]\nenv:\n  - {name: MODE, value: slow}\n  - {name: API_TOKEN, value: "SECRET:api_token"}\n',
    );
    const token = "tok-Spec-Env-42";
    await deploy(
      { spec, apply: true, "secrets-only": true, namespace: NS },
      captureIo(tmp, { ...ioFor().io.env, PIPELINE_SECRET_API_TOKEN: token }).io,
    );
    const { result, out, err } = runK8s(spec, [], { env: ["MODE=fast"] });
    expect((await result).exitCode).toBe(0);
    expect(out).toEqual(['MODE="fast"', `API_TOKEN=${JSON.stringify(token)}`]);
    expect(err.join("\n")).toMatch(/env API_TOKEN: read from the Secrets rp-secret-api-token-[0-9a-f]{8}/);
  });

  it("a Job deleted by someone else meanwhile (its pod orphaned) is not an error: the run ends with the container's exit code", async () => {
    const spec = writeSpec("orphaned", "containerRegistry: test-registry\n");
    const { result, out, err } = runK8s(spec, ["wait", "6000", "4"]);
    while (!out.includes("waiting")) await new Promise((r) => setTimeout(r, 200));
    const job = /Job restricted-runs\/(orphaned-[^\s:]+): created/.exec(err.join("\n"))![1];
    await cluster.kubectl(["delete", "job", job, "-n", NS, "--cascade=orphan"]);
    expect((await result).exitCode).toBe(4);
    expect(err).toContain(`Job ${NS}/${job}: already deleted`);
    await cluster.kubectl(["delete", "pods", "-n", NS, "-l", `rules-pipeline/run=${job}`, "--wait=false"]);
  });

  it("without the pull secret the registry refuses the kubelet: the run fails naming the pull error", async () => {
    const spec = writeSpec("nosecret");
    const e = await pipelineErrorOf(runK8s(spec, ["hello"], { timeout: 12 }).result);
    expect(e.code).toBe("E_K8S_POD_TIMEOUT");
    expect(e.message).toMatch(/ErrImagePull|ImagePullBackOff/);
    expect(e.message).not.toContain(PASSWORD);
  });

  it("a digest the registry does not have: ImagePullBackOff (or ErrImagePull) named with the kubelet's message; the Job is deleted", async () => {
    const missing = `${reg.host}/run/app@sha256:${"0".repeat(64)}`;
    writeFileSync(join(tmp, "missing.yaml"), `name: missing\nimage: ${missing}\ncontainerRegistry: test-registry\n`);
    const { result, err } = runK8s(join(tmp, "missing.yaml"), ["hello"], { timeout: 12 });
    const e = await pipelineErrorOf(result);
    expect(e.code).toBe("E_K8S_POD_TIMEOUT");
    expect(e.message).toMatch(
      new RegExp(
        String.raw`^pod restricted-runs/missing-[0-9a-z]{5}-[0-9a-z]{5} did not start within 12s \(--timeout\): phase Pending \((ErrImagePull|ImagePullBackOff): .*${"0".repeat(64)}.*not found.*\)$`,
      ),
    );
    const job = /Job restricted-runs\/(missing-[^\s:]+): created/.exec(err.join("\n"))![1];
    expect(err).toContain(`Job ${NS}/${job}: deleted`);
  });

  it("an unschedulable pod (a machine type bigger than the node, GPUs) times out with the scheduler's message; the kept Job is the one `deploy --job` renders", async () => {
    await cluster.kubectl(["create", "serviceaccount", "trainer", "-n", NS]);
    const specPath = writeSpec(
      "gpu-train",
      "containerRegistry: test-registry\nport: 9090\nprobes: {liveness: {tcp: 9090}}\nresources: {machineType: A100-80Gx2}\n",
    );
    const { result, err } = runK8s(specPath, ["--epochs", "2"], {
      timeout: 5,
      "keep-job": true,
      "service-account": "trainer",
      env: ["MODE=fast"],
    });
    const e = await pipelineErrorOf(result);
    expect(e.code).toBe("E_K8S_POD_TIMEOUT");
    expect(e.message).toMatch(
      /phase Pending \(Unschedulable: 0\/1 nodes are available: .*Insufficient (cpu|memory|nvidia\.com\/gpu)/,
    );
    const name = /Job restricted-runs\/(gpu-train-[^\s:]+): created/.exec(err.join("\n"))![1];
    const job = JSON.parse((await cluster.kubectl(["get", "job", name, "-n", NS, "-o", "json"])).stdout) as V1Job;
    await cluster.kubectl(["delete", "job", name, "-n", NS]);
    expect(job.spec).toMatchObject({ backoffLimit: 0, ttlSecondsAfterFinished: 86400, activeDeadlineSeconds: 604800 });
    const pod = job.spec!.template.spec!;
    expect(pod).toMatchObject({ restartPolicy: "Never", serviceAccountName: "trainer" });
    expect(pod.containers[0]).toMatchObject({ name: "main", image: app.ref, args: ["--epochs", "2"] });
    // The run's env, then what lets its pod map on the cluster (src/k8s/map-job.ts withMapTemplate).
    expect(pod.containers[0].env!.slice(0, 4)).toEqual([
      { name: "MODE", value: "fast" },
      { name: "PIPELINE_IN_CONTAINER", value: "1" },
      { name: "PORT", value: "9090" },
      { name: "PIPELINE_TARGET", value: "kubernetes" },
    ]);
    expect(pod.containers[0].env!.slice(4).map((e) => e.name)).toEqual([
      "PIPELINE_MAP_JOB",
      "PIPELINE_POD_NAME",
      "PIPELINE_POD_UID",
    ]);
    // The same spec rendered by `pipeline deploy SPEC --job`: the same pod settings; the run leaves the probe out.
    const rendered = renderJob(
      await resolveDeployment(loadDeploymentSpec(specPath), { env: ioFor().io.env, warn: () => {}, insecure: true }),
      {
        namespace: NS,
      },
    ).find((o) => o.kind === "Job") as V1Job;
    const renderedPod = rendered.spec!.template.spec!;
    for (const k of ["securityContext", "tolerations", "affinity", "imagePullSecrets"] as const)
      expect(pod[k], k).toEqual(renderedPod[k]);
    expect(pod.tolerations).toEqual([{ key: "nvidia.com/gpu", operator: "Exists", effect: "NoSchedule" }]);
    expect(
      pod.affinity?.nodeAffinity?.preferredDuringSchedulingIgnoredDuringExecution?.[0].preference.matchExpressions,
    ).toEqual([{ key: "node.kubernetes.io/instance-type", operator: "In", values: ["A100-80Gx2"] }]);
    for (const k of ["resources", "securityContext", "ports"] as const)
      expect(pod.containers[0][k], k).toEqual(renderedPod.containers[0][k]);
    expect(pod.containers[0].resources).toEqual({
      requests: { cpu: "24", memory: "180Gi" },
      limits: { memory: "180Gi", "nvidia.com/gpu": "2" },
    });
    expect(renderedPod.containers[0].livenessProbe).toEqual({ tcpSocket: { port: 9090 } });
    expect(pod.containers[0].livenessProbe).toBeUndefined();
  });

  it("no pod at all (a ResourceQuota refuses it to the Job controller): the timeout says so", async () => {
    const ns = "no-pods";
    await cluster.kubectl(["create", "namespace", ns]);
    await cluster.kubectl(["create", "quota", "none", "-n", ns, "--hard=pods=0"]);
    const e = await pipelineErrorOf(runK8s(writeSpec("quota"), ["hello"], { timeout: 5, namespace: ns }).result);
    expect(e.code).toBe("E_K8S_POD_TIMEOUT");
    expect(e.message).toMatch(
      /^Job no-pods\/quota-[0-9a-z]{5}'s pod did not start within 5s \(--timeout\): the Job controller created no pod$/,
    );
  });

  it("404: a namespace the cluster does not have", async () => {
    const e = await pipelineErrorOf(runK8s(writeSpec("nowhere"), ["hello"], { namespace: "nope" }).result);
    expect(e.code).toBe("E_K8S_NOT_FOUND");
    expect(e.message).toMatch(
      /^create jobs "nowhere-[0-9a-z]{5}" in namespace "nope": the API server at https:\/\/127\.0\.0\.1:\d+ \(context "rules-pipeline"\) answered 404 Not Found: namespaces "nope" not found$/,
    );
  });

  it("403 from the real RBAC: a ServiceAccount's token may run Jobs here but not elsewhere, nor read pod logs; the Job is still deleted", async () => {
    const kubeconfig = await cluster.serviceAccountKubeconfig(NS, "runner", join(tmp, "runner-kubeconfig"));
    await cluster.kubectl([
      "create",
      "role",
      "jobs-no-logs",
      "-n",
      NS,
      "--verb=create,get,list,delete",
      "--resource=jobs,pods",
    ]);
    await cluster.kubectl([
      "create",
      "rolebinding",
      "runner-jobs",
      "-n",
      NS,
      "--role=jobs-no-logs",
      `--serviceaccount=${NS}:runner`,
    ]);
    const spec = writeSpec("limited", "containerRegistry: test-registry\n");
    const io = () => captureIo(tmp, { KUBECONFIG: kubeconfig });
    const args = {
      on: "kubernetes",
      spec,
      timeout: 120,
      "poll-interval": 500,
      insecure: true,
      "--": ["hello"],
    } as RunKubernetesArgs;
    const other = await pipelineErrorOf(run({ ...args, namespace: "other" } as RunKubernetesArgs, io().io));
    expect(other.code).toBe("E_K8S_FORBIDDEN");
    expect(other.message).toMatch(
      /^create jobs "limited-[0-9a-z]{5}" in namespace "other": the API server at https:\/\/127\.0\.0\.1:\d+ \(context "runner"\) answered 403 Forbidden — the kubeconfig's user may not create jobs in namespace "other" \(RBAC\): jobs\.batch is forbidden: User "system:serviceaccount:restricted-runs:runner" cannot create resource "jobs" in API group "batch" in the namespace "other"$/,
    );
    const c = io();
    const logs = await pipelineErrorOf(run({ ...args, namespace: NS } as RunKubernetesArgs, c.io));
    expect(logs.code).toBe("E_K8S_FORBIDDEN");
    expect(logs.message).toMatch(
      /^get pods\/log "limited-[0-9a-z]{5}-[0-9a-z]{5}" in namespace "restricted-runs": .* may not get pods\/log in namespace "restricted-runs"/,
    );
    expect(c.err.join("\n")).toMatch(/Job restricted-runs\/limited-[0-9a-z]{5}: deleted/);
  });

  it("SPEC with models or repositories points to deploy --apply --job (a run follows no init containers)", async () => {
    const spec = writeSpec(
      "m",
      `models:\n  - {id: "${reg.host}/models/x@sha256:${"b".repeat(64)}", path: /opt/models}\n`,
    );
    const e = await pipelineErrorOf(runK8s(spec, []).result);
    expect(e.message).toBe(
      `${spec}: models need init containers, which --on kubernetes does not run: use \`pipeline deploy ${spec} --apply --job\``,
    );
  });
});

describe("from a launch script: runOnKubernetes() on a real cluster", () => {
  const NS2 = "launched";

  beforeAll(async () => {
    // runOnKubernetes() names only the image: the pull secret comes from the namespace's default ServiceAccount
    // (the ServiceAccount admission adds its imagePullSecrets to the pod), made from the same credential.
    await cluster.restrictedNamespace(NS2);
    await deploy({ spec: join(tmp, "secrets.yaml"), apply: true, "secrets-only": true, namespace: NS2 }, ioFor().io);
    await cluster.kubectl([
      "patch",
      "serviceaccount",
      "default",
      "-n",
      NS2,
      "-p",
      '{"imagePullSecrets":[{"name":"rp-registry-test-registry"}]}',
    ]);
  });

  async function launchEnv(): Promise<NodeJS.ProcessEnv> {
    return {
      PATH: process.env.PATH,
      HOME: join(tmp, "home"),
      KUBECONFIG: cluster.kubeconfig,
      PIPELINE_CONTAINER_IMAGE: app.ref,
      PIPELINE_CLI: await pipelineCli(),
      PIPELINE_CLI_NODE: process.execPath,
    };
  }

  it("resolves to the container's exit code", async () => {
    const code = await runOnKubernetes({
      args: ["echo", "5", "x"],
      memory: "256Mi",
      namespace: NS2,
      processEnv: await launchEnv(),
    });
    expect(code).toBe(5);
  });

  it("Ctrl-C deletes the running Job and exits 130", async () => {
    const child = spawn(
      process.execPath,
      [
        await pipelineCli(),
        "run",
        "--on",
        "kubernetes",
        "--image",
        app.ref,
        "--namespace",
        NS2,
        "--keep-job",
        "--",
        "sleep",
      ],
      {
        env: await launchEnv(),
      },
    );
    let stdout = "";
    let stderr = "";
    const exit = new Promise<number | null>((r) => child.on("close", r));
    child.stderr.on("data", (d) => (stderr += d));
    await new Promise<void>((r) => child.stdout.on("data", (d) => ((stdout += d), stdout.includes("ready") && r())));
    const job = /Job launched\/(\S+)/.exec(stderr)?.[1];
    child.kill("SIGINT");
    expect(await exit).toBe(130);
    expect(stderr).toMatch(/SIGINT: deleting Job launched\//);
    expect(job).toBeDefined();
    // Background deletion: the Job object goes at once, its pod with it.
    const { stdout: jobs } = await cluster.kubectl(["get", "jobs", "-n", NS2, "-o", "name"]);
    expect(jobs).not.toContain(job!);
  });
});
