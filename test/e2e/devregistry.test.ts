/**
 * The embedded dev registry (`pipeline registry serve`) against independent clients: skopeo pushes an
 * umoci-built OCI layout, inspects and pulls it back; skopeo copies across repositories and converts to
 * Docker schema 2; our own registry client pushes (chunked) and pulls; Basic auth with --dest-creds; and
 * the data survives a restart on the same root. Under abandoned and stalled clients (small limits), the
 * sessions stay bounded and are swept, stalled connections are closed, and skopeo and our client still push;
 * a manifest with a CR/LF media type is refused at PUT, so later pulls of the repository keep working.
 *
 * The registry runs in this process, so every external tool is run asynchronously (a synchronous child
 * would block the event loop the registry needs to answer it).
 */
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { dockerConfigKeychain } from "../../src/registry-auth/docker-config";
import { type DevRegistry, startDevRegistry } from "../../src/devregistry/server";
import { request } from "../../src/devregistry/testing";
import { readLayout } from "../../src/layout/read";
import { sha256 } from "../../src/oci/digest";
import { parseReference } from "../../src/oci/reference";
import { MediaType } from "../../src/oci/types";
import { pullToLayout } from "../../src/transfer/pull";
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
  for (const name of readdirSync(join(dir, "blobs", "sha256")))
    blobs.set(name, readFileSync(join(dir, "blobs", "sha256", name)));
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
    const raw = await run("/usr/bin/skopeo", ["inspect", "--tls-verify=false", "--raw", ref("test/img:t")], {
      env,
      encoding: "buffer",
    });
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
    await skopeo(
      "copy",
      "--src-tls-verify=false",
      "--dest-tls-verify=false",
      "--format",
      "v2s2",
      ref("test/img:t"),
      ref("test/docker:d"),
    );
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
    const wrong = await skopeoFails(
      "copy",
      "--dest-tls-verify=false",
      "--dest-creds",
      `${user}:nope`,
      `oci:${source}:t`,
      ref("secure/img:t"),
    );
    expect(wrong).toMatch(/401|unauthorized|authentication required/i);

    await skopeo("copy", "--dest-tls-verify=false", "--dest-creds", creds, `oci:${source}:t`, ref("secure/img:t"));
    const info = JSON.parse(await skopeo("inspect", "--tls-verify=false", "--creds", creds, ref("secure/img:t"))) as {
      Digest: string;
    };
    expect(info.Digest).toBe(sourceDigest);
    const out = join(tmp, "pulled-auth");
    await skopeo("copy", "--src-tls-verify=false", "--src-creds", creds, ref("secure/img:t"), `oci:${out}:t`);
    expect(layoutDigest(out, "t")).toBe(sourceDigest);
    await skopeoFails("inspect", "--tls-verify=false", ref("secure/img:t"));
  });

  it("our client authenticates from a docker config.json", async () => {
    const configDir = writeDockerConfig(mkdtempSync(join(tmp, "docker-config-")), {
      [reg.address]: { username: user, password },
    });
    const keychain = dockerConfigKeychain({ path: join(configDir, "config.json") });
    const image = randomImage({ layers: 1 });
    const result = await pushImage(
      image,
      { registry: reg.address, repository: "secure/own", tags: ["v1"] },
      { keychain },
    );
    expect(result.digest).toBe(image.digest);
    const layout = join(tmp, "own-auth-pulled");
    await pullToLayout(parseReference(`${reg.address}/secure/own:v1`), layout, { keychain });
    expect(readLayout(layout, { refName: "v1" }).digest).toBe(image.digest);
  });
});

