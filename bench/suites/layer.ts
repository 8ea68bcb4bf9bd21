/** P4: one layer from the node_modules tree: the CLI's `layer` command vs `tar | gzip -6` and `tar | pigz -p2 -6`. */
import { existsSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { check, type Ctx, row, versus } from "../lib/context";
import { HAVE_TIME, runOk, sideBySide, stat } from "../lib/measure";

const HAVE_PIGZ = existsSync("/usr/bin/pigz");
import { fmtInt, fmtMB, fmtRss, type Row } from "../lib/report";

/** `dest<TAB>src` lines for every file under `root` (what the Bazel rule hands the `layer` command). */
function fileList(root: string, dest: string): string[] {
  const out: string[] = [];
  const walk = (dir: string, rel: string) => {
    for (const name of readdirSync(dir).sort()) {
      const p = `${dir}/${name}`;
      const r = rel ? `${rel}/${name}` : name;
      if (statSync(p).isDirectory()) walk(p, r);
      else out.push(`${dest}/${r}\t${p}`);
    }
  };
  walk(root, "");
  return out;
}

export async function p4(ctx: Ctx): Promise<Row[]> {
  const nm = ctx.inputs.nmDir;
  const list = join(ctx.work, "p4-files.txt");
  const lines = fileList(nm, "app/node_modules");
  writeFileSync(list, lines.join("\n") + "\n");
  const oursOut = join(ctx.work, "p4-ours.tar.gz");
  const peerOut = join(ctx.work, "p4-tar.tar.gz");
  const oursRss: number[] = [];
  const peerRss: number[] = [];
  const ours = async () => {
    rmSync(oursOut, { force: true });
    const r = await runOk(
      process.execPath,
      [
        ctx.cli,
        "layer",
        "--out",
        oursOut,
        "--descriptor",
        `${oursOut}.json`,
        "--name",
        "node_modules",
        "--files",
        list,
      ],
      {
        rss: true,
        env: { ...process.env, CI: "true" },
      },
    );
    if (r.maxRss) oursRss.push(r.maxRss);
    return r.ms;
  };
  const tarCmd = `set -o pipefail; tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -c -C '${nm}' . | gzip -6 > '${peerOut}'`;
  const peer = async () => {
    rmSync(peerOut, { force: true });
    const r = await runOk("bash", ["-c", tarCmd], { rss: true });
    if (r.maxRss) peerRss.push(r.maxRss);
    return r.ms;
  };
  // One unmeasured round each: the tree is then in the page cache for both.
  const t = await sideBySide(ctx.slowReps, 1, ours, peer);
  // pigz on both cores: the parallel peer (our layers are deflated in parallel blocks too, src/layer/gzip.ts).
  const pigz = HAVE_PIGZ
    ? await sideBySide(
        ctx.slowReps,
        1,
        ours,
        async () => (await runOk("bash", ["-c", tarCmd.replace("gzip -6", "pigz -p2 -6")])).ms,
      )
    : undefined;
  const oursSize = statSync(oursOut).size;
  const peerSize = statSync(peerOut).size;
  check(oursSize > 0 && peerSize > 0, "P4: both produce a layer");
  const rows: Row[] = [
    versus({
      id: "P4",
      key: "P4-wall",
      what: `one layer from node_modules (${fmtInt(lines.length)} files, ${fmtMB(ctx.inputs.nmStats?.bytes ?? 0)}): CLI \`layer\` (buildLayer) vs tar --sort=name … \\| gzip -6`,
      ours: t.a,
      peer: t.b,
      limit: 0.5,
      notes: `output ${fmtMB(oursSize)} (ours) vs ${fmtMB(peerSize)} (tar|gzip); the CLI time includes Node's start and reading the ${fmtInt(lines.length)}-line file list`,
    }),
  ];
  if (pigz) {
    rows.push(
      versus({
        id: "P4",
        key: "P4-pigz",
        what: "the same layer: CLI `layer` vs tar --sort=name … \\| pigz -p2 -6 (both cores)",
        ours: pigz.a,
        peer: pigz.b,
        limit: 1.1,
        notes: "run after the gzip comparison, side by side in the same rounds",
      }),
    );
  } else
    rows.push(
      row({
        id: "P4",
        key: "P4-pigz",
        what: "pigz peer",
        ours: "-",
        peer: "not run: pigz not installed",
        ratio: NaN,
        target: "≤ 1.1",
        met: false,
        notes: "apt-get install pigz",
      }),
    );
  if (HAVE_TIME && oursRss.length) {
    const o = stat(oursRss);
    const p = stat(peerRss);
    rows.push(
      row({
        id: "P4",
        key: "P4-rss",
        what: "peak RSS building that layer (/usr/bin/time -f %M; the peer's is its largest process)",
        ours: fmtRss(o),
        peer: fmtRss(p),
        ratio: o.median / p.median,
        target: "ours ≤ 200 MB",
        met: o.max <= 200e6,
        notes: "the target applies to ours (max over runs); the peer's figure is for scale",
      }),
    );
  }
  return rows;
}
