/**
 * P19: a map on Kubernetes (issue #73): `pipeline map --on kubernetes` over 1,000 items against the Indexed Job a user
 * would write by hand for the same work, on the real cluster of scripts/k8s-cluster.sh, at parallelism 10 and 20.
 *
 * - ours: the CLI as a user runs it: the image (host-Node base, the task, the runtime's files) pushed by digest to a
 *   real registry, the store in a real S3 server (versitygw on the cluster's gateway), each round under a new prefix
 *   (nothing reused); from the command's start to its results on stdout: the image check, the items stored, the Job
 *   and its Secret, the pods, the results read back in order, the Job deleted and its pods gone.
 * - peer: a hand-written Indexed Job of the same image with the same indexes (chunks of the same size), each pod
 *   computing its chunk from the items in its environment and printing the results; `kubectl apply`, `kubectl wait
 *   --for=condition=complete`, `kubectl logs` of every pod, `kubectl delete job --wait`: the floor a map pays anyway
 *   (pods and their start), with no store, no retries and no check.
 * - in a pod (at parallelism 10): the same map called by a pipeline already running on the cluster, Sematic's
 *   CloudResolver shape: `pipeline run --on kubernetes` of the image's launch script, which calls runMap (its store
 *   credential from Secrets, its ServiceAccount allowed to create, get and delete Jobs and nothing more); from the
 *   command's start to its end (the launcher pod's start, the map's Job from inside it, the results read back there).
 * Target: ours ≤ 1.2× the peer's wall time (medians of alternating rounds); items per second in the notes; the
 * in-pod side against the peer informational (it pays one more pod start).
 *
 * Not in the smoke run: a machine runs one cluster, which the test run's cluster lane holds while bench-smoke runs
 * (the map's behaviour on a cluster is test/e2e/k8s-real-map.test.ts). `npm run bench -- --only P19`.
 */
import { createHash } from "node:crypto";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { check, CLI, cliEnv, type Ctx, row, versus } from "../lib/context";
import { run } from "../lib/measure";
import type { Row } from "../lib/report";
import { rounds } from "../lib/rounds";
import { startCluster } from "../../test/fixtures/k8s-cluster";
import { buildMapImage } from "../../test/fixtures/map-image";
import { startRegistry } from "../../test/fixtures/registry";
import { startS3Server } from "../../test/fixtures/s3-server";

const ITEMS = 1000;
const NS = "bench-map";
const TASK = "exports.square = (item) => ({ n: item.n, square: item.n * item.n });\n";

/** The hand-written Job's pod: its chunk of ITEMS (JSON in the environment), one result line per item. */
/**
 * The launch script of the in-pod side: runMap over ITEMS items from inside its pod, the results' digest printed (the
 * bench checks it against the expected lines').
 */
const LAUNCH = `
const { createHash } = require("node:crypto");
const { runMap } = require("@rules_pipeline/runtime");
const items = Array.from({ length: Number(process.env.ITEMS) }, (_, n) => ({ n }));
runMap({ module: "/app/task.js", export: "square" }, items, {
  artifacts: process.env.MAP_ARTIFACTS,
  chunkSize: Number(process.env.CHUNK),
  parallelism: Number(process.env.PARALLELISM),
}).then(
  (r) => console.log("results " + createHash("sha256").update(r.map((x) => JSON.stringify(x)).join("\\n")).digest("hex")),
  (e) => { console.log("map failed: " + e.code + ": " + e.message); process.exitCode = 3; },
);
`;

const PEER_SCRIPT = `
const items = JSON.parse(process.env.ITEMS), size = Number(process.env.CHUNK), i = Number(process.env.JOB_COMPLETION_INDEX);
for (const item of items.slice(i * size, (i + 1) * size)) console.log(JSON.stringify({ n: item.n, square: item.n * item.n }));
`;

