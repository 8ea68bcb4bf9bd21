/** The registry benchmarks' shared pieces: a registry per benchmark, its access log, and our CLI and skopeo as clients. */
import { startRegistry, type RunningRegistry } from "../../test/fixtures/registry";
import { cliEnv, type Ctx, row } from "./context";
import { readdirSync } from "node:fs";
import { join } from "node:path";
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
  return runOk(process.execPath, [ctx.cli, "push", layout, "--repository", target, "--tag", tag], {
    env: cliEnv(),
    cpu: true,
  });
}

export function cliPull(ctx: Ctx, ref: string, dir: string, o: { cpu?: boolean } = {}) {
  return runOk(process.execPath, [ctx.cli, "pull", ref, "--output", dir], { env: cliEnv(), ...o });
}

/** `skopeo copy docker://REF oci:DIR:latest`. */
export function skopeoPull(ctx: Ctx, ref: string, dir: string) {
  return runOk("skopeo", [
    "--policy",
    ctx.policy,
    "copy",
    "--quiet",
    "--src-tls-verify=false",
    `docker://${ref}`,
    `oci:${dir}:latest`,
  ]);
}

export function skopeoPush(ctx: Ctx, layout: string, target: string, tag = "latest") {
  return runOk(
    "skopeo",
    [
      "--policy",
      ctx.policy,
      "copy",
      "--quiet",
      "--dest-tls-verify=false",
      `oci:${layout}:latest`,
      `docker://${target}:${tag}`,
    ],
    {
      cpu: true,
    },
  );
}

/** `skopeo copy --all`: every image of the layout's index, then the index. */
export function skopeoPushAll(ctx: Ctx, layout: string, target: string, tag = "latest") {
  return runOk(
    "skopeo",
    [
      "--policy",
      ctx.policy,
      "copy",
      "--all",
      "--quiet",
      "--dest-tls-verify=false",
      `oci:${layout}:latest`,
      `docker://${target}:${tag}`,
    ],
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
export async function countRequests(
  reg: RunningRegistry,
  push: () => Promise<unknown>,
): Promise<{ n: number; kinds: string; writes: string[] }> {
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
 * then the floor of any client's wall time. A side measured without a registry (the OpenSSL pass) has only its own.
 */
export class CpuTally {
  private readonly sides = new Map<string, { client: number[]; registry: number[] }>();

  /** Runs `fn` (a client run against `reg`, or a command alone without one) and records the CPU times under `side`. */
  async measure<T extends RunResult>(side: string, reg: RunningRegistry | undefined, fn: () => Promise<T>): Promise<T> {
    const before = reg && processCpuMs(reg.pid);
    const r = await fn();
    const registry = reg && before !== undefined ? processCpuMs(reg.pid) - before : undefined;
    if (r.cpuMs !== undefined) {
      const s = this.sides.get(side) ?? { client: [], registry: [] };
      s.client.push(r.cpuMs);
      if (registry !== undefined) s.registry.push(registry);
      this.sides.set(side, s);
    }
    return r;
  }

  /** Median client (and registry, when one served it) CPU ms of `side`; undefined when nothing was measured (no /usr/bin/time). */
  median(side: string): { client: number; registry?: number } | undefined {
    const s = this.sides.get(side);
    return s && { client: stat(s.client).median, registry: s.registry.length ? stat(s.registry).median : undefined };
  }

  /** The client's CPU ms of `side`, median and spread. */
  client(side: string): Stat | undefined {
    const s = this.sides.get(side);
    return s && stat(s.client);
  }

  /** "ours: client 312 ms + registry 574 ms; crane: client 30 ms + registry 590 ms; openssl: 110 ms" (medians). */
  describe(): string {
    return [...this.sides.keys()]
      .map((side) => {
        const m = this.median(side)!;
        const client = `${fmtInt(Math.round(m.client))} ms`;
        return m.registry === undefined
          ? `${side}: ${client}`
          : `${side}: client ${client} + registry ${fmtInt(Math.round(m.registry))} ms`;
      })
      .join("; ");
  }
}

/**
 * `openssl dgst -sha256` over every blob a push sends (the files of the layout's blobs/sha256, read from the page
 * cache): one SHA-256 pass over the bytes, what any client that verifies what it sends must at least spend. Its CPU
 * time is the floor a push's client CPU is held to (issue #43 item 3: ≤ 2.0x).
 */
export function opensslPass(layoutDir: string): Promise<RunResult> {
  const dir = join(layoutDir, "blobs", "sha256");
  return runOk("openssl", ["dgst", "-sha256", ...readdirSync(dir).map((f) => join(dir, f))], { cpu: true });
}

/**
 * The CPU row of a transfer benchmark: the client's CPU time (user + system, /usr/bin/time) per run, ours against
 * `peer`'s (another client, or the OpenSSL pass over the same blobs), with a target ratio; the notes give every side's
 * CPU and the registry's, and the registry's share as a wall-time floor: on 2 cores the registry's own CPU time spread
 * over both is a lower bound of any client's wall time.
 */
export function cpuRow(
  r: { id: string; key?: string; what: string; peer: string; peerLabel: string; limit?: number },
  cpu: CpuTally,
  wall: { side: string; stat: Stat },
): Row[] {
  const o = cpu.client("ours");
  const p = cpu.client(r.peer);
  if (!o || !p) return [];
  const registry = cpu.median(wall.side)?.registry;
  const floor =
    registry === undefined
      ? ""
      : `; ${wall.side}'s wall time ${fmtMs(wall.stat)} against the registry's CPU time over the 2 cores, ${fmtInt(Math.round(registry / 2))} ms (a floor no client gets under)`;
  const ratio = o.median / Math.max(1, p.median);
  return [
    row({
      id: r.id,
      key: r.key ?? `${r.id}-cpu`,
      what: `${r.limit === undefined ? "informational: " : ""}${r.what}, CPU time of the client (user + system, /usr/bin/time), ours vs ${r.peerLabel}`,
      ours: fmtMs(o),
      peer: fmtMs(p),
      ratio,
      target: r.limit === undefined ? "—" : `≤ ${r.limit.toFixed(1)}`,
      met: r.limit === undefined ? undefined : ratio <= r.limit,
      notes: `medians per run, in the rounds of the wall-time rows; CPU time of each side (and of the registry while serving it): ${cpu.describe()}${floor}`,
    }),
  ];
}
