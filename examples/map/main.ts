/**
 * Maps score.ts's `score` over shards of text with runMap: in threads under `:map_local`, in local containers of the
 * built image with PIPELINE_TARGET=container (`:map_binary`), where launchTarget() says (docs/scale-out.md).
 * `bazel run //examples/map:map_local -- 200` scores 200 shards.
 */
import { join } from "node:path";
import { launchTarget, runMap } from "@rules_pipeline/runtime";
import type { Shard, ShardScore } from "./score";

async function main(): Promise<void> {
  const count = Number(process.argv[2] ?? 100);
  const shards: Shard[] = Array.from({ length: count }, (_, id) => ({
    id,
    text: `shard ${id} ${"word ".repeat(id % 7)}${"x".repeat(1 + (id % 11))}`,
  }));
  const scores = await runMap<ShardScore>({ module: join(__dirname, "score.js"), export: "score" }, shards, {
    parallelism: Number(process.env.MAP_PARALLELISM ?? 2),
    chunkSize: 10,
  });
  const words = scores.reduce((n, s) => n + s.words, 0);
  const inOrder = scores.every((s, i) => s.id === i);
  console.log(`scored ${scores.length} shards on ${launchTarget()}: ${words} words, in order: ${inOrder}`);
}

main().catch((e: unknown) => {
  console.error(e instanceof Error ? e.message : e);
  process.exitCode = 1;
});
