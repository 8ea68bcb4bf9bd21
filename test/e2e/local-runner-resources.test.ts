/**
 * The local runner and the spec's cluster fields, under real runc (as root): the memory limit is a cgroup limit
 * (a program allocating past it is OOM-killed, the same program without the limit is not), runAsUser/runAsGroup
 * are the process's ids, and the fields it cannot honour are named in one warning line.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { run } from "../../src/cli/commands/run";
import { type RunningRegistry, startRegistry } from "../fixtures/registry";
import { buildRunnerApp, captureIo } from "../fixtures/runner-app";

let tmp: string;
let reg: RunningRegistry;
let appRef: string;

beforeAll(async () => {
  tmp = mkdtempSync(join(tmpdir(), "rp-e2e-resources-"));
  reg = await startRegistry();
  appRef = (await buildRunnerApp(tmp, reg)).ref;
});

afterAll(async () => {
  await reg?.stop();
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

function spec(name: string, program: string, extra: string[]): string {
  const path = join(tmp, `${name}.yaml`);
  writeFileSync(
    path,
    [`image: ${appRef}`, `name: ${name}`, `command: [node, -e, ${JSON.stringify(program)}]`, ...extra, ""].join("\n"),
  );
  return path;
}

const ALLOCATE = "const b = Buffer.alloc(400 * 1024 * 1024); b.fill(1); console.log('allocated ' + b.length)";

describe.skipIf(process.getuid?.() !== 0)("pipeline run SPEC: resources and securityContext under runc", () => {
  it("resources.memory is a cgroup limit: past it the program is killed; without it the same program runs", async () => {
    const cache = join(tmp, "cache");
    const limited = captureIo(tmp);
    const r = await run(
      { spec: spec("limited", ALLOCATE, ["resources: {memory: 128Mi}"]), "cache-dir": cache, runtime: "runc" },
      limited.io,
    );
    expect(limited.out).not.toContain("allocated 419430400");
    expect(r.exitCode).toBe(137); // SIGKILL from the OOM killer
    const free = captureIo(tmp);
    const f = await run({ spec: spec("free", ALLOCATE, []), "cache-dir": cache, runtime: "runc" }, free.io);
    expect(f.exitCode, free.err.join("\n")).toBe(0);
    expect(free.out).toContain("allocated 419430400");
  });

  it("runAsUser/runAsGroup set the process's ids; ignored fields are named in one line", async () => {
    const c = captureIo(tmp);
    const path = spec("user", "console.log('ids=' + process.getuid() + ':' + process.getgid())", [
      "port: 8080",
      "securityContext: {runAsUser: 4321, runAsGroup: 765}",
      "resources: {cpu: {request: 500m, limit: 1}, gpu: 1}",
      "probes: {readiness: {http: /ready}}",
      "job: {ttlSecondsAfterFinished: 60}",
    ]);
    const r = await run({ spec: path, "cache-dir": join(tmp, "cache"), runtime: "runc" }, c.io);
    expect(r.exitCode, c.err.join("\n")).toBe(0);
    expect(c.out).toEqual(["ids=4321:765"]);
    const ignored = c.err.filter((l) => l.includes("the local runner ignores"));
    expect(ignored).toEqual([
      "warning: the local runner ignores resources.cpu.request, resources.gpu, probes, job, securityContext (restricted: seccomp and dropped capabilities) (Kubernetes only)",
    ]);
  });
});
