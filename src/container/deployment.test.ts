/**
 * runDeployment's own check of the container paths it mounts at (models, repositories, --mount), for deployments
 * built in code rather than read from a spec: the same check as the spec parser's (deploy/path-checks.ts),
 * before anything is synced, cloned, pulled or started.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import type { DeploymentSpec, ResolvedDeployment } from "../deploy/types";
import { pipelineErrorOf } from "../../test/fixtures/errors";
import { runDeployment } from "./deployment";
import { parseDigest } from "../oci/digest";

const D = parseDigest("sha256:" + "0123456789abcdef".repeat(4), "D");
const tmp = mkdtempSync(join(tmpdir(), "rp-run-deployment-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

// Loopback port 1: if the check did not come first, the model sync or image pull would fail here instead.
function resolved(over: Partial<DeploymentSpec>): ResolvedDeployment {
  const spec: DeploymentSpec = {
    name: "app",
    interpreter: { kind: "ContainerAtDigest", repository: "127.0.0.1:1/team/app", digest: D },
    code: { kind: "None" },
    ports: [],
    env: [],
    models: [],
    resources: { replicas: 1 },
    ...over,
  };
  return { spec, image: `127.0.0.1:1/team/app@${D}`, warnings: [] };
}

describe("runDeployment refuses mount paths before doing anything", () => {
  const opts = { cacheDir: join(tmp, "cache"), env: { HOME: tmp } };
  const repos = (mountPath: string) => ({
    dataset: "d",
    mountPath,
    repositories: [{ url: "http://127.0.0.1:1/a.git", name: "a" }],
  });
  const cases: [string, ResolvedDeployment, { destination: string }[], string][] = [
    [
      "a model under /proc",
      resolved({ models: [{ id: `127.0.0.1:1/m@${D}`, path: "/proc/m" }] }),
      [],
      'models[0].path: cannot mount on or under /proc (the container runtime provides it) (got "/proc/m")',
    ],
    [
      "repositories at /",
      resolved({ repositories: repos("/") }),
      [],
      `repositories.mountPath: cannot mount over the container's root "/" (got "/")`,
    ],
    [
      "repositories with a ':'",
      resolved({ repositories: repos("/x:y") }),
      [],
      `repositories.mountPath: must not contain ':' (container runtimes separate mount fields with it) (got "/x:y")`,
    ],
    [
      "an extra mount under /sys",
      resolved({}),
      [{ destination: "/sys/x" }],
      'mount 1 (/sys/x): cannot mount on or under /sys (the container runtime provides it) (got "/sys/x")',
    ],
  ];
  for (const [name, r, extra, message] of cases) {
    it(name, async () => {
      const e = await pipelineErrorOf(
        runDeployment(r, {
          ...opts,
          extraMounts: extra.map((m) => ({ source: tmp, destination: m.destination, readonly: true })),
        }),
      );
      expect(e.code, e.message).toBe("E_BAD_MOUNT");
      expect(e.message).toBe(message);
    });
  }
});
