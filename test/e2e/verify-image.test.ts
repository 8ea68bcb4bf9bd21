/**
 * `pipeline verify-image`: crafted images that each break one requirement of the image contract (no node, node
 * not executable, node deleted by a whiteout, entry script missing, HOME not writable, wrong OS, wrong
 * architecture, unknown user, ...) give exactly the expected MISS line; a conforming one gives only ok lines.
 * Images the runner's unpacker refuses (bad whiteouts, climbing links) are an E_LAYER_UNSAFE error here too, with
 * the same words; a hard link through an in-image symlink is accepted by both.
 * Read from oci:DIR and from a real registry behind Basic auth through the credential chain (DOCKER_CONFIG).
 * (The image `pipeline build --lockfile` makes on the host-node base is verified in lockfile-build.test.ts.)
 */
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { verifyImageCommand, type VerifyImageArgs } from "../../src/cli/commands/verify-image";
import { dockerConfigKeychain } from "../../src/registry-auth/docker-config";
import type { CliIo } from "../../src/cli/io";
import { composeImage, type ComposeOptions } from "../../src/image/compose";
import type { Image, Layer } from "../../src/oci/model";
import { buildLayer, type LayerInput, layerFromDescriptor } from "../../src/layer/build";
import { unpackLayers } from "../../src/layer/unpack";
import { blobPath } from "../../src/layout/read";
import { writeLayout } from "../../src/layout/write";
import { sha256 } from "../../src/oci/digest";
import { MediaType } from "../../src/oci/types";
import { pushImage } from "../../src/registry/push";
import { gz, rawTar, type RawEntry } from "../corpus/raw-tar";
import { pipelineErrorOf } from "../fixtures/errors";
import { type RunningRegistry, startRegistry, writeDockerConfig } from "../fixtures/registry";

/** The first 64 bytes of a 64-bit little-endian ELF executable for `machine` (0x3e x86-64, 0xb7 aarch64). */
function elfHeader(machine: number): Buffer {
  const h = Buffer.alloc(64);
  h.writeUInt32BE(0x7f454c46, 0);
  h[4] = 2;
  h[5] = 1;
  h[6] = 1;
  h.writeUInt16LE(2, 16);
  h.writeUInt16LE(machine, 18);
  return h;
}

const X86_64 = 0x3e;
const AARCH64 = 0xb7;
const PATH_ENV = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
const PASSWD = "root:x:0:0:root:/root:/bin/sh\nnode:x:1000:1000::/home/node:/bin/sh\n";
const GROUP = "root:x:0:\nnode:x:1000:\n";

interface Spec {
  system?: LayerInput[];
  node?: LayerInput[];
  app?: LayerInput[];
  /** Extra layers on top (raw tar entries: whiteouts, hard links, "./" paths). */
  raw?: RawEntry[][];
  config?: Partial<ComposeOptions>;
}

const SYSTEM: LayerInput[] = [
  { dest: "etc/passwd", content: Buffer.from(PASSWD) },
  { dest: "etc/group", content: Buffer.from(GROUP) },
  { dest: "tmp", dir: true, mode: 0o1777 },
  { dest: "root", dir: true, mode: 0o700 },
  { dest: "home/node", dir: true, mode: 0o755, uid: 1000, gid: 1000 },
];
const NODE: LayerInput[] = [{ dest: "usr/local/bin/node", content: elfHeader(X86_64), mode: 0o755 }];
const APP: LayerInput[] = [
  { dest: "app/main.js", content: Buffer.from("console.log('hi')\n") },
  { dest: "app/node_modules/@rules_pipeline/runtime/index.js", content: Buffer.from("module.exports = {};\n") },
];

function rawLayer(entries: RawEntry[]): Layer {
  const tar = rawTar(entries);
  const blob = gz(tar);
  return {
    digest: sha256(blob),
    size: blob.length,
    mediaType: MediaType.OCI_LAYER_GZIP,
    diffId: sha256(tar),
    open: () => Readable.from([blob]),
  };
}

let tmp: string;
let counter = 0;

