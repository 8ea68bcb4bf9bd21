/**
 * A place a layer is read from when the image's layout does not hold it: one interface for every kind
 * (src/transfer/layer-sources.ts lists them; a registry's repository in registry-source.ts, the Bazel HTTP cache in
 * bazel-cache.ts). A layer the layout holds is read from its file (Blob.open of src/layout/read.ts), the third place a
 * push reads from, and needs no source. Every source hands out bytes checked against the layer's digest and size as
 * they flow, never written to disk by the source itself.
 */
import type { Readable } from "node:stream";
import type { BlobConsumer } from "../oci/model";
import type { Descriptor } from "../oci/types";
import type { ProgressSink } from "../registry/progress";

export interface LayerSource {
  /** Where the layer would be, as the error that lists every place asked names it. */
  where(layer: Descriptor): string;
  /** Whether the source holds the layer (false when it answers that it does not; throws on any other answer). */
  has(layer: Descriptor): Promise<boolean>;
  /** The layer's bytes, checked as they flow, shown on `progress`; the stream fails on any error. */
  stream(layer: Descriptor, progress: ProgressSink): Readable;
  /** The same bytes handed to a synchronous consumer (a file written through one reused buffer). */
  feed(layer: Descriptor, consumer: BlobConsumer, progress: ProgressSink): Promise<void>;
}

/** A source's stream handed to a consumer, for sources without a cheaper feed of their own. */
export async function feedFromStream(stream: Readable, consumer: BlobConsumer): Promise<void> {
  for await (const chunk of stream) consumer(chunk as Buffer);
}
