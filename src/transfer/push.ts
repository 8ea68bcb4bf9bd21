/** Pushes OCI layouts to one repository and describes the result: shared by `push`, `bazel-push` and `bazel-run`. */
import { writeFileSync } from "node:fs";
import { PipelineError } from "../errors";
import { readNamedFileSync } from "../named-file";
import type { Keychain } from "../registry-auth/keychain";
import { parseReference } from "../oci/reference";
import { readLayoutContent } from "../layout/read";
import { ANNOTATION_BASE_NAME } from "../image/compose";
import type { Image } from "../oci/model";
import { pushImage, type PushResult } from "../registry/push";
import { tagsFor } from "../image/tags";
import { pushIndex } from "../registry/push-index";
import { type Selection, selectPlatforms } from "./platforms";
import { RemoteLayers, remoteRepositories } from "./remote-blobs";
import type { LayerSource } from "./layer-source";
import type { ProgressSink } from "../registry/progress";
import type { TransferRate } from "../registry/transfer-rate";
import type { Target } from "./target";
import type { Digest } from "../oci/digest";
import type { Descriptor, Manifest } from "../oci/types";
import type { SigningKey } from "../sign/cosign-key";
import { SLSA_PROVENANCE_V1 } from "../slsa";

/** Blob count and total bytes of an image (config and layers; the manifest itself is not counted). */
export function imageSize(manifest: Manifest): { blobs: number; bytes: number } {
  const blobs = [manifest.config, ...manifest.layers];
  return { blobs: blobs.length, bytes: blobs.reduce((n, d) => n + d.size, 0) };
}

export interface PushedImage {
  name: string;
  reference: string;
  digest: Digest;
  registry: string;
  repository: string;
  tags: string[];
  /** The image's blobs (config and layers) and their total size, whatever was uploaded. */
  blobs: number;
  bytes: number;
  /** What this push sent: blob count and bytes (the same shape in `--metadata-out` and `--json`). */
  uploaded: { blobs: number; bytes: number };
  skipped: number;
  mounted: number;
  /** The platforms pushed (os/arch[/variant]); one for a single-platform image. */
  platforms: string[];
  /** For a multi-platform image: each platform's manifest as pushed. */
  manifests?: { platform: string; digest: Digest; reference: string }[];
  /** Platforms of the layout's index that were not pushed (`--platform` named others). */
  dropped: string[];
  /** The SBOM attached as a referrer: its manifest's digest and how the registry lists it. */
  sbom?: { digest: Digest; via: "referrers" | "tag"; tag?: string };
  /** The signature (a Sigstore bundle, cosign 3's form) attached as a referrer. */
  signature?: { digest: Digest; via: "referrers" | "tag"; tag?: string };
  /** The signed SLSA provenance attestation attached as a referrer. */
  provenance?: { digest: Digest; via: "referrers" | "tag"; tag?: string };
  /** The legacy signature manifest (cosign's `sha256-<hex>.sig` tag), when asked for. */
  legacySignature?: { digest: Digest; tag: string };
  /** With --sign-legacy and --provenance: the provenance in cosign's legacy `.att` tag too. */
  legacyProvenance?: { digest: Digest; tag: string };
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
  /** Push only these platforms of a multi-platform layout (os/arch[/variant]); default all. */
  platforms?: import("../oci/types").Platform[];
  /** Sign each pushed image (its index, for a multi-platform one) with this key, after the push and the SBOM. */
  signingKey?: SigningKey;
  /**
   * With signingKey: also attach a signed SLSA provenance v1 attestation; `invocation` says what pushed, `lockfiles`
   * the lockfiles the image was built from (src/sign/provenance.ts lockfileDigests, before anything is pushed).
   */
  provenance?: { invocation?: Record<string, unknown>; lockfiles?: { name: string; digest: Digest }[] };
  /** With signingKey: also cosign's legacy `sha256-<hex>.sig` tag form, for verifiers older than cosign 3. */
  legacySignature?: boolean;
  /** Reads the layers a layout records as in the Bazel remote cache (the image rule's push layout). */
  buildCache?: LayerSource;
  /** How slow a registry's answers may be, as the cache's (resolveLimits: $PIPELINE_MIN_TRANSFER_RATE). */
  transfer?: TransferRate;
}

/** Where the blobs of `image` may be mounted from: the repository its base was pulled from, if recorded. */
function mountSources(images: readonly Image[]): { registry: string; repository: string }[] {
  const out = new Map<string, { registry: string; repository: string }>();
  for (const image of images) {
    const baseName = image.manifest.annotations?.[ANNOTATION_BASE_NAME];
    if (!baseName) continue;
    try {
      const ref = parseReference(baseName);
      out.set(`${ref.registry}/${ref.repository}`, { registry: ref.registry, repository: ref.repository });
    } catch {
      /* an annotation we cannot use for mounting is not an error */
    }
  }
  return [...out.values()];
}

