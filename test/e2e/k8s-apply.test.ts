/**
 * `pipeline deploy --render` end to end, and `--apply` where it needs the in-test fake API server
 * (test/fixtures/kube-api.ts): only for what a real cluster cannot be made to do on demand or cannot show, each
 * test saying why. The spec is loaded from YAML and its tag resolved against a real (dev) registry that needs the
 * containerRegistry credential. Everything a real cluster produces (server-side apply and its field manager, a
 * conflicting manager's field taken over, --secrets-only, --job complete and failed, a rollout that times out,
 * ProgressDeadlineExceeded, 403)
 * is in test/e2e/k8s-real-deploy.test.ts. A leak audit covers every line printed and every error raised here.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseAllDocuments } from "yaml";
import { pushImage, tempRegistry, type TempRegistry } from "../../src/devregistry/testing";
import { errorText, leaksIn } from "../../src/credentials/testing";
import type { CliIo } from "../../src/cli/io";
import { deploy, type DeployArgs } from "../../src/cli/commands/deploy";
import { pipelineErrorOf } from "../fixtures/errors";
import { type FakeKubeApi, selfSignedCert, startFakeKubeApi, fakeKubeconfig } from "../fixtures/kube-api";
import { apiServerProblems } from "../fixtures/k8s-checks";

const KUBE_TOKEN = "kube-Bearer-T0ken-5f2a";
const REG_USER = "robot";
const REG_PASSWORD = "reg-Pa55w0rd-Zq7";
const GIT_TOKEN = "glpat-GitT0ken-abcdef";
const API_TOKEN = "sk-live-ApiT0ken-998877";
const SECRETS = [KUBE_TOKEN, REG_PASSWORD, GIT_TOKEN, API_TOKEN];

let tmp: string;
let registry: TempRegistry;
let digest: string;
let api: FakeKubeApi;
let tls: { key: string; cert: string };
const printed: string[] = [];
const errors: unknown[] = [];

interface TestIo extends CliIo {
  out: string[];
  err: string[];
}

/** `audit: false`: output that holds secrets on purpose (--with-secrets) stays out of the leak audit. */
function makeIo(opts: { tty?: boolean; env?: Record<string, string>; audit?: boolean } = {}): TestIo {
  const out: string[] = [];
  const err: string[] = [];
  return {
    out,
    err,
    stdout: (l) => (out.push(l), opts.audit !== false && printed.push(l)),
    stderr: (l) => (err.push(l), printed.push(l)),
    env: {
      PATH: process.env.PATH,
      HOME: join(tmp, "home"),
      KUBECONFIG: join(tmp, "kubeconfig"),
      PIPELINE_SECRETS_DIR: join(tmp, "secrets"),
      PIPELINE_SECRET_CI_REGISTRY: JSON.stringify({ username: REG_USER, password: REG_PASSWORD }),
      PIPELINE_SECRET_GIT_TOKEN: GIT_TOKEN,
      PIPELINE_SECRET_API_TOKEN: API_TOKEN,
      ...opts.env,
    },
    cwd: tmp,
    isTTY: opts.tty ?? false,
    readStdin: async () => "",
  };
}

function writeSpec(file: string, extra = ""): string {
  const path = join(tmp, file);
  writeFileSync(
    path,
    `name: inference
image: ${registry.address}/ml/inference:v1
containerRegistry: ci-registry
command: [node, dist/serve.js]
ports: [8080, 9090]
env:
  - {name: MODEL_DIR, value: /opt/models}
  - {name: API_TOKEN, value: "SECRET:api_token"}
models:
  - {id: ${registry.address}/models/resnet:v2, path: /opt/models}
repositories:
  dataset: repos
  mountPath: /opt/repos
  repositories:
    - {url: "https://git.example.com/ml/configs.git", name: configs, username: deploy-bot, password: "SECRET:GIT_TOKEN"}
resources: {replicas: 2, instanceType: A6000}
${extra}`,
  );
  return path;
}

function writeKubeconfig(server: string, caPem: string): void {
  writeFileSync(join(tmp, "kubeconfig"), fakeKubeconfig(server, caPem, KUBE_TOKEN, { fake: "ml", elsewhere: "other" }));
}

async function run(args: Partial<DeployArgs>, io: TestIo): Promise<void> {
  try {
    await deploy({ spec: "spec.yaml", "poll-interval": 20, timeout: 10, ...args }, io);
  } catch (e) {
    errors.push(e);
    throw e;
  }
}

