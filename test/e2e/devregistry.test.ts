/**
 * The embedded dev registry (`pipeline registry serve`) against independent clients: skopeo pushes an
 * umoci-built OCI layout, inspects and pulls it back; skopeo copies across repositories and converts to
 * Docker schema 2; our own registry client pushes (chunked) and pulls; Basic auth with --dest-creds; and
 * the data survives a restart on the same root.
 *
 * The registry runs in this process, so every external tool is run asynchronously (a synchronous child
 * would block the event loop the registry needs to answer it).
 */
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { dockerConfigKeychain } from "../../src/auth/docker-config";
import { DevRegistry, startDevRegistry } from "../../src/devregistry/server";
import { request } from "../../src/devregistry/testing";
import { readLayout } from "../../src/layout/read";
import { sha256 } from "../../src/oci/digest";
import { parseReference } from "../../src/oci/reference";
import { MediaType } from "../../src/oci/types";
import { pullToLayout } from "../../src/registry/pull";
import { pushImage } from "../../src/registry/push";
import { randomImage } from "../fixtures/random-image";
import { writeDockerConfig } from "../fixtures/registry";

const run = promisify(execFile);
let tmp: string;
let env: NodeJS.ProcessEnv;

async function skopeo(...args: string[]): Promise<string> {
  const { stdout } = await run("/usr/bin/skopeo", args, { env, timeout: 120_000, maxBuffer: 16 * 1024 * 1024 });
  return stdout;
}

async function skopeoFails(...args: string[]): Promise<string> {
  try {
    await skopeo(...args);
  } catch (e) {
    return String((e as { stderr?: string }).stderr ?? e);
  }
  throw new Error(`skopeo ${args.join(" ")} should have failed`);
}

/** Blob file name -> bytes of an OCI layout. */
function layoutBlobs(dir: string): Map<string, Buffer> {
  const blobs = new Map<string, Buffer>();
  for (const name of readdirSync(join(dir, "blobs", "sha256"))) blobs.set(name, readFileSync(join(dir, "blobs", "sha256", name)));
  return blobs;
}

/** Digest of the manifest tagged `tag` in an OCI layout's index.json. */
function layoutDigest(dir: string, tag: string): string {
  const index = JSON.parse(readFileSync(join(dir, "index.json"), "utf8")) as {
    manifests: { digest: string; annotations?: Record<string, string> }[];
  };
  const m = index.manifests.find((d) => d.annotations?.["org.opencontainers.image.ref.name"] === tag);
  if (!m) throw new Error(`no ${tag} in ${dir}/index.json`);
  return m.digest;
}

let source: string; // umoci-built layout with two random layers, tag "t"
let sourceDigest: string;

beforeAll(async () => {
  tmp = mkdtempSync(join(tmpdir(), "devregistry-e2e-"));
  // Keep skopeo away from any credentials on this machine.
  env = { ...process.env, REGISTRY_AUTH_FILE: join(tmp, "no-auth.json"), DOCKER_CONFIG: join(tmp, "no-docker-config") };
  source = join(tmp, "source");
  await run("umoci", ["init", "--layout", source]);
  await run("umoci", ["new", "--image", `${source}:t`]);
  for (const [i, size] of [2_500_000, 40_000].entries()) {
    const dir = join(tmp, `content-${i}`);
    mkdirSync(dir);
    writeFileSync(join(dir, "random.bin"), randomBytes(size));
    await run("umoci", ["insert", "--image", `${source}:t`, dir, `/data/${i}`]);
  }
  await run("umoci", ["gc", "--layout", source]);
  sourceDigest = layoutDigest(source, "t");
});

afterAll(() => {
  rmSync(tmp, { recursive: true, force: true });
});

