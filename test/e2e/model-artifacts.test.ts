/**
 * Models as OCI artifacts against the real CNCF registry: push a directory, check what landed with skopeo and
 * GNU tar (independent readers), pull it back byte for byte, reproducibility, deduplicated re-pushes, the sync
 * cache (request counts from the registry's access log), damaged cache entries, corrupted blobs, hostile
 * manifests and trees (a late symlink over a directory leaves the host directory it points at untouched), and
 * htpasswd auth through the CLI handlers.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { execFile } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import {
  chmodSync,
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  symlinkSync,
  truncateSync,
  utimesSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { gunzipSync } from "node:zlib";
import { anonymousKeychain } from "../../src/registry-auth/anonymous";
import { explicitKeychain } from "../../src/registry-auth/static";
import type { CliIo } from "../../src/cli/io";
import { modelPull, modelPush } from "../../src/cli/commands/model";
import { sha256 } from "../../src/oci/digest";
import { parseReference } from "../../src/oci/reference";
import { type Descriptor, type Manifest, MediaType } from "../../src/oci/types";
import { buildLayer } from "../../src/layer/build";
import { bufferBlob } from "../../src/layer/blob";
import { RegistryClient } from "../../src/registry/client";
import { uploadBlob } from "../../src/registry/upload";
import { buildModel, pullModel, pushModel, syncModel, MODEL_ARTIFACT_TYPE } from "../../src/weights";
import { EMPTY_CONFIG, EMPTY_CONFIG_BYTES } from "../../src/weights/artifact";
import { type RunningRegistry, startRegistry } from "../fixtures/registry";
import { mark, requestsSince } from "../fixtures/registry-log";
import { pipelineErrorOf as caught } from "../fixtures/errors";
import { gz, rawTar } from "../corpus/raw-tar";
import { sidTools } from "../fixtures/sid-tools";

const run = promisify(execFile);
const keychain = anonymousKeychain;

async function skopeoRaw(ref: string, creds?: string): Promise<Buffer> {
  const { stdout } = await run(
    "skopeo",
    ["inspect", "--tls-verify=false", ...(creds ? ["--creds", creds] : []), "--raw", `docker://${ref}`],
    {
      encoding: "buffer",
      timeout: 120_000,
    },
  );
  return stdout;
}

/** An independent listing: type, permission bits, content digest, link target. */
function treeOf(dir: string, rel = ""): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of readdirSync(join(dir, rel)).sort()) {
    const path = rel ? `${rel}/${name}` : name;
    const st = lstatSync(join(dir, path));
    if (st.isDirectory()) {
      out[path] = `dir ${(st.mode & 0o777).toString(8)}`;
      Object.assign(out, treeOf(dir, path));
    } else if (st.isSymbolicLink()) out[path] = `link ${readlinkSync(join(dir, path))}`;
    else
      out[path] = `file ${(st.mode & 0o777).toString(8)} ${createHash("sha256")
        .update(readFileSync(join(dir, path)))
        .digest("hex")}`;
  }
  return out;
}

/** What a pull must give back for a source tree: files 0755/0644 by their x bit, directories 0755. */
function normalized(tree: Record<string, string>): Record<string, string> {
  return Object.fromEntries(
    Object.entries(tree).map(([p, v]) => {
      const [kind, mode, ...rest] = v.split(" ");
      if (kind === "dir") return [p, "dir 755"];
      if (kind === "file") return [p, ["file", parseInt(mode, 8) & 0o111 ? "755" : "644", ...rest].join(" ")];
      return [p, v];
    }),
  );
}

const BIG = randomBytes(20 * 1024 * 1024);
const SHARD = randomBytes(2 * 1024 * 1024 + 7);
const hexOf = (b: Buffer) => sha256(b).slice(7);

/**
 * What a synced (mounted) model holds, as containerd and `oras pull` lay the artifact out: each big file a link to
 * `.blobs/<its sha256 hex>/data`, stored once; written out here from the source's listing, not from the code.
 */