function distinct(repos: { registry: string; repository: string }[]): { registry: string; repository: string }[] {
  return [...new Map(repos.map((r) => [`${r.registry}/${r.repository}`, r])).values()];
}

/** The selection with its shallow base's layers streaming from where they are (src/registry/remote-blobs.ts). */
function fetchRemoteLayers(sel: Selection, opts: PushLayoutsOptions): Selection {
  const remote = new RemoteLayers({
    keychain: opts.keychain,
    insecure: opts.insecure,
    log: opts.log,
    buildCache: opts.buildCache,
    transfer: opts.transfer,
  });
  const images = sel.images.map((i) => remote.image(i));
  return sel.kind === "index"
    ? { ...sel, images, index: remote.content(sel.index) }
    : { ...sel, images, image: remote.image(sel.image) };
}

export async function pushLayouts(
  images: { name: string; layoutDir: string; sbomFile?: string }[],
  target: Target,
  tags: string[],
  opts: PushLayoutsOptions,
): Promise<PushMetadata> {
  const main = images.find((i) => i.name === "default") ?? images[0];
  const pushed: Record<string, PushedImage> = {};
  for (const img of images) {
    const target1 = {
      registry: target.registry,
      repository: target.repository,
      tags: tagsFor(img.name, tags, img === main),
    };
    // A shallow base's layers (src/layout/remote.ts) are mounted from, or streamed from, where the layout says.
    const sel = fetchRemoteLayers(
      selectPlatforms(img.layoutDir, readLayoutContent(img.layoutDir), opts.platforms),
      opts,
    );
    const common = {
      keychain: opts.keychain,
      insecure: opts.insecure,
      progress: opts.progress,
      log: opts.log,
      transfer: opts.transfer,
      mountFrom: distinct([...mountSources(sel.images), ...remoteRepositories(sel.images)]),
    };
    const attachOpts = { keychain: opts.keychain, insecure: opts.insecure, log: opts.log };
    // The SBOM is read before anything goes up (a bad file pushes nothing), and its blobs go up beside the image's;
    // its referrer manifest waits for the image.
    const sbom = img.sbomFile ? readSbomFile(img.sbomFile) : undefined;
    const sbomAttach = sbom && (await import("../sbom/attach.js"));
    const sbomBlobs = sbom && sbomAttach ? sbomAttach.prepareSbom(target, sbom, attachOpts) : undefined;
    const result: PushResult & { manifests?: { platform: string; digest: Digest; reference: string }[] } =
      sel.kind === "index" ? await pushIndex(sel.index, target1, common) : await pushImage(sel.image, target1, common);
    const size = sel.images.map((i) => imageSize(i.manifest));
    pushed[img.name] = {
      name: img.name,
      reference: result.reference,
      digest: result.digest,
      registry: target.registry,
      repository: target.repository,
      tags: result.tags,
      blobs: size.reduce((n, s) => n + s.blobs, 0),
      bytes: size.reduce((n, s) => n + s.bytes, 0),
      uploaded: { blobs: result.uploaded.length, bytes: result.uploaded.reduce((n, u) => n + u.size, 0) },
      skipped: result.skipped.length,
      mounted: result.mounted.length,
      platforms: sel.platforms,
      ...(result.manifests
        ? { manifests: result.manifests.map(({ platform, digest, reference }) => ({ platform, digest, reference })) }
        : {}),
      dropped: sel.dropped,
    };
    const subject: Descriptor =
      sel.kind === "index"
        ? { mediaType: sel.index.mediaType, digest: sel.index.digest, size: sel.index.bytes.length }
        : { mediaType: sel.image.mediaType, digest: sel.image.digest, size: sel.image.manifestBytes.length };
    if (sbom && sbomAttach) {
      const attached = await sbomAttach.attachSbom(target, subject, sbom, attachOpts, sbomBlobs);
      pushed[img.name].sbom = {
        digest: attached.digest,
        via: attached.via,
        ...(attached.tag ? { tag: attached.tag } : {}),
      };
    }
    if (opts.signingKey) {
      const { attachSignedStatement, signImage } = await import("../sign/attach.js");
      const step = async <T>(what: string, attach: () => Promise<T>): Promise<T> => {
        try {
          return await attach();
        } catch (e) {
          const why = e instanceof PipelineError ? `${e.code}: ${e.message}` : (e as Error).message;
          throw new PipelineError(
            "E_SIGNING",
            `${what} step: ${result.reference} is pushed, but attaching its ${what} failed (${why})`,
            {
              cause: e,
            },
          );
        }
      };
      const referrer = ({ digest, via, tag }: { digest: Digest; via: "referrers" | "tag"; tag?: string }) => ({
        digest,
        via,
        ...(tag ? { tag } : {}),
      });
      const key = opts.signingKey;
      pushed[img.name].signature = referrer(await step("signature", () => signImage(target, subject, key, attachOpts)));
      if (opts.legacySignature) {
        const { attachLegacySignature } = await import("../sign/legacy.js");
        pushed[img.name].legacySignature = await step("legacy signature", () =>
          attachLegacySignature(target, subject.digest, key, attachOpts),
        );
      }
      if (opts.provenance) {
        const { provenanceFor } = await import("../sign/provenance.js");
        const predicate = provenanceFor({
          lockfiles: opts.provenance.lockfiles,
          registry: target.registry,
          repository: target.repository,
          tags: result.tags,
          platforms: sel.platforms,
          annotations: sel.images.map((i) => i.manifest.annotations),
          invocation: opts.provenance.invocation,
        });
        pushed[img.name].provenance = referrer(
          await step("provenance", () =>
            attachSignedStatement(target, subject, key, SLSA_PROVENANCE_V1, predicate, attachOpts),
          ),
        );
        if (opts.legacySignature) {
          // The legacy `.att` form too: what key-based verifiers without bundle support read (policy-controller).
          const { attachLegacyAttestation } = await import("../sign/legacy.js");
          pushed[img.name].legacyProvenance = await step("legacy provenance", () =>
            attachLegacyAttestation(target, subject.digest, key, SLSA_PROVENANCE_V1, predicate, attachOpts),
          );
        }
      }
    }
  }
  return { ...pushed[main.name], images: pushed };
}

