/** Pushes OCI layouts to one repository and describes the result: shared by `push`, `bazel-push` and `bazel-run`. */
import { writeFileSync } from "node:fs";
import type { Keychain } from "../auth/keychain";
import { parseReference } from "../oci/reference";
import { readLayout } from "../layout/read";
import { ANNOTATION_BASE_NAME } from "../image/compose";
import { pushImage, PushResult } from "../registry/push";
import type { ProgressSink } from "../registry/progress";
import type { Target } from "./config";
import type { Manifest } from "../oci/types";

/** Blob count and total bytes of an image (config and layers; the manifest itself is not counted). */
export function imageSize(manifest: Manifest): { blobs: number; bytes: number } {
  const blobs = [manifest.config, ...manifest.layers];
  return { blobs: blobs.length, bytes: blobs.reduce((n, d) => n + d.size, 0) };
}

export interface PushedImage {
  name: string;
  reference: string;
  digest: string;
  registry: string;
  repository: string;
  tags: string[];
  /** The image's blobs (config and layers) and their total size, whatever was uploaded. */
  blobs: number;
  bytes: number;
  uploaded: number;
  uploadedBytes: number;
  skipped: number;
  mounted: number;
}

export interface PushMetadata extends PushedImage {
  /** Every image pushed, by name ("default" is the main one). */
  images: Record<string, PushedImage>;
}

export interface PushLayoutsOptions {
  keychain: Keychain;
  insecure: boolean;
  progress: ProgressSink;
  /** Debug log, one line per registry request. */
  log?: (line: string) => void;
}

/** Tags of image `name`: the main image gets `tags`, the others `<tag>-<name>`. */
export function tagsFor(name: string, tags: string[], isMain: boolean): string[] {
  return isMain ? tags : tags.map((t) => `${t}-${name}`);
}

export async function pushLayouts(
  images: { name: string; layoutDir: string }[],
  target: Target,
  tags: string[],
  opts: PushLayoutsOptions,
): Promise<PushMetadata> {
  const main = images.find((i) => i.name === "default") ?? images[0];
  const pushed: Record<string, PushedImage> = {};
  for (const img of images) {
    const image = readLayout(img.layoutDir);
    const mountFrom = [];
    const baseName = image.manifest.annotations?.[ANNOTATION_BASE_NAME];
    if (baseName) {
      try {
        const ref = parseReference(baseName);
        mountFrom.push({ registry: ref.registry, repository: ref.repository });
      } catch {
        /* an annotation we cannot use for mounting is not an error */
      }
    }
    const result: PushResult = await pushImage(
      image,
      { registry: target.registry, repository: target.repository, tags: tagsFor(img.name, tags, img === main) },
      { keychain: opts.keychain, insecure: opts.insecure, progress: opts.progress, mountFrom, log: opts.log },
    );
    pushed[img.name] = {
      name: img.name,
      reference: result.reference,
      digest: result.digest,
      registry: target.registry,
      repository: target.repository,
      tags: result.tags,
      ...imageSize(image.manifest),
      uploaded: result.uploaded.length,
      uploadedBytes: result.uploaded.reduce((n, u) => n + u.size, 0),
      skipped: result.skipped.length,
      mounted: result.mounted.length,
    };
  }
  return { ...pushed[main.name], images: pushed };
}

export function writeMetadata(path: string | undefined, meta: PushMetadata): void {
  if (path) writeFileSync(path, JSON.stringify(meta, null, 2) + "\n");
}

export function uriMap(meta: PushMetadata): Record<string, string> {
  return Object.fromEntries(Object.entries(meta.images).map(([k, v]) => [k, v.reference]));
}

export function summary(p: PushedImage): string {
  const parts = [`${p.uploaded} blob(s) uploaded`, `${p.skipped} already present`];
  if (p.mounted) parts.push(`${p.mounted} mounted`);
  return `pushed ${p.name === "default" ? "" : p.name + " "}${p.reference} (${parts.join(", ")})`;
}
