/**
 * Image configs that come from others (a layout on disk, a registry's answer), checked once here: every field an
 * `ImageConfig` declares (what src/ reads) is checked where present, the layers' diff_ids become Digests, and every
 * other field is kept as it is (a base image's config bytes are never rewritten; the parsed value keeps its fields
 * for the configs composed on top of it). Problems are named by field and value, under the code of the edge.
 */
import { bool, checkJson, choice, dict, list, nullable, obj, str, type V, withSchema } from "../schema/validators";
import { type Digest, isDigest } from "./digest";
import { SHA256_DIGEST_GRAMMAR, SHA256_DIGEST_RE } from "./grammar";
import type { ImageConfig } from "./types";

const OPEN = { keepUnknown: true };

/** A sha256 digest, as a Digest. */
export const digest: V<Digest> = withSchema<Digest>(
  (node, path, cx) => {
    const s = str()(node, path, cx);
    if (s === undefined) return undefined;
    if (isDigest(s)) return s;
    cx.report(path, undefined, `expected a digest ${SHA256_DIGEST_GRAMMAR}`, cx.describe(node));
    return undefined;
  },
  { type: "string", pattern: SHA256_DIGEST_RE.source },
);

const strings = nullable(list(str()));
/** `{"80/tcp": {}}`: the keys are read, the values are kept. */
const keySet = nullable(dict(obj({}, "a mapping", {}, OPEN), "a mapping"));

const CONTAINER_CONFIG = obj(
  {
    User: { v: str() },
    Env: { v: strings },
    Entrypoint: { v: strings },
    Cmd: { v: strings },
    WorkingDir: { v: str() },
    Labels: { v: nullable(dict(str())) },
    ExposedPorts: { v: keySet },
    Volumes: { v: keySet },
    StopSignal: { v: str() },
  },
  "a mapping",
  {},
  OPEN,
);

const HISTORY_ENTRY = obj(
  { created: { v: str() }, created_by: { v: str() }, comment: { v: str() }, empty_layer: { v: bool } },
  "a mapping",
  {},
  OPEN,
);

const IMAGE_CONFIG = obj(
  {
    created: { v: str() },
    architecture: { v: str() },
    os: { v: str() },
    variant: { v: str() },
    config: { v: nullable(CONTAINER_CONFIG) },
    rootfs: {
      v: obj({ type: { v: choice(["layers"]) }, diff_ids: { v: nullable(list(digest)) } }, "a mapping", {}, OPEN),
    },
    history: { v: nullable(list(HISTORY_ENTRY)) },
  },
  "a JSON object",
  {},
  OPEN,
);

/**
 * Parsed JSON (an image config from a layout or a registry) as an ImageConfig; `where` names it (the layout and
 * blob, or the reference), `code` is the edge's error code. Throws `code` listing each bad field with its value.
 */
export function parseImageConfig(value: unknown, where: string, code: "E_LAYOUT" | "E_REGISTRY"): ImageConfig {
  return checkJson(value, where, IMAGE_CONFIG, code);
}

/** The config's layer diff_ids, in order (none when it lists none). */
export function diffIdsOf(config: ImageConfig): Digest[] {
  return config.rootfs?.diff_ids ?? [];
}
