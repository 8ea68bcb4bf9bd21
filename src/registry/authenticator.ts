/**
 * Answers a registry's 401 challenges for one registry host. Requests go out anonymously (or with what
 * an earlier challenge taught us); on 401 the WWW-Authenticate challenge decides:
 *  - Basic: send the keychain's user name and password;
 *  - Bearer: get a token from the realm for the request's scopes (Basic credentials if any; an identity
 *    token is exchanged with an OAuth2 refresh_token POST), cached until it expires. The cache is shared by
 *    every Authenticator in the process (each push or pull makes its own client), keyed by registry, realm,
 *    service, the credential the token was obtained with, and the scope set.
 * Basic credentials and identity tokens never travel over plain HTTP to a non-loopback host unless the
 * registry was explicitly marked insecure.
 */
import { createHash } from "node:crypto";
import { PipelineError } from "../errors";
import { isLoopbackRegistry } from "../oci/reference";
import {
  isBasic,
  isIdentityToken,
  type Keychain,
  type ResolvedCredential,
  resolveCredential,
} from "../registry-auth/keychain";
import { type Challenge, parseWwwAuthenticate, pickChallenge } from "./challenge";
import { type ErrorContext, responseError, unauthorizedError } from "./errors";
import { registryText, registryUrl, rememberCredential, rememberIssuedToken } from "./registry-text";
import type { HttpTransport, Logger } from "./http";
import type { HttpResponse } from "./http-attempt";

/** `repository:team/app:pull,push`. */
export function repositoryScope(repository: string, actions: string): string {
  return `repository:${repository}:${actions}`;
}

interface CachedToken {
  header: string;
  expiresAt: number;
}

interface TokenResponse {
  token?: unknown;
  access_token?: unknown;
  expires_in?: unknown;
}

/** Tokens are dropped this long before they expire, so a request never carries a token that dies in flight. */
const EXPIRY_SLACK_MS = 10_000;
const DEFAULT_TOKEN_LIFETIME_S = 60;

/** Tokens of every Authenticator in the process (see the file comment); expired ones go when a new one comes. */
const sharedTokens = new Map<string, CachedToken>();

function rememberToken(key: string, token: CachedToken, now: number): void {
  for (const [k, t] of sharedTokens) if (t.expiresAt <= now) sharedTokens.delete(k);
  sharedTokens.set(key, token);
}

export interface AuthenticatorOptions {
  keychain: Keychain;
  /** The registry was explicitly marked insecure: allow credentials over plain HTTP. */
  insecure: boolean;
  transport: HttpTransport;
  log?: Logger;
  now?: () => number;
}

export class Authenticator {
  /** The keychain's answers, per repository (sources may scope credentials to a repository prefix). */
  private readonly credentials = new Map<string, Promise<ResolvedCredential>>();
  private scheme: "unknown" | "basic" | "bearer" = "unknown";
  private bearer?: { realm: string; service?: string };
  private readonly inflight = new Map<string, Promise<CachedToken>>();
  private readonly now: () => number;

  constructor(
    readonly registry: string,
    private readonly opts: AuthenticatorOptions,
  ) {
    this.now = opts.now ?? Date.now;
  }

  /** The keychain's answer for this registry and repository (resolved once each). */
  resolve(repository?: string): Promise<ResolvedCredential> {
    const key = repository ?? "";
    let found = this.credentials.get(key);
    if (!found) {
      // Its forms are known before anything is sent, so whatever a registry echoes of it can be cut out.
      found = resolveCredential(this.opts.keychain, this.registry, repository).then((r) => {
        rememberCredential(r.credential);
        return r;
      });
      this.credentials.set(key, found);
    }
    return found;
  }

  /** Where the credentials come from, for error messages. */
  async source(repository?: string): Promise<string> {
    return (await this.resolve(repository)).source;
  }

  /** The Authorization header to send up front for a request needing `scopes`; undefined = anonymous. */
  async authorization(scopes: readonly string[], url: URL, ctx: ErrorContext): Promise<string | undefined> {
    if (this.scheme === "basic") return this.basicHeader(url, ctx);
    if (this.scheme === "bearer") return (await this.token(scopes, ctx)).header;
    return undefined;
  }

