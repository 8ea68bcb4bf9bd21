import { describe, expect, it } from "vitest";
import { checkMount, runcConfig } from "./runc-config";

const proc = { args: ["node"], env: ["PATH=/bin"], cwd: "/app", user: { uid: 1000, gid: 1000 }, home: "/home/node" };

describe("runcConfig", () => {
  it("has no rlimits, no terminal, a writable root, and the network namespace only without host networking", () => {
    const none = runcConfig({ process: proc, rootPath: "/r", hostname: "h", network: "none", mounts: [] }) as any;
    expect(none.process.rlimits).toBeUndefined();
    expect(none.process.terminal).toBe(false);
    expect(none.root).toEqual({ path: "/r", readonly: false });
    expect(none.linux.namespaces.map((n: { type: string }) => n.type)).toEqual([
      "pid",
      "ipc",
      "uts",
      "mount",
      "network",
    ]);
    const host = runcConfig({
      process: proc,
      rootPath: "/r",
      hostname: "h",
      network: "host",
      mounts: [{ source: "/src", destination: "/data", readonly: true }],
      homeTmpfs: true,
    }) as any;
    expect(host.linux.namespaces.map((n: { type: string }) => n.type)).not.toContain("network");
    expect(host.mounts).toContainEqual({
      destination: "/data",
      type: "bind",
      source: "/src",
      options: ["rbind", "ro"],
    });
    expect(host.mounts).toContainEqual({
      destination: "/tmp",
      type: "tmpfs",
      source: "tmpfs",
      options: ["nosuid", "nodev", "mode=1777"],
    });
    expect(host.mounts.find((m: { destination: string }) => m.destination === "/home/node").options).toContain(
      "uid=1000",
    );
  });

  it("maps the caller to root in a user namespace when not root", () => {
    const c = runcConfig({
      process: proc,
      rootPath: "/r",
      hostname: "h",
      network: "none",
      mounts: [],
      rootless: { uid: 1234, gid: 99 },
    }) as any;
    expect(c.linux.namespaces.map((n: { type: string }) => n.type)).toContain("user");
    expect(c.linux.uidMappings).toEqual([{ containerID: 0, hostID: 1234, size: 1 }]);
    expect(c.linux.resources).toBeUndefined();
  });
});

describe("runcConfig: cgroup limits (the spec's resources)", () => {
  it("memory and CPU quota as root; none rootless (runc cannot set them there)", () => {
    const c = runcConfig({
      process: proc,
      rootPath: "/r",
      hostname: "h",
      network: "none",
      mounts: [],
      cgroup: { memoryBytes: 128 << 20, cpus: 0.5 },
    }) as any;
    expect(c.linux.resources).toEqual({
      devices: [{ allow: false, access: "rwm" }],
      memory: { limit: 134217728 },
      cpu: { quota: 50000, period: 100000 },
    });
    const rootless = runcConfig({
      process: proc,
      rootPath: "/r",
      hostname: "h",
      network: "none",
      mounts: [],
      cgroup: { memoryBytes: 1 << 20 },
      rootless: { uid: 1, gid: 1 },
    }) as any;
    expect(rootless.linux.resources).toBeUndefined();
  });
});

describe("checkMount", () => {
  it("refuses relative, reserved and missing paths, naming them", () => {
    expect(() => checkMount({ source: "/", destination: "data", readonly: true }, "--mount x")).toThrow(
      /--mount x: .*"data"/,
    );
    expect(() => checkMount({ source: "/", destination: "/proc/", readonly: true }, "m")).toThrow(/"\/proc\/"/);
    expect(() => checkMount({ source: "/no/such/dir", destination: "/d", readonly: true }, "m")).toThrow(
      /"\/no\/such\/dir"/,
    );
    expect(() => checkMount({ source: "/", destination: "/d", readonly: true }, "m")).not.toThrow();
  });
});
