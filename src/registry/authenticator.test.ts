import { describe, expect, it } from "vitest";
import type { ServerResponse } from "node:http";
import { PipelineError } from "../errors";
import { sha256 } from "../oci/digest";
import type { Keychain } from "../registry-auth/keychain";
import { bufferBlob } from "../layer/blob";
import type { FakeRequest } from "../../test/fixtures/registry";
import { useFakeServers } from "../../test/fixtures/fake-servers";
import { Authenticator, covers } from "./authenticator";
import { RegistryClient } from "./client";
import { HttpTransport } from "./http";
import type { HttpResponse } from "./http-attempt";
import { mountBlob, uploadBlob } from "./upload";

const USER = "carol";
const PASSWORD = "Tr0ub4dor&3-unit-secret";
const REFRESH = "refresh-token-unit-secret";
const FAST = { retries: 0, baseDelayMs: 1, timeoutMs: 5000 };
const DIGEST = sha256("x");

const serve = useFakeServers();

function keychainOf(
  credential: { username: string; password: string } | { identityToken: string } | undefined,
  source = "unit keychain",
): Keychain {
  return {
    resolve: async () => (credential ? { credential, source } : undefined),
    describe: () => "the unit keychain",
  };
}

interface TokenServerOptions {
  expiresIn?: number;
  /** Reject every credential. */
  reject?: boolean;
}

/** A token service (on "localhost", another host than the registry) plus a registry that wants its tokens. */
async function bearerSetup(opts: TokenServerOptions = {}) {
  const issued = new Map<string, string[]>(); // token -> scopes
  let n = 0;
  const tokens = await serve((req, res) => {
    const url = new URL(req.url, "http://x");
    let scopes: string[];
    let ok: boolean;
    if (req.method === "POST") {
      const form = new URLSearchParams(req.body.toString());
      ok =
        form.get("grant_type") === "refresh_token" &&
        form.get("refresh_token") === REFRESH &&
        form.get("service") === "svc";
      scopes = (form.get("scope") ?? "").split(" ").filter(Boolean);
    } else {
      const auth = req.headers.authorization;
      ok = auth === undefined || auth === "Basic " + Buffer.from(`${USER}:${PASSWORD}`).toString("base64");
      scopes = url.searchParams.getAll("scope");
    }
    if (!ok || opts.reject)
      return void res
        .writeHead(401, { "Content-Type": "application/json" })
        .end('{"details":"incorrect username or password"}');
    const token = `tok-${++n}-${req.headers.authorization ? "user" : req.method === "POST" ? "refresh" : "anon"}`;
    issued.set(token, scopes);
    const body =
      req.method === "POST"
        ? { access_token: token, expires_in: opts.expiresIn ?? 300 }
        : { token, expires_in: opts.expiresIn ?? 300 };
    res.writeHead(200, { "Content-Type": "application/json" }).end(JSON.stringify(body));
  }, "localhost");
  const registry = await serve((req, res) => {
    const auth = req.headers.authorization ?? "";
    const token = auth.startsWith("Bearer ") ? auth.slice(7) : "";
    if (!issued.has(token)) {
      return void res
        .writeHead(401, {
          "WWW-Authenticate": `Bearer realm="${tokens.url}/token",service="svc",scope="repository:team/app:pull"`,
          "Content-Type": "application/json",
        })
        .end('{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}');
    }
    answerRegistry(req, res);
  });
  return { tokens, registry, issued };
}

function answerRegistry(req: FakeRequest, res: ServerResponse): void {
  const url = new URL(req.url, "http://x");
  if (req.method === "HEAD" && url.pathname.includes("/blobs/")) return void res.writeHead(404).end();
  if (req.method === "POST" && url.searchParams.get("mount"))
    return void res.writeHead(201, { "Docker-Content-Digest": url.searchParams.get("mount")! }).end();
  if (req.method === "POST") return void res.writeHead(202, { Location: "/upload/1" }).end();
  if (req.method === "PUT" && url.pathname.startsWith("/upload/")) {
    return void res.writeHead(201, { "Docker-Content-Digest": url.searchParams.get("digest")! }).end();
  }
  res.writeHead(200, { "Content-Type": "application/json" }).end("{}");
}

