/** `pipeline base host-node --output DIR`: the host-node base image (see src/base/host-node.ts). */
import { buildHostNodeBase } from "../../base/host-node";
import type { CliIo } from "../io";

export async function hostNode(a: { output: string; node?: string }, io: CliIo): Promise<void> {
  const { digest } = await buildHostNodeBase(a.output, { nodePath: a.node });
  io.stdout(digest);
}

/** `pipeline base add-node --base DIR --node DIR --output DIR`: `base` plus /usr/local/bin/node from `node`. */
export async function addNode(a: { base: string; node: string; output: string }, io: CliIo): Promise<void> {
  const { addNodeToBase } = await import("../../base/add-node");
  const { readLayout } = await import("../../layout/read");
  const { sourceOfLayout } = await import("../../layout/source");
  const { digest } = await addNodeToBase(readLayout(a.base), readLayout(a.node), a.output, {
    baseName: sourceOfLayout(a.base),
    nodeName: sourceOfLayout(a.node),
  });
  io.stdout(digest);
}
