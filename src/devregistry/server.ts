/**
 * A small filesystem-backed registry implementing the OCI distribution API (v2) well enough for our own
 * client, skopeo and the docker CLI to push and pull: routing, optional Basic auth, request logging, and
 * `startDevRegistry` to run it in-process. Resource bounds (limits.ts) are enforced here: idle upload
 * sessions are swept on a timer while serving, and every request is watched for a stalled or dripping client
 * (stall-watchdog.ts); stalled headers are Node's `headersTimeout`, set to the same limit.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { resolve } from "node:path";
import { PipelineError } from "../errors";
import { basicAuthOk, unauthorized } from "./basic-auth";
import { cancelUpload, deleteBlob, getBlob, patchUpload, putUpload, startUpload, uploadStatus } from "./blobs";
import type { Ctx } from "./context";
import { type RegistryLimits, resolveLimits, sweepIntervalMs } from "./limits";
import { catalog, deleteManifest, getManifest, listTags, putManifest } from "./manifests";
import { validateName } from "./names";
import { listReferrers } from "./referrers";
import { ErrorAnswer } from "./error-answer";
import { API_VERSION, API_VERSION_HEADER, sendError, sendJson } from "./responses";
import { type StallReason, watchStalls } from "./stall-watchdog";
import { Storage } from "./storage";
import { Uploads } from "./uploads";

export interface DevRegistryOptions extends Partial<RegistryLimits> {
  /** Storage directory; created if missing. */
  root: string;
  /** Default 127.0.0.1. */
  host?: string;
  /** Default 5000; 0 picks a free port. */
  port?: number;
  /** When set, every /v2 request needs Basic auth with this user and password. */
  auth?: { user: string; password: string };
  /** Receives one line per request: `METHOD /path STATUS BYTES MSms`. Off when absent. */
  log?: (line: string) => void;
  /**
   * At most this many descriptors per answer of `GET /v2/<name>/referrers/<digest>`, the rest on further pages
   * named by a `Link: <...>; rel="next"` header (as the distribution spec lets a registry do). Default: one page.
   */
  referrersPageSize?: number;
}

export interface DevRegistry {
  host: string;
  port: number;
  /** `host:port` (IPv6 hosts in brackets), what image references use. */
  address: string;
  root: string;
  /** Stops accepting connections, ends idle ones at once and busy ones after a short grace period. */
  close(): Promise<void>;
}

type Handler = (ctx: Ctx, ...params: string[]) => Promise<void>;
type Methods = Partial<Record<"GET" | "HEAD" | "POST" | "PUT" | "PATCH" | "DELETE", Handler>>;

interface Route {
  re: RegExp;
  methods: Methods;
}

const apiBase: Handler = async (ctx) => sendJson(ctx.res, ctx.req, 200, {});

// Order matters: the upload routes must win over /blobs/<digest>.
const ROUTES: Route[] = [
  { re: /^\/v2\/?$/, methods: { GET: apiBase, HEAD: apiBase } },
  { re: /^\/v2\/_catalog$/, methods: { GET: catalog } },
  { re: /^\/v2\/(.+)\/tags\/list$/, methods: { GET: listTags } },
  { re: /^\/v2\/(.+)\/referrers\/([^/]+)$/, methods: { GET: listReferrers } },
  {
    re: /^\/v2\/(.+)\/manifests\/([^/]+)$/,
    methods: { GET: getManifest, HEAD: getManifest, PUT: putManifest, DELETE: deleteManifest },
  },
  { re: /^\/v2\/(.+)\/blobs\/uploads\/?$/, methods: { POST: startUpload } },
  {
    re: /^\/v2\/(.+)\/blobs\/uploads\/([^/]+)$/,
    methods: { GET: uploadStatus, PATCH: patchUpload, PUT: putUpload, DELETE: cancelUpload },
  },
  { re: /^\/v2\/(.+)\/blobs\/([^/]+)$/, methods: { GET: getBlob, HEAD: getBlob, DELETE: deleteBlob } },
];

function decode(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    throw new ErrorAnswer(400, "UNSUPPORTED", `malformed path segment ${JSON.stringify(segment)}`);
  }
}

