/**
 * parseImageConfig, the one parser of image configs from others: each field an ImageConfig declares is checked where
 * present and named with its value when wrong, under the edge's code; every other field is kept as it is.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { afterAll, describe, expect, test } from "vitest";
import { pipelineErrorOfSync } from "../../test/fixtures/errors";
import { composeImage } from "../image/compose";
import { bufferBlob } from "../layer/blob";
import { readLayout } from "../layout/read";
import { writeLayout } from "../layout/write";
import { sha256 } from "./digest";
import { diffIdsOf, parseImageConfig } from "./image-config";
import { MediaType } from "./types";

const D1 = sha256("one");
const D2 = sha256("two");
const WHERE = "OCI layout /x: config sha256:c0";

/** A config as Docker writes one: nulls for empty lists and mappings, fields we never read. */
const DOCKER_CONFIG = {
  architecture: "arm",
  variant: "v7",
  os: "linux",
  "os.version": "10.0.17763",
  created: "2024-01-02T03:04:05Z",
  docker_version: "24.0.7",
  container: "f00",
  config: {
    Hostname: "",
    User: "1000:1000",
    Env: ["PATH=/usr/bin"],
    Entrypoint: null,
    Cmd: ["bash"],
    WorkingDir: "/w",
    Labels: null,
    ExposedPorts: { "80/tcp": {} },
    Volumes: null,
    OnBuild: null,
    Healthcheck: { Test: ["CMD", "true"], Interval: 30_000_000_000 },
    ArgsEscaped: true,
    StopSignal: "SIGTERM",
  },
  rootfs: { type: "layers", diff_ids: [D1, D2], extra: 1 },
  history: [
    { created: "2024-01-02T03:04:05Z", created_by: "/bin/sh -c #(nop) ADD", empty_layer: false, author: "someone" },
  ],
};
/** What a JSON value received says, as messages quote it: JSON-quoted, cut at 80 characters. */
const got = (s: string) => {
  const q = JSON.stringify(s);
  return q.length > 80 ? `${q.slice(0, 77)}...` : q;
};

