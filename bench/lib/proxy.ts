/**
 * A counting HTTP reverse proxy in front of a registry: forwards every request unchanged and records its
 * method, path, request-body and response-body bytes, so "bytes uploaded" (and downloaded) is measured on the wire,
 * not taken from the client's own report.
 */
import { createServer, request, type Server } from "node:http";
import type { AddressInfo } from "node:net";

export interface ProxiedRequest {
  method: string;
  path: string;
  bodyBytes: number;
  /** Bytes of the answer's body, as they passed (what a GET downloaded). */
  responseBytes: number;
  status?: number;
}

export interface CountingProxy {
  host: string;
  requests: ProxiedRequest[];
  reset(): void;
  bodyBytes(): number;
  stop(): Promise<void>;
}

export async function startCountingProxy(targetHost: string): Promise<CountingProxy> {
  const [hostname, port] = targetHost.split(":");
  let requests: ProxiedRequest[] = [];
  const server: Server = createServer((req, res) => {
    const rec: ProxiedRequest = { method: req.method ?? "", path: req.url ?? "", bodyBytes: 0, responseBytes: 0 };
    requests.push(rec);
    const headers = { ...req.headers, host: targetHost };
    const up = request({ hostname, port: Number(port), method: req.method, path: req.url, headers }, (upRes) => {
      rec.status = upRes.statusCode;
      // Locations point at the registry: keep the client talking to the proxy.
      const h = { ...upRes.headers };
      if (typeof h.location === "string") h.location = h.location.replace(`//${targetHost}/`, `//${self.host}/`);
      res.writeHead(upRes.statusCode ?? 502, h);
      upRes.on("data", (c: Buffer) => (rec.responseBytes += c.length));
      upRes.pipe(res);
    });
    up.on("error", (e) => {
      res.statusCode = 502;
      res.end(String(e));
    });
    req.on("data", (c: Buffer) => (rec.bodyBytes += c.length));
    req.pipe(up);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const self: CountingProxy = {
    host: `127.0.0.1:${(server.address() as AddressInfo).port}`,
    get requests() {
      return requests;
    },
    reset: () => {
      requests = [];
    },
    bodyBytes: () => requests.reduce((n, r) => n + r.bodyBytes, 0),
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
  return self;
}