describe("Bearer token flow", () => {
  it("asks the realm for a token with service and scope, sending Basic credentials, then caches it", async () => {
    const { tokens, registry } = await bearerSetup();
    const client = new RegistryClient(registry.host, {
      keychain: keychainOf({ username: USER, password: PASSWORD }),
      retry: FAST,
    });
    expect(await client.blobExists("team/app", DIGEST)).toBeUndefined();
    expect(await client.blobExists("team/app", DIGEST)).toBeUndefined();
    await client.ping();
    expect(tokens.requests).toHaveLength(2); // one per scope set: repository:team/app:pull, and none for /v2/
    const first = new URL(tokens.requests[0].url, "http://x");
    expect(first.pathname).toBe("/token");
    expect(first.searchParams.get("service")).toBe("svc");
    expect(first.searchParams.getAll("scope")).toEqual(["repository:team/app:pull"]);
    expect(tokens.requests[0].headers.authorization).toBe(
      "Basic " + Buffer.from(`${USER}:${PASSWORD}`).toString("base64"),
    );
    // Registry: anonymous 401 once, then the token up front.
    expect(registry.requests.map((r) => r.headers.authorization ?? "none")).toEqual([
      "none",
      "Bearer tok-1-user",
      "Bearer tok-1-user",
      "Bearer tok-2-user",
    ]);
  });

  it("asks pull,push for a push client and adds the source repository's pull scope for a mount", async () => {
    const { tokens, registry, issued } = await bearerSetup();
    const client = new RegistryClient(registry.host, {
      keychain: keychainOf({ username: USER, password: PASSWORD }),
      retry: FAST,
      access: "push",
    });
    expect(await mountBlob(client, "team/app", DIGEST, "team/base")).toEqual({ mounted: true });
    expect([...issued.values()].at(-1)).toEqual(["repository:team/app:pull,push", "repository:team/base:pull"]);
    const blob = bufferBlob(Buffer.from("x"), "application/octet-stream");
    await uploadBlob(client, "team/app", blob);
    expect([...issued.values()].at(-1)).toEqual(["repository:team/app:pull,push"]);
    expect(tokens.requests).toHaveLength(2);
  });

  it("gets an anonymous token when there are no credentials", async () => {
    const { tokens, registry } = await bearerSetup();
    const client = new RegistryClient(registry.host, { keychain: keychainOf(undefined), retry: FAST });
    await client.blobExists("team/app", DIGEST);
    expect(tokens.requests[0].headers.authorization).toBeUndefined();
  });

  it("exchanges an identity token with an OAuth2 refresh_token POST", async () => {
    const { tokens, registry } = await bearerSetup();
    const client = new RegistryClient(registry.host, { keychain: keychainOf({ identityToken: REFRESH }), retry: FAST });
    await client.blobExists("team/app", DIGEST);
    expect(tokens.requests).toHaveLength(1);
    expect(tokens.requests[0].method).toBe("POST");
    expect(tokens.requests[0].headers["content-type"]).toBe("application/x-www-form-urlencoded");
    const form = new URLSearchParams(tokens.requests[0].body.toString());
    expect(Object.fromEntries(form)).toMatchObject({
      grant_type: "refresh_token",
      refresh_token: REFRESH,
      service: "svc",
      scope: "repository:team/app:pull",
    });
    expect(registry.requests.at(-1)!.headers.authorization).toBe("Bearer tok-1-refresh");
  });

  it("fetches a new token when the cached one expires", async () => {
    const { tokens, registry } = await bearerSetup({ expiresIn: 1 });
    const client = new RegistryClient(registry.host, {
      keychain: keychainOf({ username: USER, password: PASSWORD }),
      retry: FAST,
    });
    await client.blobExists("team/app", DIGEST);
    await client.blobExists("team/app", DIGEST);
    expect(tokens.requests).toHaveLength(1);
    await new Promise((r) => setTimeout(r, 600));
    await client.blobExists("team/app", DIGEST);
    expect(tokens.requests).toHaveLength(2);
  });

  it("shares one token request among concurrent requests", async () => {
    const { tokens, registry } = await bearerSetup();
    const client = new RegistryClient(registry.host, {
      keychain: keychainOf({ username: USER, password: PASSWORD }),
      retry: FAST,
    });
    await Promise.all(Array.from({ length: 5 }, () => client.blobExists("team/app", DIGEST)));
    expect(tokens.requests).toHaveLength(1);
  });

  it("a token service refusing the credentials is E_UNAUTHORIZED naming the source", async () => {
    const { registry } = await bearerSetup({ reject: true });
    const client = new RegistryClient(registry.host, {
      keychain: keychainOf({ username: USER, password: PASSWORD }, 'docker config /x/config.json auths["r"]'),
      retry: FAST,
    });
    const err = await client.blobExists("team/app", DIGEST).catch((e) => e);
    expect(err.code).toBe("E_UNAUTHORIZED");
    expect(err.message).toContain("token service rejected");
    expect(err.message).toContain('docker config /x/config.json auths["r"]');
    expect(err.message).toContain("team/app");
  });

  it("refuses to send credentials to a plain-HTTP token realm on another (non-loopback) host", async () => {
    const registry = await serve(
      (_req, res) =>
        void res
          .writeHead(401, { "WWW-Authenticate": 'Bearer realm="http://auth.example.invalid/token",service="s"' })
          .end(),
    );
    const client = new RegistryClient(registry.host, {
      keychain: keychainOf({ username: USER, password: PASSWORD }),
      retry: FAST,
    });
    const err = await client.ping().catch((e) => e);
    expect(err.code).toBe("E_INSECURE_AUTH");
    expect(err.message).toContain("auth.example.invalid");
  });
});

