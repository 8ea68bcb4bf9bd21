/**
 * `pipeline deploy --apply` on a real cluster (scripts/k8s-cluster.sh; no fake API server in this file): server-side
 * apply as the real API server records it (field manager, a conflicting manager's field taken over), the rollout
 * waited for by the real controllers, `--secrets-only`, `--job` in another context (complete, failed), a
 * ServiceAccount with too little RBAC (403), a rollout whose git init container keeps failing (the timeout names it
 * and git's error; then the controller's ProgressDeadlineExceeded), GitOps (`--render | kubectl apply`), and `modelCache:` on a PersistentVolumeClaim bound to a
 * local PersistentVolume: the first pod pulls the model, the next finds it in the cache; `modelDelivery: imageVolume`:
 * containerd mounts the model as an image volume, read by the pod through its links, with no init container.
 * One registry: HTTPS with a self-signed certificate (containerd trusts it through hosts.toml's `ca`, oras in the
 * pod through its image's CA bundle) and a password, on the host's address on the pods' bridge so the kubelet and
 * the pods reach it; the pull Secret is made from the same credential.
 */
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { parse, stringify } from "yaml";
import { explicitKeychain } from "../../src/registry-auth/static";
import { type DeployArgs, deploy } from "../../src/cli/commands/deploy";
import { modelPush } from "../../src/cli/commands/model";
import { REPO_ROOT } from "../fixtures/repo";
import { pipelineErrorOf } from "../fixtures/errors";
import { pushInitImages } from "../fixtures/init-images";
import { BUILD_WAIT_MS, clusterForFile, type FileCluster, startClusterRegistry } from "../fixtures/k8s-cluster";
import { type RunningRegistry, writeDockerConfig } from "../fixtures/registry";
import { buildRunnerApp, captureIo, type RunnerApp, writeVolumeModel } from "../fixtures/runner-app";

const USER = "k8s-deployer";
const PASSWORD = `Deploy-Pull-${randomBytes(6).toString("hex")}`;
const NS = "deployed";

let tmp: string;
let cluster: FileCluster;
let reg: RunningRegistry;
let app: RunnerApp;
let mirrors: { git: string; oras: string };

function ioFor(env: Record<string, string> = {}) {
  return captureIo(tmp, {
    KUBECONFIG: cluster.kubeconfig,
    PIPELINE_SECRET_TEST_REGISTRY: JSON.stringify({ username: USER, password: PASSWORD }),
    ...env,
  });
}

function writeSpec(name: string, extra = ""): string {
  const file = join(tmp, `${name}.yaml`);
  writeFileSync(file, `name: ${name}\nimage: ${app.ref}\ncontainerRegistry: test-registry\n${extra}`);
  return file;
}

async function apply(spec: string, more: Partial<DeployArgs> = {}, env: Record<string, string> = {}) {
  const c = ioFor(env);
  await deploy({ spec, apply: true, namespace: NS, timeout: 120, "poll-interval": 500, insecure: true, ...more }, c.io);
  return c;
}

async function json(args: string[]) {
  return JSON.parse((await cluster.kubectl([...args, "-o", "json", "--show-managed-fields"])).stdout);
}

beforeAll(async () => {
  tmp = mkdtempSync(join(tmpdir(), "k8s-real-deploy-"));
  cluster = await clusterForFile(inject("k8sCluster"));
  const started = await startClusterRegistry(cluster, tmp, { user: USER, password: PASSWORD });
  reg = started.reg;
  const keychain = explicitKeychain(reg.host, { username: USER, password: PASSWORD });
  mkdirSync(join(tmp, "app"));
  app = await buildRunnerApp(join(tmp, "app"), reg, keychain, true);
  mirrors = await pushInitImages(join(tmp, "mirrors"), reg, keychain, started.caPem);
  // `pipeline model push` finds the credential where `docker login` leaves it (captureIo's DOCKER_CONFIG).
  mkdirSync(join(tmp, "home", ".docker"), { recursive: true });
  writeDockerConfig(join(tmp, "home", ".docker"), { [reg.host]: { username: USER, password: PASSWORD } });
  await cluster.restrictedNamespace(NS);
}, BUILD_WAIT_MS);

