/**
 * Every golden render (test/golden/k8s/*.yaml: Deployment, Service, Job with probes, resources, securityContext,
 * init containers, Secrets' placeholders) is accepted by a real kube-apiserver (scripts/k8s-cluster.sh):
 * `kubectl apply --dry-run=server` runs the server's validation, defaulting and admission (PodSecurity included)
 * without storing anything. The cluster is real; no fake server here.
 */
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { parseAllDocuments } from "yaml";
import { REPO_ROOT } from "../fixtures/repo";
import { BUILD_WAIT_MS, clusterForFile, type FileCluster } from "../fixtures/k8s-cluster";

const GOLDEN = join(REPO_ROOT, "test", "golden", "k8s");
const goldens = readdirSync(GOLDEN)
  .filter((f) => f.endsWith(".yaml"))
  .sort();

interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string };
  spec?: Record<string, unknown>;
}

function objectsOf(file: string): K8sObject[] {
  return parseAllDocuments(readFileSync(join(GOLDEN, file), "utf8"))
    .map((d) => d.toJS() as K8sObject | null)
    .filter((o): o is K8sObject => o !== null);
}

let cluster: FileCluster;

beforeAll(async () => {
  cluster = await clusterForFile(inject("k8sCluster"));
  const namespaces = new Set(goldens.flatMap((f) => objectsOf(f).map((o) => o.metadata.namespace ?? "default")));
  for (const ns of namespaces) if (ns !== "default") await cluster.kubectl(["create", "namespace", ns]);
}, BUILD_WAIT_MS);

afterAll(async () => {
  // The golden namespaces go; dry runs stored nothing else.
  if (cluster) expect(await cluster.release()).toEqual([]);
});

describe("golden renders on a real API server", () => {
  it("there are golden files to check", () => {
    expect(goldens).toEqual(
      expect.arrayContaining([
        "example-service.yaml",
        "full-example.yaml",
        "minimal-service.yaml",
        "pipeline-job.yaml",
      ]),
    );
  });

  it.each(goldens)("%s: kubectl apply --dry-run=server accepts every object", async (file) => {
    const objects = objectsOf(file);
    expect(objects.length).toBeGreaterThan(0);
    const { stdout } = await cluster.kubectl(["apply", "--dry-run=server", "-o", "name", "-f", join(GOLDEN, file)]);
    // One line per object the server accepted: kind.group/name.
    const accepted = stdout
      .trim()
      .split("\n")
      .map((l) => l.split("/").pop());
    expect(accepted).toEqual(objects.map((o) => o.metadata.name));
  });

  it("the check can fail: the same server rejects a golden Job whose container name is invalid", async () => {
    const job = objectsOf("pipeline-job.yaml").find((o) => o.kind === "Job")!;
    const pod = (job.spec as { template: { spec: { containers: { name: string }[] } } }).template.spec;
    pod.containers[0].name = "Not_A_DNS_Label";
    const err = await cluster.kubectl(["apply", "--dry-run=server", "-f", "-"], JSON.stringify(job)).then(
      () => "accepted",
      (e: { stderr: string }) => e.stderr,
    );
    expect(err).toMatch(/Invalid value: "Not_A_DNS_Label"/);
  });
});
