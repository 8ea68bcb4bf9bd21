/**
 * `pipeline image`: base layout + new layers + config → an OCI layout and its digest (run by the image rule).
 * With `--stamp-file` (the workspace status files, given only under `--stamp`), `{KEY}` in label and annotation
 * values is expanded and the OCI revision/source/version/created annotations are added (src/stamp.ts); without
 * it a value with a placeholder is left out, so unstamped builds stay reproducible.
 */
import { writeFileSync } from "node:fs";
import { PipelineError } from "../../errors";
import { readNamedFileSync } from "../../named-file";
import { readJsonFile } from "../../json-file";
import type { Digest } from "../../oci/digest";
import { checkJson, dict, type Infer, list, obj, type Shape, str } from "../../schema/validators";
import { composeImage, type ImageSettings } from "../../image/compose";
import { fileLayer } from "../../layer/blob";
import type { LayerDescriptor } from "../../layer/build";
import { isLayoutIndex, readLayout, readLayoutContent } from "../../layout/read";
import { writeLayout } from "../../layout/write";
import { withLayersInBazelCache } from "../../layout/remote";
import { sourceOfLayout } from "../../layout/source";
import { describeSkip, expandDict, readStatusFiles, stampAnnotations } from "../../stamp";
import type { Image, ImageIndex } from "../../oci/model";
import { composeIndex, platformOfImage } from "../../image/image-index";
import { formatPlatform, parsePlatformList, pickPlatform, platformMatches } from "../../oci/platform";
import type { Platform } from "../../oci/types";
import { imageSbom } from "../../sbom/image-sbom";
import type { CliIo } from "../io";
import type { CommandArgs } from "../args";
import type { IMAGE } from "../command-specs";

/**
 * The SBOM the image rule asks for: where to write it, its name, a file listing the npm package.json files, and the
 * lockfiles of their trees (each serving the node_modules beside it; no other lockfile is read).
 */
type SbomFlags = Pick<CommandArgs<typeof IMAGE>, "sbom-out" | "sbom-name" | "sbom-packages" | "sbom-lockfile">;

/**
 * The image config the image rule writes (bazel/private/image/image_config.bzl `image_config_json`, plus os and architecture
 * from image.bzl): every field checked, none cast, an unknown one refused. Its keys are ImageSettings' (checked below).
 */
const IMAGE_RULE_FIELDS = {
  entrypoint: { v: list(str()), required: true },
  cmd: { v: list(str()), required: true },
  env: { v: dict(str()), required: true },
  workdir: { v: str(), required: true },
  labels: { v: dict(str()), required: true },
  user: { v: str(), required: true },
  exposedPorts: { v: list(str()), required: true },
  volumes: { v: list(str()) },
  annotations: { v: dict(str()), required: true },
  os: { v: str(), required: true },
  architecture: { v: str(), required: true },
} as const;
const IMAGE_RULE_CONFIG = obj(IMAGE_RULE_FIELDS, "a mapping of image config fields (entrypoint, cmd, env, ...)");
export type ImageRuleConfig = Infer<typeof IMAGE_RULE_CONFIG>;
// The rule writes exactly the settings composeImage takes: a field added to one and not the other fails to compile.
type SameKeys<A, B> = [keyof A] extends [keyof B] ? ([keyof B] extends [keyof A] ? true : false) : false;
const _sameKeys: SameKeys<Shape<typeof IMAGE_RULE_FIELDS>, Required<ImageSettings>> = true;
void _sameKeys;

/** The image rule's --config file, validated: E_BAD_INPUT naming the file, the field and the value otherwise. */
export function readImageRuleConfig(path: string): ImageRuleConfig {
  return checkJson(readJsonFile(path, "--config"), `--config ${path}`, IMAGE_RULE_CONFIG, "E_BAD_INPUT");
}

export function sourceDateEpoch(env: NodeJS.ProcessEnv): number {
  const raw = env.SOURCE_DATE_EPOCH;
  if (raw === undefined || raw === "") return 0;
  if (!/^\d+$/.test(raw))
    throw new PipelineError(
      "E_BAD_INPUT",
      `SOURCE_DATE_EPOCH must be a non-negative integer, got ${JSON.stringify(raw)}`,
    );
  return Number(raw);
}