afterAll(async () => {
  try {
    // Its namespaces, the local PersistentVolume (cluster-scoped) and its directory under volumes/, its hosts.toml.
    if (cluster) expect(await cluster.release()).toEqual([]);
  } finally {
    await reg?.stop();
    rmSync(tmp, { recursive: true, force: true });
  }
});

describe("pipeline deploy --apply on a real cluster", () => {
  it("--secrets-only --apply creates the Secrets and nothing else, filled from the local secrets", async () => {
    const ns = "secrets-only";
    await cluster.kubectl(["create", "namespace", ns]);
    const spec = writeSpec("secretive", 'env: [{name: API_TOKEN, value: "SECRET:api_token"}]\n');
    const c = await apply(spec, { "secrets-only": true, namespace: ns }, { PIPELINE_SECRET_API_TOKEN: "tok-123" });
    expect(c.out).toEqual([
      "Secret secrets-only/rp-registry-test-registry serverside-applied",
      expect.stringMatching(/^Secret secrets-only\/rp-secret-api-token-[0-9a-f]{8} serverside-applied$/),
    ]);
    const { stdout } = await cluster.kubectl(["get", "secrets,deployments,services,jobs", "-n", ns, "-o", "name"]);
    expect(stdout.trim().split("\n").sort()).toEqual([
      "secret/rp-registry-test-registry",
      expect.stringMatching(/^secret\/rp-secret-api-token-[0-9a-f]{8}$/),
    ]);
    const token = (await json(["get", "secrets", "-n", ns])).items.find((x: { metadata: { name: string } }) =>
      x.metadata.name.startsWith("rp-secret-"),
    );
    expect(Buffer.from(token.data.value, "base64").toString()).toBe("tok-123");
    const pull = await json(["get", "secret", "rp-registry-test-registry", "-n", ns]);
    expect(pull.type).toBe("kubernetes.io/dockerconfigjson");
    expect(JSON.parse(Buffer.from(pull.data[".dockerconfigjson"], "base64").toString()).auths[reg.host].password).toBe(
      PASSWORD,
    );
  });

  it("--apply: every object server-side applied by the rules_pipeline field manager, the rollout waited for until the pod is ready", async () => {
    const spec = writeSpec("steady", "args: [sleep]\n");
    const c = ioFor();
    await deploy(
      { spec, apply: true, namespace: NS, timeout: 120, "poll-interval": 500, insecure: true },
      { ...c.io, isTTY: true, env: { ...c.io.env, CI: "" } },
    );
    expect(c.out).toEqual([
      "Secret deployed/rp-registry-test-registry serverside-applied",
      "Deployment deployed/steady serverside-applied",
      "Deployment deployed/steady rolled out",
    ]);
    // On a terminal, the progress the real controllers reported, then ready.
    expect(c.err.some((l) => /^Deployment deployed\/steady: (waiting for the controller|\d+ of 1 )/.test(l))).toBe(
      true,
    );
    expect(c.err).toContain("Deployment deployed/steady: ready");
    const d = await json(["get", "deployment", "steady", "-n", NS]);
    expect(`${d.status.readyReplicas}/${d.spec.template.spec.containers[0].image}`).toBe(`1/${app.ref}`);
    expect(
      d.metadata.managedFields.map((f: { manager: string; operation: string }) => `${f.manager} ${f.operation}`),
    ).toContain("rules_pipeline Apply");
  });

  it("a field another manager applied is taken over (force), as the docs promise", async () => {
    const label = "app.kubernetes.io/name";
    const other = {
      apiVersion: "apps/v1",
      kind: "Deployment",
      metadata: { name: "steady", namespace: NS, labels: { [label]: "someone-else" } },
    };
    await cluster.kubectl(
      ["apply", "--server-side", "--field-manager", "other-tool", "--force-conflicts", "-f", "-"],
      JSON.stringify(other),
    );
    expect((await json(["get", "deployment", "steady", "-n", NS])).metadata.labels[label]).toBe("someone-else");
    await apply(join(tmp, "steady.yaml"));
    const d = await json(["get", "deployment", "steady", "-n", NS]);
    expect(d.metadata.labels[label]).toBe("steady");
    // The other manager no longer owns the label.
    const owners = d.metadata.managedFields.filter((f: { fieldsV1?: unknown }) =>
      JSON.stringify(f.fieldsV1 ?? {}).includes(`f:${label}`),
    );
    expect(owners.map((f: { manager: string }) => f.manager)).toEqual(["rules_pipeline"]);
  });

  it("GitOps: `deploy --render` output applied by kubectl, after its Secrets are created, rolls out", async () => {
    const ns = "gitops";
    await cluster.kubectl(["create", "namespace", ns]);
    const spec = join(tmp, "steady.yaml");
    await apply(spec, { "secrets-only": true, namespace: ns });
    const c = ioFor();
    await deploy({ spec, render: true, namespace: ns, insecure: true }, c.io);
    const rendered = c.out.join("\n");
    expect(rendered).not.toContain(PASSWORD);
    await cluster.kubectl(["apply", "-f", "-"], rendered);
    const { stdout } = await cluster.kubectl(["rollout", "status", "deployment/steady", "-n", ns, "--timeout=120s"]);
    expect(stdout).toMatch(/successfully rolled out/);
  });

  it("--job in another context of the kubeconfig: waits for the Job to complete; a failed Job names the Job controller's reason", async () => {
    await cluster.kubectl(["create", "namespace", "batch"]);
    const kubeconfig = parse(readFileSync(cluster.kubeconfig, "utf8"));
    const context = kubeconfig.contexts[0];
    kubeconfig.contexts.push({ name: "elsewhere", context: { ...context.context, namespace: "batch" } });
    writeFileSync(join(tmp, "two-contexts"), stringify(kubeconfig), { mode: 0o600 });
    const more = { job: true, context: "elsewhere", kubeconfig: join(tmp, "two-contexts"), namespace: undefined };
    const c = await apply(writeSpec("once", "args: [hello]\n"), more);
    expect(c.out.at(-1)).toMatch(/^Job batch\/once-[0-9a-f]{8} complete$/);
    expect(c.err.filter((l) => !l.startsWith("warning: "))).toEqual([]);
    const e = await pipelineErrorOf(apply(writeSpec("fails", 'args: [echo, "3"]\n'), more));
    expect(e.code).toBe("E_K8S_JOB_FAILED");
    expect(e.message).toMatch(
      /^Job batch\/fails-[0-9a-f]{8} failed: BackoffLimitExceeded: Job has reached the specified backoff limit$/,
    );
  });

  it("403 from the real RBAC: a ServiceAccount that may apply Secrets but not Deployments; nothing after the Deployment is applied", async () => {
    const kubeconfig = await cluster.serviceAccountKubeconfig(NS, "limited", join(tmp, "limited-kubeconfig"));
    await cluster.kubectl([
      "create",
      "role",
      "secrets-only",
      "-n",
      NS,
      "--verb=get,create,patch",
      "--resource=secrets",
    ]);
    await cluster.kubectl([
      "create",
      "rolebinding",
      "limited-secrets",
      "-n",
      NS,
      "--role=secrets-only",
      `--serviceaccount=${NS}:limited`,
    ]);
    const spec = writeSpec("forbidden", "port: 8080\n");
    const e = await pipelineErrorOf(apply(spec, {}, { KUBECONFIG: kubeconfig }));
    expect(e.code).toBe("E_K8S_API");
    expect(e.message).toMatch(
      /^apply Deployment deployed\/forbidden: the API server at https:\/\/127\.0\.0\.1:\d+ \(context "limited"\) answered 403 Forbidden — the kubeconfig's user lacks permission \(RBAC\): deployments\.apps "forbidden" is forbidden: User "system:serviceaccount:deployed:limited" cannot patch resource "deployments" in API group "apps" in the namespace "deployed"$/,
    );
    const { stdout } = await cluster.kubectl(["get", "deployments,services", "-n", NS, "-o", "name"]);
    expect(stdout).not.toMatch(/forbidden/);
  });

  it("a rollout whose git init container keeps failing times out naming the pod, the init container, its exit code and git's error; ProgressDeadlineExceeded fails at once", async () => {
    const spec = writeSpec(
      "bad-git",
      `args: [sleep]\ninitImages: {git: "${mirrors.git}", oras: "${mirrors.oras}"}\nrepositories:\n  dataset: repos\n  repositories:\n    - {url: "http://${cluster.gateway}:9/nothing.git", name: nothing}\n`,
    );
    const e = await pipelineErrorOf(apply(spec, { timeout: 25 }));
    expect(e.code).toBe("E_K8S_ROLLOUT_TIMEOUT");
    const [head, ...pods] = e.message.split("\n");
    expect(head).toBe(
      "Deployment deployed/bad-git was not ready within 25s (--timeout); last status: 0 of 1 updated replicas available",
    );
    expect(pods).toHaveLength(1);
    // Right after a try the container is reported terminated; between tries the kubelet backs off (CrashLoopBackOff);
    // during a try it runs again. Whichever the deadline meets, the line names the exit code and git's own words
    // (the container's last log lines, kept by FallbackToLogsOnError).
    const why = `exit code 128: fatal: unable to access 'http://${cluster.gateway}:9/nothing.git/': Failed to connect .*`;
    expect(pods[0]).toMatch(
      new RegExp(
        String.raw`^  pod bad-git-[a-z0-9]+-[a-z0-9]+: Pending \(init container clone-0: (CrashLoopBackOff: back-off \d+s restarting failed container=clone-0 pod=\S+ \(last ${why}\)|running after \d+ restart\(s\) \(last ${why}\)|failed with ${why})\)$`,
      ),
    );

    // The controller's own deadline, shortened by hand (a spec cannot set it; 600 s by default): once the controller
    // reports ProgressDeadlineExceeded, the next --apply fails at once instead of waiting for --timeout.
    await cluster.kubectl(["patch", "deployment", "bad-git", "-n", NS, "-p", '{"spec":{"progressDeadlineSeconds":1}}']);
    const reason = async () =>
      ((await json(["get", "deployment", "bad-git", "-n", NS])).status.conditions ?? []).find(
        (c: { type: string }) => c.type === "Progressing",
      )?.reason;
    for (let i = 0; i < 120 && (await reason()) !== "ProgressDeadlineExceeded"; i++)
      await new Promise((r) => setTimeout(r, 500));
    const started = Date.now();
    const failed = await pipelineErrorOf(apply(spec, { timeout: 60 }));
    expect(failed.code).toBe("E_K8S_ROLLOUT_FAILED");
    expect(failed.message).toMatch(
      /^Deployment deployed\/bad-git failed: progress deadline exceeded: ReplicaSet "bad-git-[a-z0-9]+" has timed out progressing\.$/,
    );
    expect(Date.now() - started).toBeLessThan(20_000);
  });
});

