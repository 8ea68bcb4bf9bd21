/** Image references: `[registry/]repository[:tag][@digest]`, with Docker Hub's defaults. */
import { isIP } from "node:net";
import { PipelineError } from "../errors";
import { type Digest, isDigest } from "./digest";
import { PINNED_RE, REPOSITORY_COMPONENT_RE, TAG_GRAMMAR, TAG_RE } from "./grammar";

export const DOCKER_HUB = "index.docker.io";
const DOCKER_HUB_ALIASES = new Set(["docker.io", "index.docker.io", "registry-1.docker.io", "registry.hub.docker.com"]);

/** A registry host: DNS labels or a bracketed IPv6 literal, then an optional port. */
export const HOST_RE =
  /^(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*|\[[0-9a-fA-F:]+\])(?::[0-9]+)?$/;

export interface Reference {
  /** Registry host as written (`localhost:5000`, `ghcr.io`); Docker Hub is `index.docker.io`. */
  registry: string;
  /** Repository path inside the registry (`library/node`, `team/app`). */
  repository: string;
  tag?: string;
  digest?: Digest;
}

/** Canonical registry name: Docker Hub aliases fold to one host. */
export function normalizeRegistry(host: string): string {
  const h = host.replace(/^https?:\/\//, "").replace(/\/+$/, "");
  return DOCKER_HUB_ALIASES.has(h) ? DOCKER_HUB : h;
}

/**
 * Registries reached over plain HTTP by default, and sent credentials over it (loopback only): `host[:port]` whose
 * host is `localhost`, an IPv4 literal in 127.0.0.0/8 or the IPv6 literal ::1 (`[::1]`, in any spelling). A name
 * that only looks like one (`127.0.0.1.example.com`, `127.x.example`) is a DNS name like any other: not loopback.
 */
export function isLoopbackRegistry(host: string): boolean {
  const m = /^(?:\[([^\]]*)\]|([^:[\]]*))(?::\d+)?$/.exec(host);
  if (!m) return false;
  if (m[1] !== undefined)
    return isIP(m[1]) === 6 && !m[1].includes("%") && new URL(`http://[${m[1]}]/`).hostname === "[::1]";
  const name = m[2];
  if (name.toLowerCase() === "localhost") return true;
  return isIP(name) === 4 && name.startsWith("127.");
}

export function validateRegistry(registry: string, what = "registry"): string {
  if (!registry || !HOST_RE.test(registry)) {
    throw new PipelineError(
      "E_BAD_REFERENCE",
      `${what}: expected a registry host like "localhost:5000" or "ghcr.io" (no scheme, no path), got ${JSON.stringify(registry)}`,
    );
  }
  return registry;
}

/** Validates a repository path with no tag or digest. */
export function validateRepository(repository: string, what = "repository"): string {
  if (repository.includes("@") || /:[^/]*$/.test(repository)) {
    throw new PipelineError(
      "E_BAD_REFERENCE",
      `${what}: should not contain a tag or digest, got ${JSON.stringify(repository)}`,
    );
  }
  const parts = repository.split("/");
  if (!repository || parts.some((p) => !REPOSITORY_COMPONENT_RE.test(p))) {
    throw new PipelineError(
      "E_BAD_REFERENCE",
      `${what}: expected lowercase path components [a-z0-9] separated by "/", ".", "_" or "-", got ${JSON.stringify(repository)}`,
    );
  }
  return repository;
}

export function validateTag(tag: string, what = "tag"): string {
  if (!TAG_RE.test(tag)) {
    throw new PipelineError("E_BAD_REFERENCE", `${what}: expected ${TAG_GRAMMAR}, got ${JSON.stringify(tag)}`);
  }
  return tag;
}

/**
 * Parses `host[:port]/repo[:tag][@sha256:...]`. The first component is a registry when it contains a "." or
 * ":" or is "localhost" (docker's rule); otherwise the reference is on Docker Hub and one-component
 * repositories get the `library/` prefix.
 */
export function parseReference(input: string, what = "reference"): Reference {
  const s = input.trim();
  if (!s || /\s/.test(s))
    throw new PipelineError("E_BAD_REFERENCE", `${what}: invalid image reference ${JSON.stringify(input)}`);
  if (/^[A-Za-z][A-Za-z0-9+.-]*:\/\//.test(s)) {
    throw new PipelineError(
      "E_BAD_REFERENCE",
      `${what}: expected HOST/REPOSITORY[:TAG][@DIGEST] without a scheme, got ${JSON.stringify(input)}`,
    );
  }
  let rest = s;
  let digest: Digest | undefined;
  const at = rest.indexOf("@");
  if (at >= 0) {
    const d = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!isDigest(d)) {
      throw new PipelineError(
        "E_BAD_REFERENCE",
        `${what}: digest must be "sha256:<64 hex>", got ${JSON.stringify(d)} in ${JSON.stringify(input)}`,
      );
    }
    digest = d;
  }
  let tag: string | undefined;
  const lastSlash = rest.lastIndexOf("/");
  const lastColon = rest.lastIndexOf(":");
  if (lastColon > lastSlash) {
    tag = validateTag(rest.slice(lastColon + 1), `${what}: tag`);
    rest = rest.slice(0, lastColon);
  }
  const slash = rest.indexOf("/");
  let registry = DOCKER_HUB;
  let repository = rest;
  if (slash > 0) {
    const first = rest.slice(0, slash);
    if (first.includes(".") || first.includes(":") || first === "localhost" || first.startsWith("[")) {
      registry = normalizeRegistry(validateRegistry(first, `${what}: registry`));
      repository = rest.slice(slash + 1);
    }
  }
  if (registry === DOCKER_HUB && !repository.includes("/")) repository = `library/${repository}`;
  validateRepository(repository, `${what}: repository`);
  return { registry, repository, tag, digest };
}

/** The digest that pins `ref` (`...@sha256:<64 hex>` at its end), else undefined. No other part is checked. */
export function pinnedDigest(ref: string): Digest | undefined {
  const d = PINNED_RE.exec(ref)?.[1];
  return d !== undefined && isDigest(d) ? d : undefined;
}

/** `ref` without the `@sha256:...` that pins it (unchanged when nothing does). */
export function unpinned(ref: string): string {
  return ref.replace(PINNED_RE, "");
}

/** `registry/repository[:tag][@digest]`. */
export function formatReference(ref: Reference): string {
  let s = `${ref.registry}/${ref.repository}`;
  if (ref.tag) s += `:${ref.tag}`;
  if (ref.digest) s += `@${ref.digest}`;
  return s;
}