function asMounted(tree: Record<string, string>): Record<string, string> {
  const out = { ...tree };
  for (const [path, bytes] of [
    ["weights/model.safetensors", BIG],
    ["weights/shard-2.bin", SHARD],
  ] as const) {
    out[path] = `link ../.blobs/${hexOf(bytes)}/data`;
    out[".blobs"] = "dir 755";
    out[`.blobs/${hexOf(bytes)}`] = "dir 755";
    out[`.blobs/${hexOf(bytes)}/data`] = `file 644 ${hexOf(bytes)}`;
  }
  return Object.fromEntries(Object.entries(out).sort(([a], [b]) => (a < b ? -1 : 1)));
}

function makeModel(dir: string, config = '{"hidden_size": 64}\n'): string {
  mkdirSync(join(dir, "tokenizer", "deeper"), { recursive: true });
  mkdirSync(join(dir, "weights"), { recursive: true });
  mkdirSync(join(dir, "empty-dir"), { recursive: true });
  writeFileSync(join(dir, "config.json"), config);
  writeFileSync(join(dir, "tokenizer", "vocab.txt"), "a\nb\nc\n");
  writeFileSync(join(dir, "tokenizer", "deeper", "empty.txt"), "");
  writeFileSync(join(dir, "run.sh"), "#!/bin/sh\necho hi\n", { mode: 0o755 });
  writeFileSync(join(dir, "weights", "model.safetensors"), BIG);
  writeFileSync(join(dir, "weights", "shard-2.bin"), SHARD);
  symlinkSync("tokenizer/vocab.txt", join(dir, "vocab.txt"));
  return dir;
}

const blobGets = (rs: { method: string; path: string }[]) =>
  rs.filter((r) => r.method === "GET" && r.path.includes("/blobs/"));
const uploads = (rs: { method: string; path: string }[]) =>
  rs.filter((r) => r.method === "POST" && r.path.includes("/blobs/uploads/"));

let tmp: string;
let reg: RunningRegistry;
let src: string;
let digest: string;

beforeAll(async () => {
  tmp = mkdtempSync(join(tmpdir(), "model-e2e-"));
  reg = await startRegistry();
  src = makeModel(join(tmp, "src"));
});
afterAll(async () => {
  await reg?.stop();
  rmSync(tmp, { recursive: true, force: true });
});

