/**
 * `pipeline map --on kubernetes` on a real cluster (scripts/k8s-cluster.sh): the map's image (host-Node base, the
 * task, the runtime's files) pushed to a real registry, the store in a real S3 server (versitygw, bound on the
 * cluster's gateway so that this machine and the pods both reach it), one Indexed Job per call in a namespace that
 * enforces Pod Security restricted. What is shown: a thousand items spread over many pods and returned in order; a
 * second call reusing every result without a Job; a throwing item failing the call after its retries with its error
 * and log; a deleted pod's index run again; a task that is not in the image refused before any Job; a wrong
 * credential refused before any Job; Ctrl-C deleting the Job and its pods. Nothing is faked.
 */
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pipelineCli, runCli } from "../fixtures/cli";
import { BUILD_WAIT_MS, clusterForFile, type FileCluster } from "../fixtures/k8s-cluster";
import { buildMapImage, type MapImage } from "../fixtures/map-image";
import { type RunningRegistry, startRegistry } from "../fixtures/registry";
import { type S3Server, startS3Server } from "../fixtures/s3-server";

const NS = "maps";
const TASK = `
const os = require("node:os");
exports.score = async (item) => {
  if (item.fail) throw new Error("item refused: " + item.fail);
  if (item.slow) await new Promise((r) => setTimeout(r, item.slow));
  return { n: item.n, square: item.n * item.n, pod: os.hostname() };
};
`;

// The pipeline's own launch script inside its pod (`pipeline run --on kubernetes`): runMap from there.
const LAUNCH = `
const { runMap } = require("@rules_pipeline/runtime");
const items = Array.from({ length: 30 }, (_, n) => ({ n }));
runMap({ module: "/app/score.js", export: "score" }, items, {
  artifacts: process.env.MAP_ARTIFACTS,
  chunkSize: 3,
  parallelism: 5,
  kubernetes: { memory: "256Mi" },
}).then(
  (r) => console.log("squares " + JSON.stringify(r.map((x) => x.square)) + " pods " + new Set(r.map((x) => x.pod)).size),
  (e) => {
    console.log("map failed: " + e.code + ": " + e.message);
    process.exitCode = 3;
  },
);
`;

let tmp: string;
let reg: RunningRegistry;
let s3: S3Server;
let cluster: FileCluster;
let app: MapImage;

function env(over: Record<string, string> = {}): NodeJS.ProcessEnv {
  return {
    ...process.env,
    HOME: join(tmp, "home"),
    KUBECONFIG: cluster.kubeconfig,
    PIPELINE_CACHE_DIR: join(tmp, "cache"),
    AWS_ENDPOINT_URL_S3: s3.endpoint,
    AWS_ACCESS_KEY_ID: s3.narrow.accessKeyId,
    AWS_SECRET_ACCESS_KEY: s3.narrow.secretAccessKey,
    ...over,
  };
}

function items(name: string, values: object[]): string {
  const file = join(tmp, `${name}.jsonl`);
  writeFileSync(file, values.map((v) => `${JSON.stringify(v)}\n`).join(""));
  return file;
}

function mapArgs(itemsFile: string, prefix: string, more: string[] = []): string[] {
  return [
    "map",
    ...["--on", "kubernetes", "--image", app.ref!, "--task", join(tmp, "app", "score.js#score")],
    ...["--app-root", join(tmp, "app"), "--items", itemsFile, "--namespace", NS],
    ...["--artifacts", `s3://${s3.bucket}/${s3.narrowPrefix}${prefix}/`, "--poll-interval", "500"],
    ...more,
  ];
}

/** `pipeline map` as its own process (to signal it, or to act while it runs); out() is what it printed so far. */
async function startMap(name: string, values: object[], more: string[]) {
  const child = spawn(process.execPath, [await pipelineCli(), ...mapArgs(items(name, values), name, more)], {
    env: env(),
    cwd: tmp,
  });
  const text = { stdout: "", stderr: "" };
  child.stdout.on("data", (d) => (text.stdout += d));
  child.stderr.on("data", (d) => (text.stderr += d));
  const exit = new Promise<number | null>((r) => child.on("close", r));
  return { child, exit, out: () => text };
}

