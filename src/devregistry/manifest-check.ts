/**
 * What a pushed manifest must be before it is stored, checked at PUT:
 *
 *   - JSON, an object;
 *   - its media types in RFC 6838's grammar (src/oci/grammar.ts): the Content-Type's type, the body's
 *     `mediaType` and `artifactType`, and every descriptor's `mediaType`. The stored media type is answered
 *     as the Content-Type of every later GET/HEAD, so one with a CR/LF or a space would break them all;
 *   - for an image manifest or an index, the spec's shape: schemaVersion 2, descriptors with a media type,
 *     a sha256 digest and a non-negative integer size;
 *   - references this repository can resolve: an image's blobs (with their sizes; foreign layers with
 *     `urls` excepted), an index's manifests. Not its `subject`: the distribution spec (1.1, "Pushing Manifests")
 *     says a registry MUST accept an otherwise valid manifest whose subject does not exist, so that referrers and
 *     the manifest they refer to can be pushed in either order (referrers.ts records it all the same);
 *   - no Docker schema 1 (`schemaVersion: 1`, the `...manifest.v1+json` / `+prettyjws` media types): deprecated,
 *     signed with keys nobody checks, and unreadable by our client and runtimes. Any document carrying a
 *     `schemaVersion` must carry 2, the only version of the OCI image manifest and index and of Docker's v2 ones.
 *
 * A failure is 400 MANIFEST_INVALID whose message names the field and quotes the value received as JSON
 * (so control characters show escaped), or one MANIFEST_BLOB_UNKNOWN per missing reference. A JSON document
 * that is neither an image nor an index is stored as it is, once its media type is valid.
 */
import { parseDescriptor, problemField } from "../oci/descriptor";
import { isMediaType, MEDIA_TYPE_GRAMMAR } from "../oci/grammar";
import { type Descriptor, INDEX_MEDIA_TYPES, MANIFEST_MEDIA_TYPES, MediaType } from "../oci/types";
import { type ErrorEntry, ErrorAnswer } from "./error-answer";
import type { Storage } from "./storage";

/** Content-Types that say nothing about the manifest: the body's mediaType (or its shape) decides. */
const GENERIC_TYPES = new Set(["", "application/json", "application/octet-stream", "text/plain"]);

type Kind = "image" | "index" | "other";

/** Docker's deprecated schema 1 media types. */
const SCHEMA1_TYPES = new Set([
  "application/vnd.docker.distribution.manifest.v1+json",
  "application/vnd.docker.distribution.manifest.v1+prettyjws",
]);

function show(value: unknown): string {
  return value === undefined ? "nothing" : JSON.stringify(value);
}

/** 400 MANIFEST_INVALID: `field: expected ..., got <value as JSON>`. */
function invalid(field: string, expected: string, value: unknown, detail?: Record<string, unknown>): ErrorAnswer {
  return new ErrorAnswer(400, "MANIFEST_INVALID", `${field}: expected ${expected}, got ${show(value)}`, {
    field,
    ...detail,
  });
}

function mediaTypeField(value: unknown, field: string, required: boolean): string | undefined {
  if (value === undefined && !required) return undefined;
  if (typeof value !== "string" || !isMediaType(value)) throw invalid(field, MEDIA_TYPE_GRAMMAR, value);
  return value;
}

/** A descriptor, checked by src/oci/descriptor.ts (digest, size, media type, urls): 400 MANIFEST_INVALID naming the field. */
function descriptor(value: unknown, where: string): Descriptor {
  return parseDescriptor(value, where, (p, at) => invalid(problemField(at, p), p.expected, p.value));
}

function descriptors(value: unknown, field: string): Descriptor[] {
  if (!Array.isArray(value)) throw invalid(field, "a list of descriptors", value);
  return value.map((v, i) => descriptor(v, `${field}[${i}]`));
}

