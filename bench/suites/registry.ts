/**
 * P1 (incremental push bytes), P2 (no-op push), P3 (cold push), P7 (pull): ours against skopeo and crane (Debian
 * sid's, bench/lib/crane.ts; its rows are reported as not run when it cannot be had).
 */
import { readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { pushImage } from "../../src/registry/push";
import { readLayout } from "../../src/layout/read";
import { check, type Ctx, row, versus } from "../lib/context";
import { cranePull, cranePush, craneSkipped, findCrane } from "../lib/crane";
import { imageBytes } from "../lib/inputs";
import { rounds } from "../lib/rounds";
import { type RunResult, run, runOk, sideBySide, stat } from "../lib/measure";
import { startCountingProxy } from "../lib/proxy";
import {
  CpuTally,
  cliPull,
  cliPush,
  countRequests,
  cpuRow,
  opensslPass,
  skopeoPull,
  skopeoPush,
  withRegistry,
} from "../lib/registry-sides";
import { fmtInt, fmtMB, fmtMs, type Row } from "../lib/report";

/** P1: after a one-line app change, bytes on the wire / (app layer + config + manifest). */
export async function p1(ctx: Ctx): Promise<Row[]> {
  return withRegistry(async (reg) => {
    const proxy = await startCountingProxy(reg.host);
    try {
      const v1 = await ctx.inputs.image("p1-v1");
      const first = await pushImage(v1.image, { registry: proxy.host, repository: "bench/p1" });
      const firstBytes = proxy.bodyBytes();
      check(
        first.uploaded.length === v1.image.layers.length + 1,
        `P1: first push uploads every blob (${first.uploaded.length})`,
      );
      proxy.reset();
      const v2 = await ctx.inputs.image("p1-v2", ctx.inputs.changedApp("v2"));
      check(
        v2.nmLayer.digest === v1.nmLayer.digest && v2.appLayer.digest !== v1.appLayer.digest,
        "P1: only the app layer changes",
      );
      const second = await pushImage(v2.image, { registry: proxy.host, repository: "bench/p1" });
      const wire = proxy.bodyBytes();
      const own = v2.appLayer.size + v2.image.configBytes.length + v2.image.manifestBytes.length;
      const reported = second.uploaded.reduce((n, u) => n + u.size, 0) + v2.image.manifestBytes.length;
      check(reported === wire, `P1: the client's report (${reported} B) matches the wire (${wire} B)`);
      check(
        wire <= own,
        `P1: bytes uploaded after a one-line change (${wire}) ≤ app layer + config + manifest (${own})`,
      );
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

/**
 * P2: pushing an image the registry already has: requests (ours vs skopeo and crane) and the CLI's wall time against
 * `node -e 0` (and, informational, crane's no-op push).
 */
export async function p2(ctx: Ctx): Promise<Row[]> {
  const img = await ctx.inputs.image("p2");
  const { crane, why } = findCrane(ctx.log);
  return withRegistry(async (reg) => {
    const target = `${reg.host}/bench/p2`;
    const pushes = {
      ours: async () => {
        const r = await cliPush(ctx, img.layoutDir, target);
        check(r.stdout.trim().endsWith(img.image.digest), `P2: our push prints the digest (${r.stdout.trim()})`);
        return r;
      },
      skopeo: () => skopeoPush(ctx, img.layoutDir, target),
      ...(crane ? { crane: () => cranePush(crane, img.layoutDir, target) } : {}),
    };
    for (const push of Object.values(pushes)) await push(); // every client has seen it once
    const counts: Record<string, number[]> = {};
    const kinds: Record<string, string> = {};
    for (let i = 0; i < (ctx.smoke ? 1 : 3); i++) {
      for (const [who, push] of Object.entries(pushes)) {
        const c = await countRequests(reg, push);
        if (who === "ours") check(c.writes.length === 0, `P2: our no-op push writes nothing (${c.writes.join(", ")})`);
        (counts[who] ??= []).push(c.n);
        kinds[who] = c.kinds;
      }
    }
    const node = () => run(process.execPath, ["-e", "0"]).then((r) => r.ms);
    const ours = () => cliPush(ctx, img.layoutDir, target).then((r) => r.ms);
    const t = await sideBySide(ctx.reps, 1, ours, node);
    const skopeoMs: number[] = [];
    for (let i = 0; i < (ctx.smoke ? 1 : 5); i++) skopeoMs.push((await skopeoPush(ctx, img.layoutDir, target)).ms);
    const q = { ours: stat(counts.ours), skopeo: stat(counts.skopeo) };
    const what = `no-op push (${img.image.layers.length} layers + config, one tag): registry requests`;
    const rows = [
      row({
        id: "P2",
        key: "P2-requests",
        what: `${what}, ours vs skopeo copy`,
        ours: `${q.ours.median}`,
        peer: `${q.skopeo.median}`,
        ratio: q.ours.median / q.skopeo.median,
        target: "≤ skopeo's",
        met: q.ours.median <= q.skopeo.median,
        notes: `counted in the registry's access log; ours: ${kinds.ours}; skopeo: ${kinds.skopeo}`,
      }),
    ];
    if (crane) {
      const qc = stat(counts.crane);
      rows.push(
        row({
          id: "P2",
          key: "P2-requests-crane",
          what: `${what}, ours vs crane push`,
          ours: `${q.ours.median}`,
          peer: `${qc.median}`,
          ratio: q.ours.median / qc.median,
          target: "≤ crane's",
          met: q.ours.median <= qc.median,
          notes: `counted in the registry's access log; crane ${crane.version}: ${kinds.crane}`,
        }),
      );
    } else
      rows.push(
        row(
          craneSkipped(
            {
              id: "P2",
              key: "P2-requests-crane",
              what: `${what}, ours vs crane push`,
              ours: `${q.ours.median}`,
              target: "≤ crane's",
            },
            why,
          ),
        ),
      );
    rows.push(
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
    );
    if (crane) {
      const [o, c] = await rounds(ctx.reps, ctx.smoke ? 0 : 1, [
        ours,
        () => cranePush(crane, img.layoutDir, target).then((r) => r.ms),
      ]);
      rows.push(
        versus({
          id: "P2",
          key: "P2-wall-crane",
          what: "informational: no-op push wall time, `pipeline push` CLI vs crane push",
          ours: o,
          peer: c,
        }),
      );
    }
    return rows;
  });
}

/** P3: cold push of the whole image to a fresh registry: CLI vs skopeo copy and crane push, in rounds. */
export async function p3(ctx: Ctx): Promise<Row[]> {
  const img = await ctx.inputs.image("p3");
  const { crane, why } = findCrane(ctx.log);
  const cpu = new CpuTally();
  const fresh = async (push: (target: string) => Promise<RunResult>, check_: boolean, who: string) => {
    return withRegistry(async (reg) => {
      const r = await cpu.measure(who, reg, () => push(`${reg.host}/bench/p3`));
      if (ctx.smoke || check_) {
        const m = await runOk("skopeo", [
          "inspect",
          "--raw",
          "--tls-verify=false",
          `docker://${reg.host}/bench/p3:latest`,
        ]);
        check(
          m.stdout.trim() === img.image.manifestBytes.toString("utf8"),
          `P3: the registry serves the manifest ${who === "ours" ? "we" : who} pushed`,
        );
      }
      return r.ms;
    });
  };
  const ours = () => fresh((t) => cliPush(ctx, img.layoutDir, t), false, "ours");
  const skopeo = () => fresh((t) => skopeoPush(ctx, img.layoutDir, t), false, "skopeo");
  await fresh((t) => cliPush(ctx, img.layoutDir, t), true, "ours");
  if (crane) await fresh((t) => cranePush(crane, img.layoutDir, t), true, "crane");
  // The floor of the client's CPU: one SHA-256 pass over what the push sends, in the same rounds.
  const openssl = async () => (await cpu.measure("openssl", undefined, () => opensslPass(img.layoutDir))).ms;
  const sides = [
    ours,
    skopeo,
    ...(crane ? [() => fresh((t) => cranePush(crane, img.layoutDir, t), false, "crane")] : []),
  ];
  const [a, b, third] = await rounds(ctx.slowReps, ctx.smoke ? 0 : 1, [...sides, openssl]);
  const c = crane ? third : undefined;
  const what = (peer: string) =>
    `cold push of a ${fmtMB(imageBytes(img.image))} image (${img.image.layers.length} layers) to a fresh registry: CLI vs ${peer}`;
  const notes = `layer sizes ${img.image.layers.map((l) => fmtMB(l.size)).join(" + ")}; a new registry (filesystem storage) per run, started outside the timing; ours, skopeo${crane ? " and crane" : ""} in rounds, the order reversed every other round; CPU per push (medians, user + system): ${cpu.describe()}`;
  return [
    versus({ id: "P3", key: "P3-wall", what: what("skopeo copy"), ours: a, peer: b, limit: 1.0, notes }),
    c
      ? versus({
          id: "P3",
          key: "P3-crane",
          what: what("crane push"),
          ours: a,
          peer: c,
          limit: 0.8,
          notes: `crane ${crane!.version}; the registry serves the manifest crane pushed (checked once)`,
        })
      : row(
          craneSkipped({ id: "P3", key: "P3-crane", what: what("crane push"), ours: fmtMs(a), target: "≤ 0.8" }, why),
        ),
    ...cpuRow(
      {
        id: "P3",
        what: "cold push",
        peer: "openssl",
        peerLabel: "one OpenSSL SHA-256 pass over the pushed blobs (`openssl dgst -sha256`)",
        limit: 2.0,
      },
      cpu,
      { side: c ? "crane" : "skopeo", stat: c ?? b },
    ),
    ...(await p3Base(ctx)),
  ];
}

/**
 * P3-cpu-base (issue #75 item 4): the client CPU of a cold push of a ~100 MB image (the base, 2 layers), where the
 * process's own start weighs more than in the 158 MB row, against one OpenSSL SHA-256 pass over its blobs, in rounds.
 */
async function p3Base(ctx: Ctx): Promise<Row[]> {
  const base = ctx.inputs.base();
  const cpu = new CpuTally();
  const ours = () =>
    withRegistry(
      async (reg) =>
        (await cpu.measure("ours", reg, () => cliPush(ctx, ctx.inputs.baseDir, `${reg.host}/bench/base`))).ms,
    );
  const openssl = async () => (await cpu.measure("openssl", undefined, () => opensslPass(ctx.inputs.baseDir))).ms;
  const [a] = await rounds(ctx.slowReps, ctx.smoke ? 0 : 1, [ours, openssl]);
  return cpuRow(
    {
      id: "P3",
      key: "P3-cpu-base",
      what: `cold push of the ${fmtMB(imageBytes(base))} base image (${base.layers.length} layers)`,
      peer: "openssl",
      peerLabel: "one OpenSSL SHA-256 pass over the pushed blobs (`openssl dgst -sha256`)",
      limit: 3.0,
    },
    cpu,
    { side: "ours", stat: a },
  );
}

/**
 * P7: pull into an OCI layout: the base image, CLI vs skopeo copy; and the whole 158 MB image, CLI vs
 * `crane pull --format oci`.
 */
export async function p7(ctx: Ctx): Promise<Row[]> {
  const base = ctx.inputs.base();
  const { crane, why } = findCrane(ctx.log);
  const cpu = new CpuTally();
  return withRegistry(async (reg) => {
    const ref = `${reg.host}/bench/base`;
    await pushImage(base, { registry: reg.host, repository: "bench/base", tags: ["latest"] });
    const oursDir = join(ctx.work, "p7-ours");
    const peerDir = join(ctx.work, "p7-peer");
    const oursPull = async (from: string, digest: string) => {
      rmSync(oursDir, { recursive: true, force: true });
      const pull = () => cliPull(ctx, `${from}:latest`, oursDir, { cpu: true });
      // Only the full image's pulls are tallied (the crane rows): the base's would mix two sizes under one side.
      const r = from === ref ? await pull() : await cpu.measure("ours", reg, pull);
      check(r.stdout.trim() === `${from}@${digest}`, `P7: our pull prints the digest (${r.stdout.trim()})`);
      return r.ms;
    };
    const skopeo = async () => {
      rmSync(peerDir, { recursive: true, force: true });
      return (await skopeoPull(ctx, `${ref}:latest`, peerDir)).ms;
    };
    const peerDigest = () =>
      JSON.parse(readFileSync(join(peerDir, "index.json"), "utf8")).manifests[0].digest as string;
    const t = await sideBySide(ctx.slowReps, ctx.smoke ? 0 : 1, () => oursPull(ref, base.digest), skopeo);
    check(readLayout(oursDir).digest === base.digest, "P7: our pull writes the pushed image");
    check(peerDigest() === base.digest, "P7: skopeo's pull has the same digest");
    const rows = [
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
    const img = await ctx.inputs.image("p3");
    const what = `pull of the ${fmtMB(imageBytes(img.image))} image (${img.image.layers.length} layers) into an OCI layout: CLI vs \`crane pull --format oci\``;
    if (!crane)
      return [...rows, row(craneSkipped({ id: "P7", key: "P7-crane", what, ours: "—", target: "≤ 0.8" }, why))];
    const full = `${reg.host}/bench/image`;
    await pushImage(img.image, { registry: reg.host, repository: "bench/image", tags: ["latest"] });
    const cranePulled = async () => {
      rmSync(peerDir, { recursive: true, force: true });
      return (await cpu.measure("crane", reg, () => cranePull(crane, `${full}:latest`, peerDir))).ms;
    };
    const [o, c] = await rounds(ctx.slowReps, ctx.smoke ? 0 : 1, [() => oursPull(full, img.image.digest), cranePulled]);
    check(readLayout(oursDir).digest === img.image.digest, "P7: our pull writes the pushed image");
    check(peerDigest() === img.image.digest, `P7: crane's pull has the same digest (${peerDigest()})`);
    rows.push(
      versus({
        id: "P7",
        key: "P7-crane",
        what,
        ours: o,
        peer: c,
        limit: 0.8,
        notes: `crane ${crane.version}; layer sizes ${img.image.layers.map((l) => fmtMB(l.size)).join(" + ")}; both layouts name the pushed digest`,
      }),
      ...cpuRow(
        {
          id: "P7",
          what: `pull of the ${fmtMB(imageBytes(img.image))} image`,
          peer: "crane",
          peerLabel: "crane pull",
          limit: 1.2,
        },
        cpu,
        {
          side: "crane",
          stat: c,
        },
      ),
    );
    return rows;
  });
}
