/** The registry benchmarks' shared pieces: a registry per benchmark, its access log, and our CLI and skopeo as clients. */
import { startRegistry, type RunningRegistry } from "../../test/fixtures/registry";
import type { Ctx } from "./context";
import { runOk, sleep } from "./measure";

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

export const cliEnv = (): NodeJS.ProcessEnv => ({ ...process.env, CI: "true" });

export function cliPush(ctx: Ctx, layout: string, target: string, tag = "latest") {
  return runOk(process.execPath, [ctx.cli, "push", layout, "--repository", target, "--tag", tag], { env: cliEnv() });
}

export function skopeoPush(ctx: Ctx, layout: string, target: string, tag = "latest") {
  return runOk("skopeo", ["--policy", ctx.policy, "copy", "--quiet", "--dest-tls-verify=false", `oci:${layout}:latest`, `docker://${target}:${tag}`]);
}

/** `skopeo copy --all`: every image of the layout's index, then the index. */
export function skopeoPushAll(ctx: Ctx, layout: string, target: string, tag = "latest") {
  return runOk("skopeo", [
    "--policy",
    ctx.policy,
    "copy",
    "--all",
    "--quiet",
    "--dest-tls-verify=false",
    `oci:${layout}:latest`,
    `docker://${target}:${tag}`,
  ]);
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
