/**
 * Constructors for the deployment model (types.ts): what the code runs with (an interpreter deployment) and
 * what code is added (a code deployment). Each checks its arguments and throws E_DEPLOYMENT naming the
 * constructor, the argument and the value received. The `*Problem` checks are shared with the spec parser
 * (spec.ts), which reports the same problems with the YAML path and line instead.
 *
 *   ContainerAtTag("registry.example.com/team/pipeline", "v1")   resolved to a digest once per run (resolve.ts)
 *   ContainerAtDigest("registry.example.com/team/pipeline", "sha256:...")
 *   ContainerInLayout("/work/bazel-bin/app/app_image", "sha256:...")  an unpushed image, local runner only
 *   ServerAvailableInterpreter("/usr/bin/node")                 a Node already on the machine
 *   LockfileProject("package-lock.json")                        package.json + lockfile in the code deployment
 *   GitRepoBranch("https://git.example.com/org/repo.git", "main") resolved to a commit once per run
 *   GitRepoCommit("https://git.example.com/org/repo.git", "<40 or 64 hex>")
 *   ServerAvailableFolder(["/srv/app", "/srv/lib"])             first path is the working directory
 *   NoCode()
 *
 * Repositories are stored normalized as `registry/repository` (`node` → `index.docker.io/library/node`).
 */
import { posix } from "node:path";
import { PipelineError, quoteValue } from "../errors";
import { type Digest, isDigest } from "../oci/digest";
import { COMMIT_RE, TAG_GRAMMAR, TAG_RE } from "../oci/grammar";
import { parseReference } from "../oci/reference";
import { assertSafeGitUrl } from "../git/url";
import { isLayoutReference, parseLayoutReference } from "./layout-image";
import { absolutePathProblem, CONTROL_RE } from "./path-checks";
import type { CodeDeployment, InterpreterDeployment } from "./types";

export const DEPLOYMENT_ERROR = "E_DEPLOYMENT";

function argError(ctor: string, arg: string, value: unknown, problem: string): PipelineError {
  return new PipelineError(DEPLOYMENT_ERROR, `${ctor}: ${arg}: ${problem} (got ${quoteValue(value)})`);
}

function need(ctor: string, arg: string, value: unknown, check: (s: string) => string | undefined): string {
  const problem = typeof value === "string" ? check(value) : "expected a string";
  if (problem) throw argError(ctor, arg, value, problem);
  return value as string;
}

