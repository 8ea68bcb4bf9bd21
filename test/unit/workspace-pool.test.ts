/**
 * test/fixtures/workspace-pool.ts without Bazel: one borrower per workspace at a time, a new slot when none is free, a
 * returned workspace put back as makeConsumerWorkspace makes it (what a file added or edited gone, Bazel's
 * convenience symlinks kept; the WORKSPACE lines the next borrower asks for, not the last one's), and a lock whose holder is gone taken over while a live holder's is not.
 */
import { spawnSync } from "node:child_process";
import {
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, expect, test } from "vitest";
import { processStart } from "../../src/process/owner";
import { REPO_ROOT } from "../fixtures/repo";
import { borrowConsumerWorkspace } from "../fixtures/workspace-pool";

const tmp = mkdtempSync(join(tmpdir(), "rp-unit-pool-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

test("one borrower per workspace; a returned one comes back as makeConsumerWorkspace makes it", async () => {
  const pool = join(tmp, "pool");
  const a = borrowConsumerWorkspace("", pool);
  const b = borrowConsumerWorkspace("", pool);
  expect(a.ws).toBe(join(pool, "slot-0", "ws"));
  expect(b.ws).toBe(join(pool, "slot-1", "ws"));

  const hello = join(a.ws, "examples/hello/BUILD.bazel");
  const pristine = readFileSync(hello, "utf8");
  writeFileSync(hello, "# edited by a test\n");
  mkdirSync(join(a.ws, "bad/rules"), { recursive: true });
  writeFileSync(join(a.ws, "bad/rules/BUILD.bazel"), "");
  writeFileSync(join(a.ws, ".bazelrc"), "build --nothing\n");
  symlinkSync(tmp, join(a.ws, "bazel-bin"));
  await a.release();

  const c = borrowConsumerWorkspace("", pool);
  expect(c.ws).toBe(a.ws);
  expect(readFileSync(hello, "utf8")).toBe(pristine);
  expect(readFileSync(hello, "utf8")).toBe(readFileSync(join(REPO_ROOT, "examples/hello/BUILD.bazel"), "utf8"));
  expect(existsSync(join(c.ws, "bad"))).toBe(false);
  expect(readFileSync(join(c.ws, ".bazelrc"), "utf8")).toContain("--incompatible_strict_action_env");
  expect(readFileSync(join(c.ws, "WORKSPACE"), "utf8")).toContain('local_repository(name = "rules_pipeline"');
  expect(lstatSync(join(c.ws, "bazel-bin")).isSymbolicLink()).toBe(true);
  await b.release();
  await c.release();
  expect(existsSync(join(pool, "slot-0.lock"))).toBe(false);
});

test("a borrower's WORKSPACE lines are its own: the next borrower of the slot gets its own, not the last one's", async () => {
  const pool = join(tmp, "extra");
  const extra = 'local_repository(name = "shared_ts", path = "/nowhere")\n';
  const a = borrowConsumerWorkspace(extra, pool);
  const workspace = join(a.ws, "WORKSPACE");
  expect(readFileSync(workspace, "utf8").endsWith(`\n${extra}`)).toBe(true);
  await a.release();
  const b = borrowConsumerWorkspace("", pool);
  expect(b.ws).toBe(a.ws);
  expect(readFileSync(workspace, "utf8")).not.toContain("shared_ts");
  expect(readFileSync(workspace, "utf8")).toContain('local_repository(name = "rules_pipeline"');
  await b.release();
});

test("a lock whose holder is gone is taken over; a live holder's is not", async () => {
  const pool = join(tmp, "locks");
  mkdirSync(pool);
  const gone = spawnSync("sh", ["-c", "echo $$"], { encoding: "utf8" });
  const deadPid = Number(gone.stdout.trim());
  writeFileSync(join(pool, "slot-0.lock"), JSON.stringify({ pid: deadPid, start: 1 }));
  writeFileSync(join(pool, "slot-1.lock"), JSON.stringify({ pid: 1, start: processStart(1) }));
  const taken = borrowConsumerWorkspace("", pool);
  expect(taken.ws).toBe(join(pool, "slot-0", "ws"));
  const next = borrowConsumerWorkspace("", pool);
  expect(next.ws).toBe(join(pool, "slot-2", "ws"));
  await taken.release();
  await next.release();
  expect(readFileSync(join(pool, "slot-1.lock"), "utf8")).toContain('"pid":1');
});
