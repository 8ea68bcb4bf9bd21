/**
 * A layer from a registry's repository (a LayerSource): a shallow base's layers, recorded on the layout as the base's
 * reference (`registry/repository@sha256:<base>`, src/layout/remote.ts). HEAD to look, GET to read, through the
 * client's auth, retries and minimum transfer rate; checked as the bytes flow (RegistryClient.openBlob, fetchBlob).
 */
import type { Readable } from "node:stream";
import type { BlobConsumer } from "../oci/model";
import type { Descriptor } from "../oci/types";
import type { RegistryClient } from "../registry/client";
import { downloadProgress, type ProgressSink } from "../registry/progress";
import { openRemote } from "../registry/pull";
import type { LayerSource } from "./layer-source";

/** What a registry's layer is called in progress lines. */
const LABEL = "base layer";

export class RegistrySource implements LayerSource {
  constructor(
    private readonly client: RegistryClient,
    private readonly repository: string,
  ) {}

  where(): string {
    return `${this.client.registry}/${this.repository}`;
  }

  async has(layer: Descriptor): Promise<boolean> {
    return (await this.client.blobExists(this.repository, layer.digest)) !== undefined;
  }

  stream(layer: Descriptor, progress: ProgressSink): Readable {
    return openRemote(this.client, this.repository, layer, LABEL, progress);
  }

  async feed(layer: Descriptor, consumer: BlobConsumer, progress: ProgressSink): Promise<void> {
    const p = downloadProgress(progress, layer, LABEL);
    await this.client.fetchBlob(this.repository, layer.digest, layer.size, p.onBytes).into(consumer);
    p.done();
  }
}
