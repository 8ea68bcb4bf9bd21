/**
 * resolveDeployment against real servers: the CNCF registry behind htpasswd (a single-platform tag and a
 * two-platform OCI index, checked independently with skopeo) and a git smart-HTTP server behind Basic auth
 * (the credential found through rules_pipeline's credentials file). Tags and branches are pinned with a
 * warning; digests and commits are used without a request; failures name what was asked for and never
 * carry a password.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { execFile } from "node:child_process";
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { dockerConfigKeychain } from "../../src/registry-auth/docker-config";
import { explicitKeychain } from "../../src/registry-auth/static";
import { bufferBlob } from "../../src/layer/blob";
import type { Image } from "../../src/oci/model";
import { sha256 } from "../../src/oci/digest";
import { type Index, MediaType } from "../../src/oci/types";
import { RegistryClient } from "../../src/registry/client";
import { pushImage } from "../../src/registry/push";
import { parseDeploymentSpec } from "../../src/deploy/spec";
import { resolveDeployment, type ResolveOptions } from "../../src/deploy/resolve";
import type { DeploymentSpec } from "../../src/deploy/types";
import { randomImage } from "../fixtures/random-image";
import { type RunningRegistry, startRegistry, writeDockerConfig } from "../fixtures/registry";
import { createTestRepo, type GitServer, startGitServer, type TestRepo } from "../fixtures/git-server";
import { pipelineErrorOf } from "../fixtures/errors";

const run = promisify(execFile);
const REG_USER = "deployer";
const REG_PASSWORD = "reg-Pa55-e2e-4f1c";
const GIT_USER = "bot";
const GIT_PASSWORD = "git-Pa55-e2e-9a7b";
const SECRETS = [
  REG_PASSWORD,
  GIT_PASSWORD,
  Buffer.from(`${REG_USER}:${REG_PASSWORD}`).toString("base64"),
  Buffer.from(`${GIT_USER}:${GIT_PASSWORD}`).toString("base64"),
];

let tmp: string;
let reg: RunningRegistry;
let git: GitServer;
let repo: TestRepo;
let repoUrl: string;
let amd64: Image;
let arm64: Image;
let single: Image;
let indexDigest: string;
/** The environment every lookup reads: an empty HOME, a docker config with the registry login, the git credential. */
let env: NodeJS.ProcessEnv;
const seen: string[] = []; // every warning and error message, audited for secrets at the end

function forPlatform(base: Image, architecture: string): Image {
  const config = { ...base.config, architecture, os: "linux" };
  const configBytes = Buffer.from(JSON.stringify(config));
  const configBlob = bufferBlob(configBytes, MediaType.OCI_CONFIG);
  const manifest = {
    ...base.manifest,
    config: { mediaType: MediaType.OCI_CONFIG, digest: configBlob.digest, size: configBlob.size },
  };
  const manifestBytes = Buffer.from(JSON.stringify(manifest));
  return { ...base, config, configBytes, configBlob, manifest, manifestBytes, digest: sha256(manifestBytes) };
}

function opts(extra: Partial<ResolveOptions> = {}): ResolveOptions & { lines: string[] } {
  const lines: string[] = [];
  return { env, warn: (l) => (lines.push(l), seen.push(l)), lines, ...extra };
}

function spec(yaml: string): DeploymentSpec {
  return parseDeploymentSpec(yaml, "deploy.yaml");
}

async function caught(p: Promise<unknown>) {
  const e = await pipelineErrorOf(p);
  seen.push(e.message, String(e.cause ?? ""));
  return e;
}

/**
 * The manifest skopeo picks for a platform, an independent check of index resolution: skopeo copies that
 * platform's image into an OCI layout, whose index.json names the manifest by digest.
 */
async function skopeoDigest(ref: string, arch: string): Promise<string> {
  const dir = mkdtempSync(join(tmp, `skopeo-${arch}-`));
  await run(
    "skopeo",
    [
      "copy",
      "--src-tls-verify=false",
      "--src-creds",
      `${REG_USER}:${REG_PASSWORD}`,
      "--override-os",
      "linux",
      "--override-arch",
      arch,
      `docker://${ref}`,
      `oci:${dir}:x`,
    ],
    { timeout: 120_000 },
  );
  const index = JSON.parse(readFileSync(join(dir, "index.json"), "utf8")) as Index;
  expect(index.manifests).toHaveLength(1);
  return index.manifests[0].digest;
}

