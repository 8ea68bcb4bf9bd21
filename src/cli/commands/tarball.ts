/**
 * `pipeline tarball` (the NAME_load rule's build action: a docker archive file; a shallow base's layers fetched
 * from its registry into a temporary directory first) and `pipeline load` (what
 * `bazel run //pkg:NAME_load` runs: the same archive streamed into docker or podman).
 */
import { PipelineError } from "../../errors";
import { readLayout } from "../../layout/read";
import { chooseLoader, loadImages, resolveRepoTags, taggedImages } from "../../tarball/load";
import { writeDockerArchive } from "../../tarball/write";
import type { CliIo } from "../io";
import type { CommandArgs } from "../args";
import type { LOAD, TARBALL } from "../command-specs";

/** `--image NAME=LAYOUT` values, read; names must be unique. */
function readImages(specs: readonly string[]) {
  if (specs.length === 0)
    throw new PipelineError("E_USAGE", "--image: at least one NAME=LAYOUT is required", { exitCode: 2 });
  const seen = new Set<string>();
  return specs.map((spec) => {
    const eq = spec.indexOf("=");
    if (eq <= 0 || eq === spec.length - 1)
      throw new PipelineError("E_BAD_INPUT", `--image: expected NAME=LAYOUT_DIR, got ${JSON.stringify(spec)}`);
    const name = spec.slice(0, eq);
    if (seen.has(name)) throw new PipelineError("E_BAD_INPUT", `--image: two images are named ${JSON.stringify(name)}`);
    seen.add(name);
    return { name, image: readLayout(spec.slice(eq + 1)) };
  });
}

export async function tarball(a: CommandArgs<typeof TARBALL>, io: CliIo): Promise<void> {
  const tags = resolveRepoTags(a.tag, [], "--tag");
  const named = readImages(a.image);
  const { RemoteLayers } = await import("../../transfer/remote-blobs.js");
  if (!named.some((i) => RemoteLayers.any(i.image))) {
    await writeDockerArchive(a.out, taggedImages(named, tags));
    return;
  }
  // A shallow base's layers (src/layout/remote.ts), for the archive that holds them: fetched from where the layout
  // says, checked against their digests, into a temporary sibling of the archive (the action's own directory;
  // removed after, or if this process dies) that serves as their cache, as `pipeline load`'s cache does. The rule's
  // action has `requires-network`; credentials are read as `pipeline push` reads them.
  const [{ withCachedLayers }, { keychainFor }, { holdTemp, makeTempDirSync }, { rm }] = await Promise.all([
    import("../../transfer/cached-layers.js"),
    import("../auth-flags.js"),
    import("../../process/temp.js"),
    import("node:fs/promises"),
  ]);
  const dir = makeTempDirSync(`${a.out}.layers`);
  const release = holdTemp(dir);
  try {
    const cached = await withCachedLayers(
      named.map((i) => i.image),
      { cacheDir: dir, keychain: await keychainFor({}, "", io) },
    );
    await writeDockerArchive(
      a.out,
      taggedImages(
        named.map((i, k) => ({ ...i, image: cached[k] })),
        tags,
      ),
    );
  } finally {
    await rm(dir, { recursive: true, force: true });
    release();
  }
}

export async function load(a: CommandArgs<typeof LOAD>, io: CliIo): Promise<void> {
  const defaults = resolveRepoTags(a["default-tag"], [], "--default-tag");
  const tags = a.tag && a.tag.length > 0 ? resolveRepoTags(a.tag, defaults, "--tag") : defaults;
  if (tags.length === 0)
    throw new PipelineError("E_USAGE", "--tag: give at least one REGISTRY/REPOSITORY:TAG to load the image as", {
      exitCode: 2,
    });
  // A shallow base's layers (src/layout/remote.ts): fetched into the cache on first need, from where the layout says
  // (the next load asks the registry for none; the build action of `tarball` fetches them into a directory of its own).
  const named = readImages(a.image);
  const [{ withCachedLayers }, { keychainFor }, { cacheRoot }, { progressFor }] = await Promise.all([
    import("../../transfer/cached-layers.js"),
    import("../auth-flags.js"),
    import("../../cache/layout.js"),
    import("../../registry/progress.js"),
  ]);
  const cached = await withCachedLayers(
    named.map((i) => i.image),
    { cacheDir: cacheRoot(io.env), keychain: await keychainFor({}, "", io), progress: progressFor(io) },
  );
  const images = taggedImages(
    named.map((i, k) => ({ ...i, image: cached[k] })),
    tags,
  );
  const loader = await chooseLoader(a.loader, io.env);
  const out = await loadImages(loader, images, io.env);
  for (const line of out.split("\n").filter((l) => l.trim())) io.stderr(line.trim());
  for (const img of images) for (const t of img.repoTags) io.stdout(t);
}
