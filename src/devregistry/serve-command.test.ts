// Tests for `pipeline registry serve` (src/cli/commands/registry-serve.ts).
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseLimitFlags, registryServe } from "../cli/commands/registry-serve";
import { PipelineError } from "../errors";
import { request, tempRegistry } from "./testing";

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "registry-serve-"));
});
afterAll(async () => rm(dir, { recursive: true, force: true }));

/** Starts the command; resolves with its address once it printed the listening line. */
function serve(opts: Parameters<typeof registryServe>[0]) {
  const ac = new AbortController();
  const stdout: string[] = [];
  const stderr: string[] = [];
  let onLine: (l: string) => void = () => undefined;
  const listening = new Promise<string>((resolve) => (onLine = resolve));
  const done = registryServe(opts, {
    stdout: (l) => {
      stdout.push(l);
      onLine(l);
    },
    stderr: (l) => stderr.push(l),
    signal: ac.signal,
  });
  return { ac, stdout, stderr, done, listening: Promise.race([listening, done.then(() => "")]) };
}

async function failure(p: Promise<unknown>): Promise<PipelineError> {
  const e = await p.then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(PipelineError);
  return e as PipelineError;
}

describe("registryServe", () => {
  it("prints exactly one listening line, serves, and stops when the signal aborts", async () => {
    const s = serve({ root: join(dir, "r1"), port: 0 });
    const line = await s.listening;
    expect(line).toMatch(/^listening on 127\.0\.0\.1:\d+$/);
    const address = line.slice("listening on ".length);
    expect((await request(address, "GET", "/v2/")).status).toBe(200);
    s.ac.abort();
    await s.done;
    expect(s.stdout).toEqual([line]);
    expect(s.stderr).toEqual([]); // no --log
    await expect(request(address, "GET", "/v2/")).rejects.toThrow();
  });

  it("--log writes request lines to stderr", async () => {
    const s = serve({ root: join(dir, "r2"), port: 0, log: true });
    const address = (await s.listening).slice("listening on ".length);
    await request(address, "GET", "/v2/");
    s.ac.abort();
    await s.done;
    expect(s.stderr).toHaveLength(1);
    expect(s.stderr[0]).toMatch(/^GET \/v2\/ 200 /);
  });

  it("--user with --password-file enables Basic auth (trailing newline ignored)", async () => {
    const pw = join(dir, "pw");
    await writeFile(pw, "topsecret\n");
    const s = serve({ root: join(dir, "r3"), port: 0, user: "ci", passwordFile: pw, log: true });
    const address = (await s.listening).slice("listening on ".length);
    expect((await request(address, "GET", "/v2/")).status).toBe(401);
    expect((await request(address, "GET", "/v2/", { auth: { user: "ci", password: "topsecret" } })).status).toBe(200);
    s.ac.abort();
    await s.done;
    expect(s.stderr.join("\n")).not.toContain("topsecret");
  });

  it("a missing password file: E_PASSWORD_FILE naming the flag and path", async () => {
    const missing = join(dir, "does-not-exist");
    const e = await failure(
      registryServe(
        { root: join(dir, "r4"), port: 0, user: "ci", passwordFile: missing },
        { stdout: () => {}, stderr: () => {} },
      ),
    );
    expect(e.code).toBe("E_PASSWORD_FILE");
    expect(e.message).toContain("--password-file");
    expect(e.message).toContain(missing);
  });

  it("--user without --password-file (and the reverse) is a usage error", async () => {
    const io = { stdout: () => {}, stderr: () => {} };
    expect((await failure(registryServe({ root: join(dir, "r5"), user: "ci" }, io))).message).toContain(
      "--password-file",
    );
    expect((await failure(registryServe({ root: join(dir, "r5"), passwordFile: "x" }, io))).message).toContain(
      "--user",
    );
  });

  it("a port in use: E_ADDR_IN_USE and nothing printed", async () => {
    const busy = await tempRegistry();
    try {
      const stdout: string[] = [];
      const e = await failure(
        registryServe({ root: join(dir, "r6"), port: busy.port }, { stdout: (l) => stdout.push(l), stderr: () => {} }),
      );
      expect(e.code).toBe("E_ADDR_IN_USE");
      expect(e.message).toContain(`127.0.0.1:${busy.port}`);
      expect(stdout).toEqual([]);
    } finally {
      await busy.cleanup();
    }
  });

  it("passes resource limits to the registry; a bad one is a usage error naming it", async () => {
    const s = serve({ root: join(dir, "r7"), port: 0, maxUploads: 1 });
    const address = (await s.listening).slice("listening on ".length);
    expect((await request(address, "POST", "/v2/a/blobs/uploads/")).status).toBe(202);
    expect((await request(address, "POST", "/v2/a/blobs/uploads/")).status).toBe(429);
    s.ac.abort();
    await s.done;
    const e = await failure(
      registryServe({ root: join(dir, "r8"), port: 0, bodyTimeoutMs: 0 }, { stdout: () => {}, stderr: () => {} }),
    );
    expect(e.code).toBe("E_USAGE");
    expect(e.message).toBe("bodyTimeoutMs: expected a positive integer, got 0");
  });

  it("limit flags: seconds become milliseconds; anything but a positive integer is a usage error naming the flag", () => {
    expect(parseLimitFlags({})).toEqual({ maxUploads: undefined, uploadIdleMs: undefined, bodyTimeoutMs: undefined });
    const flags = {
      "max-uploads": "50",
      "max-uploads-per-client": "7",
      "upload-idle-seconds": "600",
      "body-timeout-seconds": "5",
      "min-body-rate": "4096",
    };
    expect(parseLimitFlags(flags)).toEqual({
      maxUploads: 50,
      maxUploadsPerClient: 7,
      uploadIdleMs: 600_000,
      bodyTimeoutMs: 5000,
      minBodyRate: 4096,
    });
    for (const bad of ["0", "-1", "1.5", "", "ten"]) {
      expect(() => parseLimitFlags({ "body-timeout-seconds": bad })).toThrow(
        `--body-timeout-seconds: expected a positive integer, got ${JSON.stringify(bad)}`,
      );
      expect(() => parseLimitFlags({ "max-uploads-per-client": bad })).toThrow(
        `--max-uploads-per-client: expected a positive integer, got ${JSON.stringify(bad)}`,
      );
      expect(() => parseLimitFlags({ "min-body-rate": bad })).toThrow(
        `--min-body-rate: expected a positive integer, got ${JSON.stringify(bad)}`,
      );
    }
  });

  it("an unwritable root: E_REGISTRY_ROOT", async () => {
    const file = join(dir, "plain-file");
    await writeFile(file, "");
    const e = await failure(registryServe({ root: join(file, "x"), port: 0 }, { stdout: () => {}, stderr: () => {} }));
    expect(e.code).toBe("E_REGISTRY_ROOT");
    expect(e.message).toContain("--root");
  });
});
