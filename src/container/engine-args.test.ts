import { describe, expect, it } from "vitest";
import { PipelineError } from "../errors";
import { chmodSync, chownSync, mkdirSync, mkdtempSync, rmSync, statSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ownPrivateDirSync, podmanDirs, podmanGlobalArgs } from "./engine-cli";
import { type EngineContainerSpec, engineRunArgs, splitEnv } from "./engine-args";

const spec = (over: Partial<EngineContainerSpec> = {}): EngineContainerSpec => ({
  engine: "podman",
  id: "rp-x-1-abcdef12",
  hostname: "x",
  root: { rootfs: "/runs/x/rootfs" },
  process: {
    args: ["node", "/app/main.js", "a"],
    env: ["PATH=/bin", "SECRET=s3cret"],
    cwd: "/app",
    user: { uid: 1000, gid: 1000 },
    home: "/home/node",
  },
  mounts: [{ source: "/data", destination: "/d", readonly: true }],
  network: "none",
  homeTmpfs: true,
  ulimits: { nofile: "20000:20000" },
  envFile: "/runs/x/env",
  ...over,
});

describe("splitEnv", () => {
  it("passes values by name, except names the engine reads itself, which go to the env file", () => {
    const s = splitEnv(["PATH=/bin", "FOO=a=b", "MULTI=x\ny", "HOME=/root", "http_proxy=p", "LD_PRELOAD=", "XDG_X=1"]);
    expect(s.byName).toEqual({ FOO: "a=b", MULTI: "x\ny" });
    expect(s.fileLines).toEqual(["PATH=/bin", "HOME=/root", "http_proxy=p", "LD_PRELOAD=", "XDG_X=1"]);
  });
  it("refuses a line break in a value that must go to the env file, naming the variable", () => {
    let err: unknown;
    try {
      splitEnv(["HOME=/a\n/b"]);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(PipelineError);
    expect((err as PipelineError).code).toBe("E_BAD_ENV");
    expect((err as PipelineError).message).toContain("env HOME:");
  });
});

describe("splitEnv with podman secrets", () => {
  it("makes the caller's non-empty values secrets named after the container; the image's stay plain", () => {
    const s = splitEnv(["PATH=/bin", "HOME=/root", "TOKEN=t0k", "HTTPS_PROXY=http://u:p@h", "EMPTY=", "IMAGE_VAR=x"], {
      containerId: "rp-x-1-abcdef12",
      privateNames: new Set(["TOKEN", "HTTPS_PROXY", "EMPTY"]),
    });
    expect(s.secrets).toEqual([
      { name: "rp-x-1-abcdef12.env0", target: "TOKEN", value: "t0k" },
      { name: "rp-x-1-abcdef12.env1", target: "HTTPS_PROXY", value: "http://u:p@h" },
    ]);
    expect(s.byName).toEqual({ EMPTY: "", IMAGE_VAR: "x" });
    expect(s.fileLines).toEqual(["PATH=/bin", "HOME=/root"]);
  });
  it("takes a line break in a secret value even under a name the engine reads", () => {
    const s = splitEnv(["HOME=/a\n/b"], { containerId: "rp-x-1-abcdef12", privateNames: new Set(["HOME"]) });
    expect(s.secrets?.map((x) => x.target)).toEqual(["HOME"]);
  });
});

describe("engineRunArgs", () => {
  it("cgroup limits become --memory (bytes) and --cpus", () => {
    const s = spec({ cgroup: { memoryBytes: 134217728, cpus: 1.5 } });
    const args = engineRunArgs(s, splitEnv(s.process.env));
    expect(args.join(" ")).toContain("--memory 134217728b --cpus 1.5");
    expect(engineRunArgs(spec(), splitEnv(spec().process.env))).not.toContain("--memory");
  });

  it("podman: --rm, exact env, user-owned home tmpfs, JSON entrypoint; values never on the command line", () => {
    const s = spec();
    const args = engineRunArgs(s, splitEnv(s.process.env));
    expect(args.slice(0, 4)).toEqual(["run", "--rm", "--name", "rp-x-1-abcdef12"]);
    expect(args).toContain("--unsetenv-all");
    expect(args.join(" ")).toContain("--tmpfs /home/node:rw,nosuid,nodev,mode=700,U");
    expect(args.join(" ")).toContain(
      "--env-file /runs/x/env --env SECRET --mount type=bind,source=/data,destination=/d,readonly",
    );
    expect(args.slice(-6)).toEqual(["--entrypoint", '["node"]', "--rootfs", "/runs/x/rootfs", "/app/main.js", "a"]);
    expect(args.join(" ")).not.toContain("s3cret");
    expect(args.join(" ")).toContain("--log-driver none");
  });
  it("podman: the caller's values as --secret NAME,type=env,target=VAR, never as --env", () => {
    const s = spec();
    const args = engineRunArgs(s, splitEnv(s.process.env, { containerId: s.id, privateNames: new Set(["SECRET"]) }));
    expect(args.join(" ")).toContain("--secret rp-x-1-abcdef12.env0,type=env,target=SECRET");
    expect(args).not.toContain("SECRET");
    expect(args.join(" ")).not.toContain("s3cret");
  });
  it("docker: no --rm (the runner waits and removes), plain entrypoint, mode 1777 home", () => {
    const s = spec({ engine: "docker", root: { image: "sha256:abc" } });
    const args = engineRunArgs(s, splitEnv(s.process.env));
    expect(args).not.toContain("--rm");
    expect(args).not.toContain("--unsetenv-all");
    expect(args.join(" ")).toContain("--tmpfs /home/node:rw,nosuid,nodev,mode=1777");
    expect(args.slice(-5)).toEqual(["--entrypoint", "node", "sha256:abc", "/app/main.js", "a"]);
  });
  it("podman: the root is always a directory the runner unpacked (--rootfs), given user, workdir and entrypoint explicitly", () => {
    const s = spec();
    const args = engineRunArgs(s, splitEnv(s.process.env));
    expect(args.join(" ")).toContain("--user 1000:1000 --workdir /app");
    expect(args).not.toContain("sha256:abc");
    expect(() => engineRunArgs(spec({ root: { rootfs: "/runs/x/rootfs:O" } }), { byName: {}, fileLines: [] })).toThrow(
      /has a ':' in its last component/,
    );
    expect(() => engineRunArgs(spec({ engine: "docker" }), { byName: {}, fileLines: [] })).toThrow(
      /docker cannot run a root filesystem directory/,
    );
  });
  it("refuses a mount path with a comma, naming the mount", () => {
    expect(() =>
      engineRunArgs(spec({ mounts: [{ source: "/a,b", destination: "/d", readonly: false }] }), {
        byName: {},
        fileLines: [],
      }),
    ).toThrow(/mount \/a,b:\/d/);
  });
});

describe("podman's directories", () => {
  it("keeps everything under the cache, and a runroot of at most 50 characters", () => {
    expect(podmanDirs("/c")).toEqual({
      root: "/c/podman/root",
      runroot: "/c/podman/run",
      tmpdir: "/c/podman/tmp",
      networks: "/c/podman/networks",
    });
    const long = `/home/someone/${"x".repeat(40)}/cache`;
    const d = podmanDirs(long, { XDG_RUNTIME_DIR: "/run/user/1000" });
    expect(d.root).toBe(`${long}/podman/root`);
    expect(d.runroot.length).toBeLessThanOrEqual(50);
    expect(d.runroot).toMatch(/rules_pipeline-podman-[0-9a-f]{12}$/);
    expect(podmanDirs(long, { XDG_RUNTIME_DIR: "/run/user/1000" }).runroot).toBe(d.runroot);
  });
  it("a runroot in a shared directory must be this user's private directory: another user's, a link or an open one is refused", () => {
    const shared = mkdtempSync(join(tmpdir(), "rp-podman-shared-"));
    try {
      chmodSync(shared, 0o1777);
      const fresh = join(shared, "fresh");
      ownPrivateDirSync(fresh);
      expect(statSync(fresh).mode & 0o777).toBe(0o700);
      ownPrivateDirSync(fresh); // again: still ours
      const open = join(shared, "open");
      mkdirSync(open, { mode: 0o755 });
      chmodSync(open, 0o755);
      expect(() => ownPrivateDirSync(open)).toThrow(/must be a private directory of this user .* mode 755/);
      const link = join(shared, "link");
      symlinkSync(fresh, link);
      expect(() => ownPrivateDirSync(link)).toThrow(/a symbolic link/);
      if (process.getuid?.() === 0) {
        const theirs = join(shared, "theirs");
        mkdirSync(theirs, { mode: 0o700 });
        chownSync(theirs, 65534, 65534);
        expect(() => ownPrivateDirSync(theirs)).toThrow(/of uid 65534/);
      }
    } finally {
      rmSync(shared, { recursive: true, force: true });
    }
  });
  it("runs runc with its state under the runroot when runc is on PATH, else podman's own runtime", () => {
    expect(podmanGlobalArgs("/c", { PATH: "/nonexistent" })).not.toContain("--runtime");
    expect(podmanGlobalArgs("/c", { PATH: "/nonexistent" })).toContain("--events-backend");
  });
});
