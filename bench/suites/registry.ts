/**
 * P1 (incremental push bytes), P2 (no-op push), P3 (cold push), P7 (pull), P12 (cold push of a 2-platform index),
 * P13 (no-op push of that index): ours against skopeo.
 */
import { readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { pushImage } from "../../src/registry/push";
import { readLayout } from "../../src/layout/read";
import { sha256 } from "../../src/oci/digest";
import { formatPlatform } from "../../src/oci/platform";
import { platformOfImage } from "../../src/image/index";
import { startRegistry, RunningRegistry } from "../../test/fixtures/registry";
import { check, Ctx, row } from "../lib/context";
import { BuiltIndex, imageBytes } from "../lib/inputs";
import { rounds } from "../lib/rounds";
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

/** `skopeo copy --all`: every image of the layout's index, then the index. */
function skopeoPushAll(ctx: Ctx, layout: string, target: string, tag = "latest") {
  return runOk("skopeo", ["--policy", ctx.policy, "copy", "--all", "--quiet", "--dest-tls-verify=false", `oci:${layout}:latest`, `docker://${target}:${tag}`]);
}

/** The registry's access log from entry `from` on, by method and kind: "1× HEAD manifest, 5× HEAD blob". */
function describeRequests(reg: RunningRegistry, from: number): string {
  const m = new Map<string, number>();
  for (const q of reg.requests().slice(from)) {
    const k = `${q.method} ${q.path.includes("/manifests/") ? "manifest" : q.path.includes("/blobs/uploads/") ? "upload" : q.path.includes("/blobs/") ? "blob" : q.path}`;
    m.set(k, (m.get(k) ?? 0) + 1);
  }
  return [...m].map(([k, n]) => `${n}× ${k}`).join(", ");
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
    const describe = (from: number) => describeRequests(reg, from);
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

/**
 * Blob uploads the registry completed, per digest, from the access log (entry `from` on): a request under
 * /blobs/uploads/ naming `?digest=` (the PUT closing an upload, or a monolithic POST) answered 201. Cross-repository
 * mounts (`?mount=`) are not uploads.
 */
function uploadsByDigest(reg: RunningRegistry, from = 0): Map<string, number> {
  const out = new Map<string, number>();
  for (const q of reg.requests().slice(from)) {
    if (q.status !== 201 || (q.method !== "PUT" && q.method !== "POST") || !q.path.includes("/blobs/uploads/")) continue;
    const d = new URL(q.path, "http://registry").searchParams.get("digest");
    if (d) out.set(d, (out.get(d) ?? 0) + 1);
  }
  return out;
}

/**
 * What `reg` serves for `repo:latest` and for each platform's manifest by digest, read with `skopeo inspect --raw`
 * (an independent client): the benchmark fails unless they are the layout's exact index and manifests. Returns the
 * digest of the index the tag names.
 */
async function checkIndexServed(reg: RunningRegistry, repo: string, built: BuiltIndex, what: string): Promise<string> {
  const raw = async (ref: string) => Buffer.from((await runOk("skopeo", ["inspect", "--raw", "--tls-verify=false", `docker://${reg.host}/${repo}${ref}`])).stdout, "utf8");
  const served = await raw(":latest");
  const digest = sha256(served);
  check(digest === built.index.digest, `${what}: the tag names ${digest}, not the layout's index ${built.index.digest}`);
  for (const image of built.index.images) {
    const m = await raw(`@${image.digest}`);
    check(m.equals(image.manifestBytes), `${what}: the ${formatPlatform(platformOfImage(image))} manifest ${image.digest} is served as in the layout`);
  }
  return digest;
}

/** The distinct blobs (configs and layers) of an index's images, digest → size. */
function indexBlobs(built: BuiltIndex): Map<string, number> {
  const out = new Map<string, number>();
  for (const image of built.index.images) for (const d of [image.manifest.config, ...image.manifest.layers]) out.set(d.digest, d.size);
  return out;
}

function indexSummary(built: BuiltIndex): { total: number; text: string; platforms: string } {
  const blobs = indexBlobs(built);
  const sum = (ls: { size: number }[]) => ls.reduce((n, l) => n + l.size, 0);
  const total = [...blobs.values()].reduce((n, s) => n + s, 0) + built.index.images.reduce((n, i) => n + i.manifestBytes.length, 0) + built.index.bytes.length;
  const platforms = built.index.images.map((i) => formatPlatform(platformOfImage(i))).join(" + ");
  const text =
    `${platforms}: ${blobs.size} distinct blobs, ${fmtMB(total)} with manifests and index; base layers ${built.baseLayers.map((ls) => fmtMB(sum(ls))).join(" (amd64) + ")} (arm64), ` +
    `all different; node_modules ${fmtMB(built.shared[0].size)} + app ${fmtMB(built.shared[1].size)} layers the same blobs in both`;
  return { total, text, platforms };
}

/**
 * P12: cold push of a 2-platform image index (the bench's image on two different bases, its node_modules and app
 * layers shared) to a fresh registry per run: CLI vs `skopeo copy --all`. Every run is checked outside the timing:
 * the tag names the layout's index, both manifests are served as pushed, every blob was uploaded, and ours uploaded
 * each blob (the shared ones included) exactly once.
 */
export async function p12(ctx: Ctx): Promise<Row[]> {
  const built = await ctx.inputs.multiPlatform(ctx.log);
  const { index } = built;
  const blobs = indexBlobs(built);
  const sharedDigests = built.shared.map((l) => l.digest);
  const seen = {
    ours: { digests: new Set<string>(), sharedUploads: [] as number[], uploads: [] as number[], requests: [] as number[], kinds: "" },
    skopeo: { digests: new Set<string>(), sharedUploads: [] as number[], uploads: [] as number[], requests: [] as number[], kinds: "" },
  };
  const fresh = (side: "ours" | "skopeo") =>
    withRegistry(ctx, async (reg) => {
      const target = `${reg.host}/bench/p12`;
      const r = side === "ours" ? await cliPush(ctx, built.layoutDir, target) : await skopeoPushAll(ctx, built.layoutDir, target);
      // Outside the timing, the registry still up: what was uploaded (the access log, read before skopeo inspect
      // adds its own requests to it), then what the registry serves.
      if (side === "ours") check(r.stdout.trim() === `${target}@${index.digest}`, `P12: our push prints the index digest (${r.stdout.trim()})`);
      seen[side].requests.push(await requestCount(reg));
      seen[side].kinds = describeRequests(reg, 0);
      const up = uploadsByDigest(reg);
      const missing = [...blobs.keys()].filter((d) => !up.has(d));
      check(missing.length === 0, `P12 (${side}): every blob uploaded to the fresh registry (missing ${missing.join(", ")})`);
      const extra = [...up.keys()].filter((d) => !blobs.has(d));
      check(extra.length === 0, `P12 (${side}): no blob uploaded that the index does not name (${extra.join(", ")})`);
      const uploads = [...up.values()].reduce((n, k) => n + k, 0);
      if (side === "ours") {
        const twice = [...up].filter(([, n]) => n !== 1).map(([d, n]) => `${d} ${n}×`);
        check(twice.length === 0, `P12: ours uploads each of the ${blobs.size} blobs once, the shared layers too (${twice.join(", ")})`);
      }
      seen[side].uploads.push(uploads);
      seen[side].sharedUploads.push(Math.max(...sharedDigests.map((d) => up.get(d) ?? 0)));
      seen[side].digests.add(await checkIndexServed(reg, "bench/p12", built, `P12 (${side})`));
      return r.ms;
    });
  const t = await sideBySide(ctx.slowReps, ctx.smoke ? 0 : 1, () => fresh("ours"), () => fresh("skopeo"));
  const [oursDigest, ...oursOther] = seen.ours.digests;
  const [skopeoDigest, ...skopeoOther] = seen.skopeo.digests;
  check(oursOther.length === 0 && skopeoOther.length === 0 && oursDigest === skopeoDigest, `P12: both registries end up with the same index digest (ours ${[...seen.ours.digests]}, skopeo's ${[...seen.skopeo.digests]})`);
  const s = indexSummary(built);
  const sharedOnce = (xs: number[]) => (xs.every((n) => n === 1) ? "once" : `up to ${Math.max(...xs)} times`);
  const range = (xs: number[]) => (Math.min(...xs) === Math.max(...xs) ? `${xs[0]}` : `${Math.min(...xs)}-${Math.max(...xs)}`);
  return [
    row({
      id: "P12",
      key: "P12-wall",
      what: `cold push of a 2-platform image index (${s.platforms}, ${fmtMB(s.total)}, ${blobs.size} distinct blobs) to a fresh registry: CLI vs skopeo copy --all`,
      ours: fmtMs(t.a),
      peer: fmtMs(t.b),
      ratio: t.a.median / t.b.median,
      target: "≤ 1.0",
      met: t.a.median / t.b.median <= 1.0,
      notes:
        `${s.text}; a new registry (filesystem storage) per run, started outside the timing; checked after every run (skopeo inspect --raw): ` +
        `both sides' tags name index ${index.digest} and both manifests are served as in the layout; blob uploads counted in the access log: ` +
        `ours ${range(seen.ours.uploads)} (each blob once, the shared layers once), skopeo ${range(seen.skopeo.uploads)} (the shared layers ${sharedOnce(seen.skopeo.sharedUploads)}); ` +
        `requests per push: ours ${range(seen.ours.requests)} (${seen.ours.kinds}), skopeo ${range(seen.skopeo.requests)} (${seen.skopeo.kinds})`,
    }),
  ];
}

/**
 * P13: pushing the 2-platform index again to a registry that has everything: requests (ours vs `skopeo copy --all`)
 * and the CLI's wall time against `node -e 0` and against skopeo.
 */
export async function p13(ctx: Ctx): Promise<Row[]> {
  const built = await ctx.inputs.multiPlatform(ctx.log);
  const { index } = built;
  return withRegistry(ctx, async (reg) => {
    const repo = "bench/p13";
    const target = `${reg.host}/${repo}`;
    await cliPush(ctx, built.layoutDir, target);
    await checkIndexServed(reg, repo, built, "P13 (ours, first push)");
    await skopeoPushAll(ctx, built.layoutDir, target); // both clients have seen it once
    await checkIndexServed(reg, repo, built, "P13 (skopeo, first push)");
    const counts = { ours: [] as number[], skopeo: [] as number[] };
    const methods = { ours: "", skopeo: "" };
    for (let i = 0; i < (ctx.smoke ? 1 : 3); i++) {
      let n0 = await requestCount(reg);
      const r = await cliPush(ctx, built.layoutDir, target);
      check(r.stdout.trim() === `${target}@${index.digest}`, `P13: our no-op push prints the index digest (${r.stdout.trim()})`);
      let n1 = await requestCount(reg);
      const writes = reg.requests().slice(n0).filter((q) => q.method !== "GET" && q.method !== "HEAD");
      check(writes.length === 0, `P13: our no-op push writes nothing (${writes.map((q) => `${q.method} ${q.path}`).join(", ")})`);
      counts.ours.push(n1 - n0);
      methods.ours = describeRequests(reg, n0);
      n0 = n1;
      await skopeoPushAll(ctx, built.layoutDir, target);
      n1 = await requestCount(reg);
      counts.skopeo.push(n1 - n0);
      methods.skopeo = describeRequests(reg, n0);
    }
    const node = () => run(process.execPath, ["-e", "0"]).then((r) => r.ms);
    const ours = () => cliPush(ctx, built.layoutDir, target).then((r) => r.ms);
    const skopeo = () => skopeoPushAll(ctx, built.layoutDir, target).then((r) => r.ms);
    const [tOurs, tNode, tSkopeo] = await rounds(ctx.reps, ctx.smoke ? 0 : 1, [ours, node, skopeo]);
    await checkIndexServed(reg, repo, built, "P13 (after the no-op pushes)");
    const q = { ours: stat(counts.ours), skopeo: stat(counts.skopeo) };
    const blobs = indexBlobs(built).size;
    const s = indexSummary(built);
    return [
      row({
        id: "P13",
        key: "P13-requests",
        what: `no-op push of the 2-platform index (2 manifests, ${blobs} distinct blobs, one tag): registry requests, ours vs skopeo copy --all`,
        ours: `${q.ours.median}`,
        peer: `${q.skopeo.median}`,
        ratio: q.ours.median / q.skopeo.median,
        target: "≤ skopeo's",
        met: q.ours.median <= q.skopeo.median,
        notes: `counted in the registry's access log; ours: ${methods.ours}; skopeo: ${methods.skopeo}; the registry serves the same index (${index.digest}) and manifests before and after`,
      }),
      row({
        id: "P13",
        key: "P13-wall",
        what: "no-op push of the 2-platform index, wall time: `pipeline push` CLI vs `node -e 0`",
        ours: fmtMs(tOurs),
        peer: fmtMs(tNode),
        ratio: tOurs.median / tNode.median,
        target: "≤ 1.6",
        met: tOurs.median / tNode.median <= 1.6,
        notes: `measured in rounds with skopeo's no-op copy --all (next row), the order reversed every other round; ${s.platforms}`,
      }),
      row({
        id: "P13",
        key: "P13-wall-skopeo",
        what: "informational: the same no-op push, `pipeline push` CLI vs skopeo copy --all",
        ours: fmtMs(tOurs),
        peer: fmtMs(tSkopeo),
        ratio: tOurs.median / tSkopeo.median,
        target: "—",
      }),
    ];
  });
}
