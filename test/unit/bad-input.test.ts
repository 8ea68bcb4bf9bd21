/**
 * The bad-input corpus, in process: every case runs the CLI (`runCli` with an in-memory CliIo) on one bad input
 * and asserts the documented exit code (1 = error with a stable code, 2 = usage), the `error[E_CODE]` line, text
 * naming the flag/field/file AND the value received (never a secret: every output is searched for the secrets
 * and their base64 forms), and no stack trace or "internal error". Registries are small in-process fake HTTP
 * servers; credential helpers are tiny shell scripts on a private PATH. Nothing here needs Bazel or the network.
 *
 * Cases (89, plus 33 hostile layers unpacked from a layout):
 *  CLI flags and references (18)
 *    1 unknown flag  2 missing required --output  3 missing positional source  4 --platform with no architecture
 *    5 --repository with a tag  6 --repository with a digest  7 --repository uppercase  8 --repository with a scheme
 *    9 --repository without a host  10 reference with a malformed digest  11 reference with a bad tag
 *    12 reference with whitespace  13 push --tag invalid  14 --password in argv (value not echoed)
 *    15 --password-stdin without --username  16 registry serve --user with ":"  17 registry serve
 *    --password-file missing  18 registry serve --port not a number
 *  Internal commands run by the rules (5)
 *    19 layer: file list line without a tab  20 layer: source file missing  21 image: config not JSON
 *    22 image: --layer without ":"  23 image: SOURCE_DATE_EPOCH not a number
 *  docker config.json (8)
 *    24 not JSON (the secret near the error is not quoted)  25 auths an array  26 auth not base64
 *    27 auth without a colon  28 credHelpers a string  29 credHelpers value a number  30 credsStore a number
 *    31 auths entry a string
 *  Credential helpers (8)
 *    32 not JSON  33 no Secret (no credential: 401 names the source)  34 Secret without Username
 *    35 more than 1 MiB on stdout  36 Secret not a string  37 helper name with a "/"  38 helper not on PATH
 *    39 helper fails (stderr shown, stdout not)
 *  rules_pipeline credentials.json (3; config.test.ts and secret.test.ts hold the field-by-field cases)
 *    40 the credentials file is a directory  41 a file source that is a directory
 *    42 a file source with three lines (no line echoed)
 *  Hostile registry responses (20)
 *    43 manifest by digest with other bytes  44 Docker-Content-Digest that lies  45 config blob with other bytes
 *    46 layer blob with other bytes (no layout left behind)  47 100 MB error body is not buffered
 *    48 100 MB manifest is cut at 4 MiB  49 manifest not JSON  50 manifest with a wrong media type
 *    51 manifest without layers  52 config not JSON  53 diff_ids count mismatch  54 index without the platform
 *    55 redirect to another host carries no Authorization  56 401 with an unsupported scheme
 *    57 401 Bearer challenge without a realm  58 401 with an invalid realm  59 token endpoint answers garbage
 *    60 token endpoint answers JSON without a token  61 redirect loop
 *    83 manifest whose layer digest is a path (`sha256:../..`)  85 config whose diff_id is no digest
 *    88 manifest whose layer size is a string
 *  Hostile layers through the CLI (tar-read via `base add-node`) (4)
 *    62 truncated tar  63 bad header checksum  64 corrupt gzip  65 unknown entry type
 *  Launch config and environment (9)
 *    66 PIPELINE_REPOSITORY with a tag  67 PIPELINE_REPOSITORY without a host  68 PIPELINE_REPOSITORY uppercase
 *    69 launch config not JSON  70 launch config without images  71 launch config with a bad registry
 *    72 PIPELINE_CONTAINER_IMAGE_URIS not JSON  73 PIPELINE_CONTAINER_IMAGE_URIS an array
 *    74 PIPELINE_CONTAINER_IMAGE_URIS entry not a reference
 *  OCI layouts (9, plus the hostile-layer corpus unpacked from a layout)
 *    75 no oci-layout file (push)  76 index.json not JSON  77 manifest blob missing  78 manifest blob corrupt
 *    79 manifest blob not JSON  80 diff_ids count mismatch  81 index.json is JSON null
 *    82 manifest without layers (push)  84 manifest whose layer digest is a path (`sha256:../..`)
 *    86 config whose diff_id is no digest  87 config whose Env is a string  89 index.json entry whose media type has CR/LF
 *  + every HOSTILE_LAYERS entry of test/corpus/raw-tar.ts (34) unpacked from an OCI layout by unpackLayers
 *    (src/layer/unpack.test.ts unpacks the same corpus plain and gzipped).
 */
import { chmodSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import type { ServerResponse } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runCli } from "../../src/cli/run-cli";
import type { CliIo } from "../../src/cli/io";
import { PipelineError } from "../../src/errors";
import { readLayout } from "../../src/layout/read";
import { unpackLayers } from "../../src/layer/unpack";
import { sha256 } from "../../src/oci/digest";
import { MediaType } from "../../src/oci/types";
import { HOSTILE_LAYERS, gz, rawTar } from "../corpus/raw-tar";
import { writeCredHelper } from "../fixtures/cred-helpers";
import { useFakeServers } from "../fixtures/fake-servers";
import type { FakeRequest, FakeServer } from "../fixtures/registry";

const SECRET = "Sup3r-S3cret-Value-9x";
const USER = "robot";
const LEAK_FORMS = [
  SECRET,
  Buffer.from(SECRET).toString("base64"),
  Buffer.from(`${USER}:${SECRET}`).toString("base64"),
];

