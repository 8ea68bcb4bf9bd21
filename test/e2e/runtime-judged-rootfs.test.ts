/**
 * Issue #24, item 4: every runtime runs the root filesystem the runner unpacked and judged, not the image's layers
 * as an engine would extract them. The image (test/corpus/privileged.ts) says `User 1000:1000` and ships a
 * setuid-root copy of node (its entrypoint), a setgid file, a character device and a file owned by 1234 in the
 * tar. Through the real CLI (`pipeline run --image oci:DIR`) under runc, podman and docker (the docker CLI against
 * `podman system service`), as root, the program must see the same thing everywhere: uid and euid 1000, no
 * setuid/setgid bit, no device node, no owner from the tar. Before the fix podman ran it with euid 0, the device
 * present and the owner applied.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, lstatSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildHostNodeBase } from "../../src/base/host-node";
import { readLayout } from "../../src/layout/read";
import { writeLayout } from "../../src/layout/write";
import { podmanGlobalArgs, onPath } from "../../src/container/engine-cli";
import { privilegedImage, SETUID_NODE } from "../corpus/privileged";
import { execProgram, runCli } from "../fixtures/cli";
import { mountsUnder } from "../fixtures/runner";

const tmp = mkdtempSync(join(tmpdir(), "rp-e2e-judged-"));
const layout = join(tmp, "layout");
const cache = join(tmp, "cache");
const dockerStore = join(tmp, "docker-daemon");
const dockerHost = `unix://${join(dockerStore, "docker.sock")}`;
let service: ChildProcess | undefined;

/** What the program must see under every runtime. */
const JUDGED = {
  uid: 1000,
  euid: 1000,
  gid: 1000,
  egid: 1000,
  node: { mode: "755", uid: 0, type: "file" },
  sgid: { mode: "755", uid: 0, type: "file" },
  dev: "ENOENT",
  owned: { mode: "644", uid: 0, type: "file" },
};

const env = () => ({
  PATH: process.env.PATH,
  HOME: join(tmp, "home"),
  CI: "1",
  PIPELINE_CACHE_DIR: cache,
  DOCKER_HOST: dockerHost,
});

async function probe(runtime: string): Promise<unknown> {
  const r = await runCli(["run", "--image", `oci:${layout}`, "--runtime", runtime], { env: env() });
  expect(r.code, r.stdout + r.stderr).toBe(0);
  return JSON.parse(r.stdout.trim().split("\n").pop() ?? "");
}

beforeAll(async () => {
  expect(process.getuid?.()).toBe(0); // as root: an engine that applied the tar's modes and owners would run euid 0
  await buildHostNodeBase(join(tmp, "base"));
  await writeLayout(layout, privilegedImage(readLayout(join(tmp, "base"), { refName: "latest" }), tmp));
}, 120_000);

afterAll(async () => {
  for (const store of [cache, dockerStore]) {
    if (existsSync(join(store, "podman")))
      await execProgram("podman", [...podmanGlobalArgs(store), "rm", "--all", "--force", "--time", "0"]);
  }
  if (service) {
    service.kill("SIGTERM");
    await new Promise((r) => service!.once("close", r));
  }
  for (const m of mountsUnder(tmp).reverse()) await execProgram("umount", [m.split(" ")[1]]);
  rmSync(tmp, { recursive: true, force: true });
});

describe("a setuid-root node, a device and tar owners in an image with User 1000:1000", () => {
  it("runc: runs as 1000 with no setuid bit, no device node, no owner from the tar", async () => {
    expect(await probe("runc")).toEqual(JUDGED);
  });

  it("podman: the same (it runs the judged rootfs, not its own extraction of the layers), and the cached rootfs is not written", async () => {
    const rootfs = join(cache, "rootfs");
    expect(await probe("podman")).toEqual(JUDGED);
    const [entry] = (await execProgram("ls", [rootfs])).stdout.trim().split("\n");
    // podman writes /etc/passwd, /etc/hosts, /run/.containerenv into the container's root: never into the cache.
    expect(existsSync(join(rootfs, entry, "run", ".containerenv"))).toBe(false);
    expect(lstatSync(join(rootfs, entry, SETUID_NODE)).mode & 0o7777).toBe(0o755);
    // And no copy of the image's layers in podman's own store.
    const images = await execProgram("podman", [...podmanGlobalArgs(cache), "images", "--quiet"]);
    expect(images.stdout.trim()).toBe("");
  });

  it.skipIf(!onPath("docker"))(
    "docker (podman's Docker API): the same, from an image imported from the judged rootfs",
    async () => {
      mkdirSync(dockerStore, { recursive: true });
      service = spawn("podman", [...podmanGlobalArgs(dockerStore), "system", "service", "--time=0", dockerHost], {
        stdio: "ignore",
      });
      for (let i = 0; i < 100 && !existsSync(join(dockerStore, "docker.sock")); i++)
        await new Promise((r) => setTimeout(r, 100));
      expect(await probe("docker")).toEqual(JUDGED);
    },
  );
});
