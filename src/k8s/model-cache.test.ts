/**
 * The model-cache init container's real script (/bin/sh on this machine), with a stand-in `oras` on PATH that
 * records each pull (ORAS is not installed here): a model already in the cache with the same digest is not
 * pulled again; another digest is; a failed pull leaves no marker, so the next start pulls again.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { spawnSync } from "node:child_process";
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { modelPullContainer } from "./init-containers";
import { modelCacheSubPath } from "./pod";

const D1 = `sha256:${"1".repeat(64)}`;
const D2 = `sha256:${"2".repeat(64)}`;
let tmp: string;

beforeAll(() => {
  tmp = mkdtempSync(join(tmpdir(), "model-cache-"));
  mkdirSync(join(tmp, "bin"));
  // oras pull REF -o DIR: appends REF to the log, writes DIR/weights; fails when $FAIL is set.
  writeFileSync(
    join(tmp, "bin", "oras"),
    `#!/bin/sh\necho "$2" >> "${tmp}/pulls"\n[ -z "\${FAIL:-}" ] || exit 3\necho w > "$4/weights"\n`,
  );
  chmodSync(join(tmp, "bin", "oras"), 0o755);
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function start(id: string, dir: string, env: Record<string, string> = {}) {
  const c = modelPullContainer("oras-image", { name: "model-0", id, path: dir, mounts: [], cached: true });
  const containerEnv = Object.fromEntries((c.env ?? []).map((e) => [e.name, e.value!]));
  const [cmd, ...args] = [...c.command!, ...(c.args ?? [])];
  return spawnSync(cmd, args, {
    env: { PATH: `${join(tmp, "bin")}:/usr/bin:/bin`, ...containerEnv, ...env },
    encoding: "utf8",
  });
}

const pulls = () => readFileSync(join(tmp, "pulls"), "utf8").trim().split("\n");

describe("model cache init container", () => {
  it("pulls once per digest; a restart with the model in place skips the pull", () => {
    const dir = join(tmp, "cache", "opt-models");
    mkdirSync(dir, { recursive: true });
    const id = `registry.example.com/models/resnet@${D1}`;
    const first = start(id, dir);
    expect(first.status, first.stderr).toBe(0);
    const again = start(id, dir);
    expect(again.status).toBe(0);
    expect(again.stdout).toContain(`model ${id} already in the cache at ${dir}`);
    expect(pulls()).toEqual([id]);
    const other = `registry.example.com/models/resnet@${D2}`;
    expect(start(other, dir).status).toBe(0);
    expect(pulls()).toEqual([id, other]);
  });

  it("a failed pull leaves no marker: the next start pulls again", () => {
    const dir = join(tmp, "cache", "failing");
    mkdirSync(dir, { recursive: true });
    const id = `registry.example.com/models/bert@${D1}`;
    expect(start(id, dir, { FAIL: "1" }).status).toBe(3);
    expect(start(id, dir).status).toBe(0);
    expect(pulls().filter((p) => p === id)).toHaveLength(2);
  });

  it("without a cache (or a model by tag) the container is a plain oras pull", () => {
    const plain = modelPullContainer("oras-image", { name: "m", id: `r.io/m@${D1}`, path: "/opt/models", mounts: [] });
    expect(plain.command).toEqual(["oras"]);
    const byTag = modelPullContainer("oras-image", {
      name: "m",
      id: "r.io/m:v1",
      path: "/opt/models",
      mounts: [],
      cached: true,
    });
    expect(byTag.command).toEqual(["oras"]);
  });

  it("each set of models at a path has its own directory in the cache: another digest never lands on the old files", () => {
    const a = `r.io/m@${D1}`;
    const b = `r.io/m@${D2}`;
    expect(modelCacheSubPath("/opt/models/", [a])).toMatch(/^opt-models\/m-[0-9a-f]{16}$/);
    expect(modelCacheSubPath("/opt/models", [a])).toBe(modelCacheSubPath("/opt/models", [a, a]));
    expect(modelCacheSubPath("/opt/models", [a])).not.toBe(modelCacheSubPath("/opt/models", [b]));
    expect(modelCacheSubPath("/opt/models", [a, b])).toBe(modelCacheSubPath("/opt/models", [b, a]));
  });
});