describe("dev registry with skopeo and our client", () => {
  let root: string;
  let reg: DevRegistry;
  const logLines: string[] = [];
  const ref = (repoTag: string): string => `docker://${reg.address}/${repoTag}`;

  beforeAll(async () => {
    root = join(tmp, "store");
    reg = await startDevRegistry({ root, port: 0, log: (l) => logLines.push(l) });
  });
  afterAll(async () => {
    await reg?.close();
  });

  it("skopeo pushes an OCI layout, inspects the same digest and pulls identical blobs back", async () => {
    await skopeo("copy", "--dest-tls-verify=false", `oci:${source}:t`, ref("test/img:t"));
    const info = JSON.parse(await skopeo("inspect", "--tls-verify=false", ref("test/img:t"))) as {
      Digest: string;
      RepoTags: string[];
      Layers: string[];
    };
    expect(info.Digest).toBe(sourceDigest);
    expect(info.RepoTags).toEqual(["t"]);
    expect(info.Layers).toHaveLength(2);
    const raw = await run("/usr/bin/skopeo", ["inspect", "--tls-verify=false", "--raw", ref("test/img:t")], { env, encoding: "buffer" });
    expect(sha256(raw.stdout)).toBe(sourceDigest);

    const out = join(tmp, "pulled");
    await skopeo("copy", "--src-tls-verify=false", ref("test/img:t"), `oci:${out}:t`);
    expect(layoutDigest(out, "t")).toBe(sourceDigest);
    const want = layoutBlobs(source);
    const got = layoutBlobs(out);
    expect([...got.keys()].sort()).toEqual([...want.keys()].sort());
    for (const [name, bytes] of want) expect(got.get(name)!.equals(bytes), name).toBe(true);
  });

  it("skopeo copies to another repository (mounting blobs) and converts to Docker schema 2", async () => {
    await skopeo("copy", "--src-tls-verify=false", "--dest-tls-verify=false", ref("test/img:t"), ref("test/copy:c"));
    await skopeo("copy", "--src-tls-verify=false", "--dest-tls-verify=false", "--format", "v2s2", ref("test/img:t"), ref("test/docker:d"));
    const copy = JSON.parse(await skopeo("inspect", "--tls-verify=false", ref("test/copy:c"))) as { Digest: string };
    expect(copy.Digest).toBe(sourceDigest);
    const docker = await request(reg.address, "GET", "/v2/test/docker/manifests/d");
    expect(docker.status).toBe(200);
    expect(docker.headers["content-type"]).toBe(MediaType.DOCKER_MANIFEST);
    const out = join(tmp, "pulled-docker");
    await skopeo("copy", "--src-tls-verify=false", ref("test/docker:d"), `dir:${out}`);
    const catalog = await request(reg.address, "GET", "/v2/_catalog");
    expect(catalog.json()).toEqual({ repositories: ["test/copy", "test/docker", "test/img"] });
  });

  it("our client pushes in chunks and pulls back; skopeo agrees", async () => {
    const before = logLines.length;
    const keychain = dockerConfigKeychain({ path: join(tmp, "absent", "config.json") });
    const image = randomImage({ layers: 2, layerSize: 300 * 1024, dir: join(tmp, "own-image") });
    const result = await pushImage(
      image,
      { registry: reg.address, repository: "own/app", tags: ["v1"] },
      { keychain, chunkThreshold: 64 * 1024, chunkSize: 100 * 1024 },
    );
    expect(result.digest).toBe(image.digest);
    const patches = logLines.slice(before).filter((l) => l.startsWith("PATCH "));
    expect(patches.length).toBeGreaterThanOrEqual(2 * 3); // >300 KiB layers in 100 KiB chunks
    expect(patches.every((l) => / 202 /.test(l))).toBe(true);
    const info = JSON.parse(await skopeo("inspect", "--tls-verify=false", ref("own/app:v1"))) as { Digest: string };
    expect(info.Digest).toBe(image.digest);
    const again = await pushImage(
      image,
      { registry: reg.address, repository: "own/other", tags: ["v1"] },
      { keychain, mountFrom: [{ registry: reg.address, repository: "own/app" }] },
    );
    expect(again.mounted.length).toBeGreaterThan(0);
    const layout = join(tmp, "own-pulled");
    await pullToLayout(parseReference(`${reg.address}/own/other:v1`), layout, { keychain });
    const back = readLayout(layout, { refName: "v1" });
    expect(back.digest).toBe(image.digest);
    expect(back.layers.map((l) => l.digest)).toEqual(image.layers.map((l) => l.digest));
  });

  it("survives a restart on the same root", async () => {
    await reg.close();
    reg = await startDevRegistry({ root, port: 0 });
    const info = JSON.parse(await skopeo("inspect", "--tls-verify=false", ref("test/img:t"))) as { Digest: string };
    expect(info.Digest).toBe(sourceDigest);
    const out = join(tmp, "pulled-after-restart");
    await skopeo("copy", "--src-tls-verify=false", ref("test/img:t"), `oci:${out}:t`);
    const want = layoutBlobs(source);
    for (const [name, bytes] of layoutBlobs(out)) expect(bytes.equals(want.get(name)!), name).toBe(true);
    const tags = await request(reg.address, "GET", "/v2/own/app/tags/list");
    expect(tags.json()).toEqual({ name: "own/app", tags: ["v1"] });
    // Pushing again after the restart only needs the manifest.
    await skopeo("copy", "--dest-tls-verify=false", `oci:${source}:t`, ref("test/img:t2"));
    const t2 = JSON.parse(await skopeo("inspect", "--tls-verify=false", ref("test/img:t2"))) as { Digest: string };
    expect(t2.Digest).toBe(sourceDigest);
  });
});