let tmp: string;
let home: string;
let seq = 0;
beforeAll(() => {
  tmp = mkdtempSync(join(tmpdir(), "bad-input-"));
  home = join(tmp, "home");
  mkdirSync(home);
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const fake = useFakeServers();

/** A fresh directory under the test's temp dir. */
function dir(name = "d"): string {
  const d = join(tmp, `${name}-${++seq}`);
  mkdirSync(d, { recursive: true });
  return d;
}

interface Run {
  exit: number;
  out: string[];
  err: string[];
  text: string;
}

/** Runs the CLI with an environment holding nothing of the real user's (HOME is a fresh, empty directory). */
async function cli(argv: string[], opts: { env?: Record<string, string>; stdin?: string } = {}): Promise<Run> {
  const out: string[] = [];
  const err: string[] = [];
  const io: CliIo = {
    stdout: (l) => out.push(l),
    stderr: (l) => err.push(l),
    env: { PATH: process.env.PATH, HOME: home, ...opts.env },
    cwd: tmp,
    isTTY: false,
    readStdin: async () => opts.stdin ?? "",
  };
  const exit = await runCli(argv, io);
  return { exit, out, err, text: [...out, ...err].join("\n") };
}

interface Expected {
  exit: 1 | 2;
  /** The stable code (exit 1 only). */
  code?: string;
  /** Texts the output must contain: the flag/field/file and the value. */
  has: (string | RegExp)[];
}

function expectFailure(r: Run, want: Expected): void {
  const ctx = r.text;
  expect(r.exit, ctx).toBe(want.exit);
  if (want.code) expect(r.err[0] ?? "", ctx).toMatch(new RegExp(`^error\\[${want.code}\\]: `));
  if (want.exit === 2) expect(ctx).toMatch(/pipeline --help|--password|--username|--user|--port/);
  for (const h of want.has) {
    if (typeof h === "string") expect(ctx).toContain(h);
    else expect(ctx).toMatch(h);
  }
  expect(ctx).not.toMatch(/^\s+at /m);
  expect(ctx).not.toContain("internal error");
  for (const form of LEAK_FORMS) expect(ctx).not.toContain(form);
}

async function fails(
  argv: string[],
  want: Expected,
  opts: { env?: Record<string, string>; stdin?: string } = {},
): Promise<Run> {
  const r = await cli(argv, opts);
  expectFailure(r, want);
  return r;
}

// ---------------------------------------------------------------------------------------------------------------
// A small image served by a fake registry

interface FakeImage {
  manifest: Buffer;
  manifestType: string;
  digest: string;
  config: Buffer;
  layer: Buffer;
  blobs: Map<string, Buffer>;
}

function fakeImage(
  patch: { config?: object | Buffer; manifest?: (m: Record<string, unknown>) => unknown } = {},
): FakeImage {
  const tar = rawTar([{ name: "hello.txt", data: "hello\n" }]);
  const layer = gz(tar);
  const config = Buffer.isBuffer(patch.config)
    ? patch.config
    : Buffer.from(
        JSON.stringify(
          patch.config ?? { architecture: "amd64", os: "linux", rootfs: { type: "layers", diff_ids: [sha256(tar)] } },
        ),
      );
  let m: Record<string, unknown> = {
    schemaVersion: 2,
    mediaType: MediaType.OCI_MANIFEST,
    config: { mediaType: MediaType.OCI_CONFIG, digest: sha256(config), size: config.length },
    layers: [{ mediaType: MediaType.OCI_LAYER_GZIP, digest: sha256(layer), size: layer.length }],
  };
  if (patch.manifest) m = patch.manifest(m) as Record<string, unknown>;
  const manifest = Buffer.from(typeof m === "string" ? m : JSON.stringify(m));
  return {
    manifest,
    manifestType: MediaType.OCI_MANIFEST,
    digest: sha256(manifest),
    config,
    layer,
    blobs: new Map([
      [sha256(config), config],
      [sha256(layer), layer],
    ]),
  };
}

type Handler = (req: FakeRequest, res: ServerResponse, server: FakeServer) => void | Promise<void>;

/** A registry serving `img` under any repository; `override` answers first when it returns true. */
function registryFor(img: FakeImage, override?: (req: FakeRequest, res: ServerResponse, url: URL) => boolean): Handler {
  return (req, res) => {
    const url = new URL(req.url, "http://x");
    if (override?.(req, res, url)) return;
    if (url.pathname === "/v2/") {
      res.writeHead(200, { "content-type": "application/json" }).end("{}");
      return;
    }
    if (/^\/v2\/.+\/manifests\/.+$/.test(url.pathname)) {
      res.writeHead(200, { "content-type": img.manifestType, "content-length": img.manifest.length });
      res.end(req.method === "HEAD" ? undefined : img.manifest);
      return;
    }
    const blob = /^\/v2\/.+\/blobs\/(sha256:[a-f0-9]{64})$/.exec(url.pathname);
    const bytes = blob && img.blobs.get(blob[1]);
    if (bytes) {
      res.writeHead(200, { "content-type": "application/octet-stream", "content-length": bytes.length }).end(bytes);
      return;
    }
    res
      .writeHead(404, { "content-type": "application/json" })
      .end(JSON.stringify({ errors: [{ code: "BLOB_UNKNOWN", message: "blob unknown" }] }));
  };
}

/** A registry that answers every request with 401 and a Basic challenge (makes the client ask for credentials). */
const wantsBasic: Handler = (_req, res) => {
  res.writeHead(401, { "www-authenticate": 'Basic realm="fake"', "content-type": "application/json" });
  res.end(JSON.stringify({ errors: [{ code: "UNAUTHORIZED", message: "authentication required" }] }));
};

/** Streams `total` bytes (respecting backpressure) until the client goes away; `sent()` says how many left. */
function endless(
  res: ServerResponse,
  status: number,
  headers: Record<string, string | number>,
  total: number,
): () => number {
  let sent = 0;
  const chunk = Buffer.alloc(64 * 1024, 0x61);
  res.writeHead(status, { ...headers, "content-length": total });
  const write = (): void => {
    while (sent < total && !res.destroyed) {
      sent += chunk.length;
      if (!res.write(chunk)) {
        res.once("drain", write);
        return;
      }
    }
    if (!res.destroyed) res.end();
  };
  res.on("error", () => undefined);
  write();
  return () => sent;
}

// ---------------------------------------------------------------------------------------------------------------

describe("CLI flags and references", () => {
  it("1 an unknown flag is a usage error naming it", async () => {
    await fails(["pull", "localhost:5000/a/b:t", "--output", "/tmp/x", "--outptu", "y"], { exit: 2, has: ["outptu"] });
  });
  it("2 a missing required flag is a usage error naming it", async () => {
    await fails(["pull", "localhost:5000/a/b:t"], { exit: 2, has: ["output"] });
  });
  it("3 a missing positional argument is a usage error", async () => {
    // The message names the command and the argument; the usage line points at --help.
    await fails(["push", "--repository", "localhost:5000/a/b"], { exit: 2, has: ["push: missing argument <source>"] });
  });
  it("4 --platform without an architecture", async () => {
    await fails(["pull", "localhost:5000/a/b:t", "--output", dir(), "--platform", "linux/"], {
      exit: 1,
      code: "E_BAD_PLATFORM",
      has: ['--platform: expected os/arch[/variant] (e.g. linux/amd64, linux/arm64/v8), got "linux/"'],
    });
  });
  it("5 --repository with a tag", async () => {
    await fails(["push", dir(), "--repository", "localhost:5000/team/app:v1"], {
      exit: 1,
      code: "E_BAD_REFERENCE",
      has: ['--repository: should not contain a tag or digest, got "localhost:5000/team/app:v1"'],
    });
  });
  it("6 --repository with a digest", async () => {
    const ref = `localhost:5000/team/app@${sha256("x")}`;
    await fails(["push", dir(), "--repository", ref], {
      exit: 1,
      code: "E_BAD_REFERENCE",
      has: ["--repository", JSON.stringify(ref)],
    });
  });
  it("7 --repository with uppercase", async () => {
    await fails(["push", dir(), "--repository", "localhost:5000/Team/app"], {
      exit: 1,
      code: "E_BAD_REFERENCE",
      has: ["--repository", '"Team/app"', "lowercase"],
    });
  });
  it("8 --repository with a scheme", async () => {
    await fails(["push", dir(), "--repository", "https://ghcr.io/team/app"], {
      exit: 1,
      code: "E_BAD_REFERENCE",
      has: ['--repository: expected HOST/REPOSITORY[:TAG][@DIGEST] without a scheme, got "https://ghcr.io/team/app"'],
    });
  });
  it("9 --repository without a host", async () => {
    await fails(["push", dir(), "--repository", "app"], {
      exit: 1,
      code: "E_BAD_REFERENCE",
      has: ['--repository: expected HOST/REPOSITORY (e.g. localhost:5000/team/app), got "app"'],
    });
  });
  it("10 a reference with a malformed digest", async () => {
    await fails(["pull", "localhost:5000/a/b@sha256:xyz", "--output", dir()], {
      exit: 1,
      code: "E_BAD_REFERENCE",
      has: ['reference: digest must be "sha256:<64 hex>", got "sha256:xyz"'],
    });
  });
  it("11 a reference with a bad tag", async () => {
    await fails(["inspect", "localhost:5000/a/b:-v1"], {
      exit: 1,
      code: "E_BAD_REFERENCE",
      has: ['reference: tag: expected [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}, got "-v1"'],
    });
  });
  it("12 a reference with whitespace", async () => {
    await fails(["pull", "localhost:5000/a b:t", "--output", dir()], {
      exit: 1,
      code: "E_BAD_REFERENCE",
      has: ['reference: invalid image reference "localhost:5000/a b:t"'],
    });
  });
  it("13 push --tag that is not a tag", async () => {
    await fails(["push", dir(), "--repository", "localhost:5000/a/b", "--tag", "v1/beta"], {
      exit: 1,
      code: "E_BAD_REFERENCE",
      has: ['--tag: expected [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}, got "v1/beta"'],
    });
  });
  it("14 --password in argv is refused without echoing it", async () => {
    await fails(["push", dir(), "--repository", "localhost:5000/a/b", "--username", USER, "--password", SECRET], {
      exit: 2,
      code: "E_USAGE",
      has: ["--password is not accepted", "--password-stdin"],
    });
  });
  it("15 --password-stdin without --username", async () => {
    await fails(
      ["pull", "localhost:5000/a/b:t", "--output", dir(), "--password-stdin"],
      { exit: 2, code: "E_USAGE", has: ["--username and --password-stdin go together"] },
      { stdin: SECRET },
    );
  });
  it("16 registry serve --user with a colon", async () => {
    await fails(
      ["registry", "serve", "--root", dir(), "--port", "0", "--user", "a:b", "--password-file", "/nonexistent"],
      {
        exit: 2,
        code: "E_USAGE",
        has: ['--user "a:b": expected a non-empty name without ":"'],
      },
    );
  });
  it("17 registry serve --password-file that does not exist", async () => {
    const missing = join(tmp, "no-such-password-file");
    await fails(["registry", "serve", "--root", dir(), "--port", "0", "--user", "u", "--password-file", missing], {
      exit: 1,
      code: "E_PASSWORD_FILE",
      has: [`--password-file ${JSON.stringify(missing)}: cannot read it (ENOENT)`],
    });
  });
  it("18 registry serve --port that is not a number", async () => {
    await fails(["registry", "serve", "--root", dir(), "--port", "http"], {
      exit: 2,
      code: "E_USAGE",
      has: ['--port: expected a port number 0-65535, got "http"'],
    });
  });
});

describe("internal commands run by the rules", () => {
  it("19 layer: a file list line without a tab", async () => {
    const d = dir();
    const list = join(d, "files.txt");
    writeFileSync(list, "app/main.js /src/main.js\n");
    await fails(["layer", "--out", join(d, "l.tgz"), "--descriptor", join(d, "l.json"), "--files", list], {
      exit: 1,
      code: "E_BAD_INPUT",
      has: [
        `${list}:1: expected "dest<TAB>src", "dest<TAB>src<TAB>mode<TAB>0644", "dest<TAB>symlink<TAB>target" or "dest<TAB>src<TAB>link", got "app/main.js /src/main.js"`,
      ],
    });
  });
  it("19b layer: a symlink line whose kind is not `symlink`", async () => {
    const d = dir();
    const list = join(d, "files.txt");
    writeFileSync(list, "app/node_modules/.bin/x\thardlink\t../x/cli.js\n");
    await fails(["layer", "--out", join(d, "l.tgz"), "--descriptor", join(d, "l.json"), "--files", list], {
      exit: 1,
      code: "E_BAD_INPUT",
      has: [
        `${list}:1: expected "dest<TAB>src", "dest<TAB>src<TAB>mode<TAB>0644", "dest<TAB>symlink<TAB>target" or "dest<TAB>src<TAB>link", got "app/node_modules/.bin/x\\thardlink\\t../x/cli.js"`,
      ],
    });
  });
  it("19c layer: a mode line whose mode is not three octal digits after a 0", async () => {
    const d = dir();
    const list = join(d, "files.txt");
    writeFileSync(list, "app/main.js\t/src/main.js\tmode\t755\n");
    await fails(["layer", "--out", join(d, "l.tgz"), "--descriptor", join(d, "l.json"), "--files", list], {
      exit: 1,
      code: "E_BAD_INPUT",
      has: [
        `${list}:1: expected "dest<TAB>src", "dest<TAB>src<TAB>mode<TAB>0644", "dest<TAB>symlink<TAB>target" or "dest<TAB>src<TAB>link", got "app/main.js\\t/src/main.js\\tmode\\t755"`,
      ],
    });
  });
  it("20 layer: a source file that does not exist", async () => {
    const d = dir();
    const list = join(d, "files.txt");
    const missing = join(d, "missing.js");
    writeFileSync(list, `app/main.js\t${missing}\n`);
    await fails(["layer", "--out", join(d, "l.tgz"), "--descriptor", join(d, "l.json"), "--files", list], {
      exit: 1,
      code: "E_LAYER_INPUT",
      has: [`layer input "app/main.js": source ${missing} does not exist`],
    });
  });
  it("21 image: a config that is not JSON", async () => {
    const d = dir();
    writeFileSync(join(d, "config.json"), "{ not json");
    await fails(
      ["image", "--config", join(d, "config.json"), "--out-layout", join(d, "out"), "--out-digest", join(d, "digest")],
      {
        exit: 1,
        code: "E_BAD_INPUT",
        has: [`--config ${join(d, "config.json")}: not valid JSON`],
      },
    );
  });
  it("22 image: --layer without a descriptor", async () => {
    const d = dir();
    writeFileSync(
      join(d, "config.json"),
      JSON.stringify({
        entrypoint: [],
        cmd: [],
        env: {},
        workdir: "/",
        labels: {},
        user: "",
        exposedPorts: [],
        annotations: {},
        os: "linux",
        architecture: "amd64",
      }),
    );
    await fails(
      [
        "image",
        "--config",
        join(d, "config.json"),
        "--layer",
        join(d, "app.tgz"),
        "--out-layout",
        join(d, "out"),
        "--out-digest",
        join(d, "digest"),
      ],
      {
        exit: 1,
        code: "E_BAD_INPUT",
        has: [`--layer: expected LAYER.tar.gz:DESCRIPTOR.json, got ${JSON.stringify(join(d, "app.tgz"))}`],
      },
    );
  });
  it("23 image: SOURCE_DATE_EPOCH that is not a number", async () => {
    const d = dir();
    writeFileSync(
      join(d, "config.json"),
      JSON.stringify({
        entrypoint: [],
        cmd: [],
        env: {},
        workdir: "/",
        labels: {},
        user: "",
        exposedPorts: [],
        annotations: {},
        os: "linux",
        architecture: "amd64",
      }),
    );
    await fails(
      ["image", "--config", join(d, "config.json"), "--out-layout", join(d, "out"), "--out-digest", join(d, "digest")],
      { exit: 1, code: "E_BAD_INPUT", has: ['SOURCE_DATE_EPOCH must be a non-negative integer, got "yesterday"'] },
      { env: { SOURCE_DATE_EPOCH: "yesterday" } },
    );
  });
});

/** Pulls from a registry that wants credentials, with DOCKER_CONFIG holding `config` (text or JSON). */
async function pullWithDockerConfig(config: string | object, env: Record<string, string> = {}): Promise<Run> {
  const reg = await fake(wantsBasic);
  const d = dir("docker");
  writeFileSync(join(d, "config.json"), typeof config === "string" ? config : JSON.stringify(config), { mode: 0o600 });
  return cli(["pull", `${reg.host}/team/app:v1`, "--output", join(d, "out")], { env: { DOCKER_CONFIG: d, ...env } });
}

describe("docker config.json", () => {
  it("24 not JSON: names the file and a position, never the text around it", async () => {
    const r = await pullWithDockerConfig(`{"auths": {"x": {"auth": "${SECRET}" oops}}}`);
    expectFailure(r, {
      exit: 1,
      code: "E_DOCKER_CONFIG",
      has: [/docker config .*config\.json is not valid JSON \(at position \d+\); fix or remove it/],
    });
  });
  it("25 auths is an array", async () => {
    const r = await pullWithDockerConfig({ auths: [SECRET] });
    expectFailure(r, { exit: 1, code: "E_DOCKER_CONFIG", has: ['"auths" must be an object', "config.json"] });
  });
  it("26 auth is not base64 (the value is a secret: not shown)", async () => {
    const reg = await fake(wantsBasic);
    const d = dir("docker");
    writeFileSync(join(d, "config.json"), JSON.stringify({ auths: { [reg.host]: { auth: `!!${SECRET}!!` } } }), {
      mode: 0o600,
    });
    const r = await cli(["pull", `${reg.host}/team/app:v1`, "--output", join(d, "out")], { env: { DOCKER_CONFIG: d } });
    expectFailure(r, {
      exit: 1,
      code: "E_DOCKER_CONFIG",
      has: [`auths["${reg.host}"]: "auth" must be base64 of "username:password"`],
    });
  });
  it("27 auth without a colon (not shown either)", async () => {
    const reg = await fake(wantsBasic);
    const d = dir("docker");
    writeFileSync(
      join(d, "config.json"),
      JSON.stringify({ auths: { [reg.host]: { auth: Buffer.from(SECRET).toString("base64") } } }),
      {
        mode: 0o600,
      },
    );
    const r = await cli(["pull", `${reg.host}/team/app:v1`, "--output", join(d, "out")], { env: { DOCKER_CONFIG: d } });
    expectFailure(r, {
      exit: 1,
      code: "E_DOCKER_CONFIG",
      has: [`auths["${reg.host}"]: "auth" must be base64 of "username:password"`],
    });
  });
  it("28 credHelpers is a string", async () => {
    const r = await pullWithDockerConfig({ credHelpers: "gcloud" });
    expectFailure(r, { exit: 1, code: "E_DOCKER_CONFIG", has: ['"credHelpers" must be an object', "config.json"] });
  });
  it("29 a credHelpers value is a number", async () => {
    const r = await pullWithDockerConfig({ credHelpers: { "ghcr.io": 7 } });
    expectFailure(r, {
      exit: 1,
      code: "E_DOCKER_CONFIG",
      has: ['credHelpers["ghcr.io"] must be a helper name such as "gcloud"'],
    });
  });
  it("30 credsStore is a number", async () => {
    const r = await pullWithDockerConfig({ credsStore: 1 });
    expectFailure(r, {
      exit: 1,
      code: "E_DOCKER_CONFIG",
      has: ['"credsStore" must be a helper name such as "desktop"'],
    });
  });
  it("31 an auths entry is a string", async () => {
    const reg = await fake(wantsBasic);
    const d = dir("docker");
    writeFileSync(join(d, "config.json"), JSON.stringify({ auths: { [reg.host]: SECRET } }), { mode: 0o600 });
    const r = await cli(["pull", `${reg.host}/team/app:v1`, "--output", join(d, "out")], { env: { DOCKER_CONFIG: d } });
    expectFailure(r, { exit: 1, code: "E_DOCKER_CONFIG", has: [`auths["${reg.host}"]: expected an object`] });
  });
});

/** Pulls from a registry that wants credentials, its credHelpers entry naming `name` (found in `bin`). */
async function pullWithHelper(name: string, bin: string): Promise<Run> {
  const reg = await fake(wantsBasic);
  const d = dir("docker");
  writeFileSync(join(d, "config.json"), JSON.stringify({ credHelpers: { [reg.host]: name } }), { mode: 0o600 });
  return cli(["pull", `${reg.host}/team/app:v1`, "--output", join(d, "out")], {
    env: { DOCKER_CONFIG: d, PATH: `${bin}:${process.env.PATH}` },
  });
}

describe("credential helpers", () => {
  it("32 answers something that is not JSON (holding the secret: not shown)", async () => {
    const bin = dir("bin");
    writeCredHelper(bin, "garbage", { raw: `Username=${USER} Secret=${SECRET}` });
    expectFailure(await pullWithHelper("garbage", bin), {
      exit: 1,
      code: "E_CRED_HELPER",
      has: ["docker-credential-garbage", "answered malformed JSON", "not shown"],
    });
  });
  it("33 answers no Secret: no credential, and the 401 says where it looked", async () => {
    const bin = dir("bin");
    writeCredHelper(bin, "empty", { raw: JSON.stringify({ Username: USER }) });
    const r = await pullWithHelper("empty", bin);
    expectFailure(r, {
      exit: 1,
      code: "E_UNAUTHORIZED",
      has: ["401 Unauthorized", "credentials: no credentials found; looked in"],
    });
  });
  it("34 answers a Secret without a Username", async () => {
    const bin = dir("bin");
    writeCredHelper(bin, "nouser", { raw: JSON.stringify({ Secret: SECRET }) });
    expectFailure(await pullWithHelper("nouser", bin), {
      exit: 1,
      code: "E_CRED_HELPER",
      has: ["docker-credential-nouser", "answered a Secret without a Username"],
    });
  });
  it("35 writes more than 1 MiB", async () => {
    const bin = dir("bin");
    const path = join(bin, "docker-credential-huge");
    writeFileSync(path, `#!/bin/sh\ncat >/dev/null\nhead -c 3000000 /dev/zero | tr '\\0' 'a'\necho '${SECRET}'\n`);
    chmodSync(path, 0o755);
    expectFailure(await pullWithHelper("huge", bin), {
      exit: 1,
      code: "E_CRED_HELPER",
      has: ["docker-credential-huge", "wrote more than 1048576 bytes on stdout (not shown)"],
    });
  });
  it("36 answers a Secret that is not a string", async () => {
    const bin = dir("bin");
    writeCredHelper(bin, "numeric", { raw: JSON.stringify({ Username: USER, Secret: 12345 }) });
    expectFailure(await pullWithHelper("numeric", bin), {
      exit: 1,
      code: "E_CRED_HELPER",
      has: ["Username and Secret must be strings"],
    });
  });
  it("37 a helper name with a slash", async () => {
    const r = await pullWithHelper("../../bin/sh", dir("bin"));
    expectFailure(r, {
      exit: 1,
      code: "E_CRED_HELPER",
      has: ['invalid credential helper name "../../bin/sh"', "credHelpers["],
    });
  });
  it("38 a helper that is not on PATH", async () => {
    const bin = dir("bin");
    expectFailure(await pullWithHelper("nowhere", bin), {
      exit: 1,
      code: "E_CRED_HELPER",
      has: ["docker-credential-nowhere", "not found on PATH", bin],
    });
  });
  it("39 a helper that fails: its stderr is shown, its stdout is not", async () => {
    const bin = dir("bin");
    writeCredHelper(bin, "broken", { fail: { stderr: "keyring is locked", stdout: SECRET, code: 3 } });
    expectFailure(await pullWithHelper("broken", bin), {
      exit: 1,
      code: "E_CRED_HELPER",
      has: ["failed (exit 3): keyring is locked", "is not shown"],
    });
  });
});

describe("rules_pipeline credentials.json", () => {
  it("40 the credentials file is a directory", async () => {
    const d = dir("creds");
    await fails(
      ["credentials", "list"],
      { exit: 1, code: "E_CREDENTIALS_CONFIG", has: [`credentials file: ${d}: a directory, not a regular file`] },
      { env: { PIPELINE_CREDENTIALS_FILE: d } },
    );
  });
  it("41 a file source that is a directory", async () => {
    const reg = await fake(wantsBasic);
    const d = dir("creds");
    const file = join(d, "credentials.json");
    writeFileSync(
      file,
      JSON.stringify({
        version: 1,
        credentials: [{ service: "docker", url: reg.host, source: { type: "file", path: d } }],
      }),
    );
    await fails(
      ["pull", `${reg.host}/team/app:v1`, "--output", join(d, "out")],
      { exit: 1, code: "E_CREDENTIAL_SOURCE", has: [`"docker ${reg.host}" from file ${d}: not a regular file`] },
      { env: { PIPELINE_CREDENTIALS_FILE: file } },
    );
  });
  it("42 a file source with three lines: the count, never a line", async () => {
    const reg = await fake(wantsBasic);
    const d = dir("creds");
    const secretFile = join(d, "secret");
    writeFileSync(secretFile, `${USER}\n${SECRET}\nextra\n`, { mode: 0o600 });
    const file = join(d, "credentials.json");
    writeFileSync(
      file,
      JSON.stringify({
        version: 1,
        credentials: [{ service: "docker", url: reg.host, source: { type: "file", path: secretFile } }],
      }),
    );
    const r = await fails(
      ["pull", `${reg.host}/team/app:v1`, "--output", join(d, "out")],
      {
        exit: 1,
        code: "E_CREDENTIAL_SOURCE",
        has: [`from file ${secretFile}: expected the user name on line 1 and the password on line 2; found 3 line(s)`],
      },
      { env: { PIPELINE_CREDENTIALS_FILE: file } },
    );
    expect(r.text).not.toContain("extra");
  });
});

describe("hostile registry responses", () => {
  const pull = async (reg: FakeServer, ref = "team/app:v1", extra: string[] = []) => {
    const d = dir("pull");
    const r = await cli(["pull", `${reg.host}/${ref}`, "--output", join(d, "out"), ...extra]);
    return { r, out: join(d, "out") };
  };

  it("43 a manifest fetched by digest whose bytes have another digest", async () => {
    const img = fakeImage();
    const claimed = sha256("something else");
    const reg = await fake(registryFor(img));
    const { r } = await pull(reg, `team/app@${claimed}`);
    expectFailure(r, {
      exit: 1,
      code: "E_DIGEST_MISMATCH",
      has: [`manifest from ${reg.host}/team/app has digest ${img.digest}, expected ${claimed}`],
    });
  });
  it("44 a Docker-Content-Digest header that lies", async () => {
    const img = fakeImage();
    const lie = sha256("lie");
    const reg = await fake(
      registryFor(img, (_req, res, url) => {
        if (!url.pathname.includes("/manifests/")) return false;
        res.writeHead(200, { "content-type": img.manifestType, "docker-content-digest": lie }).end(img.manifest);
        return true;
      }),
    );
    expectFailure((await pull(reg)).r, {
      exit: 1,
      code: "E_DIGEST_MISMATCH",
      has: [`has digest ${img.digest}, expected ${lie}`],
    });
  });
  it("45 a config blob whose bytes do not match its digest", async () => {
    const img = fakeImage();
    const configDigest = sha256(img.config);
    // The declared size, other bytes: the digest is what differs (a size that differs is named first, as declared vs received).
    const forged = Buffer.from(img.config);
    forged[forged.length - 2] ^= 1;
    img.blobs.set(configDigest, forged);
    const reg = await fake(registryFor(img));
    expectFailure((await pull(reg)).r, {
      exit: 1,
      code: "E_DIGEST_MISMATCH",
      has: [`get blob ${configDigest}`, `expected ${configDigest}`],
    });
  });
  it("45b a config blob longer than its descriptor declares: cut there, naming the declared size", async () => {
    const img = fakeImage();
    const configDigest = sha256(img.config);
    img.blobs.set(configDigest, Buffer.concat([img.config, Buffer.alloc(4096, " ")]));
    const reg = await fake(registryFor(img));
    expectFailure((await pull(reg)).r, {
      exit: 1,
      code: "E_DIGEST_MISMATCH",
      has: [
        `get blob ${configDigest}`,
        `the descriptor declares ${img.config.length} bytes and the registry sent more`,
      ],
    });
  });
  it("46 a layer blob whose bytes do not match: nothing is left at --output", async () => {
    const img = fakeImage();
    const layerDigest = sha256(img.layer);
    img.blobs.set(layerDigest, gz(rawTar([{ name: "evil.txt", data: "evil" }])));
    const reg = await fake(registryFor(img));
    const { r, out } = await pull(reg);
    expectFailure(r, {
      exit: 1,
      code: "E_DIGEST_MISMATCH",
      has: [`get blob ${layerDigest}`, `expected ${layerDigest}`],
    });
    expect(existsSync(out)).toBe(false);
  });
  it("47 a 100 MB error body is not buffered (at most 64 KiB is read)", async () => {
    let sent = (): number => 0;
    const reg = await fake((_req, res) => {
      sent = endless(res, 400, { "content-type": "text/plain" }, 100 * 1024 * 1024);
    });
    const started = Date.now();
    const { r } = await pull(reg);
    expectFailure(r, { exit: 1, code: "E_REGISTRY", has: [`registry ${reg.host} answered HTTP 400`] });
    expect(sent()).toBeLessThan(20 * 1024 * 1024);
    expect(Date.now() - started).toBeLessThan(10_000);
  });
  it("48 a 100 MB manifest is cut off at 4 MiB", async () => {
    let sent = (): number => 0;
    const reg = await fake((req, res) => {
      if (req.url === "/v2/") return void res.writeHead(200).end("{}");
      sent = endless(res, 200, { "content-type": MediaType.OCI_MANIFEST }, 100 * 1024 * 1024);
    });
    const { r } = await pull(reg);
    expectFailure(r, {
      exit: 1,
      code: "E_REGISTRY",
      has: [/response from http:\/\/127\.0\.0\.1:\d+\/v2\/team\/app\/manifests\/v1 is larger than 4194304 bytes/],
    });
    expect(sent()).toBeLessThan(20 * 1024 * 1024);
  });
  it("49 a manifest that is not JSON", async () => {
    const img = fakeImage({ manifest: () => "{ this is not json" });
    const reg = await fake(registryFor(img));
    expectFailure((await pull(reg)).r, {
      exit: 1,
      code: "E_REGISTRY",
      has: [`manifest of ${reg.host}/team/app:v1 is not valid JSON`],
    });
  });
  it("50 a manifest with a media type that is not an image's", async () => {
    const img = fakeImage({ manifest: (m) => ({ ...m, mediaType: "application/vnd.example.thing+json" }) });
    img.manifestType = "text/html";
    const reg = await fake(registryFor(img));
    expectFailure((await pull(reg)).r, {
      exit: 1,
      code: "E_REGISTRY",
      has: [`${reg.host}/team/app:v1: unsupported manifest media type "application/vnd.example.thing+json"`],
    });
  });
  it("51 a manifest without layers", async () => {
    const img = fakeImage({ manifest: (m) => ({ ...m, layers: undefined }) });
    const reg = await fake(registryFor(img));
    expectFailure((await pull(reg)).r, {
      exit: 1,
      code: "E_REGISTRY",
      has: [`manifest ${img.digest} is not an image manifest (no config or layers)`],
    });
  });
  it("52 a config that is not JSON", async () => {
    const img = fakeImage({ config: Buffer.from("<html>not a config</html>") });
    const reg = await fake(registryFor(img));
    expectFailure((await pull(reg)).r, {
      exit: 1,
      code: "E_REGISTRY",
      has: [`config of ${reg.host}/team/app:v1 is not valid JSON`],
    });
  });
  it("53 a config whose diff_ids do not match the layers", async () => {
    const img = fakeImage({ config: { architecture: "amd64", os: "linux", rootfs: { type: "layers", diff_ids: [] } } });
    const reg = await fake(registryFor(img));
    expectFailure((await pull(reg)).r, {
      exit: 1,
      code: "E_REGISTRY",
      has: ["config lists 0 diff_ids but the manifest has 1 layers"],
    });
  });
  it("85 a config whose diff_id is not a digest", async () => {
    const bad = "sha256:../../etc/passwd";
    const img = fakeImage({
      config: { architecture: "amd64", os: "linux", rootfs: { type: "layers", diff_ids: [bad] } },
    });
    const reg = await fake(registryFor(img));
    expectFailure((await pull(reg)).r, {
      exit: 1,
      code: "E_REGISTRY",
      has: [
        `config ${sha256(img.config)} of ${reg.host}/team/app:v1: rootfs.diff_ids[0]: expected a digest`,
        JSON.stringify(bad),
      ],
    });
  });
  it("54 an index without the platform asked for", async () => {
    const img = fakeImage();
    const index = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: MediaType.OCI_INDEX,
        manifests: [
          {
            mediaType: MediaType.OCI_MANIFEST,
            digest: img.digest,
            size: img.manifest.length,
            platform: { os: "linux", architecture: "arm64" },
          },
        ],
      }),
    );
    const reg = await fake(
      registryFor(img, (_req, res, url) => {
        if (!url.pathname.endsWith("/manifests/v1")) return false;
        res.writeHead(200, { "content-type": MediaType.OCI_INDEX }).end(index);
        return true;
      }),
    );
    expectFailure((await pull(reg, "team/app:v1", ["--platform", "linux/s390x"])).r, {
      exit: 1,
      code: "E_PLATFORM",
      has: [`no manifest for linux/s390x in index ${sha256(index)} (has: linux/arm64)`],
    });
  });
  it("55 a redirect to another host does not carry Authorization", async () => {
    const img = fakeImage();
    const layerDigest = sha256(img.layer);
    const storage = await fake((_req, res) => {
      res.writeHead(200, { "content-length": img.layer.length }).end(img.layer);
    }, "localhost");
    const basic = "Basic " + Buffer.from(`${USER}:${SECRET}`).toString("base64");
    const reg = await fake(
      registryFor(img, (req, res, url) => {
        if (req.headers.authorization !== basic) {
          res.writeHead(401, { "www-authenticate": 'Basic realm="fake"' }).end();
          return true;
        }
        if (url.pathname.endsWith(`/blobs/${layerDigest}`)) {
          res.writeHead(307, { location: `${storage.url}/bucket/${layerDigest.slice(7)}?X-Amz-Signature=abc` }).end();
          return true;
        }
        return false;
      }),
    );
    const d = dir("pull");
    const r = await cli(
      ["pull", `${reg.host}/team/app:v1`, "--output", join(d, "out"), "--username", USER, "--password-stdin"],
      { stdin: SECRET },
    );
    expect(r.exit, r.text).toBe(0);
    expect(storage.requests.length).toBe(1);
    expect(storage.requests[0].headers.authorization).toBeUndefined();
    for (const form of LEAK_FORMS) expect(r.text).not.toContain(form);
  });
  it("56 a 401 with an unsupported authentication scheme", async () => {
    const reg = await fake((_req, res) => void res.writeHead(401, { "www-authenticate": "Negotiate" }).end());
    expectFailure((await pull(reg)).r, {
      exit: 1,
      code: "E_UNAUTHORIZED",
      has: [`registry ${reg.host}`, "unsupported authentication scheme negotiate"],
    });
  });
  it("57 a 401 Bearer challenge without a realm", async () => {
    const reg = await fake(
      (_req, res) => void res.writeHead(401, { "www-authenticate": 'Bearer service="registry"' }).end(),
    );
    expectFailure((await pull(reg)).r, {
      exit: 1,
      code: "E_UNAUTHORIZED",
      has: [`registry ${reg.host}`, 'WWW-Authenticate: Bearer service="registry"'],
    });
  });
  it("58 a 401 whose Bearer realm is not a URL", async () => {
    const reg = await fake(
      (_req, res) => void res.writeHead(401, { "www-authenticate": 'Bearer realm="not a url",service="r"' }).end(),
    );
    expectFailure((await pull(reg)).r, {
      exit: 1,
      code: "E_REGISTRY",
      has: [`registry ${reg.host} sent an invalid token realm "not a url"`],
    });
  });
  it("59 a token endpoint answering garbage", async () => {
    const reg = await fake((req, res, self) => {
      if (req.url.startsWith("/token"))
        return void res.writeHead(200, { "content-type": "text/html" }).end("<html>login page</html>");
      res.writeHead(401, { "www-authenticate": `Bearer realm="${self.url}/token",service="fake"` }).end();
    });
    expectFailure((await pull(reg)).r, {
      exit: 1,
      code: "E_REGISTRY",
      has: [`(token from ${reg.host}): the token service answered something that is not JSON`],
    });
  });
  it("60 a token endpoint answering JSON without a token", async () => {
    const reg = await fake((req, res, self) => {
      if (req.url.startsWith("/token"))
        return void res.writeHead(200, { "content-type": "application/json" }).end('{"details":"none"}');
      res.writeHead(401, { "www-authenticate": `Bearer realm="${self.url}/token",service="fake"` }).end();
    });
    expectFailure((await pull(reg)).r, { exit: 1, code: "E_REGISTRY", has: ["the token service answered no token"] });
  });
  it("83 a manifest whose layer digest is a path: refused before any blob is asked for", async () => {
    // The dev registry refuses to store such a manifest (src/devregistry/manifest-check.ts): only a fake serves one.
    const bad = "sha256:../../../../etc/passwd";
    const img = fakeImage({
      manifest: (m) => ({ ...m, layers: [{ mediaType: MediaType.OCI_LAYER_GZIP, digest: bad, size: 1 }] }),
    });
    const reg = await fake(registryFor(img));
    expectFailure((await pull(reg)).r, {
      exit: 1,
      code: "E_BAD_DIGEST",
      has: [`manifest ${img.digest} of ${reg.host}/team/app:v1: layers[0].digest`, JSON.stringify(bad)],
    });
  });
  it("88 a manifest whose layer size is a string: refused before any blob is asked for (src/oci/descriptor.ts)", async () => {
    const img = fakeImage({
      manifest: (m) => ({
        ...m,
        layers: Array.isArray(m.layers) ? m.layers.map((l) => ({ ...l, size: String(l.size) })) : [],
      }),
    });
    const reg = await fake(registryFor(img));
    expectFailure((await pull(reg)).r, {
      exit: 1,
      code: "E_BAD_DESCRIPTOR",
      has: [`manifest ${img.digest} of ${reg.host}/team/app:v1: layers[0].size`, "a non-negative integer"],
    });
  });
  it("61 a redirect loop", async () => {
    const reg = await fake(
      (_req, res, self) => void res.writeHead(302, { location: `${self.url}/v2/loop?n=${Math.random()}` }).end(),
    );
    expectFailure((await pull(reg)).r, { exit: 1, code: "E_REGISTRY", has: ["more than 10 redirects", reg.host] });
  });
});

