/**
 * The object store of a map in an S3-compatible bucket (object-store.ts; docs/scale-out.md "Object storage"): objects
 * under `s3://bucket/prefix/`, read and written with AWS Signature V4 (s3-sign.ts) over node:http(s), so the map worker
 * inside an image needs nothing but Node. Against AWS (no endpoint) requests go to the bucket's virtual host; against
 * a custom endpoint (SeaweedFS, MinIO, Ceph) they are path-style, `endpoint/bucket/key`.
 *
 *   const store = new S3Store({ bucket: "maps", prefix: "runs/", credentials: s3Credentials(process.env) });
 *   await store.check();
 */
import { request as httpRequest, type IncomingMessage } from "node:http";
import { request as httpsRequest } from "node:https";
import { ObjectStoreError, type ObjectStore } from "./object-store";
import { EMPTY_SHA256, type S3Credentials, sha256Hex, signV4, uriEncode, uriPath } from "./s3-sign";
import { requestWithRetries, type S3Timeouts, storeAgent } from "./s3-http";

export type { S3Credentials } from "./s3-sign";
export type { S3Timeouts } from "./s3-http";

export interface S3StoreOptions {
  bucket: string;
  /** Where under the bucket the store's keys live: "" or a path ending in "/" (added when missing). */
  prefix: string;
  /** An S3-compatible server's URL (`http://127.0.0.1:8333`); AWS's regional endpoint when absent. */
  endpoint?: string;
  /** The bucket's region: `us-east-1` when absent. */
  region?: string;
  credentials: S3Credentials;
  /** Attempts per request, retries of 5xx answers and broken connections included (default 4). */
  maxAttempts?: number;
  timeouts?: Partial<S3Timeouts>;
}

type Env = Record<string, string | undefined>;

function fail(message: string): ObjectStoreError {
  return new ObjectStoreError("E_MAP_STORE", message);
}

/** The credential a pod is given through a Secret's keys: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN. */
export function s3Credentials(env: Env = process.env): S3Credentials {
  const accessKeyId = env.AWS_ACCESS_KEY_ID;
  const secretAccessKey = env.AWS_SECRET_ACCESS_KEY;
  for (const [name, value] of [
    ["AWS_ACCESS_KEY_ID", accessKeyId],
    ["AWS_SECRET_ACCESS_KEY", secretAccessKey],
  ] as const)
    if (!value) throw fail(`${name} is not set: the S3 object store needs AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY`);
  const sessionToken = env.AWS_SESSION_TOKEN || undefined;
  return {
    accessKeyId: accessKeyId ?? "",
    secretAccessKey: secretAccessKey ?? "",
    ...(sessionToken ? { sessionToken } : {}),
  };
}

/**
 * Why `name` is not a bucket name by S3's rules (general purpose buckets), or undefined when it is one: 3-63
 * characters of lowercase letters, digits, dots and hyphens, starting and ending with a letter or digit, no "..", not
 * an IP address, none of the prefixes and suffixes AWS reserves.
 */
export function bucketNameProblem(name: string): string | undefined {
  if (name.length < 3 || name.length > 63) return `${name.length} characters; a bucket name has 3 to 63`;
  if (!/^[a-z0-9][a-z0-9.-]*[a-z0-9]$/.test(name))
    return "a bucket name has lowercase letters, digits, dots and hyphens, and starts and ends with a letter or digit";
  if (name.includes("..")) return 'a bucket name has no ".."';
  if (/^\d+\.\d+\.\d+\.\d+$/.test(name)) return "a bucket name is not an IP address";
  if (/^(xn--|sthree-|amzn-s3-demo-)/.test(name) || /(-s3alias|--ol-s3|\.mrap|--x-s3|--table-s3)$/.test(name))
    return "that prefix or suffix is reserved by AWS";
  return undefined;
}

const DEFAULT_TIMEOUTS: S3Timeouts = { connectMs: 10_000, headersMs: 60_000, idleMs: 30_000 };
/** The probe check() writes and reads back: the same bytes every time, so writing it again changes nothing. */
const PROBE_KEY = ".rules_pipeline-check";
const PROBE = Buffer.from("rules_pipeline: this credential can write and read this prefix\n");

export class S3Store implements ObjectStore {
  readonly where: string;
  readonly bucket: string;
  readonly prefix: string;
  readonly region: string;
  /** The origin requests go to (`https://maps.s3.eu-west-1.amazonaws.com`, `http://127.0.0.1:8333`), for messages. */
  readonly origin: string;
  readonly #url: URL;
  /** Path-style: the bucket is the path's first segment; otherwise it is in the host name. */
  readonly #pathStyle: boolean;
  readonly #credentials: S3Credentials;
  readonly #maxAttempts: number;
  readonly #timeouts: S3Timeouts;
  readonly #agent: ReturnType<typeof storeAgent>;

