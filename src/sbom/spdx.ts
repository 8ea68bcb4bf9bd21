/**
 * An SPDX 2.3 JSON document for one image: the image itself (the document describes it), the npm packages it
 * contains and the base image it descends from. Deterministic: packages sorted, `created` from SOURCE_DATE_EPOCH
 * (epoch 0 when unstamped), documentNamespace derived from a hash of the content, no host paths or clock.
 */
import { createHash } from "node:crypto";
import { redactUrl } from "../errors";
import type { Digest } from "../oci/digest";
import { unpinned } from "../oci/reference";
import { VERSION } from "../version";

export const SPDX_MEDIA_TYPE = "application/spdx+json";

export interface NpmPackage {
  name: string;
  version: string;
  /** Subresource-integrity string from the lockfile (`sha512-<base64>`), when known. */
  integrity?: string;
  /** package.json `license` (an SPDX expression, normally). */
  license?: string;
  /** The tarball URL the lockfile resolved it from, when known. */
  resolved?: string;
}

export interface BaseImage {
  /** Where it came from, `registry/repository[:tag][@digest]`, when known. */
  name?: string;
  /** Manifest digest `sha256:...`. */
  digest: Digest;
}

export interface SbomInput {
  /** The document's (and the image package's) name, e.g. the image target (a main-repository label is shown as `//pkg:name`, see mainRepoLabel). */
  name: string;
  /** The image's manifest digest. */
  imageDigest: Digest;
  packages: NpmPackage[];
  base?: BaseImage;
  /** Seconds since the epoch. */
  created: number;
}

const NOASSERTION = "NOASSERTION";
const ALGORITHMS: Record<string, string> = { sha1: "SHA1", sha256: "SHA256", sha384: "SHA384", sha512: "SHA512" };

/** `pkg:npm/%40scope/name@version` (purl spec: the scope's `@` is percent-encoded; name parts are encoded). */
export function npmPurl(name: string, version: string): string {
  const parts = name.split("/").map((p) => encodeURIComponent(p));
  return `pkg:npm/${parts.join("/")}@${encodeURIComponent(version)}`;
}

/** `pkg:oci/<last path segment>@sha256%3A...?repository_url=<registry/repository>` (purl spec, type oci). */
export function ociPurl(digest: Digest, name?: string): string {
  const repo = name ? unpinned(name).replace(/:[^/:]+$/, "") : undefined;
  const last = repo ? repo.slice(repo.lastIndexOf("/") + 1) : "image";
  const q = repo ? `?repository_url=${encodeURIComponent(repo).replace(/%2F/g, "/")}` : "";
  return `pkg:oci/${encodeURIComponent(last.toLowerCase())}@${encodeURIComponent(digest)}${q}`;
}

/** SPDX checksums from an SRI string (`sha512-<base64> sha1-<base64>`); unknown algorithms are left out. */
export function checksumsOf(integrity: string | undefined): { algorithm: string; checksumValue: string }[] {
  if (!integrity) return [];
  const out: { algorithm: string; checksumValue: string }[] = [];
  for (const part of integrity.trim().split(/\s+/)) {
    const m = /^(sha1|sha256|sha384|sha512)-([A-Za-z0-9+/=]+)$/.exec(part);
    if (m) out.push({ algorithm: ALGORITHMS[m[1]], checksumValue: Buffer.from(m[2], "base64").toString("hex") });
  }
  return out;
}

/** A license as SPDX accepts it: a plain expression of ids, `AND`/`OR`/`WITH` and parentheses; else NOASSERTION. */
export function licenseOf(license: string | undefined): string {
  if (!license) return NOASSERTION;
  const l = license.trim();
  if (!/^[A-Za-z0-9.+\-:() ]+$/.test(l) || /^(UNLICENSED|SEE LICENSE)/i.test(l)) return NOASSERTION;
  return l;
}

function spdxId(prefix: string, text: string): string {
  return `SPDXRef-${prefix}-${text.replace(/[^A-Za-z0-9.-]+/g, "-").replace(/^-+|-+$/g, "")}`;
}

/**
 * A download location SPDX accepts (an http(s) URL), else NOASSERTION; without the credentials a lockfile's `resolved`
 * may hold (`user:token@`, `?private_token=`: redactUrl's "strip"), since the document is published with the image.
 */
function downloadLocation(resolved: string | undefined): string {
  return resolved && /^https?:\/\/[^\s]+$/.test(resolved) ? redactUrl(resolved, "strip") : NOASSERTION;
}

