/**
 * A repository we build is not trusted (issue #59 items 1, 2, 10, 11): it runs no code on the build host through its
 * dependencies' sources or its package-manager configuration, moves none of our writes, and ships none of its
 * secrets' files. Real tools: the pinned yarn 1, Yarn 4 and pnpm, the npm on PATH, a git smart-HTTP server
 * (test/fixtures/git-server.ts) serving `evil`, whose preinstall, prepare and prepack scripts each touch a marker file.
 * - `pipeline build --lockfile`: a yarn 1 or Yarn 4 git dependency is refused (E_BAD_INPUT naming the lockfile, the
 *   package and its resolution) before yarn clones it, unless `--allow-install-scripts evil`; npm and pnpm install it
 *   without running a script; a `.yarnrc.yml` `plugins:` entry and a `.npmrc` `pnpmfile=` naming a YAML/JavaScript
 *   polyglot of the repository are dropped with a warning, never `require()`d; `.npmrc`'s `cache`, `logs-dir` and
 *   `prefix` move no write of npm's; nested `.npmrc`/`.yarnrc`/`.yarnrc.yml` are not in /app.
 * - `npm_dependencies` on Bazel 4.2.3: the same refusal for yarn 1 and Yarn 4, and the pnpmfile polyglot dropped.
 * The npm registry must be reachable (the npm case installs `ms`).
 */
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, beforeEach, describe, expect, test } from "vitest";
import { build } from "../../src/cli/commands/build";
import type { CliIo } from "../../src/cli/io";
import { listLayer } from "../../src/layer/tar-read";
import { blobPath, readLayout } from "../../src/layout/read";
import { ensureTool } from "../../src/lockfile/package-managers";
import { bazel, collect, discard, makeConsumerWorkspace } from "../fixtures/bazel";
import { pipelineErrorOf } from "../fixtures/errors";
import { type GitServer, startGitServer } from "../fixtures/git-server";

const tmp = mkdtempSync(join(tmpdir(), "rp-e2e-hostile-repo-"));
const marks = join(tmp, "marks");
const cacheDir = join(tmp, "cache");
// Each side its own package-manager caches (yarn 1's is /usr/local/share/.cache/yarn for root, whatever HOME says):
// a clone prepared while writing the lockfiles must not spare a build its preparation.
const env: NodeJS.ProcessEnv = { ...process.env, HOME: join(tmp, "home"), YARN_CACHE_FOLDER: join(tmp, "yarn-cache") };
const genEnv: NodeJS.ProcessEnv = {
  ...env,
  HOME: join(tmp, "gen-home"),
  YARN_CACHE_FOLDER: join(tmp, "gen-yarn-cache"),
};
const bazelEnv = { YARN_CACHE_FOLDER: join(tmp, "bazel-yarn-cache") };
delete env.SOURCE_DATE_EPOCH;
let server: GitServer;
let evilUrl = "";
let ws = "";
/** The lockfile each package manager writes for `{"evil": evilUrl}` (made in beforeAll by the tool itself). */
const lockfiles: Record<string, { name: string; text: string }> = {};

function captureIo(e: NodeJS.ProcessEnv): CliIo & { out: string[]; err: string[] } {
  const out: string[] = [];
  const err: string[] = [];
  return {
    out,
    err,
    stdout: (l) => out.push(l),
    stderr: (l) => err.push(l),
    env: e,
    cwd: process.cwd(),
    isTTY: false,
    readStdin: async () => "",
  };
}