  constructor(options: S3StoreOptions) {
    const o = options as Partial<S3StoreOptions> | undefined;
    if (!o || typeof o !== "object") throw fail(`S3 store options: expected an object, got ${JSON.stringify(o)}`);
    const bad = (field: string, value: unknown, why: string) =>
      fail(`S3 store option ${field}: ${why}, got ${JSON.stringify(value)}`);
    if (typeof o.bucket !== "string") throw bad("bucket", o.bucket, "expected a bucket name");
    const bucketProblem = bucketNameProblem(o.bucket);
    if (bucketProblem) throw bad("bucket", o.bucket, bucketProblem);
    if (typeof o.prefix !== "string") throw bad("prefix", o.prefix, 'expected a key prefix ("" for the whole bucket)');
    if (o.prefix.startsWith("/") || o.prefix.includes("//") || /(^|\/)\.{1,2}(\/|$)/.test(o.prefix))
      throw bad("prefix", o.prefix, 'expected a relative key prefix without "//", "." or ".." segments');
    const region = o.region ?? "us-east-1";
    if (typeof region !== "string" || !/^[a-z0-9-]{1,40}$/.test(region))
      throw bad("region", o.region, "expected a region name such as us-east-1");
    const c = o.credentials as Partial<S3Credentials> | undefined;
    if (!c || typeof c.accessKeyId !== "string" || !c.accessKeyId)
      throw fail("S3 store option credentials.accessKeyId: expected a non-empty string");
    // Never the value: it is a secret.
    if (typeof c.secretAccessKey !== "string" || !c.secretAccessKey)
      throw fail("S3 store option credentials.secretAccessKey: expected a non-empty string");
    if (c.sessionToken !== undefined && typeof c.sessionToken !== "string")
      throw fail("S3 store option credentials.sessionToken: expected a string when given");
    const attempts = o.maxAttempts ?? 4;
    if (!Number.isInteger(attempts) || attempts < 1 || attempts > 10)
      throw bad("maxAttempts", o.maxAttempts, "expected an integer from 1 to 10");
    const timeouts = { ...DEFAULT_TIMEOUTS, ...o.timeouts };
    for (const [k, v] of Object.entries(timeouts))
      if (!Number.isInteger(v) || v < 1) throw bad(`timeouts.${k}`, v, "expected a positive number of milliseconds");
    this.bucket = o.bucket;
    this.prefix = o.prefix === "" || o.prefix.endsWith("/") ? o.prefix : `${o.prefix}/`;
    this.region = region;
    if (o.endpoint !== undefined) {
      let url: URL | undefined;
      try {
        url = new URL(o.endpoint);
      } catch {}
      if (!url || !/^https?:$/.test(url.protocol) || url.pathname !== "/" || url.search || url.username)
        throw bad(
          "endpoint",
          o.endpoint,
          "expected an http(s) URL with no path, query or user, as http://127.0.0.1:8333",
        );
      this.#url = url;
      this.#pathStyle = true;
    } else {
      // A bucket name with dots does not match the certificate's *.s3 wildcard: such buckets are addressed by path.
      this.#pathStyle = this.bucket.includes(".");
      const host = `s3.${region}.amazonaws.com`;
      this.#url = new URL(`https://${this.#pathStyle ? host : `${this.bucket}.${host}`}/`);
    }
    this.origin = this.#url.origin;
    this.#agent = storeAgent(this.#url.protocol);
    this.where = `s3://${this.bucket}/${this.prefix}`;
    this.#credentials = {
      accessKeyId: c.accessKeyId,
      secretAccessKey: c.secretAccessKey,
      sessionToken: c.sessionToken,
    };
    this.#maxAttempts = attempts;
    this.#timeouts = timeouts;
  }

  /**
   * Writes a probe object under the prefix, reads it back, and asks for one that is not there: the three kinds of
   * request the store makes, with exactly the permissions a map needs (PutObject and GetObject on the prefix; a HEAD of
   * a missing key answers 404 only with ListBucket, else 403, which would make every missing result look forbidden).
   * A HEAD of the bucket would need ListBucket on the whole bucket and prove neither reading nor writing the prefix.
   */
  async check(): Promise<void> {
    await this.put(PROBE_KEY, PROBE);
    const back = await this.get(PROBE_KEY, PROBE.length);
    if (!back?.equals(PROBE))
      throw fail(`${this.where} at ${this.origin}: the probe object ${PROBE_KEY} written there read back different`);
    await this.#send("HEAD", `${PROBE_KEY}.missing`, undefined, async (res) => {
      res.resume();
      if (res.statusCode === 403)
        throw this.#error(res, "", "HEAD of a missing object", [
          "a missing object answered 403, not 404: grant s3:ListBucket on the bucket (for this prefix)",
        ]);
      if (res.statusCode !== 404) throw this.#error(res, "", "HEAD of a missing object");
    });
  }

  has(key: string): Promise<boolean> {
    return this.#send("HEAD", key, undefined, async (res) => {
      res.resume();
      if (res.statusCode === 200) return true;
      if (res.statusCode === 404) return false;
      throw this.#error(res, "", `HEAD ${key}`);
    });
  }

  async get(key: string, maxBytes: number): Promise<Buffer | undefined> {
    if (!Number.isSafeInteger(maxBytes) || maxBytes < 0)
      throw fail(
        `${this.where}: get(${JSON.stringify(key)}): maxBytes must be a non-negative integer, got ${maxBytes}`,
      );
    const tooLarge = (n: string) =>
      new ObjectStoreError("E_MAP_STORE_TOO_LARGE", `${this.where}${key}: ${n} bytes, above the limit of ${maxBytes}`);
    return this.#send("GET", key, undefined, async (res) => {
      if (res.statusCode !== 200) {
        const body = await readSmall(res);
        if (res.statusCode === 404 && !/<Code>NoSuchBucket<\/Code>/.test(body)) return undefined;
        throw this.#error(res, body, `GET ${key}`);
      }
      // Refused before reading when the answer says its length; counted as it flows when it does not (chunked).
      const length = Number(res.headers["content-length"] ?? Number.NaN);
      if (length > maxBytes) {
        res.destroy();
        throw tooLarge(String(length));
      }
      const body = await readBounded(res, maxBytes, () => tooLarge(`more than ${maxBytes}`));
      if (Number.isFinite(length) && body.length !== length)
        throw Object.assign(new Error(`the object ended after ${body.length} of ${length} bytes`), {
          code: "ECONNRESET",
        });
      return body;
    });
  }

  put(key: string, body: Buffer): Promise<void> {
    return this.#send("PUT", key, body, async (res) => {
      const text = await readSmall(res);
      if (res.statusCode !== 200) throw this.#error(res, text, `PUT ${key}`);
    });
  }

  /** The path of `key` under the prefix, encoded once as S3 wants it. */
  #path(key: string): string {
    if (typeof key !== "string" || !key || key.startsWith("/") || /(^|\/)\.{0,2}(\/|$)/.test(key))
      throw fail(`${this.where}: not an object key: ${JSON.stringify(key)}`);
    const full = this.prefix + key;
    if (Buffer.byteLength(full) > 1024)
      throw fail(`${this.where}: key longer than S3's 1024 bytes: ${full.slice(0, 80)}…`);
    return this.#pathStyle ? uriPath([this.bucket, full]) : uriPath([full]);
  }

  /**
   * ListObjectsV2 of `dir` under the prefix, a page of at most 1,000 keys at a time, up to `limit` keys; undefined past
   * that, or when the credential may not list (403). Each page is read with a bound; keys outside `dir` are left out.
   */
  async list(dir: string, limit: number): Promise<string[] | undefined> {
    const full = this.prefix + dir;
    const keys: string[] = [];
    let token: string | undefined;
    do {
      const query: Record<string, string> = { "list-type": "2", prefix: full, "max-keys": "1000" };
      if (token) query["continuation-token"] = token;
      const page = await this.#request(
        "GET",
        this.#pathStyle ? uriPath([this.bucket]) : "/",
        query,
        undefined,
        `${this.where}${dir} at ${this.origin} (LIST)`,
        async (res) => {
          const text = (
            await readBounded(res, MAX_LIST_PAGE, () =>
              fail(`${this.where}${dir}: a listing page is larger than ${MAX_LIST_PAGE} bytes`),
            )
          ).toString("utf8");
          if (res.statusCode === 403) return undefined;
          if (res.statusCode !== 200) throw this.#error(res, text, `LIST ${dir}`);
          return text;
        },
      );
      if (page === undefined) return undefined;
      for (const m of page.matchAll(/<Key>([^<]*)<\/Key>/g)) {
        const key = unescapeXml(m[1]);
        if (key.startsWith(full) && key.length > full.length) keys.push(key.slice(this.prefix.length));
      }
      if (keys.length > limit) return undefined;
      const truncated = /<IsTruncated>\s*true\s*<\/IsTruncated>/.test(page);
      token = truncated
        ? unescapeXml(/<NextContinuationToken>([^<]*)<\/NextContinuationToken>/.exec(page)?.[1] ?? "")
        : undefined;
      if (truncated && !token) return undefined;
    } while (token);
    return keys;
  }

  /** Sends a signed request for `key` and reads its answer with `read` (a bad key is a rejection, as any failure). */
  async #send<T>(
    method: "GET" | "HEAD" | "PUT",
    key: string,
    body: Buffer | undefined,
    read: (res: IncomingMessage) => Promise<T>,
  ): Promise<T> {
    return this.#request(method, this.#path(key), {}, body, `${this.where}${key} at ${this.origin} (${method})`, read);
  }

  /** Sends a signed request (retried: the answer's reading too, see s3-http.ts) and reads its answer with `read`. */
  async #request<T>(
    method: "GET" | "HEAD" | "PUT",
    path: string,
    query: Record<string, string>,
    body: Buffer | undefined,
    what: string,
    read: (res: IncomingMessage) => Promise<T>,
  ): Promise<T> {
    const payloadHash = body ? sha256Hex(body) : EMPTY_SHA256;
    const url = this.#url;
    const send = url.protocol === "https:" ? httpsRequest : httpRequest;
    const headers: Record<string, string> = { "x-amz-content-sha256": payloadHash };
    if (body)
      Object.assign(headers, { "content-length": String(body.length), "content-type": "application/octet-stream" });
    const sign = () =>
      signV4({
        method,
        host: url.host,
        path,
        query,
        headers,
        payloadHash,
        region: this.region,
        credentials: this.#credentials,
      });
    // Encoded as the signature encodes it (s3-sign.ts).
    const search = Object.entries(query)
      .map(([k, v]) => `${uriEncode(k)}=${uriEncode(v)}`)
      .join("&");
    const target = search ? `${path}?${search}` : path;
    return requestWithRetries({
      open: () =>
        send({
          agent: this.#agent,
          protocol: url.protocol,
          hostname: url.hostname,
          port: url.port,
          method,
          path: target,
          headers: sign().headers,
        }),
      body,
      read,
      maxAttempts: this.#maxAttempts,
      timeouts: this.#timeouts,
      what,
    });
  }

  /** S3's answer as one E_MAP_STORE error: where, the endpoint, the status and S3's code, and what it means. */
  #error(res: IncomingMessage, body: string, doing: string, hints: string[] = []): ObjectStoreError {
    const status = res.statusCode ?? 0;
    const code =
      /<Code>([^<]*)<\/Code>/.exec(body)?.[1] ??
      (status === 403 ? "Forbidden" : status === 404 ? "NotFound" : status === 301 ? "PermanentRedirect" : "");
    const message = unescapeXml(/<Message>([^<]*)<\/Message>/.exec(body)?.[1] ?? "").slice(0, 300);
    const what: Record<string, string> = {
      NoSuchBucket: `the bucket ${this.bucket} does not exist`,
      InvalidAccessKeyId: "the access key id is not known to this endpoint",
      SignatureDoesNotMatch: "the secret access key does not match the access key id",
      AccessDenied: "the credential is not allowed to do this here",
      Forbidden: "the credential is not allowed to do this here",
      ExpiredToken: "the credential has expired",
      InvalidToken: "the session token is not valid",
      PermanentRedirect: `the bucket is not in region ${this.region}`,
    };
    const region = res.headers["x-amz-bucket-region"];
    if (region && region !== this.region) hints.push(`the bucket is in region ${region}`);
    const meaning = what[code] ?? `${doing} failed`;
    return fail(
      `${this.where} at ${this.origin}: ${meaning} (HTTP ${status}${code ? ` ${code}` : ""})` +
        `${message ? `: ${message}` : ""}${hints.length ? `; ${hints.join("; ")}` : ""}`,
    );
  }
}

function unescapeXml(s: string): string {
  return s.replace(
    /&(lt|gt|quot|apos|amp);/g,
    (_, e: string) => ({ lt: "<", gt: ">", quot: '"', apos: "'", amp: "&" })[e] ?? "",
  );
}

/** The largest listing page read (1,000 keys of up to 1,024 bytes, escaped, and their XML). */
const MAX_LIST_PAGE = 8 * 1024 * 1024;

/** A whole answer's body, counted as it flows: past `max` bytes the answer is dropped and `tooLarge()` thrown. */
async function readBounded(res: IncomingMessage, max: number, tooLarge: () => Error): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of res as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > max) {
      res.destroy();
      throw tooLarge();
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks, size);
}

/** An error answer's body (small XML), at most 64 KiB of it. */
async function readSmall(res: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of res as AsyncIterable<Buffer>) {
      if (size < 65536) chunks.push(chunk);
      size += chunk.length;
    }
  } catch {
    // An error answer cut short: its status still says what happened.
  }
  return Buffer.concat(chunks).toString("utf8").slice(0, 65536);
}
