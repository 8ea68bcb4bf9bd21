/**
 * `pipeline run --on kubernetes` against the in-test fake API server (test/fixtures/kube-api.ts + kube-jobs.ts),
 * only for what a real cluster cannot be made to do on demand or cannot show; each test says why. Everything a
 * real cluster produces (Jobs, logs, exit codes, --keep-job, Ctrl-C, runOnKubernetes(), ImagePullBackOff,
 * Unschedulable, no pod, 403, 404, a Job deleted meanwhile) is in test/e2e/k8s-real-run.test.ts.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { run } from "../../src/cli/commands/run";
import type { RunKubernetesArgs } from "../../src/cli/commands/run-kubernetes";
import { pipelineErrorOf } from "../fixtures/errors";
import {
  type FakeKubeApi,
  selfSignedCert,
  startFakeKubeApi,
  fakeKubeconfig,
  type KubeTestIo,
  kubeTestIo,
} from "../fixtures/kube-api";

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
  // Fake: the real kube-apiserver serves HTTPS only; a plain-HTTP server exists only in tests.
  it("over plain HTTP to a test server whose kubeconfig says insecure-skip-tls-verify", async () => {
    await freshApi({ http: true });
    api.jobs.script = { lines: ["plain"], exitCode: 0 };
    const io = makeIo();
    expect((await runK8s({}, io)).exitCode).toBe(0);
    expect(io.out).toEqual(["plain"]);
    expect(api.requests[0].headers.authorization).toBe(`Bearer ${KUBE_TOKEN}`);
  });

  // Fake: a real API server's log stream cannot be made to drop mid-way on demand.
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

  // Fake: a kubelet reports InvalidImageName for a name it cannot parse, and the CLI's own reference check refuses
  // such names before any Job is made; the fake reports it to show a fatal reason ends the wait at once.
  it("an invalid image name fails at once, without waiting for the timeout", async () => {
    await freshApi();
    api.jobs.script = {
      pending: [{ waiting: { reason: "InvalidImageName", message: "couldn't parse image name" } }],
      stuck: true,
    };
    const started = Date.now();
    const e = await pipelineErrorOf(runK8s({ timeout: 30 }, makeIo()));
    expect(e.code).toBe("E_K8S_POD_FAILED");
    expect(e.message).toMatch(/cannot start: Pending \(InvalidImageName: couldn't parse image name\)$/);
    expect(Date.now() - started).toBeLessThan(5000);
    expect(api.jobs.deletions).toHaveLength(1);
  });

  // A stopped server's port: nothing to fake, but no cluster to start either.
  it("an unreachable API server is named with the context", async () => {
    await freshApi();
    const url = api.url;
    await api.stop();
    const e = await pipelineErrorOf(runK8s({}, makeIo()));
    expect(e.code).toBe("E_K8S_UNREACHABLE");
    expect(e.message).toBe(
      `create jobs "${e.message.match(/"(train-[0-9a-z]{5})"/)![1]}" in namespace "ml": cannot reach the Kubernetes API at ${url} (context "fake"): ECONNREFUSED`,
    );
  });

  // Fake: only its request log shows that a refused run sent nothing at all.
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
});