/** Why `s` is not an image reference (`HOST/REPO[:TAG][@sha256:...]`), or undefined. */
export function imageReferenceProblem(s: string): string | undefined {
  try {
    parseReference(s, "reference");
    return undefined;
  } catch (e) {
    if (!(e instanceof PipelineError)) throw e;
    return e.message
      .replace(/^reference: /, "")
      .replace(/^invalid image reference ".*$/s, "not a valid image reference (HOST/REPOSITORY[:TAG][@sha256:DIGEST])")
      .replace(/,? got ".*$/s, "");
  }
}

/** Why `s` is not a repository without tag or digest, or undefined. */
export function repositoryProblem(s: string): string | undefined {
  const p = imageReferenceProblem(s);
  if (p) return p.replace(/^repository: /, "");
  const ref = parseReference(s);
  if (ref.tag || ref.digest) return "should not contain a tag or digest (give the tag or digest separately)";
  return undefined;
}

/** `registry/repository`, Docker Hub's defaults applied. */
export function normalizeRepository(s: string): string {
  const ref = parseReference(s);
  return `${ref.registry}/${ref.repository}`;
}

export function tagProblem(s: string): string | undefined {
  return TAG_RE.test(s) ? undefined : `expected a tag ${TAG_GRAMMAR}`;
}

export function digestProblem(s: string): string | undefined {
  return isDigest(s) ? undefined : 'expected a digest "sha256:" followed by 64 lowercase hex digits';
}

export { absolutePathProblem, mountPathProblem, RESERVED_MOUNT_ROOTS } from "./path-checks";

/** A path relative to the code deployment's root that stays inside it. */
export function relativePathProblem(s: string): string | undefined {
  if (!s) return "expected a relative path, got an empty string";
  if (CONTROL_RE.test(s)) return "contains a control character";
  if (posix.isAbsolute(s)) return "expected a path relative to the code deployment's root";
  const norm = posix.normalize(s);
  if (norm === ".." || norm.startsWith("../")) return "leaves the code deployment's root";
  if (norm.endsWith("/") || norm === ".") return "expected a file, got a directory";
  return undefined;
}

export function gitUrlProblem(s: string): string | undefined {
  if (!s) return "expected a git URL, got an empty string";
  if (/\s/.test(s) || CONTROL_RE.test(s)) return "expected a git URL without spaces or control characters";
  try {
    assertSafeGitUrl(s);
  } catch (e) {
    if (!(e instanceof PipelineError)) throw e;
    return /user information/.test(e.message)
      ? "contains user information; give the user name and a SECRET:name password (or a git credential) instead"
      : 'must not start with "-"';
  }
  return undefined;
}

/** A subset of `git check-ref-format --branch`: what lsRemote accepts and no option look-alikes. */
export function branchProblem(s: string): string | undefined {
  if (
    !s ||
    s.startsWith("-") ||
    s.startsWith("/") ||
    s.endsWith("/") ||
    s.endsWith(".") ||
    s.endsWith(".lock") ||
    s === "@" ||
    s === "HEAD" ||
    /[\s~^:?*[\\]|\.\.|\/\/|@\{|\/\./.test(s) ||
    CONTROL_RE.test(s)
  ) {
    return "expected a git branch name (no spaces, ~ ^ : ? * [ \\, '..', leading '-' or trailing '/' / '.lock')";
  }
  return undefined;
}

export function commitProblem(s: string): string | undefined {
  return COMMIT_RE.test(s) ? undefined : "expected a full commit id (40 or 64 lowercase hex digits)";
}

export function ContainerAtTag(repository: string, tag = "latest"): InterpreterDeployment {
  need("ContainerAtTag", "repository", repository, repositoryProblem);
  need("ContainerAtTag", "tag", tag, tagProblem);
  return { kind: "ContainerAtTag", repository: normalizeRepository(repository), tag };
}

/** `digest` as a Digest: the constructors take it from code and specs, as a string, and check it here once. */
function needDigest(ctor: string, digest: unknown): Digest {
  if (typeof digest === "string" && isDigest(digest)) return digest;
  throw argError(
    ctor,
    "digest",
    digest,
    typeof digest === "string" ? (digestProblem(digest) ?? "") : "expected a string",
  );
}

export function ContainerAtDigest(repository: string, digest: string): InterpreterDeployment {
  need("ContainerAtDigest", "repository", repository, repositoryProblem);
  return atDigest(repository, needDigest("ContainerAtDigest", digest));
}

function atDigest(repository: string, digest: Digest): InterpreterDeployment {
  return { kind: "ContainerAtDigest", repository: normalizeRepository(repository), digest };
}

/** An image in an OCI layout on this machine (absolute `layout`); `digest` picks the manifest (resolve.ts checks it). */
export function ContainerInLayout(layout: string, digest?: string): InterpreterDeployment {
  need("ContainerInLayout", "layout", layout, absolutePathProblem);
  return inLayout(layout, digest === undefined ? undefined : needDigest("ContainerInLayout", digest));
}

function inLayout(layout: string, digest: Digest | undefined): InterpreterDeployment {
  return digest === undefined ? { kind: "ContainerInLayout", layout } : { kind: "ContainerInLayout", layout, digest };
}

/**
 * What `--image` names, as an interpreter: `HOST/REPO[:TAG][@DIGEST]` (pinned when it has a digest; a tag beside
 * it is ignored), or `oci:DIR[@DIGEST]` (layout-image.ts; a relative DIR from `cwd`).
 */
export function containerFromReference(reference: string, what = "image", cwd = process.cwd()): InterpreterDeployment {
  if (isLayoutReference(reference)) {
    const l = parseLayoutReference(reference, what, cwd);
    need("ContainerInLayout", "layout", l.dir, absolutePathProblem);
    return inLayout(l.dir, l.digest);
  }
  const ref = parseReference(reference, what);
  const repository = `${ref.registry}/${ref.repository}`;
  if (!ref.digest) return ContainerAtTag(repository, ref.tag ?? "latest");
  need("ContainerAtDigest", "repository", repository, repositoryProblem);
  return atDigest(repository, ref.digest);
}

export function ServerAvailableInterpreter(nodePath: string): InterpreterDeployment {
  need("ServerAvailableInterpreter", "nodePath", nodePath, absolutePathProblem);
  return { kind: "ServerAvailableInterpreter", nodePath };
}

export function LockfileProject(lockfile = "package-lock.json"): InterpreterDeployment {
  need("LockfileProject", "lockfile", lockfile, relativePathProblem);
  return { kind: "LockfileProject", lockfile: posix.normalize(lockfile) };
}

export function GitRepoBranch(repoUrl: string, branch = "main"): CodeDeployment {
  need("GitRepoBranch", "repoUrl", repoUrl, gitUrlProblem);
  need("GitRepoBranch", "branch", branch, branchProblem);
  return { kind: "GitRepoBranch", repoUrl, branch };
}

export function GitRepoCommit(repoUrl: string, commit: string): CodeDeployment {
  need("GitRepoCommit", "repoUrl", repoUrl, gitUrlProblem);
  need("GitRepoCommit", "commit", commit, commitProblem);
  return { kind: "GitRepoCommit", repoUrl, commit };
}

/** Why `paths` is not a list of distinct absolute paths, as [index, problem]; undefined when it is fine. */
export function codePathsProblem(paths: readonly string[]): [number | undefined, string] | undefined {
  if (paths.length === 0) return [undefined, "expected at least one path (the first is the working directory)"];
  const seen = new Map<string, number>();
  for (let i = 0; i < paths.length; i++) {
    const p = absolutePathProblem(paths[i]);
    if (p) return [i, p];
    const key = posix.normalize(paths[i]).replace(/(.)\/$/, "$1");
    const first = seen.get(key);
    if (first !== undefined) return [i, `duplicate of codePaths[${first}]`];
    seen.set(key, i);
  }
  return undefined;
}

export function ServerAvailableFolder(codePaths: string[]): CodeDeployment {
  if (!Array.isArray(codePaths))
    throw argError("ServerAvailableFolder", "codePaths", codePaths, "expected a list of absolute paths");
  codePaths.forEach((p, i) => {
    if (typeof p !== "string") throw argError("ServerAvailableFolder", `codePaths[${i}]`, p, "expected a string");
  });
  const problem = codePathsProblem(codePaths);
  if (problem) {
    const [i, text] = problem;
    throw i === undefined
      ? argError("ServerAvailableFolder", "codePaths", codePaths, text)
      : argError("ServerAvailableFolder", `codePaths[${i}]`, codePaths[i], text);
  }
  return { kind: "ServerAvailableFolder", codePaths: [...codePaths] };
}

export function NoCode(): CodeDeployment {
  return { kind: "None" };
}
