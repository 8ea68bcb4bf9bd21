/**
 * Which container runtime runs the containers. "auto" probes once per process, in order: runc (`runc
 * --version`), podman (`podman --version`), docker (`docker version` must reach a daemon). A forced runtime
 * (`--runtime`) that does not answer is an error naming the flag and what the probe said.
 */
import { execFile } from "node:child_process";
import { OptionError, PipelineError } from "../errors";

export type RuntimeName = "runc" | "podman" | "docker";
export type RuntimeChoice = "auto" | RuntimeName;
export const RUNTIMES: readonly RuntimeChoice[] = ["auto", "runc", "podman", "docker"];

const PROBES: Record<RuntimeName, string[]> = {
  runc: ["runc", "--version"],
  podman: ["podman", "--version"],
  docker: ["docker", "version", "--format", "{{.Server.Version}}"],
};

/**
 * How long a probe may take. A daemon's answer is what takes time (`docker version` asks it): on a loaded machine
 * podman's Docker API took over 10 s to answer, and a probe cut short there called a working runtime broken.
 */
const PROBE_TIMEOUT_MS = 60_000;

/** Runs one probe: ok with its first line of output, or not with its last line of errors (or that it timed out). */
export function probeCommand(cmd: string, args: string[], timeoutMs: number): Promise<{ ok: boolean; detail: string }> {
  return new Promise((resolve) => {
    execFile(cmd, args, { encoding: "utf8", timeout: timeoutMs }, (err, stdout, stderr) => {
      if (err?.killed)
        resolve({ ok: false, detail: `no answer within ${timeoutMs / 1000} s (stopped with ${err.signal})` });
      else if (err) resolve({ ok: false, detail: (stderr || err.message).trim().split("\n").slice(-1)[0] ?? "" });
      else resolve({ ok: true, detail: stdout.trim().split("\n")[0] ?? "" });
    });
  });
}

const probed = new Map<RuntimeName, Promise<{ ok: boolean; detail: string }>>();

function probe(name: RuntimeName): Promise<{ ok: boolean; detail: string }> {
  let p = probed.get(name);
  if (!p) {
    const [cmd, ...args] = PROBES[name];
    p = probeCommand(cmd, args, PROBE_TIMEOUT_MS);
    probed.set(name, p);
  }
  return p;
}

export async function chooseRuntime(want: RuntimeChoice = "auto"): Promise<RuntimeName> {
  if (!RUNTIMES.includes(want)) {
    throw new OptionError("runtime", `expected one of ${RUNTIMES.join(", ")}, got ${JSON.stringify(want)}`);
  }
  if (want !== "auto") {
    const r = await probe(want);
    if (!r.ok)
      throw new PipelineError("E_RUNTIME", `--runtime ${want}: \`${PROBES[want].join(" ")}\` failed: ${r.detail}`);
    return want;
  }
  const tried: string[] = [];
  for (const name of ["runc", "podman", "docker"] as const) {
    const r = await probe(name);
    if (r.ok) return name;
    tried.push(`${name}: ${r.detail}`);
  }
  throw new PipelineError(
    "E_RUNTIME",
    `no container runtime works here (install runc, podman or docker):\n  ${tried.join("\n  ")}`,
  );
}