/** Writes an OCI layout by hand: the blobs as given, index.json pointing at `manifest` (or `index` text). */
function rawLayout(parts: { manifest: Buffer; blobs: Buffer[]; index?: string; ociLayout?: boolean }): string {
  const d = dir("layout");
  mkdirSync(join(d, "blobs", "sha256"), { recursive: true });
  if (parts.ociLayout !== false) writeFileSync(join(d, "oci-layout"), '{"imageLayoutVersion":"1.0.0"}');
  for (const b of [parts.manifest, ...parts.blobs]) writeFileSync(join(d, "blobs", "sha256", sha256(b).slice(7)), b);
  writeFileSync(
    join(d, "index.json"),
    parts.index ??
      JSON.stringify({
        schemaVersion: 2,
        manifests: [{ mediaType: MediaType.OCI_MANIFEST, digest: sha256(parts.manifest), size: parts.manifest.length }],
      }),
  );
  return d;
}

/** A layout whose only image has one layer: `tar`, gzipped here unless `compressed`. */
function layoutWithLayer(tar: Buffer, compressed = false): string {
  const layer = compressed ? tar : gz(tar);
  const config = Buffer.from(
    JSON.stringify({ architecture: "amd64", os: "linux", rootfs: { type: "layers", diff_ids: [sha256(tar)] } }),
  );
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MediaType.OCI_MANIFEST,
      config: { mediaType: MediaType.OCI_CONFIG, digest: sha256(config), size: config.length },
      layers: [{ mediaType: MediaType.OCI_LAYER_GZIP, digest: sha256(layer), size: layer.length }],
    }),
  );
  return rawLayout({ manifest, blobs: [config, layer] });
}

