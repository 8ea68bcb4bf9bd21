/**
 * Loading images into docker or podman: repo tags for each image, the loader that works here, and the docker
 * archive (write.ts) streamed into its `load` command.
 *
 * Choices:
 *  - Tags: `registry/repository:tag` as given, or a bare `tag` put on the default tags' repository. The main image
 *    ("default", else the first) gets the tags; every other image of a multi-image pipeline gets `<tag>-<name>`,
 *    as `NAME_push` tags them (src/transfer/push.ts).
 *  - Loader "auto" asks docker first (`docker version` must reach a daemon: someone who runs one means it), then
 *    podman (`podman --version`). The loader runs with the caller's environment, so `DOCKER_HOST` picks the daemon
 *    and `CONTAINERS_STORAGE_CONF` / `CONTAINERS_CONF` podman's store and settings.
 *  - The archive is streamed into the loader's stdin, never written to disk first.
 */
import { execFile, spawn } from "node:child_process";
import { pipeline } from "node:stream/promises";
import { OptionError, PipelineError } from "../errors";
import { tagsFor } from "../image/tags";
import { parseReference, validateTag } from "../oci/reference";
import { lastLine } from "../lines";
import { type ArchiveImage, dockerArchiveStream } from "./write";
import type { Image } from "../oci/model";

export type Loader = "docker" | "podman";
export const LOADERS = ["auto", "docker", "podman"] as const;
export type LoaderChoice = (typeof LOADERS)[number];

/**
 * Full `registry/repository:tag` references from `tags` (flag `what`), bare tags taking `defaults[0]`'s
 * registry/repository. A reference without a tag, or with a digest, is E_BAD_REFERENCE naming the flag.
 */
export function resolveRepoTags(tags: readonly string[], defaults: readonly string[], what: string): string[] {
  const out: string[] = [];
  for (const t of tags) {
    if (!t.includes("/") && !t.includes(":")) {
      validateTag(t, what);
      if (defaults.length === 0)
        throw new PipelineError(
          "E_BAD_REFERENCE",
          `${what}: ${JSON.stringify(t)} is a bare tag, but there is no default repository to put it on; give REGISTRY/REPOSITORY:TAG`,
        );
      const base = defaults[0];
      out.push(`${base.slice(0, base.lastIndexOf(":"))}:${t}`);
      continue;
    }
    const ref = parseReference(t, what);
    if (!ref.tag || ref.digest) {
      throw new PipelineError(
        "E_BAD_REFERENCE",
        `${what}: expected REGISTRY/REPOSITORY:TAG (a tag, no digest), got ${JSON.stringify(t)}`,
      );
    }
    out.push(t);
  }
  return [...new Set(out)];
}

/** The archive's images with their tags: the main image gets `repoTags`, the others `<tag>-<name>`. */
export function taggedImages(
  images: readonly { name: string; image: Image }[],
  repoTags: readonly string[],
): ArchiveImage[] {
  const main = images.find((i) => i.name === "default") ?? images[0];
  return images.map((i) => {
    const byRepo = repoTags.map((r) => {
      const colon = r.lastIndexOf(":");
      return { repo: r.slice(0, colon), tag: r.slice(colon + 1) };
    });
    const suffixed = tagsFor(
      i.name,
      byRepo.map((b) => b.tag),
      i === main,
    );
    return { image: i.image, repoTags: byRepo.map((b, k) => `${b.repo}:${suffixed[k]}`) };
  });
}

function probe(cmd: string, args: string[], env: NodeJS.ProcessEnv): Promise<{ ok: boolean; detail: string }> {
  return new Promise((resolve) => {
    execFile(cmd, args, { encoding: "utf8", timeout: 10_000, env }, (err, stdout, stderr) => {
      if (err) resolve({ ok: false, detail: lastLine(stderr || err.message) });
      else resolve({ ok: true, detail: lastLine(stdout) });
    });
  });
}

const PROBES: Record<Loader, string[]> = {
  docker: ["docker", "version", "--format", "{{.Server.Version}}"],
  podman: ["podman", "--version"],
};

/** The loader to use: `want`, checked; or for "auto" the first of docker, podman that answers. */
export async function chooseLoader(want: string, env: NodeJS.ProcessEnv): Promise<Loader> {
  if (!(LOADERS as readonly string[]).includes(want)) {
    throw new OptionError("loader", `expected one of ${LOADERS.join(", ")}, got ${JSON.stringify(want)}`);
  }
  const order: Loader[] = want === "auto" ? ["docker", "podman"] : [want as Loader];
  const tried: string[] = [];
  for (const name of order) {
    const [cmd, ...args] = PROBES[name];
    const r = await probe(cmd, args, env);
    if (r.ok) return name;
    tried.push(`\`${PROBES[name].join(" ")}\` failed: ${r.detail}`);
  }
  throw new PipelineError(
    "E_RUNTIME",
    want === "auto"
      ? `no image loader works here (install docker or podman):\n  ${tried.join("\n  ")}`
      : `--loader ${want}: ${tried[0]}`,
  );
}

/** Streams the archive of `images` into `<loader> load`; resolves to the loader's stdout. */
export async function loadImages(
  loader: Loader,
  images: readonly ArchiveImage[],
  env: NodeJS.ProcessEnv,
): Promise<string> {
  const source = dockerArchiveStream(images);
  const child = spawn(loader, ["load"], { stdio: ["pipe", "pipe", "pipe"], env });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (d) => (stdout += d));
  child.stderr.on("data", (d) => (stderr += d));
  const exited = new Promise<number>((resolve, reject) => {
    child.on("error", (e) => reject(new PipelineError("E_RUNTIME", `${loader} load: ${e.message}`, { cause: e })));
    child.on("close", (code, signal) => resolve(code ?? (signal ? 128 : 1)));
  });
  let streamError: unknown;
  await pipeline(source, child.stdin).catch((e: unknown) => {
    streamError = e;
    child.kill("SIGTERM");
  });
  const code = await exited;
  if (streamError instanceof PipelineError) throw streamError;
  if (code !== 0) {
    throw new PipelineError(
      "E_RUNTIME",
      `${loader} load failed (exit code ${code}): ${lastLine(stderr) || lastLine(stdout) || (streamError as Error | undefined)?.message || "no output"}`,
    );
  }
  return stdout;
}
