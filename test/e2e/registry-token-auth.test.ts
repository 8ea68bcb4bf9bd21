/**
 * The Bearer token flow against the real CNCF registry (docker-registry 2.8) configured with `auth: token:`,
 * backed by an in-process token service (test/fixtures/token-server.ts) whose ACL decides what each user
 * may do. Credentials come from a temporary DOCKER_CONFIG; skopeo checks the results independently.
 * skopeo runs asynchronously: it talks to the token service, which lives in this process.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { execFile } from "node:child_process";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import type { PipelineError } from "../../src/errors";
import { sha256 } from "../../src/oci/digest";
import { parseReference } from "../../src/oci/reference";
import { readLayout } from "../../src/layout/read";
import { dockerConfigKeychain } from "../../src/registry-auth/docker-config";
import { RegistryClient } from "../../src/registry/client";
import { pushImage } from "../../src/registry/push";
import { pullImage } from "../../src/registry/pull";
import { pullToLayout } from "../../src/transfer/pull";
import { writeDockerConfig, type DockerAuthEntry } from "../fixtures/registry";
import { startTokenRegistry, type TokenRegistry, type TokenRequestRecord } from "../fixtures/token-server";
import { randomImage } from "../fixtures/random-image";
import { pipelineErrorOf } from "../fixtures/errors";

const SKOPEO = "/usr/bin/skopeo";
const exec = promisify(execFile);

const ALICE = "alice";
const ALICE_PASSWORD = "al1ce-T0ken-Pa55-e2e";
const PUBLISHER = "publisher";
const PUBLISHER_PASSWORD = "pub1isher-T0ken-Pa55-e2e";
const WRONG_PASSWORD = "wr0ng-T0ken-Pa55-never-shown";

let reg: TokenRegistry;
let tmp: string;
/** Every log line and error the code under test produced, for the leak audit at the end. */
const logs: string[] = [];
const errors: Error[] = [];
const log = (line: string) => logs.push(line);
/** The config.json files this test wrote (the only files allowed to hold a secret). */
const configFiles: string[] = [];

function config(name: string, entry: DockerAuthEntry): string {
  const dir = mkdtempSync(join(tmp, `docker-config-${name}-`));
  writeDockerConfig(dir, { [reg.host]: entry });
  configFiles.push(join(dir, "config.json"));
  return dir;
}

function keychainOf(dir: string) {
  return dockerConfigKeychain({ env: { DOCKER_CONFIG: dir }, warn: log });
}

async function caught(p: Promise<unknown>): Promise<PipelineError> {
  const e = await pipelineErrorOf(p);
  errors.push(e);
  return e;
}

/** sha256 of the raw manifest skopeo fetches with `auth` (`--creds u:p`, `--registry-token T`, `--no-creds`). */
async function skopeoDigest(ref: string, auth: string[]): Promise<string> {
  const { stdout } = await exec(SKOPEO, ["inspect", "--tls-verify=false", ...auth, "--raw", `docker://${ref}`], {
    encoding: "buffer",
    timeout: 120_000,
  });
  return sha256(stdout);
}

/** Token requests made while `fn` ran. */
async function tokenRequestsDuring(fn: () => Promise<unknown>): Promise<TokenRequestRecord[]> {
  const before = reg.tokens.requests.length;
  await fn();
  return reg.tokens.requests.slice(before);
}

function blobsOf(image: ReturnType<typeof randomImage>): string[] {
  return [image.configBlob.digest, ...image.layers.map((l) => l.digest)].sort();
}

beforeAll(async () => {
  tmp = mkdtempSync(join(tmpdir(), "registry-token-auth-e2e-"));
  reg = await startTokenRegistry({
    users: {
      [ALICE]: {
        password: ALICE_PASSWORD,
        grants: [
          { pattern: "team/*", actions: ["pull", "push"] },
          { pattern: "public/*", actions: ["pull"] },
        ],
      },
      [PUBLISHER]: { password: PUBLISHER_PASSWORD, grants: [{ pattern: "public/*", actions: ["pull", "push"] }] },
    },
    anonymous: [{ pattern: "public/*", actions: ["pull"] }],
  });
});