describe("modelCache on a real cluster: a PersistentVolumeClaim bound to a local PersistentVolume", () => {
  it("the first pod pulls the model into the cache, the next pod finds it there and makes no request for it; another model gets its own directory", async () => {
    // Storage without a provisioner: a local PersistentVolume under the cluster's DIR on the one node, a
    // StorageClass that binds when a pod is scheduled (WaitForFirstConsumer), the claim the spec names.
    const node = (
      await cluster.kubectl(["get", "nodes", "-o", "jsonpath={.items[0].metadata.labels.kubernetes\\.io/hostname}"])
    ).stdout;
    const volume = join(cluster.dir, "volumes", "model-cache");
    mkdirSync(volume, { recursive: true });
    const storage = [
      {
        apiVersion: "storage.k8s.io/v1",
        kind: "StorageClass",
        metadata: { name: "local" },
        provisioner: "kubernetes.io/no-provisioner",
        volumeBindingMode: "WaitForFirstConsumer",
      },
      {
        apiVersion: "v1",
        kind: "PersistentVolume",
        metadata: { name: "model-cache" },
        spec: {
          capacity: { storage: "1Gi" },
          accessModes: ["ReadWriteOnce"],
          storageClassName: "local",
          local: { path: volume },
          nodeAffinity: {
            required: {
              nodeSelectorTerms: [
                { matchExpressions: [{ key: "kubernetes.io/hostname", operator: "In", values: [node] }] },
              ],
            },
          },
        },
      },
      {
        apiVersion: "v1",
        kind: "PersistentVolumeClaim",
        metadata: { name: "model-cache", namespace: NS },
        spec: {
          accessModes: ["ReadWriteOnce"],
          storageClassName: "local",
          resources: { requests: { storage: "1Gi" } },
        },
      },
    ];
    await cluster.kubectl(["apply", "-f", "-"], JSON.stringify({ apiVersion: "v1", kind: "List", items: storage }));

    const model = ioFor();
    await modelPush(
      { dir: join(REPO_ROOT, "examples/service/model"), reference: `${reg.host}/models/cached:v1`, insecure: true },
      model.io,
    );
    const modelId = model.out.at(-1)!;
    const hex = modelId.split("@sha256:")[1];
    const modelRequests = () =>
      reg.accessLog().filter((l) => l.includes('"GET /v2/models/cached/') && l.includes('"oras/'));
    const spec = (roll: string, id = modelId) =>
      writeSpec(
        "cached",
        `args: [list, /opt/models]\nenv: [{name: ROLL, value: "${roll}"}]\nmodels: [{id: "${id}", path: /opt/models}]\nmodelCache: model-cache\ninitImages: {git: "${mirrors.git}", oras: "${mirrors.oras}"}\n`,
      );
    const podOf = async () => {
      const pods = (await json(["get", "pods", "-n", NS, "-l", "app.kubernetes.io/name=cached"])).items as {
        metadata: { name: string; deletionTimestamp?: string };
      }[];
      return pods.filter((p) => !p.metadata.deletionTimestamp).map((p) => p.metadata.name);
    };
    const logs = async (pod: string, container: string) =>
      (await cluster.kubectl(["logs", "-n", NS, pod, "-c", container])).stdout.trim();

    await apply(spec("1"));
    expect((await json(["get", "pvc", "model-cache", "-n", NS])).status.phase).toBe("Bound");
    const [first] = await podOf();
    expect(await logs(first, "cached")).toBe("/opt/models: VERSION,weights.yaml\nready");
    expect(await logs(first, "model-0")).not.toMatch(/already in the cache/);
    // On the volume: the model under the path's sub-directory for this model, and the marker written after the pull.
    const [cacheDir, ...moreDirs] = readdirSync(join(volume, "opt-models"));
    expect({ cacheDir, moreDirs }).toEqual({ cacheDir: expect.stringMatching(/^m-[0-9a-f]{16}$/), moreDirs: [] });
    expect(readdirSync(join(volume, "opt-models", cacheDir)).sort()).toEqual([`.rules-pipeline-model-${hex}`, "model"]);
    const pulled = modelRequests().length;
    expect(pulled).toBeGreaterThan(0);

    // A new pod (the template changed): its init container finds the digest's marker and skips the pull.
    await apply(spec("2"));
    const [second, ...others] = await podOf();
    expect(others).toEqual([]);
    expect(second).not.toBe(first);
    expect(await logs(second, "model-0")).toBe(`model ${modelId} already in the cache at /opt/models`);
    expect(await logs(second, "cached")).toBe("/opt/models: VERSION,weights.yaml\nready");
    expect(modelRequests().length).toBe(pulled);
    expect(existsSync(join(volume, "opt-models", cacheDir, "model", "VERSION"))).toBe(true);

    // Another model at the same path: pulled into its own directory, so the pod sees its files only (`oras pull` into
    // the old directory would have left weights.yaml there).
    const v2 = join(tmp, "model-v2");
    mkdirSync(v2);
    writeFileSync(join(v2, "VERSION"), "v2\n");
    writeFileSync(join(v2, "tokenizer.json"), "{}\n");
    await modelPush({ dir: v2, reference: `${reg.host}/models/cached:v2`, insecure: true }, model.io);
    await apply(spec("3", model.out.at(-1)!));
    const [third] = await podOf();
    expect(await logs(third, "model-0")).not.toMatch(/already in the cache/);
    expect(await logs(third, "cached")).toBe("/opt/models: VERSION,tokenizer.json\nready");
    expect(modelRequests().length).toBeGreaterThan(pulled);
    expect(readdirSync(join(volume, "opt-models")).length).toBe(2);
  });
});

