/**
 * P18 (issue #61 item 4): an image on a big base pulled by digest, our shallow base against rules_img 0.3.17's (the
 * anchor of the design) and against our materialised (eager) base, on Bazel 7.7.1 in one workspace and one server
 * (the rules_js + pnpm workspace of P9, bench/lib/monorepo-rules-js.ts, which has shared/peers' rules_img too).
 *
 * One generated base (bench/lib/shallow-base.ts: ≥ 1 GB of random layers; a few MB in smoke runs) is pushed to the
 * monorepo's registry; every side reaches it through a counting proxy (bench/lib/proxy.ts), whose byte counts are the
 * downloads and uploads reported; the nginx WebDAV remote cache of the tests (test/fixtures/remote-cache.ts) sits
 * behind another, whose PUT bodies are the bytes written to the cache.
 *
 * Cold here means the base: each side's base repository is fetched for the first time by its measured command, and
 * the app is compiled afresh (its own target), while the server is warm and each ruleset's tools are built (P9 built
 * ours; //p18:warm_push builds rules_img's): what the base costs, not Bazel's start. One sample per side, as the base is
 * fetched only once.
 */
import { mkdirSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { readLayout } from "../../src/layout/read";
import { digestHex } from "../../src/oci/digest";
import { pushImage } from "../../src/registry/push";
import { startRemoteCache } from "../../test/fixtures/remote-cache";
import { QUIET } from "../lib/bazel";
import { check, type Ctx, row, versus } from "../lib/context";
import { stat } from "../lib/measure";
import { monorepoRulesJs, run } from "../lib/monorepo-rules-js";
import { monorepo } from "../lib/monorepo-sides";
import { startCountingProxy } from "../lib/proxy";
import { fmtSize, type Row } from "../lib/report";
import { cacheWrites, downloaded, generateBase, P18, uploads, writeP18 } from "../lib/shallow-base";

const bytes = (n: number) => (Number.isNaN(n) ? "not run (smoke)" : n === 0 ? "0 bytes" : fmtSize(n));

/** The digest `bazel run` of a push printed for `repository` (rules_img prints the tag's line after it). */
function pushed(stdout: string, repository: string): string {
  const d = new RegExp(`^${repository.replace(/[.]/g, "\\.")}@(sha256:[0-9a-f]{64})$`, "m").exec(stdout)?.[1];
  check(d !== undefined, `P18: the push printed ${repository}@sha256:… (${stdout.trim().slice(-300)})`);
  return d!;
}

export async function p18(ctx: Ctx): Promise<Row[]> {
  const m = await monorepo(ctx);
  const w = await monorepoRulesJs(ctx, m);
  const dir = join(ctx.work, "p18");
  const [layers, layerBytes] = ctx.smoke ? [2, 1 << 20] : [8, 128 << 20];
  let t = Date.now();
  const base = generateBase(join(dir, "base"), layers, layerBytes);
  await pushImage(base, { registry: m.reg.host, repository: "p18/base" });
  const hex = new Set(base.layers.map((l) => digestHex(l.digest)));
  const baseBytes = base.layers.reduce((n, l) => n + l.size, 0);
  ctx.log(`P18: generated and pushed a base of ${layers} layers, ${fmtSize(baseBytes)}, in ${Date.now() - t} ms`);

  const reg = await startCountingProxy(m.reg.host);
  ctx.defer(() => reg.stop());
  mkdirSync(join(dir, "cache"), { recursive: true });
  const cache = await startRemoteCache(join(dir, "cache"));
  ctx.defer(() => cache.stop());
  const cacheProxy = await startCountingProxy(cache.url.replace("http://", ""));
  ctx.defer(() => cacheProxy.stop());
  writeP18(w.ws, reg.host, "p18/base", base.digest);
  // Smoke runs time nothing: there rules_img's tools are built by its cold push instead (bench-smoke's CPU budget).
  if (!ctx.smoke) {
    t = Date.now();
    await run(m, w.ws, ["build", ...QUIET, "//p18:warm_push"]);
    ctx.log(`P18: rules_img's tools built (//p18:warm_push) in ${Date.now() - t} ms`);
  }

  /** `bazel run TARGET` (a push to `repository`), timed, with what went through the registry's proxy. */
  const cold = async (target: string, repository: string) => {
    reg.reset();
    const r = await run(m, w.ws, ["run", ...QUIET, target]);
    pushed(r.stdout, `${reg.host}/${repository}`);
    const up = uploads(reg.requests, hex);
    ctx.log(`P18: ${target} in ${Math.round(r.ms)} ms; base layer bytes downloaded ${downloaded(reg.requests, hex)}`);
    return { ms: r.ms, down: downloaded(reg.requests, hex), up };
  };
  const img = await cold(`//p18:${P18.cold.img}_push_img`, "p18/img");
  const ours = await cold(`//p18:${P18.cold.ours}_push`, "p18/ours");
  const eager = await cold(`//p18:${P18.cold.eager}_push`, "p18/eager");

  /** `bazel build TARGET` with the remote cache: bytes PUT, and those PUT under a base layer's digest. */
  const cached = async (target: string) => {
    cacheProxy.reset();
    await run(m, w.ws, ["build", ...QUIET, `--remote_cache=http://${cacheProxy.host}`, target]);
    const ofBase = cacheProxy.requests
      .filter((q) => q.method === "PUT" && hex.has(/\/cas\/([0-9a-f]{64})/.exec(q.path)?.[1] ?? ""))
      .reduce((n, q) => n + q.bodyBytes, 0);
    return { ...cacheWrites(cacheProxy.requests), ofBase };
  };
  // The extra images and the materialised base's cache writes are the first image's code path again: smoke runs
  // leave them out (bench-smoke's CPU budget), full runs measure them.
  const none = { bytes: Number.NaN, puts: 0, ofBase: 0 };
  const c1 = await cached(`//p18:${P18.cache.ours[0]}_image`);
  const r1 = await cached(`//p18:${P18.cache.img[0]}_image_img`);
  const c2 = ctx.smoke ? none : await cached(`//p18:${P18.cache.ours[1]}_image`);
  const r2 = ctx.smoke ? none : await cached(`//p18:${P18.cache.img[1]}_image_img`);
  const e1 = ctx.smoke ? none : await cached(`//p18:${P18.cache.eager[0]}_image`);

  // Own layers: the image's layers that are not the base's.
  const own = (sizes: { digest: string; size: number }[]) =>
    sizes.filter((l) => !hex.has(l.digest.replace(/^sha256:/, ""))).reduce((n, l) => n + l.size, 0);
  const bin = join(w.ws, "bazel-bin", "p18");
  const oursOwn = own(readLayout(join(bin, `${P18.cache.ours[0]}_image`)).manifest.layers);
  const imgManifest = readdirSync(bin).find(
    (f) => f.startsWith(`${P18.cache.img[0]}_image_img`) && f.endsWith("manifest.json"),
  );
  check(imgManifest !== undefined, `P18: rules_img's ${P18.cache.img[0]}_image_img wrote a manifest in ${bin}`);
  const imgOwn = own(JSON.parse(readFileSync(join(bin, imgManifest!), "utf8")).layers);
  // What the rows' targets say of ours, as checks too: a smoke run (every `npm test`) then fails when the shallow
  // base starts downloading or pushing base layers. rules_img's numbers are only reported.
  check(ours.down === 0, `P18: building and pushing on the shallow base downloaded no base layer byte (${ours.down})`);
  check(ours.up.named === 0, `P18: the push uploaded no base layer byte (${ours.up.named})`);

  const baseWhat = `a ${fmtSize(baseBytes)} base pulled by digest (${layers} generated incompressible layers) from a local registry, Bazel 7.7.1 with bzlmod`;
  const sides = `ours (\`pipeline_base_image(layer_handling = "shallow")\`) vs rules_img 0.3.17 (\`pull\`, shallow by default)`;
  const writes = (x: { bytes: number; puts: number; ofBase: number }, ownBytes: number) =>
    Number.isNaN(x.bytes)
      ? bytes(x.bytes)
      : `${fmtSize(x.bytes)} in ${x.puts} PUTs (own layers ${fmtSize(ownBytes)}; under a base layer's digest: ${bytes(x.ofBase)})`;
  /**
   * The target read as "what the image adds, plus at most 1 % of the base": the image's own layers are a few kB here
   * and the action results and compiled files written with them are several times that, whatever the base.
   */
  const within = (x: { bytes: number }, ownBytes: number) => x.bytes <= ownBytes + 0.01 * baseBytes;
  return [
    row({
      id: "P18",
      key: "P18-download",
      what: `layer bytes downloaded to fetch the base and build + push an image on ${baseWhat}: ${sides}`,
      ours: bytes(ours.down),
      peer: bytes(img.down),
      target: "0",
      met: ours.down === 0,
      notes: `bytes of the registry's answers to GETs of the base's layer blobs, counted by a proxy in front of it; the same with our materialised base (\`layer_handling = "eager"\`): ${bytes(eager.down)}`,
    }),
    row({
      id: "P18",
      key: "P18-cache-first",
      what: `bytes written to a remote cache (nginx WebDAV, \`--remote_cache\`) by \`bazel build\` of the first image on that base (its app compiled too): ${sides}`,
      ours: bytes(c1.bytes),
      peer: bytes(r1.bytes),
      target: "≤ own layers + 1 % of the base",
      met: within(c1, oursOwn),
      notes: `PUT bodies counted by a proxy in front of nginx. Ours: ${writes(c1, oursOwn)}; rules_img: ${writes(r1, imgOwn)}; ours on the materialised base: ${writes(e1, oursOwn)}`,
    }),
    row({
      id: "P18",
      key: "P18-cache-extra",
      what: `the same for an extra image on the same base (another app target, the base repository already fetched): ${sides}`,
      ours: bytes(c2.bytes),
      peer: bytes(r2.bytes),
      target: "≤ own layers + 1 % of the base",
      met: within(c2, oursOwn),
      notes: `ours: ${writes(c2, oursOwn)}; rules_img: ${writes(r2, imgOwn)}`,
    }),
    row({
      id: "P18",
      key: "P18-push",
      what: `base-layer bytes uploaded by the image's push to a second repository of the same registry: ${sides}`,
      ours: bytes(ours.up.named),
      peer: bytes(img.up.named),
      target: "0",
      met: ours.up.named === 0,
      notes: `request bodies of the upload sessions that ended on a base layer's digest (proxy). Base layers mounted (POST ?mount= answered 201): ours ${ours.up.mounted} of ${layers}, rules_img ${img.up.mounted} of ${layers}; every blob upload in all: ours ${bytes(ours.up.total)}, rules_img ${bytes(img.up.total)}; ours on the materialised base: base bytes ${bytes(eager.up.named)}, ${eager.up.mounted} mounted`,
    }),
    versus({
      id: "P18",
      key: "P18-cold-vs-eager",
      what: `first \`bazel run NAME_push\` of an image on ${baseWhat}, the base never fetched before (warm server, the app compiled afresh): ours shallow vs ours materialised (\`layer_handling = "eager"\`)`,
      ours: stat([ours.ms]),
      peer: stat([eager.ms]),
      limit: 1,
      notes:
        "one sample per side (the base is fetched once); through scripts/bazel7.sh's chroot, in P9's rules_js + pnpm workspace",
    }),
    versus({
      id: "P18",
      key: "P18-cold-vs-rules-img",
      what: `the same, ours shallow vs rules_img 0.3.17 (\`pull\`, \`image_layer\` of the same compiled entry, \`image_manifest\`, \`bazel run\` of \`image_push\`)`,
      ours: stat([ours.ms]),
      peer: stat([img.ms]),
      notes:
        "one sample per side; rules_img's tools built beforehand (//p18:warm_push), as ours were by P9; its layer holds the compiled entry only, ours the app's layers as `pipeline` makes them",
    }),
  ];
}
