/**
 * Issue #24, item 5: a spec's ServerAvailableFolder names host folders under the spec's directory, or under a
 * folder the operator allowed by hand (--allow-host-path, $PIPELINE_ALLOW_HOST_PATHS); never the host's `/`.
 * Before this rule `pipeline run` mounted `codePaths: ["/"]` (the host's whole file system, /etc/shadow included)
 * read-only into a root container. runDeployment must refuse before anything is pulled or started (the image
 * is on loopback port 1: a pull would fail with another error).
 */
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { run } from "../cli/commands/run";
import type { CliIo } from "../cli/io";
import { hostFolderProblem } from "../deploy/path-checks";
import type { ResolvedDeployment } from "../deploy/types";
import { pipelineErrorOf } from "../../test/fixtures/errors";
import { runDeployment } from "./deployment";
import { allowedHostRoots, checkedHostFolder } from "./host-folders";
import { parseDigest } from "../oci/digest";

const D = parseDigest("sha256:" + "0123456789abcdef".repeat(4), "D");
const tmp = mkdtempSync(join(tmpdir(), "rp-host-folders-"));
const specDir = join(tmp, "spec");
mkdirSync(join(specDir, "app"), { recursive: true });
mkdirSync(join(tmp, "elsewhere"), { recursive: true });
symlinkSync("/etc", join(specDir, "etc-link"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe("hostFolderProblem", () => {
  it("allows a folder under an allowed root, and the root itself", () => {
    expect(hostFolderProblem("/srv/specs/app", ["/srv/specs"])).toBeUndefined();
    expect(hostFolderProblem("/srv/specs/", ["/srv/specs"])).toBeUndefined();
  });
  it("refuses the host's root always, even when `/` is 'allowed'", () => {
    expect(hostFolderProblem("/", ["/srv/specs"])).toMatch(/host's root "\/"/);
    expect(hostFolderProblem("/", ["/"])).toMatch(/host's root "\/"/);
    expect(hostFolderProblem("/etc", ["/"])).toMatch(/outside the allowed host folders \(none\)/);
  });
  it("refuses a folder outside every allowed root, naming them and the opt-in", () => {
    expect(hostFolderProblem("/etc", ["/srv/specs"])).toBe(
      "is outside the allowed host folders (/srv/specs): allow it with --allow-host-path DIR or $PIPELINE_ALLOW_HOST_PATHS",
    );
    expect(hostFolderProblem("/srv/specs-other", ["/srv/specs"])).toMatch(/outside/); // a prefix is not a parent
  });
});

describe("checkedHostFolder / allowedHostRoots", () => {
  const allowed = allowedHostRoots(specDir, [], {});
  it("returns the real path of a folder in the spec's directory", () => {
    expect(checkedHostFolder(join(specDir, "app"), "code.codePaths[0]", allowed)).toBe(join(specDir, "app"));
  });
  it("judges a symbolic link by where it leads", () => {
    const e = (() => {
      try {
        checkedHostFolder(join(specDir, "etc-link"), "code.codePaths[1]", allowed);
      } catch (err) {
        return err as { code: string; message: string };
      }
    })();
    expect(e?.code).toBe("E_HOST_PATH");
    expect(e?.message).toContain(
      `code.codePaths[1]: host path "${join(specDir, "etc-link")}" (really "/etc") is outside the allowed host folders`,
    );
  });
  it("takes more roots from the flag and $PIPELINE_ALLOW_HOST_PATHS (absolute paths only)", () => {
    const other = join(tmp, "elsewhere");
    expect(() => checkedHostFolder(other, "f", allowed)).toThrow(/outside/);
    expect(checkedHostFolder(other, "f", allowedHostRoots(specDir, [other], {}))).toBe(other);
    expect(
      checkedHostFolder(
        other,
        "f",
        allowedHostRoots(specDir, [], { PIPELINE_ALLOW_HOST_PATHS: `/nonexistent:${other}` }),
      ),
    ).toBe(other);
    expect(() => allowedHostRoots(specDir, [], { PIPELINE_ALLOW_HOST_PATHS: "relative/dir" })).toThrow(
      /expected absolute paths separated by ':', got "relative\/dir"/,
    );
  });
});

describe("runDeployment refuses codePaths outside the allowed folders before doing anything", () => {
  const resolved = (codePaths: string[]): ResolvedDeployment => ({
    spec: {
      name: "app",
      interpreter: { kind: "ContainerAtDigest", repository: "127.0.0.1:1/team/app", digest: D },
      code: { kind: "ServerAvailableFolder", codePaths },
      ports: [],
      env: [],
      models: [],
      resources: { replicas: 1 },
    },
    image: `127.0.0.1:1/team/app@${D}`,
    warnings: [],
  });
  const opts = { cacheDir: join(tmp, "cache"), env: { HOME: tmp }, baseDir: specDir };
  it('codePaths: ["/"] (the host\'s root; `deploy --render` refuses the same spec)', async () => {
    const e = await pipelineErrorOf(runDeployment(resolved(["/"]), opts));
    expect(e.code, e.message).toBe("E_HOST_PATH");
    expect(e.message).toBe('code.codePaths[0]: host path "/" is the host\'s root "/" (never mounted or run from)');
  });
  it("an absolute folder outside the spec's directory, unless allowed by hand", async () => {
    const e = await pipelineErrorOf(runDeployment(resolved(["app", "/etc"]), opts));
    expect(e.code, e.message).toBe("E_HOST_PATH");
    expect(e.message).toMatch(/^code\.codePaths\[1\]: host path "\/etc" is outside the allowed host folders/);
    // Allowed by hand, the check passes and the run goes on to the image (loopback port 1 refuses the pull).
    const pulled = await pipelineErrorOf(
      runDeployment(resolved(["app", "/etc"]), { ...opts, allowHostPaths: ["/etc"] }),
    );
    expect(pulled.code).toBe("E_REGISTRY_UNREACHABLE");
  });
});

describe("pipeline run SPEC: the same rule, and --allow-host-path", () => {
  const specPath = join(specDir, "spec.yaml");
  writeFileSync(
    specPath,
    `image: 127.0.0.1:1/team/app@${D}\ncode: {type: ServerAvailableFolder, codePaths: [${join(specDir, "app")}, /etc]}\n`,
  );
  const io = (env: NodeJS.ProcessEnv = {}): CliIo => ({
    stdout: () => undefined,
    stderr: () => undefined,
    env: { HOME: tmp, ...env },
    cwd: tmp,
    isTTY: false,
    readStdin: async () => "",
  });
  it("refuses /etc from a spec in another directory, and takes it when allowed by the flag or the variable", async () => {
    const args = { spec: specPath, "cache-dir": join(tmp, "cache-cli") };
    const e = await pipelineErrorOf(run(args, io()));
    expect(e.code, e.message).toBe("E_HOST_PATH");
    expect(e.message).toContain(`code.codePaths[1]: host path "/etc" is outside the allowed host folders (${specDir})`);
    expect((await pipelineErrorOf(run({ ...args, "allow-host-path": ["/etc"] }, io()))).code).toBe(
      "E_REGISTRY_UNREACHABLE",
    );
    expect((await pipelineErrorOf(run(args, io({ PIPELINE_ALLOW_HOST_PATHS: "/etc" })))).code).toBe(
      "E_REGISTRY_UNREACHABLE",
    );
  });
});
