/**
 * The host-Node base image, end to end: built twice (same digest), read by skopeo and by our layout
 * reader, unpacked by umoci and run by runc, as root and as the image's `node` user.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildHostNodeBase, DEFAULT_PATH_ENV, HOST_NODE_DESCRIPTION } from "../../src/base/host-node";
import { readLayout } from "../../src/layout/read";

function run(cmd: string, args: string[], opts: { cwd?: string; timeout?: number } = {}) {
  const r = spawnSync(cmd, args, { encoding: "utf8", timeout: opts.timeout ?? 120_000, cwd: opts.cwd });
  if (r.error) throw r.error;
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

let tmp: string;
let layoutA: string;
let digestA: string;

beforeAll(async () => {
  tmp = mkdtempSync(join(tmpdir(), "rp-e2e-host-node-"));
  layoutA = join(tmp, "a");
  ({ digest: digestA } = await buildHostNodeBase(layoutA));
});

afterAll(() => {
  rmSync(tmp, { recursive: true, force: true });
});

describe("host Node base image", () => {
  it("is reproducible: a second build elsewhere gives the same digest; another mtime does not", async () => {
    const { digest } = await buildHostNodeBase(join(tmp, "b"));
    expect(digest).toBe(digestA);
    expect(readFileSync(join(tmp, "b", "index.json"), "utf8")).toBe(readFileSync(join(layoutA, "index.json"), "utf8"));
    const other = await buildHostNodeBase(join(tmp, "c"), { mtime: 1_700_000_000 });
    expect(other.digest).not.toBe(digestA);
    const img = readLayout(join(tmp, "c"), { refName: "latest" });
    expect(img.config.created).toBe("2023-11-14T22:13:20Z");
  });

  it("has the expected config and two layers", () => {
    const img = readLayout(layoutA, { refName: "latest" });
    expect(img.digest).toBe(digestA);
    expect(img.config.created).toBe("1970-01-01T00:00:00Z");
    expect(img.config.os).toBe("linux");
    expect(img.config.architecture).toBe(process.arch === "x64" ? "amd64" : process.arch);
    expect(img.config.config?.Env).toEqual([DEFAULT_PATH_ENV]);
    expect(img.config.config?.Cmd).toEqual(["node"]);
    expect(img.config.config?.Labels?.["org.opencontainers.image.description"]).toBe(HOST_NODE_DESCRIPTION);
    expect(img.layers).toHaveLength(2);
    expect(img.config.rootfs?.diff_ids).toEqual(img.layers.map((l) => l.diffId));
  });

  it("is read by skopeo", () => {
    const r = run("skopeo", ["inspect", `oci:${layoutA}:latest`]);
    expect(r.code, r.stderr).toBe(0);
    const info = JSON.parse(r.stdout);
    expect(info.Digest).toBe(digestA);
    expect(info.Os).toBe("linux");
    expect(info.Created).toBe("1970-01-01T00:00:00Z");
    expect(info.Layers).toHaveLength(2);
  });

  describe("under runc", () => {
    let bundle: string;
    const stateRoot = () => join(tmp, "runc-state");

    beforeAll(() => {
      bundle = join(tmp, "bundle");
      // We are root here, so a plain unpack keeps the layer's owners (/home/node belongs to 1000);
      // `umoci unpack --rootless` works as well but maps every file to the caller.
      const r = run("umoci", ["unpack", "--image", `${layoutA}:latest`, bundle]);
      expect(r.code, r.stderr).toBe(0);
    });

    function runIn(args: string[], user?: { uid: number; gid: number; home: string }) {
      const cfgPath = join(bundle, "config.json");
      const cfg = JSON.parse(readFileSync(cfgPath, "utf8"));
      delete cfg.process.rlimits; // the sandbox cannot raise limits (no CAP_SYS_RESOURCE)
      cfg.process.terminal = false;
      cfg.process.args = args;
      if (user) {
        cfg.process.user = { uid: user.uid, gid: user.gid };
        cfg.process.env = [...cfg.process.env.filter((e: string) => !e.startsWith("HOME=")), `HOME=${user.home}`];
      }
      writeFileSync(cfgPath, JSON.stringify(cfg));
      const id = `rp-host-node-${process.pid}-${Date.now()}`;
      try {
        return run("runc", ["--root", stateRoot(), "run", id], { cwd: bundle, timeout: 60_000 });
      } finally {
        run("runc", ["--root", stateRoot(), "delete", "--force", id]);
      }
    }

    it("runs the host's node", () => {
      const r = runIn(["/usr/local/bin/node", "-e", "console.log(process.version)"]);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toBe(`${process.version}\n`);
    });

    it("has the filesystem a Node program expects: /tmp 1777, a node user with a writable home, CA certificates", () => {
      const rootfs = join(bundle, "rootfs");
      expect(statSync(join(rootfs, "tmp")).mode & 0o7777).toBe(0o1777);
      expect(statSync(join(rootfs, "home/node")).uid).toBe(1000);
      const script = [
        "const os = require('os'), fs = require('fs');",
        "fs.writeFileSync(os.homedir() + '/x', 'h'); fs.writeFileSync('/tmp/y', 't');",
        "const certs = fs.existsSync('/etc/ssl/certs/ca-certificates.crt');",
        "console.log(JSON.stringify({ user: os.userInfo().username, uid: process.getuid(), home: os.homedir(), certs, path: process.env.PATH }));",
      ].join(" ");
      const r = runIn(["node", "-e", script], { uid: 1000, gid: 1000, home: "/home/node" });
      expect(r.code, r.stderr).toBe(0);
      const out = JSON.parse(r.stdout);
      expect(out).toMatchObject({
        user: "node",
        uid: 1000,
        home: "/home/node",
        path: DEFAULT_PATH_ENV.slice("PATH=".length),
      });
      let hostHasCerts = true;
      try {
        statSync("/etc/ssl/certs/ca-certificates.crt");
      } catch {
        hostHasCerts = false;
      }
      expect(out.certs).toBe(hostHasCerts);
    });
  });
});