async function dispatch(ctx: Ctx): Promise<void> {
  const path = ctx.url.pathname;
  for (const route of ROUTES) {
    const m = route.re.exec(path);
    if (!m) continue;
    const method = ctx.req.method as keyof Methods;
    // HEAD works wherever GET does (the senders omit the body for HEAD).
    const handler = route.methods[method] ?? (method === "HEAD" ? route.methods.GET : undefined);
    if (!handler) {
      throw new ErrorAnswer(405, "UNSUPPORTED", `${ctx.req.method} is not supported on ${path}`, undefined, {
        Allow: Object.keys(route.methods).join(", "),
      });
    }
    const params = m.slice(1).map(decode);
    if (params.length > 0) validateName(params[0]);
    return handler(ctx, ...params);
  }
  throw new ErrorAnswer(404, "UNSUPPORTED", `no such endpoint: ${ctx.req.method} ${path}`);
}

interface Deps {
  storage: Storage;
  uploads: Uploads;
  auth?: DevRegistryOptions["auth"];
  log?: (line: string) => void;
  bodyTimeoutMs: number;
  minBodyRate: number;
  referrersPageSize?: number;
  /** Handlers still running (a cut-off upload rolling back its chunk): close() waits for them. */
  inFlight: Set<Promise<void>>;
}

/** Answers 408 (when nothing was sent yet) to a request whose client stalled or dripped, then closes its connection. */
function cutOff(req: IncomingMessage, res: ServerResponse, deps: Deps, why: StallReason): void {
  const timeoutMs = deps.bodyTimeoutMs;
  const socket = req.socket;
  // The request first, so the handler reading its body fails (and rolls back) instead of seeing an early end.
  const destroy = (): void => {
    req.destroy();
    socket.destroy();
  };
  if (res.headersSent) {
    destroy();
    return;
  }
  res.setHeader("Connection", "close");
  const err =
    why.kind === "stall"
      ? new ErrorAnswer(408, "UNKNOWN", `request timed out: the client sent or read nothing for ${timeoutMs} ms`, {
          timeoutMs,
        })
      : new ErrorAnswer(
          408,
          "UNKNOWN",
          `request timed out: the body arrived at ${Math.floor((why.bytes * 1000) / why.ms)} bytes/s (${why.bytes} bytes in ${why.ms} ms), ` +
            `below the minimum of ${deps.minBodyRate} bytes/s`,
          { bytes: why.bytes, ms: why.ms, minBodyRate: deps.minBodyRate },
        );
  res.once("finish", destroy);
  setTimeout(destroy, 1000).unref(); // the client may not read the answer either
  sendError(res, req, err);
}

function handleRequest(req: IncomingMessage, res: ServerResponse, deps: Deps): void {
  const started = process.hrtime.bigint();
  let url: URL;
  try {
    url = new URL(req.url ?? "/", "http://registry.invalid");
  } catch {
    url = new URL("http://registry.invalid/");
  }
  // Upload sessions are capped per client: the user when auth is on (every request past it is that user's), else the address.
  const client = deps.auth ? `user ${deps.auth.user}` : `address ${req.socket.remoteAddress ?? "unknown"}`;
  const ctx: Ctx = {
    req,
    res,
    url,
    client,
    storage: deps.storage,
    uploads: deps.uploads,
    bytesIn: 0,
    referrersPageSize: deps.referrersPageSize,
  };
  let internal: string | undefined;
  if (deps.log) {
    const log = deps.log;
    res.once("close", () => {
      const ms = Number(process.hrtime.bigint() - started) / 1e6;
      const out = req.method === "HEAD" ? 0 : Number(res.getHeader("Content-Length") ?? 0);
      const bytes = Math.max(out, ctx.bytesIn);
      const aborted = res.writableFinished ? "" : " (aborted)";
      const error = internal ? ` error: ${internal}` : "";
      // Path only: no query string, and never request headers (Authorization).
      log(`${req.method} ${url.pathname} ${res.statusCode} ${bytes} ${ms.toFixed(1)}ms${aborted}${error}`);
    });
  }
  res.setHeader(API_VERSION_HEADER, API_VERSION);
  watchStalls(req, res, { timeoutMs: deps.bodyTimeoutMs, minBodyRate: deps.minBodyRate }, (why) =>
    cutOff(req, res, deps, why),
  );
  const run = async (): Promise<void> => {
    if (deps.auth && !basicAuthOk(req.headers.authorization, deps.auth.user, deps.auth.password)) throw unauthorized();
    await dispatch(ctx);
  };
  const handled = run().catch((e: unknown) => {
    if (res.headersSent) {
      res.destroy();
      return;
    }
    let err: ErrorAnswer;
    if (e instanceof ErrorAnswer) {
      err = e;
    } else {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === "ERR_STREAM_PREMATURE_CLOSE" || code === "ECONNRESET" || req.destroyed) {
        res.destroy(); // the client went away mid-request
        return;
      }
      internal = (e as Error).message ?? String(e);
      err = new ErrorAnswer(500, "UNKNOWN", `internal error: ${internal}`);
    }
    sendError(res, req, err);
  });
  deps.inFlight.add(handled);
  void handled.finally(() => deps.inFlight.delete(handled));
}