describe("models as image volumes on a real cluster (containerd 2.1.9, kubelet 1.36)", () => {
  it("containerd mounts the pushed model as an image volume, read byte for byte and read-only with no init container; --apply refuses this node, whose containerd ignores the volume's subPath", async () => {
    const dir = join(tmp, "model-volume");
    const model = writeVolumeModel(dir, "/opt/models/model");
    const pushed = ioFor();
    await modelPush({ dir, reference: `${reg.host}/models/volume:v1`, insecure: true }, pushed.io);
    const id = pushed.out.at(-1)!;
    const spec = writeSpec(
      "volume",
      `args: ${JSON.stringify(["model", "/opt/models", ...model.args.slice(2)])}\nenv: [{name: STAY, value: "1"}]\nmodelDelivery: imageVolume\nmodels: [{id: "${id}", path: /opt/models}]\n`,
    );
    // --apply reads the node's versions first: containerd 2.1 would mount the image's root, not its model/ directory.
    const node = (await cluster.kubectl(["get", "nodes", "-o", "jsonpath={.items[0].metadata.name}"])).stdout;
    const e = await pipelineErrorOf(apply(spec));
    expect(e.code).toBe("E_K8S_UNSUPPORTED");
    expect(e.message).toMatch(
      new RegExp(
        `node ${node}: runtime containerd://2\\.1\\.\\d+\\S* ignores an image volume's subPath \\(containerd ≥ 2\\.2\\)`,
      ),
    );
    expect((await cluster.kubectl(["get", "deployments", "-n", NS, "-o", "name"])).stdout).not.toContain("volume");

    // What this containerd does mount: the rendered Deployment (GitOps), with the mount of the image's root instead of
    // its subPath and the program reading under model/ — our config and tar layers, pulled with the pod's secret.
    await apply(spec, { "secrets-only": true });
    const c = ioFor();
    await deploy({ spec, render: true, namespace: NS, insecure: true }, c.io);
    interface PodSpec {
      initContainers?: unknown[];
      volumes: { name: string; image?: unknown }[];
      containers: { args: string[]; volumeMounts: { name: string; subPath?: string }[] }[];
    }
    const docs = c.out
      .join("\n")
      .split(/^---$/m)
      .map((d) => parse(d) as { kind?: string; spec?: { template: { spec: PodSpec } } } | null)
      .filter((d) => d !== null);
    const pod = docs.find((d) => d.kind === "Deployment")!.spec!.template.spec;
    expect(pod.initContainers).toBeUndefined();
    expect(pod.volumes.filter((v) => v.image)).toEqual([
      { name: "model-0", image: { reference: id, pullPolicy: "IfNotPresent" } },
    ]);
    const mount = pod.containers[0].volumeMounts.find((m) => m.name === "model-0")!;
    expect(mount).toEqual({ name: "model-0", mountPath: "/opt/models", subPath: "model", readOnly: true });
    delete mount.subPath;
    pod.containers[0].args = model.args;
    await cluster.kubectl(["apply", "-f", "-"], docs.map((d) => stringify(d)).join("---\n"));
    await cluster.kubectl(["rollout", "status", "deployment/volume", "-n", NS, "--timeout=120s"]);
    const [name] = (
      (await json(["get", "pods", "-n", NS, "-l", "app.kubernetes.io/name=volume"])).items as {
        metadata: { name: string; deletionTimestamp?: string };
      }[]
    )
      .filter((p) => !p.metadata.deletionTimestamp)
      .map((p) => p.metadata.name);
    const logs = (await cluster.kubectl(["logs", "-n", NS, name, "-c", "volume"])).stdout.trim();
    // The same lines as the local runner's (test/e2e/local-runner.test.ts), one directory down.
    expect(logs.split("\n")).toEqual([...model.lines, "ready"]);
    await cluster.kubectl(["delete", "deployment", "volume", "-n", NS, "--wait=false"]);
  });
});