export async function image(a: CommandArgs<typeof IMAGE>, io: CliIo): Promise<void> {
  const cfg = readImageRuleConfig(a.config);
  const layers = a.layer.map((spec) => {
    const i = spec.lastIndexOf(":");
    if (i <= 0 || i === spec.length - 1)
      throw new PipelineError(
        "E_BAD_INPUT",
        `--layer: expected LAYER.tar.gz:DESCRIPTOR.json, got ${JSON.stringify(spec)}`,
      );
    const [tgz, descPath] = [spec.slice(0, i), spec.slice(i + 1)];
    const desc = readJsonFile(descPath, "--layer descriptor") as LayerDescriptor & { name: string; files: number };
    return { layer: fileLayer(tgz, desc), createdBy: `rules_pipeline: ${desc.name} layer (${desc.files} files)` };
  });
  const stampFiles = a["stamp-file"] ?? [];
  const status = stampFiles.length ? readStatusFiles(stampFiles, "--stamp-file") : undefined;
  const labels = expandDict(cfg.labels ?? {}, status);
  const annotations = expandDict(cfg.annotations ?? {}, status);
  for (const [kind, s] of [
    ...labels.skipped.map((s) => ["label", s] as const),
    ...annotations.skipped.map((s) => ["annotation", s] as const),
  ]) {
    io.stderr(describeSkip(`${kind} ${s.key} =`, s, status !== undefined));
  }
  const composeFor = (base: Image | undefined, platform?: Platform) =>
    composeImage({
      ...cfg,
      base,
      baseName: a.base ? sourceOfLayout(a.base) : undefined,
      layers,
      labels: labels.values,
      // The stamp's annotations first: the BUILD file's `annotations` win for a key both set.
      annotations: { ...(status ? stampAnnotations(status) : {}), ...annotations.values },
      created: sourceDateEpoch(io.env),
      os: platform?.os ?? cfg.os,
      architecture: platform?.architecture ?? cfg.architecture,
      variant: platform?.variant,
    });
  // Multi-platform: the same layers on each platform's base, under one index (the digest file names the index).
  const platforms = parsePlatformList(a.platform, "--platform");
  if (platforms.length) {
    const idx = composeIndex(platformBases(a.base, platforms).map((b, i) => composeFor(b, platforms[i])));
    await writeLayouts(a, idx);
    writeFileSync(a["out-digest"], idx.digest);
    // One SBOM for the index: the npm packages are the same on every platform; the base is the index it came from.
    writeSbom(a, idx.digest, a.base ? readLayoutContent(a.base).digest : undefined, io);
    return;
  }
  const img = composeFor(a.base ? readLayout(a.base) : undefined);
  await writeLayouts(a, img);
  writeFileSync(a["out-digest"], img.digest);
  writeSbom(a, img.digest, a.base ? readLayout(a.base).digest : undefined, io);
}

/**
 * The image's layout, and with --out-push-layout the same without its layer blobs (manifests, configs and the record of
 * where each layer is: the Bazel cache for the layers built here, the registry for a shallow base's): what the push
 * target reads instead when `--@rules_pipeline//bazel:remote_cache` is set (bazel/private/pipeline/launcher.bzl).
 */
async function writeLayouts(
  a: Pick<CommandArgs<typeof IMAGE>, "out-layout" | "out-push-layout" | "ref-name">,
  content: Image | ImageIndex,
): Promise<void> {
  await writeLayout(a["out-layout"], content, { refName: a["ref-name"] });
  if (a["out-push-layout"])
    await writeLayout(a["out-push-layout"], withLayersInBazelCache(content), { refName: a["ref-name"] });
}

function writeSbom(
  a: SbomFlags & { base?: string; "ref-name"?: string },
  imageDigest: Digest,
  baseDigest: Digest | undefined,
  io: CliIo,
): void {
  if (!a["sbom-out"]) return;
  const packageFiles = a["sbom-packages"]
    ? readNamedFileSync(a["sbom-packages"], { what: "--sbom-packages", bound: 64 * 1024 * 1024, code: "E_BAD_INPUT" })
        .toString("utf8")
        .split("\n")
        .filter((l) => l.trim())
    : [];
  const baseRef = a.base && baseDigest ? { name: sourceOfLayout(a.base), digest: baseDigest } : undefined;
  const sbom = imageSbom({
    name: a["sbom-name"] ?? a["ref-name"] ?? "image",
    imageDigest,
    packageFiles,
    lockfiles: a["sbom-lockfile"] ?? [],
    base: baseRef,
    created: sourceDateEpoch(io.env),
  });
  writeFileSync(a["sbom-out"], sbom);
}

/**
 * Each platform's base image: from a multi-platform base (an index layout) the entry for that platform; a
 * single-platform base only serves its own platform. None: the image starts from scratch for each platform.
 */
function platformBases(dir: string | undefined, platforms: Platform[]): (Image | undefined)[] {
  if (!dir) return platforms.map(() => undefined);
  const idx = readLayoutContent(dir);
  if (!isLayoutIndex(idx)) {
    const only = idx;
    const own = platformOfImage(only);
    if (platforms.length > 1 || !platformMatches(own, platforms[0])) {
      throw new PipelineError(
        "E_PLATFORM",
        `base ${dir} is a single-platform image (${formatPlatform(own)}); for platforms ${platforms.map(formatPlatform).join(", ")} give a multi-platform base (an index layout, e.g. pipeline_base_image(platforms = [...]))`,
      );
    }
    return [only];
  }
  const entries = idx.manifests.map((m) => m.descriptor);
  return platforms.map((p) => {
    const d = pickPlatform(entries, p, { name: `base ${dir}`, indexDigest: idx.digest });
    return idx.manifests.find((m) => m.descriptor === d)!.image;
  });
}
