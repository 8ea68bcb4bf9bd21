/**
 * Attaches an SBOM to a pushed image as an OCI 1.1 referrer (src/registry/artifact.ts): `artifactType:
 * application/spdx+json`, one layer (the SPDX document, titled sbom.spdx.json).
 */
import type { Descriptor } from "../oci/types";
import {
  type Artifact,
  artifactManifest,
  attachArtifact,
  type AttachOptions,
  type AttachResult,
  type PreparedArtifact,
  prepareArtifact,
} from "../registry/artifact";
import { SPDX_MEDIA_TYPE } from "./spdx";

export const SBOM_TITLE = "sbom.spdx.json";

function sbomArtifact(sbom: Buffer): Artifact {
  return {
    artifactType: SPDX_MEDIA_TYPE,
    bytes: sbom,
    layerAnnotations: { "org.opencontainers.image.title": SBOM_TITLE },
  };
}

/** The referrer manifest's bytes and its descriptor (for the fallback index). */
export function sbomManifest(sbom: Buffer, subject: Descriptor): { bytes: Buffer; descriptor: Descriptor } {
  return artifactManifest(sbomArtifact(sbom), subject);
}

/** Starts uploading the SBOM and the empty config (when missing), before the image is there (prepareArtifact). */
export function prepareSbom(
  target: { registry: string; repository: string },
  sbom: Buffer,
  opts: AttachOptions = {},
): PreparedArtifact {
  return prepareArtifact(target, sbomArtifact(sbom), opts);
}

/** Uploads the SBOM and the empty config (when missing; or waits for `prepared`), then pushes the referrer manifest. */
export function attachSbom(
  target: { registry: string; repository: string },
  subject: Descriptor,
  sbom: Buffer,
  opts: AttachOptions = {},
  prepared?: PreparedArtifact,
): Promise<AttachResult> {
  return attachArtifact(target, subject, sbomArtifact(sbom), opts, prepared);
}
