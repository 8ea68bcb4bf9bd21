/**
 * The S3 object store (src/runtime/s3.ts) against a real S3 server: versitygw on loopback (test/fixtures/s3-server.ts),
 * its root account and IAM users checking every request's Signature V4. Round trips of awkward sizes and keys, the
 * bound, each refusal as one E_MAP_STORE error that names where and S3's code but never the secret, the narrow
 * identity's scope, the map store's policy, and the CLI side's credential chain (src/credentials/aws-chain.ts) reading
 * a profile from temporary AWS files.
 */
import { createHash, randomBytes } from "node:crypto";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type Server, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { awsChainCredentials, s3Location } from "../../src/credentials/aws-chain";
import { encodeValue, resultKey } from "../../src/runtime/map-codec";
import { ObjectStoreError, blobKey } from "../../src/runtime/object-store";
import { type S3Credentials, S3Store, type S3StoreOptions } from "../../src/runtime/s3";
import { S3_BUILD_WAIT_MS, type S3Server, s3Request, startS3Server } from "../fixtures/s3-server";

let s3: S3Server;
const tmp = mkdtempSync(join(tmpdir(), "s3-store-test-"));
/** Everything written to stdout and stderr while the tests run: no secret may be in it. */
const logged: string[] = [];
const writes = { out: process.stdout.write, err: process.stderr.write };

/**
 * What versitygw could leave in /tmp besides the server's own directory (checked by name below: another file's server,
 * such as the cluster lane's, may have one of its own there at the same time).
 */
const serverFiles = () => readdirSync(tmpdir()).filter((f) => /^(versitygw|vgw)/.test(f));
const serverFilesBefore = serverFiles();

beforeAll(async () => {
  s3 = await startS3Server();
  for (const [stream, orig] of [
    [process.stdout, writes.out],
    [process.stderr, writes.err],
  ] as const)
    stream.write = ((chunk: string | Uint8Array, ...rest: never[]) => {
      logged.push(String(chunk));
      return orig.call(stream, chunk, ...rest);
    }) as typeof stream.write;
}, S3_BUILD_WAIT_MS);

afterAll(async () => {
  process.stdout.write = writes.out;
  process.stderr.write = writes.err;
  const pid = s3?.pid;
  const dir = s3?.dir;
  await s3?.stop();
  rmSync(tmp, { recursive: true, force: true });
  // No process of the server's group is left, nor a file of its in /tmp.
  if (pid) expect(() => process.kill(-pid, 0)).toThrow(/ESRCH/);
  if (dir) expect(existsSync(dir), dir).toBe(false);
  expect(serverFiles().filter((f) => !serverFilesBefore.includes(f))).toEqual([]);
});

function store(over: Partial<S3StoreOptions> = {}): S3Store {
  return new S3Store({ bucket: s3.bucket, prefix: "runs/all/", endpoint: s3.endpoint, credentials: s3.admin, ...over });
}

async function failure(p: Promise<unknown>): Promise<ObjectStoreError> {
  const e = await p.then(
    () => undefined,
    (x: unknown) => x,
  );
  expect(e).toBeInstanceOf(ObjectStoreError);
  return e as ObjectStoreError;
}