describe("hostile layers through the CLI (tar-read, via `base add-node`)", () => {
  const addNode = async (nodeLayerTar: Buffer | { raw: Buffer }) => {
    const base = layoutWithLayer(rawTar([{ name: "etc/", type: "5" }]));
    let node: string;
    if (Buffer.isBuffer(nodeLayerTar)) node = layoutWithLayer(nodeLayerTar);
    else {
      // A layer blob that is not a valid gzip stream, under its true digest.
      const config = Buffer.from(
        JSON.stringify({ architecture: "amd64", os: "linux", rootfs: { type: "layers", diff_ids: [sha256("x")] } }),
      );
      const manifest = Buffer.from(
        JSON.stringify({
          schemaVersion: 2,
          mediaType: MediaType.OCI_MANIFEST,
          config: { mediaType: MediaType.OCI_CONFIG, digest: sha256(config), size: config.length },
          layers: [
            { mediaType: MediaType.OCI_LAYER_GZIP, digest: sha256(nodeLayerTar.raw), size: nodeLayerTar.raw.length },
          ],
        }),
      );
      node = rawLayout({ manifest, blobs: [config, nodeLayerTar.raw] });
    }
    return cli(["base", "add-node", "--base", base, "--node", node, "--output", join(dir("out"), "image")]);
  };
  it("62 a truncated tar", async () => {
    const tar = rawTar([{ name: "usr/local/bin/node", data: Buffer.alloc(3000, 1) }]).subarray(0, 1500);
    expectFailure(await addNode(tar), { exit: 1, code: "E_TAR_READ", has: ['truncated inside "usr/local/bin/node"'] });
  });
  it("63 a header with a bad checksum", async () => {
    expectFailure(await addNode(rawTar([{ name: "usr/local/bin/node", data: "x", badChecksum: true }])), {
      exit: 1,
      code: "E_TAR_READ",
      has: ["at offset 0: header checksum does not match"],
    });
  });
  it("64 a layer that claims gzip but is not", async () => {
    const raw = Buffer.concat([Buffer.from([0x1f, 0x8b, 8, 0]), Buffer.alloc(100, 0xff)]);
    expectFailure(await addNode({ raw }), {
      exit: 1,
      code: "E_TAR_READ",
      has: [sha256(raw), "not a valid gzip stream"],
    });
  });
  it("65 an unknown entry type", async () => {
    expectFailure(await addNode(rawTar([{ name: "usr/local/bin/node", type: "Q" }])), {
      exit: 1,
      code: "E_TAR_READ",
      has: ['unsupported entry type "Q"'],
    });
  });
});

