/**
 * The S3 side of openStore (map-worker.ts): an `s3://BUCKET/PREFIX` location and the AWS_* variables of the worker's
 * environment (the Secret the `kubernetes` target renders) made an ObjectStore.
 *
 * Part of `@rules_pipeline/runtime`: Node built-ins only.
 */
import { type ObjectStore, ObjectStoreError } from "./object-store";

export function s3StoreAt(location: string, _env: Record<string, string | undefined>): ObjectStore {
  throw new ObjectStoreError(
    "E_MAP_STORE",
    `${location}: S3 stores are not read by this version of the map worker yet; use a directory store (--artifacts DIR)`,
  );
}