beforeAll(async () => {
  tmp = mkdtempSync(join(tmpdir(), "deploy-resolve-e2e-"));
  const home = join(tmp, "home");
  mkdirSync(home);
  reg = await startRegistry({ htpasswd: { user: REG_USER, password: REG_PASSWORD } });
  const keychain = explicitKeychain(reg.host, { username: REG_USER, password: REG_PASSWORD });

  const base = randomImage({ layers: 1, layerSize: 2048 });
  amd64 = forPlatform(base, "amd64");
  arm64 = forPlatform(base, "arm64");
  single = randomImage({ layers: 2, layerSize: 2048 });
  await pushImage(amd64, { registry: reg.host, repository: "team/pipeline" }, { keychain });
  await pushImage(arm64, { registry: reg.host, repository: "team/pipeline" }, { keychain });
  await pushImage(single, { registry: reg.host, repository: "team/pipeline", tags: ["single"] }, { keychain });
  const index: Index = {
    schemaVersion: 2,
    mediaType: MediaType.OCI_INDEX,
    manifests: [arm64, amd64].map((img) => ({
      mediaType: img.mediaType,
      digest: img.digest,
      size: img.manifestBytes.length,
      platform: { os: "linux", architecture: img.config.architecture ?? "" },
    })),
  };
  const indexBytes = Buffer.from(JSON.stringify(index));
  indexDigest = sha256(indexBytes);
  const client = new RegistryClient(reg.host, { keychain, access: "push" });
  await client.putManifest("team/pipeline", "multi", indexBytes, MediaType.OCI_INDEX);

  const root = join(tmp, "git");
  repo = createTestRepo(root, "app");
  git = await startGitServer({ root, users: { [GIT_USER]: GIT_PASSWORD } });
  repoUrl = git.repoUrl("app");

  const dockerConfig = writeDockerConfig(mkdtempSync(join(tmp, "docker-")), {
    [reg.host]: { username: REG_USER, password: REG_PASSWORD },
  });
  chmodSync(join(dockerConfig, "config.json"), 0o600); // no "readable by others" warning in the warnings compared below
  const credentialsFile = join(tmp, "credentials.json");
  writeFileSync(
    credentialsFile,
    JSON.stringify({
      version: 1,
      credentials: [
        {
          service: "git",
          url: `${git.baseUrl}/`,
          source: { type: "env", username: "DEPLOY_GIT_USER", password: "DEPLOY_GIT_PASSWORD" },
        },
      ],
    }),
    { mode: 0o600 },
  );
  env = {
    PATH: process.env.PATH,
    HOME: home,
    XDG_CONFIG_HOME: join(home, ".config"),
    GIT_CONFIG_NOSYSTEM: "1",
    DOCKER_CONFIG: dockerConfig,
    REGISTRY_AUTH_FILE: join(tmp, "no-auth.json"),
    PIPELINE_CREDENTIALS_FILE: credentialsFile,
    DEPLOY_GIT_USER: GIT_USER,
    DEPLOY_GIT_PASSWORD: GIT_PASSWORD,
  };
}, 120_000);