export async function p19(ctx: Ctx): Promise<Row[]> {
  const what = (p: number) =>
    `map on Kubernetes: ${ITEMS} items at parallelism ${p}, \`pipeline map --on kubernetes\` vs a hand-written Indexed Job`;
  if (ctx.smoke)
    return [
      row({
        id: "P19",
        key: "P19-smoke",
        what: what(10),
        ours: "not run",
        peer: "",
        target: "",
        notes:
          "not in the smoke run: the machine's one cluster is the test run's cluster lane's (test/e2e/k8s-real-map.test.ts); `npm run bench -- --only P19`",
      }),
    ];
  const dir = join(ctx.work, "p19");
  mkdirSync(dir, { recursive: true });
  const cluster = await startCluster();
  ctx.defer(() => cluster.down());
  const reg = await startRegistry();
  ctx.defer(() => reg.stop());
  mkdirSync(join(cluster.certsDir, reg.host), { recursive: true });
  writeFileSync(
    join(cluster.certsDir, reg.host, "hosts.toml"),
    `server = "http://${reg.host}"\n[host."http://${reg.host}"]\n  capabilities = ["pull", "resolve"]\n`,
  );
  const s3 = await startS3Server({ host: cluster.gateway });
  ctx.defer(() => s3.stop());
  mkdirSync(join(dir, "app"));
  writeFileSync(join(dir, "app", "task.js"), TASK);
  const image = await buildMapImage(
    join(dir, "image"),
    { "task.js": TASK, "launch.js": LAUNCH },
    { reg, repository: "bench/map" },
  );
  await cluster.kubectl(["create", "namespace", NS]);
  // The in-pod side's ServiceAccount (Jobs only, as docs/scale-out.md lists) and the store's credential as Secrets.
  await cluster.kubectl(["create", "serviceaccount", "inpod", "-n", NS]);
  await cluster.kubectl(["create", "role", "inpod-jobs", "-n", NS, "--verb=create,get,delete", "--resource=jobs"]);
  await cluster.kubectl([
    ...["create", "rolebinding", "inpod-jobs", "-n", NS, "--role=inpod-jobs", `--serviceaccount=${NS}:inpod`],
  ]);
  for (const [name, value] of [
    ["rp-secret-s3-id", s3.admin.accessKeyId],
    ["rp-secret-s3-key", s3.admin.secretAccessKey],
  ])
    await cluster.kubectl(["create", "secret", "generic", name, "-n", NS, `--from-literal=value=${value}`]);
  const items = Array.from({ length: ITEMS }, (_, n) => ({ n }));
  writeFileSync(join(dir, "items.jsonl"), items.map((i) => `${JSON.stringify(i)}\n`).join(""));
  const expected = items.map(({ n }) => JSON.stringify({ n, square: n * n })).join("\n");
  const env = {
    ...cliEnv(),
    HOME: dir,
    KUBECONFIG: cluster.kubeconfig,
    PIPELINE_CACHE_DIR: join(dir, "cache"),
    AWS_ENDPOINT_URL_S3: s3.endpoint,
    AWS_ACCESS_KEY_ID: s3.admin.accessKeyId,
    AWS_SECRET_ACCESS_KEY: s3.admin.secretAccessKey,
  };
  let round = 0;
  const rows: Row[] = [];
  for (const parallelism of [10, 20]) {
    // The chunks `pipeline map` makes by default: about four indexes per parallel slot.
    const chunk = Math.ceil(ITEMS / (parallelism * 4));
    const indexes = Math.ceil(ITEMS / chunk);
    const ours = async () => {
      const prefix = `p19/${parallelism}/${round++}/`;
      const r = await run(
        process.execPath,
        [
          CLI,
          ...["map", "--on", "kubernetes", "--image", image.ref!, "--task", join(dir, "app", "task.js#square")],
          ...["--app-root", join(dir, "app"), "--items", join(dir, "items.jsonl"), "--namespace", NS],
          ...["--artifacts", `s3://${s3.bucket}/${prefix}`, "--parallelism", String(parallelism)],
        ],
        { env, cwd: dir },
      );
      check(
        r.code === 0 && r.stdout.trim() === expected,
        `P19: pipeline map exited ${r.code}: ${r.stderr.slice(-2000)}`,
      );
      return r.ms;
    };
    const peer = async () => {
      const name = `peer-${parallelism}-${round++}`;
      const job = {
        apiVersion: "batch/v1",
        kind: "Job",
        metadata: { name, namespace: NS },
        spec: {
          completions: indexes,
          parallelism,
          completionMode: "Indexed",
          backoffLimit: 0,
          template: {
            spec: {
              restartPolicy: "Never",
              containers: [
                {
                  name: "main",
                  image: image.ref!,
                  command: ["node", "-e", PEER_SCRIPT],
                  env: [
                    { name: "ITEMS", value: JSON.stringify(items) },
                    { name: "CHUNK", value: String(chunk) },
                  ],
                },
              ],
            },
          },
        },
      };
      const started = Date.now();
      const kubectl = (args: string[], input?: string) => cluster.kubectl(args, input);
      await kubectl(["apply", "-f", "-"], JSON.stringify(job));
      await kubectl(["wait", "-n", NS, `job/${name}`, "--for=condition=complete", "--timeout=900s"]);
      // Every pod's results, in index order.
      const { stdout: pods } = await kubectl([
        ...["get", "pods", "-n", NS, "-l", `job-name=${name}`, "--field-selector", "status.phase=Succeeded"],
        ...[
          "-o",
          "jsonpath={range .items[*]}{.metadata.labels.batch\\.kubernetes\\.io/job-completion-index} {.metadata.name}{'\\n'}{end}",
        ],
      ]);
      const byIndex = pods
        .trim()
        .split("\n")
        .map((l) => l.split(" "))
        .sort((a, b) => Number(a[0]) - Number(b[0]));
      const lines: string[] = [];
      for (const [, pod] of byIndex) lines.push((await kubectl(["logs", "-n", NS, pod])).stdout.trim());
      await kubectl(["delete", "job", "-n", NS, name, "--wait=true", "--cascade=foreground"]);
      const ms = Date.now() - started;
      check(lines.join("\n") === expected, `P19: the hand-written Job's results are not the items' squares`);
      return ms;
    };
    const expectedDigest = createHash("sha256").update(expected).digest("hex");
    const inPod = async () => {
      const prefix = `p19/${parallelism}/${round++}/`;
      const r = await run(
        process.execPath,
        [
          CLI,
          ...["run", "--on", "kubernetes", "--image", image.ref!, "--namespace", NS, "--service-account", "inpod"],
          ...["--env", "AWS_ACCESS_KEY_ID=SECRET:s3-id", "--env", "AWS_SECRET_ACCESS_KEY=SECRET:s3-key"],
          ...["--env", `AWS_ENDPOINT_URL_S3=${s3.endpoint}`, "--env", `MAP_ARTIFACTS=s3://${s3.bucket}/${prefix}`],
          ...["--env", `ITEMS=${ITEMS}`, "--env", `CHUNK=${chunk}`, "--env", `PARALLELISM=${parallelism}`],
          ...["--", "launch.js"],
        ],
        { env, cwd: dir },
      );
      check(
        r.code === 0 && r.stdout.includes(`results ${expectedDigest}`),
        `P19: runMap in a pod exited ${r.code}: ${(r.stdout + r.stderr).slice(-2000)}`,
      );
      return r.ms;
    };
    const sides = parallelism === 10 ? [ours, peer, inPod] : [ours, peer];
    const [o, p, i] = await rounds(ctx.slowReps, 0, sides);
    const perSecond = (ms: number) => ((ITEMS * 1000) / ms).toFixed(0);
    rows.push(
      versus({
        id: "P19",
        key: `P19-p${parallelism}`,
        what: what(parallelism),
        ours: o,
        peer: p,
        limit: 1.2,
        notes: `${indexes} indexes of ${chunk} items on the one-node cluster; ours ${perSecond(o.median)} items/s, the hand-written Job ${perSecond(p.median)} items/s; each round of ours under a new S3 prefix (nothing reused); the peer has no store, retries or checks, and reads its results from the pods' logs`,
      }),
    );
    if (i)
      rows.push(
        versus({
          id: "P19",
          key: `P19-inpod-p${parallelism}`,
          what: `informational: the same map called from inside a pod (\`pipeline run --on kubernetes\` of a launch script that calls runMap) vs the hand-written Indexed Job`,
          ours: i,
          peer: p,
          notes: `in the same rounds as P19-p${parallelism} (the CLI's map there: ${Math.round(o.median)} ms); the launcher pod's start, then the map's Job made from inside it by a ServiceAccount that may only create, get and delete Jobs, the store's credential from Secrets; the pod checks nothing the CLI side does not, and prints the results' digest, which the bench compares; ${perSecond(i.median)} items/s`,
        }),
      );
  }
  return rows;
}
