/**
 * crane (go-containerregistry) as a peer, from Debian sid: scripts/sid-tools.sh (the one downloader of sid's tools,
 * shared with the tests' cosign and oras) unpacks its .deb with `dpkg-deb -x` into ~/.cache/rules_pipeline/sid-tools
 * once. When it cannot be had (no Debian mirror reachable, say), the crane rows are reported as not run, with the
 * script's message, and every other row still runs.
 */
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { REPO_ROOT } from "./bazel";
import { runOk, type RunResult } from "./measure";
import type { Row } from "./report";

export interface Crane {
  bin: string;
  /** "0.20.7+ds1-5", from the .deb the cache holds. */
  version: string;
}

let found: { crane?: Crane; why: string } | undefined;

/** crane, fetched on first use; `why` says why not when it cannot be had. */
export function findCrane(log: (line: string) => void): { crane?: Crane; why: string } {
  if (found) return found;
  const r = spawnSync("bash", [join(REPO_ROOT, "scripts", "sid-tools.sh"), "setup"], {
    encoding: "utf8",
    timeout: 10 * 60_000,
  });
  const bin = join(r.stdout.trim(), "crane");
  if (r.status !== 0 || !existsSync(bin)) {
    const why = `crane (Debian sid) could not be had: scripts/sid-tools.sh setup exited ${r.status}: ${(r.stderr || r.error?.message || "").trim().split("\n").slice(-3).join(" ")}`;
    log(`${why}; the crane rows are skipped`);
    return (found = { why });
  }
  const complete = join(dirname(dirname(dirname(bin))), ".complete");
  const deb = existsSync(complete) ? /^crane_([^_]+)_/m.exec(readFileSync(complete, "utf8"))?.[1] : undefined;
  return (found = { crane: { bin, version: deb ?? "?" }, why: "" });
}

/** `crane push LAYOUT REF`: the layout's one image, or its one image index. */
export function cranePush(c: Crane, layout: string, target: string, tag = "latest"): Promise<RunResult> {
  return runOk(c.bin, ["push", "--insecure", layout, `${target}:${tag}`], { cpu: true });
}

/** `crane pull --format oci REF DIR`. */
export function cranePull(c: Crane, ref: string, dir: string): Promise<RunResult> {
  return runOk(c.bin, ["pull", "--insecure", "--format", "oci", ref, dir], { cpu: true });
}

/** The row a crane comparison gives when crane could not be had. */
export function craneSkipped(r: Pick<Row, "id" | "key" | "what" | "ours" | "target">, why: string): Row {
  return { ...r, peer: "not run", notes: why };
}
