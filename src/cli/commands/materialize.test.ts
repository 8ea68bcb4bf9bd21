import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import { randomImage } from "../../../test/fixtures/random-image";
import { pushBlob, type TempRegistry, tempRegistry } from "../../devregistry/testing";
import { readLayout } from "../../layout/read";
import { markRemote } from "../../layout/remote";
import { writeLayout } from "../../layout/write";
import { digestHex } from "../../oci/digest";
import type { CliIo } from "../io";
import { runCommand } from "../main";

let tmp: string;
let reg: TempRegistry;

beforeAll(async () => {
  tmp = mkdtempSync(join(tmpdir(), "rp-materialize-cmd-"));
  reg = await tempRegistry();
});

afterAll(async () => {
  await reg?.cleanup();
  rmSync(tmp, { recursive: true, force: true });
});

it("pipeline materialize DIR --output OUT: one stderr line per fetched layer off a terminal, the digest on stdout", async () => {
  const base = randomImage({ layers: 2, layerSize: 2048, dir: join(tmp, "blobs") });
  for (const l of base.layers) await pushBlob(reg.address, "bases/b", readFileSync(l.path!));
  const source = `${reg.address}/bases/b@sha256:${"e".repeat(64)}`;
  const src = join(tmp, "shallow");
  await writeLayout(src, { ...base, layers: base.layers.map((l) => markRemote({ ...l, path: undefined }, [source])) });
  const stdout: string[] = [];
  const stderr: string[] = [];
  const io: CliIo = {
    stdout: (l) => stdout.push(l),
    stderr: (l) => stderr.push(l),
    env: { HOME: tmp, DOCKER_CONFIG: join(tmp, "docker") },
    cwd: tmp,
    isTTY: false,
    readStdin: async () => "",
  };
  const code = await runCommand(["materialize", src, "--output", join(tmp, "full")], io);
  expect(code).toBe(0);
  expect(stdout).toEqual([readLayout(src).digest]);
  // Layers are fetched side by side: the lines in any order.
  expect(stderr.map((l) => l.replace(/: downloaded .*/, "")).sort()).toEqual(
    base.layers.map((l) => `base layer ${digestHex(l.digest).slice(0, 12)}`).sort(),
  );
  expect(readLayout(join(tmp, "full")).layers.every((l) => l.path)).toBe(true);
});