/** A launch config file (what the Bazel rules write) and runfiles dir. */
function launchConfig(cfg: unknown): { config: string; env: Record<string, string> } {
  const d = dir("launch");
  const config = join(d, "launch.json");
  writeFileSync(config, typeof cfg === "string" ? cfg : JSON.stringify(cfg));
  return { config, env: { PIPELINE_RUNFILES_DIR: d } };
}
const GOOD_CFG = {
  label: "//app:hello_push",
  mode: "push",
  workspace: "ws",
  registry: "localhost:5000",
  repository: "team/app",
  tags: [],
  insecure: false,
  images: [{ name: "default", layout: "ws/app/hello_image", digestFile: "ws/app/hello_image.digest" }],
  env: {},
  entry: "ws/app/main.js",
};

describe("launch config and environment", () => {
  it("66 PIPELINE_REPOSITORY with a tag", async () => {
    const l = launchConfig(GOOD_CFG);
    await fails(
      ["bazel-push", "--config", l.config],
      {
        exit: 1,
        code: "E_BAD_REFERENCE",
        has: ['PIPELINE_REPOSITORY: should not contain a tag or digest, got "localhost:5000/team/app:v2"'],
      },
      { env: { ...l.env, PIPELINE_REPOSITORY: "localhost:5000/team/app:v2" } },
    );
  });
  it("67 PIPELINE_REPOSITORY without a host", async () => {
    const l = launchConfig(GOOD_CFG);
    await fails(
      ["bazel-push", "--config", l.config],
      {
        exit: 1,
        code: "E_BAD_REFERENCE",
        has: ['PIPELINE_REPOSITORY: expected HOST/REPOSITORY (e.g. localhost:5000/team/app), got "teamapp"'],
      },
      { env: { ...l.env, PIPELINE_REPOSITORY: "teamapp" } },
    );
  });
  it("68 PIPELINE_REPOSITORY with uppercase", async () => {
    const l = launchConfig(GOOD_CFG);
    await fails(
      ["bazel-push", "--config", l.config],
      { exit: 1, code: "E_BAD_REFERENCE", has: ["PIPELINE_REPOSITORY: repository", '"Team/App"'] },
      { env: { ...l.env, PIPELINE_REPOSITORY: "localhost:5000/Team/App" } },
    );
  });
  it("69 a launch config that is not JSON", async () => {
    const l = launchConfig("{ nope");
    await fails(
      ["bazel-push", "--config", l.config],
      { exit: 1, code: "E_LAUNCH_CONFIG", has: [`cannot read launch config ${l.config}`] },
      { env: l.env },
    );
  });
  it("70 a launch config without images", async () => {
    const l = launchConfig({ ...GOOD_CFG, images: undefined });
    await fails(
      ["bazel-push", "--config", l.config],
      {
        exit: 1,
        code: "E_LAUNCH_CONFIG",
        has: [`launch config ${l.config} (malformed: rebuild the target): images: missing required field "images"`],
      },
      { env: l.env },
    );
  });
  it("71 a launch config with a bad registry", async () => {
    const l = launchConfig({ ...GOOD_CFG, registry: "https://localhost:5000" });
    await fails(
      ["bazel-push", "--config", l.config],
      {
        exit: 1,
        code: "E_BAD_REFERENCE",
        has: [
          '//app:hello_push: registry: expected a registry host like "localhost:5000" or "ghcr.io" (no scheme, no path), got "https://localhost:5000"',
        ],
      },
      { env: l.env },
    );
  });
  it("72 PIPELINE_CONTAINER_IMAGE_URIS that is not JSON", async () => {
    const l = launchConfig(GOOD_CFG);
    await fails(
      ["bazel-run", "--config", l.config],
      {
        exit: 1,
        code: "E_BAD_IMAGE_URIS",
        has: ['PIPELINE_CONTAINER_IMAGE_URIS: expected a JSON object, got "default=localhost:5000/a/b"'],
      },
      { env: { ...l.env, PIPELINE_CONTAINER_IMAGE_URIS: "default=localhost:5000/a/b" } },
    );
  });
  it("73 PIPELINE_CONTAINER_IMAGE_URIS that is a JSON array", async () => {
    const l = launchConfig(GOOD_CFG);
    await fails(
      ["bazel-run", "--config", l.config],
      {
        exit: 1,
        code: "E_BAD_IMAGE_URIS",
        has: [
          'PIPELINE_CONTAINER_IMAGE_URIS: expected a JSON object of image name to reference, got "[\\"localhost:5000/a/b\\"]"',
        ],
      },
      { env: { ...l.env, PIPELINE_CONTAINER_IMAGE_URIS: '["localhost:5000/a/b"]' } },
    );
  });
  it("74 PIPELINE_CONTAINER_IMAGE_URIS with an entry that is not a reference", async () => {
    const l = launchConfig(GOOD_CFG);
    await fails(
      ["bazel-run", "--config", l.config],
      { exit: 1, code: "E_BAD_REFERENCE", has: ['PIPELINE_CONTAINER_IMAGE_URIS["cuda"]', '"Not A Ref"'] },
      { env: { ...l.env, PIPELINE_CONTAINER_IMAGE_URIS: '{"cuda":"Not A Ref"}' } },
    );
  });
});