describe("the token cache: shared by every client in the process, keyed by registry, realm, service, credential and scopes", () => {
  /** A token service that issues `<label>-<n>` to anyone (anonymous, or the unit user), recording each token's scopes. */
  async function tokenService(label: string, issued: Set<string>) {
    let n = 0;
    return serve((_req, res) => {
      const token = `${label}-${++n}`;
      issued.add(token);
      res.writeHead(200, { "Content-Type": "application/json" }).end(JSON.stringify({ token, expires_in: 300 }));
    }, "localhost");
  }
  /** A registry that wants a token from `realm()` for `service()` and takes any token in `issued`. */
  function tokenRegistry(issued: Set<string>, realm: () => string, service: () => string = () => "svc") {
    return serve((req, res) => {
      const token = (req.headers.authorization ?? "").replace(/^Bearer /, "");
      if (!issued.has(token))
        return void res
          .writeHead(401, { "WWW-Authenticate": `Bearer realm="${realm()}",service="${service()}"` })
          .end();
      answerRegistry(req, res);
    });
  }
  const tokensSent = (r: { requests: FakeRequest[] }) => r.requests.map((q) => q.headers.authorization ?? "none");
  const user = () => keychainOf({ username: USER, password: PASSWORD });

  it("a second client with the same credentials reuses the token; one with other credentials gets its own", async () => {
    const issued = new Set<string>();
    const tokens = await tokenService("t", issued);
    const registry = await tokenRegistry(issued, () => `${tokens.url}/token`);
    for (const keychain of [user(), user(), keychainOf(undefined), keychainOf({ identityToken: REFRESH })]) {
      await new RegistryClient(registry.host, { keychain, retry: FAST }).blobExists("team/app", DIGEST);
    }
    expect(tokens.requests.map((r) => r.headers.authorization ?? r.method)).toEqual([
      "Basic " + Buffer.from(`${USER}:${PASSWORD}`).toString("base64"),
      "GET", // anonymous: not the unit user's token
      "POST", // the identity token's exchange: neither of the others
    ]);
    expect(tokensSent(registry)).toEqual([
      "none",
      "Bearer t-1",
      "none",
      "Bearer t-1",
      "none",
      "Bearer t-2",
      "none",
      "Bearer t-3",
    ]);
  });

  it("two registries sharing one token service never get each other's token", async () => {
    const issued = new Set<string>();
    const tokens = await tokenService("t", issued);
    const one = await tokenRegistry(issued, () => `${tokens.url}/token`);
    const two = await tokenRegistry(issued, () => `${tokens.url}/token`);
    await new RegistryClient(one.host, { keychain: user(), retry: FAST }).blobExists("team/app", DIGEST);
    await new RegistryClient(two.host, { keychain: user(), retry: FAST }).blobExists("team/app", DIGEST);
    expect(tokens.requests).toHaveLength(2);
    expect(tokensSent(one)).toEqual(["none", "Bearer t-1"]);
    expect(tokensSent(two)).toEqual(["none", "Bearer t-2"]);
  });

  it("a registry that names another realm or service gets a token from it, not the cached one", async () => {
    const issued = new Set<string>();
    const first = await tokenService("first", issued);
    const second = await tokenService("second", issued);
    let realm = `${first.url}/token`;
    let service = "svc";
    const registry = await tokenRegistry(
      issued,
      () => realm,
      () => service,
    );
    const pull = () =>
      new RegistryClient(registry.host, { keychain: user(), retry: FAST }).blobExists("team/app", DIGEST);
    await pull();
    realm = `${second.url}/token`;
    await pull();
    service = "svc2";
    await pull();
    expect(first.requests).toHaveLength(1);
    expect(second.requests.map((r) => new URL(r.url, "http://x").searchParams.get("service"))).toEqual(["svc", "svc2"]);
    expect(tokensSent(registry)).toEqual([
      "none",
      "Bearer first-1",
      "none",
      "Bearer second-1",
      "none",
      "Bearer second-2",
    ]);
  });
});