describe("parseImageConfig: good configs", () => {
  test("a Docker config: diff_ids as Digests, every field kept as it is, in its place", () => {
    const text = JSON.stringify(DOCKER_CONFIG).replace(/}$/, ',"__proto__":{"polluted":true}}');
    const value = JSON.parse(text);
    const config = parseImageConfig(value, WHERE, "E_LAYOUT");
    expect(diffIdsOf(config)).toEqual([D1, D2]);
    expect(config).toEqual(value);
    // Same keys, same order, nested too: the value serializes to the bytes it came from.
    expect(JSON.stringify(config)).toBe(text);
    // A "__proto__" key stays a plain key: nothing reaches the prototype.
    expect(Object.getPrototypeOf(config)).toBe(Object.prototype);
    expect(Object.hasOwn(config, "__proto__")).toBe(true);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  test("absent and null fields are accepted as before: no layers, no container config", () => {
    expect(diffIdsOf(parseImageConfig({}, WHERE, "E_LAYOUT"))).toEqual([]);
    const nulls = { rootfs: { type: "layers", diff_ids: null }, config: null, history: null };
    expect(parseImageConfig(nulls, WHERE, "E_REGISTRY")).toEqual(nulls);
    expect(diffIdsOf(parseImageConfig(nulls, WHERE, "E_REGISTRY"))).toEqual([]);
    const noType = { rootfs: { diff_ids: [D1] } };
    expect(diffIdsOf(parseImageConfig(noType, WHERE, "E_LAYOUT"))).toEqual([D1]);
  });
});

describe("parseImageConfig: each bad field named with the value received", () => {
  const long = `sha256:${"f".repeat(200)}`;
  test.each([
    [
      "rootfs.diff_ids[1]",
      { rootfs: { type: "layers", diff_ids: [D1, "sha256:NOTHEX"] } },
      'expected a digest sha256:<64 lowercase hex> (got "sha256:NOTHEX")',
    ],
    [
      "rootfs.diff_ids[0]",
      { rootfs: { diff_ids: [`sha512:${"a".repeat(128)}`] } },
      `expected a digest sha256:<64 lowercase hex> (got ${got(`sha512:${"a".repeat(128)}`)})`,
    ],
    ["rootfs.diff_ids[0]", { rootfs: { diff_ids: [7] } }, 'expected a string (quote it: "7") (got 7)'],
    [
      "rootfs.diff_ids[2]",
      { rootfs: { diff_ids: [D1, D2, long] } },
      `expected a digest sha256:<64 lowercase hex> (got ${got(long)})`,
    ],
    ["rootfs.diff_ids", { rootfs: { diff_ids: D1 } }, `expected a list (got "${D1}")`],
    ["rootfs.type", { rootfs: { type: "tarball", diff_ids: [] } }, 'expected one of "layers" (got "tarball")'],
    ["rootfs", { rootfs: [D1] }, "expected a mapping (got a list)"],
    ["architecture", { architecture: 64 }, 'expected a string (quote it: "64") (got 64)'],
    ["os", { os: null }, "expected a string (got null)"],
    ["variant", { variant: ["v7"] }, "expected a string (got a list)"],
    ["created", { created: 0 }, "expected a string"],
    ["config", { config: "sh" }, 'expected a mapping (got "sh")'],
    ["config.Env[1]", { config: { Env: ["A=1", { B: 2 }] } }, "expected a string (got a mapping)"],
    ["config.Entrypoint", { config: { Entrypoint: "/bin/sh -c" } }, 'expected a list (got "/bin/sh -c")'],
    ["config.Cmd[0]", { config: { Cmd: [true] } }, "expected a string"],
    ["config.User", { config: { User: 0 } }, "expected a string (quote it"],
    ["config.WorkingDir", { config: { WorkingDir: ["/"] } }, "expected a string (got a list)"],
    ["config.Labels.a", { config: { Labels: { a: 1 } } }, "expected a string (quote it"],
    ["config.ExposedPorts.80/tcp", { config: { ExposedPorts: { "80/tcp": "yes" } } }, 'expected a mapping (got "yes")'],
    ["config.Volumes", { config: { Volumes: ["/data"] } }, "expected a mapping (got a list)"],
    ["config.StopSignal", { config: { StopSignal: 15 } }, "expected a string"],
    ["history", { history: { created: "x" } }, "expected a list (got a mapping)"],
    ["history[0].created_by", { history: [{ created_by: 1 }] }, "expected a string"],
    ["history[0].empty_layer", { history: [{ empty_layer: "true" }] }, 'expected true or false (got "true")'],
    ["history[1]", { history: [{}, "ADD"] }, 'expected a mapping (got "ADD")'],
  ])("%s", (field, config, problem) => {
    for (const code of ["E_LAYOUT", "E_REGISTRY"] as const) {
      const e = pipelineErrorOfSync(() => parseImageConfig(config, WHERE, code));
      expect(e.code).toBe(code);
      expect(e.message).toContain(`${WHERE}: ${field}: ${problem}`);
    }
  });

  test("a config that is no object, and every problem of one config, one per line", () => {
    expect(pipelineErrorOfSync(() => parseImageConfig([], WHERE, "E_LAYOUT")).message).toBe(
      `${WHERE}: expected a JSON object (got a list)`,
    );
    const e = pipelineErrorOfSync(() =>
      parseImageConfig({ os: 1, rootfs: { diff_ids: ["x", D1, "y"] } }, WHERE, "E_REGISTRY"),
    );
    expect(e.message.split("\n")).toEqual([
      `${WHERE}: os: expected a string (quote it: "1") (got 1)`,
      `${WHERE}: rootfs.diff_ids[0]: expected a digest sha256:<64 lowercase hex> (got "x")`,
      `${WHERE}: rootfs.diff_ids[2]: expected a digest sha256:<64 lowercase hex> (got "y")`,
    ]);
  });
});

describe("a base image's config through a layout", () => {
  const tmp = mkdtempSync(join(tmpdir(), "image-config-"));
  afterAll(() => rmSync(tmp, { recursive: true, force: true }));

  test("read as it is: the bytes untouched, the fields the next image builds on kept", async () => {
    const tar = Buffer.from("a tar, for the digests");
    const layer = {
      digest: sha256(tar),
      diffId: sha256(tar),
      size: tar.length,
      mediaType: MediaType.OCI_LAYER,
      open: () => Readable.from([tar]),
    };
    const built = composeImage({ layers: [{ layer, createdBy: "x" }], os: "linux", architecture: "amd64" });
    // The same image with a config written by someone else: other key order and spacing, unknown fields, nulls.
    const theirs = {
      ...DOCKER_CONFIG,
      architecture: "amd64",
      variant: undefined,
      rootfs: { type: "layers", diff_ids: [layer.diffId] },
    };
    const configBytes = Buffer.from(JSON.stringify(theirs, null, 3));
    const manifest = {
      ...built.manifest,
      config: { mediaType: MediaType.DOCKER_CONFIG, digest: sha256(configBytes), size: configBytes.length },
    };
    const manifestBytes = Buffer.from(JSON.stringify(manifest));
    const config = parseImageConfig(JSON.parse(configBytes.toString()), "test", "E_LAYOUT");
    const configBlob = bufferBlob(configBytes, MediaType.DOCKER_CONFIG);
    const image = { ...built, config, configBytes, configBlob, manifest, manifestBytes, digest: sha256(manifestBytes) };
    await writeLayout(join(tmp, "l"), image, {});

    const back = readLayout(join(tmp, "l"));
    expect(back.configBytes.equals(configBytes)).toBe(true);
    expect(back.config).toEqual(JSON.parse(configBytes.toString()));
    expect(back.layers[0].diffId).toBe(layer.diffId);
    const next = composeImage({ base: back, layers: [], os: "linux", architecture: "amd64" });
    expect(next.config.config).toMatchObject({
      Healthcheck: DOCKER_CONFIG.config.Healthcheck,
      OnBuild: null,
      ArgsEscaped: true,
    });
    expect(next.config.history?.[0]).toMatchObject({ author: "someone" });
    expect(diffIdsOf(next.config)).toEqual([layer.diffId]);
  });
});
