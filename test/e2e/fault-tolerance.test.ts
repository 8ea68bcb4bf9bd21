/**
 * Fault tolerance against the real CNCF registry: pushes through a fault-injecting proxy (dropped connections
 * mid-request and mid-response, 5xx before and after the registry applied a request, 429 with Retry-After,
 * slow answers), a CLI push killed with SIGKILL mid-upload, concurrent pushes to one repository, and OCI layout
 * writes onto a full or read-only filesystem. skopeo, talking to the registry directly (never through the
 * proxy), is the independent check of what was pushed.
 */
import { forEachLimited } from "../../src/concurrency";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { Readable } from "node:stream";
import { gzipSync } from "node:zlib";
import { PipelineError } from "../../src/errors";
import { sha256 } from "../../src/oci/digest";
import { MediaType } from "../../src/oci/types";
import { bufferBlob } from "../../src/layer/blob";
import type { Layer, Image } from "../../src/oci/model";
import { composeImage } from "../../src/image/compose";
import { readLayout } from "../../src/layout/read";
import { writeLayout } from "../../src/layout/write";
import { anonymousKeychain } from "../../src/registry-auth/anonymous";
import { RegistryClient } from "../../src/registry/client";
import type { RetryOptions } from "../../src/registry/http";
import { pushImage, type PushResult } from "../../src/registry/push";
import { pushIndex } from "../../src/registry/push-index";
import { composeIndex } from "../../src/image/image-index";
import { forPlatform } from "../fixtures/multi-platform";
import { type FaultProxy, type FaultRates, startFaultProxy } from "../fixtures/fault-proxy";
import { type RunningRegistry, startRegistry } from "../fixtures/registry";
import { tarOf } from "../fixtures/random-image";

const SKOPEO = "/usr/bin/skopeo";
const ROOT = resolve(__dirname, "..", "..");
/** Fast retries for the long runs: many attempts, tiny backoff, Retry-After honoured as sent (1 s). */
const FAST: RetryOptions = { retries: 10, baseDelayMs: 5, maxDelayMs: 80, timeoutMs: 15_000 };

function run(
  file: string,
  args: string[],
  opts: { env?: NodeJS.ProcessEnv; timeout?: number } = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolvePromise) => {
    execFile(
      file,
      args,
      { env: opts.env ?? process.env, timeout: opts.timeout ?? 120_000, maxBuffer: 64 * 1024 * 1024 },
      (err, stdout, stderr) => {
        const code = err
          ? typeof (err as { code?: unknown }).code === "number"
            ? (err as { code: number }).code
            : 1
          : 0;
        resolvePromise({ code, stdout: String(stdout), stderr: String(stderr) });
      },
    );
  });
}

/** The digest of the raw manifest skopeo reads for `ref` (straight from the registry). */
async function skopeoDigest(ref: string): Promise<string> {
  const r = await new Promise<Buffer>((resolvePromise, reject) => {
    execFile(
      SKOPEO,
      ["inspect", "--raw", "--tls-verify=false", `docker://${ref}`],
      { encoding: "buffer", timeout: 60_000 },
      (err, stdout, stderr) => {
        if (err) reject(new Error(`skopeo inspect ${ref}: ${String(stderr)}`));
        else resolvePromise(stdout);
      },
    );
  });
  return sha256(r);
}

/** A gzipped one-file layer of `bytes` (random bytes do not compress: the blob is about as big). */
function layerOf(name: string, bytes: Buffer): Layer {
  const tar = tarOf(name, bytes);
  return { ...bufferBlob(gzipSync(tar), MediaType.OCI_LAYER_GZIP), diffId: sha256(tar) };
}

function imageOf(layers: Layer[], label: string): Image {
  return composeImage({
    layers: layers.map((layer, i) => ({ layer, createdBy: `layer ${i}` })),
    labels: { "test.push": label },
  });
}

function totals(proxy: FaultProxy): string {
  const c = proxy.counters;
  return (
    `${c.requests} requests, ${proxy.faults()} faults (dropRequest ${c.dropRequest}, dropResponse ${c.dropResponse}, ` +
    `5xx before ${c.errorBefore}, 5xx after ${c.errorAfter}, 429 ${c.tooMany}), ${c.delayed} delayed, ${c.locationsRewritten} Locations rewritten`
  );
}