describe("scopes", () => {
  it("covers: same resource, every action granted", () => {
    expect(covers(["repository:a/b:pull,push"], "repository:a/b:pull")).toBe(true);
    expect(covers(["repository:a/b:pull"], "repository:a/b:pull,push")).toBe(false);
    expect(covers(["repository:a/b:*"], "repository:a/b:delete")).toBe(true);
    expect(covers(["repository:a/c:pull"], "repository:a/b:pull")).toBe(false);
    expect(covers(["repository:localhost:5000/a:pull"], "repository:localhost:5000/a:pull")).toBe(true);
  });

  it("adds a scope the challenge asks for beyond what the request needed (insufficient_scope)", async () => {
    const { tokens, registry } = await bearerSetup();
    // The fake's challenge names repository:team/app:pull; ask for another repository so it is extra.
    const client = new RegistryClient(registry.host, {
      keychain: keychainOf({ username: USER, password: PASSWORD }),
      retry: FAST,
    });
    await client.blobExists("team/other", DIGEST);
    expect(new URL(tokens.requests[0].url, "http://x").searchParams.getAll("scope")).toEqual([
      "repository:team/other:pull",
      "repository:team/app:pull",
    ]);
  });
});

describe("Basic flow", () => {
  it("answers a Basic challenge once, then sends credentials up front", async () => {
    const header = "Basic " + Buffer.from(`${USER}:${PASSWORD}`).toString("base64");
    const registry = await serve((req, res) => {
      if (req.headers.authorization !== header)
        return void res.writeHead(401, { "WWW-Authenticate": 'Basic realm="r"' }).end();
      answerRegistry(req, res);
    });
    const client = new RegistryClient(registry.host, {
      keychain: keychainOf({ username: USER, password: PASSWORD }),
      retry: FAST,
    });
    await client.ping();
    await client.blobExists("a/b", DIGEST);
    expect(registry.requests.map((r) => (r.headers.authorization ? "basic" : "none"))).toEqual([
      "none",
      "basic",
      "basic",
    ]);
  });

  it("never sends Authorization to an upload Location on another host", async () => {
    const other = await serve((req, res) => answerRegistry(req, res), "localhost");
    const header = "Basic " + Buffer.from(`${USER}:${PASSWORD}`).toString("base64");
    const registry = await serve((req, res) => {
      if (req.headers.authorization !== header)
        return void res.writeHead(401, { "WWW-Authenticate": 'Basic realm="r"' }).end();
      if (req.method === "POST") return void res.writeHead(202, { Location: `${other.url}/upload/9` }).end();
      answerRegistry(req, res);
    });
    const client = new RegistryClient(registry.host, {
      keychain: keychainOf({ username: USER, password: PASSWORD }),
      retry: FAST,
      access: "push",
    });
    await uploadBlob(client, "a/b", bufferBlob(Buffer.from("x"), "application/octet-stream"));
    expect(other.requests).toHaveLength(1);
    expect(other.requests[0].headers.authorization).toBeUndefined();
  });

  it("refuses Basic over plain HTTP to a non-loopback host unless insecure", async () => {
    const res = {
      headers: { "www-authenticate": 'Basic realm="r"' },
      url: new URL("http://registry.example.com/v2/"),
    } as unknown as HttpResponse;
    const ctx = { registry: "registry.example.com", operation: "ping" };
    const make = (insecure: boolean) =>
      new Authenticator("registry.example.com", {
        keychain: keychainOf({ username: USER, password: PASSWORD }),
        insecure,
        transport: new HttpTransport(FAST),
      });
    const err = await make(false)
      .challenge(res, [], undefined, ctx)
      .catch((e) => e);
    expect(err.code).toBe("E_INSECURE_AUTH");
    expect(await make(true).challenge(res, [], undefined, ctx)).toBe(
      "Basic " + Buffer.from(`${USER}:${PASSWORD}`).toString("base64"),
    );
    // Loopback plain HTTP is fine.
    const local = { ...res, url: new URL("http://localhost:5000/v2/") } as HttpResponse;
    expect(await make(false).challenge(local, [], undefined, ctx)).toMatch(/^Basic /);
    // A host that only starts like a loopback address is another machine.
    for (const host of ["127.x.example:5000", "127.0.0.1.example.com"]) {
      const lookalike = { ...res, url: new URL(`http://${host}/v2/`) } as HttpResponse;
      const refused = await make(false)
        .challenge(lookalike, [], undefined, ctx)
        .catch((e) => e);
      expect(refused).toMatchObject({ code: "E_INSECURE_AUTH" });
      expect(refused.message).toContain(`over plain HTTP to ${host}`);
    }
  });

  it("rejects an identity token for a Basic registry and unknown schemes", async () => {
    const ctx = { registry: "localhost:1", operation: "ping" };
    const a = new Authenticator("localhost:1", {
      keychain: keychainOf({ identityToken: REFRESH }),
      insecure: false,
      transport: new HttpTransport(FAST),
    });
    const basic = {
      headers: { "www-authenticate": 'Basic realm="r"' },
      url: new URL("http://localhost:1/v2/"),
    } as unknown as HttpResponse;
    expect((await a.challenge(basic, [], undefined, ctx).catch((e) => e)).code).toBe("E_UNAUTHORIZED");
    const neg = {
      headers: { "www-authenticate": "Negotiate" },
      url: new URL("http://localhost:1/v2/"),
    } as unknown as HttpResponse;
    const err = await a.challenge(neg, [], undefined, ctx).catch((e) => e);
    expect(err.message).toContain("unsupported authentication scheme negotiate");
  });
});

