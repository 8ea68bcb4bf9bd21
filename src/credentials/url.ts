/**
 * The URLs credentials are filed under, normalized so that equal places compare equal, and the longest
 * prefix match between them.
 *  - docker: `HOST[/REPOSITORY-PREFIX]` (`ghcr.io`, `ghcr.io/org/`, an optional `https://` is dropped).
 *    The host is case-insensitive and Docker Hub's aliases fold to `index.docker.io`.
 *  - git: `https://host/path`, `http://`, `ssh://[user@]host[:port]/path`, `git://`, or scp-like
 *    `[user@]host[:path]` (`git@github.com`, `git@github.com:org/repo.git`), which means ssh. Scheme and
 *    host are case-insensitive, default ports are dropped, a trailing `.git` and trailing slashes too.
 * A prefix matches at a path-segment boundary only: `ghcr.io/org` covers `ghcr.io/org/app`, not
 * `ghcr.io/organization`.
 */
import { PipelineError, redactUrl } from "../errors";
import { normalizeRegistry, validateRegistry, validateRepository } from "../oci/reference";

export type CredentialService = "docker" | "git";
export const SERVICES: readonly CredentialService[] = ["docker", "git"];

/** A URL reduced to what matching compares. */
export interface NormalizedUrl {
  /** "docker", or the git transport: "https", "http", "ssh", "git". */
  scheme: string;
  /** Lowercase `host[:port]` (no default port); Docker Hub is `index.docker.io`. */
  host: string;
  /** A user name the URL names (git ssh/https), which a prefix naming one must match. */
  user?: string;
  /** Path segments, none empty. */
  segments: string[];
}

const DEFAULT_PORTS: Record<string, string> = { https: "443", http: "80", ssh: "22", git: "9418" };
const GIT_SCHEMES = new Set(["https", "http", "ssh", "git"]);

function bad(what: string, url: string, expected: string): PipelineError {
  return new PipelineError("E_BAD_URL", `${what}: expected ${expected}, got ${JSON.stringify(redactUrl(url))}`);
}

/** `ghcr.io/org/` → {scheme:"docker", host:"ghcr.io", segments:["org"]}. */
export function normalizeDockerUrl(url: string, what = "url"): NormalizedUrl {
  const expected = 'a registry host with an optional repository prefix, like "ghcr.io" or "ghcr.io/org/"';
  const s = url.trim().replace(/^https?:\/\//i, "");
  if (!s || /[\s@?#]/.test(s)) throw bad(what, url, expected);
  const slash = s.indexOf("/");
  const rawHost = slash < 0 ? s : s.slice(0, slash);
  const path = (slash < 0 ? "" : s.slice(slash + 1)).replace(/\/+$/, "");
  try {
    validateRegistry(rawHost, what);
    if (path) validateRepository(path, what);
  } catch {
    throw bad(what, url, expected);
  }
  return { scheme: "docker", host: normalizeRegistry(rawHost.toLowerCase()), segments: path ? path.split("/") : [] };
}

function gitSegments(path: string): string[] {
  const segments = path.split("/").filter((p) => p !== "" && p !== ".");
  if (segments.length) segments[segments.length - 1] = segments[segments.length - 1].replace(/\.git$/, "");
  return segments.filter((p) => p !== "");
}

/** `git@github.com:org/repo.git` → {scheme:"ssh", host:"github.com", user:"git", segments:["org","repo"]}. */
export function normalizeGitUrl(url: string, what = "url"): NormalizedUrl {
  const expected =
    'a git server or repository URL like "https://github.com/org/", "ssh://git@host/" or "git@github.com"';
  const s = url.trim();
  if (!s || /\s/.test(s)) throw bad(what, url, expected);
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(s)) {
    let u: URL;
    try {
      u = new URL(s);
    } catch {
      throw bad(what, url, expected);
    }
    const scheme = u.protocol
      .slice(0, -1)
      .toLowerCase()
      .replace(/^git\+ssh$|^ssh\+git$/, "ssh");
    if (!GIT_SCHEMES.has(scheme) || !u.hostname) throw bad(what, url, expected);
    if (u.password) {
      throw new PipelineError(
        "E_BAD_URL",
        `${what}: the URL must not hold a password (credentials are kept in their source, not in URLs), got ${JSON.stringify(redactUrl(s))}`,
      );
    }
    if (u.search || u.hash) throw bad(what, url, expected);
    const port = u.port && u.port !== DEFAULT_PORTS[scheme] ? `:${u.port}` : "";
    let path: string;
    try {
      path = decodeURIComponent(u.pathname);
    } catch {
      throw bad(what, url, expected);
    }
    return {
      scheme,
      host: u.hostname.toLowerCase() + port,
      user: u.username ? decodeURIComponent(u.username) : undefined,
      segments: gitSegments(path),
    };
  }
  // scp-like: [user@]host[:path]; git reads "host:path" this way when no slash comes before the colon.
  const m = /^(?:([^@/:]+)@)?(\[[0-9a-fA-F:]+\]|[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?)(?::(.*))?$/.exec(s);
  if (!m || (!m[1] && m[3] === undefined)) throw bad(what, url, expected);
  return { scheme: "ssh", host: m[2].toLowerCase(), user: m[1], segments: gitSegments(m[3] ?? "") };
}

export function normalizeUrl(service: CredentialService, url: string, what = "url"): NormalizedUrl {
  return service === "docker" ? normalizeDockerUrl(url, what) : normalizeGitUrl(url, what);
}

/** A stable string for a normalized URL: entries with the same key are the same entry. */
export function urlKey(u: NormalizedUrl): string {
  return `${u.scheme}://${u.user !== undefined ? `${encodeURIComponent(u.user)}@` : ""}${u.host}/${u.segments.join("/")}`;
}

/**
 * How well `prefix` covers `target`: undefined when it does not, else a score where a longer path wins
 * and, at equal length, a prefix naming the user wins over one that does not.
 */
export function prefixScore(prefix: NormalizedUrl, target: NormalizedUrl): number | undefined {
  if (prefix.scheme !== target.scheme || prefix.host !== target.host) return undefined;
  if (prefix.user !== undefined && prefix.user !== target.user) return undefined;
  if (prefix.segments.length > target.segments.length) return undefined;
  for (let i = 0; i < prefix.segments.length; i++) if (prefix.segments[i] !== target.segments[i]) return undefined;
  return prefix.segments.length * 2 + (prefix.user !== undefined ? 1 : 0);
}
