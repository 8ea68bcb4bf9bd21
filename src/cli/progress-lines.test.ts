/**
 * Issue #21 item 9: the CLI's progress lines read in one word order, `<what>: <state>` (the form most of them had:
 * `node_modules layer: cached`, `Deployment ns/app: ready`, `pod x: Running`): the subject first, a colon, then what
 * happened to it. The commands below run against an in-process dev registry off a terminal (one plain line per
 * blob); every stderr line must match GRAMMAR, so a new line written verb-first (`pushed X`, `pulling X`) or without
 * the colon (`layer 1/2 abc uploaded`) fails here.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { randomImage } from "../../test/fixtures/random-image";
import { type TempRegistry, tempRegistry } from "../devregistry/testing";
import { summary } from "../transfer/push";
import { writeLayout } from "../layout/write";
import { runCli } from "./run-cli";
import type { CliIo } from "./io";
import { sha256 } from "../oci/digest";

/** `<what>: <state>`: a subject that does not start with a verb form (`pushed`, `pulling`), then the first ": ". */
const GRAMMAR = /^(?!\S*(?:ing|ed)\s)(?:[^:]|:(?! ))+: \S/;

let tmp: string;
let reg: TempRegistry;
let layout: string;

beforeAll(async () => {
  tmp = mkdtempSync(join(tmpdir(), "cli-progress-"));
  reg = await tempRegistry();
  layout = join(tmp, "layout");
  await writeLayout(layout, randomImage({ layers: 2, layerSize: 3000 }));
});

afterAll(async () => {
  await reg.cleanup();
  rmSync(tmp, { recursive: true, force: true });
});

async function stderrOf(argv: string[]): Promise<string[]> {
  const stderr: string[] = [];
  const io: CliIo = {
    stdout: () => {},
    stderr: (l) => stderr.push(l),
    env: { HOME: tmp },
    cwd: tmp,
    isTTY: false,
    readStdin: async () => "",
  };
  const code = await runCli(argv, io);
  expect(code, stderr.join("\n")).toBe(0);
  return stderr;
}

describe("progress lines: one word order, <what>: <state>", () => {
  it("the grammar rejects the other orders", () => {
    for (const bad of [
      "pushed localhost:5000/a@sha256:0123 (tagged v1, 3 blob(s) uploaded)",
      "pulled 2 platform(s): linux/amd64, linux/arm64",
      "pulling localhost:5000/a@sha256:0123",
      "layer 1/2 0123456789ab uploaded 3.0 MiB in 1.5s",
      "0123456789ab layer 1/2 already in localhost:5000/a",
    ])
      expect(bad).not.toMatch(GRAMMAR);
  });

  it("push (uploading, then everything already there), pull, model push and model pull", async () => {
    const repo = `${reg.address}/progress/app`;
    const lines = [
      ...(await stderrOf(["push", layout, "--repository", repo, "--tag", "v1"])),
      ...(await stderrOf(["push", layout, "--repository", repo, "--tag", "v2"])),
      ...(await stderrOf(["pull", `${repo}:v1`, "--output", join(tmp, "pulled")])),
    ];
    const model = join(tmp, "model");
    mkdirSync(model);
    writeFileSync(join(model, "weights.bin"), "w".repeat(2000));
    lines.push(...(await stderrOf(["model", "push", model, `${reg.address}/progress/model:v1`])));
    lines.push(
      ...(await stderrOf(["model", "pull", `${reg.address}/progress/model:v1`, "--output", join(tmp, "model-out")])),
    );
    // Each kind of line is there: uploaded, already there, downloaded, the push summary.
    for (const kind of [/: uploaded /, /: already in /, /: downloaded /, /^image \S+: pushed \(tagged v1/])
      expect(
        lines.some((l) => kind.test(l)),
        String(kind),
      ).toBe(true);
    for (const l of lines) expect(l).toMatch(GRAMMAR);
  });

  it("the push summary of an index with a platform left out", () => {
    const text = summary({
      name: "worker",
      reference: "localhost:5000/a@sha256:0123",
      digest: sha256("worker"),
      registry: "localhost:5000",
      repository: "a",
      tags: ["v1"],
      blobs: 4,
      bytes: 40,
      uploaded: { blobs: 1, bytes: 10 },
      skipped: 2,
      mounted: 1,
      platforms: ["linux/amd64"],
      manifests: [
        { platform: "linux/amd64", digest: sha256("worker linux/amd64"), reference: "localhost:5000/a@sha256:4567" },
      ],
      dropped: ["linux/arm64/v8"],
    });
    const lines = text.split("\n");
    expect(lines).toEqual([
      "index of linux/amd64 worker localhost:5000/a@sha256:0123: pushed (tagged v1, 1 blob(s) uploaded, 2 already present, 1 mounted)",
      "platform linux/arm64/v8 of worker: not pushed (--platform named linux/amd64)",
    ]);
    for (const l of lines) expect(l).toMatch(GRAMMAR);
  });
});
