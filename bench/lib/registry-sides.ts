/** The registry benchmarks' shared pieces: a registry per benchmark, its access log, and our CLI and skopeo as clients. */
import { startRegistry, type RunningRegistry } from "../../test/fixtures/registry";
import { cliEnv, type Ctx, row } from "./context";
import { processCpuMs, type RunResult, runOk, type Stat, sleep, stat } from "./measure";
import { fmtInt, fmtMs, type Row } from "./report";

export async function withRegistry<T>(fn: (reg: RunningRegistry) => Promise<T>): Promise<T> {
  const reg = await startRegistry();
  try {
    return await fn(reg);
  } finally {
    await reg.stop();
  }
}

/** Access-log entries so far (the registry writes a line just after answering: give it a moment). */
export async function requestCount(reg: RunningRegistry): Promise<number> {
  await sleep(150);
  return reg.requests().length;
}

export function cliPush(ctx: Ctx, layout: string, target: string, tag = "latest") {
  return runOk(process.execPath, [ctx.cli, "push", layout, "--repository", target, "--tag", tag], { env: cliEnv(), cpu: true });
}

export function cliPull(ctx: Ctx, ref: string, dir: string, o: { cpu?: boolean } = {}) {
  return runOk(process.execPath, [ctx.cli, "pull", ref, "--output", dir], { env: cliEnv(), ...o });
}

/** `skopeo copy docker://REF oci:DIR:latest`. */
export function skopeoPull(ctx: Ctx, ref: string, dir: string) {
  return runOk("skopeo", ["--policy", ctx.policy, "copy", "--quiet", "--src-tls-verify=false", `docker://${ref}`, `oci:${dir}:latest`]);
}

export function skopeoPush(ctx: Ctx, layout: string, target: string, tag = "latest") {
  return runOk(
    "skopeo",
    ["--policy", ctx.policy, "copy", "--quiet", "--dest-tls-verify=false", `oci:${layout}:latest`, `docker://${target}:${tag}`],
    {
      cpu: true,
    },
  );
}

/** `skopeo copy --all`: every image of the layout's index, then the index. */
export function skopeoPushAll(ctx: Ctx, layout: string, target: string, tag = "latest") {
  return runOk(
    "skopeo",
    ["--policy", ctx.policy, "copy", "--all", "--quiet", "--dest-tls-verify=false", `oci:${layout}:latest`, `docker://${target}:${tag}`],
    { cpu: true },
  );
}

/** The registry's access log from entry `from` on, by method and kind: "1× HEAD manifest, 5× HEAD blob". */
export function describeRequests(reg: RunningRegistry, from: number): string {
  const m = new Map<string, number>();
  for (const q of reg.requests().slice(from)) {
    const k = `${q.method} ${q.path.includes("/manifests/") ? "manifest" : q.path.includes("/blobs/uploads/") ? "upload" : q.path.includes("/blobs/") ? "blob" : q.path}`;
    m.set(k, (m.get(k) ?? 0) + 1);
  }
  return [...m].map(([k, n]) => `${n}× ${k}`).join(", ");
}

/** Requests a no-op push by `push` adds to the access log, and their kinds. */
export async function countRequests(reg: RunningRegistry, push: () => Promise<unknown>): Promise<{ n: number; kinds: string; writes: string[] }> {
  const n0 = await requestCount(reg);
  await push();
  const n1 = await requestCount(reg);
  const writes = reg
    .requests()
    .slice(n0)
    .filter((q) => q.method !== "GET" && q.method !== "HEAD")
    .map((q) => `${q.method} ${q.path}`);
  return { n: n1 - n0, kinds: describeRequests(reg, n0), writes };
}

/**
 * CPU time per side of a registry benchmark: the client's (user + system, /usr/bin/time) and the registry's while it
 * served that client (/proc/PID/stat before and after). Where a transfer's time goes on a 2-core machine: a client
 * that uses little CPU leaves both cores to the registry, whose own work (hashing and storing what it receives) is
 * then the floor of any client's wall time.
 */
export class CpuTally {
  private readonly sides = new Map<string, { client: number[]; registry: number[] }>();

  /** Runs `fn` (a client run against `reg`) and records both CPU times under `side`. */
  async measure<T extends RunResult>(side: string, reg: RunningRegistry, fn: () => Promise<T>): Promise<T> {
    const before = processCpuMs(reg.pid);
    const r = await fn();
    const registry = processCpuMs(reg.pid) - before;
    if (r.cpuMs !== undefined) {
      const s = this.sides.get(side) ?? { client: [], registry: [] };
      s.client.push(r.cpuMs);
      s.registry.push(registry);
      this.sides.set(side, s);
    }
    return r;
  }

  /** Median client and registry CPU ms of `side` (undefined when nothing was measured: no /usr/bin/time). */
  median(side: string): { client: number; registry: number } | undefined {
    const s = this.sides.get(side);
    return s && { client: stat(s.client).median, registry: stat(s.registry).median };
  }

  /** "ours: client 312 ms + registry 574 ms; crane: client 30 ms + registry 590 ms" (medians). */
  describe(): string {
    return [...this.sides.keys()]
      .map((side) => {
        const m = this.median(side)!;
        return `${side}: client ${fmtInt(Math.round(m.client))} ms + registry ${fmtInt(Math.round(m.registry))} ms`;
      })
      .join("; ");
  }
}

/**
 * The CPU row of a transfer benchmark (informational): the client's and the registry's CPU time per run, ours and the
 * peer's, and the registry's share as a floor. On 2 cores the registry's own CPU time spread over both cores is a
 * lower bound of any client's wall time; a client's wall time near that bound leaves nothing for another client to win.
 */
export function cpuRows(id: string, what: string, cpu: CpuTally, peer: string, peerWall: Stat): Row[] {
  const o = cpu.median("ours");
  const p = cpu.median(peer);
  if (!o || !p) return [];
  const floor = p.registry / 2;
  return [
    row({
      id,
      key: `${id}-cpu`,
      what: `informational: ${what}, CPU time of the client (user + system, /usr/bin/time), ours vs ${peer}`,
      ours: `${fmtInt(Math.round(o.client))} ms`,
      peer: `${fmtInt(Math.round(p.client))} ms`,
      ratio: o.client / Math.max(1, p.client),
      target: "—",
      notes: `medians per run; the registry's CPU time while serving each client: ${cpu.describe()}; ${peer}'s wall time ${fmtMs(peerWall)} against the registry's CPU time over the 2 cores, ${fmtInt(Math.round(floor))} ms (a floor no client gets under)`,
    }),
  ];
}