/** The bare repository `evil.git` under `root`: a package whose every script touches a marker. */
function makeEvilRepo(root: string): void {
  const work = join(tmp, "evil-work");
  mkdirSync(work, { recursive: true });
  const touch = (s: string) => `touch ${join(marks, s)}`;
  const scripts = {
    preinstall: touch("preinstall"),
    prepare: touch("prepare"),
    prepack: touch("prepack"),
    postinstall: touch("postinstall"),
  };
  writeFileSync(
    join(work, "package.json"),
    JSON.stringify({ name: "evil", version: "1.0.0", main: "index.js", scripts }, null, 2),
  );
  writeFileSync(join(work, "index.js"), "module.exports = 'evil';\n");
  const gitEnv = {
    ...process.env,
    HOME: tmp,
    GIT_CONFIG_NOSYSTEM: "1",
    GIT_AUTHOR_NAME: "t",
    GIT_AUTHOR_EMAIL: "t@t",
    GIT_COMMITTER_NAME: "t",
    GIT_COMMITTER_EMAIL: "t@t",
  };
  const git = (args: string[], cwd = work) => execFileSync("git", args, { cwd, env: gitEnv, stdio: "pipe" });
  git(["init", "--quiet", "--initial-branch=main"]);
  git(["add", "-A"]);
  git(["commit", "--quiet", "-m", "evil"]);
  git(["clone", "--quiet", "--bare", work, join(root, "evil.git")], tmp);
}

/** Runs the pinned `manager` (or npm) in `dir` to write its lockfile for package.json; scripts it runs are forgotten. */
async function lockfileOf(
  manager: "npm" | "pnpm" | "yarn-classic" | "yarn-berry",
  dir: string,
): Promise<{ name: string; text: string }> {
  mkdirSync(dir, { recursive: true });
  writeFileSync(
    join(dir, "package.json"),
    JSON.stringify({ name: "app", version: "1.0.0", dependencies: { evil: evilUrl } }),
  );
  const runEnv = {
    ...genEnv,
    YARN_ENABLE_TELEMETRY: "0",
    YARN_NODE_LINKER: "node-modules",
    YARN_ENABLE_IMMUTABLE_INSTALLS: "false",
    YARN_IGNORE_PATH: "1",
  };
  let args: string[];
  let name: string;
  if (manager === "npm")
    [args, name] = [["npm", "install", "--package-lock-only", "--ignore-scripts"], "package-lock.json"];
  else {
    const tool = await ensureTool(manager, cacheDir);
    if (manager === "pnpm")
      [args, name] = [[process.execPath, tool, "install", "--lockfile-only", "--ignore-scripts"], "pnpm-lock.yaml"];
    else if (manager === "yarn-classic")
      [args, name] = [[process.execPath, tool, "install", "--ignore-scripts", "--non-interactive"], "yarn.lock"];
    else {
      writeFileSync(join(dir, "yarn.lock"), "");
      [args, name] = [[process.execPath, tool, "install", "--mode=skip-build"], "yarn.lock"];
    }
  }
  // Not spawnSync: the git server answers from this process.
  const r = await collect(args[0], args.slice(1), { cwd: dir, env: runEnv }, "SIGKILL");
  expect(r.code, `${manager}: ${r.stdout}${r.stderr}`).toBe(0);
  rmSync(marks, { recursive: true, force: true });
  mkdirSync(marks);
  return { name, text: readFileSync(join(dir, name), "utf8") };
}

/** A project depending on `evil` with `manager`'s lockfile (from lockfileOf), plus `files`. */
function evilProject(name: string, manager: string, files: Record<string, string> = {}): string {
  const dir = join(tmp, "projects", name);
  mkdirSync(dir, { recursive: true });
  const pkg = { name: "app", version: "1.0.0", main: "main.js", dependencies: { evil: evilUrl } };
  writeFileSync(join(dir, "package.json"), JSON.stringify(pkg));
  writeFileSync(join(dir, lockfiles[manager].name), lockfiles[manager].text);
  writeFileSync(join(dir, "main.js"), "console.log(require('evil'));\n");
  for (const [rel, text] of Object.entries(files)) {
    mkdirSync(join(dir, rel, ".."), { recursive: true });
    writeFileSync(join(dir, rel), text);
  }
  return dir;
}