function sortedUnique(packages: NpmPackage[]): NpmPackage[] {
  const byKey = new Map<string, NpmPackage>();
  for (const p of packages) {
    const key = `${p.name}@${p.version}`;
    const seen = byKey.get(key);
    // The same name@version installed twice (nested copies) is one package; keep the one that knows the most.
    if (!seen || (!seen.integrity && p.integrity)) byKey.set(key, p);
  }
  return [...byKey.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, p]) => p);
}

/**
 * A main-repository Bazel label as users write it, `//pkg:name`: Bazel 6+ renders it `@//pkg:name` under WORKSPACE
 * and `@@//pkg:name` under bzlmod, and the SBOM must not depend on the mode. Anything else is returned as it is.
 */
export function mainRepoLabel(name: string): string {
  return name.replace(/^@@?\/\//, "//");
}

/** The document as an object (see buildSbom for its bytes). */
export function sbomDocument(input: SbomInput): Record<string, unknown> {
  const name = mainRepoLabel(input.name);
  const imageId = "SPDXRef-Image";
  const packages: Record<string, unknown>[] = [
    {
      name,
      SPDXID: imageId,
      versionInfo: input.imageDigest,
      downloadLocation: NOASSERTION,
      filesAnalyzed: false,
      primaryPackagePurpose: "CONTAINER",
      checksums: [{ algorithm: "SHA256", checksumValue: input.imageDigest.replace(/^sha256:/, "") }],
      licenseConcluded: NOASSERTION,
      licenseDeclared: NOASSERTION,
      copyrightText: NOASSERTION,
    },
  ];
  const relationships: Record<string, unknown>[] = [
    { spdxElementId: "SPDXRef-DOCUMENT", relationshipType: "DESCRIBES", relatedSpdxElement: imageId },
  ];
  if (input.base) {
    const baseId = "SPDXRef-BaseImage";
    packages.push({
      name: input.base.name ?? "base image",
      SPDXID: baseId,
      versionInfo: input.base.digest,
      downloadLocation: NOASSERTION,
      filesAnalyzed: false,
      primaryPackagePurpose: "CONTAINER",
      checksums: [{ algorithm: "SHA256", checksumValue: input.base.digest.replace(/^sha256:/, "") }],
      licenseConcluded: NOASSERTION,
      licenseDeclared: NOASSERTION,
      copyrightText: NOASSERTION,
      externalRefs: [
        {
          referenceCategory: "PACKAGE-MANAGER",
          referenceType: "purl",
          referenceLocator: ociPurl(input.base.digest, input.base.name),
        },
      ],
    });
    relationships.push({ spdxElementId: imageId, relationshipType: "DESCENDANT_OF", relatedSpdxElement: baseId });
  }
  const ids = new Set<string>();
  for (const p of sortedUnique(input.packages)) {
    let id = spdxId("npm", `${p.name}-${p.version}`);
    for (let n = 2; ids.has(id); n++) id = spdxId("npm", `${p.name}-${p.version}-${n}`);
    ids.add(id);
    const checksums = checksumsOf(p.integrity);
    packages.push({
      name: p.name,
      SPDXID: id,
      versionInfo: p.version,
      downloadLocation: downloadLocation(p.resolved),
      filesAnalyzed: false,
      primaryPackagePurpose: "LIBRARY",
      ...(checksums.length ? { checksums } : {}),
      licenseConcluded: NOASSERTION,
      licenseDeclared: licenseOf(p.license),
      copyrightText: NOASSERTION,
      externalRefs: [
        { referenceCategory: "PACKAGE-MANAGER", referenceType: "purl", referenceLocator: npmPurl(p.name, p.version) },
      ],
    });
    relationships.push({ spdxElementId: imageId, relationshipType: "CONTAINS", relatedSpdxElement: id });
  }
  const body = {
    spdxVersion: "SPDX-2.3",
    dataLicense: "CC0-1.0",
    SPDXID: "SPDXRef-DOCUMENT",
    name,
    documentNamespace: "",
    creationInfo: {
      created: new Date(input.created * 1000).toISOString().replace(/\.\d{3}Z$/, "Z"),
      creators: [`Tool: rules_pipeline-${VERSION}`],
    },
    packages,
    relationships,
  };
  const hash = createHash("sha256")
    .update(JSON.stringify({ ...body, documentNamespace: undefined }))
    .digest("hex");
  body.documentNamespace = `https://rules-pipeline.invalid/spdx/${encodeURIComponent(name)}-${hash}`;
  return body;
}

/** The document's bytes: 2-space JSON and a newline, the same for the same input. */
export function buildSbom(input: SbomInput): Buffer {
  return Buffer.from(JSON.stringify(sbomDocument(input), null, 2) + "\n");
}