describe("round trips", () => {
  test("0 bytes, 1 byte and 20 MiB, under content and awkward keys; a missing key is undefined", async () => {
    const st = store();
    await st.check();
    const big = randomBytes(20 << 20);
    const objects: [string, Buffer][] = [
      ["empty", Buffer.alloc(0)],
      ["one", Buffer.from([0xff])],
      [blobKey(createHash("sha256").update(big).digest("hex")), big],
      ["odd keys/a b+c%d?e#f=g&h~ü/€ *'()!$,;:@[].bin", Buffer.from("odd")],
    ];
    for (const [key, body] of objects) {
      expect(await st.has(key)).toBe(false);
      await st.put(key, body);
      expect(await st.has(key)).toBe(true);
      const back = await st.get(key, 32 << 20);
      expect(back?.length).toBe(body.length);
      expect(back?.equals(body)).toBe(true);
    }
    // Written again (content-addressed: the same bytes), still the same object.
    await st.put(objects[3][0], objects[3][1]);
    expect((await st.get(objects[3][0], 10))?.toString()).toBe("odd");
    expect(await st.get("results/never-written", 10)).toBeUndefined();
    expect(await st.has("results/never-written")).toBe(false);
  });

  test("list: the keys under a directory of the prefix, page after page, none outside it; undefined past the limit", async () => {
    const st = store({ prefix: "runs/listing/" });
    expect(await st.list("results/", 10)).toEqual([]);
    const keys = Array.from({ length: 1203 }, (_, i) => `results/${String(i).padStart(5, "0")}`);
    await Promise.all(
      Array.from({ length: 16 }, async (_, w) => {
        for (let i = w; i < keys.length; i += 16) await st.put(keys[i], Buffer.from("r"));
      }),
    );
    await st.put("results-not/x", Buffer.from("x"));
    await st.put("odd dir/a+b ü", Buffer.from("x"));
    await store({ prefix: "runs/listing-other/" }).put("results/y", Buffer.from("y"));
    // Two pages of ListObjectsV2 (1,000 keys each at most): all of them, no key of a sibling directory or prefix.
    expect((await st.list("results/", 5000))?.sort()).toEqual(keys);
    expect(await st.list("results/", 1202)).toBeUndefined();
    expect(await st.list("odd dir/", 5)).toEqual(["odd dir/a+b ü"]);
  });

  test("an object above the bound is refused from its Content-Length, before its body is read", async () => {
    const st = store();
    await st.put("large", randomBytes(20 << 20));
    const e = await failure(st.get("large", 1 << 20));
    expect(e.code).toBe("E_MAP_STORE_TOO_LARGE");
    // The whole length, which only the answer's header gives (a body counted as it flows is "more than" the bound).
    expect(e.message).toBe(`s3://maps/runs/all/large: ${20 << 20} bytes, above the limit of ${1 << 20}`);
  });
});

describe("refusals: one E_MAP_STORE error naming where, the endpoint and S3's code", () => {
  test("a wrong secret: SignatureDoesNotMatch, and the secret is nowhere", async () => {
    const wrong = `wrong-${randomBytes(12).toString("hex")}`;
    const e = await failure(store({ credentials: { ...s3.admin, secretAccessKey: wrong } }).check());
    expect(e.code).toBe("E_MAP_STORE");
    expect(e.message).toMatch(
      new RegExp(
        `^s3://maps/runs/all/ at ${s3.endpoint}: the secret access key does not match the access key id \\(HTTP 403 SignatureDoesNotMatch\\)`,
      ),
    );
    for (const text of [e.message, String(e.stack), JSON.stringify(e), ...logged]) {
      expect(text).not.toContain(wrong);
      expect(text).not.toContain(s3.admin.secretAccessKey);
    }
  });

  test("an unknown access key: InvalidAccessKeyId", async () => {
    const e = await failure(store({ credentials: { accessKeyId: "AKIDNOSUCHKEY", secretAccessKey: "x" } }).check());
    expect(e.message).toContain(
      `s3://maps/runs/all/ at ${s3.endpoint}: the access key id is not known to this endpoint (HTTP 403 InvalidAccessKeyId)`,
    );
  });

  test("a bucket that does not exist: NoSuchBucket", async () => {
    const e = await failure(store({ bucket: "no-such-bucket" }).check());
    expect(e.message).toContain(
      `s3://no-such-bucket/runs/all/ at ${s3.endpoint}: the bucket no-such-bucket does not exist (HTTP 404 NoSuchBucket)`,
    );
  });

  test("an endpoint nobody listens on: refused, retried a bounded number of times", async () => {
    const port = await new Promise<number>((resolve) => {
      const srv = createServer().listen(0, "127.0.0.1", () => {
        const a = srv.address();
        srv.close(() => resolve(typeof a === "object" && a ? a.port : 0));
      });
    });
    const e = await failure(store({ endpoint: `http://127.0.0.1:${port}` }).check());
    expect(e.message).toBe(
      `s3://maps/runs/all/.rules_pipeline-check at http://127.0.0.1:${port} (PUT): the endpoint does not answer: ` +
        `connect ECONNREFUSED 127.0.0.1:${port} (4 attempts)`,
    );
  });

  test("an endpoint that takes the connection and never answers: the headers timeout", async () => {
    const held: Socket[] = [];
    const silent: Server = createServer((s) => held.push(s));
    await new Promise<void>((r) => silent.listen(0, "127.0.0.1", r));
    const a = silent.address();
    const port = typeof a === "object" && a ? a.port : 0;
    try {
      const st = store({ endpoint: `http://127.0.0.1:${port}`, maxAttempts: 2, timeouts: { headersMs: 500 } });
      const e = await failure(st.has("k"));
      expect(e.message).toBe(
        `s3://maps/runs/all/k at http://127.0.0.1:${port} (HEAD): the endpoint does not answer: no answer in 500 ms (2 attempts)`,
      );
    } finally {
      for (const s of held) s.destroy();
      await new Promise((r) => silent.close(r));
    }
  });
});

