/**
 * `pipeline run --on kubernetes SPEC` on a real cluster (scripts/k8s-cluster.sh): the image (host-Node base +
 * test/fixtures/runner-app.ts) is pushed to a real registry that demands a password; the pull secret is created
 * from the same credential (`pipeline deploy SPEC --secrets-only --apply`); the Job runs in a namespace labelled
 * pod-security.kubernetes.io/enforce=restricted, so the API server's PodSecurity admission checks the pod; the
 * kubelet pulls `registry/run/app@sha256:…` through containerd; the pod's log streams back; the container's exit
 * code is the run's. Then the launch-script path, runOnKubernetes(), Ctrl-C on the CLI as its own process, and
 * `pipeline deploy --apply` / `--render | kubectl apply` of a Deployment. No fake server here.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { explicitKeychain } from "../../src/auth/static";
import { deploy } from "../../src/cli/commands/deploy";
import { run } from "../../src/cli/commands/run";
import type { RunKubernetesArgs } from "../../src/cli/commands/run-kubernetes";
import { runOnKubernetes } from "../../src/runtime";
import { pipelineCli } from "../fixtures/cli";
import { pipelineErrorOf } from "../fixtures/errors";
import { BUILD_WAIT_MS, type Cluster, startCluster } from "../fixtures/k8s-cluster";
import { type RunningRegistry, startRegistry } from "../fixtures/registry";
import { buildRunnerApp, captureIo, type RunnerApp } from "../fixtures/runner-app";

const USER = "k8s-puller";
const PASSWORD = "k8s-Pull-Secret-7f3a";
const NS = "restricted-runs";

let tmp: string;
let reg: RunningRegistry;
let cluster: Cluster;
let app: RunnerApp;

function ioFor() {
  return captureIo(tmp, { KUBECONFIG: cluster.kubeconfig, PIPELINE_SECRET_TEST_REGISTRY: JSON.stringify({ username: USER, password: PASSWORD }) });
}

function writeSpec(name: string, extra = ""): string {
  const file = join(tmp, `${name}.yaml`);
  writeFileSync(file, `name: ${name}\nimage: ${app.ref}\n${extra}`);
  return file;
}

function runK8s(spec: string, args: string[], more: Partial<RunKubernetesArgs> = {}) {
  const c = ioFor();
  const result = run(
    { on: "kubernetes", spec, namespace: NS, timeout: 120, "poll-interval": 500, insecure: true, "--": args, ...more } as RunKubernetesArgs,
    c.io,
  );
  return { ...c, result };
}

beforeAll(async () => {
  tmp = mkdtempSync(join(tmpdir(), "k8s-real-run-"));
  mkdirSync(join(tmp, "app"));
  reg = await startRegistry({ htpasswd: { user: USER, password: PASSWORD } });
  app = await buildRunnerApp(join(tmp, "app"), reg, explicitKeychain(reg.host, { username: USER, password: PASSWORD }));
  cluster = await startCluster();
  // containerd talks plain HTTP to a loopback registry only when its hosts.toml says so.
  mkdirSync(join(cluster.certsDir, reg.host), { recursive: true });
  writeFileSync(
    join(cluster.certsDir, reg.host, "hosts.toml"),
    `server = "http://${reg.host}"\n[host."http://${reg.host}"]\n  capabilities = ["pull", "resolve"]\n`,
  );
  await cluster.kubectl(["create", "namespace", NS]);
  await cluster.kubectl(["label", "namespace", NS, "pod-security.kubernetes.io/enforce=restricted"]);
  // The pull secret, from the same named credential the spec's containerRegistry names.
  writeSpec("secrets", "containerRegistry: test-registry\n");
  await deploy({ spec: join(tmp, "secrets.yaml"), apply: true, "secrets-only": true, namespace: NS }, ioFor().io);
}, BUILD_WAIT_MS);

afterAll(async () => {
  if (cluster) {
    await cluster.down();
    expect(cluster.leftovers()).toEqual([]);
  }
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
    expect(err.join("\n")).toMatch(/Job restricted-runs\/ids-[0-9a-z]{5} deleted/);
    // containerd fetched the manifest by digest from the registry, with the credential (no 401 left unanswered).
    const manifestGets = reg.requests().filter((r) => r.method === "GET" && r.path === `/v2/run/app/manifests/${app.digest}`);
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
    const { result } = runK8s(spec, ["hello"], { "keep-job": true });
    expect((await result).exitCode).toBe(0);
    const { stdout } = await cluster.kubectl(["get", "jobs", "-n", NS, "-o", "jsonpath={.items[*].metadata.name}"]);
    expect(stdout.split(" ").filter((n) => n.startsWith("kept-"))).toHaveLength(1);
  });

  it("without the pull secret the registry refuses the kubelet: the run fails naming the pull error", async () => {
    const spec = writeSpec("nosecret");
    const e = await pipelineErrorOf(runK8s(spec, ["hello"], { timeout: 30 }).result);
    expect(e.code).toBe("E_K8S_POD_TIMEOUT");
    expect(e.message).toMatch(/ErrImagePull|ImagePullBackOff/);
    expect(e.message).not.toContain(PASSWORD);
  });
});

describe("from a launch script: runOnKubernetes() on a real cluster", () => {
  const NS2 = "launched";

  beforeAll(async () => {
    // runOnKubernetes() names only the image: the pull secret comes from the namespace's default ServiceAccount
    // (the ServiceAccount admission adds its imagePullSecrets to the pod), made from the same credential.
    await cluster.kubectl(["create", "namespace", NS2]);
    await cluster.kubectl(["label", "namespace", NS2, "pod-security.kubernetes.io/enforce=restricted"]);
    await deploy({ spec: join(tmp, "secrets.yaml"), apply: true, "secrets-only": true, namespace: NS2 }, ioFor().io);
    await cluster.kubectl(["patch", "serviceaccount", "default", "-n", NS2, "-p", '{"imagePullSecrets":[{"name":"rp-registry-test-registry"}]}']);
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
    const code = await runOnKubernetes({ args: ["echo", "5", "x"], memory: "256Mi", namespace: NS2, processEnv: await launchEnv() });
    expect(code).toBe(5);
  });

  it("Ctrl-C deletes the running Job and exits 130", async () => {
    const child = spawn(
      process.execPath,
      [await pipelineCli(), "run", "--on", "kubernetes", "--image", app.ref, "--namespace", NS2, "--keep-job", "--", "sleep"],
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

describe("pipeline deploy on a real cluster", () => {
  const NS3 = "deployed";

  it("--apply: server-side apply of the Secret and the Deployment, the rollout waited for until the pod is ready", async () => {
    await cluster.kubectl(["create", "namespace", NS3]);
    await cluster.kubectl(["label", "namespace", NS3, "pod-security.kubernetes.io/enforce=restricted"]);
    const spec = writeSpec("steady", "containerRegistry: test-registry\nargs: [sleep]\n");
    const c = ioFor();
    await deploy({ spec, apply: true, namespace: NS3, timeout: 120, "poll-interval": 500, insecure: true }, c.io);
    expect(c.out).toEqual(expect.arrayContaining([expect.stringMatching(/Deployment deployed\/steady.* rolled out/)]));
    const { stdout } = await cluster.kubectl([
      "get",
      "deployment",
      "steady",
      "-n",
      NS3,
      "-o",
      "jsonpath={.status.readyReplicas}/{.spec.template.spec.containers[0].image}",
    ]);
    expect(stdout).toBe(`1/${app.ref}`);
  });

  it("GitOps: `deploy --render` output applied by kubectl, after its Secrets are created, rolls out", async () => {
    const ns = "gitops";
    await cluster.kubectl(["create", "namespace", ns]);
    const spec = join(tmp, "steady.yaml");
    await deploy({ spec, apply: true, "secrets-only": true, namespace: ns }, ioFor().io);
    const c = ioFor();
    await deploy({ spec, render: true, namespace: ns, insecure: true }, c.io);
    const rendered = c.out.join("\n");
    expect(rendered).not.toContain(PASSWORD);
    await cluster.kubectl(["apply", "-f", "-"], rendered);
    const { stdout } = await cluster.kubectl(["rollout", "status", "deployment/steady", "-n", ns, "--timeout=120s"]);
    expect(stdout).toMatch(/successfully rolled out/);
  });
});