beforeAll(async () => {
  tmp = mkdtempSync(join(tmpdir(), "k8s-apply-"));
  mkdirSync(join(tmp, "home"));
  tls = selfSignedCert();
  mkdirSync(join(tmp, "secrets"));
  registry = await tempRegistry({ auth: { user: REG_USER, password: REG_PASSWORD } });
  digest = (
    await pushImage(registry.address, "ml/inference", "v1", [Buffer.from("layer")], {
      user: REG_USER,
      password: REG_PASSWORD,
    })
  ).digest;
  // The model's tag is pinned too (with the containerRegistry credential, same registry).
  await pushImage(registry.address, "models/resnet", "v2", [Buffer.from("weights")], {
    user: REG_USER,
    password: REG_PASSWORD,
  });
  writeSpec("spec.yaml");
});

afterEach(async () => {
  await api?.stop();
});

afterAll(async () => {
  // The leak audit: nothing printed and no error raised in this file holds a secret in any form.
  expect(printed.length).toBeGreaterThan(0);
  expect(leaksIn(printed.join("\n"), SECRETS, [REG_USER, "deploy-bot"])).toEqual([]);
  expect(errors.length).toBeGreaterThan(0);
  for (const e of errors) expect(leaksIn(errorText(e), SECRETS, [REG_USER, "deploy-bot"])).toEqual([]);
  await registry?.cleanup();
  rmSync(tmp, { recursive: true, force: true });
});

async function freshApi(opts: { http?: boolean } = {}): Promise<FakeKubeApi> {
  api = await startFakeKubeApi(KUBE_TOKEN, opts.http ? {} : { tls });
  writeKubeconfig(api.url, api.caPem);
  return api;
}

const patches = () => api.requests.filter((r) => r.method === "PATCH");
const b64 = (s: string) => Buffer.from(s, "base64").toString("utf8");

