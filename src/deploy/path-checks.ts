/**
 * Checks on the paths a deployment names, returning the problem (or undefined) for the spec parser, the model's
 * constructors, `pipeline run --mount`, the local runner and the Kubernetes renderer to report in their own words.
 *
 * mountPathProblem is the one check of where something is mounted in a container. It refuses what some runtime
 * cannot take or what would replace something the runtime provides, the same for `pipeline run` (runc, podman,
 * docker) and `pipeline deploy` (Kubernetes): ':' and ',' (they separate the fields of runtime mount options),
 * '..' segments (what is meant is unclear), `/`, and anything on or under /proc, /sys or /dev. The rest is
 * checked on the normalized form (`//opt/x/` is `/opt/x`), which is what the spec stores. No I/O, no imports
 * beyond node:path, so the CLI's option parsing can load it at start-up.
 */
import { posix } from "node:path";

export const CONTROL_RE = /[\u0000-\u001f\u007f]/;

/** Container paths the runtime provides: a mount may be neither on nor under one (nor on `/`). */
export const RESERVED_MOUNT_ROOTS = ["/proc", "/sys", "/dev"] as const;

export function absolutePathProblem(s: string): string | undefined {
  if (!s) return "expected an absolute path, got an empty string";
  if (CONTROL_RE.test(s)) return "contains a control character";
  if (!posix.isAbsolute(s)) return "expected an absolute path (starting with /)";
  return undefined;
}

/** Why nothing can be mounted at container path `s`, or undefined (see the module comment). */
export function mountPathProblem(s: string): string | undefined {
  const p = absolutePathProblem(s);
  if (p) return p;
  if (s.includes(":")) return "must not contain ':' (container runtimes separate mount fields with it)";
  if (s.includes(",")) return "must not contain ',' (container runtimes separate mount options with it)";
  if (s.split("/").includes("..")) return "must not contain '..' segments";
  const norm = posix.normalize(s).replace(/(.)\/+$/, "$1");
  if (norm === "/") return 'cannot mount over the container\'s root "/"';
  const reserved = RESERVED_MOUNT_ROOTS.find((r) => norm === r || norm.startsWith(`${r}/`));
  if (reserved) return `cannot mount on or under ${reserved} (the container runtime provides it)`;
  return undefined;
}

/**
 * Why host folder `real` may not be handed to a deployment (a ServerAvailableFolder's codePaths, mounted into its
 * containers, or the code of a host run), or undefined. The same rule for `pipeline run` as for `deploy --render`
 * (which refuses every host folder: none exists on a cluster): a spec, which may come from someone else, names no
 * host path of its own choosing. What it may name is under an allowed root: the spec's own directory by default,
 * plus what the operator adds by hand (`--allow-host-path DIR`, `$PIPELINE_ALLOW_HOST_PATHS`). The host's `/`
 * is never allowed, nor an allowed root of `/`. Both `real` and `allowed` are real paths (symlinks resolved, so a
 * link in the spec's directory to `/etc` is judged as `/etc`).
 */
export function hostFolderProblem(real: string, allowed: readonly string[]): string | undefined {
  const norm = posix.normalize(real).replace(/(.)\/+$/, "$1");
  if (norm === "/") return 'is the host\'s root "/" (never mounted or run from)';
  const under = (root: string) => {
    const r = posix.normalize(root).replace(/(.)\/+$/, "$1");
    return r !== "/" && (norm === r || norm.startsWith(`${r}/`));
  };
  if (allowed.some(under)) return undefined;
  const roots = allowed.filter((r) => posix.normalize(r) !== "/");
  return `is outside the allowed host folders (${roots.length ? roots.join(", ") : "none"}): allow it with --allow-host-path DIR or $PIPELINE_ALLOW_HOST_PATHS`;
}
