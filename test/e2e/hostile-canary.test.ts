/**
 * Issue #9's promise, checked from the outside: hostile images and models go through the real CLI (`pipeline run
 * --image oci:DIR` under runc and podman, `pipeline verify-image`, `pipeline model pull`), as root, and no file outside the cache changes.
 * A canary tree (directories and files with known modes, mtimes and contents) sits beside the cache; every layer
 * below aims at it in another way (late symlinks within and across layers, files, whiteouts, opaque whiteouts, hard
 * links and directory entries through links, climbing link chains). After each command the canary is compared with
 * its snapshot: modes, mtimes, sizes, contents, link targets and the set of entries.
 *
 * And issue #41's hostile registry (test/fixtures/hostile-registry.ts, in-process: the real registry cannot misbehave
 * so): `verify` and `run --require-signature` against 100 pages of referrers and bundles of 22k junk signatures, a
 * manifest or headers dripped a byte at a time, an endless config. Each fails with its code, in bounded memory;
 * nothing is asserted on time (the CPU seen is in the report of issue #41's work).
 */
import { createHash } from "node:crypto";
import {
  chmodSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  utimesSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { anonymousKeychain } from "../../src/registry-auth/anonymous";
import { bufferBlob } from "../../src/layer/blob";
import { EMPTY_CONFIG, EMPTY_CONFIG_BYTES } from "../../src/weights/artifact";
import { MODEL_ARTIFACT_TYPE } from "../../src/weights";
import { sha256 } from "../../src/oci/digest";
import { MediaType } from "../../src/oci/types";
import { RegistryClient } from "../../src/registry/client";
import { uploadBlob } from "../../src/registry/upload";
import { gz, type RawEntry, rawTar } from "../corpus/raw-tar";
import { spawnSync } from "node:child_process";
import { runCli } from "../fixtures/cli";
import { mountsUnder } from "../fixtures/runner";
import { type RunningRegistry, startRegistry } from "../fixtures/registry";
import { generateKeyPairSync } from "node:crypto";
import { type HostileRegistry, startHostileRegistry } from "../fixtures/hostile-registry";
import { measuredCli } from "../fixtures/measured-cli";

const tmp = mkdtempSync(join(tmpdir(), "rp-e2e-canary-"));
const canary = join(tmp, "canary");
const cache = join(tmp, "cache");
let reg: RunningRegistry;

const T = 1_234_567_890;

function makeCanary(): void {
  mkdirSync(join(canary, "sub", "deep"), { recursive: true });
  mkdirSync(join(canary, "etc"));
  writeFileSync(join(canary, "sub", "file.txt"), "original\n");
  writeFileSync(join(canary, "etc", "conf"), "do not touch\n");
  chmodSync(join(canary, "etc", "conf"), 0o600);
  chmodSync(join(canary, "etc"), 0o750);
  for (const p of ["sub/file.txt", "etc/conf", "sub/deep", "sub", "etc", "."]) utimesSync(join(canary, p), T, T);
}

interface Snap {
  type: string;
  mode: string;
  mtime: number;
  size: number;
  content?: string;
  link?: string;
}

function snapshot(root = canary): Record<string, Snap> {
  const out: Record<string, Snap> = {};
  const walk = (p: string) => {
    const st = lstatSync(p);
    const rel = relative(root, p) || ".";
    const type = st.isDirectory() ? "dir" : st.isSymbolicLink() ? "symlink" : st.isFile() ? "file" : "other";
    out[rel] = { type, mode: (st.mode & 0o7777).toString(8), mtime: st.mtimeMs, size: st.isDirectory() ? 0 : st.size };
    if (st.isFile()) out[rel].content = createHash("sha256").update(readFileSync(p)).digest("hex");
    if (st.isSymbolicLink()) out[rel].link = readlinkSync(p);
    if (st.isDirectory()) for (const n of readdirSync(p).sort()) walk(join(p, n));
  };
  walk(root);
  return out;
}

/**
 * The attacks: each a list of layers (bottom first) aimed at the canary, and whether an image runtime may accept it
 * (true: its absolute links mean "inside the root" to a container, so the runner and verify-image resolve them there
 * and the canary is out of reach; a model, a plain directory, refuses every link that leaves it).
 */
function attacks(): [string, RawEntry[][], boolean?][] {
  const climb = "../".repeat(12) + canary.slice(1);
  return [
    [
      "a directory replaced by a link to the canary after its subdirectory (same layer)",
      [
        [
          { name: "a/", type: "5" },
          { name: "a/sub/", type: "5", mode: 0o777, mtime: 0 },
          { name: "a", type: "2", linkname: canary },
        ],
      ],
      true,
    ],
    [
      "the same across two layers",
      [
        [
          { name: "a/", type: "5" },
          { name: "a/sub/", type: "5", mode: 0o777 },
        ],
        [{ name: "a", type: "2", linkname: canary }],
      ],
      true,
    ],
    [
      "a file written through a link to the canary",
      [[{ name: "l", type: "2", linkname: canary }], [{ name: "l/sub/file.txt", data: "pwned\n" }]],
      true,
    ],
    [
      "a directory entry through a link (mode 0777)",
      [[{ name: "l", type: "2", linkname: canary }], [{ name: "l/etc/", type: "5", mode: 0o777 }]],
      true,
    ],
    [
      "a whiteout through a link",
      [[{ name: "l", type: "2", linkname: canary }], [{ name: "l/.wh.sub", data: "" }]],
      true,
    ],
    [
      "an opaque whiteout through a link",
      [[{ name: "l", type: "2", linkname: canary + "/sub" }], [{ name: "l/.wh..wh..opq", data: "" }]],
      true,
    ],
    [
      "a hard link to a canary file",
      [
        [
          { name: "h", type: "1", linkname: canary + "/etc/conf" },
          { name: "h", data: "pwned\n" },
        ],
      ],
    ],
    [
      "a hard link through a link, then written",
      [
        [{ name: "l", type: "2", linkname: canary }],
        [{ name: "h", type: "1", linkname: "l/etc/conf" }],
        [{ name: "h", data: "pwned\n" }],
      ],
    ],
    [
      "a climbing chain: r -> /, then r/x/y/out -> ../../<canary>",
      [
        [
          { name: "r", type: "2", linkname: "/" },
          { name: "r/x/", type: "5" },
          { name: "r/x/y/", type: "5" },
          { name: "r/x/y/out", type: "2", linkname: climb },
          { name: "r/x/y/out/sub/file.txt", data: "pwned\n" },
        ],
      ],
    ],
    [
      "a relative link that really climbs out, then a directory mode through it",
      [
        [
          { name: "d/", type: "5" },
          { name: "d/e", type: "2", linkname: "../" + climb },
          { name: "d/e/sub/", type: "5", mode: 0o777 },
        ],
      ],
    ],
  ];
}

/** An OCI layout of `layers` (raw tars, gzipped) with a minimal config. */
function layout(dir: string, layers: Buffer[]): void {
  mkdirSync(join(dir, "blobs", "sha256"), { recursive: true });
  const put = (b: Buffer) => {
    const d = sha256(b);
    writeFileSync(join(dir, "blobs", "sha256", d.slice(7)), b);
    return d;
  };
  const descs = layers.map((tar) => {
    const bytes = gz(tar);
    return { mediaType: MediaType.OCI_LAYER_GZIP, digest: put(bytes), size: bytes.length, diffId: sha256(tar) };
  });
  const config = Buffer.from(
    JSON.stringify({
      architecture: "amd64",
      os: "linux",
      config: { Entrypoint: ["/bin/true"] },
      rootfs: { type: "layers", diff_ids: descs.map((d) => d.diffId) },
    }),
  );
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MediaType.OCI_MANIFEST,
      config: { mediaType: MediaType.OCI_CONFIG, digest: put(config), size: config.length },
      layers: descs.map(({ mediaType, digest, size }) => ({ mediaType, digest, size })),
    }),
  );
  const md = put(manifest);
  writeFileSync(join(dir, "oci-layout"), JSON.stringify({ imageLayoutVersion: "1.0.0" }));
  writeFileSync(
    join(dir, "index.json"),
    JSON.stringify({
      schemaVersion: 2,
      manifests: [
        {
          mediaType: MediaType.OCI_MANIFEST,
          digest: md,
          size: manifest.length,
          annotations: { "org.opencontainers.image.ref.name": "latest" },
        },
      ],
    }),
  );
}