describe("push and pull", () => {
  it("pushes an OCI 1.1 artifact that skopeo reads with the same digest, big files as their own layers, mountable by containerd", async () => {
    const result = await pushModel(src, parseReference(`${reg.host}/models/demo:v1`), { keychain });
    digest = result.digest;
    expect(result.reference).toBe(`${reg.host}/models/demo@${digest}`);
    const raw = await skopeoRaw(`${reg.host}/models/demo:v1`);
    expect(sha256(raw)).toBe(digest);
    const m = JSON.parse(raw.toString()) as Manifest;
    expect(m.mediaType).toBe(MediaType.OCI_MANIFEST);
    expect(m.artifactType).toBe(MODEL_ARTIFACT_TYPE);
    expect(m.annotations).toBeUndefined();
    // Big files: one layer each, in their blob directory, sorted by content digest.
    const blobs = [hexOf(BIG), hexOf(SHARD)].sort();
    expect(m.layers.map((l) => l.annotations?.["org.opencontainers.image.title"])).toEqual([
      "model",
      ...blobs.map((h) => `model/.blobs/${h}`),
    ]);
    for (const l of m.layers) {
      expect(l.mediaType).toBe(MediaType.OCI_LAYER_GZIP);
      expect(l.annotations?.["io.deis.oras.content.unpack"]).toBe("true");
    }
    // The config containerd unpacks an image volume by: a platform and the layers' diff_ids, in order.
    const res = await fetch(`http://${reg.host}/v2/models/demo/blobs/${m.config.digest}`);
    const config = Buffer.from(await res.arrayBuffer());
    expect(m.config).toEqual({ mediaType: MediaType.OCI_CONFIG, digest: sha256(config), size: config.length });
    expect(JSON.parse(config.toString())).toEqual({
      architecture: "amd64",
      os: "linux",
      rootfs: { type: "layers", diff_ids: m.layers.map((l) => l.annotations?.["io.deis.oras.content.digest"]) },
    });
    // A blob layer holds its directory and the file, nothing above it (`oras pull` unpacks it into its title).
    const blob = m.layers.find((l) => l.annotations?.["org.opencontainers.image.title"]?.endsWith(hexOf(BIG)))!;
    const gz = Buffer.from(await (await fetch(`http://${reg.host}/v2/models/demo/blobs/${blob.digest}`)).arrayBuffer());
    writeFileSync(join(tmp, "blob.tar.gz"), gz);
    const { stdout } = await run("tar", ["-tzf", join(tmp, "blob.tar.gz")], { encoding: "utf8" });
    expect(stdout.trim().split("\n")).toEqual([`model/.blobs/${hexOf(BIG)}/`, `model/.blobs/${hexOf(BIG)}/data`]);
  });

  it("stores the tree as oras stores a directory: entries under model/, owners 0, mtime 0, content digest annotated", async () => {
    const m = JSON.parse((await skopeoRaw(`${reg.host}/models/demo@${digest}`)).toString()) as Manifest;
    const res = await fetch(`http://${reg.host}/v2/models/demo/blobs/${m.layers[0].digest}`);
    const gz = Buffer.from(await res.arrayBuffer());
    expect(sha256(gz)).toBe(m.layers[0].digest);
    expect(sha256(gunzipSync(gz))).toBe(m.layers[0].annotations?.["io.deis.oras.content.digest"]);
    const tarFile = join(tmp, "tree.tar.gz");
    writeFileSync(tarFile, gz);
    const { stdout } = await run("tar", ["--numeric-owner", "--full-time", "-tvzf", tarFile], { encoding: "utf8" });
    const lines = stdout.trim().split("\n");
    const names = lines.map((l) => l.split(/\s+/).slice(5).join(" "));
    expect(names).toEqual([
      "model/",
      "model/.blobs/",
      "model/config.json",
      "model/empty-dir/",
      "model/run.sh",
      "model/tokenizer/",
      "model/tokenizer/deeper/",
      "model/tokenizer/deeper/empty.txt",
      "model/tokenizer/vocab.txt",
      "model/vocab.txt -> tokenizer/vocab.txt",
      "model/weights/",
      `model/weights/model.safetensors -> ../.blobs/${hexOf(BIG)}/data`,
      `model/weights/shard-2.bin -> ../.blobs/${hexOf(SHARD)}/data`,
    ]);
    for (const l of lines) {
      expect(l).toMatch(/^\S+ 0\/0 +\d+ 1970-01-01 00:00:00 /);
    }
    expect(lines.find((l) => l.endsWith("model/run.sh"))).toMatch(/^-rwxr-xr-x/);
  });

  it("pulls it back byte for byte (modes, symlink, empty file, empty directory), atomically", async () => {
    const out = join(tmp, "pulled");
    const r = await pullModel(parseReference(`${reg.host}/models/demo:v1`), out, { keychain });
    expect(r.digest).toBe(digest);
    expect(treeOf(out)).toEqual(normalized(treeOf(src)));
    expect(readdirSync(tmp).filter((n) => n.includes(".tmp-"))).toEqual([]);
    // A non-empty output is not replaced unless asked.
    const e = await caught(pullModel(parseReference(`${reg.host}/models/demo:v1`), out, { keychain }));
    expect(e.code).toBe("E_MODEL_OUTPUT");
    writeFileSync(join(out, "stray"), "x");
    await pullModel(parseReference(`${reg.host}/models/demo@${digest}`), out, { keychain, replace: true });
    expect(treeOf(out)).toEqual(normalized(treeOf(src)));
  });

  it("Debian's oras pulls it as the init container does: the mounted layout, the same files through the links", async () => {
    const out = join(tmp, "oras-out");
    await run(sidTools().oras, ["pull", "--plain-http", `${reg.host}/models/demo@${digest}`, "-o", out], {
      timeout: 120_000,
    });
    expect(readdirSync(out)).toEqual(["model"]);
    expect(treeOf(join(out, "model"))).toEqual(asMounted(normalized(treeOf(src))));
  });

  it("--platform names the nodes' platform in the config (another digest; the layers are the same)", async () => {
    const arm = await buildModel(src, mkdtempSync(join(tmp, "work-")), {
      platform: { os: "linux", architecture: "arm64", variant: "v8" },
    });
    expect(arm.digest).not.toBe(digest);
    expect(JSON.parse(arm.configBytes.toString())).toMatchObject({ architecture: "arm64", os: "linux", variant: "v8" });
    const m = JSON.parse((await skopeoRaw(`${reg.host}/models/demo@${digest}`)).toString()) as Manifest;
    expect(arm.layers.map((l) => l.digest)).toEqual(m.layers.map((l) => l.digest));
  });

  it("refuses a model directory with a top-level .blobs (the name the artifact keeps big files under)", async () => {
    const dir = join(tmp, "reserved");
    mkdirSync(join(dir, ".blobs"), { recursive: true });
    const e = await caught(buildModel(dir, mkdtempSync(join(tmp, "work-"))));
    expect(e.code).toBe("E_MODEL_INPUT");
    expect(e.message).toContain(`model directory ${dir}: ".blobs"`);
  });

  it("gives the same digest again, from a copy at another path with other times and modes, and re-pushes upload nothing", async () => {
    const at = await mark(reg);
    expect((await pushModel(src, parseReference(`${reg.host}/models/demo:again`), { keychain })).digest).toBe(digest);
    const rs = await requestsSince(reg, at);
    expect(uploads(rs)).toEqual([]);
    expect(rs.filter((r) => r.method === "PUT" && r.path.includes("/blobs/"))).toEqual([]);

    const copy = join(tmp, "elsewhere", "copy-of-model");
    mkdirSync(join(tmp, "elsewhere"));
    await run("cp", ["-r", src, copy]);
    utimesSync(join(copy, "config.json"), 1_700_000_000, 1_700_000_000);
    chmodSync(join(copy, "tokenizer"), 0o700);
    chmodSync(join(copy, "config.json"), 0o600);
    const work = mkdtempSync(join(tmp, "work-"));
    const prev = process.env.SOURCE_DATE_EPOCH;
    process.env.SOURCE_DATE_EPOCH = "1234567890";
    try {
      expect((await buildModel(copy, work)).digest).toBe(digest);
    } finally {
      if (prev === undefined) delete process.env.SOURCE_DATE_EPOCH;
      else process.env.SOURCE_DATE_EPOCH = prev;
    }
  });

  it("a new version uploads only what changed (the tree and the config naming its diff_id), not the unchanged weights", async () => {
    const v2 = join(tmp, "v2");
    await run("cp", ["-a", src, v2]);
    writeFileSync(join(v2, "config.json"), '{"hidden_size": 128}\n');
    const at = await mark(reg);
    const r = await pushModel(v2, parseReference(`${reg.host}/models/demo:v2`), { keychain });
    expect(r.digest).not.toBe(digest);
    expect(uploads(await requestsSince(reg, at))).toHaveLength(2);
  });
});

