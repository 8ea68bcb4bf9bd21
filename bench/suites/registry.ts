/** P1 (incremental push bytes), P2 (no-op push), P3 (cold push), P7 (pull): ours against skopeo. */
import { readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { pushImage } from "../../src/registry/push";
import { readLayout } from "../../src/layout/read";
import { startRegistry, RunningRegistry } from "../../test/fixtures/registry";
import { check, Ctx, row } from "../lib/context";
import { imageBytes } from "../lib/inputs";
import { run, runOk, sideBySide, sleep, stat } from "../lib/measure";
import { startCountingProxy } from "../lib/proxy";
import { fmtInt, fmtMB, fmtMs, Row } from "../lib/report";

async function withRegistry<T>(ctx: Ctx, fn: (reg: RunningRegistry) => Promise<T>): Promise<T> {
  const reg = await startRegistry();
  try {
    return await fn(reg);
  } finally {
    await reg.stop();
  }
}

/** Access-log entries so far (the registry writes a line just after answering: give it a moment). */
async function requestCount(reg: RunningRegistry): Promise<number> {
  await sleep(150);
  return reg.requests().length;
}

const cliEnv = (): NodeJS.ProcessEnv => ({ ...process.env, CI: "true" });

function cliPush(ctx: Ctx, layout: string, target: string, tag = "latest") {
  return runOk(process.execPath, [ctx.cli, "push", layout, "--repository", target, "--tag", tag], { env: cliEnv() });
}

function skopeoPush(ctx: Ctx, layout: string, target: string, tag = "latest") {
  return runOk("skopeo", ["--policy", ctx.policy, "copy", "--quiet", "--dest-tls-verify=false", `oci:${layout}:latest`, `docker://${target}:${tag}`]);
}

/** P1: after a one-line app change, bytes on the wire / (app layer + config + manifest). */
export async function p1(ctx: Ctx): Promise<Row[]> {
  return withRegistry(ctx, async (reg) => {
    const proxy = await startCountingProxy(reg.host);
    try {
      const v1 = await ctx.inputs.image("p1-v1");
      const first = await pushImage(v1.image, { registry: proxy.host, repository: "bench/p1" });
      const firstBytes = proxy.bodyBytes();
      check(first.uploaded.length === v1.image.layers.length + 1, `P1: first push uploads every blob (${first.uploaded.length})`);
      proxy.reset();
      const v2 = await ctx.inputs.image("p1-v2", ctx.inputs.changedApp("v2"));
      check(v2.nmLayer.digest === v1.nmLayer.digest && v2.appLayer.digest !== v1.appLayer.digest, "P1: only the app layer changes");
      const second = await pushImage(v2.image, { registry: proxy.host, repository: "bench/p1" });
      const wire = proxy.bodyBytes();
      const own = v2.appLayer.size + v2.image.configBytes.length + v2.image.manifestBytes.length;
      const reported = second.uploaded.reduce((n, u) => n + u.size, 0) + v2.image.manifestBytes.length;
      check(reported === wire, `P1: the client's report (${reported} B) matches the wire (${wire} B)`);
      check(wire <= own, `P1: bytes uploaded after a one-line change (${wire}) ≤ app layer + config + manifest (${own})`);
      const byMethod = new Map<string, number>();
      for (const q of proxy.requests) byMethod.set(q.method, (byMethod.get(q.method) ?? 0) + 1);
      return [
        row({
          id: "P1",
          key: "P1-bytes",
          what: "push after a one-line app change: request-body bytes on the wire / (app layer + config + manifest)",
          ours: `${fmtInt(wire)} B`,
          peer: `${fmtInt(own)} B`,
          ratio: wire / own,
          target: "≤ 1.00",
          met: wire / own <= 1.0,
          notes:
            `image ${fmtMB(imageBytes(v2.image))} in ${v2.image.layers.length} layers; first push sent ${fmtMB(firstBytes)}; second push: ` +
            `app layer ${fmtInt(v2.appLayer.size)} B + config ${fmtInt(v2.image.configBytes.length)} B + manifest ${fmtInt(v2.image.manifestBytes.length)} B, ` +
            `${proxy.requests.length} requests (${[...byMethod].map(([m, n]) => `${n} ${m}`).join(", ")}), counted by a proxy in front of the registry`,
        }),
      ];
    } finally {
      await proxy.stop();
    }
  });
}

/** P2: pushing an image the registry already has: requests (ours vs skopeo) and CLI wall time vs `node -e 0`. */
export async function p2(ctx: Ctx): Promise<Row[]> {
  const img = await ctx.inputs.image("p2");
  return withRegistry(ctx, async (reg) => {
    const target = `${reg.host}/bench/p2`;
    await cliPush(ctx, img.layoutDir, target);
    await skopeoPush(ctx, img.layoutDir, target); // both clients have seen it once
    const counts = { ours: [] as number[], skopeo: [] as number[] };
    const methods = { ours: "", skopeo: "" };
    const describe = (from: number) => {
      const m = new Map<string, number>();
      for (const q of reg.requests().slice(from)) {
        const k = `${q.method} ${q.path.includes("/manifests/") ? "manifest" : q.path.includes("/blobs/") ? "blob" : q.path}`;
        m.set(k, (m.get(k) ?? 0) + 1);
      }
      return [...m].map(([k, n]) => `${n}× ${k}`).join(", ");
    };
    for (let i = 0; i < (ctx.smoke ? 1 : 3); i++) {
      let n0 = await requestCount(reg);
      const r = await cliPush(ctx, img.layoutDir, target);
      check(r.stdout.trim().endsWith(img.image.digest), `P2: our push prints the digest (${r.stdout.trim()})`);
      let n1 = await requestCount(reg);
      counts.ours.push(n1 - n0);
      methods.ours = describe(n0);
      n0 = n1;
      await skopeoPush(ctx, img.layoutDir, target);
      n1 = await requestCount(reg);
      counts.skopeo.push(n1 - n0);
      methods.skopeo = describe(n0);
    }
    const node = () => run(process.execPath, ["-e", "0"]).then((r) => r.ms);
    const ours = () => cliPush(ctx, img.layoutDir, target).then((r) => r.ms);
    const t = await sideBySide(ctx.reps, 1, ours, node);
    const skopeoMs: number[] = [];
    for (let i = 0; i < (ctx.smoke ? 1 : 5); i++) skopeoMs.push((await skopeoPush(ctx, img.layoutDir, target)).ms);
    const q = { ours: stat(counts.ours), skopeo: stat(counts.skopeo) };
    return [
      row({
        id: "P2",
        key: "P2-requests",
        what: `no-op push (${img.image.layers.length} layers + config, one tag): registry requests, ours vs skopeo copy`,
        ours: `${q.ours.median}`,
        peer: `${q.skopeo.median}`,
        ratio: q.ours.median / q.skopeo.median,
        target: "≤ skopeo's",
        met: q.ours.median <= q.skopeo.median,
        notes: `counted in the registry's access log; ours: ${methods.ours}; skopeo: ${methods.skopeo}`,
      }),
      row({
        id: "P2",
        key: "P2-wall",
        what: "no-op push wall time: `pipeline push` CLI vs `node -e 0`",
        ours: fmtMs(t.a),
        peer: fmtMs(t.b),
        ratio: t.a.median / t.b.median,
        target: "≤ 1.6",
        met: t.a.median / t.b.median <= 1.6,
        notes: `skopeo's no-op copy of the same image: ${fmtMs(stat(skopeoMs))}`,
      }),
    ];
  });
}

/** P3: cold push of the whole image to a fresh registry: CLI vs skopeo copy. */
export async function p3(ctx: Ctx): Promise<Row[]> {
  const img = await ctx.inputs.image("p3");
  const fresh = async (push: (target: string) => Promise<{ ms: number }>, label: string) => {
    return withRegistry(ctx, async (reg) => {
      const r = await push(`${reg.host}/bench/p3`);
      if (ctx.smoke || label === "check") {
        const m = await runOk("skopeo", ["inspect", "--raw", "--tls-verify=false", `docker://${reg.host}/bench/p3:latest`]);
        check(m.stdout.trim() === img.image.manifestBytes.toString("utf8"), "P3: the registry serves the pushed manifest");
      }
      return r.ms;
    });
  };
  const ours = () => fresh((t) => cliPush(ctx, img.layoutDir, t), "ours");
  const skopeo = () => fresh((t) => skopeoPush(ctx, img.layoutDir, t), "skopeo");
  await fresh((t) => cliPush(ctx, img.layoutDir, t), "check");
  const t = await sideBySide(ctx.slowReps, ctx.smoke ? 0 : 1, ours, skopeo);
  return [
    row({
      id: "P3",
      key: "P3-wall",
      what: `cold push of a ${fmtMB(imageBytes(img.image))} image (${img.image.layers.length} layers) to a fresh registry: CLI vs skopeo copy`,
      ours: fmtMs(t.a),
      peer: fmtMs(t.b),
      ratio: t.a.median / t.b.median,
      target: "≤ 1.0",
      met: t.a.median / t.b.median <= 1.0,
      notes: `layer sizes ${img.image.layers.map((l) => fmtMB(l.size)).join(" + ")}; a new registry (filesystem storage) per run, started outside the timing`,
    }),
  ];
}

/** P7: pull of the base image into an OCI layout: CLI vs skopeo copy. */
export async function p7(ctx: Ctx): Promise<Row[]> {
  const base = ctx.inputs.base();
  return withRegistry(ctx, async (reg) => {
    const ref = `${reg.host}/bench/base`;
    await pushImage(base, { registry: reg.host, repository: "bench/base", tags: ["latest"] });
    const oursDir = join(ctx.work, "p7-ours");
    const peerDir = join(ctx.work, "p7-skopeo");
    const ours = async () => {
      rmSync(oursDir, { recursive: true, force: true });
      const r = await runOk(process.execPath, [ctx.cli, "pull", `${ref}:latest`, "--output", oursDir], { env: cliEnv() });
      check(r.stdout.trim() === `${ref}@${base.digest}`, `P7: our pull prints the digest (${r.stdout.trim()})`);
      return r.ms;
    };
    const skopeo = async () => {
      rmSync(peerDir, { recursive: true, force: true });
      return (await runOk("skopeo", ["--policy", ctx.policy, "copy", "--quiet", "--src-tls-verify=false", `docker://${ref}:latest`, `oci:${peerDir}:latest`])).ms;
    };
    const t = await sideBySide(ctx.slowReps, ctx.smoke ? 0 : 1, ours, skopeo);
    const pulled = readLayout(oursDir);
    check(pulled.digest === base.digest, "P7: our pull writes the pushed image");
    const idx = JSON.parse(readFileSync(join(peerDir, "index.json"), "utf8"));
    check(idx.manifests[0].digest === base.digest, "P7: skopeo's pull has the same digest");
    return [
      row({
        id: "P7",
        key: "P7-wall",
        what: `pull of the ${fmtMB(imageBytes(base))} base image (${base.layers.length} layers) into an OCI layout: CLI vs skopeo copy`,
        ours: fmtMs(t.a),
        peer: fmtMs(t.b),
        ratio: t.a.median / t.b.median,
        target: "≤ 1.0",
        met: t.a.median / t.b.median <= 1.0,
        notes: `layer sizes ${base.layers.map((l) => fmtMB(l.size)).join(" + ")}`,
      }),
    ];
  });
}