  /**
   * After a 401 to a request that carried `sent` (or nothing): learns the challenge and returns the header
   * to retry with. Throws E_UNAUTHORIZED when there is nothing better to retry with.
   */
  async challenge(
    res: HttpResponse,
    scopes: readonly string[],
    sent: string | undefined,
    ctx: ErrorContext,
  ): Promise<string> {
    const challenges = parseWwwAuthenticate(res.headers["www-authenticate"]);
    const chosen = pickChallenge(challenges);
    if (!chosen) {
      const schemes = challenges.map((c) => c.scheme).join(", ");
      // The header is the registry's: quote it (clipped, through registryText) so the problem can be seen.
      const raw = registryText([res.headers["www-authenticate"] ?? []].flat().join(", "));
      const header = `WWW-Authenticate: ${raw.length > 200 ? `${raw.slice(0, 200)}...` : raw}`;
      const why = !raw.trim()
        ? "no WWW-Authenticate challenge"
        : !schemes
          ? `malformed challenge (${header})`
          : challenges.some((c) => c.scheme === "bearer")
            ? `Bearer challenge without a realm (${header})`
            : `unsupported authentication scheme ${schemes} (${header})`;
      throw unauthorizedError({ ...ctx, credentialSource: await this.source(ctx.repository) }, why);
    }
    if (chosen.scheme === "basic") {
      if (sent?.startsWith("Basic "))
        throw unauthorizedError(
          { ...ctx, credentialSource: await this.source(ctx.repository) },
          "credentials rejected",
        );
      this.scheme = "basic";
      return this.basicHeader(res.url, ctx);
    }
    return this.answerBearer(chosen, scopes, sent, ctx);
  }

  private async answerBearer(
    chosen: Challenge,
    scopes: readonly string[],
    sent: string | undefined,
    ctx: ErrorContext,
  ): Promise<string> {
    this.scheme = "bearer";
    this.bearer = { realm: chosen.params.realm, service: chosen.params.service };
    // The challenge may name a scope we did not ask for (e.g. insufficient_scope): ask for both.
    const wanted = [...scopes];
    for (const s of (chosen.params.scope ?? "").split(" ")) if (s && !covers(wanted, s)) wanted.push(s);
    const key = await this.tokenKey(wanted, ctx);
    const cached = sharedTokens.get(key);
    if (cached && cached.header === sent) sharedTokens.delete(key); // that token was just refused
    return (await this.token(wanted, ctx)).header;
  }

  private async basicHeader(url: URL, ctx: ErrorContext): Promise<string> {
    const { credential, source } = await this.resolve(ctx.repository);
    if (!isBasic(credential)) {
      throw unauthorizedError(
        { ...ctx, credentialSource: source },
        isIdentityToken(credential)
          ? "the registry wants a user name and password, not an identity token"
          : "authentication required",
      );
    }
    this.assertSafeToSend(url, ctx, source);
    return "Basic " + Buffer.from(`${credential.username}:${credential.password}`).toString("base64");
  }

  private assertSafeToSend(url: URL, ctx: ErrorContext, source: string): void {
    if (url.protocol === "http:" && !isLoopbackRegistry(url.host) && !this.opts.insecure) {
      throw new PipelineError(
        "E_INSECURE_AUTH",
        `${ctx.operation}: refusing to send credentials (${source}) over plain HTTP to ${url.host}; ` +
          `use HTTPS, or mark the registry insecure if you really mean it`,
      );
    }
  }

  /**
   * The token cache key: registry, realm, service, a hash of the credential (tokens got with one credential
   * never serve another) and the scope set.
   */
  private async tokenKey(scopes: readonly string[], ctx: ErrorContext): Promise<string> {
    const { credential } = await this.resolve(ctx.repository);
    const who = isBasic(credential)
      ? ["basic", credential.username, credential.password]
      : isIdentityToken(credential)
        ? ["identity", credential.identityToken]
        : ["anonymous"];
    const hash = createHash("sha256").update(JSON.stringify(who)).digest("hex");
    return [this.registry, this.bearer?.realm ?? "", this.bearer?.service ?? "", hash, scopeKey(scopes)].join("\n");
  }

  private async token(scopes: readonly string[], ctx: ErrorContext): Promise<CachedToken> {
    const key = await this.tokenKey(scopes, ctx);
    const cached = sharedTokens.get(key);
    if (cached && cached.expiresAt > this.now()) return cached;
    let pending = this.inflight.get(key);
    if (!pending) {
      pending = this.fetchToken(scopes, ctx).finally(() => this.inflight.delete(key));
      this.inflight.set(key, pending);
    }
    const token = await pending;
    rememberToken(key, token, this.now());
    return token;
  }

