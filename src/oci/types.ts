/** OCI image-spec and distribution types. Types and constants only: no I/O. */
import type { Digest } from "./digest";

export const MediaType = {
  OCI_MANIFEST: "application/vnd.oci.image.manifest.v1+json",
  OCI_INDEX: "application/vnd.oci.image.index.v1+json",
  OCI_CONFIG: "application/vnd.oci.image.config.v1+json",
  OCI_LAYER: "application/vnd.oci.image.layer.v1.tar",
  OCI_LAYER_GZIP: "application/vnd.oci.image.layer.v1.tar+gzip",
  OCI_EMPTY: "application/vnd.oci.empty.v1+json",
  DOCKER_MANIFEST: "application/vnd.docker.distribution.manifest.v2+json",
  DOCKER_MANIFEST_LIST: "application/vnd.docker.distribution.manifest.list.v2+json",
  DOCKER_CONFIG: "application/vnd.docker.container.image.v1+json",
  DOCKER_LAYER_GZIP: "application/vnd.docker.image.rootfs.diff.tar.gzip",
} as const;

/** Media types a registry may answer for a single-platform image manifest. */
export const MANIFEST_MEDIA_TYPES: readonly string[] = [MediaType.OCI_MANIFEST, MediaType.DOCKER_MANIFEST];
/** Media types of a multi-platform index. */
export const INDEX_MEDIA_TYPES: readonly string[] = [MediaType.OCI_INDEX, MediaType.DOCKER_MANIFEST_LIST];

export interface Platform {
  architecture: string;
  os: string;
  variant?: string;
  "os.version"?: string;
}

export interface Descriptor {
  mediaType: string;
  digest: Digest;
  size: number;
  annotations?: Record<string, string>;
  platform?: Platform;
  artifactType?: string;
  urls?: string[];
}

export interface Manifest {
  schemaVersion: 2;
  mediaType?: string;
  artifactType?: string;
  config: Descriptor;
  layers: Descriptor[];
  annotations?: Record<string, string>;
}

export interface Index {
  schemaVersion: 2;
  mediaType?: string;
  manifests: Descriptor[];
  annotations?: Record<string, string>;
}

/**
 * The container config of an image config. Docker writes an empty list or mapping as null; a config read from others
 * keeps its other fields (src/oci/image-config.ts checks these where present).
 */
export interface ContainerConfig {
  User?: string;
  Env?: string[] | null;
  Entrypoint?: string[] | null;
  Cmd?: string[] | null;
  WorkingDir?: string;
  Labels?: Record<string, string> | null;
  ExposedPorts?: Record<string, Record<string, unknown>> | null;
  Volumes?: Record<string, Record<string, unknown>> | null;
  StopSignal?: string;
}

export interface HistoryEntry {
  created?: string;
  created_by?: string;
  comment?: string;
  empty_layer?: boolean;
}

/**
 * An image config. The ones we compose have every field; one read from a layout or a registry (parsed by
 * src/oci/image-config.ts) has what its author wrote, each field checked where present.
 */
export interface ImageConfig {
  created?: string;
  architecture?: string;
  os?: string;
  variant?: string;
  config?: ContainerConfig | null;
  rootfs?: { type?: "layers"; diff_ids?: Digest[] | null };
  history?: HistoryEntry[] | null;
}

/** The `oci-layout` file's content. */
export const OCI_LAYOUT_FILE = { imageLayoutVersion: "1.0.0" } as const;

/** Annotation the OCI layout uses to name a manifest in index.json (e.g. a tag). */
export const ANNOTATION_REF_NAME = "org.opencontainers.image.ref.name";
