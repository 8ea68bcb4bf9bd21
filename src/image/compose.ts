/** Composes a new image from an optional base and new layers. Pure: reads nothing but what it is given. */
import { PipelineError } from "../errors";
import { sha256 } from "../oci/digest";
import { diffIdsOf } from "../oci/image-config";
import { descriptorOf, type Layer, type Image } from "../oci/model";
import { bufferBlob } from "../layer/blob";
import { type ContainerConfig, type HistoryEntry, type ImageConfig, type Manifest, MediaType } from "../oci/types";

export const ANNOTATION_BASE_NAME = "org.opencontainers.image.base.name";
export const ANNOTATION_BASE_DIGEST = "org.opencontainers.image.base.digest";

/**
 * The image rule's settings, as bazel/private/image/image_config.bzl writes them (`pipeline image --config`): each of its
 * IMAGE_CONFIG_ATTRS under its camelCase name, and os/architecture. A new attribute there is a new field here.
 */
export interface ImageSettings {
  entrypoint?: string[];
  cmd?: string[];
  /** Added to the base's environment; a key already set by the base is replaced in place. */
  env?: Record<string, string>;
  /** Working directory (config `WorkingDir`). */
  workdir?: string;
  labels?: Record<string, string>;
  user?: string;
  exposedPorts?: string[];
  /** Absolute paths marked as volumes (config `Volumes`), added to the base's. */
  volumes?: string[];
  annotations?: Record<string, string>;
  os?: string;
  architecture?: string;
}

export interface ComposeOptions extends ImageSettings {
  base?: Image;
  /** Reference the base came from (`registry/repo@digest`), recorded as the base.name annotation. */
  baseName?: string;
  /** New layers, in order, each with a history comment. */
  layers: { layer: Layer; createdBy: string }[];
  /** Seconds since the epoch for `created`; default 0 (reproducible). */
  created?: number;
  variant?: string;
}

export function rfc3339(seconds: number): string {
  return new Date(seconds * 1000).toISOString().replace(/\.\d{3}Z$/, "Z");
}

function mergeEnv(base: string[] | null | undefined, add: Record<string, string>): string[] {
  const out = [...(base ?? [])];
  for (const key of Object.keys(add).sort()) {
    if (!key || key.includes("="))
      throw new PipelineError("E_BAD_ENV", `env: invalid variable name ${JSON.stringify(key)}`);
    const entry = `${key}=${add[key]}`;
    const i = out.findIndex((e) => e.split("=", 1)[0] === key);
    if (i >= 0) out[i] = entry;
    else out.push(entry);
  }
  return out;
}

export function composeImage(opts: ComposeOptions): Image {
  const base = opts.base;
  const created = rfc3339(opts.created ?? 0);
  const baseConfig: ImageConfig | undefined = base?.config;
  const containerConfig: ContainerConfig = { ...(baseConfig?.config ?? {}) };
  containerConfig.Env = mergeEnv(containerConfig.Env, opts.env ?? {});
  if (opts.entrypoint) {
    containerConfig.Entrypoint = opts.entrypoint;
    // The base's Cmd would otherwise become the new entrypoint's arguments.
    containerConfig.Cmd = opts.cmd ?? [];
  } else if (opts.cmd) {
    containerConfig.Cmd = opts.cmd;
  }
  if (opts.workdir) containerConfig.WorkingDir = opts.workdir;
  if (opts.user) containerConfig.User = opts.user;
  if (opts.labels && Object.keys(opts.labels).length) {
    containerConfig.Labels = { ...(containerConfig.Labels ?? {}), ...opts.labels };
  }
  if (opts.exposedPorts?.length) {
    const ports: Record<string, Record<string, unknown>> = { ...(containerConfig.ExposedPorts ?? {}) };
    for (const p of opts.exposedPorts) {
      if (!/^\d{1,5}(\/(tcp|udp|sctp))?$/.test(p))
        throw new PipelineError("E_BAD_PORT", `exposed_ports: expected "8080" or "8080/tcp", got ${JSON.stringify(p)}`);
      ports[p.includes("/") ? p : `${p}/tcp`] = {};
    }
    containerConfig.ExposedPorts = ports;
  }
  if (opts.volumes?.length) {
    const volumes: Record<string, Record<string, unknown>> = { ...(containerConfig.Volumes ?? {}) };
    for (const v of opts.volumes) {
      if (!v.startsWith("/") || v.includes("\0"))
        throw new PipelineError("E_BAD_VOLUME", `volumes: expected an absolute path, got ${JSON.stringify(v)}`);
      volumes[v] = {};
    }
    containerConfig.Volumes = volumes;
  }
  const history: HistoryEntry[] = [...(baseConfig?.history ?? [])];
  for (const { createdBy } of opts.layers) history.push({ created, created_by: createdBy, comment: "rules_pipeline" });
  const config: ImageConfig = {
    created,
    architecture: baseConfig?.architecture ?? opts.architecture ?? "amd64",
    os: baseConfig?.os ?? opts.os ?? "linux",
    ...((baseConfig ? baseConfig.variant : opts.variant)
      ? { variant: baseConfig ? baseConfig.variant : opts.variant }
      : {}),
    config: containerConfig,
    rootfs: {
      type: "layers",
      diff_ids: [...(baseConfig ? diffIdsOf(baseConfig) : []), ...opts.layers.map((l) => l.layer.diffId)],
    },
    history,
  };
  const configBytes = Buffer.from(JSON.stringify(config));
  const configBlob = bufferBlob(configBytes, MediaType.OCI_CONFIG);
  const layers = [...(base?.layers ?? []), ...opts.layers.map((l) => l.layer)];
  const annotations: Record<string, string> = { ...(opts.annotations ?? {}) };
  if (base) {
    annotations[ANNOTATION_BASE_DIGEST] = base.digest;
    if (opts.baseName) annotations[ANNOTATION_BASE_NAME] = opts.baseName;
  }
  const manifest: Manifest = {
    schemaVersion: 2,
    mediaType: MediaType.OCI_MANIFEST,
    config: descriptorOf(configBlob),
    layers: layers.map((l) => descriptorOf(l)),
    ...(Object.keys(annotations).length ? { annotations } : {}),
  };
  const manifestBytes = Buffer.from(JSON.stringify(manifest));
  return {
    manifestBytes,
    manifest,
    digest: sha256(manifestBytes),
    mediaType: MediaType.OCI_MANIFEST,
    configBytes,
    config,
    configBlob,
    layers,
  };
}
