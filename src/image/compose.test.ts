import { describe, expect, test } from "vitest";
import { bufferBlob } from "../layer/blob";
import { sha256 } from "../oci/digest";
import { MediaType } from "../oci/types";
import { composeImage } from "./compose";

const layer = (s: string) => ({
  layer: { ...bufferBlob(Buffer.from(s), MediaType.OCI_LAYER), diffId: sha256(s) },
  createdBy: s,
});

describe("composeImage", () => {
  const base = composeImage({
    layers: [layer("base")],
    cmd: ["node"],
    env: { PATH: "/usr/bin", LANG: "C" },
    labels: { from: "base" },
  });

  test("keeps base layers first and as they are, resets Cmd when it sets an entrypoint", () => {
    const img = composeImage({
      base,
      layers: [layer("deps"), layer("app")],
      entrypoint: ["node", "/app/main.js"],
      workdir: "/app",
    });
    expect(img.manifest.layers.map((l) => l.digest)).toEqual(
      [...base.layers, ...img.layers.slice(1)].map((l) => l.digest),
    );
    expect(img.config.rootfs?.diff_ids).toEqual([sha256("base"), sha256("deps"), sha256("app")]);
    expect(img.config.config?.Cmd).toEqual([]);
    expect(img.config.config?.Entrypoint).toEqual(["node", "/app/main.js"]);
    expect(img.manifest.annotations?.["org.opencontainers.image.base.digest"]).toBe(base.digest);
  });

  test("env: same keys replace the base's in place, new keys are appended sorted", () => {
    const img = composeImage({ base, layers: [], env: { Z: "1", PATH: "/app/bin:/usr/bin", A: "2" } });
    expect(base.config.config?.Env).toEqual(["LANG=C", "PATH=/usr/bin"]);
    expect(img.config.config?.Env).toEqual(["LANG=C", "PATH=/app/bin:/usr/bin", "A=2", "Z=1"]);
  });

  test("is deterministic, and `created` follows the given epoch", () => {
    const a = composeImage({ base, layers: [layer("app")], created: 0 });
    const b = composeImage({ base, layers: [layer("app")], created: 0 });
    expect(a.digest).toBe(b.digest);
    expect(a.config.created).toBe("1970-01-01T00:00:00Z");
    expect(composeImage({ base, layers: [layer("app")], created: 1700000000 }).digest).not.toBe(a.digest);
  });

  test("bad ports and env names are refused with the value", () => {
    expect(() => composeImage({ layers: [], exposedPorts: ["http"] })).toThrow(/exposed_ports: .*got "http"/);
    expect(() => composeImage({ layers: [], env: { "A=B": "x" } })).toThrow(/invalid variable name "A=B"/);
  });

  test("volumes, user and ports are added to the base's config; a relative volume is refused", () => {
    const withVol = composeImage({ base, layers: [], volumes: ["/data"], exposedPorts: ["8080"] });
    const img = composeImage({
      base: withVol,
      layers: [],
      volumes: ["/cache"],
      user: "1000:1000",
      exposedPorts: ["53/udp"],
    });
    expect(img.config.config?.Volumes).toEqual({ "/data": {}, "/cache": {} });
    expect(img.config.config?.ExposedPorts).toEqual({ "8080/tcp": {}, "53/udp": {} });
    expect(img.config.config?.User).toBe("1000:1000");
    expect(() => composeImage({ layers: [], volumes: ["data"] })).toThrow(
      /volumes: expected an absolute path, got "data"/,
    );
  });
});