beforeAll(async () => {
  mkdirSync(marks, { recursive: true });
  for (const e of [env, genEnv]) mkdirSync(e.HOME as string, { recursive: true });
  const root = join(tmp, "git");
  mkdirSync(root);
  makeEvilRepo(root);
  server = await startGitServer({ root, users: {}, publicRepos: ["evil.git"] });
  evilUrl = `git+${server.repoUrl("evil")}`;
  for (const m of ["yarn-classic", "yarn-berry", "pnpm", "npm"] as const)
    lockfiles[m] = await lockfileOf(m, join(tmp, "gen", m));
}, 180_000);

beforeEach(() => {
  rmSync(marks, { recursive: true, force: true });
  mkdirSync(marks);
});

afterAll(async () => {
  if (ws) await discard(ws);
  await server?.stop();
  rmSync(tmp, { recursive: true, force: true });
});

describe("pipeline build --lockfile: dependencies prepared from source", () => {
  test.each(["yarn-classic", "yarn-berry"])(
    "%s: a git dependency is refused before yarn clones it; its scripts never run",
    async (manager) => {
      const project = evilProject(`git-${manager}`, manager);
      const asked = server.requests.length;
      const e = await pipelineErrorOf(
        build({ lockfile: project, "cache-dir": cacheDir, output: join(tmp, "out", manager) }, captureIo(env)),
      );
      expect(readdirSync(marks)).toEqual([]);
      expect(e.code).toBe("E_BAD_INPUT");
      expect(e.message).toContain(`${join(project, "yarn.lock")}: a dependency is prepared from source`);
      expect(e.message).toMatch(
        new RegExp(`  evil \\((evil@)?git\\+${server.baseUrl.replace(/[.]/g, "\\.")}/evil\\.git#`),
      );
      expect(e.message).toContain('add "evil" to --allow-install-scripts');
      expect(server.requests.slice(asked)).toEqual([]); // not even cloned
    },
  );

  test("yarn-classic with --allow-install-scripts evil: the build goes on (its scripts run, as allowed)", async () => {
    const project = evilProject("git-allowed", "yarn-classic");
    const io = captureIo(env);
    const r = await build(
      {
        lockfile: project,
        "cache-dir": cacheDir,
        output: join(tmp, "out", "allowed"),
        "allow-install-scripts": ["evil"],
      },
      io,
    );
    expect(r.exitCode, io.err.join("\n")).toBe(0);
    expect(readdirSync(marks).length).toBeGreaterThan(0);
  });

  test.each(["npm", "pnpm"])("%s: a git dependency installs and none of its scripts runs", async (manager) => {
    const project = evilProject(`git-${manager}`, manager);
    const io = captureIo(env);
    const output = join(tmp, "out", manager);
    const r = await build({ lockfile: project, "cache-dir": cacheDir, output, "ignore-install-scripts": ["evil"] }, io);
    expect(readdirSync(marks)).toEqual([]);
    expect(r.exitCode, io.err.join("\n")).toBe(0);
  });
});

/** A project without dependencies, `files` beside its package.json. */
function plainProject(name: string, files: Record<string, string>): string {
  const dir = join(tmp, "projects", name);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, "package.json"), JSON.stringify({ name: "app", version: "1.0.0", main: "main.js" }));
  writeFileSync(join(dir, "main.js"), "console.log('app');\n");
  for (const [rel, text] of Object.entries(files)) {
    mkdirSync(join(dir, rel, ".."), { recursive: true });
    writeFileSync(join(dir, rel), text);
  }
  return dir;
}

/** A line that is YAML (`key: <a plain string>`) and JavaScript (a label, then a call writing the marker `required`). */
const POLYGLOT = (key: string) =>
  `${key}: 0 || require("fs").writeFileSync(${JSON.stringify(join(marks, "required"))}, "ran")\n`;
const BERRY_EMPTY =
  '__metadata:\n  version: 8\n  cacheKey: 10c0\n\n"app@workspace:.":\n  version: 0.0.0-use.local\n  resolution: "app@workspace:."\n  languageName: unknown\n  linkType: soft\n';
const PNPM_EMPTY =
  "lockfileVersion: '9.0'\n\nsettings:\n  autoInstallPeers: true\n  excludeLinksFromLockfile: false\n\nimporters:\n\n  .: {}\n";