async function makeImage(spec: Spec = {}): Promise<{ image: Image; dir: string }> {
  const dir = join(tmp, `img-${++counter}`);
  const layers: { layer: Layer; createdBy: string }[] = [];
  for (const [name, files] of [
    ["system", spec.system ?? SYSTEM],
    ["node", spec.node ?? NODE],
    ["app", spec.app ?? APP],
  ] as const) {
    if (files.length === 0) continue;
    const p = join(tmp, `layers-${counter}-${name}.tar.gz`);
    layers.push({ layer: layerFromDescriptor(p, await buildLayer(files, p)), createdBy: name });
  }
  for (const entries of spec.raw ?? []) layers.push({ layer: rawLayer(entries), createdBy: "raw" });
  const image = composeImage({
    layers,
    entrypoint: ["node", "/app/main.js"],
    cmd: [],
    workdir: "/app",
    env: { PATH: PATH_ENV },
    os: "linux",
    architecture: "amd64",
    ...spec.config,
  });
  await writeLayout(dir, image, { refName: "latest" });
  return { image, dir };
}

function captureIo(env: NodeJS.ProcessEnv = process.env): CliIo & { out: string[]; err: string[] } {
  const out: string[] = [];
  const err: string[] = [];
  return {
    out,
    err,
    stdout: (l) => out.push(l),
    stderr: (l) => err.push(l),
    env,
    cwd: process.cwd(),
    isTTY: false,
    readStdin: async () => "",
  };
}

async function verify(args: VerifyImageArgs, env?: NodeJS.ProcessEnv) {
  const io = captureIo(env);
  const r = await verifyImageCommand(args, io);
  const lines = io.out.slice(1, -1);
  // The crafted images run as root, so each has C12's warning: `notOk` leaves it out (the tests below check it).
  return {
    exitCode: r.exitCode,
    lines,
    out: io.out,
    notOk: lines.filter((l) => !l.startsWith("ok ") && !l.startsWith("warn C12 ")),
  };
}

async function verifyCrafted(spec: Spec) {
  const { dir } = await makeImage(spec);
  return verify({ reference: `oci:${dir}` });
}

beforeAll(() => {
  tmp = mkdtempSync(join(tmpdir(), "rp-e2e-verify-"));
});

afterAll(() => {
  rmSync(tmp, { recursive: true, force: true });
});

