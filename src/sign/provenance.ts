/**
 * SLSA provenance v1 (https://slsa.dev/provenance/v1) for a pushed image, made from what the push knows: the image's
 * own annotations (the base image's name and digest, and when stamped the source URL and commit), the lockfiles the
 * image was built from (their sha256), the repository, tags and platforms, and this tool's version. No timestamps, so
 * the same push of the same image states the same.
 * It is signed as an in-toto statement in a DSSE envelope and attached like the signature (src/sign/attach.ts):
 * `cosign verify-attestation --type slsaprovenance1 --key` accepts it.
 */
import { ANNOTATION_BASE_DIGEST, ANNOTATION_BASE_NAME } from "../image/compose";
import { redactUrl } from "../errors";
import { type Digest, isDigest, sha256 } from "../oci/digest";
import { unpinned } from "../oci/reference";
import { digestSet } from "./dsse";
import { BUILDER_ID } from "../slsa";
import { VERSION } from "../version";

/** What "a build" means for this tool as a SLSA builder (src/slsa.ts): `pipeline push` of an OCI layout. */
export const BUILD_TYPE = "urn:rules_pipeline:buildtype:push:v1";

export interface ResourceDescriptor {
  uri?: string;
  name?: string;
  digest: Record<string, string>;
  annotations?: Record<string, string>;
}

export interface ProvenancePredicate {
  buildDefinition: {
    buildType: string;
    externalParameters: Record<string, unknown>;
    resolvedDependencies: ResourceDescriptor[];
  };
  runDetails: { builder: { id: string; version: Record<string, string> } };
}

export interface ProvenanceInput {
  registry: string;
  repository: string;
  tags: string[];
  platforms: string[];
  /** The annotations of the image's manifest(s) (each platform's, for an index). */
  annotations: (Record<string, string> | undefined)[];
  /** Where the push came from: the Bazel target, or the command line. */
  invocation?: Record<string, unknown>;
  /** The lockfiles the image was built from: a name (a label or the path given) and the file's digest. */
  lockfiles?: { name: string; digest: Digest }[];
}

/** The sha256 of each lockfile (streamed: a lockfile may be large); E_BAD_INPUT naming one that cannot be read. */
/** The largest lockfile read for provenance (a monorepo's package-lock.json is a few MB). */
const LOCKFILE_BOUND = 256 * 1024 * 1024;

export async function lockfileDigests(
  lockfiles: { name: string; file: string }[],
): Promise<{ name: string; digest: Digest }[]> {
  const { readNamedFile } = await import("../named-file.js");
  const out: { name: string; digest: Digest }[] = [];
  for (const l of lockfiles) {
    // Opened, checked to be a regular file and read to a bound first (src/named-file.ts): a FIFO or /dev/zero named
    // as a lockfile is refused instead of blocking or hashing for ever.
    const bytes = await readNamedFile(l.file, { what: "lockfile", bound: LOCKFILE_BOUND, code: "E_BAD_INPUT" });
    out.push({ name: l.name, digest: sha256(bytes) });
  }
  return out;
}

/** One resolved dependency per lockfile, by name (a lockfile named twice with one digest is one entry). */
function lockfileDeps(lockfiles: { name: string; digest: Digest }[]): ResourceDescriptor[] {
  const byName = new Map(
    lockfiles.map((l) => [
      `${l.name} ${l.digest}`,
      { name: l.name, digest: digestSet(l.digest), annotations: { role: "lockfile" } },
    ]),
  );
  return [...byName.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, d]) => d);
}

export function provenanceFor(input: ProvenanceInput): ProvenancePredicate {
  const deps = new Map<string, ResourceDescriptor>();
  for (const a of input.annotations) {
    if (!a) continue;
    const base = a[ANNOTATION_BASE_DIGEST];
    if (base && isDigest(base)) {
      const name = a[ANNOTATION_BASE_NAME];
      deps.set(`base ${base}`, {
        ...(name ? { uri: `oci://${unpinned(name)}` } : {}),
        name: "base image",
        digest: digestSet(base),
      });
    }
    const commit = a["org.opencontainers.image.revision"];
    if (commit && /^[0-9a-f]{40}$/.test(commit)) {
      const source = a["org.opencontainers.image.source"];
      // An image annotated before sources were stripped (or by another tool) may still carry a token in its URL.
      const uri = source ? `git+${redactUrl(source, "strip")}` : undefined;
      deps.set(`source ${commit}`, { ...(uri ? { uri } : {}), name: "source", digest: { gitCommit: commit } });
    }
  }
  return {
    buildDefinition: {
      buildType: BUILD_TYPE,
      externalParameters: {
        repository: `${input.registry}/${input.repository}`,
        tags: input.tags,
        platforms: input.platforms,
        ...(input.invocation ? { invocation: input.invocation } : {}),
      },
      resolvedDependencies: [...deps.values(), ...lockfileDeps(input.lockfiles ?? [])],
    },
    runDetails: { builder: { id: BUILDER_ID, version: { rules_pipeline: VERSION } } },
  };
}
