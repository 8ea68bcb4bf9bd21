/** `pipeline base host-node --output DIR`: the host-node base image (see src/base/host-node.ts). */
import { buildHostNodeBase } from "../../base/host-node";
import type { CliIo } from "../io";

export async function hostNode(a: { output: string; node?: string }, io: CliIo): Promise<void> {
  const { digest } = await buildHostNodeBase(a.output, { nodePath: a.node });
  io.stdout(digest);
}
