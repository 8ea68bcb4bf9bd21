/**
 * The one platform grammar, `os/arch[/variant]` (e.g. `linux/amd64`, `linux/arm64/v8`), used by every command and
 * rule that takes a platform: parse (E_BAD_PLATFORM naming the flag or attribute and the value), format, match an
 * index entry, pick one from an index (E_PLATFORM listing the platforms present), and the host's own platform.
 */
import { arch as osArch } from "node:os";
import { PipelineError } from "../errors";
import type { Digest } from "./digest";
import type { Descriptor, Platform } from "./types";

/** For messages: what a platform looks like. */
export const PLATFORM_GRAMMAR = "os/arch[/variant] (e.g. linux/amd64, linux/arm64/v8)";

/** One part of a platform. */
export const PLATFORM_PART_RE = /^[a-z0-9][a-z0-9._-]*$/;

/** Parses `os/arch[/variant]`; `what` names the flag or attribute the value came from. */
export function parsePlatform(s: unknown, what: string): Platform {
  const parts = typeof s === "string" ? s.split("/") : [];
  if (parts.length < 2 || parts.length > 3 || !parts.every((p) => PLATFORM_PART_RE.test(p))) {
    throw new PipelineError("E_BAD_PLATFORM", `${what}: expected ${PLATFORM_GRAMMAR}, got ${JSON.stringify(s)}`);
  }
  const [os, architecture, variant] = parts;
  return variant ? { os, architecture, variant } : { os, architecture };
}

/**
 * Platforms from repeatable and comma-separated values (`--platform a --platform b,c`), in order, without
 * duplicates (by their formatted name).
 */
export function parsePlatformList(values: readonly string[] | string | undefined, what: string): Platform[] {
  const list = values === undefined ? [] : typeof values === "string" ? [values] : values;
  const out = new Map<string, Platform>();
  for (const v of list) {
    for (const item of v.split(",")) {
      const p = parsePlatform(item.trim(), what);
      out.set(formatPlatform(p), p);
    }
  }
  return [...out.values()];
}

export function formatPlatform(p: Platform | undefined): string {
  if (!p) return "unknown";
  return `${p.os}/${p.architecture}${p.variant ? `/${p.variant}` : ""}`;
}

/** The variant an architecture means when none is given (as containerd normalizes it). */
function defaultVariant(architecture: string): string | undefined {
  return architecture === "arm64" ? "v8" : architecture === "arm" ? "v7" : undefined;
}

/** Whether `have` (an index entry's platform) is what `want` asks for; a `want` without variant takes any. */
export function platformMatches(have: Platform | undefined, want: Platform): boolean {
  if (!have || have.os !== want.os || have.architecture !== want.architecture) return false;
  if (!want.variant) return true;
  return (have.variant ?? defaultVariant(have.architecture)) === want.variant;
}

const NODE_ARCH: Record<string, string> = {
  x64: "amd64",
  arm64: "arm64",
  arm: "arm",
  ia32: "386",
  ppc64: "ppc64le",
  s390x: "s390x",
  riscv64: "riscv64",
  loong64: "loong64",
};

/** The platform of this machine (images run here are Linux images, whatever the OS): e.g. linux/amd64. */
export function hostPlatform(nodeArch: string = osArch()): Platform {
  return { os: "linux", architecture: NODE_ARCH[nodeArch] ?? nodeArch };
}

/**
 * The entry of index `indexDigest` (none: a single image's own entry) for `want`: the first whose platform matches (and that `accept` takes). None:
 * E_PLATFORM naming `where` (the layout or reference), the platform asked for, the index and the platforms it has.
 */
export function pickPlatform(
  entries: readonly Descriptor[],
  want: Platform,
  where: { name: string; indexDigest?: Digest },
  accept: (d: Descriptor) => boolean = () => true,
): Descriptor {
  const match = entries.find((d) => platformMatches(d.platform, want) && accept(d));
  if (match) return match;
  throw new PipelineError(
    "E_PLATFORM",
    `${where.name}: no manifest for ${formatPlatform(want)} in index ${where.indexDigest ?? `(none: ${where.name} is a single image)`} (has: ${listPlatforms(entries)})`,
  );
}

/** `linux/amd64, linux/arm64` for messages: the platforms of an index's entries, or "none". */
export function listPlatforms(entries: readonly Descriptor[]): string {
  return entries.map((d) => formatPlatform(d.platform)).join(", ") || "none";
}