async function pushModel(repo: string, tag: string, layers: Buffer[]): Promise<string> {
  const client = new RegistryClient(reg.host, { keychain: anonymousKeychain, access: "push" });
  const descs = [];
  await uploadBlob(client, repo, bufferBlob(EMPTY_CONFIG_BYTES, EMPTY_CONFIG.mediaType));
  for (const tar of layers) {
    const bytes = gz(tar);
    const annotations = {
      "io.deis.oras.content.digest": sha256(tar),
      "io.deis.oras.content.unpack": "true",
      "org.opencontainers.image.title": "model",
    };
    await uploadBlob(client, repo, bufferBlob(bytes, MediaType.OCI_LAYER_GZIP));
    descs.push({ mediaType: MediaType.OCI_LAYER_GZIP, digest: sha256(bytes), size: bytes.length, annotations });
  }
  const m = {
    schemaVersion: 2,
    mediaType: MediaType.OCI_MANIFEST,
    artifactType: MODEL_ARTIFACT_TYPE,
    config: EMPTY_CONFIG,
    layers: descs,
  };
  await client.putManifest(repo, tag, Buffer.from(JSON.stringify(m)), MediaType.OCI_MANIFEST);
  return `${reg.host}/${repo}:${tag}`;
}

const env = () => ({ ...process.env, PIPELINE_CACHE_DIR: cache, CI: "true" });
let before: Record<string, Snap>;