describe("deploy --render", () => {
  it("resolves the tag with the registry credential and prints GitOps manifests: Secrets named, never rendered without data", async () => {
    const io = makeIo();
    await run({ render: true }, io);
    const text = io.out.join("\n");
    const docs = parseAllDocuments(text).map((d) => d.toJS());
    expect(docs.map((d) => `${d.kind}/${d.metadata.name}`)).toEqual(["Deployment/inference", "Service/inference"]);
    const required = JSON.parse(docs[0].spec.template.metadata.annotations["rules-pipeline/required-secrets"]);
    expect(required.map((r: { name: string; type: string }) => `${r.type} ${r.name}`)).toEqual([
      "kubernetes.io/dockerconfigjson rp-registry-ci-registry",
      expect.stringMatching(/^Opaque rp-secret-api-token-[0-9a-f]{8}$/),
      expect.stringMatching(/^Opaque rp-secret-git-token-[0-9a-f]{8}$/),
    ]);
    expect(text).toMatch(/^# Secrets these manifests need/);
    expect(text).toContain(
      "#   rp-registry-ci-registry (type kubernetes.io/dockerconfigjson, key .dockerconfigjson) from containerRegistry ci-registry",
    );
    expect(apiServerProblems(docs)).toEqual([]);
    const deployment = docs[0];
    expect(deployment.metadata.namespace).toBe("default");
    expect(deployment.spec.template.spec.containers[0].image).toBe(`${registry.address}/ml/inference@${digest}`);
    // The model's init container pulls the digest its tag named at render time, not the moving tag.
    const pull = deployment.spec.template.spec.initContainers.find((c: { name: string }) =>
      c.name.startsWith("model-"),
    );
    expect(pull.args[1]).toMatch(
      new RegExp(`^${registry.address.replace(/\./g, "\\.")}/models/resnet@sha256:[0-9a-f]{64}$`),
    );
    expect(io.err.join("\n")).toMatch(/tags are not deterministic/);
  });

  it("--output json --job --namespace prints a v1 List holding a Job", async () => {
    const io = makeIo();
    await run({ render: true, output: "json", job: true, namespace: "batch" }, io);
    const list = JSON.parse(io.out.join("\n"));
    expect(list.kind).toBe("List");
    const job = list.items.find((o: { kind: string }) => o.kind === "Job");
    expect(job.metadata.name).toMatch(/^inference-[0-9a-f]{8}$/);
    expect(job.metadata.namespace).toBe("batch");
    expect(job.spec).toMatchObject({
      backoffLimit: 0,
      parallelism: 2,
      completions: 2,
      completionMode: "Indexed",
      ttlSecondsAfterFinished: 86400,
      activeDeadlineSeconds: 604800,
    });
    expect(list.items.some((o: { kind: string }) => o.kind === "Service")).toBe(false);
  });
});

describe("deploy --render --with-secrets / --secrets-only", () => {
  it("--with-secrets fills every Secret from the local secrets, valid for the API server", async () => {
    const io = makeIo({ audit: false });
    await run({ render: true, "with-secrets": true }, io);
    const docs = parseAllDocuments(io.out.join("\n")).map((d) => d.toJS());
    expect(docs.map((d) => d.kind)).toEqual(["Secret", "Secret", "Secret", "Deployment", "Service"]);
    expect(apiServerProblems(docs)).toEqual([]);
    expect(JSON.parse(b64(docs[0].data[".dockerconfigjson"])).auths[registry.address].password).toBe(REG_PASSWORD);
    expect(io.out.join("\n")).not.toMatch(/^# Secrets these manifests need/);
  });

  it("--secrets-only --render prints only the filled Secrets", async () => {
    const io = makeIo({ audit: false });
    await run({ render: true, "secrets-only": true }, io);
    const docs = parseAllDocuments(io.out.join("\n")).map((d) => d.toJS());
    expect(docs.map((d) => d.kind)).toEqual(["Secret", "Secret", "Secret"]);
    expect(docs.every((d) => Object.keys(d.data).length > 0)).toBe(true);
  });

  it("--with-secrets with --apply is a usage error; --offline with tags names each one", async () => {
    expect((await pipelineErrorOf(run({ apply: true, "with-secrets": true }, makeIo()))).message).toBe(
      "--with-secrets is for --render (--apply always creates the Secrets)",
    );
    expect(
      (await pipelineErrorOf(run({ render: true, "git-image": "mirror.example.com/git:2.45" }, makeIo()))).message,
    ).toBe('--git-image: expected an image by digest (HOST/REPO[:TAG]@sha256:...), got "mirror.example.com/git:2.45"');
    const e = await pipelineErrorOf(run({ render: true, offline: true }, makeIo()));
    expect(e.code).toBe("E_OFFLINE");
    expect(e.message.split("\n")).toEqual([
      "--offline: these references need the network:",
      `${join(tmp, "spec.yaml")}:2: image: "${registry.address}/ml/inference:v1" is a tag; pin it by digest (HOST/REPO@sha256:...)`,
      `${join(tmp, "spec.yaml")}:10: models[0].id: "${registry.address}/models/resnet:v2" is a tag; pin it by digest`,
    ]);
  });
});

describe("deploy --apply", () => {
  // Fake: the scrubber needs an answer that quotes the Secret's data, which a real server gives for no request we can
  // make on demand.
  it("422 on a Secret whose message echoes the data is scrubbed", async () => {
    const a = await freshApi();
    const config = JSON.stringify({
      auths: {
        [registry.address]: {
          username: REG_USER,
          password: REG_PASSWORD,
          auth: Buffer.from(`${REG_USER}:${REG_PASSWORD}`).toString("base64"),
        },
      },
    });
    a.failApply.set("Secret/rp-registry-ci-registry", {
      status: 422,
      message: `Secret "rp-registry-ci-registry" is invalid: data[.dockerconfigjson]: Invalid value: "${Buffer.from(config).toString("base64")}": ${config} password ${REG_PASSWORD}`,
    });
    const e = await pipelineErrorOf(run({ apply: true }, makeIo()));
    expect(e.code).toBe("E_K8S_API");
    expect(e.message).toMatch(
      /^apply Secret ml\/rp-registry-ci-registry: .* answered 422 Unprocessable Entity: Secret "rp-registry-ci-registry" is invalid: data\[\.dockerconfigjson\]: Invalid value: "\[REDACTED\]"/,
    );
    expect(leaksIn(errorText(e), SECRETS, [REG_USER])).toEqual([]);
    // The audit can fail: the request did carry the secret.
    expect(b64(patches()[0].body!.data[".dockerconfigjson"])).toContain(REG_PASSWORD);
  });

  // A stopped server's port: nothing to fake, but no cluster to start either.
  it("an unreachable API server is an error naming the server and context", async () => {
    await freshApi();
    await api.stop();
    const e = await pipelineErrorOf(run({ apply: true }, makeIo()));
    expect(e.code).toBe("E_K8S_UNREACHABLE");
    expect(e.message).toMatch(
      new RegExp(
        `^apply Secret ml/rp-registry-ci-registry: cannot reach the Kubernetes API at ${api.url} \\(context "fake"\\): ECONNREFUSED$`,
      ),
    );
  });
});

describe("deploy: bad input", () => {
  // Fake: only its request log shows that nothing was sent.
  it("an unknown --context names it and lists the contexts, before any request", async () => {
    await freshApi();
    const e = await pipelineErrorOf(run({ apply: true, context: "prod" }, makeIo()));
    expect(e.code).toBe("E_KUBE_CONTEXT");
    expect(e.message).toBe(`--context: no context "prod" in ${join(tmp, "kubeconfig")} (contexts: fake, elsewhere)`);
    expect(api.requests).toEqual([]);
  });

  // Fake: the real kube-apiserver serves HTTPS only; a plain-HTTP server exists only in tests.
  it("a plain-HTTP server needs insecure-skip-tls-verify; with it, apply works over HTTP", async () => {
    await freshApi({ http: true });
    writeKubeconfig(api.url, "");
    const io = makeIo();
    await run({ apply: true }, io);
    expect(io.out).toContain("Deployment ml/inference rolled out");
    writeFileSync(
      join(tmp, "kubeconfig"),
      readFileSync(join(tmp, "kubeconfig"), "utf8").replace(", insecure-skip-tls-verify: true", ""),
    );
    const e = await pipelineErrorOf(run({ apply: true }, makeIo()));
    expect(e.code).toBe("E_KUBECONFIG");
    expect(e.message).toBe(
      `cluster "fake" in ${join(tmp, "kubeconfig")} has a plain-HTTP server (${api.url}): use https, or set insecure-skip-tls-verify: true for a local test server`,
    );
  });

  it("a missing kubeconfig says where it looked", async () => {
    const e1 = await pipelineErrorOf(run({ apply: true }, makeIo({ env: { KUBECONFIG: join(tmp, "nope.yaml") } })));
    expect(e1.code).toBe("E_KUBECONFIG");
    expect(e1.message).toBe(`KUBECONFIG names ${join(tmp, "nope.yaml")}, and none of them exists`);
    const e2 = await pipelineErrorOf(run({ apply: true }, makeIo({ env: { KUBECONFIG: "" } })));
    expect(e2.message).toBe(
      `no kubeconfig: ${join(tmp, "home", ".kube", "config")} does not exist (set KUBECONFIG or pass --kubeconfig)`,
    );
  });

  it("a kubeconfig that does not parse is named without quoting its contents", async () => {
    const bad = join(tmp, "bad-kubeconfig");
    writeFileSync(bad, `users: [{name: x, user: {token: ${KUBE_TOKEN}}\n  - :\n`);
    const e = await pipelineErrorOf(run({ apply: true, kubeconfig: "bad-kubeconfig" }, makeIo()));
    expect(e.code).toBe("E_KUBECONFIG");
    expect(e.message).toMatch(new RegExp(`^cannot read kubeconfig ${bad}: not a valid kubeconfig`));
  });

  // Fake: only its request log shows that nothing was applied.
  it("a local secret that is missing stops --apply before anything is applied", async () => {
    await freshApi();
    const e = await pipelineErrorOf(run({ apply: true }, makeIo({ env: { PIPELINE_SECRET_GIT_TOKEN: "" } })));
    expect(e.code).toBe("E_SECRET_NOT_FOUND");
    expect(e.message).toMatch(/^secret "GIT_TOKEN" not found: set PIPELINE_SECRET_GIT_TOKEN or create /);
    expect(patches()).toEqual([]);
  });

  it("neither or both of --render/--apply is a usage error", async () => {
    expect((await pipelineErrorOf(run({}, makeIo()))).message).toBe(
      "deploy: pass exactly one of --render or --apply (got neither)",
    );
    expect((await pipelineErrorOf(run({ render: true, apply: true }, makeIo()))).code).toBe("E_USAGE");
  });
});