describe("verify-image on oci:DIR", () => {
  it("a conforming image: one ok line per requirement, exit 0", async () => {
    const r = await verifyCrafted({});
    expect(r.notOk).toEqual([]);
    expect(r.lines).toEqual([
      "ok   C1 platform is linux/amd64",
      'ok   C2 entrypoint is ["node", "/app/main.js"]',
      "ok   C3 working directory is /app",
      "ok   C4 entry script /app/main.js is a regular file (18 bytes)",
      `ok   C5 PATH=${PATH_ENV}`,
      "ok   C6 node at /usr/local/bin/node (mode 0755)",
      "ok   C7 /usr/local/bin/node is a linux/amd64 ELF executable",
      "ok   C8 user (none: root) is uid 0 gid 0",
      "ok   C9 HOME /root (/etc/passwd entry of root) is writable by uid 0",
      "ok   C10 runtime library at /app/node_modules/@rules_pipeline/runtime (index.js)",
      "ok   C11 /tmp (mode 01777)",
      'warn C12 no user set: the container runs as root; set a non-root user (pipeline(user = "1000:1000") or a name in the image\'s /etc/passwd)',
    ]);
    expect(r.out[r.out.length - 1]).toBe("image contract: met (1 warning)");
    expect(r.exitCode).toBe(0);
  });

  it("no node anywhere on PATH", async () => {
    const r = await verifyCrafted({ node: [] });
    expect(r.notOk).toEqual([
      `MISS C6 node not found on PATH (${PATH_ENV.split(":").join(", ")})`,
      "MISS C7 no node binary to look at (see C6)",
    ]);
    expect(r.exitCode).toBe(1);
    expect(r.out[r.out.length - 1]).toBe("image contract: 2 requirements missed");
  });

  it("node not executable", async () => {
    const r = await verifyCrafted({ node: [{ dest: "usr/local/bin/node", content: elfHeader(X86_64), mode: 0o644 }] });
    expect(r.notOk[0]).toBe(
      "MISS C6 no executable node on PATH: /usr/local/bin/node is not executable by uid 0 (mode 0644, owner 0:0)",
    );
    expect(r.exitCode).toBe(1);
  });

  it("a non-executable node is passed over for an executable one later on PATH, as runc's lookup does", async () => {
    const r = await verifyCrafted({
      node: [
        { dest: "usr/local/bin/node", content: elfHeader(X86_64), mode: 0o644 },
        { dest: "usr/bin/node", content: elfHeader(X86_64), mode: 0o755 },
      ],
    });
    expect(r.notOk).toEqual([]);
    expect(r.lines).toContain("ok   C6 node at /usr/bin/node (mode 0755)");
  });

  it("node through symlinks (relative file link, absolute directory link) is found; a dangling one is named", async () => {
    let r = await verifyCrafted({
      node: [
        { dest: "usr/local/bin/node", symlink: "../lib/nodejs/bin/node" },
        { dest: "usr/local/lib", symlink: "/opt/lib" },
        { dest: "opt/lib/nodejs/bin/node", content: elfHeader(X86_64), mode: 0o755 },
      ],
    });
    expect(r.notOk).toEqual([]);
    expect(r.lines).toContain("ok   C6 node at /usr/local/bin/node -> /opt/lib/nodejs/bin/node (mode 0755)");

    r = await verifyCrafted({ node: [{ dest: "usr/local/bin/node", symlink: "/nowhere/node" }] });
    expect(r.notOk[0]).toBe(
      "MISS C6 no executable node on PATH: /usr/local/bin/node: /nowhere does not exist (via /usr/local/bin/node -> /nowhere/node)",
    );
  });

  it("whiteouts: node deleted by a later layer (plain and opaque), re-added by the same layer that deleted it", async () => {
    let r = await verifyCrafted({ raw: [[{ name: "usr/local/bin/.wh.node" }]] });
    expect(r.notOk[0]).toMatch(/^MISS C6 node not found on PATH/);

    r = await verifyCrafted({ raw: [[{ name: "usr/local/bin/.wh..wh..opq" }]] });
    expect(r.notOk[0]).toMatch(/^MISS C6 node not found on PATH/);

    // Whiteouts apply to the layers below only: this layer's own node (a hard link, "./" paths) stays.
    r = await verifyCrafted({
      raw: [
        [
          { name: "./opt/", type: "5" },
          { name: "./opt/node-real", data: elfHeader(X86_64), mode: 0o755 },
          { name: "./usr/local/bin/node", type: "1", linkname: "./opt/node-real" },
          { name: "./usr/local/bin/.wh..wh..opq" },
        ],
      ],
    });
    expect(r.notOk).toEqual([]);
    expect(r.lines).toContain("ok   C6 node at /usr/local/bin/node (mode 0755)");
  });

  it("an image the runner refuses to unpack is an error from verify-image too, with the same words (one judgement)", async () => {
    const hostile: [string, RawEntry[]][] = [
      ['entry "a/.wh...": whiteout of ".." is not allowed', [{ name: "a/.wh..." }]],
      ['entry "up": symlink to "../x" leads outside the root', [{ name: "up", type: "2", linkname: "../x" }]],
      [
        'entry "r/a/b/l": symlink to "../../../etc" leads outside the root',
        [
          { name: "r", type: "2", linkname: "/" },
          { name: "r/a/b/l", type: "2", linkname: "../../../etc" },
        ],
      ],
      [
        'entry "f/x": "f" on its path is not a directory',
        [
          { name: "f", data: "x" },
          { name: "f/x", data: "y" },
        ],
      ],
    ];
    for (const [words, entries] of hostile) {
      const { dir, image } = await makeImage({ raw: [entries] });
      const e = await pipelineErrorOf(verifyImageCommand({ reference: `oci:${dir}` }, captureIo()));
      expect(e.code).toBe("E_LAYER_UNSAFE");
      expect(e.message).toContain(`layer 4/4 (${image.layers[3].digest}): ${words}`);
      // The runner's unpack (src/container/image-cache.ts) refuses the same entry for the same reason.
      const u = await pipelineErrorOf(
        unpackLayers(image.layers, join(tmp, `unpack-${++counter}`), { devices: "skip" }),
      );
      expect(u.code).toBe("E_LAYER_UNSAFE");
      expect(u.message).toContain(`layer ${image.layers[3].digest}: ${words}`);
    }
  });

  it("a hard link through an in-image symlink is what the runner makes of it: node found, contract met", async () => {
    const { dir, image } = await makeImage({
      node: [],
      raw: [
        [
          { name: "opt/node-real", data: elfHeader(X86_64), mode: 0o755 },
          { name: "nodedir", type: "2", linkname: "/opt" },
          { name: "usr/local/bin/node", type: "1", linkname: "nodedir/node-real" },
        ],
      ],
    });
    const r = await verify({ reference: `oci:${dir}` });
    expect(r.notOk).toEqual([]);
    expect(r.lines).toContain("ok   C6 node at /usr/local/bin/node (mode 0755)");
    const root = join(tmp, `unpack-${++counter}`);
    await unpackLayers(image.layers, root, { devices: "skip" });
    expect(statSync(join(root, "usr/local/bin/node")).ino).toBe(statSync(join(root, "opt/node-real")).ino);
  });

  it("node built for another architecture", async () => {
    const r = await verifyCrafted({ node: [{ dest: "usr/local/bin/node", content: elfHeader(AARCH64), mode: 0o755 }] });
    expect(r.notOk).toEqual(["MISS C7 /usr/local/bin/node is a linux/arm64 executable but the image is linux/amd64"]);
  });

  it("entry script missing", async () => {
    const r = await verifyCrafted({ app: [APP[1]] });
    expect(r.notOk).toEqual(["MISS C4 entry script /app/main.js: /app/main.js does not exist"]);
    expect(r.exitCode).toBe(1);
  });

  it("HOME not writable by the image's user; HOME from Env that does not exist", async () => {
    let r = await verifyCrafted({
      system: [...SYSTEM.slice(0, 4), { dest: "home/node", dir: true, mode: 0o755 }],
      config: { user: "node" },
    });
    expect(r.notOk).toEqual([
      "MISS C9 HOME /home/node (/etc/passwd entry of node) is not writable by uid 1000 gid 1000 (mode 0755, owner 0:0)",
    ]);

    r = await verifyCrafted({ config: { user: "node", env: { PATH: PATH_ENV, HOME: "/data/home" } } });
    expect(r.notOk).toEqual(["MISS C9 HOME /data/home (HOME in the image's Env): /data does not exist"]);

    r = await verifyCrafted({ config: { user: "node" } });
    expect(r.notOk).toEqual([]);
    expect(r.lines).toContain("ok   C9 HOME /home/node (/etc/passwd entry of node) is writable by uid 1000");
  });

  it("wrong OS", async () => {
    const r = await verifyCrafted({ config: { os: "windows" } });
    expect(r.notOk).toEqual([
      "MISS C1 platform is windows/amd64: the runner and Kubernetes nodes run linux images",
      "MISS C7 /usr/local/bin/node is a linux/amd64 executable but the image is windows/amd64",
    ]);
  });

  it("entrypoint, Cmd, working directory and PATH not as the contract says", async () => {
    let r = await verifyCrafted({ config: { entrypoint: ["/bin/sh", "-c", "node /app/main.js"] } });
    expect(r.notOk).toEqual([
      'MISS C2 entrypoint is ["/bin/sh", "-c", "node /app/main.js"]: it must start with "node" (found on PATH)',
      "MISS C4 no entry script to look for (see C2)",
    ]);
    r = await verifyCrafted({ config: { cmd: ["--verbose"] } });
    expect(r.notOk).toEqual([
      'MISS C2 entrypoint is ["node", "/app/main.js"] but Cmd is ["--verbose"]: Cmd must be empty (it would be passed to the script as arguments)',
    ]);
    r = await verifyCrafted({ config: { workdir: "/srv" } });
    expect(r.notOk).toEqual(['MISS C3 working directory is "/srv", expected "/app"']);
    r = await verifyCrafted({ config: { env: {} } });
    expect(r.notOk).toEqual(["MISS C5 no PATH in the image's Env: runtimes differ in what they use instead"]);
  });

  it("an unknown user", async () => {
    const r = await verifyCrafted({ config: { user: "ghost" } });
    expect(r.notOk).toEqual([
      'MISS C8 User "ghost": no user "ghost" in /etc/passwd',
      "MISS C9 the image's user cannot be resolved (see C8)",
    ]);
  });

  it("a root user only warns (C12); a non-root user from /etc/passwd passes every check", async () => {
    const root = await verifyCrafted({ config: { user: "0:0" } });
    expect(root.lines.filter((l) => l.includes("C12"))).toEqual([
      'warn C12 user "0:0" is root (uid 0); set a non-root user (pipeline(user = "1000:1000") or a name in the image\'s /etc/passwd)',
    ]);
    expect(root.exitCode).toBe(0);
    const node = await verifyCrafted({ config: { user: "node" } });
    expect(node.lines.filter((l) => !l.startsWith("ok "))).toEqual([]);
    expect(node.lines).toContain("ok   C12 runs as uid 1000");
    expect(node.out[node.out.length - 1]).toBe("image contract: met");
  });

  it("recommended requirements only warn: no runtime library, no /tmp → exit 0", async () => {
    const r = await verifyCrafted({ system: SYSTEM.filter((f) => f.dest !== "tmp"), app: [APP[0]] });
    expect(r.notOk).toEqual([
      "warn C10 no /app/node_modules/@rules_pipeline/runtime: launch scripts that import @rules_pipeline/runtime will fail",
      "warn C11 no /tmp directory: os.tmpdir() and many packages expect one",
    ]);
    expect(r.exitCode).toBe(0);
    expect(r.out[r.out.length - 1]).toBe("image contract: met (3 warnings)");
  });

  it("--json: the same results as data", async () => {
    const { dir, image } = await makeImage({ node: [] });
    const io = captureIo();
    const r = await verifyImageCommand({ reference: `oci:${dir}:latest`, json: true }, io);
    expect(r.exitCode).toBe(1);
    const doc = JSON.parse(io.out.join("\n"));
    expect(doc).toMatchObject({
      reference: `oci:${dir}:latest`,
      digest: image.digest,
      platform: "linux/amd64",
      ok: false,
    });
    expect(doc.results.find((x: { id: string }) => x.id === "C6")).toMatchObject({
      severity: "required",
      status: "miss",
    });
    expect(doc.results).toHaveLength(12);
  });

  it("a layer whose bytes do not match its digest is an error, not a verdict", async () => {
    const { image, dir } = await makeImage({});
    const p = blobPath(dir, image.layers[2].digest);
    const bytes = readFileSync(p);
    bytes[bytes.length - 5] ^= 0xff; // inside the gzip trailer (CRC/size): same length
    rmSync(p);
    writeFileSync(p, bytes);
    const e = await pipelineErrorOf(verifyImageCommand({ reference: `oci:${dir}` }, captureIo()));
    expect(e.message).toContain(`layer 3/3 (${image.layers[2].digest})`);
  });
});