/** Decides the media type to store and answer with: Content-Type, else the body's mediaType, else the shape. */
function mediaTypeOf(contentType: string | undefined, doc: Record<string, unknown>): { mediaType: string; kind: Kind } {
  const header = (contentType ?? "").split(";")[0].trim();
  if (!GENERIC_TYPES.has(header) && !isMediaType(header))
    throw invalid("Content-Type", MEDIA_TYPE_GRAMMAR, contentType);
  const body = mediaTypeField(doc.mediaType, "mediaType", false);
  mediaTypeField(doc.artifactType, "artifactType", false);
  if (!GENERIC_TYPES.has(header) && body !== undefined && body !== header) {
    throw new ErrorAnswer(
      400,
      "MANIFEST_INVALID",
      `Content-Type ${JSON.stringify(header)} does not match mediaType ${JSON.stringify(body)}`,
      {
        contentType: header,
        mediaType: body,
      },
    );
  }
  const looksIndex = Array.isArray(doc.manifests);
  const looksImage = doc.config !== undefined || doc.layers !== undefined;
  const mediaType = !GENERIC_TYPES.has(header)
    ? header
    : (body ??
      (looksIndex ? MediaType.OCI_INDEX : looksImage ? MediaType.OCI_MANIFEST : header || "application/octet-stream"));
  const kind: Kind = INDEX_MEDIA_TYPES.includes(mediaType)
    ? "index"
    : MANIFEST_MEDIA_TYPES.includes(mediaType)
      ? "image"
      : looksIndex
        ? "index"
        : looksImage
          ? "image"
          : "other";
  return { mediaType, kind };
}

/** Validates a pushed manifest (see the module doc) and returns the media type to store. */
export async function checkManifest(
  storage: Storage,
  name: string,
  bytes: Buffer,
  contentType: string | undefined,
): Promise<string> {
  let doc: unknown;
  try {
    doc = JSON.parse(bytes.toString("utf8"));
  } catch (e) {
    throw new ErrorAnswer(400, "MANIFEST_INVALID", `manifest is not valid JSON: ${(e as Error).message}`);
  }
  if (!doc || typeof doc !== "object" || Array.isArray(doc)) {
    throw new ErrorAnswer(400, "MANIFEST_INVALID", "manifest must be a JSON object");
  }
  const obj = doc as Record<string, unknown>;
  const { mediaType, kind } = mediaTypeOf(contentType, obj);
  if (SCHEMA1_TYPES.has(mediaType)) {
    throw new ErrorAnswer(
      400,
      "MANIFEST_INVALID",
      `Docker schema 1 manifests (${mediaType}) are not accepted: push a schemaVersion 2 manifest (OCI or Docker v2)`,
      {
        field: "mediaType",
      },
    );
  }
  if (kind === "other" && obj.schemaVersion === undefined) return mediaType;
  if (obj.schemaVersion !== 2) throw invalid("schemaVersion", "2", obj.schemaVersion);
  if (kind === "other") return mediaType;
  const missing: ErrorEntry[] = [];
  if (kind === "image") {
    const refs = [descriptor(obj.config, "config"), ...descriptors(obj.layers, "layers")];
    for (const d of refs) {
      if (d.urls && d.urls.length > 0) continue; // foreign layer: not stored here
      const size = await storage.repoBlobSize(name, d.digest);
      if (size === undefined) {
        missing.push({
          code: "MANIFEST_BLOB_UNKNOWN",
          message: `blob ${d.digest} is unknown to repository ${name}`,
          detail: { digest: d.digest },
        });
      } else if (size !== d.size) {
        throw new ErrorAnswer(
          400,
          "MANIFEST_INVALID",
          `blob ${d.digest} has ${size} bytes, the manifest says ${d.size}`,
          {
            digest: d.digest,
            size,
            declared: d.size,
          },
        );
      }
    }
  } else {
    for (const d of descriptors(obj.manifests, "manifests")) {
      if ((await storage.manifestMediaType(name, d.digest)) === undefined) {
        missing.push({
          code: "MANIFEST_BLOB_UNKNOWN",
          message: `manifest ${d.digest} is unknown to repository ${name}`,
          detail: { digest: d.digest },
        });
      }
    }
  }
  if (missing.length > 0) {
    const [first, ...more] = missing;
    throw new ErrorAnswer(400, "MANIFEST_BLOB_UNKNOWN", first.message, first.detail, {}, more);
  }
  return mediaType;
}
