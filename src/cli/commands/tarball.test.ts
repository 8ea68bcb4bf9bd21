import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { randomImage } from "../../../test/fixtures/random-image";
import { writeLayout } from "../../layout/write";
import { runCli } from "../run-cli";
import type { CliIo } from "../io";

const tmp = mkdtempSync(join(tmpdir(), "rp-tarball-cli-"));
const layout = join(tmp, "layout");

beforeAll(async () => {
  await writeLayout(layout, randomImage({ layers: 1, dir: join(tmp, "blobs") }), { refName: "latest" });
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

async function cli(argv: string[], env: NodeJS.ProcessEnv = { PATH: process.env.PATH }) {
  const out: string[] = [];
  const err: string[] = [];
  const io: CliIo = {
    stdout: (l) => out.push(l),
    stderr: (l) => err.push(l),
    env,
    cwd: tmp,
    isTTY: false,
    readStdin: async () => "",
  };
  const exit = await runCli(argv, io);
  return { exit, out, err, text: [...out, ...err].join("\n") };
}

describe("pipeline tarball / pipeline load", () => {
  it("tarball writes the docker archive of --image with the --tag names", async () => {
    const out = join(tmp, "a.tar");
    const r = await cli(["tarball", "--image", `default=${layout}`, "--tag", "localhost:5000/x/y:1", "--out", out]);
    expect(r.exit, r.text).toBe(0);
    expect(readFileSync(out).includes(Buffer.from('"RepoTags":["localhost:5000/x/y:1"]'))).toBe(true);
  });

  it.each([
    [
      ["tarball", "--image", layout, "--out", "x.tar"],
      1,
      "E_BAD_INPUT",
      `--image: expected NAME=LAYOUT_DIR, got ${JSON.stringify(layout)}`,
    ],
    [
      ["tarball", "--image", `a=${layout}`, "--image", `a=${layout}`, "--out", "x.tar"],
      1,
      "E_BAD_INPUT",
      '--image: two images are named "a"',
    ],
    [
      ["tarball", "--image", `default=${layout}`, "--tag", "localhost:5000/x/y", "--out", "x.tar"],
      1,
      "E_BAD_REFERENCE",
      '--tag: expected REGISTRY/REPOSITORY:TAG (a tag, no digest), got "localhost:5000/x/y"',
    ],
    [
      ["tarball", "--image", "default=/nonexistent", "--out", "x.tar"],
      1,
      "E_LAYOUT",
      "/nonexistent is not an OCI image layout",
    ],
    [["load", "--image", `default=${layout}`], 2, "E_USAGE", "--tag: give at least one REGISTRY/REPOSITORY:TAG"],
    [
      ["load", "--image", `default=${layout}`, "--default-tag", "localhost/x:1", "--loader", "containerd"],
      2,
      undefined,
      "containerd",
    ],
  ] as const)("%j fails naming the flag and the value", async (argv, exit, code, text) => {
    const r = await cli([...argv]);
    expect(r.exit, r.text).toBe(exit);
    if (code) expect(r.err[0]).toMatch(new RegExp(`^error\\[${code}\\]: `));
    expect(r.text).toContain(text);
    expect(r.text).not.toMatch(/^\s+at /m);
  });

  it("load with --loader podman and no podman on PATH fails with E_RUNTIME naming the loader", async () => {
    const r = await cli(
      ["load", "--image", `default=${layout}`, "--default-tag", "localhost/x:1", "--loader", "podman"],
      {
        PATH: join(tmp, "empty"),
      },
    );
    expect(r.exit, r.text).toBe(1);
    expect(r.err[0]).toMatch(/^error\[E_RUNTIME\]: --loader podman: `podman --version` failed/);
  });
});
