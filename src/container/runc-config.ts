/**
 * The OCI runtime config (config.json) the runner gives runc. Built from scratch, not from `runc spec`, with
 * what works on our machines (shared ENVIRONMENT.md):
 *  - no `process.rlimits` (raising limits needs CAP_SYS_RESOURCE, which the sandbox lacks; the container
 *    inherits the runner's), `terminal: false` (output goes through pipes), `noNewPrivileges`;
 *  - namespaces pid, ipc, uts, mount, and network unless `network: "host"` (with "none" the container has only
 *    a loopback interface, which runc brings up); a user namespace mapping the caller to root when not root;
 *  - /proc, a tmpfs /dev with pts, shm and mqueue, read-only /sys, a tmpfs /tmp (1777); the root filesystem is
 *    writable (an overlay or a copy of the cached rootfs, see rootfs.ts);
 *  - with host networking, the host's /etc/resolv.conf and /etc/hosts (read-only), as docker does;
 *  - docker's default capability set, and the masked and read-only /proc paths of `runc spec`;
 *  - bind mounts `rbind` plus `ro` when read-only (runc remounts them read-only).
 * There is no port mapping under plain runc: with network "host" a port the program listens on is the host's.
 */
import { existsSync } from "node:fs";
import { mountPathProblem } from "../deploy/path-checks";
import { PipelineError } from "../errors";
import type { ProcessSpec } from "./process-spec";

export interface BindMount {
  /** Host path. */
  source: string;
  /** Absolute path in the container. */
  destination: string;
  readonly: boolean;
}

export interface RuncConfigInput {
  process: ProcessSpec;
  /** Root filesystem path (absolute, or relative to the bundle). */
  rootPath: string;
  hostname: string;
  network: "host" | "none";
  mounts: BindMount[];
  /** Runs as a non-root user: adds a user namespace that maps the caller to root (rootless runc). */
  rootless?: { uid: number; gid: number };
  /** A tmpfs for HOME when the image has no such directory. */
  homeTmpfs?: boolean;
  /** cgroup limits (root only: rootless runc cannot set them). */
  cgroup?: CgroupLimits;
}

/** Memory and CPU limits of a container (the spec's `resources`, src/container/deployment.ts). */
export interface CgroupLimits {
  memoryBytes?: number;
  /** Cores, e.g. 0.5 (a CFS quota per 100 ms period). */
  cpus?: number;
}

const CPU_PERIOD = 100_000;

const CAPS = [
  "CAP_CHOWN",
  "CAP_DAC_OVERRIDE",
  "CAP_FSETID",
  "CAP_FOWNER",
  "CAP_MKNOD",
  "CAP_NET_RAW",
  "CAP_SETGID",
  "CAP_SETUID",
  "CAP_SETFCAP",
  "CAP_SETPCAP",
  "CAP_NET_BIND_SERVICE",
  "CAP_SYS_CHROOT",
  "CAP_KILL",
  "CAP_AUDIT_WRITE",
];

const MASKED = [
  "/proc/acpi",
  "/proc/asound",
  "/proc/kcore",
  "/proc/keys",
  "/proc/latency_stats",
  "/proc/timer_list",
  "/proc/timer_stats",
  "/proc/sched_debug",
  "/sys/firmware",
  "/proc/scsi",
];
const READONLY = ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"];

/** Destinations the runner manages itself; a bind mount may not replace them. */

export function checkMount(m: BindMount, what: string): void {
  // The one mount-path rule of specs, `run --mount` and `deploy --render` (src/deploy/path-checks.ts).
  const problem = mountPathProblem(m.destination);
  if (problem)
    throw new PipelineError(
      "E_BAD_MOUNT",
      `${what}: the container path ${problem} (got ${JSON.stringify(m.destination)})`,
    );
  if (!existsSync(m.source))
    throw new PipelineError("E_BAD_MOUNT", `${what}: host path ${JSON.stringify(m.source)} does not exist`);
}

export function runcConfig(i: RuncConfigInput): Record<string, unknown> {
  const caps = i.rootless ? CAPS.filter((c) => c !== "CAP_MKNOD") : CAPS;
  const mounts: Record<string, unknown>[] = [
    { destination: "/proc", type: "proc", source: "proc" },
    {
      destination: "/dev",
      type: "tmpfs",
      source: "tmpfs",
      options: ["nosuid", "strictatime", "mode=755", "size=65536k"],
    },
    {
      destination: "/dev/pts",
      type: "devpts",
      source: "devpts",
      options: ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", ...(i.rootless ? [] : ["gid=5"])],
    },
    {
      destination: "/dev/shm",
      type: "tmpfs",
      source: "shm",
      options: ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"],
    },
    { destination: "/dev/mqueue", type: "mqueue", source: "mqueue", options: ["nosuid", "noexec", "nodev"] },
    i.rootless
      ? { destination: "/sys", type: "none", source: "/sys", options: ["rbind", "nosuid", "noexec", "nodev", "ro"] }
      : { destination: "/sys", type: "sysfs", source: "sysfs", options: ["nosuid", "noexec", "nodev", "ro"] },
    { destination: "/tmp", type: "tmpfs", source: "tmpfs", options: ["nosuid", "nodev", "mode=1777"] },
  ];
  if (i.homeTmpfs && i.process.home !== "/" && i.process.home !== "/tmp") {
    mounts.push({
      destination: i.process.home,
      type: "tmpfs",
      source: "tmpfs",
      options: ["nosuid", "nodev", "mode=700", `uid=${i.process.user.uid}`, `gid=${i.process.user.gid}`],
    });
  }
  if (i.network === "host") {
    for (const f of ["/etc/resolv.conf", "/etc/hosts"]) {
      if (existsSync(f)) mounts.push({ destination: f, type: "bind", source: f, options: ["rbind", "ro"] });
    }
  }
  for (const m of i.mounts) {
    mounts.push({
      destination: m.destination,
      type: "bind",
      source: m.source,
      options: ["rbind", m.readonly ? "ro" : "rw"],
    });
  }
  const namespaces: { type: string }[] = [{ type: "pid" }, { type: "ipc" }, { type: "uts" }, { type: "mount" }];
  if (i.network !== "host") namespaces.push({ type: "network" });
  const linux: Record<string, unknown> = {
    namespaces,
    maskedPaths: MASKED,
    readonlyPaths: READONLY,
  };
  if (i.rootless) {
    namespaces.push({ type: "user" });
    linux.uidMappings = [{ containerID: 0, hostID: i.rootless.uid, size: 1 }];
    linux.gidMappings = [{ containerID: 0, hostID: i.rootless.gid, size: 1 }];
  } else {
    const resources: Record<string, unknown> = { devices: [{ allow: false, access: "rwm" }] };
    if (i.cgroup?.memoryBytes) resources.memory = { limit: i.cgroup.memoryBytes };
    if (i.cgroup?.cpus)
      resources.cpu = { quota: Math.max(1000, Math.round(i.cgroup.cpus * CPU_PERIOD)), period: CPU_PERIOD };
    linux.resources = resources;
  }
  return {
    ociVersion: "1.0.2",
    process: {
      terminal: false,
      user: i.process.user,
      args: i.process.args,
      env: i.process.env,
      cwd: i.process.cwd,
      capabilities: { bounding: caps, effective: caps, permitted: caps },
      noNewPrivileges: true,
    },
    root: { path: i.rootPath, readonly: false },
    hostname: i.hostname,
    mounts,
    linux,
  };
}
