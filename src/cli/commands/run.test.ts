import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { writeLayout } from "../../layout/write";
import { pipelineErrorOf, pipelineErrorOfSync } from "../../../test/fixtures/errors";
import { randomImage } from "../../../test/fixtures/random-image";
import { deploy } from "./deploy";
import { parseEnvFlags, parseMountFlags, run } from "./run";
import type { CliIo } from "../io";

const io: CliIo = {
  stdout: () => undefined,
  stderr: () => undefined,
  env: {},
  cwd: "/work",
  isTTY: false,
  readStdin: async () => "",
};

describe("pipeline run flags", () => {
  it("--env: NAME=VALUE (value may hold '='), NAME takes this shell's value", () => {
    expect(parseEnvFlags(["A=1=2", "B=", "C"], { C: "from-shell" })).toEqual({ A: "1=2", B: "", C: "from-shell" });
    expect(() => parseEnvFlags(["C"], {})).toThrow(/--env C: not set/);
    expect(() => parseEnvFlags(["=x"], {})).toThrow(/"=x"/);
  });

  it("--mount: SRC:DST[:ro|:rw], SRC from the current directory", () => {
    expect(parseMountFlags(["d:/data:ro", "/abs:/x", "e:/y:rw"], "/work")).toEqual([
      { source: "/work/d", destination: "/data", readonly: true },
      { source: "/abs", destination: "/x", readonly: false },
      { source: "/work/e", destination: "/y", readonly: false },
    ]);
    expect(() => parseMountFlags(["d"], "/w")).toThrow(/--mount: expected SRC:DST\[:ro\|:rw\], got "d"/);
    expect(() => parseMountFlags(["d:data"], "/w")).toThrow(
      '--mount d:data: container path: expected an absolute path (starting with /) (got "data")',
    );
  });

  it("--mount: the container path gets the spec's mount path check (path-checks.ts)", () => {
    for (const [flag, problem] of [
      ["d:/", /cannot mount over the container's root "\/"/],
      ["d:/proc/x", /cannot mount on or under \/proc/],
      ["d:/sys/fs:ro", /cannot mount on or under \/sys/],
      ["d:/dev/shm/x", /cannot mount on or under \/dev/],
      ["d:/a,b", /must not contain ','/],
      ["d:/opt/../proc", /must not contain '\.\.' segments/],
    ] as const) {
      const e = pipelineErrorOfSync(() => parseMountFlags([flag], "/w"));
      expect(e.code).toBe("E_USAGE");
      expect(e.message).toMatch(
        new RegExp(`^--mount ${flag.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&")}: container path: `),
      );
      expect(e.message).toMatch(problem);
    }
  });

  it("wants a spec or --image; --image with a spec replaces the spec's image (checked after the spec is read)", async () => {
    await expect(run({}, io)).rejects.toThrow(/name a deployment spec/);
    await expect(run({ spec: "s.yaml", image: "x" }, io)).rejects.toThrow(/deployment spec: .*s\.yaml: no such file/);
    await expect(run({ spec: "s.yaml", replicas: 2 }, io)).rejects.toThrow(/go with --image/);
  });
});

describe("--image oci:DIR[@sha256:...] with a spec takes the forms it takes without one", () => {
  const D = "sha256:" + "ab".repeat(32);
  const OTHER = "sha256:" + "0".repeat(64);
  const tmp = mkdtempSync(join(tmpdir(), "rp-run-oci-"));
  const here: CliIo = { ...io, cwd: tmp, env: { HOME: tmp } };
  const spec = join(tmp, "spec.yaml");
  let layout: string;
  let digest: string;
  beforeAll(async () => {
    layout = join(tmp, "app_image");
    const img = randomImage({ layers: 1, layerSize: 64 });
    await writeLayout(layout, img);
    digest = img.digest;
    // A registry image by digest on a port nothing listens on: --image must replace it before anything is pulled.
    writeFileSync(spec, `image: 127.0.0.1:1/team/app@${D}\nargs: [serve]\n`);
  });
  afterAll(() => rmSync(tmp, { recursive: true, force: true }));

  it("a digest the layout does not hold: E_DIGEST_MISMATCH naming both, with or without a spec", async () => {
    const expected = `--image oci:${layout}@${OTHER}: the layout holds ${digest}, not ${OTHER}`;
    for (const args of [
      { spec, image: `oci:${layout}@${OTHER}` },
      { spec, image: `oci:app_image@${OTHER}` },
      { image: `oci:app_image@${OTHER}` },
    ]) {
      const e = await pipelineErrorOf(run({ ...args, "cache-dir": join(tmp, "cache") }, here));
      expect(e.code, e.message).toBe("E_DIGEST_MISMATCH");
      expect(e.message).toBe(expected);
    }
  });

  it("a malformed digest or no directory: E_BAD_REFERENCE naming --image, with or without a spec", async () => {
    for (const image of [`oci:${layout}@sha256:abc`, "oci:"]) {
      for (const args of [{ spec, image }, { image }]) {
        const e = await pipelineErrorOf(run({ ...args, "cache-dir": join(tmp, "cache") }, here));
        expect(e.code).toBe("E_BAD_REFERENCE");
        expect(e.message).toMatch(/^--image: /);
        expect(e.message).toContain(JSON.stringify(image));
      }
    }
  });

  it("deploy --render --image oci:DIR: a cluster cannot pull a local layout", async () => {
    const e = await pipelineErrorOf(deploy({ spec, render: true, image: `oci:${layout}` }, here));
    expect(e.code).toBe("E_K8S_UNSUPPORTED");
    expect(e.message).toBe(
      `image: "oci:${layout}@${digest}" is an OCI layout on this machine, which a cluster cannot pull: push it (bazel run //pkg:NAME_push) and give HOST/REPO@sha256:...`,
    );
  });
});
