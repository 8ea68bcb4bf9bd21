/**
 * SLSA provenance v1 (https://slsa.dev/provenance/v1) for a pushed image, made from what the push knows: the image's
 * own annotations (the base image's name and digest, and when stamped the source URL and commit), the repository,
 * tags and platforms, and this tool's version. No timestamps, so the same push of the same image states the same.
 * It is signed as an in-toto statement in a DSSE envelope and attached like the signature (src/sign/attach.ts):
 * `cosign verify-attestation --type slsaprovenance1 --key` accepts it.
 */
import { ANNOTATION_BASE_DIGEST, ANNOTATION_BASE_NAME } from "../image/compose";
import { VERSION } from "../version";

export const SLSA_PROVENANCE_V1 = "https://slsa.dev/provenance/v1";
/** This tool as a SLSA builder, and what "a build" means for it: `pipeline push` of an OCI layout. */
export const BUILDER_ID = "urn:rules_pipeline:pipeline-cli";
export const BUILD_TYPE = "urn:rules_pipeline:buildtype:push:v1";

export interface ResourceDescriptor {
  uri?: string;
  name?: string;
  digest: Record<string, string>;
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
}

function digestMap(digest: string): Record<string, string> {
  const [algorithm, hex] = digest.split(":");
  return { [algorithm]: hex };
}

export function provenanceFor(input: ProvenanceInput): ProvenancePredicate {
  const deps = new Map<string, ResourceDescriptor>();
  for (const a of input.annotations) {
    if (!a) continue;
    const base = a[ANNOTATION_BASE_DIGEST];
    if (base && /^sha256:[0-9a-f]{64}$/.test(base)) {
      const name = a[ANNOTATION_BASE_NAME];
      deps.set(`base ${base}`, { ...(name ? { uri: `oci://${name.replace(/@sha256:[0-9a-f]{64}$/, "")}` } : {}), name: "base image", digest: digestMap(base) });
    }
    const commit = a["org.opencontainers.image.revision"];
    if (commit && /^[0-9a-f]{40}$/.test(commit)) {
      const source = a["org.opencontainers.image.source"];
      deps.set(`source ${commit}`, { ...(source ? { uri: `git+${source}` } : {}), name: "source", digest: { gitCommit: commit } });
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
      resolvedDependencies: [...deps.values()],
    },
    runDetails: { builder: { id: BUILDER_ID, version: { rules_pipeline: VERSION } } },
  };
}