/** On failure: the last client log lines and proxy entries, to see which faults led there. */
function dumpAndThrow(e: unknown, logs: string[], proxy: FaultProxy): never {
  console.log(`client log (last 40):\n${logs.slice(-40).join("\n")}`);
  console.log(
    `proxy log (last 40):\n${proxy.log
      .slice(-40)
      .map((x) => JSON.stringify(x))
      .join("\n")}`,
  );
  throw e;
}

let tmp: string;
let reg: RunningRegistry;

let built: Promise<string> | undefined;
/** The real CLI, compiled once from this tree into a private directory (dist/ is shared with other work). */
function buildCli(): Promise<string> {
  built ??= (async () => {
    const out = join(tmp, "cli");
    const tsc = await run(
      "npx",
      ["tsc", "-p", join(ROOT, "tsconfig.json"), "--outDir", out, "--declaration", "false"],
      { timeout: 300_000 },
    );
    const cli = join(out, "tools", "pipeline.js");
    if (!existsSync(cli)) throw new Error(`tsc did not build the CLI (${tsc.code}):\n${tsc.stdout}${tsc.stderr}`);
    return cli;
  })();
  return built;
}

/** An environment without anyone's credentials, where the compiled CLI finds its npm packages. */
function cliEnv(): NodeJS.ProcessEnv {
  const home = join(tmp, "home");
  mkdirSync(home, { recursive: true });
  return {
    ...process.env,
    HOME: home,
    DOCKER_CONFIG: join(home, ".docker"),
    XDG_CONFIG_HOME: join(home, ".config"),
    CI: "1",
    PIPELINE_TOOLS_NODE_MODULES: join(ROOT, "node_modules"),
  };
}
beforeAll(async () => {
  tmp = mkdtempSync(join(tmpdir(), "fault-tolerance-"));
  reg = await startRegistry();
});
afterAll(async () => {
  await reg?.stop();
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

describe("pushes through a faulty network", () => {
  const proxies: FaultProxy[] = [];
  afterAll(async () => {
    await Promise.all(proxies.map((p) => p.stop()));
  });
  const proxyWith = async (
    seed: number,
    rates: FaultRates,
    extra: Partial<Parameters<typeof startFaultProxy>[0]> = {},
  ) => {
    const p = await startFaultProxy({ upstream: reg.host, seed, rates, ...extra });
    proxies.push(p);
    return p;
  };

  it("100 consecutive multi-layer pushes all finish, and skopeo reads back every digest", async () => {
    // 10% dropped connections (half mid-request, half mid-response), 5% 5xx (half after the registry applied the
    // request), 1% 429 with Retry-After: 1, and 5% slow answers.
    const proxy = await proxyWith(20240601, {
      dropRequest: 0.05,
      dropResponse: 0.05,
      errorBefore: 0.025,
      errorAfter: 0.025,
      tooMany: 0.01,
      delay: 0.05,
    });
    const shared = layerOf("shared.bin", randomBytes(8 * 1024)); // in every image: uploaded once per repository, then skipped
    const bigs: Layer[] = [];
    const logs: string[] = [];
    const pushed: { ref: string; digest: string; result: PushResult }[] = [];
    const started = Date.now();
    let slowest = 0;
    for (let i = 0; i < 100; i++) {
      const t0 = Date.now();
      const fresh = layerOf(`fresh-${i}.bin`, randomBytes(2 * 1024 + i)); // new every push
      // Over the chunk threshold: goes up in PATCHes. Every fifth push reuses the one pushed to its repository last.
      const big = i % 5 === 4 ? bigs[i - 3] : layerOf(`big-${i}.bin`, randomBytes(96 * 1024));
      bigs.push(big);
      const image = imageOf([shared, fresh, big], `push ${i}`);
      const repository = `faults/app-${i % 3}`;
      const result = await pushImage(
        image,
        { registry: proxy.host, repository, tags: [`t${i}`] },
        {
          keychain: anonymousKeychain,
          retry: FAST,
          chunkThreshold: 64 * 1024,
          chunkSize: 40 * 1024,
          log: (l) => logs.push(l),
        },
      ).catch((e) => dumpAndThrow(e, logs, proxy));
      expect(result.digest).toBe(image.digest);
      slowest = Math.max(slowest, Date.now() - t0);
      pushed.push({ ref: `${reg.host}/${repository}@${result.digest}`, digest: image.digest, result });
    }
    const elapsed = Date.now() - started;

    await forEachLimited(pushed, 4, async (p) => {
      expect(await skopeoDigest(p.ref)).toBe(p.digest);
    });
    // A sample of tags too.
    for (const i of [0, 37, 99])
      expect(await skopeoDigest(`${reg.host}/faults/app-${i % 3}:t${i}`)).toBe(pushed[i].digest);

    const retries = logs.filter((l) => /retrying in/.test(l)).length;
    const chunkedPatches = proxy.log.filter((e) => e.method === "PATCH").length;
    const sessions = proxy.log.filter((e) => e.method === "POST" && e.upstreamStatus === 202).length;
    const uploads = pushed.reduce((n, p) => n + p.result.uploaded.length, 0);
    console.log(
      `100 pushes in ${elapsed} ms (slowest ${slowest} ms): ${totals(proxy)}; ${retries} retries; ` +
        `${uploads} blobs uploaded in ${sessions} upload sessions; ${chunkedPatches} PATCH requests`,
    );
    expect(proxy.counters.dropRequest + proxy.counters.dropResponse).toBeGreaterThan(50);
    expect(proxy.counters.errorBefore + proxy.counters.errorAfter).toBeGreaterThan(25);
    expect(proxy.counters.tooMany).toBeGreaterThan(3);
    expect(proxy.counters.locationsRewritten).toBeGreaterThan(0);
    expect(chunkedPatches).toBeGreaterThan(200);
    // Every fault costs a retry, but a response cut in its body (read after the transport returned it).
    expect(retries).toBeGreaterThanOrEqual(proxy.faults() - proxy.counters.dropResponse);
  });

  it("default retry settings recover from a few faults of every kind, honouring Retry-After", async () => {
    const firsts = new Set<string>();
    const once = (key: string) => (firsts.has(key) ? false : (firsts.add(key), true));
    // 429s only where forced, on requests whose path names them alone (every blob's POST shares one path), so
    // that the next request on the path is the retry.
    const proxy = await proxyWith(
      99,
      { dropRequest: 0.03, dropResponse: 0.03, errorBefore: 0.02, errorAfter: 0.02 },
      {
        // Each kind at least once, on the requests where it hurts most.
        force: (method, path) => {
          if (method === "HEAD" && once("head")) return "tooMany";
          if (method === "PATCH" && once("patch")) return "dropRequest";
          if (method === "PUT" && path.includes("/blobs/uploads/") && once("put-blob")) return "dropResponse";
          if (method === "PUT" && path.includes("/manifests/sha256:") && once("put-manifest")) return "errorAfter";
          if (method === "POST" && once("post")) return "errorBefore";
          if (method === "PUT" && path.includes("/manifests/") && !path.includes("sha256:") && once("put-tag"))
            return "tooMany";
          return undefined;
        },
      },
    );
    const logs: string[] = [];
    const started = Date.now();
    for (let i = 0; i < 4; i++) {
      const image = imageOf(
        [layerOf("a.bin", randomBytes(4096)), layerOf("big.bin", randomBytes(80 * 1024))],
        `defaults ${i}`,
      );
      const result = await pushImage(
        image,
        { registry: proxy.host, repository: "faults/defaults", tags: [`d${i}`] },
        { keychain: anonymousKeychain, chunkThreshold: 64 * 1024, chunkSize: 32 * 1024, log: (l) => logs.push(l) },
      ).catch((e) => dumpAndThrow(e, logs, proxy));
      expect(await skopeoDigest(`${reg.host}/faults/defaults@${result.digest}`)).toBe(image.digest);
      expect(await skopeoDigest(`${reg.host}/faults/defaults:d${i}`)).toBe(image.digest);
    }
    const retries = logs.filter((l) => /retrying in/.test(l)).length;
    console.log(`default retry settings: 4 pushes in ${Date.now() - started} ms: ${totals(proxy)}; ${retries} retries`);
    for (const kind of ["dropRequest", "dropResponse", "errorBefore", "errorAfter"] as const)
      expect(proxy.counters[kind]).toBeGreaterThan(0);
    expect(proxy.counters.tooMany).toBe(2);
    // After each 429 the same request came back no sooner than Retry-After (1 s) later.
    const log = proxy.log;
    log.forEach((e, i) => {
      if (e.fault !== "tooMany") return;
      const again = log.slice(i + 1).find((x) => x.method === e.method && x.path === e.path);
      expect(again, `${e.method} ${e.path} retried`).toBeDefined();
      expect(again!.at - e.at).toBeGreaterThanOrEqual(990);
    });
  });

  it("two pushes of different images to one repository at the same time both succeed (same and different tags)", async () => {
    // Through the faulty proxy, and straight to the registry (more rounds: distribution 2.8 rewrites a repository's
    // blob link in place, so a manifest PUT racing another push of the same blob is sometimes told
    // MANIFEST_BLOB_UNKNOWN; the push retries that).
    const proxy = await proxyWith(4242, {
      dropRequest: 0.05,
      dropResponse: 0.05,
      errorBefore: 0.025,
      errorAfter: 0.025,
    });
    const logs: string[] = [];
    const started = Date.now();
    const pairs = async (registry: string, rounds: number, repository: string) => {
      const push = (image: Image, tag: string) =>
        pushImage(
          image,
          { registry, repository, tags: [tag] },
          {
            keychain: anonymousKeychain,
            retry: FAST,
            chunkThreshold: 64 * 1024,
            chunkSize: 40 * 1024,
            log: (l) => logs.push(l),
          },
        ).catch((e) => dumpAndThrow(e, logs, proxy));
      const checks: [string, string[]][] = [];
      for (let round = 0; round < rounds; round++) {
        // The images share a layer none has pushed yet: sessions upload the same blob at once.
        const shared = layerOf("shared.bin", randomBytes(96 * 1024));
        const mk = (name: string) =>
          imageOf([shared, layerOf(`${name}.bin`, randomBytes(8 * 1024))], `${name} ${round}`);
        const [a, b, c, d] = [mk("a"), mk("b"), mk("c"), mk("d")];
        const [ra, rb] = await Promise.all([push(a, `a${round}`), push(b, `b${round}`)]);
        const [rc, rd] = await Promise.all([push(c, `same${round}`), push(d, `same${round}`)]);
        expect([ra.digest, rb.digest, rc.digest, rd.digest]).toEqual([a.digest, b.digest, c.digest, d.digest]);
        for (const img of [a, b, c, d]) checks.push([`${reg.host}/${repository}@${img.digest}`, [img.digest]]);
        checks.push(
          [`${reg.host}/${repository}:a${round}`, [a.digest]],
          [`${reg.host}/${repository}:b${round}`, [b.digest]],
        );
        checks.push([`${reg.host}/${repository}:same${round}`, [c.digest, d.digest]]);
      }
      await forEachLimited(checks, 4, async ([ref, digests]) => {
        expect(digests).toContain(await skopeoDigest(ref));
      });
    };
    await pairs(proxy.host, 5, "faults/together");
    await pairs(reg.host, 25, "faults/together-direct");
    const manifestRetries = logs.filter((l) => /MANIFEST_BLOB_UNKNOWN; retrying/.test(l)).length;
    console.log(
      `concurrent pushes (5 rounds through the proxy, 25 direct; 4 pushes each) in ${Date.now() - started} ms: ${totals(proxy)}; ` +
        `${manifestRetries} manifest PUTs retried after MANIFEST_BLOB_UNKNOWN`,
    );
  });
});

describe("a CLI push killed with SIGKILL mid-upload", () => {
  let cli: string;
  let env: NodeJS.ProcessEnv;
  let proxy: FaultProxy;

  beforeAll(async () => {
    cli = await buildCli();
    env = cliEnv();
    proxy = await startFaultProxy({ upstream: reg.host });
  });
  afterAll(async () => {
    await proxy?.stop();
  });

  function spawnCli(args: string[]): {
    child: ChildProcess;
    stdout: () => string;
    stderr: () => string;
    exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  } {
    const child = spawn(process.execPath, [cli, ...args], { env, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout!.on("data", (c) => (stdout += String(c)));
    child.stderr!.on("data", (c) => (stderr += String(c)));
    const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) =>
      child.once("close", (code, signal) => r({ code, signal })),
    );
    return { child, stdout: () => stdout, stderr: () => stderr, exit };
  }

  it("the killed run reports and tags nothing; the next run completes", async () => {
    const layout = join(tmp, "kill-layout");
    // Bigger than what loopback socket buffers hold (a few MiB each side), or the bytes a killed client already
    // handed to its kernel would still reach the registry whole. Over the CLI's 16 MiB chunk threshold, too.
    const big = layerOf("big.bin", randomBytes(32 * 1024 * 1024));
    const image = imageOf(
      [layerOf("small.bin", randomBytes(2048)), big, layerOf("other.bin", randomBytes(4096))],
      "killed",
    );
    await writeLayout(layout, image);
    const repository = `${proxy.host}/faults/killed`;
    const direct = new RegistryClient(reg.host, { keychain: anonymousKeychain });

    proxy.setThrottle(512 * 1024);
    const first = spawnCli(["push", layout, "--repository", repository, "--tag", "v1"]);
    const deadline = Date.now() + 60_000;
    // Mid-upload: a good part of the big layer went through, the manifest did not.
    while (proxy.counters.requestBodyBytes < 1024 * 1024) {
      if (Date.now() > deadline) throw new Error(`the push never got going: ${first.stderr()}`);
      await new Promise((r) => setTimeout(r, 20));
    }
    const bytesAtKill = proxy.counters.requestBodyBytes;
    expect(proxy.log.filter((e) => e.path.includes("/manifests/") && e.method !== "HEAD")).toEqual([]);
    expect(proxy.inFlight()).toBeGreaterThan(0);
    first.child.kill("SIGKILL");
    const killed = await first.exit;
    expect(killed.signal).toBe("SIGKILL");
    expect(first.stdout()).not.toMatch(/@sha256:/);

    // What the killed client's kernel still had goes on (unthrottled now), then the request ends short.
    proxy.setThrottle(undefined);
    while (proxy.inFlight() > 0) await new Promise((r) => setTimeout(r, 20));
    const bytesAtEnd = proxy.counters.requestBodyBytes;
    expect(bytesAtEnd).toBeLessThan(big.size);
    expect(await direct.blobExists("faults/killed", big.digest)).toBeUndefined();
    // Nothing is tagged or reported: the tag is unknown, by us and by skopeo.
    expect(await direct.headManifest("faults/killed", "v1")).toBeUndefined();
    expect(await direct.headManifest("faults/killed", image.digest)).toBeUndefined();
    await expect(skopeoDigest(`${reg.host}/faults/killed:v1`)).rejects.toThrow(/manifest unknown|not found/i);

    const second = spawnCli(["push", layout, "--repository", repository, "--tag", "v1"]);
    const done = await second.exit;
    expect(done, second.stderr()).toEqual({ code: 0, signal: null });
    expect(second.stdout().trim()).toBe(`${repository}@${image.digest}`);
    expect(second.stderr()).toMatch(/: pushed \((tagged [^)]*, )?[1-4] blob\(s\) uploaded/); // at least the big layer, again
    expect(await skopeoDigest(`${reg.host}/faults/killed:v1`)).toBe(image.digest);
    console.log(
      `SIGKILL after ${bytesAtKill} of ${big.size} bytes of the big layer went upstream (${bytesAtEnd} by the time its ` +
        `connection ended); rerun: ${second.stderr().trim().split("\n").at(-1)}`,
    );
  });
});

describe("writing an OCI layout onto a read-only or full filesystem", () => {
  const mounts: string[] = [];
  afterAll(async () => {
    for (const m of mounts.reverse()) await run("umount", [m]);
  });

  /** Mounts a tmpfs at a new directory; the reason it could not, if it could not. */
  async function tmpfs(name: string, options: string): Promise<{ dir: string } | { reason: string }> {
    const dir = join(tmp, name);
    mkdirSync(dir, { recursive: true });
    const r = await run("mount", ["-t", "tmpfs", "-o", options, "tmpfs", dir]);
    if (r.code !== 0) return { reason: `cannot mount a tmpfs (${options}): ${r.stderr.trim() || `exit ${r.code}`}` };
    mounts.push(dir);
    return { dir };
  }

  /** The digest of the layout at `dir` if a reader would trust it (every blob present and matching), else undefined. */
  function trusted(dir: string): string | undefined {
    try {
      const image = readLayout(dir);
      for (const l of image.layers) {
        if (sha256(readFileSync(join(dir, "blobs", "sha256", l.digest.slice(7)))) !== l.digest) return undefined;
      }
      return image.digest;
    } catch {
      return undefined;
    }
  }

  async function layoutError(p: Promise<unknown>): Promise<PipelineError> {
    const e = await p.then(
      () => undefined,
      (err: unknown) => err,
    );
    expect(e).toBeInstanceOf(PipelineError);
    return e as PipelineError;
  }

  /** `pipeline pull REFERENCE --output OUTPUT [FLAGS...]` */
  async function pullCli(reference: string, output: string, ...flags: string[]) {
    return run(process.execPath, [await buildCli(), "pull", reference, "--output", output, ...flags], {
      env: cliEnv(),
    });
  }

  const tiny = imageOf([layerOf("tiny.bin", randomBytes(1024))], "tiny");
  const small = imageOf([layerOf("small.bin", randomBytes(32 * 1024))], "small");
  // About 1.5 MiB: does not fit a 1 MiB tmpfs.
  const big = imageOf(
    [0, 1, 2, 3].map((i) => layerOf(`big-${i}.bin`, randomBytes(384 * 1024))),
    "big",
  );

  // The same layers for two platforms (a shared blob counts once): about 1.5 MiB, as big.
  const bigIndex = composeIndex([forPlatform(big, "amd64"), forPlatform(big, "arm64", "v8")]);

  beforeAll(async () => {
    await pushImage(
      tiny,
      { registry: reg.host, repository: "faults/disk", tags: ["tiny"] },
      { keychain: anonymousKeychain },
    );
    await pushImage(
      small,
      { registry: reg.host, repository: "faults/disk", tags: ["small"] },
      { keychain: anonymousKeychain },
    );
    await pushImage(
      big,
      { registry: reg.host, repository: "faults/disk", tags: ["big"] },
      { keychain: anonymousKeychain },
    );
    await pushIndex(
      bigIndex,
      { registry: reg.host, repository: "faults/disk", tags: ["big-index"] },
      { keychain: anonymousKeychain },
    );
  });

  it("an unwritable parent directory is a PipelineError naming the path (CLI: exit 1), and leaves nothing behind", async (ctx) => {
    let parent: string;
    if (process.getuid?.() === 0) {
      // root writes through permission bits: a read-only filesystem is what stops it.
      const m = await tmpfs("read-only", "ro,size=64k");
      if ("reason" in m) return ctx.skip(m.reason);
      parent = m.dir;
    } else {
      parent = join(tmp, "read-only");
      mkdirSync(parent, { recursive: true });
      chmodSync(parent, 0o555);
    }
    const dest = join(parent, "layout");
    const e = await layoutError(writeLayout(dest, tiny, { atomic: true }));
    expect(e.code).toBe("E_LAYOUT_WRITE");
    expect(e.message).toContain(dest);
    expect(readdirSync(parent)).toEqual([]);

    const r = await pullCli(`${reg.host}/faults/disk:tiny`, dest);
    expect(r.code, r.stderr).toBe(1);
    expect(r.stderr).toMatch(/^error\[E_LAYOUT_WRITE\]: /m);
    expect(r.stderr).toContain(dest);
    expect(r.stderr).not.toMatch(/internal error|please report/i);
    expect(r.stdout).toBe("");
    expect(readdirSync(parent)).toEqual([]);
  });

  it("a full disk (1 MiB tmpfs): ENOSPC is a PipelineError; the destination is absent or still the previous layout; no temp dirs", async (ctx) => {
    const m = await tmpfs("full", "size=1m");
    if ("reason" in m) return ctx.skip(m.reason);
    const dest = join(m.dir, "layout");

    const e = await layoutError(writeLayout(dest, big, { atomic: true }));
    expect(e.code).toBe("E_LAYOUT_WRITE");
    expect(e.message).toContain(dest);
    expect(e.message).toMatch(/ENOSPC|no space/i);
    expect(readdirSync(m.dir)).toEqual([]); // absent, and no temporary directory

    await writeLayout(dest, tiny, { atomic: true }); // a good layout, then a write that does not fit over it
    const again = await layoutError(writeLayout(dest, big, { atomic: true }));
    expect(again.message).toMatch(/ENOSPC|no space/i);
    expect(readdirSync(m.dir)).toEqual(["layout"]);
    expect(trusted(dest)).toBe(tiny.digest);

    // The manifest's sizes say it cannot fit: refused before a blob is downloaded (E_NO_SPACE, naming the file system).
    const r = await pullCli(`${reg.host}/faults/disk:big`, dest);
    expect(r.code, r.stderr).toBe(1);
    expect(r.stderr).toMatch(
      /^error\[E_NO_SPACE\]: .*faults\/disk:big: downloading its 4 layer\(s\) .* into .* does not fit: it needs .*, and .* is free/m,
    );
    expect(r.stderr).toContain(m.dir);
    expect(r.stdout).toBe("");
    expect(readdirSync(m.dir)).toEqual(["layout"]);
    expect(trusted(dest)).toBe(tiny.digest);

    // A pull that fits replaces it.
    const fits = await pullCli(`${reg.host}/faults/disk:small`, dest);
    expect(fits.code, fits.stderr).toBe(0);
    expect(fits.stdout.trim()).toBe(`${reg.host}/faults/disk@${small.digest}`);
    expect(readdirSync(m.dir)).toEqual(["layout"]);
    expect(trusted(dest)).toBe(small.digest);
  });

  it("an index too big for the disk (pull --all-platforms): E_NO_SPACE before any layer is downloaded; the layout stays", async (ctx) => {
    const m = await tmpfs("full-index", "size=1m");
    if ("reason" in m) return ctx.skip(m.reason);
    const dest = join(m.dir, "layout");
    await writeLayout(dest, tiny, { atomic: true });
    const before = reg.requests().length;
    const r = await pullCli(`${reg.host}/faults/disk:big-index`, dest, "--all-platforms");
    expect(r.code, r.stderr).toBe(1);
    expect(r.stderr).toMatch(
      /^error\[E_NO_SPACE\]: .*faults\/disk:big-index: downloading its 4 layer\(s\) of 2 platform\(s\) .* into .* does not fit: it needs .*, and .* is free/m,
    );
    const fetched = reg
      .requests()
      .slice(before)
      .filter((q) => q.method === "GET" && q.path.includes("/blobs/"));
    for (const l of big.layers) expect(fetched.some((q) => q.path.endsWith(l.digest))).toBe(false);
    expect(readdirSync(m.dir)).toEqual(["layout"]);
    expect(trusted(dest)).toBe(tiny.digest);
    // With room, the same pull writes the index whole.
    const roomy = join(tmp, "roomy-index");
    const fits = await pullCli(`${reg.host}/faults/disk:big-index`, roomy, "--all-platforms");
    expect(fits.code, fits.stderr).toBe(0);
    expect(fits.stdout.trim()).toBe(`${reg.host}/faults/disk@${bigIndex.digest}`);
  });

  it("a blob stream failing with ENOSPC (no mount needed): the same guarantees", async () => {
    const parent = join(tmp, "enospc");
    mkdirSync(parent, { recursive: true });
    const dest = join(parent, "layout");
    const failing = (image: Image): Image => {
      const [first, ...rest] = image.layers;
      const broken: Layer = {
        ...first,
        path: undefined,
        open: () => {
          let sent = 0;
          return new Readable({
            read() {
              if (sent >= 64 * 1024) {
                const err = Object.assign(new Error("ENOSPC: no space left on device, write"), {
                  code: "ENOSPC",
                  errno: -28,
                });
                this.destroy(err);
                return;
              }
              sent += 16 * 1024;
              this.push(randomBytes(16 * 1024));
            },
          });
        },
      };
      return { ...image, layers: [broken, ...rest] };
    };
    const e = await layoutError(writeLayout(dest, failing(big), { atomic: true }));
    expect(e.code).toBe("E_LAYOUT_WRITE");
    expect(e.message).toContain(dest);
    expect(e.message).toContain("ENOSPC");
    expect(readdirSync(parent)).toEqual([]);

    await writeLayout(dest, tiny, { atomic: true });
    await layoutError(writeLayout(dest, failing(big), { atomic: true }));
    expect(readdirSync(parent)).toEqual(["layout"]);
    expect(trusted(dest)).toBe(tiny.digest);
  });
});
