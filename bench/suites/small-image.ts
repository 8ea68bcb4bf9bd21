/**
 * P15 (issue #23 item 6): push and pull of a small image, where a client's start-up and round trips are the whole
 * cost: the CLI against skopeo (the target), with crane and `node -e 0` (Node's own start, the floor of any command
 * of ours) measured in the same rounds for scale.
 */
import { readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { readLayout } from "../../src/layout/read";
import { pushImage } from "../../src/registry/push";
import { check, type Ctx, versus } from "../lib/context";
import { cranePull, cranePush, findCrane } from "../lib/crane";
import { imageBytes } from "../lib/inputs";
import { runOk, run, type RunResult, type Stat } from "../lib/measure";
import { cliPull, cliPush, skopeoPull, skopeoPush, withRegistry } from "../lib/registry-sides";
import { fmtMB, fmtMs, type Row } from "../lib/report";
import { rounds } from "../lib/rounds";

export async function p15(ctx: Ctx): Promise<Row[]> {
  const { layoutDir, image } = await ctx.inputs.smallImage();
  const { crane, why } = findCrane(ctx.log);
  const size = `${fmtMB(imageBytes(image))}, ${image.layers.length} layers`;
  const node = () => run(process.execPath, ["-e", "0"]).then((r) => r.ms);
  const scale = (stats: { crane?: Stat; node: Stat }) =>
    `in the same rounds: \`node -e 0\` ${fmtMs(stats.node)}; ${stats.crane ? `crane ${crane!.version} ${fmtMs(stats.crane)}` : why}`;

  // Push: a new registry per run, started outside the timing.
  const fresh = (push: (target: string) => Promise<RunResult>) => () =>
    withRegistry(async (reg) => {
      const target = `${reg.host}/bench/small`;
      const r = await push(target);
      const m = await runOk("skopeo", ["inspect", "--raw", "--tls-verify=false", `docker://${target}:latest`]);
      check(m.stdout.trim() === image.manifestBytes.toString("utf8"), "P15: the registry serves the pushed manifest");
      return r.ms;
    });
  const pushSides = [
    fresh((t) => cliPush(ctx, layoutDir, t)),
    fresh((t) => skopeoPush(ctx, layoutDir, t)),
    node,
    ...(crane ? [fresh((t) => cranePush(crane, layoutDir, t))] : []),
  ];
  const [po, ps, pn, pc] = await rounds(ctx.reps, ctx.smoke ? 0 : 1, pushSides);

  // Pull: one registry holding the image, each pull into a new directory.
  const pulled = await withRegistry(async (reg) => {
    const ref = `${reg.host}/bench/small:latest`;
    await pushImage(image, { registry: reg.host, repository: "bench/small", tags: ["latest"] });
    const oursDir = join(ctx.work, "p15-ours");
    const peerDir = join(ctx.work, "p15-peer");
    const craneDir = join(ctx.work, "p15-crane");
    const into = (dir: string, pull: () => Promise<RunResult>) => async () => {
      rmSync(dir, { recursive: true, force: true });
      return (await pull()).ms;
    };
    const sides = [
      into(oursDir, () => cliPull(ctx, ref, oursDir)),
      into(peerDir, () => skopeoPull(ctx, ref, peerDir)),
      node,
      ...(crane ? [into(craneDir, () => cranePull(crane, ref, craneDir))] : []),
    ];
    const stats = await rounds(ctx.reps, ctx.smoke ? 0 : 1, sides);
    check(readLayout(oursDir).digest === image.digest, "P15: our pull writes the pushed image");
    const skopeoDigest = JSON.parse(readFileSync(join(peerDir, "index.json"), "utf8")).manifests[0].digest;
    check(skopeoDigest === image.digest, `P15: skopeo's pull has the same digest (${skopeoDigest})`);
    return stats;
  });
  const [lo, ls, ln, lc] = pulled;
  return [
    versus({
      id: "P15",
      key: "P15-push",
      what: `cold push of a small image (${size}) to a fresh registry: CLI vs skopeo copy`,
      ours: po,
      peer: ps,
      limit: 1.0,
      notes: `a new registry per run, started outside the timing; ${scale({ crane: pc, node: pn })}`,
    }),
    versus({
      id: "P15",
      key: "P15-pull",
      what: `pull of that small image into an OCI layout: CLI vs skopeo copy`,
      ours: lo,
      peer: ls,
      limit: 1.0,
      notes: `each pull into a new directory; both layouts name the pushed digest; ${scale({ crane: lc, node: ln })}`,
    }),
  ];
}