describe("pipeline build --lockfile: the repository's package-manager configuration, through an allow-list", () => {
  test("Yarn 4: `plugins:` naming the repository's .yarnrc.yml (a polyglot) is dropped with a warning, never loaded", async () => {
    const yarnrc = `${POLYGLOT("npmAuthToken")}nodeLinker: "node-modules"\nplugins: [".yarnrc.yml"]\n`;
    const project = plainProject("plugins", { "yarn.lock": BERRY_EMPTY, ".yarnrc.yml": yarnrc });
    const io = captureIo(env);
    const r = await build({ lockfile: project, "cache-dir": cacheDir, output: join(tmp, "out", "plugins") }, io);
    expect(readdirSync(marks)).toEqual([]);
    expect(r.exitCode, io.err.join("\n")).toBe(0);
    expect(io.err.join("\n")).toContain(
      `warning: ${join(project, ".yarnrc.yml")}: plugins ignored: not among the keys`,
    );
  });

  test("pnpm: `pnpmfile=` and `global-pnpmfile=` naming pnpm-workspace.yaml (a polyglot) are dropped, never loaded", async () => {
    const project = plainProject("pnpmfile", {
      "pnpm-lock.yaml": PNPM_EMPTY,
      "pnpm-workspace.yaml": `${POLYGLOT("x")}packages: ["packages/*"]\n`,
      ".npmrc": "pnpmfile=pnpm-workspace.yaml\nglobal-pnpmfile=pnpm-workspace.yaml\nauto-install-peers=true\n",
    });
    const io = captureIo(env);
    const r = await build({ lockfile: project, "cache-dir": cacheDir, output: join(tmp, "out", "pnpmfile") }, io);
    expect(readdirSync(marks)).toEqual([]);
    expect(r.exitCode, io.err.join("\n")).toBe(0);
    const err = io.err.join("\n");
    for (const key of ["pnpmfile", "global-pnpmfile"])
      expect(err).toContain(`warning: ${join(project, ".npmrc")}: ${key} ignored`);
    expect(err).toContain(`warning: ${join(project, "pnpm-workspace.yaml")}: x ignored`);
  });

  test("npm: `.npmrc` cache, logs-dir, prefix, tmp move none of npm's writes; nested secrets' files are not in /app", async () => {
    const moved = join(tmp, "moved");
    const lock = {
      name: "app",
      version: "1.0.0",
      lockfileVersion: 3,
      requires: true,
      packages: { "": { name: "app", version: "1.0.0" } },
    };
    const npmrc = ["cache", "logs-dir", "prefix", "tmp", "store-dir"].map((k) => `${k}=${join(moved, k)}`).join("\n");
    const project = plainProject("npmrc", {
      "package-lock.json": JSON.stringify(lock),
      ".npmrc": `${npmrc}\nlogs-max=5\n//registry.example.invalid/:_authToken=not-a-real-token\n`,
      "config/.npmrc": "//registry.example.invalid/:_authToken=nested\n",
      "packages/x/.yarnrc": 'registry "https://r.example/"\n',
      "deep/a/b/.yarnrc.yml": "npmAuthToken: nested\n",
      "config/keep/.npmrc": "# named in .dockerignore\n",
      ".dockerignore": "!config/keep/.npmrc\n",
    });
    const output = join(tmp, "out", "npmrc");
    const io = captureIo(env);
    const r = await build({ lockfile: project, "cache-dir": cacheDir, output }, io);
    expect(r.exitCode, io.err.join("\n")).toBe(0);
    expect(existsSync(moved)).toBe(false);
    const img = readLayout(output);
    const app = await listLayer(blobPath(output, img.manifest.layers[img.manifest.layers.length - 1].digest));
    const paths = app.map((e) => e.path);
    expect(paths).toContain("app/main.js");
    expect(paths).toContain("app/config/keep/.npmrc");
    for (const f of [".npmrc", "config/.npmrc", "packages/x/.yarnrc", "deep/a/b/.yarnrc.yml"])
      expect(paths).not.toContain(`app/${f}`);
  });
});