/** A signed request of our own, for what the store never does (listing, deleting): its HTTP status. */
async function raw(
  c: S3Credentials,
  method: string,
  path: string,
  query: Record<string, string> = {},
): Promise<number> {
  return (await s3Request(s3.endpoint, c, method, path, { query })).status;
}
const list = (prefix: string) => ({ "list-type": "2", prefix });

describe("the narrow identity (s3:GetObject, s3:PutObject and s3:DeleteObject on maps/runs/narrow/* only)", () => {
  test("reads and writes its prefix; is refused elsewhere, and cannot list", async () => {
    const mine = store({ prefix: s3.narrowPrefix, credentials: s3.narrow });
    await mine.check();
    await mine.put("results/a", Buffer.from("mine"));
    expect((await mine.get("results/a", 10))?.toString()).toBe("mine");
    expect(await mine.has("results/a")).toBe(true);
    expect(await mine.has("results/b")).toBe(false);

    await store().put("theirs", Buffer.from("theirs"));
    for (const prefix of ["runs/all/", "runs/narrow-other/", "runs/", ""]) {
      const elsewhere = store({ prefix, credentials: s3.narrow });
      const e = await failure(elsewhere.check());
      expect(e.message).toMatch(
        new RegExp(
          `^s3://maps/${prefix}\\S* at ${s3.endpoint}: the credential is not allowed to do this here \\(HTTP 403 AccessDenied\\)`,
        ),
      );
    }
    const e = await failure(store({ credentials: s3.narrow }).get("theirs", 10));
    expect(e.message).toContain("(HTTP 403 AccessDenied)");
    // Listing is a separate action (s3:ListBucket), not granted; s3:DeleteObject is.
    expect(await raw(s3.narrow, "GET", `/${s3.bucket}`, list(s3.narrowPrefix))).toBe(403);
    expect(await raw(s3.admin, "GET", `/${s3.bucket}`, list(s3.narrowPrefix))).toBe(200);
    expect(await raw(s3.narrow, "DELETE", `/${s3.bucket}/${s3.narrowPrefix}results/a`)).toBe(204);
    // The store's list says "cannot list" (the caller asks key by key) rather than failing.
    expect(await mine.list("results/", 10)).toBeUndefined();
  });
});

describe("the identity with the map store's policy (s3:GetObject, s3:PutObject on maps/runs/policy/*, s3:ListBucket there)", () => {
  test("reads and writes its prefix, lists only it, cannot delete, is refused elsewhere", async () => {
    const mine = store({ prefix: s3.policyPrefix, credentials: s3.policy });
    await mine.check();
    await mine.put("results/a", Buffer.from("mine"));
    expect((await mine.get("results/a", 10))?.toString()).toBe("mine");
    expect(await mine.has("results/b")).toBe(false);
    expect(await raw(s3.policy, "GET", `/${s3.bucket}`, list(s3.policyPrefix))).toBe(200);
    expect(await raw(s3.policy, "GET", `/${s3.bucket}`, list("runs/"))).toBe(403);
    expect(await mine.list("results/", 10)).toEqual(["results/a"]);
    expect(await raw(s3.policy, "DELETE", `/${s3.bucket}/${s3.policyPrefix}results/a`)).toBe(403);
    const e = await failure(store({ prefix: "runs/all/", credentials: s3.policy }).check());
    expect(e.message).toContain("(HTTP 403 AccessDenied)");
  });
});

