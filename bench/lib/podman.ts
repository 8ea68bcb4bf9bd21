/**
 * A private podman (or buildah) for the P9 and P13 peers: its own storage (--root/--runroot under the work directory, overlay, or vfs
 * where overlay cannot mount), a containers.conf with runc and the ulimits this sandbox allows (see
 * /work/shared/ENVIRONMENT.md), no network for builds. Nothing it does touches the machine's default podman
 * storage; `remove()` deletes every image and the storage itself.
 */
import { spawnSync } from "node:child_process";
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { run, type RunResult } from "./measure";

export type Driver = "overlay" | "vfs";

export interface Podman {
  driver: Driver;
  run(args: string[], o?: { cwd?: string }): Promise<RunResult>;
  ok(args: string[], o?: { cwd?: string }): Promise<RunResult>;
  /** Removes every image and unmounts and deletes the storage. */
  remove(): void;
}

export function have(tool: "podman" | "buildah"): boolean {
  return spawnSync(tool, ["--version"], { stdio: "ignore" }).status === 0;
}

/** podman or buildah (the same global storage flags and configuration files) with its own storage in `dir`. */
export function containerTool(dir: string, driver: Driver, tool: "podman" | "buildah" = "podman"): Podman {
  const root = join(dir, "root");
  const runroot = join(dir, "runroot");
  mkdirSync(root, { recursive: true });
  mkdirSync(runroot, { recursive: true });
  const conf = join(dir, "containers.conf");
  writeFileSync(
    conf,
    `[containers]\ndefault_ulimits = ["nofile=20000:20000", "nproc=4096:4096"]\n[engine]\nruntime = "runc"\n`,
  );
  const storage = join(dir, "storage.conf");
  writeFileSync(storage, `[storage]\ndriver = "${driver}"\ngraphroot = "${root}"\nrunroot = "${runroot}"\n`);
  const env = { ...process.env, CONTAINERS_CONF: conf, CONTAINERS_STORAGE_CONF: storage };
  const global = ["--root", root, "--runroot", runroot, "--storage-driver", driver];
  const p: Podman = {
    driver,
    run: (args, o = {}) => run(tool, [...global, ...args], { cwd: o.cwd, env }),
    ok: async (args, o = {}) => {
      const r = await p.run(args, o);
      if (r.code !== 0)
        throw new Error(
          `${tool} ${args.join(" ")} exited ${r.code}:\n${r.stdout.slice(-2000)}\n${r.stderr.slice(-3000)}`,
        );
      return r;
    },
    remove: () => {
      spawnSync(tool, [...global, "rmi", "--all", "--force"], { env, stdio: "ignore", timeout: 120_000 });
      // Layers still mounted (an interrupted build) would make the directory impossible to delete.
      const mounts = readFileSync("/proc/mounts", "utf8")
        .split("\n")
        .map((l) => l.split(" ")[1])
        .filter((m) => m && (m.startsWith(root) || m.startsWith(runroot)))
        .sort((a, b) => b.length - a.length);
      for (const m of mounts) spawnSync("umount", ["-l", m], { stdio: "ignore" });
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return p;
}

/**
 * A podman with its own storage in `dir` holding `layout` (an OCI layout whose directory name is lower case) as `ref`: overlay when an image can
 * be pulled into it, else vfs (which copies every layer's whole file system, so it is slower; the row says which).
 */
export async function podmanWithBase(dir: string, layout: string, ref: string): Promise<Podman> {
  if (!have("podman"))
    throw new Error("podman is not installed (apt-get install podman): the podman peer cannot run here");
  let lastError = "";
  for (const driver of ["overlay", "vfs"] as const) {
    const p = containerTool(join(dir, driver), driver);
    // A relative path: podman names the image after it, and an absolute one may hold upper-case letters.
    const pulled = await p.run(["pull", "-q", `oci:${basename(layout)}:latest`], { cwd: dirname(layout) });
    if (pulled.code === 0) {
      await p.ok(["tag", pulled.stdout.trim().split("\n").pop()!, ref]);
      return p;
    }
    lastError = pulled.stderr.slice(-1500);
    p.remove();
  }
  throw new Error(`podman cannot load the base into its own storage with overlay or vfs: ${lastError}`);
}