describe("dev registry with Basic auth", () => {
  const user = "ci-user";
  const password = "pa55:word with spaces";
  let reg: DevRegistry;
  const ref = (repoTag: string): string => `docker://${reg.address}/${repoTag}`;

  beforeAll(async () => {
    reg = await startDevRegistry({ root: join(tmp, "auth-store"), port: 0, auth: { user, password } });
  });
  afterAll(async () => {
    await reg?.close();
  });

  it("skopeo pushes and pulls with --dest-creds/--src-creds; without or with wrong credentials it is refused", async () => {
    const creds = `${user}:${password}`;
    const none = await skopeoFails("copy", "--dest-tls-verify=false", `oci:${source}:t`, ref("secure/img:t"));
    expect(none).toMatch(/401|unauthorized|authentication required/i);
    const wrong = await skopeoFails("copy", "--dest-tls-verify=false", "--dest-creds", `${user}:nope`, `oci:${source}:t`, ref("secure/img:t"));
    expect(wrong).toMatch(/401|unauthorized|authentication required/i);

    await skopeo("copy", "--dest-tls-verify=false", "--dest-creds", creds, `oci:${source}:t`, ref("secure/img:t"));
    const info = JSON.parse(await skopeo("inspect", "--tls-verify=false", "--creds", creds, ref("secure/img:t"))) as { Digest: string };
    expect(info.Digest).toBe(sourceDigest);
    const out = join(tmp, "pulled-auth");
    await skopeo("copy", "--src-tls-verify=false", "--src-creds", creds, ref("secure/img:t"), `oci:${out}:t`);
    expect(layoutDigest(out, "t")).toBe(sourceDigest);
    await skopeoFails("inspect", "--tls-verify=false", ref("secure/img:t"));
  });

  it("our client authenticates from a docker config.json", async () => {
    const configDir = writeDockerConfig(mkdtempSync(join(tmp, "docker-config-")), { [reg.address]: { username: user, password } });
    const keychain = dockerConfigKeychain({ path: join(configDir, "config.json") });
    const image = randomImage({ layers: 1 });
    const result = await pushImage(image, { registry: reg.address, repository: "secure/own", tags: ["v1"] }, { keychain });
    expect(result.digest).toBe(image.digest);
    const layout = join(tmp, "own-auth-pulled");
    await pullToLayout(parseReference(`${reg.address}/secure/own:v1`), layout, { keychain });
    expect(readLayout(layout, { refName: "v1" }).digest).toBe(image.digest);
  });
});
