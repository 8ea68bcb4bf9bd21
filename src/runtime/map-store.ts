/**
 * The store a map's location names (object-store.ts): an absolute directory (map-store-dir.ts) or `s3://BUCKET/PREFIX`
 * (map-store-s3.ts, loaded only then). What `pipeline map` and the map worker inside images both open.
 *
 * Part of `@rules_pipeline/runtime`: Node built-ins only.
 */
import { isAbsolute } from "node:path";
import { DirStore } from "./map-store-dir";
import { type ObjectStore, ObjectStoreError } from "./object-store";

type Env = Record<string, string | undefined>;

/** The store a location names: an absolute directory, or `s3://…` (map-store-s3.ts, loaded only then); `what` names it in errors. */
export async function openStore(location: string, env: Env, what = "PIPELINE_MAP_STORE"): Promise<ObjectStore> {
  if (location.startsWith("s3://")) {
    const { s3StoreAt } = await import("./map-store-s3.js");
    return s3StoreAt(location, env, undefined, what);
  }
  if (!isAbsolute(location))
    throw new ObjectStoreError(
      "E_MAP_STORE",
      `${what}: expected an absolute directory or s3://BUCKET/PREFIX, got ${JSON.stringify(location)}`,
    );
  return new DirStore(location);
}