afterAll(async () => {
  await reg?.stop();
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

describe("real registry with token auth", () => {
  let aliceDir: string;
  let emptyDir: string;

  beforeAll(() => {
    aliceDir = config("alice", { username: ALICE, password: ALICE_PASSWORD });
    emptyDir = join(tmp, "no-docker-config"); // no config.json at all
    mkdirSync(emptyDir);
  });

  it("pushes with alice's password from config.json auths: Basic to the token service, a JWT the registry verifies", async () => {
    const image = randomImage({ layers: 3 });
    let result!: Awaited<ReturnType<typeof pushImage>>;
    const registryBefore = reg.requests().length;
    const asked = await tokenRequestsDuring(async () => {
      result = await pushImage(
        image,
        { registry: reg.host, repository: "team/a", tags: ["v1"] },
        { keychain: keychainOf(aliceDir), log },
      );
    });
    expect(result.digest).toBe(image.digest);
    expect(result.uploaded.map((u) => u.digest).sort()).toEqual(blobsOf(image));

    // One token for the whole push, although it made many registry requests; alice got what she asked.
    expect(asked).toHaveLength(1);
    expect(asked[0]).toMatchObject({
      method: "GET",
      grantType: "basic",
      account: ALICE,
      scopes: ["repository:team/a:pull,push"],
      status: 200,
    });
    expect(asked[0].granted).toEqual([{ type: "repository", name: "team/a", actions: ["pull", "push"] }]);
    expect(
      reg
        .requests()
        .slice(registryBefore)
        .filter((r) => r.status < 300).length,
    ).toBeGreaterThan(8);

    // The JWT names its key the way distribution 2.8 looks it up, and carries the claims it checks.
    const { header, claims } = reg.tokens.decode(reg.tokens.issued.at(-1)!);
    expect(header).toEqual({ typ: "JWT", alg: "RS256", kid: reg.tokens.kid });
    expect(reg.tokens.kid).toMatch(/^([A-Z2-7]{4}:){11}[A-Z2-7]{4}$/);
    expect(claims).toMatchObject({ iss: "test-issuer", sub: ALICE, aud: "test-registry" });

    // skopeo, with the same password (its own token flow) and with a token of ours.
    expect(await skopeoDigest(result.reference, ["--creds", `${ALICE}:${ALICE_PASSWORD}`])).toBe(image.digest);
    expect(
      await skopeoDigest(`${reg.host}/team/a:v1`, [
        "--registry-token",
        reg.tokens.issueToken(ALICE, ["repository:team/a:pull"]),
      ]),
    ).toBe(image.digest);

    // And back through our pull.
    const dir = join(tmp, "team-a-pulled");
    expect(
      await pullToLayout(parseReference(`${reg.host}/team/a:v1`), dir, { keychain: keychainOf(aliceDir), log }),
    ).toEqual({
      digest: image.digest,
      refName: "v1",
    });
    expect(readLayout(dir, { refName: "v1" }).digest).toBe(image.digest);
  });

  it("the registry also accepts a token whose header carries the certificate (x5c) instead of a kid", async () => {
    reg.tokens.keyHint = "x5c";
    try {
      const image = randomImage({ layers: 1 });
      const result = await pushImage(
        image,
        { registry: reg.host, repository: "team/x5c" },
        { keychain: keychainOf(aliceDir), log },
      );
      expect(reg.tokens.decode(reg.tokens.issued.at(-1)!).header.x5c).toHaveLength(1);
      expect(await skopeoDigest(result.reference, ["--creds", `${ALICE}:${ALICE_PASSWORD}`])).toBe(image.digest);
    } finally {
      reg.tokens.keyHint = "kid";
    }
  });

  it("pulls a public repository anonymously with an anonymous token", async () => {
    const image = randomImage({ layers: 2 });
    const publisherDir = config("publisher", { username: PUBLISHER, password: PUBLISHER_PASSWORD });
    await pushImage(
      image,
      { registry: reg.host, repository: "public/base", tags: ["v1"] },
      { keychain: keychainOf(publisherDir), log },
    );

    const dir = join(tmp, "public-pulled");
    const asked = await tokenRequestsDuring(() =>
      pullToLayout(parseReference(`${reg.host}/public/base:v1`), dir, { keychain: keychainOf(emptyDir), log }),
    );
    expect(readLayout(dir, { refName: "v1" }).digest).toBe(image.digest);
    expect(asked).toHaveLength(1);
    expect(asked[0]).toMatchObject({ grantType: "anonymous", scopes: ["repository:public/base:pull"], status: 200 });
    expect(asked[0].account).toBeUndefined();
    expect(asked[0].granted).toEqual([{ type: "repository", name: "public/base", actions: ["pull"] }]);
    expect(await skopeoDigest(`${reg.host}/public/base:v1`, ["--no-creds"])).toBe(image.digest);
  });

  it("refuses an anonymous push, naming registry, repository, operation and where it looked for credentials", async () => {
    const e = await caught(
      pushImage(
        randomImage({ layers: 1 }),
        { registry: reg.host, repository: "public/anon" },
        { keychain: keychainOf(emptyDir), log },
      ),
    );
    expect(e.code).toBe("E_UNAUTHORIZED");
    expect(e.message).toContain(`registry ${reg.host}`);
    expect(e.message).toContain("repository public/anon");
    expect(e.message).toMatch(/upload of blob sha256:[0-9a-f]{64} to /); // HEAD passed with pull; the upload needs push
    expect(e.message).toContain(`no credentials found; looked in docker config ${join(emptyDir, "config.json")}`);
    // The anonymous token granted pull only, and nothing was stored.
    const last = reg.tokens.requests.at(-1)!;
    expect(last).toMatchObject({ grantType: "anonymous", scopes: ["repository:public/anon:pull,push"] });
    expect(last.granted).toEqual([{ type: "repository", name: "public/anon", actions: ["pull"] }]);
    expect(
      reg.requests().filter((r) => r.path.startsWith("/v2/public/anon/") && r.status < 300 && r.method !== "HEAD"),
    ).toEqual([]);
  });

  it("refuses alice's push to a repository she may only pull, naming it and her config.json entry", async () => {
    const e = await caught(
      pushImage(
        randomImage({ layers: 1 }),
        { registry: reg.host, repository: "public/by-alice" },
        { keychain: keychainOf(aliceDir), log },
      ),
    );
    expect(["E_UNAUTHORIZED", "E_DENIED"]).toContain(e.code);
    expect(e.message).toContain(reg.host);
    expect(e.message).toContain("public/by-alice");
    expect(e.message).toContain(`docker config ${join(aliceDir, "config.json")} auths[${JSON.stringify(reg.host)}]`);
    const last = reg.tokens.requests.at(-1)!;
    expect(last).toMatchObject({
      grantType: "basic",
      account: ALICE,
      scopes: ["repository:public/by-alice:pull,push"],
    });
    expect(last.granted).toEqual([{ type: "repository", name: "public/by-alice", actions: ["pull"] }]);
  });

  it("a wrong password is refused by the token service: E_UNAUTHORIZED naming the source, never the secret", async () => {
    const dir = config("wrong", { username: ALICE, password: WRONG_PASSWORD });
    const e = await caught(
      pushImage(
        randomImage({ layers: 1 }),
        { registry: reg.host, repository: "team/a" },
        { keychain: keychainOf(dir), log },
      ),
    );
    expect(e.code).toBe("E_UNAUTHORIZED");
    expect(e.message).toContain("token service rejected the credentials");
    expect(e.message).toContain(`docker config ${join(dir, "config.json")} auths[${JSON.stringify(reg.host)}]`);
    expect(reg.tokens.requests.at(-1)).toMatchObject({ grantType: "basic", status: 401 });
  });

  it("mounts blobs across repositories: one token for target pull,push plus source pull", async () => {
    const image = randomImage({ layers: 2 });
    const keychain = keychainOf(aliceDir);
    await pushImage(image, { registry: reg.host, repository: "team/src" }, { keychain, log });
    let result!: Awaited<ReturnType<typeof pushImage>>;
    const asked = await tokenRequestsDuring(async () => {
      result = await pushImage(
        image,
        { registry: reg.host, repository: "team/b", tags: ["mounted"] },
        { keychain, log, mountFrom: [{ registry: reg.host, repository: "team/src" }] },
      );
    });
    expect(result.mounted.sort()).toEqual(blobsOf(image));
    expect(result.uploaded).toEqual([]);
    const mountToken = asked.find((r) => r.scopes.includes("repository:team/src:pull"));
    expect(mountToken?.scopes.sort()).toEqual(["repository:team/b:pull,push", "repository:team/src:pull"]);
    expect(mountToken?.granted).toEqual([
      { type: "repository", name: "team/b", actions: ["pull", "push"] },
      { type: "repository", name: "team/src", actions: ["pull"] },
    ]);
    const mounts = reg
      .requests()
      .filter(
        (r) =>
          r.method === "POST" && r.path.startsWith("/v2/team/b/blobs/uploads/?") && r.path.includes("from=team%2Fsrc"),
      );
    expect(mounts.map((m) => m.status)).toEqual(blobsOf(image).map(() => 201));
    expect(await skopeoDigest(`${reg.host}/team/b:mounted`, ["--creds", `${ALICE}:${ALICE_PASSWORD}`])).toBe(
      image.digest,
    );
  });

  it("caches tokens for their lifetime: a second push asks for no new token for the same scope", async () => {
    const keychain = keychainOf(aliceDir);
    await pushImage(randomImage({ layers: 1 }), { registry: reg.host, repository: "team/cache" }, { keychain, log });
    let second!: Awaited<ReturnType<typeof pushImage>>;
    const asked = await tokenRequestsDuring(async () => {
      second = await pushImage(
        randomImage({ layers: 2 }),
        { registry: reg.host, repository: "team/cache" },
        { keychain, log },
      );
    });
    expect(asked).toEqual([]);
    expect(second.uploaded).toHaveLength(3);
    // A token never serves another credential: the same scope set without credentials asks anew (and gets nothing).
    const anonymous = await tokenRequestsDuring(() =>
      caught(
        new RegistryClient(reg.host, { keychain: keychainOf(emptyDir), log, access: "push" }).blobExists(
          "team/cache",
          sha256("x"),
        ),
      ),
    );
    expect(anonymous.map((r) => [r.grantType, r.scopes, r.granted])).toContainEqual([
      "anonymous",
      ["repository:team/cache:pull,push"],
      [],
    ]);
    // One client, many requests: still one token per scope set.
    const client = new RegistryClient(reg.host, { keychain, log, access: "push" });
    const again = await tokenRequestsDuring(async () => {
      for (let i = 0; i < 5; i++) await client.blobExists("team/cache2", sha256(`nothing ${i}`));
    });
    expect(again.map((r) => r.scopes)).toEqual([["repository:team/cache2:pull,push"]]);
  });

  it("fetches a new token once the cached one has expired (expires_in 2 s)", async () => {
    reg.tokens.expiresIn = 2;
    try {
      const client = new RegistryClient(reg.host, { keychain: keychainOf(aliceDir), log });
      const first = await tokenRequestsDuring(async () => {
        await client.blobExists("team/short", sha256("a"));
        await client.blobExists("team/short", sha256("b"));
      });
      expect(first).toHaveLength(1);
      await new Promise((r) => setTimeout(r, 2100));
      const later = await tokenRequestsDuring(() => client.blobExists("team/short", sha256("c")));
      expect(later.map((r) => r.scopes)).toEqual([["repository:team/short:pull"]]);
    } finally {
      reg.tokens.expiresIn = 300;
    }
  });

  it("exchanges a config.json identitytoken with grant_type=refresh_token", async () => {
    // What `docker login` does with an OAuth2 token service: a password grant asking for offline access.
    const res = await fetch(reg.tokens.realm, {
      method: "POST",
      headers: { "Content-Type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({
        grant_type: "password",
        username: ALICE,
        password: ALICE_PASSWORD,
        service: "test-registry",
        client_id: "e2e",
        access_type: "offline",
      }),
    });
    expect(res.status).toBe(200);
    const login = (await res.json()) as { access_token?: string; refresh_token?: string };
    expect(login.access_token).toBeTruthy();
    const refresh = login.refresh_token!;
    expect(refresh).toBeTruthy();
    expect(reg.tokens.requests.at(-1)).toMatchObject({ grantType: "password", account: ALICE, offline: true });

    const dir = config("identity", { identitytoken: refresh });
    const image = randomImage({ layers: 2 });
    let result!: Awaited<ReturnType<typeof pushImage>>;
    const asked = await tokenRequestsDuring(async () => {
      result = await pushImage(
        image,
        { registry: reg.host, repository: "team/idt", tags: ["v1"] },
        { keychain: keychainOf(dir), log },
      );
    });
    expect(asked.map((r) => [r.method, r.grantType, r.account, r.clientId, r.status])).toEqual([
      ["POST", "refresh_token", ALICE, "rules_pipeline", 200],
    ]);
    expect(asked[0].scopes).toEqual(["repository:team/idt:pull,push"]);
    expect(await skopeoDigest(result.reference, ["--creds", `${ALICE}:${ALICE_PASSWORD}`])).toBe(image.digest);
    const back = await pullImage(parseReference(`${reg.host}/team/idt:v1`), { keychain: keychainOf(dir), log });
    expect(back.digest).toBe(image.digest);

    // A refresh token the service does not know is E_UNAUTHORIZED naming the entry.
    const bogusDir = config("bogus-identity", { identitytoken: `rt-${"x".repeat(32)}-revoked` });
    const e = await caught(
      pullImage(parseReference(`${reg.host}/team/idt:v1`), { keychain: keychainOf(bogusDir), log }),
    );
    expect(e.code).toBe("E_UNAUTHORIZED");
    expect(e.message).toContain(`docker config ${join(bogusDir, "config.json")} auths[${JSON.stringify(reg.host)}]`);
    expect(e.message).not.toContain("revoked");
  });

  it("leaks no password, refresh token, access token or base64 auth into errors, logs or leftover files", () => {
    const b64 = (u: string, p: string) => Buffer.from(`${u}:${p}`).toString("base64");
    const secrets = [
      ALICE_PASSWORD,
      PUBLISHER_PASSWORD,
      WRONG_PASSWORD,
      b64(ALICE, ALICE_PASSWORD),
      b64(PUBLISHER, PUBLISHER_PASSWORD),
      b64(ALICE, WRONG_PASSWORD),
      `rt-${"x".repeat(32)}-revoked`,
      // Every token the service issued, and each one's signature on its own (a truncated token still leaks it).
      ...reg.tokens.issued.flatMap((t) => (t.includes(".") ? [t, t.split(".")[2]] : [t])),
    ];
    expect(reg.tokens.issued.filter((t) => t.startsWith("rt-")).length).toBeGreaterThanOrEqual(1);
    expect(reg.tokens.issued.length).toBeGreaterThan(10);
    expect(logs.length).toBeGreaterThan(50);
    expect(errors.length).toBeGreaterThanOrEqual(4);

    const texts = [...logs, ...errors.flatMap((e) => [e.message, String(e.stack)])];
    for (const t of texts)
      for (const s of secrets) expect(t.includes(s), `a secret in: ${t.slice(0, 200)}`).toBe(false);

    // Files: this test's temp dir (pulled layouts, configs), the registry's (log, storage) and the token server's.
    const files: string[] = [];
    const walk = (d: string) => {
      for (const name of readdirSync(d)) {
        const p = join(d, name);
        if (statSync(p).isDirectory()) walk(p);
        else files.push(p);
      }
    };
    for (const d of [tmp, reg.dir, reg.tokens.dir]) walk(d);
    expect(files).toContain(reg.logPath);
    const audited = files.filter((f) => !configFiles.includes(f));
    expect(audited.length).toBeGreaterThan(configFiles.length);
    for (const f of audited) {
      const text = readFileSync(f).toString("latin1");
      for (const s of secrets) expect(text.includes(s), `${f} holds a secret`).toBe(false);
    }
  });
});
