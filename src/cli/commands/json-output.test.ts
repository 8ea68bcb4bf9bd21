/**
 * `push --json` and `pull --json` against an in-process dev registry: one JSON object, sizes from the image itself.
 * And `-v`/`--debug` on them: one stderr line per registry request.
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, expect, test } from "vitest";
import { randomImage } from "../../../test/fixtures/random-image";
import { type TempRegistry, tempRegistry } from "../../devregistry/testing";
import { writeLayout } from "../../layout/write";
import type { Image } from "../../oci/model";
import { runCli } from "../run-cli";
import type { CliIo } from "../io";

let tmp: string;
let reg: TempRegistry;
let image: Image;
let layout: string;

beforeAll(async () => {
  tmp = mkdtempSync(join(tmpdir(), "cli-json-"));
  reg = await tempRegistry();
  image = randomImage({ layers: 2, layerSize: 3000 });
  layout = join(tmp, "layout");
  await writeLayout(layout, image);
});

afterAll(async () => {
  await reg.cleanup();
  rmSync(tmp, { recursive: true, force: true });
});

async function cli(argv: string[]): Promise<{ code: number; stdout: string[]; stderr: string[] }> {
  const stdout: string[] = [];
  const stderr: string[] = [];
  const io: CliIo = {
    stdout: (l) => stdout.push(l),
    stderr: (l) => stderr.push(l),
    env: { HOME: tmp },
    cwd: tmp,
    isTTY: false,
    readStdin: async () => "",
  };
  return { code: await runCli(argv, io), stdout, stderr };
}

const expectedBytes = () => image.manifest.config.size + image.manifest.layers.reduce((n, l) => n + l.size, 0);

test("inspect --json is accepted like every other command's --json, and prints the same JSON as inspect", async () => {
  const plain = await cli(["inspect", `oci:${layout}`]);
  const json = await cli(["inspect", "--json", `oci:${layout}`]);
  expect(json.code, json.stderr.join("\n")).toBe(0);
  expect(JSON.parse(json.stdout.join("\n")).digest).toBe(image.digest);
  expect(json.stdout).toEqual(plain.stdout);
});

test("push --json prints one JSON object: reference, digest, bytes, blobs, tags and what was uploaded", async () => {
  const repo = `${reg.address}/json/push`;
  const first = await cli(["push", layout, "--repository", repo, "--tag", "v1", "--json"]);
  expect(first.code, first.stderr.join("\n")).toBe(0);
  expect(first.stdout).toHaveLength(1);
  // The summary on stderr names the tags it pushed, not only the digest.
  expect(first.stderr.join("\n")).toMatch(
    new RegExp(`^image ${repo}@${image.digest}: pushed \\(tagged v1, 3 blob\\(s\\) uploaded`, "m"),
  );
  expect(JSON.parse(first.stdout[0])).toEqual({
    reference: `${repo}@${image.digest}`,
    digest: image.digest,
    bytes: expectedBytes(),
    blobs: 3,
    tags: ["v1"],
    uploaded: { blobs: 3, bytes: expectedBytes() },
    skipped: 0,
    mounted: 0,
    platforms: ["linux/amd64"],
    manifests: [],
    dropped: [],
  });
  // Again: the image's size is the same, nothing is uploaded.
  const again = JSON.parse((await cli(["push", layout, "--repository", repo, "--json"])).stdout[0]);
  expect(again).toMatchObject({
    digest: image.digest,
    bytes: expectedBytes(),
    blobs: 3,
    uploaded: { blobs: 0, bytes: 0 },
    skipped: 3,
  });
  // --metadata-out says "uploaded" as --json does: {blobs, bytes}, not a bare count beside an uploadedBytes.
  const meta = join(tmp, "meta.json");
  const third = await cli(["push", layout, "--repository", `${repo}-meta`, "--json", "--metadata-out", meta]);
  const metadata = JSON.parse(readFileSync(meta, "utf8")) as Record<string, unknown>;
  expect(metadata.uploaded).toEqual({ blobs: 3, bytes: expectedBytes() });
  expect(metadata.uploaded).toEqual(JSON.parse(third.stdout[0]).uploaded);
  expect(metadata).not.toHaveProperty("uploadedBytes");
  // Without --json stdout is the reference alone.
  expect((await cli(["push", layout, "--repository", repo])).stdout).toEqual([`${repo}@${image.digest}`]);
});

test("pull --json prints reference, digest, bytes, blobs and the output directory", async () => {
  const repo = `${reg.address}/json/pull`;
  expect((await cli(["push", layout, "--repository", repo, "--tag", "v2"])).code).toBe(0);
  const out = join(tmp, "pulled");
  const r = await cli(["pull", `${repo}:v2`, "--output", out, "--json"]);
  expect(r.code, r.stderr.join("\n")).toBe(0);
  expect(r.stdout).toHaveLength(1);
  expect(JSON.parse(r.stdout[0])).toEqual({
    reference: `${repo}@${image.digest}`,
    digest: image.digest,
    bytes: expectedBytes(),
    blobs: 3,
    output: out,
    platforms: ["linux/amd64"],
  });
});

test("-v logs one line per registry request on stderr (push and pull); without it there is none", async () => {
  const repo = `${reg.address}/json/debug`;
  const push = await cli(["push", "-v", layout, "--repository", repo]);
  expect(push.code, push.stderr.join("\n")).toBe(0);
  expect(push.stderr).toContainEqual(
    expect.stringMatching(
      new RegExp(`^debug: PUT http://${reg.address}/v2/json/debug/manifests/${image.digest} -> 201 `),
    ),
  );
  const pull = await cli(["pull", `${repo}@${image.digest}`, "--output", join(tmp, "pulled-debug"), "--debug"]);
  expect(pull.code, pull.stderr.join("\n")).toBe(0);
  expect(pull.stderr).toContainEqual(
    expect.stringMatching(/^debug: GET http:\/\/.*\/blobs\/sha256:[0-9a-f]{64} -> 200 /),
  );
  const quiet = await cli(["push", layout, "--repository", repo]);
  expect(quiet.stderr.filter((l) => l.startsWith("debug:"))).toEqual([]);
});
