/**
 * Bad input that needs a real registry (the CNCF distribution registry, htpasswd auth): what it answers for names
 * and digests it does not have, for a wrong password, and for a blob whose bytes do not match its digest. Each case
 * runs the CLI in process and asserts exit code 1, the stable code, the registry/repository/value named, no stack
 * trace and no secret. Fake-server cases (lying registries, huge bodies, bad challenges) are in
 * test/unit/bad-input.test.ts.
 *
 * Cases (5):
 *   1 pull a tag the repository does not have     2 pull a digest the repository does not have
 *   3 inspect a repository that does not exist     4 push with a wrong password from --password-stdin
 *   5 push a layout whose layer blob was corrupted on disk (same size, other bytes)
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { runCli } from "../../src/cli/run-cli";
import type { CliIo } from "../../src/cli/io";
import { writeLayout } from "../../src/layout/write";
import { sha256 } from "../../src/oci/digest";
import { randomImage } from "../fixtures/random-image";
import { type RunningRegistry, startRegistry } from "../fixtures/registry";

const USER = "carol";
const SECRET = "reg-" + Math.random().toString(36).slice(2) + "-Pw";
const WRONG = "wrong-" + Math.random().toString(36).slice(2);
const LEAKS = [
  SECRET,
  WRONG,
  Buffer.from(`${USER}:${SECRET}`).toString("base64"),
  Buffer.from(`${USER}:${WRONG}`).toString("base64"),
];

const tmp = mkdtempSync(join(tmpdir(), "rp-e2e-bad-registry-"));
let reg: RunningRegistry;
let pushed: string;
let layout: string;

async function cli(argv: string[], stdin = SECRET): Promise<{ exit: number; text: string }> {
  const lines: string[] = [];
  const io: CliIo = {
    stdout: (l) => lines.push(l),
    stderr: (l) => lines.push(l),
    env: { PATH: process.env.PATH, HOME: tmp },
    cwd: tmp,
    isTTY: false,
    readStdin: async () => stdin,
  };
  const exit = await runCli(argv, io);
  return { exit, text: lines.join("\n") };
}

const AUTH = ["--username", USER, "--password-stdin"];

function expectFailure(r: { exit: number; text: string }, code: string, has: string[]): void {
  expect(r.exit, r.text).toBe(1);
  // The error is a line of its own (progress lines of the blobs that moved may come before it).
  expect(r.text).toMatch(new RegExp(`^error\\[${code}\\]: `, "m"));
  for (const h of has) expect(r.text).toContain(h);
  expect(r.text).not.toMatch(/^\s+at /m);
  expect(r.text).not.toContain("internal error");
  for (const leak of LEAKS) expect(r.text).not.toContain(leak);
}

beforeAll(async () => {
  reg = await startRegistry({ htpasswd: { user: USER, password: SECRET } });
  layout = join(tmp, "layout");
  await writeLayout(layout, randomImage({ layers: 2 }));
  const r = await cli(["push", layout, "--repository", `${reg.host}/bad/input`, "--tag", "v1", ...AUTH]);
  expect(r.exit, r.text).toBe(0);
  pushed = r.text.trim().split("\n").pop()!;
});

afterAll(async () => {
  await reg?.stop();
  rmSync(tmp, { recursive: true, force: true });
});

describe("the real registry's answers to bad input", () => {
  test("1 pull a tag the repository does not have", async () => {
    const r = await cli(["pull", `${reg.host}/bad/input:nope`, "--output", join(tmp, "out1"), ...AUTH]);
    expectFailure(r, "E_NOT_FOUND", [`get manifest nope from ${reg.host}/bad/input`, "MANIFEST_UNKNOWN"]);
  });
  test("2 pull a digest the repository does not have", async () => {
    const missing = sha256("not pushed");
    const r = await cli(["pull", `${reg.host}/bad/input@${missing}`, "--output", join(tmp, "out2"), ...AUTH]);
    expectFailure(r, "E_NOT_FOUND", [`get manifest ${missing} from ${reg.host}/bad/input`]);
  });
  test("3 inspect a repository that does not exist", async () => {
    const r = await cli(["inspect", `${reg.host}/no/such/repo:v1`, ...AUTH]);
    expectFailure(r, "E_NOT_FOUND", [`${reg.host}/no/such/repo`]);
  });
  test("4 push with a wrong password: names registry, repository and the source, never the password", async () => {
    const r = await cli(["push", layout, "--repository", `${reg.host}/bad/denied`, ...AUTH], WRONG);
    expectFailure(r, "E_UNAUTHORIZED", [`registry ${reg.host}`, "bad/denied", "--username"]);
  });
  test("5 push a layout whose layer blob was corrupted on disk", async () => {
    const corrupt = join(tmp, "corrupt");
    await writeLayout(corrupt, randomImage({ layers: 1 }));
    const index = JSON.parse(readFileSync(join(corrupt, "index.json"), "utf8"));
    const manifest = JSON.parse(
      readFileSync(join(corrupt, "blobs", "sha256", index.manifests[0].digest.slice(7)), "utf8"),
    );
    const layerDigest: string = manifest.layers[0].digest;
    const blob = join(corrupt, "blobs", "sha256", layerDigest.slice(7));
    const bytes = readFileSync(blob);
    rmSync(blob);
    writeFileSync(blob, Buffer.from(bytes.map((b) => b ^ 0xff)));
    const r = await cli(["push", corrupt, "--repository", `${reg.host}/bad/corrupt`, ...AUTH]);
    expectFailure(r, "E_DIGEST_MISMATCH", [layerDigest]);
    // The registry holds nothing under the digest it was promised.
    const pulled = await cli([
      "pull",
      `${reg.host}/bad/corrupt@${index.manifests[0].digest}`,
      "--output",
      join(tmp, "out5"),
      ...AUTH,
    ]);
    expect(pulled.exit).toBe(1);
  });
  test("the pushed reference still pulls (the registry was healthy throughout)", async () => {
    const r = await cli(["pull", pushed, "--output", join(tmp, "ok"), ...AUTH]);
    expect(r.exit, r.text).toBe(0);
  });
});
