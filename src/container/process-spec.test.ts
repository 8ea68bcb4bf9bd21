import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ImageConfig } from "../oci/types";
import { DEFAULT_PATH, processSpec, resolveUser } from "./process-spec";
import { inContainer } from "../runtime";

let root: string;
beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), "rp-procspec-"));
  mkdirSync(join(root, "etc"));
  writeFileSync(join(root, "etc/passwd"), "root:x:0:0:root:/root:/bin/sh\nnode:x:1000:1001:node:/home/node:/bin/sh\n");
  writeFileSync(join(root, "etc/group"), "root:x:0:\nstaff:x:50:\n");
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

const cfg = (config: ImageConfig["config"]): ImageConfig => ({
  architecture: "amd64",
  os: "linux",
  rootfs: { type: "layers", diff_ids: [] },
  config,
});

describe("processSpec", () => {
  it("follows Kubernetes semantics: command replaces Entrypoint and drops Cmd, args replace Cmd", () => {
    const c = cfg({ Entrypoint: ["node"], Cmd: ["main.js"], Env: ["A=1", "PATH=/bin"], WorkingDir: "/app" });
    expect(processSpec(c, root, {}).args).toEqual(["node", "main.js"]);
    expect(processSpec(c, root, { args: ["other.js", "x"] }).args).toEqual(["node", "other.js", "x"]);
    expect(processSpec(c, root, { command: ["sh", "-c"] }).args).toEqual(["sh", "-c"]);
    expect(processSpec(c, root, { command: ["sh"], args: ["-c", "true"] }).args).toEqual(["sh", "-c", "true"]);
    const p = processSpec(c, root, { env: { A: "2", B: "3" }, workingDir: "/tmp" });
    expect(p.env).toEqual(["A=2", "PATH=/bin", "B=3", "HOME=/root", "PIPELINE_IN_CONTAINER=1"]);
    expect(p.cwd).toBe("/tmp");
  });

  it("fills PATH, HOME and PIPELINE_IN_CONTAINER, and refuses what cannot run", () => {
    const p = processSpec(cfg({ Cmd: ["x"], User: "node" }), root, {});
    expect(p.env).toEqual([`PATH=${DEFAULT_PATH}`, "HOME=/home/node", "PIPELINE_IN_CONTAINER=1"]);
    expect(p.user).toEqual({ uid: 1000, gid: 1001 });
    expect(() => processSpec(cfg({}), root, {})).toThrow(/nothing to run/);
    expect(() => processSpec(cfg({ Cmd: ["x"] }), root, { workingDir: "rel" })).toThrow(/"rel"/);
    expect(() => processSpec(cfg({ Cmd: ["x"] }), root, { env: { "A=B": "1" } })).toThrow(/"A=B"/);
  });

  it("inContainer() is true in every container of the local runner (`pipeline run --image`), not only runInContainer's", () => {
    const env = Object.fromEntries(
      processSpec(cfg({ Cmd: ["x"] }), root, {}).env.map((e) => e.split(/=(.*)/s).slice(0, 2)),
    );
    expect(inContainer(env)).toBe(true);
    // The caller's value stays (a test of the launch script's other branch can still turn it off).
    expect(processSpec(cfg({ Cmd: ["x"] }), root, { env: { PIPELINE_IN_CONTAINER: "0" } }).env).toContain(
      "PIPELINE_IN_CONTAINER=0",
    );
  });
});

describe("resolveUser", () => {
  it("reads names from the image's passwd and group, numbers as they are", () => {
    expect(resolveUser(root, "")).toEqual({ uid: 0, gid: 0, home: "/root" });
    expect(resolveUser(root, "node:staff")).toEqual({ uid: 1000, gid: 50, home: "/home/node" });
    expect(resolveUser(root, "4242:7")).toEqual({ uid: 4242, gid: 7, home: "/" });
    expect(resolveUser(root, "1000")).toEqual({ uid: 1000, gid: 1001, home: "/home/node" });
    expect(() => resolveUser(root, "nobody")).toThrow(/User "nobody": no user "nobody"/);
    expect(() => resolveUser(root, "node:wheel")).toThrow(/no group "wheel"/);
  });

  it("does not follow a symlinked /etc/passwd out of the image", () => {
    const other = mkdtempSync(join(tmpdir(), "rp-procspec-link-"));
    try {
      mkdirSync(join(other, "etc"));
      symlinkSync("/etc/passwd", join(other, "etc/passwd"));
      expect(() => resolveUser(other, "root")).toThrow(/no user "root"/);
    } finally {
      rmSync(other, { recursive: true, force: true });
    }
  });
});