describe("sync", () => {
  let cacheDir: string;
  beforeAll(() => {
    cacheDir = join(tmp, "cache");
  });

  it("downloads once, then a digest hit makes no request at all", async () => {
    const id = `${reg.host}/models/demo@${digest}`;
    let at = await mark(reg);
    const warnings: string[] = [];
    const first = await syncModel(id, { keychain, cacheDir, warn: (l) => warnings.push(l) });
    expect(first.digest).toBe(digest);
    expect(first.dir).toBe(join(cacheDir, "sha256", digest.slice(7), "model"));
    expect(treeOf(first.dir)).toEqual(asMounted(normalized(treeOf(src))));
    expect(blobGets(await requestsSince(reg, at)).length).toBeGreaterThanOrEqual(3);
    expect(warnings).toEqual([]);

    at = await mark(reg);
    const again = await syncModel(id, { keychain, cacheDir, warn: (l) => warnings.push(l) });
    expect(again).toEqual(first);
    expect(await requestsSince(reg, at)).toEqual([]);
    expect(warnings).toEqual([]);
  });

  it("resolves a tag with one manifest HEAD and a warning, and no blob download on a hit", async () => {
    const at = await mark(reg);
    const warnings: string[] = [];
    const r = await syncModel(`${reg.host}/models/demo:v1`, { keychain, cacheDir, warn: (l) => warnings.push(l) });
    expect(r.digest).toBe(digest);
    const rs = (await requestsSince(reg, at)).filter((x) => x.path !== "/v2/");
    expect(rs.map((x) => x.method)).toEqual(["HEAD"]);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toContain('tag "v1" resolved to');
    expect(warnings[0]).toContain(`${reg.host}/models/demo@${digest}`);
  });

  it("two syncs of the same model at once both get the one whole entry", async () => {
    const fresh = join(tmp, "cache-concurrent");
    const id = `${reg.host}/models/demo@${digest}`;
    const [a, b] = await Promise.all([
      syncModel(id, { keychain, cacheDir: fresh }),
      syncModel(id, { keychain, cacheDir: fresh }),
    ]);
    expect(a).toEqual(b);
    expect(treeOf(a.dir)).toEqual(asMounted(normalized(treeOf(src))));
    expect(readdirSync(join(fresh, "sha256"))).toEqual([digest.slice(7)]);
  });

  it("does not trust a damaged or half-written entry: warns and fetches it again", async () => {
    const id = `${reg.host}/models/demo@${digest}`;
    const entry = join(cacheDir, "sha256", digest.slice(7));
    for (const damage of [
      () => truncateSync(join(entry, "model", "weights", "model.safetensors"), 1000),
      () => rmSync(join(entry, "complete.json")),
      () => writeFileSync(join(entry, "model", "tokenizer", "added"), "x"),
    ]) {
      damage();
      const at = await mark(reg);
      const warnings: string[] = [];
      const r = await syncModel(id, { keychain, cacheDir, warn: (l) => warnings.push(l) });
      expect(warnings.join("\n")).toContain("is not whole");
      expect(blobGets(await requestsSince(reg, at)).length).toBeGreaterThanOrEqual(3);
      expect(treeOf(r.dir)).toEqual(asMounted(normalized(treeOf(src))));
    }
    // Same size, other bytes: caught when asked to re-hash.
    const w = join(entry, "model", "config.json");
    const before = readFileSync(w);
    writeFileSync(w, Buffer.from(before.toString().replace("64", "65")));
    const warnings: string[] = [];
    await syncModel(id, { keychain, cacheDir, warn: (l) => warnings.push(l), verifyContent: true });
    expect(warnings.join("\n")).toContain("config.json has content");
    expect(readFileSync(w)).toEqual(before);
    expect(readdirSync(join(cacheDir, "sha256"))).toEqual([digest.slice(7)]);
  });
});

