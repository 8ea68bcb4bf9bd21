/**
 * Bazel consumer workspaces for the benchmarks: the same setup as test/fixtures/bazel.ts (whose REPO_ROOT is
 * computed from its own location, which differs once compiled into bench/out), plus cleanup.
 */
import { spawnSync } from "node:child_process";
import { cpSync, existsSync, mkdirSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { run, RunResult } from "./measure";

/** The rules_pipeline checkout: bench/out/bench/lib -> four levels up. */
export const REPO_ROOT = resolve(__dirname, "..", "..", "..", "..");
if (!existsSync(join(REPO_ROOT, "WORKSPACE")) || !existsSync(join(REPO_ROOT, "bench"))) {
  throw new Error(`bench: cannot find the rules_pipeline checkout (looked at ${REPO_ROOT})`);
}
export const BAZEL = process.env.BAZEL ?? (spawnSync("sh", ["-c", "command -v bazel-4 || command -v bazel"], { encoding: "utf8" }).stdout.trim() || "bazel");

/** `bazel run` flags that keep Bazel's own output out of the program's output. */
export const QUIET = ["--noshow_progress", "--ui_event_filters=-info,-stdout,-stderr", "--show_result=0"];

/** A new workspace `<parent>/ws` with examples/hello, its npm packages and a WORKSPACE loading rules_pipeline. */
export function makeConsumerWorkspace(parent: string, workspaceExtra = ""): string {
  const ws = join(parent, "ws");
  mkdirSync(join(ws, "examples"), { recursive: true });
  cpSync(join(REPO_ROOT, "examples", "hello"), join(ws, "examples", "hello"), { recursive: true });
  for (const f of ["package.json", "package-lock.json", "BUILD.bazel"]) cpSync(join(REPO_ROOT, "examples", f), join(ws, "examples", f));
  writeFileSync(
    join(ws, "WORKSPACE"),
    `workspace(name = "consumer")

local_repository(name = "rules_pipeline", path = ${JSON.stringify(REPO_ROOT)})

load("@rules_pipeline//bazel:repositories.bzl", "npm_dependencies", "pipeline_dependencies")
pipeline_dependencies()

load("@rules_pipeline//bazel:pipeline.bzl", "base_images")
base_images()

npm_dependencies(name = "npm", package_json = "//examples:package.json", lockfile = "//examples:package-lock.json")
${workspaceExtra}`,
  );
  writeFileSync(join(ws, "BUILD.bazel"), "");
  writeFileSync(join(ws, ".bazelrc"), "build --nosandbox_debug\nbuild --incompatible_strict_action_env\n");
  writeFileSync(join(ws, ".bazelversion"), "4\n");
  return ws;
}

/** The environment Bazel runs with: ours without SOURCE_DATE_EPOCH (P5 checks builds without it). */
export function bazelEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env = { ...process.env, ...extra };
  delete env.SOURCE_DATE_EPOCH;
  return env;
}

export function bazel(ws: string, args: string[], env: NodeJS.ProcessEnv = bazelEnv()): Promise<RunResult> {
  return run(BAZEL, args, { cwd: ws, env });
}

export async function bazelOk(ws: string, args: string[], env?: NodeJS.ProcessEnv): Promise<RunResult> {
  const r = await bazel(ws, args, env);
  if (r.code !== 0) throw new Error(`bazel ${args.join(" ")} in ${ws} exited ${r.code}:\n${r.stdout.slice(-3000)}\n${r.stderr.slice(-6000)}`);
  return r;
}

/** Deletes the workspace's output base and stops its server. */
export function expunge(ws: string): void {
  spawnSync(BAZEL, ["clean", "--expunge"], { cwd: ws, timeout: 120_000, stdio: "ignore" });
  spawnSync(BAZEL, ["shutdown"], { cwd: ws, timeout: 60_000, stdio: "ignore" });
}
