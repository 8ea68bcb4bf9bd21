/**
 * Helpers for tests that need a registry: a dev registry on a free port over a temporary directory, a raw
 * HTTP request function (raw, so tests can send any header, including wrong Content-Length/Content-Range),
 * and shortcuts to push blobs and small images. Plain node: usable from any test runner.
 */
import { request as httpRequest, type IncomingHttpHeaders } from "node:http";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { type Digest, sha256 } from "../oci/digest";
import { MediaType } from "../oci/types";
import { type DevRegistry, type DevRegistryOptions, startDevRegistry } from "./server";

export interface TestResponse {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
  json<T = unknown>(): T;
}

export interface RequestOptions {
  body?: Buffer | string | Readable;
  headers?: Record<string, string | number>;
  /** Basic auth credentials. */
  auth?: { user: string; password: string };
  /** Connect from this local address (e.g. 127.0.0.2: another client on loopback). */
  localAddress?: string;
}

/** One HTTP request on a fresh connection to `address` (`host:port`). */
export function request(
  address: string,
  method: string,
  path: string,
  opts: RequestOptions = {},
): Promise<TestResponse> {
  const url = new URL(path, `http://${address}`);
  const headers: Record<string, string | number> = { ...opts.headers };
  if (opts.auth)
    headers.Authorization = "Basic " + Buffer.from(`${opts.auth.user}:${opts.auth.password}`).toString("base64");
  if (
    (typeof opts.body === "string" || Buffer.isBuffer(opts.body)) &&
    !Object.keys(headers).some((h) => /^content-length$/i.test(h))
  ) {
    headers["Content-Length"] = Buffer.byteLength(opts.body);
  }
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { method, headers, agent: false, localAddress: opts.localAddress }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("error", reject);
      res.on("end", () => {
        const body = Buffer.concat(chunks);
        resolve({
          status: res.statusCode ?? 0,
          headers: res.headers,
          body,
          json: <T>() => JSON.parse(body.toString("utf8")) as T,
        });
      });
    });
    req.on("error", reject);
    if (opts.body instanceof Readable) opts.body.pipe(req);
    else req.end(opts.body);
  });
}

export interface TempRegistry extends DevRegistry {
  /** Stops the registry and deletes its storage directory (unless `root` was given). */
  cleanup(): Promise<void>;
}

/** A dev registry on a free loopback port, stored in a new temporary directory unless `root` is given. */
export async function tempRegistry(opts: Partial<DevRegistryOptions> = {}): Promise<TempRegistry> {
  const owned = opts.root === undefined;
  const root = opts.root ?? (await mkdtemp(join(tmpdir(), "devregistry-")));
  const reg = await startDevRegistry({ ...opts, root, port: opts.port ?? 0 });
  return {
    ...reg,
    async cleanup() {
      await reg.close(); // waits for handlers still rolling an upload back, so nothing writes into root after this
      if (owned) await rm(root, { recursive: true, force: true });
    },
  };
}

/** Pushes a blob with a monolithic POST; returns its digest. Throws unless the registry answers 201. */
export async function pushBlob(
  address: string,
  repo: string,
  bytes: Buffer,
  auth?: RequestOptions["auth"],
): Promise<string> {
  const digest = sha256(bytes);
  const res = await request(address, "POST", `/v2/${repo}/blobs/uploads/?digest=${digest}`, { body: bytes, auth });
  if (res.status !== 201) throw new Error(`push blob ${digest} to ${repo}: HTTP ${res.status} ${res.body.toString()}`);
  return digest;
}

export interface PushedImage {
  digest: Digest;
  manifest: Buffer;
  config: Buffer;
  layers: Buffer[];
}

/** Builds the bytes of an OCI image manifest for `config` and `layers` (no pushing). */
export function imageManifest(config: Buffer, layers: Buffer[]): Buffer {
  return Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MediaType.OCI_MANIFEST,
      config: { mediaType: MediaType.OCI_CONFIG, digest: sha256(config), size: config.length },
      layers: layers.map((l) => ({ mediaType: MediaType.OCI_LAYER, digest: sha256(l), size: l.length })),
    }),
  );
}

/** Pushes a small OCI image (config + layers, then the manifest under `reference`). */
export async function pushImage(
  address: string,
  repo: string,
  reference: string,
  layers: Buffer[],
  auth?: RequestOptions["auth"],
): Promise<PushedImage> {
  const config = Buffer.from(
    JSON.stringify({
      architecture: "amd64",
      os: "linux",
      rootfs: { type: "layers", diff_ids: layers.map((l) => sha256(l)) },
    }),
  );
  for (const b of [config, ...layers]) await pushBlob(address, repo, b, auth);
  const manifest = imageManifest(config, layers);
  const res = await request(address, "PUT", `/v2/${repo}/manifests/${reference}`, {
    body: manifest,
    headers: { "Content-Type": MediaType.OCI_MANIFEST },
    auth,
  });
  if (res.status !== 201)
    throw new Error(`push manifest ${repo}:${reference}: HTTP ${res.status} ${res.body.toString()}`);
  return { digest: sha256(manifest), manifest, config, layers };
}