describe("hostile and corrupted artifacts", () => {
  async function putArtifact(
    repo: string,
    layers: { bytes: Buffer; desc: Descriptor }[],
    tag: string,
  ): Promise<string> {
    const client = new RegistryClient(reg.host, { keychain, access: "push" });
    for (const b of [{ bytes: EMPTY_CONFIG_BYTES, desc: EMPTY_CONFIG }, ...layers])
      await uploadBlob(client, repo, bufferBlob(b.bytes, b.desc.mediaType));
    const m = {
      schemaVersion: 2,
      mediaType: MediaType.OCI_MANIFEST,
      artifactType: MODEL_ARTIFACT_TYPE,
      config: EMPTY_CONFIG,
      layers: layers.map((l) => l.desc),
    };
    return client.putManifest(repo, tag, Buffer.from(JSON.stringify(m)), MediaType.OCI_MANIFEST);
  }

  async function treeLayer(inputs: Parameters<typeof buildLayer>[0]): Promise<{ bytes: Buffer; desc: Descriptor }> {
    const path = join(mkdtempSync(join(tmp, "layer-")), "t.tgz");
    const d = await buildLayer(inputs, path, { mtime: 0 });
    const annotations = {
      "io.deis.oras.content.digest": d.diffId,
      "io.deis.oras.content.unpack": "true",
      "org.opencontainers.image.title": "model",
    };
    return { bytes: readFileSync(path), desc: { mediaType: d.mediaType, digest: d.digest, size: d.size, annotations } };
  }

  it.each([["../escaped"], ["/tmp/absolute-title"], ["model/../../escaped"]])(
    "refuses the title %j before writing anything",
    async (title) => {
      const tree = await treeLayer([{ dest: "model", dir: true }]);
      const payload = Buffer.from("payload");
      const file = {
        bytes: payload,
        desc: {
          mediaType: "application/octet-stream",
          digest: sha256(payload),
          size: payload.length,
          annotations: { "org.opencontainers.image.title": title },
        },
      };
      await putArtifact("models/hostile", [tree, file], "t");
      const out = join(tmp, "hostile-out", "model");
      const at = await mark(reg);
      const e = await caught(pullModel(parseReference(`${reg.host}/models/hostile:t`), out, { keychain }));
      expect(e.code).toBe("E_MODEL_UNSAFE");
      expect(e.message).toContain(JSON.stringify(title));
      expect(blobGets(await requestsSince(reg, at))).toEqual([]);
      expect(existsSync(join(tmp, "hostile-out"))).toBe(false);
      expect(existsSync("/tmp/absolute-title")).toBe(false);
    },
  );

  it("still pulls the first form (big files as raw application/octet-stream layers, the empty config)", async () => {
    const tree = await treeLayer([
      { dest: "model/sub", dir: true },
      { dest: "model/config.json", content: Buffer.from("{}") },
    ]);
    const file = {
      bytes: SHARD,
      desc: {
        mediaType: "application/octet-stream",
        digest: sha256(SHARD),
        size: SHARD.length,
        annotations: { "org.opencontainers.image.title": "model/sub/shard.bin" },
      },
    };
    const d = await putArtifact("models/first-form", [tree, file], "t");
    const out = join(tmp, "first-form-out");
    await pullModel(parseReference(`${reg.host}/models/first-form@${d}`), out, { keychain });
    expect(treeOf(out)).toEqual({
      "config.json": `file 644 ${sha256("{}").slice(7)}`,
      sub: "dir 755",
      "sub/shard.bin": `file 644 ${hexOf(SHARD)}`,
    });
  });

  it("a blob layer that holds more than its one file is refused, and nothing is left", async () => {
    const hex = hexOf(SHARD);
    const tree = await treeLayer([
      { dest: "model/config.json", content: Buffer.from("{}") },
      { dest: "model/w.bin", symlink: `.blobs/${hex}/data` },
    ]);
    const path = join(mkdtempSync(join(tmp, "layer-")), "b.tgz");
    const b = await buildLayer(
      [
        { dest: `model/.blobs/${hex}/data`, content: SHARD },
        { dest: `model/.blobs/${hex}/extra`, content: Buffer.from("x") },
      ],
      path,
      { mtime: 0, under: `model/.blobs/${hex}` },
    );
    const blob = {
      bytes: readFileSync(path),
      desc: {
        mediaType: b.mediaType,
        digest: b.digest,
        size: b.size,
        annotations: {
          "io.deis.oras.content.digest": b.diffId,
          "io.deis.oras.content.unpack": "true",
          "org.opencontainers.image.title": `model/.blobs/${hex}`,
        },
      },
    };
    const d = await putArtifact("models/hostile-blob", [tree, blob], "t");
    const out = join(tmp, "hostile-blob-out");
    const e = await caught(pullModel(parseReference(`${reg.host}/models/hostile-blob@${d}`), out, { keychain }));
    expect(e.code).toBe("E_MODEL_UNSAFE");
    expect(e.message).toContain(`blob layer "model/.blobs/${hex}" holds ["data","extra"]`);
    expect(existsSync(out)).toBe(false);
  });

  it("refuses a tree whose symlink leads out, and never writes a file layer through it", async () => {
    const target = mkdtempSync(join(tmp, "victim-"));
    const tree = await treeLayer([
      { dest: "model", dir: true },
      { dest: "model/evil", symlink: target },
    ]);
    const payload = Buffer.from("owned");
    const file = {
      bytes: payload,
      desc: {
        mediaType: "application/octet-stream",
        digest: sha256(payload),
        size: payload.length,
        annotations: { "org.opencontainers.image.title": "model/evil/pwned" },
      },
    };
    await putArtifact("models/hostile", [tree, file], "link");
    const e = await caught(
      pullModel(parseReference(`${reg.host}/models/hostile:link`), join(tmp, "link-out"), { keychain }),
    );
    expect(e.code).toBe("E_MODEL_UNSAFE");
    expect(e.message).toContain("leads outside the model directory");
    expect(readdirSync(target)).toEqual([]);
    expect(existsSync(join(tmp, "link-out"))).toBe(false);
  });

  it("a tree whose directory becomes a symlink to a host directory after its subdirectory: refused, the host directory's mode and mtime untouched", async () => {
    // issue #9: the unpacker used to chmod/utime the saved path model/a/sub at the end, through the late symlink.
    const canary = mkdtempSync(join(tmp, "canary-"));
    mkdirSync(join(canary, "sub"), { mode: 0o755 });
    chmodSync(join(canary, "sub"), 0o755);
    utimesSync(join(canary, "sub"), 1_234_567_890, 1_234_567_890);
    const tar = rawTar([
      { name: "model/", type: "5" },
      { name: "model/a/", type: "5" },
      { name: "model/a/sub/", type: "5", mode: 0o777 },
      { name: "model/a", type: "2", linkname: canary },
    ]);
    const bytes = gz(tar);
    const annotations = {
      "io.deis.oras.content.digest": sha256(tar),
      "io.deis.oras.content.unpack": "true",
      "org.opencontainers.image.title": "model",
    };
    await putArtifact(
      "models/hostile",
      [
        {
          bytes,
          desc: { mediaType: MediaType.OCI_LAYER_GZIP, digest: sha256(bytes), size: bytes.length, annotations },
        },
      ],
      "late-link",
    );
    const e = await caught(
      pullModel(parseReference(`${reg.host}/models/hostile:late-link`), join(tmp, "late-link-out"), { keychain }),
    );
    expect(e.code).toBe("E_MODEL_UNSAFE");
    expect(e.message).toContain("leads outside the model directory");
    const st = lstatSync(join(canary, "sub"));
    expect({ mode: (st.mode & 0o7777).toString(8), mtime: st.mtimeMs / 1000 }).toEqual({
      mode: "755",
      mtime: 1_234_567_890,
    });
    expect(existsSync(join(tmp, "late-link-out"))).toBe(false);
  });

  it("refuses a tree with entries outside model/", async () => {
    const tree = await treeLayer([
      { dest: "model", dir: true },
      { dest: "elsewhere/x", content: Buffer.from("x") },
    ]);
    await putArtifact("models/hostile", [tree], "outside");
    const e = await caught(
      pullModel(parseReference(`${reg.host}/models/hostile:outside`), join(tmp, "outside-out"), { keychain }),
    );
    expect(e.code).toBe("E_MODEL_UNSAFE");
    expect(e.message).toContain('entries outside "model/": "elsewhere"');
    expect(existsSync(join(tmp, "outside-out"))).toBe(false);
  });

  it("a blob whose bytes changed in the registry fails the digest check and leaves no output", async () => {
    const dir = join(tmp, "corrupt-src");
    mkdirSync(dir);
    const weights = randomBytes(3 * 1024 * 1024);
    writeFileSync(join(dir, "w.bin"), weights);
    const { digest: d } = await pushModel(dir, parseReference(`${reg.host}/models/corrupt:v1`), { keychain });
    const m = JSON.parse((await skopeoRaw(`${reg.host}/models/corrupt@${d}`)).toString()) as Manifest;
    const hex = m.layers[1].digest.slice(7);
    const data = join(reg.dir, "data", "docker", "registry", "v2", "blobs", "sha256", hex.slice(0, 2), hex, "data");
    const bytes = readFileSync(data);
    bytes[12345] ^= 0xff;
    writeFileSync(data, bytes);
    const out = join(tmp, "corrupt-out");
    const e = await caught(pullModel(parseReference(`${reg.host}/models/corrupt@${d}`), out, { keychain }));
    expect(e.code).toBe("E_DIGEST_MISMATCH");
    expect(existsSync(out)).toBe(false);
    const cacheDir = join(tmp, "corrupt-cache");
    expect((await caught(syncModel(`${reg.host}/models/corrupt@${d}`, { keychain, cacheDir }))).code).toBe(
      "E_DIGEST_MISMATCH",
    );
    expect(readdirSync(join(cacheDir, "sha256"))).toEqual([]);
  });

  it("refuses an artifact of another type", async () => {
    const client = new RegistryClient(reg.host, { keychain, access: "push" });
    const json = Buffer.from('{"chart": true}');
    await uploadBlob(client, "models/other", bufferBlob(EMPTY_CONFIG_BYTES, EMPTY_CONFIG.mediaType));
    await uploadBlob(client, "models/other", bufferBlob(json, "application/json"));
    const m = {
      schemaVersion: 2,
      mediaType: MediaType.OCI_MANIFEST,
      artifactType: "application/vnd.example.other",
      config: EMPTY_CONFIG,
      layers: [{ mediaType: "application/json", digest: sha256(json), size: json.length }],
    };
    await client.putManifest("models/other", "v1", Buffer.from(JSON.stringify(m)), MediaType.OCI_MANIFEST);
    const e = await caught(
      pullModel(parseReference(`${reg.host}/models/other:v1`), join(tmp, "other-out"), { keychain }),
    );
    expect(e.code).toBe("E_MODEL_ARTIFACT");
    expect(e.message).toContain('"application/vnd.example.other"');
    expect(existsSync(join(tmp, "other-out"))).toBe(false);
  });
});

