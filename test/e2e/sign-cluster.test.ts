/**
 * Issue #22's policy on the cluster paths: `pipeline run --on kubernetes`, `pipeline deploy --apply` and the runtime's
 * runOnKubernetes() take `--require-signature PUB` (also `$PIPELINE_REQUIRE_SIGNATURE` and the spec's
 * `requireSignature`, relative to the spec). The image's signature is verified against a real registry
 * (docker-registry 2.8, signatures made by `pipeline push --sign-key` with a key from Debian sid's cosign 3.1.1) before
 * any request reaches the API server: an unsigned image, another key's signature and a spec interpreter that is not an
 * image are refused with E_SIGNATURE naming the digest, and the fake API server (test/fixtures/kube-api.ts, no real
 * cluster here: test/e2e/k8s-real-*.test.ts has those) records no request at all. A signed image runs as a Job, or
 * rolls out as a Deployment.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, test } from "vitest";
import { deploy } from "../../src/cli/commands/deploy";
import { run } from "../../src/cli/commands/run";
import type { RunKubernetesArgs } from "../../src/cli/commands/run-kubernetes";
import { writeLayout } from "../../src/layout/write";
import { runOnKubernetes } from "../../src/runtime";
import { pipelineCli, runCli } from "../fixtures/cli";
import { cosignIn } from "../fixtures/cosign";
import { pipelineErrorOf } from "../fixtures/errors";
import {
  type FakeKubeApi,
  fakeKubeconfig,
  selfSignedCert,
  startFakeKubeApi,
  type KubeTestIo,
  kubeTestIo,
} from "../fixtures/kube-api";
import { randomImage } from "../fixtures/random-image";
import { type RunningRegistry, startRegistry } from "../fixtures/registry";

const tmp = mkdtempSync(join(tmpdir(), "rp-e2e-sign-cluster-"));
const PASSWORD = "cluster policy " + Math.random().toString(36).slice(2);
const KUBE_TOKEN = "kube-T0ken-sign-cluster";
let reg: RunningRegistry;
let api: FakeKubeApi;
let tls: { key: string; cert: string };
/** HOST/REPO@DIGEST of an unsigned image, and of one signed with keys/cosign.key. */
let unsigned = "";
let signed = "";
const pub = () => join(tmp, "keys", "cosign.pub");
const otherPub = () => join(tmp, "other", "cosign.pub");

type TestIo = KubeTestIo;
const makeIo = (env: Record<string, string> = {}): TestIo => kubeTestIo(tmp, env);

async function pushed(name: string, sign: boolean): Promise<string> {
  const dir = join(tmp, name);
  const image = randomImage({ layers: 1, layerSize: 256 });
  await writeLayout(dir, image);
  const args = [
    "push",
    dir,
    "--repository",
    `${reg.host}/cluster/${name}`,
    ...(sign ? ["--sign-key", join(tmp, "keys", "cosign.key")] : []),
  ];
  const r = await runCli(args, { env: { ...process.env, COSIGN_PASSWORD: PASSWORD } });
  if (r.code !== 0) throw new Error(`push ${name}: ${r.stderr}`);
  return `${reg.host}/cluster/${name}@${image.digest}`;
}

const runK8s = (a: Partial<RunKubernetesArgs>, io: TestIo) =>
  run({ on: "kubernetes", "poll-interval": 10, timeout: 5, ...a } as RunKubernetesArgs, io);

function writeSpec(image: string, extra = ""): string {
  writeFileSync(join(tmp, "spec.yaml"), `name: inference\nimage: ${image}\nports: [8080]\n${extra}`);
  return "spec.yaml";
}

beforeAll(async () => {
  mkdirSync(join(tmp, "home"));
  const cosign = cosignIn(tmp, PASSWORD);
  await cosign.generateKeyPair(join(tmp, "keys"));
  await cosign.generateKeyPair(join(tmp, "other"));
  tls = selfSignedCert();
  reg = await startRegistry();
  unsigned = await pushed("unsigned", false);
  signed = await pushed("signed", true);
}, 300_000);

afterEach(async () => {
  await api?.stop();
});

afterAll(async () => {
  await reg?.stop();
  rmSync(tmp, { recursive: true, force: true });
});

async function freshApi(): Promise<FakeKubeApi> {
  api = await startFakeKubeApi(KUBE_TOKEN, { tls });
  writeFileSync(join(tmp, "kubeconfig"), fakeKubeconfig(api.url, api.caPem, KUBE_TOKEN));
  return api;
}

