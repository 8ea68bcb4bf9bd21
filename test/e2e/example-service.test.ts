/**
 * examples/service end to end: Bazel builds and pushes the service image, its model directory is pushed as an
 * OCI artifact, a private git repository is served with Basic auth, and `pipeline run` (the real CLI, as its own
 * process) runs the example's deployment spec with the local container runner (runc). The test calls the
 * service's port and checks what it serves came from the spec: env, the model, the repository. Then Ctrl-C.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { parse, parseAllDocuments, stringify } from "yaml";
import { bazel, QUIET, REPO_ROOT } from "../fixtures/bazel";
import { pipelineCli, runCli } from "../fixtures/cli";
import { createTestRepo, type GitServer, startGitServer } from "../fixtures/git-server";
import { type RunningRegistry, startRegistry } from "../fixtures/registry";
import { filesContaining } from "../fixtures/runner";
import { apiServerProblems } from "../fixtures/k8s-checks";
import { type Borrowed, borrowConsumerWorkspace } from "../fixtures/workspace-pool";

const tmp = mkdtempSync(join(tmpdir(), "rp-e2e-service-"));
const secret = `git-${randomBytes(12).toString("hex")}`;
let reg: RunningRegistry;
let git: GitServer;
let ws: string;
let borrowed: Borrowed | undefined;

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.on("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

async function waitForJson(url: string, child: ChildProcess, timeoutMs: number): Promise<Record<string, unknown>> {
  const end = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < end) {
    if (child.exitCode !== null) throw new Error(`pipeline run exited ${child.exitCode} before serving`);
    try {
      const r = await fetch(url);
      if (r.ok) return (await r.json()) as Record<string, unknown>;
      last = r.status;
    } catch (e) {
      last = e;
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`no answer from ${url}: ${String(last)}`);
}

beforeAll(async () => {
  reg = await startRegistry();
  createTestRepo(join(tmp, "git"), "private");
  git = await startGitServer({ root: join(tmp, "git"), users: { bot: secret } });
  borrowed = borrowConsumerWorkspace();
  ws = borrowed.ws;
});

afterAll(async () => {
  await borrowed?.release();
  await git?.stop();
  await reg?.stop();
  rmSync(tmp, { recursive: true, force: true });
});

describe("examples/service: a spec with a port, env, a model artifact and a private repository, run locally", () => {
  test("the service answers on its port with what the deployment gave it, and stops cleanly on Ctrl-C", async () => {
    const push = await bazel(ws, [
      "run",
      ...QUIET,
      "//examples/service:service_push",
      "--",
      "--repository",
      `${reg.host}/examples/service`,
    ]);
    expect(push.code, push.stderr).toBe(0);
    const image = push.stdout.trim().split("\n").pop()!;
    expect(image).toMatch(new RegExp(`^${reg.host.replace(/\./g, "\\.")}/examples/service@sha256:[a-f0-9]{64}$`));

    const model = await runCli([
      "model",
      "push",
      join(REPO_ROOT, "examples/service/model"),
      `${reg.host}/examples/service-model:v1`,
    ]);
    expect(model.code, model.stderr).toBe(0);

    // The example's own spec, pointed at this test's registry, git server and a free port.
    const spec = parse(readFileSync(join(REPO_ROOT, "examples/service/service.yaml"), "utf8"));
    const port = await freePort();
    spec.port = port;
    spec.models[0].id = `${reg.host}/examples/service-model:v1`;
    spec.repositories.repositories[0].url = git.repoUrl("private");
    const specPath = join(tmp, "service.yaml");
    writeFileSync(specPath, stringify(spec));

    const cache = join(tmp, "cache");
    const env = { ...process.env, PIPELINE_CACHE_DIR: cache, PIPELINE_SECRET_EXAMPLE_GIT: secret };
    const child = spawn(process.execPath, [await pipelineCli(), "run", specPath, "--image", image], {
      env,
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    let err = "";
    child.stdout!.on("data", (d) => (out += d));
    child.stderr!.on("data", (d) => (err += d));
    const exited = new Promise<number | null>((resolve) => child.on("close", (code) => resolve(code)));
    try {
      const status = await waitForJson(`http://127.0.0.1:${port}/`, child, 120_000).catch((e: Error) => {
        throw new Error(`${e.message}\n--- pipeline run stdout:\n${out}\n--- stderr:\n${err}`);
      });
      expect(status).toEqual({
        service: "example-service", // the BUILD file's env, baked into the image
        greeting: "hello from the spec", // the spec's env
        model: ["VERSION", "weights.yaml"], // the model artifact, synced and mounted at /opt/models
        modelVersion: "v1",
        repoReadme: "# private", // the private repository, cloned with the named secret
      });
    } finally {
      child.kill("SIGINT");
    }
    const code = await exited;
    expect(code, err).toBe(0); // the service handles SIGTERM and exits 0
    expect(out).toContain(`example-service listening on port ${port}`);
    expect(out).toContain("example-service: SIGTERM, closing");
    expect(git.requests.some((q) => q.user === "bot" && q.authenticated)).toBe(true);
    // The git password: nowhere in the output, nowhere in the runner's cache.
    expect(out + err).not.toContain(secret);
    expect(filesContaining(cache, secret)).toEqual([]);

    // The same spec renders for Kubernetes with the pushed digest and no secret value.
    const render = await runCli(["deploy", specPath, "--render", "--image", image], { env });
    expect(render.code, render.stderr).toBe(0);
    expect(render.stdout).toContain(`image: ${image}`);
    expect(render.stdout).toContain(`containerPort: ${port}`);
    expect(render.stdout + render.stderr).not.toContain(secret);

    // As examples/service/README.md does it: no --image; the spec's `:latest` (tagged by the push) is pinned to
    // the pushed digest.
    spec.image = `${reg.host}/examples/service:latest`;
    writeFileSync(specPath, stringify(spec));
    const asDocumented = await runCli(["deploy", specPath, "--render"], { env });
    expect(asDocumented.code, asDocumented.stderr).toBe(0);
    expect(asDocumented.stdout).toContain(`image: ${image}`);
    expect(asDocumented.stdout + asDocumented.stderr).not.toContain(secret);
    // GitOps-valid: no Secret without data, the git secret named for the operator to create.
    const docs = parseAllDocuments(asDocumented.stdout).map((d) => d.toJS());
    expect(docs.map((d) => d.kind)).toEqual(["Deployment", "Service"]);
    expect(apiServerProblems(docs)).toEqual([]);
    expect(asDocumented.stdout).toMatch(
      /^# {3}rp-secret-example-git \(type Opaque, key value\) from secret example-git$/m,
    );
  });
});
