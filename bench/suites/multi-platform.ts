/**
 * P12 (cold push of a 2-platform image index) and P14 (no-op push of that index): ours against `skopeo copy --all`
 * and `crane push` (which pushes a layout's one index as it is; its rows are reported as not run when crane cannot be
 * had, bench/lib/crane.ts).
 */
import { sha256 } from "../../src/oci/digest";
import { formatPlatform } from "../../src/oci/platform";
import { platformOfImage } from "../../src/image/image-index";
import type { RunningRegistry } from "../../test/fixtures/registry";
import { check, type Ctx, row, versus } from "../lib/context";
import { type Crane, cranePush, craneSkipped, findCrane } from "../lib/crane";
import type { BuiltIndex } from "../lib/inputs";
import { rounds } from "../lib/rounds";
import { run, runOk, stat } from "../lib/measure";
import {
  CpuTally,
  cliPush,
  countRequests,
  cpuRow,
  describeRequests,
  opensslPass,
  requestCount,
  skopeoPushAll,
  withRegistry,
} from "../lib/registry-sides";
import { fmtMB, fmtMs, type Row } from "../lib/report";

/**
 * Blob uploads the registry completed, per digest, from the access log (entry `from` on): a request under
 * /blobs/uploads/ naming `?digest=` (the PUT closing an upload, or a monolithic POST) answered 201. Cross-repository
 * mounts (`?mount=`) are not uploads.
 */
