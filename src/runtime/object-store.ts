/**
 * Where a map's items and results live (docs/scale-out.md): a store of immutable objects under keys. Items and results
 * are kept under the sha256 of their bytes (`blobs/sha256/<hex>`), and a result is found through a small record keyed
 * by (image digest, task, item digest) (`results/<hex>`), so a map run again with the same image and inputs reuses
 * what is stored.
 *
 * Two kinds, one meaning: a directory on this machine (map-store-dir.ts; the `inprocess` and `container` targets when
 * no bucket is named) and an S3-compatible bucket (s3.ts; required on `kubernetes`). Part of `@rules_pipeline/runtime`:
 * Node built-ins only, since the map worker inside an image reads and writes through it too.
 */
import { SHA256_HEX_RE } from "./sha256-hex";

/** A store's failure: its code is one of the error catalogue's (src/error-codes/run.ts). */
export type ObjectStoreErrorCode = "E_MAP_STORE" | "E_MAP_STORE_TOO_LARGE";

export class ObjectStoreError extends Error {
  readonly code: ObjectStoreErrorCode;
  constructor(code: ObjectStoreErrorCode, message: string) {
    super(message);
    this.name = "ObjectStoreError";
    this.code = code;
  }
}

export interface ObjectStore {
  /** Where it is, for messages: `s3://bucket/prefix/` (no credential, ever) or the directory's path. */
  readonly where: string;
  /**
   * Checks that the store can be read and written with the credential it holds: one clear E_MAP_STORE error (the
   * bucket does not exist, the endpoint does not answer, the credential is refused) before any work starts.
   */
  check(): Promise<void>;
  /** Whether `key` exists. */
  has(key: string): Promise<boolean>;
  /**
   * The object's bytes, or undefined when there is none. An object larger than `maxBytes` is E_MAP_STORE_TOO_LARGE
   * (nothing above that bound is held in memory).
   */
  get(key: string, maxBytes: number): Promise<Buffer | undefined>;
  /**
   * Writes `body` under `key`, atomically: a reader sees the whole object or none. Keys are content-addressed or
   * write-once records, so writing a key that exists already leaves an equal object.
   */
  put(key: string, body: Buffer): Promise<void>;
  /**
   * The keys under `dir` (a key prefix ending in "/"), when there are at most `limit` of them; undefined when there
   * are more, or when the credential may not list (the caller then asks key by key with `has`).
   */
  list(dir: string, limit: number): Promise<string[] | undefined>;
}

/** Store requests in flight at once (HEADs, GETs and PUTs of items, records and results). */
export const STORE_CONCURRENCY: number = 32;
/** Bytes held by a store's writes in flight (besides one larger piece, which goes alone: in-flight.ts). */
export const STORE_BYTES_IN_FLIGHT: number = 64 * 1024 * 1024;
/**
 * Blobs up to this size are written without asking whether they are stored: a PUT of a few kB costs what a HEAD does,
 * and writing a content-addressed key again leaves an equal object. Larger ones are asked about first (not sent twice).
 */
const ASK_FIRST_BYTES = 64 * 1024;

/** Stores `bytes` under their digest `hex` (blobKey); a large blob the store has already is not sent again. */
export async function putBlob(store: ObjectStore, hex: string, bytes: Buffer): Promise<void> {
  const key = blobKey(hex);
  if (bytes.length > ASK_FIRST_BYTES && (await store.has(key))) return;
  await store.put(key, bytes);
}

/** The key of a blob: `blobs/sha256/<hex>`. */
export function blobKey(hex: string): string {
  if (!SHA256_HEX_RE.test(hex))
    throw new ObjectStoreError("E_MAP_STORE", `not a sha256 hex digest: ${JSON.stringify(hex)}`);
  return `blobs/sha256/${hex}`;
}