afterAll(async () => {
  await reg?.stop();
  await git?.stop();
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

describe("tags and branches are pinned, with a warning", () => {
  it("an index tag resolves to the linux/amd64 entry (as skopeo sees it), a branch to its commit", async () => {
    const o = opts();
    const s = spec(
      `image: ${reg.host}/team/pipeline:multi\ncode: {type: GitRepoBranch, repoUrl: '${repoUrl}', branch: dev}\n`,
    );
    const resolved = await resolveDeployment(s, o);
    const repository = `${reg.host}/team/pipeline`;
    expect(resolved.image).toBe(`${repository}@${amd64.digest}`);
    expect(await skopeoDigest(`${repository}:multi`, "amd64")).toBe(amd64.digest);
    expect(resolved.commit).toBe(repo.commits.dev);
    expect(resolved.spec.interpreter).toEqual({ kind: "ContainerAtDigest", repository, digest: amd64.digest });
    expect(resolved.spec.code).toEqual({ kind: "GitRepoCommit", repoUrl, commit: repo.commits.dev });
    expect(s.interpreter.kind).toBe("ContainerAtTag"); // the input is not changed
    expect(resolved.warnings).toEqual([
      `tags are not deterministic: ${repository}:multi resolved to ${repository}@${amd64.digest} (the linux/amd64 entry of index ${indexDigest}), every replica runs that digest`,
      `branches are not deterministic: ${repoUrl} branch dev resolved to commit ${repo.commits.dev}, every replica runs that commit`,
    ]);
    expect(o.lines).toEqual(resolved.warnings);
    // The git server saw the credential from the credentials file.
    expect(git.requests.some((r) => r.user === GIT_USER && r.authenticated)).toBe(true);
  });

  it("another platform picks its own entry", async () => {
    const resolved = await resolveDeployment(
      spec(`image: ${reg.host}/team/pipeline:multi\n`),
      opts({ platform: { os: "linux", architecture: "arm64" } }),
    );
    expect(resolved.image).toBe(`${reg.host}/team/pipeline@${arm64.digest}`);
    expect(await skopeoDigest(`${reg.host}/team/pipeline:multi`, "arm64")).toBe(arm64.digest);
    expect(resolved.warnings[0]).toContain(`(the linux/arm64 entry of index ${indexDigest})`);
  });

  it("a single-manifest tag resolves to that manifest; the default branch is main", async () => {
    const resolved = await resolveDeployment(
      spec(`image: ${reg.host}/team/pipeline:single\ncode: {type: GitRepoBranch, repoUrl: '${repoUrl}'}\n`),
      opts(),
    );
    expect(resolved.image).toBe(`${reg.host}/team/pipeline@${single.digest}`);
    expect(resolved.commit).toBe(repo.commits.main);
    expect(resolved.warnings[0]).toBe(
      `tags are not deterministic: ${reg.host}/team/pipeline:single resolved to ${reg.host}/team/pipeline@${single.digest}, every replica runs that digest`,
    );
  });

  it("model ids given by tag are pinned to the digest the tag names now; ids by digest are kept", async () => {
    const pinnedId = `${reg.host}/team/pipeline@${amd64.digest}`;
    const s = spec(
      `image: ${reg.host}/team/pipeline@${single.digest}\nmodels:\n  - {id: ${reg.host}/team/pipeline:single, path: /opt/a}\n  - {id: ${pinnedId}, path: /opt/b}\n`,
    );
    const resolved = await resolveDeployment(s, opts());
    expect(resolved.spec.models).toEqual([
      { id: `${reg.host}/team/pipeline@${single.digest}`, path: "/opt/a" },
      { id: pinnedId, path: "/opt/b" },
    ]);
    expect(resolved.warnings).toEqual([
      `tags are not deterministic: model ${reg.host}/team/pipeline:single resolved to ${reg.host}/team/pipeline@${single.digest}, every replica gets that digest`,
    ]);
    expect(s.models[0].id).toBe(`${reg.host}/team/pipeline:single`); // the input is not changed
  });

  it("warnings from credential sources are reported and returned too", async () => {
    const o = opts();
    const loose = writeDockerConfig(mkdtempSync(join(tmp, "docker-loose-")), {
      [reg.host]: { username: REG_USER, password: REG_PASSWORD },
    });
    chmodSync(join(loose, "config.json"), 0o644);
    const resolved = await resolveDeployment(spec(`image: ${reg.host}/team/pipeline:single\n`), {
      ...o,
      env: { ...env, DOCKER_CONFIG: loose },
    });
    expect(resolved.warnings).toEqual([
      expect.stringMatching(/readable by group\/others/),
      expect.stringMatching(/^tags are not deterministic/),
    ]);
    expect(o.lines).toEqual(resolved.warnings);
  });

  it("containerRegistry names the registry credential; without it the anonymous request is refused", async () => {
    const noCreds = dockerConfigKeychain({ path: join(tmp, "absent", "config.json") });
    const s = spec(`image: ${reg.host}/team/pipeline:single\ncontainerRegistry: team-registry\n`);
    const withSecret = {
      ...env,
      PIPELINE_SECRET_TEAM_REGISTRY: JSON.stringify({ username: REG_USER, password: REG_PASSWORD }),
    };
    const resolved = await resolveDeployment(s, opts({ keychain: noCreds, env: withSecret }));
    expect(resolved.image).toBe(`${reg.host}/team/pipeline@${single.digest}`);

    const missing = await caught(
      resolveDeployment(s, opts({ keychain: noCreds, env: { ...env, PIPELINE_SECRETS_DIR: join(tmp, "no-secrets") } })),
    );
    expect(missing.code).toBe("E_SECRET_NOT_FOUND");
    expect(missing.message).toContain('secret "team-registry" not found: set PIPELINE_SECRET_TEAM_REGISTRY');

    const anonymous = await caught(
      resolveDeployment(spec(`image: ${reg.host}/team/pipeline:single\n`), opts({ keychain: noCreds })),
    );
    expect(anonymous.code).toBe("E_UNAUTHORIZED");
  });
});

describe("pinned inputs are used as they are", () => {
  it("a digest and a commit make no request and no warning", async () => {
    const before = { registry: reg.requests().length, git: git.requests.length };
    const o = opts();
    const commit = repo.commits.first;
    const resolved = await resolveDeployment(
      spec(
        `image: ${reg.host}/team/pipeline@${single.digest}\ncode: {type: GitRepoCommit, repoUrl: '${repoUrl}', commit: ${commit}}\n`,
      ),
      o,
    );
    expect(resolved).toMatchObject({ image: `${reg.host}/team/pipeline@${single.digest}`, commit, warnings: [] });
    expect(o.lines).toEqual([]);
    expect({ registry: reg.requests().length, git: git.requests.length }).toEqual(before);
  });

  it("interpreters and code without a registry or remote resolve to themselves", async () => {
    const s = spec(
      "name: local\ninterpreter: {type: ServerAvailableInterpreter, nodePath: /usr/bin/node}\ncode: {type: ServerAvailableFolder, codePaths: [/srv/app]}\n",
    );
    expect(await resolveDeployment(s, opts())).toEqual({ spec: s, warnings: [] });
  });
});

describe("failures name what was asked for", () => {
  it("a tag that does not exist", async () => {
    const e = await caught(resolveDeployment(spec(`image: ${reg.host}/team/pipeline:nope\n`), opts()));
    expect(e.code).toBe("E_NOT_FOUND");
    expect(e.message).toContain(`get manifest nope from ${reg.host}/team/pipeline: not found`);
  });

  it("an index without the wanted platform lists the ones it has", async () => {
    const e = await caught(
      resolveDeployment(
        spec(`image: ${reg.host}/team/pipeline:multi\n`),
        opts({ platform: { os: "windows", architecture: "amd64" } }),
      ),
    );
    expect(e.code).toBe("E_PLATFORM");
    expect(e.message).toContain("has: linux/arm64, linux/amd64");
  });

  it("a branch that does not exist", async () => {
    const e = await caught(
      resolveDeployment(
        spec(
          `name: x\ninterpreter: {type: LockfileProject}\ncode: {type: GitRepoBranch, repoUrl: '${repoUrl}', branch: nope}\n`,
        ),
        opts(),
      ),
    );
    expect(e.code).toBe("E_GIT_REF_NOT_FOUND");
    expect(e.message).toContain('branch "nope" not found');
  });

  it("a remote with no matching git credential fails fast with E_GIT_AUTH", async () => {
    const noGit = { ...env, PIPELINE_CREDENTIALS_FILE: join(tmp, "absent-credentials.json") };
    const e = await caught(
      resolveDeployment(
        spec(`name: x\ninterpreter: {type: LockfileProject}\ncode: {type: GitRepoBranch, repoUrl: '${repoUrl}'}\n`),
        opts({ env: noGit }),
      ),
    );
    expect(e.code).toBe("E_GIT_AUTH");
  });

  it("a rejected registry password and a rejected git password never appear in a message", async () => {
    const wrong = explicitKeychain(reg.host, { username: REG_USER, password: `wrong-${REG_PASSWORD}` });
    const e1 = await caught(
      resolveDeployment(spec(`image: ${reg.host}/team/pipeline:single\n`), opts({ keychain: wrong })),
    );
    expect(e1.code).toBe("E_UNAUTHORIZED");
    expect(e1.message).not.toContain(REG_PASSWORD);
    const e2 = await caught(
      resolveDeployment(
        spec(`name: x\ninterpreter: {type: LockfileProject}\ncode: {type: GitRepoBranch, repoUrl: '${repoUrl}'}\n`),
        opts({ gitOptions: { credential: { username: GIT_USER, password: `wrong-${GIT_PASSWORD}` } } }),
      ),
    );
    expect(e2.code).toBe("E_GIT_AUTH");
  });

  it("no secret appears in any warning or error seen", () => {
    expect(seen.length).toBeGreaterThan(10);
    for (const s of SECRETS) for (const line of seen) expect(line).not.toContain(s);
  });
});
