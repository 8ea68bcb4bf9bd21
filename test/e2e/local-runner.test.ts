/**
 * The local container runner end to end, with real runc, the CNCF registry and a git smart-HTTP server:
 * `pipeline run --image` (output, exit code, env, workdir, mounts, cache hits, replicas, oci: layouts), hostile
 * layers refused, Ctrl-C cleanup of a `pipeline run` process, a deployment spec with a private repository
 * whose password comes from a named secret (and appears nowhere but where git needs it), and a spec run with
 * `--image oci:DIR[@sha256:...]` (an image not pushed).
 */
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import {
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { run } from "../../src/cli/commands/run";
import type { CliIo } from "../../src/cli/io";
import { composeImage } from "../../src/image/compose";
import type { Image } from "../../src/oci/model";
import { pushImage } from "../../src/registry/push";
import { pushModel } from "../../src/weights/push";
import { parseReference } from "../../src/oci/reference";
import { anonymousKeychain } from "../../src/registry-auth/anonymous";
import { rawTar } from "../corpus/raw-tar";
import { filesContaining, mountsUnder, rawLayer, runcIds } from "../fixtures/runner";
import { pipelineCli, runCli } from "../fixtures/cli";
import { pipelineErrorOf } from "../fixtures/errors";
import { createTestRepo, type GitServer, startGitServer } from "../fixtures/git-server";
import { type RunningRegistry, startRegistry } from "../fixtures/registry";
import { buildRunnerApp, type Captured, captureIo, writeVolumeModel } from "../fixtures/runner-app";

let tmp: string;
let reg: RunningRegistry;
let cacheDir: string;
let appLayout: string;
let appRef: string;
let appDigest: string;

const capture = (extraEnv: Record<string, string> = {}): Captured => captureIo(tmp, extraEnv);

async function push(image: Image, repository: string): Promise<string> {
  const r = await pushImage(image, { registry: reg.host, repository, tags: ["v1"] });
  return r.reference;
}

function blobGets(): number {
  return reg.requests().filter((r) => r.method === "GET" && r.path.includes("/blobs/")).length;
}

beforeAll(async () => {
  tmp = mkdtempSync(join(tmpdir(), "rp-e2e-runner-"));
  cacheDir = join(tmp, "cache");
  reg = await startRegistry();
  const app = await buildRunnerApp(tmp, reg);
  appLayout = app.layout;
  appRef = app.ref;
  appDigest = app.digest;
});

afterAll(async () => {
  await reg?.stop();
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

describe("pipeline run --image", () => {
  it("a relative --cache-dir or $PIPELINE_CACHE_DIR is taken from the working directory (issue 24 item 10)", async () => {
    const cwd = join(tmp, "relative");
    mkdirSync(cwd);
    const flag = await runCli(["run", "--image", `oci:${appLayout}`, "--cache-dir", "c1", "--", "echo", "3"], { cwd });
    expect(flag.code, flag.stderr).toBe(3);
    expect(readdirSync(join(cwd, "c1", "rootfs")).some((n) => /^[a-f0-9]{64}$/.test(n))).toBe(true);
    const env = await runCli(["run", "--image", `oci:${appLayout}`, "--", "echo", "4"], {
      cwd,
      env: { ...process.env, PIPELINE_CACHE_DIR: "./c2" },
    });
    expect(env.code, env.stderr).toBe(4);
    expect(existsSync(join(cwd, "c2", "rootfs"))).toBe(true);
  });

  it("prints the program's output, returns its exit code, and a second run needs no download", async () => {
    expect(appRef).toBe(`${reg.host}/run/app@${appDigest}`);
    const before = blobGets();
    const c = capture();
    const r = await run({ image: appRef, "cache-dir": cacheDir, "--": ["echo", "7", "a b", "c"] }, c.io);
    expect(r.exitCode, c.err.join("\n")).toBe(7);
    expect(c.out).toContain("args=a b,c");
    expect(c.out).toContain("FOO=undefined cwd=/app home=/root");
    expect(c.err).toContain("to stderr");
    const downloaded = blobGets() - before;
    expect(downloaded).toBe(4); // config + two base layers + the app layer

    const requests = reg.requests().length;
    const c2 = capture();
    const r2 = await run({ image: appRef, "cache-dir": cacheDir, "--": ["echo", "0"] }, c2.io);
    expect(r2.exitCode, c2.err.join("\n")).toBe(0);
    expect(reg.requests().length).toBe(requests); // not even a manifest request: the digest pins the bytes
    expect(c2.err.some((l) => /pulling|unpacking/.test(l))).toBe(false);
    expect(readdirSync(join(cacheDir, "runs"))).toEqual([]);
    expect(existsSync(join(cacheDir, "podman"))).toBe(false); // --runtime auto: runc first
  });

  it("honours --env and --workdir", async () => {
    const c = capture({ FROM_SHELL: "shell-value" });
    const r = await run(
      { image: appRef, "cache-dir": cacheDir, env: ["FOO=bar=baz"], workdir: "/tmp", "--": ["echo", "0"] },
      c.io,
    );
    expect(r.exitCode, c.err.join("\n")).toBe(0);
    expect(c.out).toContain("FOO=bar=baz cwd=/tmp home=/root");
    const bad = capture();
    const e = await pipelineErrorOf(run({ image: appRef, "cache-dir": cacheDir, env: ["1BAD=x"] }, bad.io));
    expect(e.code).toBe("E_USAGE");
    expect(e.message).toContain('"1BAD=x"');
  });

  it("enforces a read-only bind mount, and writes through a read-write one", async () => {
    const data = join(tmp, "data");
    mkdirSync(data, { recursive: true });
    writeFileSync(join(data, "in.txt"), "from the host");
    const ro = capture();
    expect(
      (await run({ image: appRef, "cache-dir": cacheDir, mount: [`${data}:/data:ro`], "--": ["write"] }, ro.io))
        .exitCode,
    ).toBe(0);
    expect(ro.out).toEqual(["read=from the host", "write=EROFS"]);
    expect(existsSync(join(data, "out.txt"))).toBe(false);
    const rw = capture();
    expect(
      (await run({ image: appRef, "cache-dir": cacheDir, mount: ["data:/data"], "--": ["write"] }, rw.io)).exitCode,
    ).toBe(0);
    expect(rw.out).toEqual(["read=from the host", "write=ok"]);
    expect(readFileSync(join(data, "out.txt"), "utf8")).toBe("written");
  });

  it("runs replicas, each line prefixed with its replica", async () => {
    const c = capture();
    const r = await run({ image: appRef, "cache-dir": cacheDir, replicas: 2, name: "multi", "--": ["hello"] }, c.io);
    expect(r.exitCode, c.err.join("\n")).toBe(0);
    expect([...c.out].sort()).toEqual(["[0] hello from multi-0", "[1] hello from multi-1"]);
  });

  it("runs an unpushed image from an OCI layout (oci:DIR and oci:DIR@digest)", async () => {
    const c = capture();
    expect(
      (await run({ image: `oci:${appLayout}`, "cache-dir": join(tmp, "cache-oci"), "--": ["echo", "3", "x"] }, c.io))
        .exitCode,
    ).toBe(3);
    expect(c.out).toContain("args=x");
    const d = capture();
    expect(
      (
        await run(
          { image: `oci:${appLayout}@${appDigest}`, "cache-dir": join(tmp, "cache-oci"), "--": ["hello"] },
          d.io,
        )
      ).exitCode,
    ).toBe(0);
    const other = `sha256:${"0".repeat(64)}`;
    const wrong = await pipelineErrorOf(
      run({ image: `oci:${appLayout}@${other}`, "cache-dir": join(tmp, "cache-oci") }, capture().io),
    );
    expect(wrong.code).toBe("E_DIGEST_MISMATCH");
    expect(wrong.message).toBe(`--image oci:${appLayout}@${other}: the layout holds ${appDigest}, not ${other}`);
  });

  it("refuses images whose layers climb out of the root, and leaves nothing behind", async () => {
    const hostile = [
      { repo: "run/dotdot", tar: rawTar([{ name: "../escaped.txt", data: "pwned" }]), mentions: '"../escaped.txt"' },
      {
        repo: "run/symlink",
        tar: rawTar([
          { name: "evil", type: "2", linkname: "../../../../../../tmp" },
          { name: "evil/escaped.txt", data: "pwned" },
        ]),
        mentions: '"evil"',
      },
    ];
    const cache = join(tmp, "cache-hostile");
    for (const h of hostile) {
      const img = composeImage({ layers: [{ layer: rawLayer(h.tar), createdBy: "hostile" }], cmd: ["/bin/true"] });
      const ref = await push(img, h.repo);
      const e = await pipelineErrorOf(run({ image: ref, "cache-dir": cache }, capture().io));
      expect(e.code).toBe("E_LAYER_UNSAFE");
      expect(e.message).toContain(img.digest);
      expect(e.message).toContain(h.mentions);
    }
    expect(readdirSync(join(cache, "rootfs"))).toEqual([]);
    expect(readdirSync(join(cache, "images"))).toEqual([]);
    expect(
      existsSync(join(cache, "escaped.txt")) ||
        existsSync(join(cache, "rootfs", "escaped.txt")) ||
        existsSync("/tmp/escaped.txt"),
    ).toBe(false);
  });
});

describe("runtimes and leftovers", () => {
  it("says which forced runtime does not work here", async () => {
    // Through the real CLI, so the probes see this environment: no podman on PATH, a docker daemon that is not there.
    const env = {
      PATH: "/nonexistent",
      HOME: join(tmp, "home"),
      CI: "1",
      DOCKER_HOST: `unix://${join(tmp, "no-docker.sock")}`,
    };
    for (const runtime of ["podman", "docker"]) {
      const r = await runCli(["run", "--image", appRef, "--cache-dir", cacheDir, "--runtime", runtime, "--", "hello"], {
        env,
      });
      expect(r.code, r.stderr).toBe(1);
      expect(r.stderr).toContain(`error[E_RUNTIME]: --runtime ${runtime}:`);
    }
  });

  it("removes containers and bundles that a killed runner left behind", async () => {
    const dead = await new Promise<number>((resolve) => {
      const c = spawn(process.execPath, ["-e", "0"]);
      c.on("close", () => resolve(c.pid!));
    });
    const stale = join(cacheDir, "runs", `rp-stale-${dead}-0badc0de`);
    mkdirSync(join(stale, "rootfs"), { recursive: true });
    writeFileSync(join(stale, "config.json"), "{}");
    const alive = join(cacheDir, "runs", `rp-other-${process.pid}-0badc0de`);
    mkdirSync(alive, { recursive: true });
    const c = capture();
    expect((await run({ image: appRef, "cache-dir": cacheDir, "--": ["hello"] }, c.io)).exitCode).toBe(0);
    expect(existsSync(stale)).toBe(false);
    expect(existsSync(alive)).toBe(true); // its owner (this process) is alive: not ours to remove
    rmSync(alive, { recursive: true });
  });
});

describe("Ctrl-C", () => {
  it("stops the container, deletes it and removes its bundle when `pipeline run` gets SIGINT", async () => {
    const cli = await pipelineCli(); // the real CLI, bundled: the signal reaches `pipeline run` itself
    const child = spawn(
      process.execPath,
      [cli, "run", "--image", appRef, "--cache-dir", cacheDir, "--stop-timeout", "1", "--", "sleep"],
      {
        stdio: ["ignore", "pipe", "pipe"],
        env: { PATH: process.env.PATH, HOME: join(tmp, "home"), CI: "1" },
      },
    );
    let out = "";
    let err = "";
    child.stderr.on("data", (d) => (err += d));
    const exited = new Promise<number | null>((resolve) => child.on("close", (code) => resolve(code)));
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no "ready" within 30 s: ${out}\n${err}`)), 30_000);
      child.stdout.on("data", (d) => {
        out += d;
        if (out.includes("ready")) {
          clearTimeout(timer);
          resolve();
        }
      });
    });
    const mine = (ids: string[]) => ids.filter((id) => id.includes(`-${child.pid}-`));
    expect(mine(await runcIds())).toHaveLength(1);
    expect(readdirSync(join(cacheDir, "runs"))).toHaveLength(1);
    const started = Date.now();
    child.kill("SIGINT");
    const code = await exited;
    expect(code, err).toBe(137); // node as PID 1 ignores SIGTERM: killed after the 1 s grace period
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(err).toContain("SIGINT: stopping");
    expect(mine(await runcIds())).toEqual([]);
    expect(readdirSync(join(cacheDir, "runs"))).toEqual([]);
    expect(mountsUnder(cacheDir)).toEqual([]);
  });
});

describe("pipeline run SPEC", () => {
  let git: GitServer;
  let mainTxt: string;
  const secret = `s3cret-${randomBytes(8).toString("hex")}`;
  beforeAll(async () => {
    const repos = join(tmp, "git");
    mainTxt = createTestRepo(repos, "data").files.main["main.txt"].trim();
    git = await startGitServer({ root: repos, users: { bot: secret } });
  });
  afterAll(async () => {
    await git?.stop();
  });

  it("mounts a private repository cloned with a named secret, in every replica, and leaks the secret nowhere", async () => {
    const specPath = join(tmp, "spec.yaml");
    writeFileSync(
      specPath,
      [
        `image: ${appRef}`,
        "args: [repos]",
        "resources: {replicas: 2}",
        "repositories:",
        "  dataset: ds1",
        "  mountPath: /opt/repos",
        "  repositories:",
        `    - {url: ${git.repoUrl("data")}, name: data, ref: main, username: bot, password: "SECRET:git-bot"}`,
        "",
      ].join("\n"),
    );
    const cache = join(tmp, "cache-spec");
    // While the containers run: their bundles (config.json, overlay upper/work; not the merged rootfs).
    const bundles: string[] = [];
    const hitsInBundles: string[] = [];
    const c = capture({ PIPELINE_SECRET_GIT_BOT: secret });
    const io: CliIo = {
      ...c.io,
      stdout: (l) => {
        c.out.push(l);
        if (!l.endsWith("ready")) return;
        for (const id of readdirSync(join(cache, "runs"))) {
          const dir = join(cache, "runs", id);
          if (bundles.includes(dir) || !existsSync(join(dir, "config.json"))) continue;
          bundles.push(dir);
          for (const n of readdirSync(dir).filter((x) => x !== "rootfs"))
            hitsInBundles.push(...filesContaining(join(dir, n), secret));
        }
      },
    };
    const r = await run({ spec: specPath, "cache-dir": cache }, io);
    expect(r.exitCode, c.err.join("\n")).toBe(0);
    expect([...c.out].sort()).toEqual(
      [
        "[0] files=README.md,main.txt",
        `[0] main.txt=${mainTxt}`,
        "[0] ready",
        "[1] files=README.md,main.txt",
        `[1] main.txt=${mainTxt}`,
        "[1] ready",
      ].sort(),
    );
    expect(git.requests.some((q) => q.user === "bot" && q.authenticated)).toBe(true);
    // The leak audit: output, bundles while running, the whole cache afterwards, the checkout's git config.
    expect(bundles.length).toBeGreaterThanOrEqual(1);
    expect(hitsInBundles).toEqual([]);
    expect([...c.out, ...c.err].join("\n")).not.toContain(secret);
    expect(filesContaining(cache, secret)).toEqual([]);
    expect(readFileSync(join(cache, "datasets", "ds1", "data", ".git", "config"), "utf8")).not.toContain("bot");
    expect(readdirSync(join(cache, "runs"))).toEqual([]);

    // A second run reuses the checkout (fetch + checkout, no clone) and the image.
    const c2 = capture({ PIPELINE_SECRET_GIT_BOT: secret });
    expect((await run({ spec: specPath, "cache-dir": cache }, c2.io)).exitCode, c2.err.join("\n")).toBe(0);
    expect(c2.out.filter((l) => l.endsWith(`main.txt=${mainTxt}`))).toHaveLength(2);
  });

  it("an env value SECRET:name reaches the program; runc's config.json is a FIFO (never the value on disk) and nothing keeps it (issue #9, #24)", async () => {
    const envSecret = `env-s3cret-${randomBytes(12).toString("hex")}`;
    const specPath = join(tmp, "spec-env-secret.yaml");
    const program = "console.log('X=' + process.env.X); console.log('ready'); setTimeout(() => {}, 1000)";
    writeFileSync(
      specPath,
      [
        `image: ${appRef}`,
        `command: [node, -e, ${JSON.stringify(program)}]`,
        'env: [{name: X, value: "SECRET:app-key"}]',
        "",
      ].join("\n"),
    );
    const cache = join(tmp, "cache-env-secret");
    const seen: { fifo: boolean; size: number; hits: string[] }[] = [];
    const c = capture({ PIPELINE_SECRET_APP_KEY: envSecret });
    const io: CliIo = {
      ...c.io,
      stdout: (l) => {
        c.out.push(l);
        if (l !== "ready") return;
        // While the container runs: the bundle's config.json is an empty FIFO, and no file of the cache has the value.
        for (const id of readdirSync(join(cache, "runs"))) {
          const st = lstatSync(join(cache, "runs", id, "config.json"));
          seen.push({ fifo: st.isFIFO(), size: st.size, hits: filesContaining(cache, envSecret) });
        }
      },
    };
    const r = await run({ spec: specPath, "cache-dir": cache }, io);
    expect(r.exitCode, c.err.join("\n")).toBe(0);
    expect(c.out).toEqual([`X=${envSecret}`, "ready"]);
    expect(seen).toEqual([{ fifo: true, size: 0, hits: [] }]);
    expect(filesContaining(cache, envSecret)).toEqual([]);
    expect(filesContaining(cache, Buffer.from(envSecret).toString("base64").slice(0, -4))).toEqual([]);
    expect(readdirSync(join(cache, "runs"))).toEqual([]);
  });

  it("runs a spec with --image oci:DIR or oci:DIR@digest (an image not pushed), and refuses a digest the layout does not hold", async () => {
    const specPath = join(tmp, "spec-oci.yaml");
    // The spec's own image is on a port nothing listens on: it must be replaced, never pulled.
    writeFileSync(
      specPath,
      [
        `image: 127.0.0.1:1/run/never-pulled@sha256:${"1".repeat(64)}`,
        "name: oci-spec",
        "args: [echo, '4', from-spec]",
        "env: [{name: FOO, value: spec-env}]",
        "",
      ].join("\n"),
    );
    const cache = join(tmp, "cache-oci-spec");
    const c = capture();
    expect(
      (await run({ spec: specPath, image: `oci:${appLayout}`, "cache-dir": cache }, c.io)).exitCode,
      c.err.join("\n"),
    ).toBe(4);
    expect(c.out).toEqual(["args=from-spec", "FOO=spec-env cwd=/app home=/root"]);
    // Relative to the command's directory (capture() runs in tmp, where the layout is), pinned by digest, -- ARGS.
    const relative = `oci:${appLayout.slice(tmp.length + 1)}@${appDigest}`;
    const d = capture();
    expect(
      (await run({ spec: specPath, image: relative, "cache-dir": cache, "--": ["hello"] }, d.io)).exitCode,
      d.err.join("\n"),
    ).toBe(0);
    expect(d.out).toEqual(["hello from oci-spec"]);
    const other = `sha256:${"0".repeat(64)}`;
    const wrong = await pipelineErrorOf(
      run({ spec: specPath, image: `oci:${appLayout}@${other}`, "cache-dir": cache }, capture().io),
    );
    expect(wrong.code).toBe("E_DIGEST_MISMATCH");
    expect(wrong.message).toBe(`--image oci:${appLayout}@${other}: the layout holds ${appDigest}, not ${other}`);
    expect(readdirSync(join(cache, "runs"))).toEqual([]);
  });

  it("modelDelivery: imageVolume runs as on the cluster: the model read-only at its path, big files linked to .blobs (issue #62 item 4)", async () => {
    const src = join(tmp, "model-src");
    const model = writeVolumeModel(src, "/opt/models");
    const pushed = await pushModel(src, parseReference(`${reg.host}/run/model:v1`), { keychain: anonymousKeychain });
    const specPath = join(tmp, "spec-model.yaml");
    writeFileSync(
      specPath,
      [
        `image: ${appRef}`,
        "name: model-spec",
        `args: ${JSON.stringify(model.args)}`,
        "modelDelivery: imageVolume",
        `models: [{id: "${pushed.reference}", path: /opt/models}]`,
        "",
      ].join("\n"),
    );
    const c = capture();
    expect((await run({ spec: specPath, "cache-dir": cacheDir }, c.io)).exitCode, c.err.join("\n")).toBe(0);
    // The layout containerd mounts and oras pulls (src/weights/index.ts), read-only.
    expect(c.out).toEqual(model.lines);
    expect(c.err.join("\n")).not.toContain("modelDelivery");
  });

  it("names the secret, never a value, when it is missing", async () => {
    const specPath = join(tmp, "spec-nosecret.yaml");
    writeFileSync(
      specPath,
      [
        `image: ${appRef}`,
        "repositories:",
        "  dataset: ds2",
        "  repositories:",
        `    - {url: ${git.repoUrl("data")}, name: data, username: bot, password: "SECRET:absent-one"}`,
        "",
      ].join("\n"),
    );
    const e = await pipelineErrorOf(run({ spec: specPath, "cache-dir": join(tmp, "cache-spec") }, capture().io));
    expect(e.code).toBe("E_SECRET_NOT_FOUND");
    expect(e.message).toContain("PIPELINE_SECRET_ABSENT_ONE");
  });

  it("runs a ServerAvailableInterpreter deployment as host processes in the code folder", async () => {
    const code = join(tmp, "code");
    mkdirSync(code, { recursive: true });
    writeFileSync(
      join(code, "main.js"),
      "console.log('host cwd=' + process.cwd() + ' NODE_PATH=' + process.env.NODE_PATH + ' secret=' + (process.env.PIPELINE_SECRET_X ?? 'none')); process.exit(5);\n",
    );
    const specPath = join(tmp, "spec-host.yaml");
    writeFileSync(
      specPath,
      [
        "name: host",
        "interpreter: {type: ServerAvailableInterpreter, nodePath: " + process.execPath + "}",
        `code: {type: ServerAvailableFolder, codePaths: [${code}]}`,
        "args: [main.js]",
        "",
      ].join("\n"),
    );
    const c = capture({ PIPELINE_SECRET_X: "not-for-children" });
    const saved = process.env.PIPELINE_SECRET_X;
    process.env.PIPELINE_SECRET_X = "not-for-children";
    try {
      expect(
        (await run({ spec: specPath, "cache-dir": join(tmp, "cache-host") }, c.io)).exitCode,
        c.err.join("\n"),
      ).toBe(5);
    } finally {
      if (saved === undefined) delete process.env.PIPELINE_SECRET_X;
      else process.env.PIPELINE_SECRET_X = saved;
    }
    expect(c.out).toEqual([`host cwd=${code} NODE_PATH=${code} secret=none`]);
  });
});