describe("npm_dependencies on Bazel 4.2.3", () => {
  const repos: Record<string, { manager: string; files?: Record<string, string> }> = {
    yarn_git: { manager: "yarn-classic" },
    berry_git: { manager: "yarn-berry" },
    pnpm_hooks: { manager: "pnpm" },
  };

  beforeAll(() => {
    let extra = "";
    for (const [name, r] of Object.entries(repos)) {
      const lock = r.manager === "pnpm" ? "pnpm-lock.yaml" : "yarn.lock";
      const configs = r.manager === "pnpm" ? [".npmrc", "pnpm-workspace.yaml", ".pnpmfile.cjs"] : [];
      extra += `npm_dependencies(name = "${name}", package_json = "//${name}:package.json", lockfile = "//${name}:${lock}", workspace_files = ${JSON.stringify(configs.map((c) => `//${name}:${c}`))})\n`;
    }
    ws = makeConsumerWorkspace(join(tmp, "bazel"), extra);
    for (const [name, r] of Object.entries(repos)) {
      const dir = join(ws, name);
      if (r.manager === "pnpm") {
        mkdirSync(dir, { recursive: true });
        writeFileSync(join(dir, "package.json"), JSON.stringify({ name: "app", version: "1.0.0" }));
        writeFileSync(join(dir, "pnpm-lock.yaml"), PNPM_EMPTY);
        writeFileSync(join(dir, "pnpm-workspace.yaml"), `${POLYGLOT("x")}packages: ["packages/*"]\n`);
        writeFileSync(join(dir, ".npmrc"), "pnpmfile=pnpm-workspace.yaml\n");
        // pnpm's default hook file, listed: placed in the repository, never loaded (--ignore-pnpmfile).
        writeFileSync(
          join(dir, ".pnpmfile.cjs"),
          `require("fs").writeFileSync(${JSON.stringify(join(marks, "pnpmfile.cjs"))}, "ran");\n`,
        );
      } else {
        mkdirSync(dir, { recursive: true });
        writeFileSync(
          join(dir, "package.json"),
          JSON.stringify({ name: "app", version: "1.0.0", dependencies: { evil: evilUrl } }),
        );
        writeFileSync(join(dir, "yarn.lock"), lockfiles[r.manager].text);
      }
      writeFileSync(
        join(dir, "BUILD.bazel"),
        `exports_files(["package.json", "yarn.lock", "pnpm-lock.yaml", "pnpm-workspace.yaml", ".npmrc", ".pnpmfile.cjs"])\n`,
      );
    }
  });

  test.each(["yarn_git", "berry_git"])(
    "%s: a git dependency fails the fetch naming it, before yarn clones it",
    async (name) => {
      const asked = server.requests.length;
      const r = await bazel(ws, ["query", "--noshow_progress", `@${name}//:all`], bazelEnv);
      expect(readdirSync(marks)).toEqual([]);
      expect(r.code).not.toBe(0);
      expect(r.stderr).toContain(
        `npm_dependencies(name = "${name}"): //${name}:yarn.lock: a dependency is prepared from source`,
      );
      expect(r.stderr).toMatch(/ {2}evil \((evil@)?git\+http:/);
      expect(r.stderr).toContain('add "evil" to `allow_install_scripts`');
      expect(server.requests.slice(asked)).toEqual([]);
    },
  );

  test("pnpm: `.npmrc`'s pnpmfile (a polyglot pnpm-workspace.yaml) is dropped with a DEBUG line; no hook file is loaded", async () => {
    const r = await bazel(ws, ["query", "--noshow_progress", "@pnpm_hooks//:all"], bazelEnv);
    expect(readdirSync(marks)).toEqual([]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain("//pnpm_hooks:.npmrc: pnpmfile ignored");
    expect(r.stderr).toContain("//pnpm_hooks:pnpm-workspace.yaml: x ignored");
  });
});