describe("the CLI side's credential chain", () => {
  test("a profile of a temporary AWS_SHARED_CREDENTIALS_FILE and AWS_CONFIG_FILE reaches the bucket", async () => {
    const credentials = join(tmp, "credentials");
    const config = join(tmp, "config");
    writeFileSync(
      credentials,
      `[default]\naws_access_key_id = AKIDDEFAULT\naws_secret_access_key = not-this-one\n\n` +
        `[maps]\naws_access_key_id = ${s3.narrow.accessKeyId}\naws_secret_access_key = ${s3.narrow.secretAccessKey}\n`,
      { mode: 0o600 },
    );
    writeFileSync(config, "[profile maps]\noutput = json\n");
    const env = {
      AWS_PROFILE: "maps",
      AWS_SHARED_CREDENTIALS_FILE: credentials,
      AWS_CONFIG_FILE: config,
      AWS_ENDPOINT_URL_S3: s3.endpoint,
    };
    const where = `s3://${s3.bucket}/${s3.narrowPrefix}`;
    const got = await awsChainCredentials(where, { env });
    expect(got.accessKeyId).toBe(s3.narrow.accessKeyId);
    const location = s3Location(where, {}, env);
    expect(location).toEqual({ endpoint: s3.endpoint, region: "us-east-1" });
    await new S3Store({ bucket: s3.bucket, prefix: s3.narrowPrefix, ...location, credentials: got }).check();
  });
});

describe("pipeline map with its items and results in the bucket (--artifacts s3://…)", () => {
  const calls = join(tmp, "calls");
  const run = async (args: string[], env: NodeJS.ProcessEnv) => {
    const { runCli } = await import("../fixtures/cli.js");
    return runCli(["map", "--task", "task.js#double", "--items", "items.jsonl", ...args], {
      cwd: tmp,
      env: { ...process.env, PIPELINE_CACHE_DIR: join(tmp, "cache"), AWS_ENDPOINT_URL_S3: s3.endpoint, ...env },
    });
  };
  const narrowEnv = () => ({
    AWS_ACCESS_KEY_ID: s3.narrow.accessKeyId,
    AWS_SECRET_ACCESS_KEY: s3.narrow.secretAccessKey,
  });

  test("the prefix-scoped identity runs the map; run again, every result comes from the bucket and no task runs", async () => {
    const { mkdirSync } = await import("node:fs");
    mkdirSync(calls, { recursive: true });
    writeFileSync(
      join(tmp, "task.js"),
      `exports.double = (x) => { require("node:fs").writeFileSync(${JSON.stringify(calls)} + "/" + x + "-" + Math.random(), ""); return { x, twice: 2 * x }; };\n`,
    );
    writeFileSync(join(tmp, "items.jsonl"), `${Array.from({ length: 12 }, (_, i) => i).join("\n")}\n`);
    const where = `s3://${s3.bucket}/${s3.narrowPrefix}maps/`;
    const first = await run(["--artifacts", where, "--parallelism", "3", "--chunk-size", "2"], narrowEnv());
    expect(first.code, first.stderr).toBe(0);
    expect(
      first.stdout
        .trim()
        .split("\n")
        .map((l) => JSON.parse(l)),
    ).toEqual(Array.from({ length: 12 }, (_, x) => ({ x, twice: 2 * x })));
    expect(readdirSync(calls)).toHaveLength(12);
    const again = await run(["--artifacts", where], narrowEnv());
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout).toBe(first.stdout);
    expect(again.stderr).toContain("12/12 done (12 reused from the store)");
    expect(readdirSync(calls)).toHaveLength(12);
    // What the map stored is where the keys say, under the narrow identity's prefix (which may not list: the plan
    // asked key by key): each result's record, carrying the result (small: no blob, src/runtime/map-codec.ts); not the
    // items, small enough to travel in the plan (src/runtime/map-items.ts).
    const mine = store({ prefix: `${s3.narrowPrefix}maps/`, credentials: s3.narrow });
    const hex = (v: unknown) => createHash("sha256").update(encodeValue(v)).digest("hex");
    const code = `file:sha256:${createHash("sha256")
      .update(readFileSync(join(tmp, "task.js")))
      .digest("hex")}`;
    const record = await mine.get(resultKey(code, { module: "task.js", export: "double" }, hex(3)), 1 << 16);
    const carried = JSON.parse(String(record)) as { result: string; inline?: string };
    expect([carried.result, Buffer.from(carried.inline ?? "", "base64")]).toEqual([
      hex({ x: 3, twice: 6 }),
      encodeValue({ x: 3, twice: 6 }),
    ]);
    expect(await mine.has(blobKey(hex({ x: 3, twice: 6 })))).toBe(false);
    expect(await mine.has(blobKey(hex(3)))).toBe(false);
  });

  test("a refused credential, or a prefix the identity may not write, is one E_MAP_STORE error before any task runs; the secret is not printed", async () => {
    const before = readdirSync(calls).length;
    const secret = `wrong-${randomBytes(8).toString("hex")}`;
    const wrong = await run(["--artifacts", `s3://${s3.bucket}/${s3.narrowPrefix}maps/`], {
      AWS_ACCESS_KEY_ID: s3.narrow.accessKeyId,
      AWS_SECRET_ACCESS_KEY: secret,
    });
    expect(wrong.code).not.toBe(0);
    expect(wrong.stderr).toContain("error[E_MAP_STORE]");
    expect(wrong.stderr).toContain("SignatureDoesNotMatch");
    expect(wrong.stderr + wrong.stdout).not.toContain(secret);
    const elsewhere = await run(["--artifacts", `s3://${s3.bucket}/runs/all/maps/`], narrowEnv());
    expect(elsewhere.code).not.toBe(0);
    expect(elsewhere.stderr).toContain("error[E_MAP_STORE]");
    expect(elsewhere.stderr).toContain("AccessDenied");
    expect(readdirSync(calls)).toHaveLength(before);
  });
});

