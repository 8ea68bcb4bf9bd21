/**
 * `pipeline deploy --render` without a network: the CLI runs in a new network namespace (`unshare -n`: only a
 * loopback interface, and it is down), so any request it tried would fail. A fully pinned spec renders there
 * without --offline (pinned references never need the network); a tag or a branch fails with E_OFFLINE
 * naming FILE:LINE under --offline, and with a network error without it (which shows the namespace really has
 * no network).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseAllDocuments } from "yaml";
import { execProgram, pipelineCli } from "../fixtures/cli";
import { apiServerProblems } from "../fixtures/k8s-checks";

const DIGEST = `sha256:${"ab".repeat(32)}`;
const COMMIT = "0123456789abcdef0123456789abcdef01234567";

function canUnshare(): boolean {
  try {
    execFileSync("unshare", ["-n", "true"], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}

let tmp: string;
const PINNED = `name: train
image: registry.example.com/ml/train@${DIGEST}
containerRegistry: ci-registry
code: {type: GitRepoCommit, repoUrl: "https://git.example.com/ml/train.git", commit: "${COMMIT}"}
port: 8080
env:
  - {name: API_TOKEN, value: "SECRET:api_token"}
models:
  - {id: "registry.example.com/models/resnet@${DIGEST}", path: /opt/models}
resources: {replicas: 2, instanceType: A100, memory: 64Gi}
probes: {readiness: {http: /ready}}
`;

function spec(name: string, text: string): string {
  const path = join(tmp, name);
  writeFileSync(path, text);
  return path;
}

async function offlineCli(args: string[]) {
  return execProgram("unshare", ["-n", process.execPath, await pipelineCli(), ...args], {
    env: {
      PATH: process.env.PATH,
      HOME: join(tmp, "home"),
      PIPELINE_SECRETS_DIR: join(tmp, "secrets"),
      PIPELINE_SECRET_CI_REGISTRY: "robot\npull-pass",
      PIPELINE_SECRET_API_TOKEN: "tok-1",
    },
    cwd: tmp,
  });
}

beforeAll(() => {
  tmp = mkdtempSync(join(tmpdir(), "deploy-offline-"));
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe.skipIf(!canUnshare())("deploy --render in a network namespace with no interfaces (unshare -n)", () => {
  it("a fully pinned spec renders without --offline, and with --with-secrets (local secrets only)", async () => {
    const file = spec("pinned.yaml", PINNED);
    for (const extra of [[], ["--offline"], ["--job"], ["--with-secrets"]]) {
      const r = await offlineCli(["deploy", file, "--render", ...extra]);
      expect(r.stderr).toBe("");
      expect(r.code).toBe(0);
      const docs = parseAllDocuments(r.stdout).map((d) => d.toJS());
      expect(apiServerProblems(docs)).toEqual([]);
      expect(docs.some((d) => d.kind === "Secret")).toBe(extra[0] === "--with-secrets");
    }
  });

  it("a tag, a model tag and a branch fail with E_OFFLINE naming FILE:LINE and the value; without --offline the request fails", async () => {
    const file = spec(
      "unpinned.yaml",
      PINNED.replace(`ml/train@${DIGEST}`, "ml/train:v3")
        .replace(`resnet@${DIGEST}`, "resnet:v2")
        .replace(
          `{type: GitRepoCommit, repoUrl: "https://git.example.com/ml/train.git", commit: "${COMMIT}"}`,
          '{type: GitRepoBranch, repoUrl: "https://git.example.com/ml/train.git", branch: main}',
        ),
    );
    const r = await offlineCli(["deploy", file, "--render", "--offline"]);
    expect(r.code).not.toBe(0);
    expect(r.stdout).toBe("");
    expect(r.stderr).toContain("E_OFFLINE");
    expect(r.stderr).toContain(
      `${file}:2: image: "registry.example.com/ml/train:v3" is a tag; pin it by digest (HOST/REPO@sha256:...)`,
    );
    expect(r.stderr).toContain(
      `${file}:4: code.branch: branch "main" of "https://git.example.com/ml/train.git" needs git ls-remote; pin it with GitRepoCommit`,
    );
    expect(r.stderr).toContain(
      `${file}:9: models[0].id: "registry.example.com/models/resnet:v2" is a tag; pin it by digest`,
    );
    const online = await offlineCli(["deploy", file, "--render"]);
    expect(online.code).not.toBe(0);
    expect(online.stderr).not.toContain("E_OFFLINE");
  });
});