beforeAll(async () => {
  expect(process.getuid?.()).toBe(0); // the point: as root, nothing stops a chmod but our own checks
  makeCanary();
  before = snapshot();
  reg = await startRegistry();
});

afterAll(async () => {
  await reg?.stop();
  // podman's overlay driver bind-mounts <cache>/podman/root/overlay on itself.
  for (const m of mountsUnder(tmp).reverse()) spawnSync("umount", [m.split(" ")[1]]);
  rmSync(tmp, { recursive: true, force: true });
});

describe("hostile images and models through the real CLI, as root: the canary beside the cache never changes", () => {
  attacks().forEach(([name, layers, contained], i) => {
    const tars = layers.map((entries) => rawTar(entries));
    const expected = contained
      ? { run: /runc run failed|E_LAYER_UNSAFE/, verify: /contract|MISS|E_LAYER_UNSAFE/ }
      : { run: /error\[E_LAYER_UNSAFE\]/, verify: /error\[E_LAYER_UNSAFE\]/ };
    test(`${i + 1} ${name}: run, verify-image and model pull refuse it or keep it inside the root; the canary is untouched`, async () => {
      const dir = join(tmp, `image-${i + 1}`);
      layout(dir, tars);
      // Each command either refuses the image or keeps what it says inside the root (an absolute link means
      // "inside the root" to a container); the image has no program, so a run that gets that far fails in runc.
      const run = await runCli(["run", "--image", `oci:${dir}`, "--runtime", "runc"], { env: env() });
      expect(run.code, run.stdout + run.stderr).toBe(1);
      expect(run.stderr).toMatch(expected.run);
      expect(snapshot()).toEqual(before);

      // podman runs the same judged rootfs (--rootfs), never its own extraction of the layers.
      const podman = await runCli(["run", "--image", `oci:${dir}`, "--runtime", "podman"], { env: env() });
      expect(podman.code, podman.stdout + podman.stderr).not.toBe(0);
      expect(podman.stderr).toMatch(contained ? /E_LAYER_UNSAFE|\/bin\/true/ : /error\[E_LAYER_UNSAFE\]/);
      expect(snapshot()).toEqual(before);

      const verify = await runCli(["verify-image", `oci:${dir}`], { env: env() });
      expect(verify.code, verify.stdout + verify.stderr).toBe(1);
      expect(verify.stdout + verify.stderr).toMatch(expected.verify);
      expect(snapshot()).toEqual(before);

      // A model is one tree under model/: the same entries, all layers in one, moved below it.
      const modelTar = rawTar([
        { name: "model/", type: "5" },
        ...layers.flat().map((e) => ({
          ...e,
          name: `model/${e.name}`,
          linkname: e.type === "1" && !e.linkname!.startsWith("/") ? `model/${e.linkname}` : e.linkname,
        })),
      ]);
      const ref = await pushModel("hostile/models", `attack-${i + 1}`, [modelTar]);
      const out = join(tmp, `model-out-${i + 1}`);
      const pull = await runCli(["model", "pull", ref, "--output", out, "--insecure"], { env: env() });
      expect(pull.code, pull.stdout + pull.stderr).toBe(1);
      expect(pull.stderr).toMatch(/error\[E_(MODEL|LAYER)_UNSAFE\]/);
      expect(snapshot()).toEqual(before);
    });
  });

  test("the attacks' layers were really aimed at the canary: unpacked with no checks (tar as root into a scratch dir), they would change it", async () => {
    // The control: GNU tar following the same entries, with its own protections off, does reach the canary. So the
    // tests above prove something about our unpacker, not about the layers.
    const scratch = join(tmp, "control");
    mkdirSync(scratch);
    const tars = attacks()[2][1].map((entries) => rawTar(entries));
    for (const [j, t] of tars.entries()) writeFileSync(join(scratch, `${j}.tar`), t);
    const root = join(scratch, "root");
    mkdirSync(root);
    for (let j = 0; j < tars.length; j++) {
      const r = spawnSync("tar", ["-xf", join(scratch, `${j}.tar`), "-C", root], { encoding: "utf8" });
      expect(r.status, r.stderr).toBe(0);
    }
    expect(readFileSync(join(canary, "sub", "file.txt"), "utf8")).toBe("pwned\n");
    // Put the canary back as it was for any later test.
    writeFileSync(join(canary, "sub", "file.txt"), "original\n");
    utimesSync(join(canary, "sub", "file.txt"), T, T);
    utimesSync(join(canary, "sub"), T, T);
  });
});