describe("pipeline map --on container with an S3 store: the containers reach the bucket with the caller's credential", () => {
  test("an image with the task and the runtime's files maps in runc containers; the results are the bucket's", async () => {
    const { buildMapImage } = await import("../fixtures/map-image.js");
    const task = "exports.shout = (s) => s.toUpperCase() + '!';\n";
    const { image, layoutRef } = await buildMapImage(join(tmp, "image"), { "task.js": task });
    writeFileSync(join(tmp, "task.js"), task);
    writeFileSync(join(tmp, "words.jsonl"), '"a"\n"bc"\n"def"\n');
    const { runCli } = await import("../fixtures/cli.js");
    const r = await runCli(
      [
        "map",
        ...["--on", "container", "--image", layoutRef, "--task", "task.js#shout"],
        ...[
          "--items",
          "words.jsonl",
          "--artifacts",
          `s3://${s3.bucket}/${s3.narrowPrefix}containers/`,
          "--parallelism",
          "2",
        ],
        ...["--chunk-size", "1"],
      ],
      {
        cwd: tmp,
        env: {
          ...process.env,
          PIPELINE_CACHE_DIR: join(tmp, "cache"),
          AWS_ENDPOINT_URL_S3: s3.endpoint,
          AWS_ACCESS_KEY_ID: s3.narrow.accessKeyId,
          AWS_SECRET_ACCESS_KEY: s3.narrow.secretAccessKey,
        },
      },
    );
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.trim().split("\n")).toEqual(['"A!"', '"BC!"', '"DEF!"']);
    expect(r.stderr + r.stdout).not.toContain(s3.narrow.secretAccessKey);
    // Written by the workers in the containers: the record of item "bc" is in the bucket, under the prefix.
    const { resultKey } = await import("../../src/runtime/map-codec.js");
    const item = createHash("sha256").update('j"bc"').digest("hex");
    const mine = store({ prefix: `${s3.narrowPrefix}containers/`, credentials: s3.narrow });
    expect(await mine.has(resultKey(`image:${image.digest}`, { module: "task.js", export: "shout" }, item))).toBe(true);
  });
});