describe("dev registry under abandoned and stalled clients", () => {
  let root: string;
  let reg: DevRegistry;
  const ref = (repoTag: string): string => `docker://${reg.address}/${repoTag}`;
  const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
  const sessions = (): string[] => readdirSync(join(root, "uploads"));

  /** A raw connection that sends `head` and then nothing; resolves `closed` when the registry hangs up. */
  function stall(head: string): { closed: Promise<boolean> } {
    const socket = connect(reg.port, reg.host);
    socket.on("error", () => undefined);
    socket.on("data", () => undefined);
    const closed = new Promise<boolean>((r) => {
      socket.on("close", () => r(true));
      setTimeout(() => r(false), 10_000).unref();
    });
    socket.write(head);
    return { closed };
  }

  beforeAll(async () => {
    root = join(tmp, "abuse-store");
    reg = await startDevRegistry({ root, port: 0, maxUploads: 8, uploadIdleMs: 1500, bodyTimeoutMs: 1000 });
  });
  afterAll(async () => {
    await reg?.close();
  });

  it("abandoned sessions stay bounded and are swept; then skopeo pushes while stalled clients are cut off", async () => {
    const answers = await Promise.all(
      Array.from({ length: 40 }, () => request(reg.address, "POST", "/v2/junk/blobs/uploads/")),
    );
    expect(answers.filter((a) => a.status === 202)).toHaveLength(8);
    expect(answers.filter((a) => a.status === 429)).toHaveLength(32);
    expect(sessions()).toHaveLength(8);
    const deadline = Date.now() + 10_000;
    while (sessions().length > 0 && Date.now() < deadline) await sleep(100);
    expect(sessions()).toEqual([]);

    const loc = (await request(reg.address, "POST", "/v2/stall/blobs/uploads/")).headers.location as string;
    const stalled = [
      stall(`PATCH ${loc} HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\n\r\nonly this`),
      ...Array.from({ length: 5 }, (_, i) =>
        stall(
          `PUT /v2/stall/manifests/t${i} HTTP/1.1\r\nHost: x\r\nContent-Type: ${MediaType.OCI_MANIFEST}\r\nContent-Length: 900\r\n\r\n{`,
        ),
      ),
      ...Array.from({ length: 5 }, () => stall("GET /v2/ HTTP/1.1\r\nHost: x\r\n")),
    ];
    await skopeo("copy", "--dest-tls-verify=false", `oci:${source}:t`, ref("abuse/img:t"));
    const info = JSON.parse(await skopeo("inspect", "--tls-verify=false", ref("abuse/img:t"))) as { Digest: string };
    expect(info.Digest).toBe(sourceDigest);
    expect(await Promise.all(stalled.map((s) => s.closed))).toEqual(stalled.map(() => true));
    expect((await request(reg.address, "GET", loc)).headers.range).toBe("0-0"); // the stalled chunk left nothing
  });

  it("a manifest whose mediaType holds CR/LF is refused (400 MANIFEST_INVALID); the repository still pulls", async () => {
    const image = randomImage({ layers: 1 });
    const keychain = dockerConfigKeychain({ path: join(tmp, "absent", "config.json") });
    await pushImage(image, { registry: reg.address, repository: "abuse/own", tags: ["v1"] }, { keychain });
    const manifest = JSON.parse(image.manifestBytes.toString()) as Record<string, unknown>;
    const bad = Buffer.from(JSON.stringify({ ...manifest, mediaType: `${MediaType.OCI_MANIFEST}\r\nX-Injected: 1` }));
    const put = await request(reg.address, "PUT", "/v2/abuse/own/manifests/bad", {
      body: bad,
      headers: { "Content-Type": "application/json" },
    });
    expect(put.status).toBe(400);
    const err = (put.json() as { errors: { code: string; message: string }[] }).errors[0];
    expect(err.code).toBe("MANIFEST_INVALID");
    expect(err.message).toContain("mediaType: expected a media type");
    expect(err.message).toContain(JSON.stringify(`${MediaType.OCI_MANIFEST}\r\nX-Injected: 1`));
    const tags = JSON.parse(await skopeo("list-tags", "--tls-verify=false", ref("abuse/own"))) as { Tags: string[] };
    expect(tags.Tags).toEqual(["v1"]);
    const out = join(tmp, "abuse-pulled");
    await skopeo("copy", "--src-tls-verify=false", ref("abuse/own:v1"), `oci:${out}:v1`);
    expect(layoutDigest(out, "v1")).toBe(image.digest);
  });
});