/** A running pod (`pod/NAME`) of the Job the CLI whose stderr this reads has created (waits up to 2 minutes). */
async function runningPod(stderr: () => string): Promise<string> {
  for (let i = 0; i < 480; i++) {
    const job = /Job maps\/(map-score-[0-9a-z]{5}): created/.exec(stderr())?.[1];
    if (job) {
      const { stdout } = await cluster.kubectl([
        ...["get", "pods", "-n", NS, "-l", `rules-pipeline/map=${job}`, "--field-selector", "status.phase=Running"],
        ...["-o", "name"],
      ]);
      const first = stdout.trim().split("\n")[0];
      if (first) return first;
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`no pod of the map ran; its stderr:\n${stderr()}`);
}

const jobsLeft = async () =>
  (
    await cluster.kubectl(["get", "jobs,pods,secrets", "-n", NS, "-l", "rules-pipeline/map", "-o", "name"])
  ).stdout.trim();

beforeAll(async () => {
  tmp = mkdtempSync(join(tmpdir(), "k8s-real-map-"));
  mkdirSync(join(tmp, "home"));
  mkdirSync(join(tmp, "app"));
  writeFileSync(join(tmp, "app", "score.js"), TASK);
  cluster = await clusterForFile(inject("k8sCluster"));
  reg = await startRegistry();
  // containerd talks plain HTTP to a loopback registry only when its hosts.toml says so.
  mkdirSync(join(cluster.certsDir, reg.host), { recursive: true });
  writeFileSync(
    join(cluster.certsDir, reg.host, "hosts.toml"),
    `server = "http://${reg.host}"\n[host."http://${reg.host}"]\n  capabilities = ["pull", "resolve"]\n`,
  );
  s3 = await startS3Server({ host: cluster.gateway });
  app = await buildMapImage(
    join(tmp, "image"),
    { "score.js": TASK, "launch.js": LAUNCH },
    { reg, repository: "maps/score" },
  );
  await cluster.restrictedNamespace(NS);
}, BUILD_WAIT_MS);

afterAll(async () => {
  if (cluster) expect(await cluster.release()).toEqual([]);
  await reg?.stop();
  await s3?.stop();
  rmSync(tmp, { recursive: true, force: true });
});

describe("pipeline map --on kubernetes on a real cluster", () => {
  it("1,000 items over many pods of one Indexed Job: results in order, Job, pods and Secret gone after", async () => {
    const values = Array.from({ length: 1000 }, (_, n) => ({ n }));
    const r = await runCli(mapArgs(items("thousand", values), "thousand", ["--parallelism", "10"]), {
      env: env(),
      cwd: tmp,
    });
    expect(r.code, r.stderr).toBe(0);
    const out = r.stdout
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l));
    expect(out.map((o) => [o.n, o.square])).toEqual(values.map(({ n }) => [n, n * n]));
    // Each index is a pod, whose hostname Kubernetes sets to JOB-INDEX: ~4 indexes per slot, so 40 pods did the work.
    const pods = new Set(out.map((o) => o.pod));
    expect(pods.size).toBe(40);
    for (const p of pods) expect(p).toMatch(/^map-score-[0-9a-z]{5}-\d+$/);
    expect(r.stderr).toMatch(/Job maps\/map-score-[0-9a-z]{5}: created \(40 indexes, 10 at once\)/);
    expect(r.stderr).toMatch(/Job maps\/map-score-[0-9a-z]{5}: deleted/);
    expect(r.stderr).toContain("map: 1000/1000 done (0 reused from the store), 0 failed, 0 retries");
    expect(r.stderr + r.stdout).not.toContain(s3.narrow.secretAccessKey);
    expect(await jobsLeft()).toBe("");

    // The same call again: every result is in the bucket, no Job is made.
    const again = await runCli(mapArgs(join(tmp, "thousand.jsonl"), "thousand"), { env: env(), cwd: tmp });
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout).toBe(r.stdout);
    expect(again.stderr).toContain("map: 1000/1000 done (1000 reused from the store)");
    expect(again.stderr).not.toContain("created");
  });

  it("runs with exactly the RBAC docs/scale-out.md lists (a ServiceAccount's token), and through runMap", async () => {
    const kubeconfig = await cluster.serviceAccountKubeconfig(NS, "mapper", join(tmp, "mapper-kubeconfig"));
    for (const [verbs, resources] of [
      ["create,get,patch,delete", "jobs"],
      ["create,delete", "secrets"],
      ["list", "pods"],
      ["get", "pods/log"],
    ])
      await cluster.kubectl([
        ...["create", "role", `mapper-${resources.replace("/", "-")}`, "-n", NS],
        ...[`--verb=${verbs}`, `--resource=${resources}`],
      ]);
    for (const role of ["jobs", "secrets", "pods", "pods-log"])
      await cluster.kubectl([
        ...["create", "rolebinding", `mapper-${role}`, "-n", NS],
        ...[`--role=mapper-${role}`, `--serviceaccount=${NS}:mapper`],
      ]);
    // A launch script's call, as `bazel run //pkg:NAME` gives it the pushed image, on the cluster its kubeconfig names.
    const { runMap } = await import("../../src/runtime/index.js");
    const results = await runMap<{ square: number }>(
      { module: join(tmp, "app", "score.js"), export: "score" },
      [{ n: 7 }, { n: 8 }, { n: 9 }],
      {
        on: "kubernetes",
        artifacts: `s3://${s3.bucket}/${s3.narrowPrefix}runmap/`,
        appRoot: join(tmp, "app"),
        chunkSize: 1,
        kubernetes: { namespace: NS, memory: "256Mi" },
        processEnv: {
          ...env({ KUBECONFIG: kubeconfig }),
          PIPELINE_CONTAINER_IMAGE: app.ref!,
          PIPELINE_CLI: await pipelineCli(),
          PIPELINE_CLI_NODE: process.execPath,
        },
      },
    );
    expect(results.map((r) => r.square)).toEqual([49, 64, 81]);
    expect(await jobsLeft()).toBe("");
  });

  it("runMap inside a pod of `pipeline run --on kubernetes`: an Indexed Job of its own, with a ServiceAccount that may only create, get and delete Jobs", async () => {
    await cluster.kubectl(["create", "serviceaccount", "inpod", "-n", NS]);
    await cluster.kubectl([
      ...["create", "role", "inpod-jobs", "-n", NS, "--verb=create,get,delete", "--resource=jobs"],
    ]);
    await cluster.kubectl([
      ...["create", "rolebinding", "inpod-jobs", "-n", NS, "--role=inpod-jobs", `--serviceaccount=${NS}:inpod`],
    ]);
    await cluster.kubectl(["create", "serviceaccount", "nobody", "-n", NS]);
    // The store's credential: Secrets the run's env names (SECRET:…), read by the pipeline's pod and the map's pods.
    for (const [name, value] of [
      ["rp-secret-s3-id", s3.narrow.accessKeyId],
      ["rp-secret-s3-key", s3.narrow.secretAccessKey],
    ])
      await cluster.kubectl(["create", "secret", "generic", name, "-n", NS, `--from-literal=value=${value}`]);
    const run = (serviceAccount: string, prefix = "inpod") =>
      runCli(
        [
          ...["run", "--on", "kubernetes", "--image", app.ref!, "--namespace", NS, "--service-account", serviceAccount],
          ...["--env", "AWS_ACCESS_KEY_ID=SECRET:s3-id", "--env", "AWS_SECRET_ACCESS_KEY=SECRET:s3-key"],
          ...["--env", `AWS_ENDPOINT_URL_S3=${s3.endpoint}`],
          ...["--env", `MAP_ARTIFACTS=s3://${s3.bucket}/${s3.narrowPrefix}${prefix}/`],
          ...["--", "launch.js"],
        ],
        { env: env(), cwd: tmp },
      );
    const r = await run("inpod");
    expect(r.code, r.stderr + r.stdout).toBe(0);
    const squares = Array.from({ length: 30 }, (_, n) => n * n);
    // Ten indexes of three items, each a pod (its hostname is JOB-INDEX).
    expect(r.stdout).toContain(`squares ${JSON.stringify(squares)} pods 10`);
    expect(r.stdout).toMatch(
      /map: Job maps\/map-score-[0-9a-z]{5}-[0-9a-z]{5}: created \(30 items, 10 indexes, 5 at once\)/,
    );
    expect(r.stdout).toContain("map: 10/10 indexes done");
    expect(await jobsLeft()).toBe("");
    // The same call again: every result is in the store, no Job is made.
    const again = await run("inpod");
    expect(again.code, again.stderr + again.stdout).toBe(0);
    expect(again.stdout).toContain(`squares ${JSON.stringify(squares)}`);
    expect(again.stdout).not.toContain("map: Job");
    // A ServiceAccount that may not create Jobs: one clear error naming the RBAC it needs, nothing made.
    const denied = await run("nobody", "inpod-denied");
    expect(denied.code).toBe(3);
    expect(denied.stdout).toMatch(
      /map failed: E_MAP_TARGET: .*the pod's ServiceAccount may not create Jobs in namespace maps .*create, get and delete on jobs/,
    );
    expect(await jobsLeft()).toBe("");
    expect(r.stdout + r.stderr + denied.stdout + denied.stderr).not.toContain(s3.narrow.secretAccessKey);
  });

  it("`pipeline deploy SPEC --apply --job` of a spec with artifacts: its own ServiceAccount and Role, and runMap from its pod", async () => {
    const spec = join(tmp, "deployed.yaml");
    writeFileSync(
      spec,
      [
        "name: mapper",
        `image: ${app.ref}`,
        "args: [launch.js]",
        "artifacts:",
        "  s3:",
        `    bucket: ${s3.bucket}`,
        `    prefix: ${s3.narrowPrefix}deployed`,
        `    endpoint: "${s3.endpoint}"`,
        '    accessKeyId: "SECRET:s3-id"',
        '    secretAccessKey: "SECRET:s3-key"',
        "",
      ].join("\n"),
    );
    // deploy --apply fills the Secrets from this machine's named secrets.
    const r = await runCli(["deploy", spec, "--apply", "--job", "--namespace", NS], {
      env: env({
        PIPELINE_SECRET_S3_ID: s3.narrow.accessKeyId,
        PIPELINE_SECRET_S3_KEY: s3.narrow.secretAccessKey,
      }),
      cwd: tmp,
    });
    const { stdout: job } = await cluster.kubectl([
      ...["get", "jobs", "-n", NS, "-l", "app.kubernetes.io/name=mapper", "-o", "jsonpath={.items[0].metadata.name}"],
    ]);
    const { stdout: log } = await cluster.kubectl(["logs", `job/${job}`, "-n", NS]);
    expect(r.code, `${r.stderr}\nthe Job's log:\n${log}`).toBe(0);
    expect(log).toContain(`squares ${JSON.stringify(Array.from({ length: 30 }, (_, n) => n * n))} pods 10`);
    expect(log).toMatch(/map: Job maps\/map-mapper-[0-9a-f]+-[0-9a-z]{5}: created \(30 items, 10 indexes, 5 at once\)/);
    const { stdout: sa } = await cluster.kubectl([
      ...["get", "job", job, "-n", NS, "-o", "jsonpath={.spec.template.spec.serviceAccountName}"],
    ]);
    expect(sa).toBe("mapper-maps");
    // What the rendered Role allows, as the API server answers for that ServiceAccount.
    const can = async (verb: string, resource: string) =>
      (
        await cluster
          .kubectl([...["auth", "can-i", verb, resource, "-n", NS, `--as=system:serviceaccount:${NS}:mapper-maps`]])
          .catch((e: { stdout?: string }) => ({ stdout: e.stdout ?? "no" }))
      ).stdout.trim();
    expect([await can("create", "jobs"), await can("delete", "jobs"), await can("get", "jobs")]).toEqual([
      "yes",
      "yes",
      "yes",
    ]);
    expect([await can("list", "pods"), await can("create", "secrets"), await can("get", "secrets")]).toEqual([
      "no",
      "no",
      "no",
    ]);
    expect(await jobsLeft()).toBe("");
    await cluster.kubectl(["delete", "job", job, "-n", NS, "--wait=true"]);
    expect(r.stdout + r.stderr + log).not.toContain(s3.narrow.secretAccessKey);
  });

  it("a throwing item fails the call after its retries, naming the item, its error and its log", async () => {
    const values = [{ n: 1 }, { n: 2 }, { n: 3, fail: "bad input" }, { n: 4 }];
    const r = await runCli(
      mapArgs(items("throws", values), "throws", ["--retries", "1", "--chunk-size", "1", "--parallelism", "4"]),
      { env: env(), cwd: tmp },
    );
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(
      /error\[E_MAP_TASK\]: task score\.js#score: item 2 \(line 3 of \S+throws\.jsonl\) failed after 2 attempts: item refused: bad input/,
    );
    expect(r.stderr).toContain("last lines of its log:");
    expect(r.stderr).toMatch(/map: index 2 is run again \(attempt 2\)/);
    expect(r.stdout).toBe("");
    expect(await jobsLeft()).toBe("");
  });

  it("a deleted pod's index runs again and the call succeeds", async () => {
    const values = Array.from({ length: 4 }, (_, n) => ({ n, slow: 15_000 }));
    const { child, exit, out } = await startMap("deleted", values, ["--chunk-size", "1", "--parallelism", "4"]);
    try {
      // Once a pod of this call's Job runs, delete it (as a user or a drained node would).
      const deleted = (await runningPod(() => out().stderr)).replace(/^pod\//, "");
      await cluster.kubectl(["delete", "pod", "-n", NS, deleted, "--wait=false"]);
      expect(await exit, out().stderr).toBe(0);
      expect(
        out()
          .stdout.trim()
          .split("\n")
          .map((l) => JSON.parse(l).n),
      ).toEqual([0, 1, 2, 3]);
      // Its index ran again, in a new pod: the Job controller created a pod per index and one per retry (its events
      // say so), the deleted pod's first. A retry may have another cause the map names: SeaweedFS, the S3 server of
      // these tests before versitygw, once left the new pod's PUT of the result the deleted pod was writing unanswered
      // (idle past 30 s, 4 attempts), so the index ran a third time.
      expect(out().stderr).toMatch(/map: index \d is run again \(attempt 2\)/);
      const retries = Number(/, (\d+) retries?$/m.exec(out().stderr)?.[1]);
      expect(retries).toBeGreaterThanOrEqual(1);
      const job = /Job maps\/(map-score-[0-9a-z]{5}): created/.exec(out().stderr)![1];
      const { stdout: events } = await cluster.kubectl([
        ...["get", "events", "-n", NS, "--field-selector", `involvedObject.kind=Job,involvedObject.name=${job}`],
        ...["-o", "jsonpath={range .items[*]}{.reason} {.message}{'\\n'}{end}"],
      ]);
      const created = events.split("\n").filter((l) => l.startsWith("SuccessfulCreate"));
      expect(created, `${events}\nthe map said:\n${out().stderr}`).toHaveLength(4 + retries);
      expect(created.join("\n")).toContain(deleted);
      expect(await jobsLeft()).toBe("");
    } finally {
      child.kill("SIGKILL");
    }
  });

  it("a task that is not in the image is refused before any Job, naming it", async () => {
    writeFileSync(join(tmp, "app", "other.js"), "exports.other = (x) => x;\n");
    const r = await runCli(
      [
        ...mapArgs(items("absent", [{ n: 1 }]), "absent").map((a) =>
          a.endsWith("score.js#score") ? join(tmp, "app", "other.js#other") : a,
        ),
      ],
      { env: env(), cwd: tmp },
    );
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(
      `error[E_MAP_TASK_NOT_FOUND]: task other.js#other: the image ${app.ref} has no /app/other.js`,
    );
    expect(r.stderr).not.toContain("created");
  });

  it("a wrong credential is refused before any Job, and the secret is nowhere", async () => {
    const wrong = "wrong-secret-0123456789";
    const r = await runCli(mapArgs(items("wrong", [{ n: 1 }]), "wrong"), {
      env: env({ AWS_SECRET_ACCESS_KEY: wrong }),
      cwd: tmp,
    });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(
      /error\[E_MAP_STORE\]: s3:\/\/maps\/runs\/narrow\/wrong\/ at http:\/\/\S+: the secret access key does not match/,
    );
    expect(r.stderr).not.toContain("created");
    expect(r.stderr + r.stdout).not.toContain(wrong);
  });

  it("a directory store is refused: the pods cannot reach it", async () => {
    const args = mapArgs(items("dir", [{ n: 1 }]), "dir");
    args[args.indexOf("--artifacts") + 1] = join(tmp, "store");
    const r = await runCli(args, { env: env(), cwd: tmp });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/error\[E_MAP_TARGET\]: --on kubernetes: the store \S+ is a directory on this machine/);
  });

  it("--queue: the Job waits suspended in Kueue's LocalQueue (no pod timeout) until admitted; here the test admits it as Kueue would", async () => {
    // No Kueue controller runs here: the test does its part of the protocol (unsuspend the Job it admits).
    const { child, exit, out } = await startMap(
      "queued",
      [{ n: 2 }, { n: 3 }],
      ["--queue", "team-a", "--pod-timeout", "10"],
    );
    let job = "";
    for (let i = 0; i < 240 && !job; i++) {
      job = /Job maps\/(map-score-[0-9a-z]{5}): waiting in Kueue's LocalQueue team-a/.exec(out().stderr)?.[1] ?? "";
      if (!job) await new Promise((r) => setTimeout(r, 250));
    }
    expect(job, out().stderr).not.toBe("");
    const { stdout } = await cluster.kubectl([
      ...[
        "get",
        "job",
        job,
        "-n",
        NS,
        "-o",
        "jsonpath={.metadata.labels.kueue\\.x-k8s\\.io/queue-name} {.spec.suspend}",
      ],
    ]);
    expect(stdout).toBe("team-a true");
    // Longer than --pod-timeout: waiting in the queue is not a pod failing to start.
    await new Promise((r) => setTimeout(r, 12_000));
    expect(child.exitCode).toBeNull();
    await cluster.kubectl(["patch", "job", job, "-n", NS, "--type=merge", "-p", '{"spec":{"suspend":false}}']);
    expect(await exit, out().stderr).toBe(0);
    expect(
      out()
        .stdout.trim()
        .split("\n")
        .map((l) => JSON.parse(l).square),
    ).toEqual([4, 9]);
    expect(await jobsLeft()).toBe("");
  });

  it("Ctrl-C deletes the Job and its pods, then exits 130", async () => {
    const values = Array.from({ length: 6 }, (_, n) => ({ n, slow: 60_000 }));
    const { child, exit, out } = await startMap("stopped", values, ["--chunk-size", "1", "--parallelism", "3"]);
    await runningPod(() => out().stderr).finally(() => child.kill("SIGINT"));
    expect(await exit, out().stderr).toBe(130);
    expect(out().stderr).toContain("SIGINT: stopping the map's tasks");
    expect(out().stderr).toMatch(/Job maps\/map-score-[0-9a-z]{5}: deleted/);
    // The call returned once its pods were gone.
    expect(await jobsLeft()).toBe("");
  });
});
