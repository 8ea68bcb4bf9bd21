/**
 * `pipeline base host-node --output DIR`: the host-node base image (see src/base/host-node.ts), from the cache's
 * bases/ (src/base/host-node-cache.ts) unless `--no-cache`.
 */
import { HOST_NODE_VERSION_LABEL } from "../../base/host-node";
import { writeHostNodeBase } from "../../base/host-node-cache";
import { basesDir, cacheRoot } from "../../cache/layout";
import type { CliIo } from "../io";
import type { CommandArgs, CommandInput } from "../args";
import type { BASE_ADD_NODE, BASE_HOST_NODE } from "../command-specs";

export async function hostNode(a: CommandArgs<typeof BASE_HOST_NODE>, io: CliIo): Promise<void> {
  const bases = a["no-cache"] ? undefined : basesDir(cacheRoot(io.env, a["cache-dir"]));
  const { digest } = await writeHostNodeBase(a.output, bases, { nodePath: a.node, log: (line) => io.stderr(line) });
  // A Node past its end of life gets a warning (the repository rule shows it at fetch time): the image would ship it.
  const [{ readLayout }, { endOfLifeWarning }] = await Promise.all([
    import("../../layout/read.js"),
    import("../../base/node-releases.js"),
  ]);
  const version = readLayout(a.output, { refName: "latest" }).config.config?.Labels?.[HOST_NODE_VERSION_LABEL];
  const warning = version ? endOfLifeWarning(version, "the host-node base image") : undefined;
  if (warning) io.stderr(`warning: ${warning}`);
  io.stdout(digest);
}

/**
 * `pipeline base add-node --base DIR --node DIR --output DIR [--platform P ...]`: `base` plus /usr/local/bin/node
 * from `node`. With platforms (both layouts then multi-platform): each platform's base plus that platform's node,
 * under one index.
 */
export async function addNode(a: CommandInput<typeof BASE_ADD_NODE>, io: CliIo): Promise<void> {
  const { addNodeToBase } = await import("../../base/add-node.js");
  const { readLayout } = await import("../../layout/read.js");
  const { sourceOfLayout } = await import("../../layout/source.js");
  const { parsePlatformList } = await import("../../oci/platform.js");
  const names = { baseName: sourceOfLayout(a.base), nodeName: sourceOfLayout(a.node) };
  const platforms = parsePlatformList(a.platform, "--platform");
  if (!platforms.length) {
    const { digest } = await addNodeToBase(readLayout(a.base), readLayout(a.node), a.output, names);
    io.stdout(digest);
    return;
  }
  const { rm } = await import("node:fs/promises");
  const { composeIndex } = await import("../../image/image-index.js");
  const { writeLayout } = await import("../../layout/write.js");
  const parts = platforms.map((_, i) => `${a.output}.platform-${i}`);
  try {
    for (const [i, platform] of platforms.entries()) {
      await addNodeToBase(readLayout(a.base, { platform }), readLayout(a.node, { platform }), parts[i], names);
    }
    const idx = composeIndex(parts.map((dir) => readLayout(dir)));
    await writeLayout(a.output, idx, { refName: "latest", atomic: true });
    io.stdout(idx.digest);
  } finally {
    for (const dir of parts) await rm(dir, { recursive: true, force: true });
  }
}