describe("a hostile registry (issue #41): every answer bounded, whatever it serves", () => {
  let hostile: HostileRegistry;
  const pub = join(tmp, "hostile-cosign.pub");
  const measured = measuredCli(tmp);
  // Short windows so the dripped cases end quickly; the bounds themselves are what is tested, not their defaults.
  const quick = {
    PIPELINE_TRANSFER_RATE_WINDOW: "1s",
    PIPELINE_RESPONSE_HEADERS_TIMEOUT: "2s",
    PIPELINE_CACHE_DIR: cache,
  };
  beforeAll(async () => {
    hostile = await startHostileRegistry({ pages: 100, junkSignatures: 22_000 });
    writeFileSync(
      pub,
      generateKeyPairSync("ec", { namedCurve: "P-256" }).publicKey.export({ type: "spki", format: "pem" }),
    );
  });
  afterAll(async () => {
    await hostile?.stop();
  });

  test("verify: 100 pages of referrers and 32 bundles of 22k junk signatures: E_SIGNATURE naming the cap, under 300 MB", async () => {
    const r = await measured(
      ["verify", `${hostile.host}/h/junk@${hostile.junkDigest}`, "--key", pub],
      undefined,
      quick,
    );
    expect(r.code, r.stderr).toBe(1);
    expect(r.stderr).toContain("error[E_SIGNATURE]");
    expect(r.stderr).toContain(
      "the DSSE envelope carries 22000 signatures, more than the 16 one envelope may carry; none was checked",
    );
    expect(hostile.pagesServed()).toBe(100);
    expect(r.maxRssMiB).toBeLessThan(300);
    console.log(
      `verify against the hostile registry: ${r.maxRssMiB.toFixed(0)} MiB peak RSS, ${r.cpuSeconds.toFixed(1)} s CPU`,
    );
  });

  test("run --require-signature against the same: E_SIGNATURE before anything runs", async () => {
    const r = await runCli(
      ["run", "--image", `${hostile.host}/h/junk@${hostile.junkDigest}`, "--require-signature", pub],
      {
        env: { ...env(), ...quick },
      },
    );
    expect(r.code, r.stderr).toBe(1);
    expect(r.stderr).toContain("error[E_SIGNATURE]");
    expect(r.stderr).toContain("more than the 16 one envelope may carry");
  });

  test("a manifest dripped a byte at a time: E_REGISTRY_TOO_SLOW naming its path and the rate", async () => {
    const r = await runCli(["verify", `${hostile.host}/h/slow:v1`, "--key", pub], { env: { ...env(), ...quick } });
    expect(r.code, r.stderr).toBe(1);
    expect(r.stderr).toContain("error[E_REGISTRY_TOO_SLOW]");
    expect(r.stderr).toContain("/v2/h/slow/manifests/v1");
    expect(r.stderr).toMatch(/ at [0-9.]+ B\/s /);
  });

  test("response headers dripped a byte at a time: E_REGISTRY_TOO_SLOW ($PIPELINE_RESPONSE_HEADERS_TIMEOUT)", async () => {
    const r = await runCli(["verify", `${hostile.host}/h/headers:v1`, "--key", pub], { env: { ...env(), ...quick } });
    expect(r.code, r.stderr).toBe(1);
    expect(r.stderr).toContain("error[E_REGISTRY_TOO_SLOW]");
    expect(r.stderr).toContain(
      "/v2/h/headers/manifests/v1: the registry did not finish sending the response headers within 2 s",
    );
  });

  test("a config declared 1 KiB and served endlessly: cut at its size, E_DIGEST_MISMATCH naming declared and received", async () => {
    const r = await measured(
      ["pull", `${hostile.host}/h/config:v1`, "--output", join(tmp, "endless-config")],
      undefined,
      quick,
    );
    expect(r.code, r.stderr).toBe(1);
    expect(r.stderr).toContain("error[E_DIGEST_MISMATCH]");
    expect(r.stderr).toContain("the descriptor declares 1024 bytes and the registry sent more");
    expect(hostile.configBytesSent()).toBeLessThan(64 * 1024 * 1024);
    expect(r.maxRssMiB).toBeLessThan(300);
  });
});