describe("OCI layouts", () => {
  const img = fakeImage();
  const good = () => ({ manifest: img.manifest, blobs: [img.config, img.layer] });

  it("75 push of a directory without oci-layout", async () => {
    const d = rawLayout({ ...good(), ociLayout: false });
    await fails(["push", d, "--repository", "127.0.0.1:1/a/b"], {
      exit: 1,
      code: "E_LAYOUT",
      has: [`${d} is not an OCI image layout (no oci-layout file)`],
    });
  });
  it("75b push of a path that does not exist, or is a file: says so, not 'no oci-layout file'", async () => {
    const d = join(rawLayout(good()), "no-such-dir");
    await fails(["push", d, "--repository", "127.0.0.1:1/a/b"], {
      exit: 1,
      code: "E_LAYOUT",
      has: [`${d} is not an OCI image layout (no such directory)`],
    });
    const f = join(rawLayout(good()), "oci-layout");
    await fails(["push", f, "--repository", "127.0.0.1:1/a/b"], {
      exit: 1,
      code: "E_LAYOUT",
      has: [`${f} is not an OCI image layout (not a directory)`],
    });
  });
  it("76 index.json that is not JSON", async () => {
    const d = rawLayout({ ...good(), index: "{ broken" });
    await fails(["inspect", `oci:${d}`], {
      exit: 1,
      code: "E_LAYOUT",
      has: [`${join(d, "index.json")} is not valid JSON`],
    });
  });
  it("77 a manifest blob that is missing", async () => {
    const d = rawLayout(good());
    rmSync(join(d, "blobs", "sha256", img.digest.slice(7)));
    await fails(["inspect", `oci:${d}`], {
      exit: 1,
      code: "E_LAYOUT",
      has: [`OCI layout ${d}: blob ${img.digest} is missing`],
    });
  });
  it("78 a manifest blob that is corrupt", async () => {
    const d = rawLayout(good());
    writeFileSync(join(d, "blobs", "sha256", img.digest.slice(7)), "corrupted");
    await fails(["inspect", `oci:${d}`], {
      exit: 1,
      code: "E_LAYOUT",
      has: [`OCI layout ${d}: blob ${img.digest} does not match its digest`],
    });
  });
  it("79 a manifest blob that is not JSON (under its true digest)", async () => {
    const manifest = Buffer.from("not json at all");
    const d = rawLayout({ manifest, blobs: [] });
    await fails(["inspect", `oci:${d}`], {
      exit: 1,
      code: "E_LAYOUT",
      has: [`OCI layout ${d}: manifest ${sha256(manifest)} is not valid JSON`],
    });
  });
  it("80 a config whose diff_ids do not match the layers", async () => {
    const config = Buffer.from(
      JSON.stringify({
        architecture: "amd64",
        os: "linux",
        rootfs: { type: "layers", diff_ids: [sha256("a"), sha256("b")] },
      }),
    );
    const manifest = Buffer.from(
      JSON.stringify({
        ...JSON.parse(img.manifest.toString()),
        config: { mediaType: MediaType.OCI_CONFIG, digest: sha256(config), size: config.length },
      }),
    );
    const d = rawLayout({ manifest, blobs: [config, img.layer] });
    await fails(["inspect", `oci:${d}`], {
      exit: 1,
      code: "E_LAYOUT",
      has: [`OCI layout ${d}: config lists 2 diff_ids but the manifest has 1 layers`],
    });
  });
  it("81 index.json that is JSON null", async () => {
    const d = rawLayout({ ...good(), index: "null" });
    await fails(["inspect", `oci:${d}`], {
      exit: 1,
      code: "E_LAYOUT",
      has: [`OCI layout ${d}: index.json lists no manifests`],
    });
  });
  it("82 a manifest without layers", async () => {
    const manifest = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: MediaType.OCI_MANIFEST,
        config: JSON.parse(img.manifest.toString()).config,
      }),
    );
    const d = rawLayout({ manifest, blobs: [img.config] });
    await fails(["push", d, "--repository", "127.0.0.1:1/a/b"], {
      exit: 1,
      code: "E_LAYOUT",
      has: [`OCI layout ${d}: manifest ${sha256(manifest)} is not an image manifest (no config or layers)`],
    });
  });

  it("84 a manifest whose layer digest is a path: refused before any path is made of it", async () => {
    const bad = "sha256:../../../../etc/passwd";
    const manifest = Buffer.from(
      JSON.stringify({
        ...JSON.parse(img.manifest.toString()),
        layers: [{ mediaType: MediaType.OCI_LAYER_GZIP, digest: bad, size: 1 }],
      }),
    );
    const d = rawLayout({ manifest, blobs: [img.config] });
    await fails(["inspect", `oci:${d}`], {
      exit: 1,
      code: "E_BAD_DIGEST",
      has: [`OCI layout ${d}: manifest ${sha256(manifest)}: layers[0].digest`, JSON.stringify(bad)],
    });
  });

  it("89 an index.json entry whose media type holds CR/LF: refused, the value escaped (src/oci/descriptor.ts)", async () => {
    const index = {
      schemaVersion: 2,
      manifests: [{ mediaType: "application/json\r\nX: y", digest: sha256(img.manifest), size: img.manifest.length }],
    };
    const d = rawLayout({ manifest: img.manifest, blobs: [img.config], index: JSON.stringify(index) });
    await fails(["inspect", `oci:${d}`], {
      exit: 1,
      code: "E_BAD_DESCRIPTOR",
      has: [`OCI layout ${d}: index.json: manifests[0].mediaType`, JSON.stringify("application/json\r\nX: y")],
    });
  });

  /** The layout of `img` with another config. */
  const withConfig = (config: object) => {
    const bytes = Buffer.from(JSON.stringify(config));
    const manifest = Buffer.from(
      JSON.stringify({
        ...JSON.parse(img.manifest.toString()),
        config: { mediaType: MediaType.OCI_CONFIG, digest: sha256(bytes), size: bytes.length },
      }),
    );
    return { d: rawLayout({ manifest, blobs: [bytes, img.layer] }), digest: sha256(bytes) };
  };
  it("86 a config whose diff_id is not a digest", async () => {
    const bad = `sha256:${"A".repeat(64)}`;
    const { d, digest } = withConfig({
      architecture: "amd64",
      os: "linux",
      rootfs: { type: "layers", diff_ids: [bad] },
    });
    await fails(["inspect", `oci:${d}`], {
      exit: 1,
      code: "E_LAYOUT",
      has: [`OCI layout ${d}: config ${digest}: rootfs.diff_ids[0]: expected a digest`, JSON.stringify(bad)],
    });
  });
  it("87 a config whose Env is a string", async () => {
    const { d, digest } = withConfig({
      architecture: "amd64",
      os: "linux",
      config: { Env: "PATH=/bin" },
      rootfs: { diff_ids: [sha256("x")] },
    });
    await fails(["inspect", `oci:${d}`], {
      exit: 1,
      code: "E_LAYOUT",
      has: [`OCI layout ${d}: config ${digest}: config.Env: expected a list (got "PATH=/bin")`],
    });
  });

  for (const h of HOSTILE_LAYERS) {
    it(`unpacking a layout's layer refuses ${h.name}`, async () => {
      const d = layoutWithLayer(h.tar, h.compressed);
      const image = readLayout(d);
      const root = join(dir("unpack"), "root");
      const e = await unpackLayers(image.layers, root).then(
        () => undefined,
        (err: unknown) => err,
      );
      expect(e).toBeInstanceOf(PipelineError);
      const err = e as PipelineError;
      // A truncated or corrupt tar inside valid gzip also fails the diff_id check; the tar error comes first.
      expect(err.code, err.message).toBe(h.code);
      expect(err.message).toContain(`layer ${image.layers[0].digest}: `);
      for (const m of h.mentions) expect(err.message).toContain(m);
      if (h.mustNotExist) expect(existsSync(join(root, "..", h.mustNotExist))).toBe(false);
    });
  }
});