function formatAddress(host: string, port: number): string {
  return host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`;
}

async function listen(server: Server, host: string, port: number): Promise<void> {
  await new Promise<void>((resolveListen, reject) => {
    const onError = (e: Error): void => reject(e);
    server.once("error", onError);
    server.listen(port, host, () => {
      server.off("error", onError);
      resolveListen();
    });
  }).catch((e: NodeJS.ErrnoException) => {
    const where = formatAddress(host, port);
    if (e.code === "EADDRINUSE") {
      throw new PipelineError(
        "E_ADDR_IN_USE",
        `--port ${port}: ${where} is already in use (pass --port 0 to pick a free port)`,
        { cause: e },
      );
    }
    if (e.code === "EACCES") {
      throw new PipelineError("E_ADDR_ACCESS", `--port ${port}: not permitted to listen on ${where}`, { cause: e });
    }
    throw new PipelineError(
      "E_LISTEN",
      `--host ${host} --port ${port}: cannot listen on ${where} (${e.code ?? e.message})`,
      { cause: e },
    );
  });
}

/** Starts the registry in this process and resolves once it accepts connections. */
export async function startDevRegistry(opts: DevRegistryOptions): Promise<DevRegistry> {
  const host = opts.host ?? "127.0.0.1";
  const port = opts.port ?? 5000;
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new PipelineError("E_USAGE", `--port: expected an integer from 0 to 65535, got ${String(opts.port)}`, {
      exitCode: 2,
    });
  }
  if (opts.auth && (!opts.auth.user || opts.auth.user.includes(":") || !opts.auth.password)) {
    throw new PipelineError("E_USAGE", '--user: expected a non-empty user name without ":" and a non-empty password', {
      exitCode: 2,
    });
  }
  const pageSize = opts.referrersPageSize;
  if (pageSize !== undefined && (!Number.isSafeInteger(pageSize) || pageSize <= 0)) {
    throw new PipelineError(
      "E_USAGE",
      `referrersPageSize: expected a positive integer, got ${JSON.stringify(pageSize)}`,
      { exitCode: 2 },
    );
  }
  const limits = resolveLimits(opts);
  const root = resolve(opts.root);
  const storage = await Storage.open(root);
  const uploads = await Uploads.open(storage, limits);
  const deps: Deps = {
    storage,
    uploads,
    auth: opts.auth,
    log: opts.log,
    bodyTimeoutMs: limits.bodyTimeoutMs,
    minBodyRate: limits.minBodyRate,
    referrersPageSize: pageSize,
    inFlight: new Set(),
  };
  const server = createServer(
    { connectionsCheckingInterval: Math.min(30_000, Math.max(5, Math.floor(limits.bodyTimeoutMs / 4))) },
    (req, res) => handleRequest(req, res, deps),
  );
  server.requestTimeout = 0; // big layers over slow links must not be cut off: stalls and body rates are watched instead
  server.headersTimeout = limits.bodyTimeoutMs;
  server.on("clientError", (_err, socket) => {
    if (socket.writable) socket.end("HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n");
    else socket.destroy();
  });
  await listen(server, host, port);
  const sweeper = setInterval(() => {
    uploads
      .sweep()
      .catch((e: unknown) => opts.log?.(`sweeping idle upload sessions failed: ${(e as Error).message ?? String(e)}`));
  }, sweepIntervalMs(limits.uploadIdleMs));
  sweeper.unref();
  const actualPort = (server.address() as AddressInfo).port;
  let closing: Promise<void> | undefined;
  return {
    host,
    port: actualPort,
    address: formatAddress(host, actualPort),
    root,
    close() {
      clearInterval(sweeper);
      // Resolves once every connection is closed and every handler has finished: a request cut off by the close may
      // still be rolling its upload back, and whoever deletes the storage next must not race it.
      closing ??= new Promise<void>((done) => {
        server.close(() => done());
        server.closeIdleConnections();
        setTimeout(() => server.closeAllConnections(), 2000).unref();
      }).then(async () => {
        while (deps.inFlight.size) await Promise.allSettled([...deps.inFlight]);
      });
      return closing;
    },
  };
}
