/**
 * P16: start-up of the `pipeline` CLI against `node -e 0`, in one run (issue #43 item 2): the npm package's command
 * (`pipeline.js`, the bundle's first file only for `--version` and `--help`), the launchers' form (`node
 * pipeline_loader.js pipeline_cli.js --version`, tools/bundle-loader.ts: the rules' launchers and
 * `bazel run @rules_pipeline//:pipeline`) and, informational, a command that loads the bundle's second file (the
 * commands, from the V8 code cache: `completion bash`, which reads nothing else). Target: ≤ `node -e 0` + 20 ms
 * (median of alternating rounds); CPU time beside wall time, as CPU is steadier when the machine is shared.
 */
import { spawnSync } from "node:child_process";
import { dirname, join, resolve } from "node:path";
import { check, cliEnv, type Ctx, nodeSide, row } from "../lib/context";
import { rounds } from "../lib/rounds";
import { fmtMs, type Row } from "../lib/report";

const ROOT = resolve(__dirname, "..", "..", "..", "..");
const TARGET_MS = 20;

/** The launchers' loader, built as `//:pipeline_loader` is (bootstrap/esbuild_bundle.js), beside the bundle. */
function buildLoader(cliDir: string): string {
  const out = join(cliDir, "pipeline_loader.js");
  const r = spawnSync(
    process.execPath,
    [
      join(ROOT, "bootstrap", "esbuild_bundle.js"),
      join(ROOT, "node_modules", "esbuild", "lib", "main.js"),
      "node_modules",
      ...[
        "--bundle",
        "tools/bundle-loader.ts",
        out,
        "--input-dir",
        "src",
        "--input-dir",
        "tools",
        "--input-dir",
        "node_modules",
      ],
    ],
    { cwd: ROOT, encoding: "utf8" },
  );
  check(r.status === 0, `P16: bundling tools/bundle-loader.ts: ${r.stderr}`);
  return out;
}

export async function p16(ctx: Ctx): Promise<Row[]> {
  const loader = buildLoader(dirname(ctx.cli));
  const main = join(dirname(ctx.cli), "pipeline-main.js");
  const env = cliEnv();
  const side = (args: string[]) => nodeSide("P16", args, { env });
  const node = side(["-e", "0"]);
  const ours = [
    {
      key: "version",
      what: "start-up: `pipeline --version` (npm package) vs `node -e 0`",
      limit: true,
      ...side([ctx.cli, "--version"]),
    },
    {
      key: "help",
      what: "start-up: `pipeline --help` (npm package) vs `node -e 0`",
      limit: true,
      ...side([ctx.cli, "--help"]),
    },
    {
      key: "launcher",
      what: "start-up: the launchers' `node pipeline_loader.js pipeline_cli.js --version` vs `node -e 0`",
      limit: true,
      ...side([loader, main, "--version"]),
    },
    {
      key: "command",
      what: "start-up of a command (`pipeline completion bash`: the commands' file, code cache) vs `node -e 0`",
      limit: false,
      ...side([ctx.cli, "completion", "bash"]),
    },
  ];
  const [nodeStat, ...stats] = await rounds(ctx.reps * 2, 2, [node.f, ...ours.map((o) => o.f)]);
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  return ours.map((o, i) => {
    const over = stats[i].median - nodeStat.median;
    const cpu =
      o.cpu.length && node.cpu.length
        ? `; CPU ${mean(o.cpu).toFixed(0)} ms vs ${mean(node.cpu).toFixed(0)} ms (means, /usr/bin/time)`
        : "";
    return row({
      id: "P16",
      key: `P16-${o.key}`,
      what: o.what,
      ours: fmtMs(stats[i]),
      peer: fmtMs(nodeStat),
      ratio: stats[i].median / nodeStat.median,
      target: o.limit ? `≤ node -e 0 + ${TARGET_MS} ms` : "—",
      met: o.limit ? over <= TARGET_MS : undefined,
      notes: `median over \`node -e 0\`: +${over.toFixed(1)} ms${cpu}`,
    });
  });
}