describe("no secret ever reaches an error message or a log line", () => {
  it("greps every message, stack and log line for passwords, base64 auth and tokens", async () => {
    const texts: string[] = [];
    const log = (l: string) => texts.push(l);
    const collect = async (p: Promise<unknown>) => {
      try {
        await p;
      } catch (e) {
        expect(e).toBeInstanceOf(PipelineError);
        texts.push((e as Error).message, String((e as Error).stack));
      }
    };
    // Basic registry rejecting the password.
    const basicReg = await serve(
      (_req, res) =>
        void res
          .writeHead(401, { "WWW-Authenticate": 'Basic realm="r"' })
          .end('{"errors":[{"code":"UNAUTHORIZED","message":"nope"}]}'),
    );
    await collect(
      new RegistryClient(basicReg.host, {
        keychain: keychainOf({ username: USER, password: PASSWORD }),
        retry: FAST,
        log,
      }).blobExists("a/b", DIGEST),
    );
    // Token service rejecting password and refresh token; registry rejecting a valid token.
    const { registry } = await bearerSetup({ reject: true });
    await collect(
      new RegistryClient(registry.host, {
        keychain: keychainOf({ username: USER, password: PASSWORD }),
        retry: FAST,
        log,
      }).ping(),
    );
    await collect(
      new RegistryClient(registry.host, { keychain: keychainOf({ identityToken: REFRESH }), retry: FAST, log }).ping(),
    );
    const ok = await bearerSetup();
    const picky = await serve((req, res) => {
      if (!req.headers.authorization)
        return void res
          .writeHead(401, { "WWW-Authenticate": `Bearer realm="${ok.tokens.url}/token",service="svc"` })
          .end();
      res.writeHead(401).end(); // refuses even good tokens
    });
    await collect(
      new RegistryClient(picky.host, {
        keychain: keychainOf({ username: USER, password: PASSWORD }),
        retry: FAST,
        log,
      }).blobExists("a/b", DIGEST),
    );
    // Successful flows log too.
    await new RegistryClient(ok.registry.host, {
      keychain: keychainOf({ username: USER, password: PASSWORD }),
      retry: FAST,
      log,
    }).blobExists("team/app", DIGEST);
    // Insecure refusal.
    const insecureReg = await serve(
      (_req, res) =>
        void res.writeHead(401, { "WWW-Authenticate": 'Bearer realm="http://auth.example.invalid/t"' }).end(),
    );
    await collect(
      new RegistryClient(insecureReg.host, {
        keychain: keychainOf({ username: USER, password: PASSWORD }),
        retry: FAST,
        log,
      }).ping(),
    );

    expect(texts.length).toBeGreaterThan(10);
    const secrets = [PASSWORD, REFRESH, Buffer.from(`${USER}:${PASSWORD}`).toString("base64"), "tok-1", "tok-2"];
    for (const t of texts) for (const s of secrets) expect(t, `"${t}" leaks a secret`).not.toContain(s);
  });
});