/** An SBOM file to attach: readable, and a JSON document (E_BAD_INPUT naming the file otherwise). */
export function readSbomFile(path: string): Buffer {
  // The one reader of files a flag names (src/named-file.ts): a regular file of at most 64 MiB.
  const bytes = readNamedFileSync(path, { what: "--sbom", bound: 64 * 1024 * 1024, code: "E_BAD_INPUT" });
  try {
    const doc = JSON.parse(bytes.toString("utf8")) as { spdxVersion?: unknown };
    if (typeof doc?.spdxVersion !== "string")
      throw new Error(`no "spdxVersion" field, got ${JSON.stringify(doc?.spdxVersion) ?? "nothing"}`);
  } catch (e) {
    throw new PipelineError("E_BAD_INPUT", `--sbom ${path}: not an SPDX JSON document (${(e as Error).message})`);
  }
  return bytes;
}

export function writeMetadata(path: string | undefined, meta: PushMetadata): void {
  if (path) writeFileSync(path, JSON.stringify(meta, null, 2) + "\n");
}

export function uriMap(meta: PushMetadata): Record<string, string> {
  return Object.fromEntries(Object.entries(meta.images).map(([k, v]) => [k, v.reference]));
}

export function summary(p: PushedImage): string {
  const parts = [
    ...(p.tags.length ? [`tagged ${p.tags.join(", ")}`] : []),
    `${p.uploaded.blobs} blob(s) uploaded`,
    `${p.skipped} already present`,
  ];
  if (p.mounted) parts.push(`${p.mounted} mounted`);
  if (p.sbom)
    parts.push(`SBOM ${p.sbom.digest} attached${p.sbom.tag ? ` (fallback tag ${p.sbom.tag})` : " (referrers API)"}`);
  if (p.signature)
    parts.push(
      `signature ${p.signature.digest} attached${p.signature.tag ? ` (fallback tag ${p.signature.tag})` : " (referrers API)"}`,
    );
  if (p.legacySignature) parts.push(`legacy signature at tag ${p.legacySignature.tag}`);
  if (p.legacyProvenance) parts.push(`legacy provenance at tag ${p.legacyProvenance.tag}`);
  if (p.provenance) parts.push(`SLSA provenance ${p.provenance.digest} attached`);
  const name = p.name === "default" ? "" : p.name + " ";
  const lines = p.dropped.map(
    (d) => `platform ${d} of ${name ? p.name : "the image"}: not pushed (--platform named ${p.platforms.join(", ")})`,
  );
  const what = p.manifests ? `index of ${p.platforms.join(", ")} ` : "image ";
  return [`${what}${name}${p.reference}: pushed (${parts.join(", ")})`, ...lines].join("\n");
}
