/**
 * Git remote URLs: which transport a URL uses (HTTP(S), SSH, or something that takes no credential) and the
 * protocol/host pair git's credential protocol will ask about, computed the way git computes it.
 */
import { PipelineError, redactUrl } from "../errors";

export type GitUrlKind = "http" | "ssh" | "other";

const SCHEME_RE = /^([A-Za-z][A-Za-z0-9+.-]*):\/\//;
// git's scp-like syntax `[user@]host:path`: a colon before any slash and no `://`.
const SCP_RE = /^(?:[^@/:]+@)?(?:\[[^\]]+\]|[^/:]+):(?!\/\/)/;

/** How git talks to a remote URL: `http` (http/https), `ssh` (ssh://, git+ssh://, scp-like) or `other`. */
export function gitUrlKind(url: string): GitUrlKind {
  const scheme = SCHEME_RE.exec(url)?.[1]?.toLowerCase();
  if (scheme === "http" || scheme === "https") return "http";
  if (scheme === "ssh" || scheme === "git+ssh" || scheme === "ssh+git") return "ssh";
  if (scheme === undefined && SCP_RE.test(url)) return "ssh";
  return "other";
}

/**
 * The `protocol` and `host` git's credential protocol sends for an HTTP(S) URL: the scheme as written and
 * the authority without userinfo, port included when written (git's credential_from_url).
 */
export function credentialTarget(url: string): { protocol: string; host: string } {
  const m = SCHEME_RE.exec(url);
  if (!m) throw new PipelineError("E_GIT_URL", `not a URL with a scheme: ${redactUrl(url)}`);
  const rest = url.slice(m[0].length);
  const authority = rest.slice(0, strcspn(rest, "/?#"));
  const at = authority.lastIndexOf("@");
  const host = authority.slice(at + 1);
  if (host === "") throw new PipelineError("E_GIT_URL", `no host in git URL ${redactUrl(url)}`);
  return { protocol: m[1], host: decodeURIComponent(host) };
}

/**
 * Rejects HTTP(S) URLs that carry userinfo (`https://user:pass@host`, `https://TOKEN@host`) and URLs that git
 * would read as an option. Credentials go through `withGitAuth`, never through a URL that ends up in argv,
 * .git/config and FETCH_HEAD.
 */
export function assertSafeGitUrl(url: string): void {
  if (url.startsWith("-")) throw new PipelineError("E_GIT_URL", `git URL must not start with "-": ${redactUrl(url)}`);
  if (gitUrlKind(url) !== "http") return;
  const rest = url.slice(SCHEME_RE.exec(url)![0].length);
  if (rest.slice(0, strcspn(rest, "/?#")).includes("@")) {
    throw new PipelineError(
      "E_GIT_URL",
      `git URL ${redactUrl(url)} contains user information; pass the user name and password or token as a credential instead`,
    );
  }
}

function strcspn(s: string, chars: string): number {
  for (let i = 0; i < s.length; i++) if (chars.includes(s[i])) return i;
  return s.length;
}