describe("run --on kubernetes --require-signature", () => {
  test("an unsigned image, or another key's signature ($PIPELINE_REQUIRE_SIGNATURE): E_SIGNATURE naming the digest, no request to the API server", async () => {
    await freshApi();
    let e = await pipelineErrorOf(runK8s({ image: unsigned, "require-signature": pub() }, makeIo()));
    expect(e.code).toBe("E_SIGNATURE");
    expect(e.message).toContain(`${unsigned}: the signature does not verify with the key: no signature found`);
    e = await pipelineErrorOf(runK8s({ image: signed }, makeIo({ PIPELINE_REQUIRE_SIGNATURE: otherPub() })));
    expect(e.code).toBe("E_SIGNATURE");
    expect(e.message).toContain(`${signed}: the signature does not verify with the key: bundle sha256:`);
    expect(e.message).toContain("none of its 1 signature(s) verifies with the key");
    expect(api.requests).toEqual([]);
  });

  test("a signed image runs as a Job once its signature verifies", async () => {
    await freshApi();
    api.jobs.script = { lines: ["signed and running"], exitCode: 0 };
    const io = makeIo();
    const res = await runK8s({ image: signed, "require-signature": pub() }, io);
    expect(res.exitCode).toBe(0);
    expect(io.out).toEqual(["signed and running"]);
    expect(io.err[0]).toMatch(
      new RegExp(
        `^signature sha256:[0-9a-f]{64} of ${signed.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}: verifies with ${pub()}$`,
      ),
    );
    expect(api.jobs.created[0].spec.template.spec.containers[0].image).toBe(signed);
  });

  test("a spec's requireSignature (relative to the spec) applies to the spec's image", async () => {
    await freshApi();
    const spec = writeSpec(unsigned, "requireSignature: keys/cosign.pub\n");
    const e = await pipelineErrorOf(runK8s({ spec }, makeIo()));
    expect(e.code).toBe("E_SIGNATURE");
    expect(e.message).toContain(`${unsigned}: the signature does not verify with the key: no signature found`);
    expect(api.requests).toEqual([]);
  });

  test("runOnKubernetes({ requireSignature }) from a launch script: refused before the Job (exit 1), runs once signed", async () => {
    await freshApi();
    api.jobs.script = { lines: ["from the pod"], exitCode: 0 };
    const cli = await pipelineCli();
    const env = {
      PATH: process.env.PATH ?? "",
      HOME: join(tmp, "home"),
      KUBECONFIG: join(tmp, "kubeconfig"),
      PIPELINE_CLI: cli,
      PIPELINE_CLI_NODE: process.execPath,
    };
    expect(await runOnKubernetes({ image: unsigned, requireSignature: pub(), processEnv: env })).toBe(1);
    expect(api.requests).toEqual([]);
    expect(await runOnKubernetes({ image: signed, requireSignature: pub(), processEnv: env })).toBe(0);
    expect(api.jobs.created).toHaveLength(1);
  }, 60_000);
});

describe("deploy --apply --require-signature", () => {
  test("an unsigned image (flag, or the spec's requireSignature) is refused before anything is applied", async () => {
    await freshApi();
    let e = await pipelineErrorOf(
      deploy(
        { spec: writeSpec(unsigned), apply: true, "require-signature": pub(), "poll-interval": 10, timeout: 5 },
        makeIo(),
      ),
    );
    expect(e.code).toBe("E_SIGNATURE");
    expect(e.message).toContain(`${unsigned}: the signature does not verify with the key: no signature found`);
    e = await pipelineErrorOf(
      deploy(
        {
          spec: writeSpec(signed, "requireSignature: other/cosign.pub\n"),
          apply: true,
          "poll-interval": 10,
          timeout: 5,
        },
        makeIo(),
      ),
    );
    expect(e.code).toBe("E_SIGNATURE");
    expect(e.message).toContain(`${signed}: the signature does not verify with the key: bundle sha256:`);
    expect(api.requests).toEqual([]);
    // --render deploys nothing: no signature is asked for.
    const io = makeIo({ PIPELINE_REQUIRE_SIGNATURE: pub() });
    await deploy({ spec: writeSpec(unsigned), render: true }, io);
    expect(io.out.join("\n")).toContain(`image: ${unsigned}`);
  });

  test("a signed image is applied and rolls out", async () => {
    await freshApi();
    const io = makeIo({ PIPELINE_REQUIRE_SIGNATURE: pub() });
    await deploy({ spec: writeSpec(signed), apply: true, "poll-interval": 10, timeout: 5 }, io);
    expect(
      io.err.some((l) => l.startsWith("signature sha256:") && l.endsWith(`of ${signed}: verifies with ${pub()}`)),
    ).toBe(true);
    expect(io.out).toContain("Deployment ml/inference rolled out");
    expect([...api.objects.keys()].some((k) => k.startsWith("Deployment/"))).toBe(true);
  });
});