describe("htpasswd registry through the CLI handlers", () => {
  const secret = "pw-" + randomBytes(6).toString("hex");
  let authReg: RunningRegistry;
  beforeAll(async () => {
    authReg = await startRegistry({ htpasswd: { user: "alice", password: secret } });
  });
  afterAll(async () => {
    await authReg?.stop();
  });

  function io(stdin: string) {
    const out: string[] = [];
    const err: string[] = [];
    const home = mkdtempSync(join(tmp, "home-"));
    const cli: CliIo = {
      stdout: (l) => out.push(l),
      stderr: (l) => err.push(l),
      env: { HOME: home, DOCKER_CONFIG: join(home, "docker") },
      cwd: tmp,
      isTTY: false,
      readStdin: async () => stdin,
    };
    return { cli, out, err };
  }

  it("refuses without credentials, pushes and pulls with --username/--password-stdin", async () => {
    const ref = parseReference(`${authReg.host}/private/model:v1`);
    expect((await caught(pushModel(src, ref, { keychain }))).code).toBe("E_UNAUTHORIZED");

    const push = io(secret + "\n");
    await modelPush(
      {
        dir: src,
        reference: `${authReg.host}/private/model:v1`,
        tag: ["stable"],
        insecure: false,
        username: "alice",
        "password-stdin": true,
      },
      push.cli,
    );
    expect(push.out).toEqual([`${authReg.host}/private/model@${digest}`]);
    expect(sha256(await skopeoRaw(`${authReg.host}/private/model:stable`, `alice:${secret}`))).toBe(digest);

    const pull = io(secret);
    const out = join(tmp, "cli-pulled");
    await modelPull(
      {
        reference: `${authReg.host}/private/model:stable`,
        output: out,
        insecure: false,
        username: "alice",
        "password-stdin": true,
      },
      pull.cli,
    );
    expect(pull.out).toEqual([`${authReg.host}/private/model@${digest}`]);
    expect(treeOf(out)).toEqual(normalized(treeOf(src)));
    for (const line of [...push.out, ...push.err, ...pull.out, ...pull.err]) expect(line).not.toContain(secret);

    const cacheDir = join(tmp, "auth-cache");
    const auth = explicitKeychain(authReg.host, { username: "alice", password: secret });
    const synced = await syncModel(`${authReg.host}/private/model@${digest}`, { keychain: auth, cacheDir });
    expect(treeOf(synced.dir)).toEqual(asMounted(normalized(treeOf(src))));
  });
});