  private async fetchToken(scopes: readonly string[], ctx: ErrorContext): Promise<CachedToken> {
    const bearer = this.bearer!;
    let realm: URL;
    try {
      realm = new URL(bearer.realm);
    } catch {
      throw new PipelineError(
        "E_REGISTRY",
        `${ctx.operation}: registry ${this.registry} sent an invalid token realm ${JSON.stringify(registryUrl(bearer.realm))}`,
      );
    }
    const { credential, source } = await this.resolve(ctx.repository);
    const tokenCtx: ErrorContext = {
      ...ctx,
      operation: `${ctx.operation} (token from ${realm.host})`,
      credentialSource: source,
    };
    const transportCtx = { registry: realm.host, operation: tokenCtx.operation };
    let res: HttpResponse;
    if (isIdentityToken(credential)) {
      this.assertSafeToSend(realm, ctx, source);
      const form = new URLSearchParams({
        grant_type: "refresh_token",
        refresh_token: credential.identityToken,
        client_id: "rules_pipeline",
      });
      if (bearer.service) form.set("service", bearer.service);
      if (scopes.length) form.set("scope", scopes.join(" "));
      res = await this.opts.transport.request(
        {
          method: "POST",
          url: realm,
          headers: { "Content-Type": "application/x-www-form-urlencoded" },
          body: Buffer.from(form.toString()),
          insecureTls: this.opts.insecure,
        },
        transportCtx,
      );
    } else {
      const url = new URL(realm);
      if (bearer.service) url.searchParams.set("service", bearer.service);
      for (const s of scopes) url.searchParams.append("scope", s);
      const headers: Record<string, string> = {};
      if (isBasic(credential)) {
        this.assertSafeToSend(url, ctx, source);
        headers.Authorization =
          "Basic " + Buffer.from(`${credential.username}:${credential.password}`).toString("base64");
      }
      res = await this.opts.transport.request(
        { method: "GET", url, headers, insecureTls: this.opts.insecure },
        transportCtx,
      );
    }
    if (res.status === 401) {
      await res.discard();
      throw unauthorizedError(tokenCtx, "the token service rejected the credentials");
    }
    if (res.status !== 200) throw await responseError(res, tokenCtx);
    const text = await res.text(1024 * 1024);
    let body: TokenResponse;
    try {
      body = JSON.parse(text) as TokenResponse;
    } catch {
      throw new PipelineError(
        "E_REGISTRY",
        `${tokenCtx.operation}: the token service answered something that is not JSON`,
      );
    }
    const token = typeof body.token === "string" && body.token ? body.token : body.access_token;
    if (typeof token !== "string" || !token) {
      throw new PipelineError("E_REGISTRY", `${tokenCtx.operation}: the token service answered no token`);
    }
    rememberIssuedToken(token);
    const lifetimeS =
      typeof body.expires_in === "number" && body.expires_in > 0 ? body.expires_in : DEFAULT_TOKEN_LIFETIME_S;
    const lifetimeMs = lifetimeS * 1000;
    this.opts.log?.(`token for ${scopes.join(" ") || "(no scope)"} from ${realm.host}: valid ${lifetimeS} s`);
    return {
      header: `Bearer ${token}`,
      expiresAt: this.now() + Math.max(lifetimeMs - EXPIRY_SLACK_MS, lifetimeMs / 2),
    };
  }
}

/** `type:name:actions` (the name may itself hold colons, e.g. a registry port). */
function parseScope(s: string): { resource: string; actions: string[] } {
  const last = s.lastIndexOf(":");
  return last > 0
    ? { resource: s.slice(0, last), actions: s.slice(last + 1).split(",") }
    : { resource: s, actions: [] };
}

/** True when some scope in `have` grants every action `scope` asks on the same resource. */
export function covers(have: readonly string[], scope: string): boolean {
  const want = parseScope(scope);
  return have.some((h) => {
    const p = parseScope(h);
    return p.resource === want.resource && want.actions.every((a) => p.actions.includes(a) || p.actions.includes("*"));
  });
}

function scopeKey(scopes: readonly string[]): string {
  return [...scopes].sort().join(" ");
}
