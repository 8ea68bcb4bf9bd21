/**
 * verify-image: an image's file index built by streaming its layers (nothing unpacked, nothing run), then
 * the contract checked on it. The image comes from an OCI layout (`oci:DIR[:NAME]`) or a registry.
 * The layers are read under the same expansion and metadata limits as an unpack (src/layer/limits.ts; free
 * space aside, as nothing is written), so a bomb costs neither memory nor minutes here either.
 */
import { PipelineError } from "../errors";
import type { Digest } from "../oci/digest";
import type { Image, Layer } from "../oci/model";
import { decompressed } from "../layer/decompress";
import { DEFAULT_LIMITS, ExpansionBudget, type ExpansionMeter, type LayerLimits } from "../layer/limits";
import { type VerifyProblem, VerifyStream } from "../oci/verifying-stream";
import { type CheckResult, checkContract, INDEX_OPTIONS } from "./contract";
import { FileIndex } from "./file-index";

export interface VerifyReport {
  digest: Digest;
  platform: string;
  /** True when every required check passed (warnings allowed). */
  ok: boolean;
  results: CheckResult[];
  /** Entries in the file index, after whiteouts. */
  files: number;
}

/** The layer's uncompressed tar, its compressed bytes checked against the layer's digest at the end. */
async function* layerTar(layer: Layer, label: string, meter: ExpansionMeter): AsyncGenerator<Buffer> {
  const checked = new VerifyStream({
    expect: { digest: layer.digest, size: layer.size },
    fail: (p) => layerProblem(label, p),
  });
  const src = layer.open();
  src.on("error", (e) => checked.destroy(e));
  yield* decompressed(src.pipe(checked) as AsyncIterable<Buffer>, label, meter);
}

function layerProblem(label: string, p: VerifyProblem): PipelineError {
  const said =
    p.kind === "digest"
      ? `content has digest ${p.actual}, the manifest says ${p.expected}`
      : p.kind === "size"
        ? `content has ${p.bytes} bytes, the manifest says ${p.expectedSize}`
        : `content is longer than the ${p.expectedSize} bytes the manifest says`;
  return new PipelineError("E_DIGEST_MISMATCH", `${label}: ${said}`);
}

/** The image's file index, layer by layer (bottom first). */
export async function indexImage(image: Image, name: string, limits: LayerLimits = DEFAULT_LIMITS): Promise<FileIndex> {
  const index = new FileIndex({ ...INDEX_OPTIONS, tar: { maxArchiveMeta: limits.maxTarMetadata } });
  const budget = new ExpansionBudget(limits);
  const n = image.layers.length;
  for (let i = 0; i < n; i++) {
    const label = `${name}: layer ${i + 1}/${n} (${image.layers[i].digest})`;
    const meter = budget.layer(label);
    const stream = layerTar(image.layers[i], label, meter);
    try {
      await index.addLayer(stream, label, meter);
      // The tar ends with its end-of-archive marker; drain the rest so the digest is checked.
      for await (const _ of stream) void _;
    } catch (e) {
      if (e instanceof PipelineError) {
        if (e.message.startsWith(label)) throw e;
        throw new PipelineError(e.code, `${label}: ${e.message}`, { cause: e });
      }
      throw new PipelineError("E_VERIFY", `${label}: cannot read it: ${(e as Error).message}`, { cause: e });
    }
  }
  return index;
}

export async function verifyImage(image: Image, name: string, limits?: LayerLimits): Promise<VerifyReport> {
  const index = await indexImage(image, name, limits);
  const results = checkContract(image.config, index);
  const c = image.config;
  return {
    digest: image.digest,
    platform: `${c.os}/${c.architecture}${c.variant ? `/${c.variant}` : ""}`,
    ok: results.every((r) => r.status !== "miss"),
    results,
    files: index.size,
  };
}