function uploadsByDigest(reg: RunningRegistry, from = 0): Map<string, number> {
  const out = new Map<string, number>();
  for (const q of reg.requests().slice(from)) {
    if (q.status !== 201 || (q.method !== "PUT" && q.method !== "POST") || !q.path.includes("/blobs/uploads/"))
      continue;
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
  const raw = async (ref: string) =>
    Buffer.from(
      (await runOk("skopeo", ["inspect", "--raw", "--tls-verify=false", `docker://${reg.host}/${repo}${ref}`])).stdout,
      "utf8",
    );
  const served = await raw(":latest");
  const digest = sha256(served);
  check(
    digest === built.index.digest,
    `${what}: the tag names ${digest}, not the layout's index ${built.index.digest}`,
  );
  for (const image of built.index.images) {
    const m = await raw(`@${image.digest}`);
    check(
      m.equals(image.manifestBytes),
      `${what}: the ${formatPlatform(platformOfImage(image))} manifest ${image.digest} is served as in the layout`,
    );
  }
  return digest;
}

/** The distinct blobs (configs and layers) of an index's images, digest → size. */
function indexBlobs(built: BuiltIndex): Map<string, number> {
  const out = new Map<string, number>();
  for (const image of built.index.images)
    for (const d of [image.manifest.config, ...image.manifest.layers]) out.set(d.digest, d.size);
  return out;
}

function indexSummary(built: BuiltIndex): { total: number; text: string; platforms: string } {
  const blobs = indexBlobs(built);
  const sum = (ls: { size: number }[]) => ls.reduce((n, l) => n + l.size, 0);
  const total =
    [...blobs.values()].reduce((n, s) => n + s, 0) +
    built.index.images.reduce((n, i) => n + i.manifestBytes.length, 0) +
    built.index.bytes.length;
  const platforms = built.index.images.map((i) => formatPlatform(platformOfImage(i))).join(" + ");
  const text =
    `${platforms}: ${blobs.size} distinct blobs, ${fmtMB(total)} with manifests and index; base layers ${built.baseLayers.map((ls) => fmtMB(sum(ls))).join(" (amd64) + ")} (arm64), ` +
    `all different; node_modules ${fmtMB(built.shared[0].size)} + app ${fmtMB(built.shared[1].size)} layers the same blobs in both`;
  return { total, text, platforms };
}

type Side = "ours" | "skopeo" | "crane";

function pushWith(ctx: Ctx, side: Side, crane: Crane | undefined, layout: string, target: string) {
  if (side === "ours") return cliPush(ctx, layout, target);
  if (side === "skopeo") return skopeoPushAll(ctx, layout, target);
  return cranePush(crane!, layout, target);
}

/**
 * P12: cold push of a 2-platform image index (the bench's image on two different bases, its node_modules and app
 * layers shared) to a fresh registry per run: CLI vs `skopeo copy --all` and `crane push`, in rounds. Every run is
 * checked outside the timing: the tag names the layout's index, both manifests are served as pushed, every blob was
 * uploaded, and ours uploaded each blob (the shared ones included) exactly once.
 */
export async function p12(ctx: Ctx): Promise<Row[]> {
  const built = await ctx.inputs.multiPlatform(ctx.log);
  const { crane, why } = findCrane(ctx.log);
  const { index } = built;
  const blobs = indexBlobs(built);
  const sharedDigests = built.shared.map((l) => l.digest);
  const sides: Side[] = crane ? ["ours", "skopeo", "crane"] : ["ours", "skopeo"];
  const seen = Object.fromEntries(
    sides.map((s) => [
      s,
      {
        digests: new Set<string>(),
        sharedUploads: [] as number[],
        uploads: [] as number[],
        requests: [] as number[],
        kinds: "",
      },
    ]),
  );
  const cpu = new CpuTally();
  const fresh = (side: Side) =>
    withRegistry(async (reg) => {
      const target = `${reg.host}/bench/p12`;
      const r = await cpu.measure(side, reg, () => pushWith(ctx, side, crane, built.layoutDir, target));
      // Outside the timing, the registry still up: what was uploaded (the access log, read before skopeo inspect
      // adds its own requests to it), then what the registry serves.
      if (side === "ours")
        check(
          r.stdout.trim() === `${target}@${index.digest}`,
          `P12: our push prints the index digest (${r.stdout.trim()})`,
        );
      seen[side].requests.push(await requestCount(reg));
      seen[side].kinds = describeRequests(reg, 0);
      const up = uploadsByDigest(reg);
      const missing = [...blobs.keys()].filter((d) => !up.has(d));
      check(
        missing.length === 0,
        `P12 (${side}): every blob uploaded to the fresh registry (missing ${missing.join(", ")})`,
      );
      const extra = [...up.keys()].filter((d) => !blobs.has(d));
      check(extra.length === 0, `P12 (${side}): no blob uploaded that the index does not name (${extra.join(", ")})`);
      const uploads = [...up.values()].reduce((n, k) => n + k, 0);
      if (side === "ours") {
        const twice = [...up].filter(([, n]) => n !== 1).map(([d, n]) => `${d} ${n}×`);
        check(
          twice.length === 0,
          `P12: ours uploads each of the ${blobs.size} blobs once, the shared layers too (${twice.join(", ")})`,
        );
      }
      seen[side].uploads.push(uploads);
      seen[side].sharedUploads.push(Math.max(...sharedDigests.map((d) => up.get(d) ?? 0)));
      seen[side].digests.add(await checkIndexServed(reg, "bench/p12", built, `P12 (${side})`));
      return r.ms;
    });
  // The floor of the client's CPU: one SHA-256 pass over what the push sends (every blob of the layout), in the same rounds.
  const openssl = async () => (await cpu.measure("openssl", undefined, () => opensslPass(built.layoutDir))).ms;
  const [a, b, third] = await rounds(ctx.slowReps, ctx.smoke ? 0 : 1, [...sides.map((s) => () => fresh(s)), openssl]);
  const c = crane ? third : undefined;
  for (const s of sides) {
    const [d, ...other] = seen[s].digests;
    check(
      other.length === 0 && d === index.digest,
      `P12: ${s}'s registries all end up with the layout's index digest ${index.digest} (${[...seen[s].digests]})`,
    );
  }
  const s = indexSummary(built);
  const sharedOnce = (xs: number[]) => (xs.every((n) => n === 1) ? "once" : `up to ${Math.max(...xs)} times`);
  const range = (xs: number[]) =>
    Math.min(...xs) === Math.max(...xs) ? `${xs[0]}` : `${Math.min(...xs)}-${Math.max(...xs)}`;
  const what = (peer: string) =>
    `cold push of a 2-platform image index (${s.platforms}, ${fmtMB(s.total)}, ${blobs.size} distinct blobs) to a fresh registry: CLI vs ${peer}`;
  const peerNotes = (p: Side) =>
    `${p} ${range(seen[p].uploads)} (the shared layers ${sharedOnce(seen[p].sharedUploads)})`;
  const requests = (p: Side) => `${p} ${range(seen[p].requests)} (${seen[p].kinds})`;
  const rows = [
    versus({
      id: "P12",
      key: "P12-wall",
      what: what("skopeo copy --all"),
      ours: a,
      peer: b,
      limit: 1.0,
      notes:
        `${s.text}; a new registry (filesystem storage) per run, started outside the timing; ${sides.join(", ")} in rounds, the order reversed every other round; checked after every run (skopeo inspect --raw): ` +
        `every side's tags name index ${index.digest} and both manifests are served as in the layout; blob uploads counted in the access log: ` +
        `ours ${range(seen.ours.uploads)} (each blob once, the shared layers once), ${sides.slice(1).map(peerNotes).join(", ")}; ` +
        `requests per push: ${sides.map(requests).join(", ")}`,
    }),
  ];
  if (c)
    rows.push(
      versus({
        id: "P12",
        key: "P12-crane",
        what: what("crane push"),
        ours: a,
        peer: c,
        limit: 1.0,
        notes: `crane ${crane!.version}, pushing the layout's one index as it is; measured in the rounds of the row above, checked as it says`,
      }),
    );
  else
    rows.push(
      row(
        craneSkipped({ id: "P12", key: "P12-crane", what: what("crane push"), ours: fmtMs(a), target: "≤ 1.0" }, why),
      ),
    );
  rows.push(
    ...cpuRow(
      {
        id: "P12",
        what: "cold push of the 2-platform index",
        peer: "openssl",
        peerLabel: "one OpenSSL SHA-256 pass over the pushed blobs (`openssl dgst -sha256`)",
        limit: 2.0,
      },
      cpu,
      { side: c ? "crane" : "skopeo", stat: c ?? b },
    ),
  );
  return rows;
}

/**
 * P14 (until the cold build took the name P13, this was P13): pushing the 2-platform index again to a registry that
 * has everything: requests (ours vs `skopeo copy --all` and crane push) and the CLI's wall time against `node -e 0`,
 * skopeo and crane.
 */
export async function p14(ctx: Ctx): Promise<Row[]> {
  const built = await ctx.inputs.multiPlatform(ctx.log);
  const { crane, why } = findCrane(ctx.log);
  const { index } = built;
  const sides: Side[] = crane ? ["ours", "skopeo", "crane"] : ["ours", "skopeo"];
  return withRegistry(async (reg) => {
    const repo = "bench/p14";
    const target = `${reg.host}/${repo}`;
    for (const side of sides) {
      await pushWith(ctx, side, crane, built.layoutDir, target); // every client has seen it once
      await checkIndexServed(reg, repo, built, `P14 (${side}, first push)`);
    }
    const counts: Record<string, number[]> = {};
    const kinds: Record<string, string> = {};
    for (let i = 0; i < (ctx.smoke ? 1 : 3); i++) {
      for (const side of sides) {
        const c = await countRequests(reg, async () => {
          const r = await pushWith(ctx, side, crane, built.layoutDir, target);
          if (side === "ours")
            check(
              r.stdout.trim() === `${target}@${index.digest}`,
              `P14: our no-op push prints the index digest (${r.stdout.trim()})`,
            );
        });
        if (side === "ours")
          check(c.writes.length === 0, `P14: our no-op push writes nothing (${c.writes.join(", ")})`);
        (counts[side] ??= []).push(c.n);
        kinds[side] = c.kinds;
      }
    }
    const node = () => run(process.execPath, ["-e", "0"]).then((r) => r.ms);
    const timed = (side: Side) => () => pushWith(ctx, side, crane, built.layoutDir, target).then((r) => r.ms);
    const [tOurs, tNode, tSkopeo, tCrane] = await rounds(ctx.reps, ctx.smoke ? 0 : 1, [
      timed("ours"),
      node,
      ...sides.slice(1).map(timed),
    ]);
    await checkIndexServed(reg, repo, built, "P14 (after the no-op pushes)");
    const q = Object.fromEntries(Object.entries(counts).map(([k, v]) => [k, stat(v).median]));
    const blobs = indexBlobs(built).size;
    const s = indexSummary(built);
    const what = `no-op push of the 2-platform index (2 manifests, ${blobs} distinct blobs, one tag): registry requests`;
    const rows = [
      row({
        id: "P14",
        key: "P14-requests",
        what: `${what}, ours vs skopeo copy --all`,
        ours: `${q.ours}`,
        peer: `${q.skopeo}`,
        ratio: q.ours / q.skopeo,
        target: "≤ skopeo's",
        met: q.ours <= q.skopeo,
        notes: `counted in the registry's access log; ours: ${kinds.ours}; skopeo: ${kinds.skopeo}; the registry serves the same index (${index.digest}) and manifests before and after`,
      }),
      crane
        ? row({
            id: "P14",
            key: "P14-requests-crane",
            what: `${what}, ours vs crane push`,
            ours: `${q.ours}`,
            peer: `${q.crane}`,
            ratio: q.ours / q.crane,
            target: "≤ crane's",
            met: q.ours <= q.crane,
            notes: `crane ${crane.version}: ${kinds.crane}`,
          })
        : row(
            craneSkipped(
              {
                id: "P14",
                key: "P14-requests-crane",
                what: `${what}, ours vs crane push`,
                ours: `${q.ours}`,
                target: "≤ crane's",
              },
              why,
            ),
          ),
      versus({
        id: "P14",
        key: "P14-wall",
        what: "no-op push of the 2-platform index, wall time: `pipeline push` CLI vs `node -e 0`",
        ours: tOurs,
        peer: tNode,
        limit: 1.6,
        notes: `measured in rounds with skopeo's no-op copy --all${crane ? " and crane's no-op push" : ""} (next rows), the order reversed every other round; ${s.platforms}`,
      }),
      versus({
        id: "P14",
        key: "P14-wall-skopeo",
        what: "informational: the same no-op push, `pipeline push` CLI vs skopeo copy --all",
        ours: tOurs,
        peer: tSkopeo,
      }),
    ];
    if (tCrane)
      rows.push(
        versus({
          id: "P14",
          key: "P14-wall-crane",
          what: "informational: the same no-op push, `pipeline push` CLI vs crane push",
          ours: tOurs,
          peer: tCrane,
        }),
      );
    return rows;
  });
}