describe("verify-image through a registry with Basic auth", () => {
  let reg: RunningRegistry;
  let dockerConfig: string;
  beforeAll(async () => {
    reg = await startRegistry({ htpasswd: { user: "verifier", password: "s3cret-verify" } });
    dockerConfig = writeDockerConfig(mkdtempSync(join(tmp, "docker-")), {
      [reg.host]: { username: "verifier", password: "s3cret-verify" },
    });
    const keychainEnv = { ...process.env, DOCKER_CONFIG: dockerConfig };
    const keychain = dockerConfigKeychain({ env: keychainEnv });
    await pushImage(
      (await makeImage({})).image,
      { registry: reg.host, repository: "verify/good", tags: ["v1"] },
      { keychain },
    );
    await pushImage(
      (await makeImage({ app: [APP[1]] })).image,
      { registry: reg.host, repository: "verify/bad", tags: ["v1"] },
      { keychain },
    );
  });
  afterAll(async () => {
    await reg?.stop();
  });

  it("credentials from DOCKER_CONFIG: the good image passes, the bad one misses C4", async () => {
    const env = { ...process.env, DOCKER_CONFIG: dockerConfig, HOME: join(tmp, "nohome") };
    let r = await verify({ reference: `${reg.host}/verify/good:v1` }, env);
    expect(r.notOk).toEqual([]);
    expect(r.exitCode).toBe(0);
    r = await verify({ reference: `${reg.host}/verify/bad:v1` }, env);
    expect(r.notOk).toEqual(["MISS C4 entry script /app/main.js: /app/main.js does not exist"]);
    expect(r.exitCode).toBe(1);
  });

  it("without credentials: an authentication error naming the registry, no verdict", async () => {
    const env = { ...process.env, DOCKER_CONFIG: join(tmp, "empty-docker"), HOME: join(tmp, "nohome") };
    const e = await pipelineErrorOf(verifyImageCommand({ reference: `${reg.host}/verify/good:v1` }, captureIo(env)));
    expect(e.message).toContain(reg.host);
    expect(e.message).not.toContain("s3cret-verify");
  });
});
