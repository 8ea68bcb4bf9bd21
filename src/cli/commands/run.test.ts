import { describe, expect, it } from "vitest";
import { parseEnvFlags, parseMountFlags, run } from "./run";
import type { CliIo } from "../io";

const io: CliIo = { stdout: () => undefined, stderr: () => undefined, env: {}, cwd: "/work", isTTY: false, readStdin: async () => "" };

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
    expect(() => parseMountFlags(["d:data"], "/w")).toThrow(/"data" must be absolute/);
  });

  it("wants a spec or --image; --image with a spec replaces the spec's image (checked after the spec is read)", async () => {
    await expect(run({}, io)).rejects.toThrow(/name a deployment spec/);
    await expect(run({ spec: "s.yaml", image: "x" }, io)).rejects.toThrow(/s\.yaml: cannot read the deployment spec/);
    await expect(run({ spec: "s.yaml", replicas: 2 }, io)).rejects.toThrow(/go with --image/);
  });
});
