/**
 * The core chain, end to end: real Bazel builds examples/hello in a workspace that consumes @rules_pipeline as an
 * external repository, pushes to the CNCF distribution registry, and the results are checked with skopeo and runc.
 */
import { spawnSync } from "node:child_process";
import { lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { bazel, makeConsumerWorkspace, QUIET, discard, TEST_DISK_CACHE } from "../fixtures/bazel";
import { type Borrowed, borrowConsumerWorkspace } from "../fixtures/workspace-pool";
import { ownLayers, pinnedHelloLayers } from "../fixtures/pinned-image";
import { type RunningRegistry, startRegistry, writeDockerConfig } from "../fixtures/registry";
import { runPushedImage } from "../fixtures/runc";

function skopeoDigest(ref: string, env: Record<string, string> = {}): string {
  const r = spawnSync("skopeo", ["inspect", "--raw", "--tls-verify=false", `docker://${ref}`], {
    encoding: "utf8",
    env: { ...process.env, ...env },
  });
  if (r.status !== 0) throw new Error(`skopeo inspect ${ref}: ${r.stderr}`);
  return "sha256:" + require("node:crypto").createHash("sha256").update(r.stdout).digest("hex");
}

const tmp = mkdtempSync(join(tmpdir(), "rp-e2e-hello-"));
/**
 * The run's shared --disk_cache when there is one (scripts/test.sh), else the file's own: the first build takes the
 * actions other files' workspaces already ran for the same inputs, and the second checkout must find every action of
 * its build there, whichever directory ran it first.
 */
const diskCache = TEST_DISK_CACHE ?? join(tmp, "disk-cache");
let reg: RunningRegistry;
let ws: string;
let borrowed: Borrowed | undefined;
let ws2: string | undefined;

beforeAll(async () => {
  reg = await startRegistry();
  borrowed = borrowConsumerWorkspace();
  ws = borrowed.ws;
});

afterAll(async () => {
  await borrowed?.release();
  if (ws2) await discard(ws2);
  await reg?.stop();
  rmSync(tmp, { recursive: true, force: true });
});

describe("examples/hello from a consumer workspace", () => {
  test("hello_image builds an OCI layout that skopeo reads, with its digest in hello_image.digest", async () => {
    const r = await bazel(ws, ["build", `--disk_cache=${diskCache}`, "//examples/hello:hello_image"]);
    expect(r.code, r.stderr).toBe(0);
    const digest = readFileSync(join(ws, "bazel-bin/examples/hello/hello_image.digest"), "utf8");
    expect(digest).toMatch(/^sha256:[a-f0-9]{64}$/);
    const inspect = spawnSync(
      "skopeo",
      ["inspect", "--raw", "oci:" + join(ws, "bazel-bin/examples/hello/hello_image") + ":latest"],
      {
        encoding: "utf8",
      },
    );
    expect(inspect.status, inspect.stderr).toBe(0);
    const manifest = JSON.parse(inspect.stdout);
    expect("sha256:" + require("node:crypto").createHash("sha256").update(inspect.stdout).digest("hex")).toBe(digest);
    // base layers, then node_modules, then the app
    expect(manifest.layers.length).toBeGreaterThanOrEqual(3);
    // Our layers' bytes are pinned (test/fixtures/pinned-image.ts): a change to how the rules write them fails here.
    expect(ownLayers(join(ws, "bazel-bin/examples/hello/hello_image"))).toEqual(pinnedHelloLayers("examples/hello"));
    // Self-contained: regular files only (no symlinks into Bazel's output base), so it can be copied anywhere.
    const blobs = join(ws, "bazel-bin/examples/hello/hello_image/blobs/sha256");
    for (const name of readdirSync(blobs)) expect(lstatSync(join(blobs, name)).isFile(), name).toBe(true);
  });

  test("hello_image is the image of a rule declared like rules_oci's oci_push/oci_load (allow_single_file = True)", async () => {
    mkdirSync(join(ws, "ocilike"), { recursive: true });
    writeFileSync(
      join(ws, "ocilike", "defs.bzl"),
      `def _impl(ctx):
    out = ctx.actions.declare_file(ctx.label.name + ".index.json")
    ctx.actions.run_shell(
        inputs = [ctx.file.image],
        outputs = [out],
        command = 'test -f "$1/oci-layout" && cp "$1/index.json" "$2"',
        arguments = [ctx.file.image.path, out.path],
    )
    return [DefaultInfo(files = depset([out]))]

# the image attribute declared as rules_oci declares it on oci_push and oci_load.
oci_push_like = rule(
    implementation = _impl,
    attrs = {
        "image": attr.label(allow_single_file = True, mandatory = True),
        "repository": attr.string(mandatory = True),
    },
)
`,
    );
    writeFileSync(join(ws, "ocilike", "BUILD.bazel"), "");
    // In hello's own package, as users write oci_push next to their image (hello_image is not public).
    const build = join(ws, "examples", "hello", "BUILD.bazel");
    const original = readFileSync(build, "utf8");
    writeFileSync(
      build,
      `load("//ocilike:defs.bzl", "oci_push_like")\n${original}\noci_push_like(name = "oci_push_like", image = ":hello_image", repository = "x")\n`,
    );
    try {
      const r = await bazel(ws, [
        "build",
        `--disk_cache=${diskCache}`,
        "//examples/hello:oci_push_like",
        "//examples/hello:hello_image_digest",
      ]);
      expect(r.code, r.stderr).toBe(0);
    } finally {
      writeFileSync(build, original);
    }
    const index = JSON.parse(readFileSync(join(ws, "bazel-bin/examples/hello/oci_push_like.index.json"), "utf8"));
    expect(index.manifests[0].digest).toBe(
      readFileSync(join(ws, "bazel-bin/examples/hello/hello_image.digest"), "utf8"),
    );
  });

  test("hello_local runs the launch script with no image variables, even if the caller had some", async () => {
    const r = await bazel(ws, ["run", ...QUIET, "//examples/hello:hello_local", "--", "1", "2"], {
      PIPELINE_CONTAINER_IMAGE: "",
    });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain("HELLO FROM A PIPELINE");
    expect(r.stdout).toContain("no container image: running in-process");
    expect(r.stdout).toContain('args: ["1","2"] sum: 3');
  });

  test("hello_binary runs the built image in a local container and pushes nothing", async () => {
    const digest = readFileSync(join(ws, "bazel-bin/examples/hello/hello_image.digest"), "utf8");
    const before = reg.requests().length;
    const r = await bazel(ws, ["run", ...QUIET, "//examples/hello:hello_binary"], {
      PIPELINE_REPOSITORY: `${reg.host}/binary/only`,
    });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(`container image: ${reg.host}/binary/only@${digest}`);
    // The launch script ran the built layout in a local container (runc): the work happened inside.
    expect(r.stdout).toContain("running inside the container");
    expect(r.stdout).toContain("HELLO FROM A PIPELINE");
    expect(reg.requests().length).toBe(before);
  });

  test("runInContainer() starts the launchers' CLI through the V8 code cache loader too", async () => {
    // The nested `pipeline run` gets a cache root of its own (NESTED_CACHE_DIR), where its cache file is looked for.
    mkdirSync(join(ws, "examples/nested"), { recursive: true });
    writeFileSync(
      join(ws, "examples/nested/main.ts"),
      `import { inContainer, runInContainer } from "@rules_pipeline/runtime";
if (inContainer()) console.log("nested: inside");
else runInContainer({ processEnv: { ...process.env, PIPELINE_CACHE_DIR: process.env.NESTED_CACHE_DIR ?? "" } }).then((code) => {
  process.exitCode = code;
});
`,
    );
    writeFileSync(
      join(ws, "examples/nested/BUILD.bazel"),
      `load("@rules_pipeline//bazel:pipeline.bzl", "pipeline")
pipeline(name = "nested", entry = "main.ts", base = "@pipeline-host-node//image", registry = "localhost:5000", repository = "examples/nested")
`,
    );
    const nested = mkdtempSync(join(tmp, "nested-cache-root-"));
    const r = await bazel(ws, ["run", ...QUIET, "//examples/nested:nested_binary"], { NESTED_CACHE_DIR: nested });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain("nested: inside");
    // Written by the nested `pipeline run` (the `_binary` launcher itself runs the script, not the CLI): the loader
    // ran it. Without the loader, this root has no code-cache/.
    expect(readdirSync(join(nested, "code-cache"))).toEqual([
      expect.stringMatching(/^pipeline-[0-9a-f]{16}-node.*\.v8$/),
    ]);
  });

  test("hello pushes, then the launch script runs the pushed URI (same digest as skopeo reads) in a local container", async () => {
    const cacheDir = mkdtempSync(join(tmp, "hello-cache-root-"));
    const r = await bazel(ws, ["run", ...QUIET, "//examples/hello:hello", "--", "5"], {
      PIPELINE_REPOSITORY: `${reg.host}/examples/hello`,
      PIPELINE_CACHE_DIR: cacheDir,
    });
    expect(r.code, r.stderr).toBe(0);
    // The launcher ran the CLI through the code cache loader, which wrote the bundle's cache file (docs/cli.md).
    expect(readdirSync(join(cacheDir, "code-cache"))).toHaveLength(1);
    const m = /container image: (\S+)/.exec(r.stdout);
    expect(m, r.stdout).not.toBeNull();
    const uri = m![1];
    expect(uri).toMatch(new RegExp(`^${reg.host.replace(/\./g, "\\.")}/examples/hello@sha256:[a-f0-9]{64}$`));
    expect(skopeoDigest(uri)).toBe(uri.split("@")[1]);
    // The pipeline's output comes from inside the container the launch script started from the pushed URI.
    expect(r.stdout).toContain("running inside the container");
    expect(r.stdout).toContain('args: ["5"] sum: 5');
  });

  test("hello_push prints the reference last, writes metadata, pushes tags; the image runs under runc", async () => {
    const meta = join(tmp, "meta.json");
    const r = await bazel(ws, [
      "run",
      ...QUIET,
      "//examples/hello:hello_push",
      "--",
      "--repository",
      `${reg.host}/pushed/hello`,
      "--tag",
      "e2e",
      "--metadata-out",
      meta,
    ]);
    expect(r.code, r.stderr).toBe(0);
    const lines = r.stdout.trim().split("\n");
    const metadata = JSON.parse(readFileSync(meta, "utf8"));
    expect(lines[lines.length - 1]).toBe(metadata.reference);
    expect(metadata.tags).toEqual(["e2e"]);
    expect(skopeoDigest(`${reg.host}/pushed/hello:e2e`)).toBe(metadata.digest);
    const run = runPushedImage(`${reg.host}/pushed/hello:e2e`, ["3", "4"]);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toContain("HELLO FROM A PIPELINE");
    expect(run.stdout).toContain('args: ["3","4"] sum: 7');
  });

  test("a second checkout in another directory builds the same digest, every action from the shared disk cache", async () => {
    ws2 = makeConsumerWorkspace(join(tmp, "b", "elsewhere"));
    const r = await bazel(ws2, ["build", `--disk_cache=${diskCache}`, "//examples/hello:hello_image"]);
    expect(r.code, r.stderr).toBe(0);
    const a = readFileSync(join(ws, "bazel-bin/examples/hello/hello_image.digest"), "utf8");
    const b = readFileSync(join(ws2, "bazel-bin/examples/hello/hello_image.digest"), "utf8");
    expect(b).toBe(a);
    const m = /(\d+) processes?: (.*)/.exec(r.stderr);
    expect(m, r.stderr).not.toBeNull();
    // e.g. "9 processes: 5 remote cache hit, 4 internal." (Bazel 4 counts disk cache hits as remote) — nothing ran.
    expect(m![2]).toMatch(/(disk|remote) cache hit/);
    expect(m![2]).not.toMatch(/linux-sandbox|local|processwrapper-sandbox/);
  });

  test("a one-line change to the app uploads one new layer (plus the config), nothing else", async () => {
    const meta1 = join(tmp, "meta-before.json");
    const meta2 = join(tmp, "meta-after.json");
    const target = `${reg.host}/incremental/hello`;
    let r = await bazel(ws, [
      "run",
      ...QUIET,
      "//examples/hello:hello_push",
      "--",
      "--repository",
      target,
      "--metadata-out",
      meta1,
    ]);
    expect(r.code, r.stderr).toBe(0);
    const greeting = join(ws, "examples/hello/greeting.ts");
    writeFileSync(greeting, readFileSync(greeting, "utf8").replace("toUpperCase()", 'toUpperCase() + "!"'));
    r = await bazel(ws, [
      "run",
      ...QUIET,
      "//examples/hello:hello_push",
      "--",
      "--repository",
      target,
      "--metadata-out",
      meta2,
    ]);
    expect(r.code, r.stderr).toBe(0);
    const before = JSON.parse(readFileSync(meta1, "utf8"));
    const after = JSON.parse(readFileSync(meta2, "utf8"));
    expect(after.digest).not.toBe(before.digest);
    expect(after.uploaded.blobs).toBe(2); // the app layer and the config
    expect(after.skipped).toBe(before.uploaded.blobs + before.skipped - 2);
    const blobPuts = reg
      .requests()
      .filter((q) => q.method === "PUT" && q.path.includes("/incremental/hello/blobs/uploads/"));
    // Besides the image's blobs, each push attaches its SBOM as a referrer: the first uploads the document and the
    // empty config, the second only its new document (it names the new image digest).
    expect(before.sbom?.digest).toBeTruthy();
    expect(after.sbom?.digest).toBeTruthy();
    expect(blobPuts.length).toBe(before.uploaded.blobs + 2 + 2 + 1);
  });

  test("pushes with Basic credentials from DOCKER_CONFIG; a wrong password fails naming the registry, never printing it", async () => {
    const secret = "s3cret-" + Math.random().toString(36).slice(2);
    const authReg = await startRegistry({ htpasswd: { user: "alice", password: secret } });
    try {
      const good = mkdtempSync(join(tmp, "docker-good-"));
      writeDockerConfig(good, { [authReg.host]: { username: "alice", password: secret } });
      let r = await bazel(ws, ["run", ...QUIET, "//examples/hello:hello_push"], {
        PIPELINE_REPOSITORY: `${authReg.host}/private/hello`,
        DOCKER_CONFIG: good,
      });
      expect(r.code, r.stderr).toBe(0);
      const ref = r.stdout.trim().split("\n").pop()!;
      const skopeoAuth = spawnSync(
        "skopeo",
        ["inspect", "--raw", "--tls-verify=false", "--creds", `alice:${secret}`, `docker://${ref}`],
        {
          encoding: "utf8",
        },
      );
      expect(skopeoAuth.status, skopeoAuth.stderr).toBe(0);

      const bad = mkdtempSync(join(tmp, "docker-bad-"));
      writeDockerConfig(bad, { [authReg.host]: { username: "alice", password: "wrong-" + secret } });
      r = await bazel(ws, ["run", ...QUIET, "//examples/hello:hello_push"], {
        PIPELINE_REPOSITORY: `${authReg.host}/private/hello2`,
        DOCKER_CONFIG: bad,
      });
      expect(r.code).not.toBe(0);
      expect(r.stderr).toContain("E_UNAUTHORIZED");
      expect(r.stderr).toContain(authReg.host);
      const all = r.stdout + r.stderr;
      expect(all).not.toContain(secret);
      expect(all).not.toContain(Buffer.from(`alice:wrong-${secret}`).toString("base64"));
      expect(r.stdout).not.toMatch(/@sha256:/);
    } finally {
      await authReg.stop();
    }
  });

  test("launchers run the CLI from a V8 code cache: the first run writes it, the next uses it, the same push either way", async () => {
    const cacheDir = mkdtempSync(join(tmp, "cache-root-"));
    const env = { PIPELINE_CACHE_DIR: cacheDir, PIPELINE_REPOSITORY: `${reg.host}/codecache/hello` };
    const cacheLines = (stderr: string) => stderr.split("\n").filter((l) => l.startsWith("debug: code cache: "));
    const runs = [];
    for (const extra of [{}, {}, { PIPELINE_CODE_CACHE: "off" }]) {
      const r = await bazel(ws, ["run", ...QUIET, "//examples/hello:hello_push", "--", "--debug"], {
        ...env,
        ...extra,
      });
      expect(r.code, r.stderr).toBe(0);
      runs.push({ ref: r.stdout.trim().split("\n").pop(), cache: cacheLines(r.stderr) });
    }
    const file = readdirSync(join(cacheDir, "code-cache"));
    expect(file).toHaveLength(1);
    const path = join(cacheDir, "code-cache", file[0]);
    expect(runs[0].cache).toEqual([`debug: code cache: miss ${path}: none yet`, `debug: code cache: written ${path}`]);
    expect(runs[1].cache).toEqual([`debug: code cache: hit ${path}`]);
    expect(runs[2].cache).toEqual(["debug: code cache: off (PIPELINE_CODE_CACHE=off)"]);
    expect(runs[0].ref).toMatch(new RegExp(`^${reg.host}/codecache/hello@sha256:[0-9a-f]{64}$`));
    expect(runs.map((r) => r.ref)).toEqual([runs[0].ref, runs[0].ref, runs[0].ref]);
  });

  test("an unreachable registry fails with the registry named and nothing reported as pushed", async () => {
    const r = await bazel(ws, ["run", ...QUIET, "//examples/hello:hello_push"], {
      PIPELINE_REPOSITORY: "127.0.0.1:1/nowhere/hello",
    });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain("127.0.0.1:1");
    expect(r.stderr).toMatch(/E_REGISTRY_UNREACHABLE/);
    expect(r.stdout).not.toMatch(/@sha256:/);
  });

  test("bad BUILD attributes fail the build naming the attribute and the value", async () => {
    mkdirSync(join(ws, "examples/bad"), { recursive: true });
    writeFileSync(join(ws, "examples/bad/main.ts"), "console.log('x');\n");
    writeFileSync(
      join(ws, "examples/bad/BUILD.bazel"),
      `load("@rules_pipeline//bazel:pipeline.bzl", "pipeline")
pipeline(name = "tagged", entry = "main.ts", registry = "localhost:5000", repository = "team/app:v1")
pipeline(name = "schemed", entry = "main.ts", registry = "https://localhost:5000", repository = "team/app")
pipeline(name = "noentry", entry = "missing.ts", registry = "localhost:5000", repository = "team/app")
pipeline(name = "typeerror", entry = "broken.ts", registry = "localhost:5000", repository = "team/app")
`,
    );
    writeFileSync(join(ws, "examples/bad/broken.ts"), "const n: number = 'not a number';\nconsole.log(n);\n");
    let r = await bazel(ws, ["build", "//examples/bad:tagged_push"]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('`repository` attribute should not contain digest or tag. got: "team/app:v1"');
    r = await bazel(ws, ["build", "//examples/bad:schemed_push"]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain(
      '`registry` should be a host[:port] without scheme or path. got: "https://localhost:5000"',
    );
    r = await bazel(ws, ["build", "//examples/bad:noentry_local"]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain("missing.ts");
    r = await bazel(ws, ["build", "//examples/bad:typeerror_local"]);
    expect(r.code).not.toBe(0);
    // tsc reports on stdout, which Bazel forwards to its own stdout.
    expect(r.stdout + r.stderr).toMatch(/examples\/bad\/broken\.ts\(1,7\): error TS2322/);
  });
});
