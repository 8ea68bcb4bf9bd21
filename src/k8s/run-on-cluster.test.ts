// What a run reports when the Job cannot be deleted afterwards. A real cluster refuses the delete to a role without
// `delete` on jobs; this unit test keeps the logic in the fast suite (PIPELINE_TEST_FAST) with an in-process server
// that answers the one DELETE with 403 or 404 (the real cluster's runs are in test/e2e/k8s-real-*.test.ts).
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { V1Job } from "@kubernetes/client-node";
import { afterEach, describe, expect, it } from "vitest";
import { fakeKubeconfig } from "../../test/fixtures/kube-api";
import { pipelineErrorOf } from "../../test/fixtures/errors";
import { PipelineError } from "../errors";
import { loadKubeconfig } from "./kubeconfig";
import { KubeHttp } from "./run-api";
import { RUN_CONTAINER } from "./run-job";
import { runOnCluster } from "./run-on-cluster";

const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const c of cleanups.splice(0)) c();
});

/** An API server whose pod is stuck on `waiting` and whose DELETE answers `deleteStatus`. */
async function server(waiting: string, deleteStatus: number): Promise<{ api: KubeHttp; deletes: () => number }> {
  let deletes = 0;
  const srv: Server = createServer((req, res) => {
    const send = (status: number, body: unknown) => {
      res.writeHead(status, { "Content-Type": "application/json" });
      res.end(JSON.stringify(body));
    };
    if (req.method === "POST") return send(201, {});
    if (req.method === "DELETE") {
      deletes++;
      return send(deleteStatus, {
        kind: "Status",
        status: "Failure",
        message: "jobs.batch is forbidden",
        reason: "Forbidden",
        code: deleteStatus,
      });
    }
    const pod = {
      metadata: { name: "p", creationTimestamp: "2026-11-24T00:00:00Z" },
      status: {
        phase: "Pending",
        containerStatuses: [{ name: RUN_CONTAINER, state: { waiting: { reason: waiting } } }],
      },
    };
    return send(200, { items: [pod] });
  });
  await new Promise<void>((r) => srv.listen(0, "127.0.0.1", r));
  cleanups.push(() => srv.close());
  const dir = mkdtempSync(join(tmpdir(), "rp-run-on-cluster-"));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, "kubeconfig");
  writeFileSync(file, fakeKubeconfig(`http://127.0.0.1:${(srv.address() as AddressInfo).port}`, "", "t0ken"));
  return { api: new KubeHttp(loadKubeconfig({ env: {}, kubeconfig: file })), deletes: () => deletes };
}

const job: V1Job = { metadata: { namespace: "ml", name: "run-x" } };

describe("runOnCluster: deleting the Job", () => {
  it("a run that failed keeps its own error when the delete is refused too; the refusal is logged", async () => {
    const { api, deletes } = await server("InvalidImageName", 403);
    const log: string[] = [];
    const e = await pipelineErrorOf(
      runOnCluster({ api, job, timeoutMs: 5000, intervalMs: 10, onLine: () => {}, log: (l) => log.push(l) }),
    );
    expect(e.message).toContain("InvalidImageName");
    expect(deletes()).toBe(1);
    expect(log.some((l) => l.startsWith("Job ml/run-x: could not be deleted:"))).toBe(true);
  });

  it("a Job the server says is gone already (404) is not an error: the run's own error stands", async () => {
    const { api } = await server("InvalidImageName", 404);
    const log: string[] = [];
    const e = await pipelineErrorOf(
      runOnCluster({ api, job, timeoutMs: 5000, intervalMs: 10, onLine: () => {}, log: (l) => log.push(l) }),
    );
    expect(e).toBeInstanceOf(PipelineError);
    expect(e.message).toContain("InvalidImageName");
    expect(log).toContain("Job ml/run-x: already deleted");
  });
});
