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
}

/** The key of a blob: `blobs/sha256/<hex>`. */
export function blobKey(hex: string): string {
  if (!/^[0-9a-f]{64}$/.test(hex))
    throw new ObjectStoreError("E_MAP_STORE", `not a sha256 hex digest: ${JSON.stringify(hex)}`);
  return `blobs/sha256/${hex}`;
}
