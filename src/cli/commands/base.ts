/**
 * `pipeline base host-node --output DIR`: the host-node base image (see src/base/host-node.ts), from the cache's
 * bases/ (src/base/host-node-cache.ts) unless `--no-cache`.
 */
import { HOST_NODE_VERSION_LABEL } from "../../base/host-node";
import { writeHostNodeBase } from "../../base/host-node-cache";
import { basesDir, cacheRoot } from "../../cache/layout";
import { PipelineError } from "../../errors";
import { isLayoutIndex, layoutImages, readLayoutContent } from "../../layout/read";
import type { Image } from "../../oci/model";
import type { Platform } from "../../oci/types";
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
 * `pipeline base add-node --base DIR (--node DIR | --node-package DIR ...) --output DIR [--platform P ...]`: `base`
 * plus /usr/local/bin/node from the Node image `node`, or from Node's npm packages (each platform of the base takes the
 * package of its architecture). With platforms (both layouts then multi-platform): each platform's base plus that
 * platform's node, under one index.
 */
export async function addNode(a: CommandInput<typeof BASE_ADD_NODE>, io: CliIo): Promise<void> {
  const packages = a["node-package"] ?? [];
  if (!a.node === !packages.length) {
    throw new PipelineError(
      "E_USAGE",
      "base add-node: give --node (a Node image's layout) or --node-package, one of them",
    );
  }
  const { addNodeToBase } = await import("../../base/add-node.js");
  const { readLayout } = await import("../../layout/read.js");
  const { sourceOfLayout } = await import("../../layout/source.js");
  const { parsePlatformList } = await import("../../oci/platform.js");
  const platforms = parsePlatformList(a.platform, "--platform");
  const baseName = sourceOfLayout(a.base);
  const node = a.node;
  const perPlatform = node
    ? (base: Image, out: string, platform?: Platform) =>
        addNodeToBase(base, readLayout(node, platform && { platform }), out, {
          baseName,
          nodeName: sourceOfLayout(node),
        })
    : await packagesFor(packages, a["node-package-label"] ?? [], baseName, io);
  // The base read once: one image, or an index whose platforms each get their node (with --node, this machine's).
  const content = readLayoutContent(a.base);
  if (!platforms.length && (node || !isLayoutIndex(content))) {
    const { digest } = await perPlatform(isLayoutIndex(content) ? readLayout(a.base) : content, a.output);
    io.stdout(digest);
    return;
  }
  const { rm } = await import("node:fs/promises");
  const { composeIndex } = await import("../../image/image-index.js");
  const { writeLayout } = await import("../../layout/write.js");
  const bases = platforms.length
    ? platforms.map((platform) => readLayout(a.base, { platform }))
    : layoutImages(content);
  const parts = bases.map((_, i) => `${a.output}.platform-${i}`);
  try {
    for (const [i, base] of bases.entries()) await perPlatform(base, parts[i], platforms[i]);
    const idx = composeIndex(parts.map((dir) => readLayout(dir)));
    await writeLayout(a.output, idx, { refName: "latest", atomic: true });
    io.stdout(idx.digest);
  } finally {
    for (const dir of parts) await rm(dir, { recursive: true, force: true });
  }
}

/** Each platform's base takes the checked package of its architecture; a Node past its end of life is a warning. */
async function packagesFor(
  dirs: readonly string[],
  labels: readonly string[],
  baseName: string | undefined,
  io: CliIo,
) {
  const [{ readNodePackage }, { addNodePackageToBase }, { endOfLifeWarning }] = await Promise.all([
    import("../../base/node-package.js"),
    import("../../base/add-node.js"),
    import("../../base/node-releases.js"),
  ]);
  if (labels.length && labels.length !== dirs.length) {
    throw new PipelineError(
      "E_USAGE",
      `base add-node: ${labels.length} --node-package-label for ${dirs.length} --node-package`,
    );
  }
  const pkgs = dirs.map((dir, i) => ({ pkg: readNodePackage(dir, labels[i] ?? dir), label: labels[i] ?? dir }));
  for (const [i, { pkg, label }] of pkgs.entries()) {
    const twin = pkgs.slice(0, i).find((p) => p.pkg.platform.architecture === pkg.platform.architecture);
    if (twin) {
      throw new PipelineError(
        "E_BASE",
        `${twin.label} (${twin.pkg.id}) and ${label} (${pkg.id}) are both linux/${pkg.platform.architecture} Node packages: give one package per architecture`,
      );
    }
    const warning = endOfLifeWarning(pkg.version, `${label} (${pkg.id})`);
    if (warning) io.stderr(`warning: ${warning}`);
  }
  return (base: Image, out: string) => {
    const arch = base.config.architecture;
    const chosen = pkgs.find(({ pkg }) => pkg.platform.architecture === arch) ?? pkgs[0];
    return addNodePackageToBase(base, chosen.pkg, out, { baseName, label: chosen.label, log: (l) => io.stderr(l) });
  };
}
