/**
 * Issue #59 items 3 and 4: `pipeline build --lockfile` puts the project and its packages in the image, nothing else
 * of the build host. A "home" directory beside the projects holds a canary credential (`.docker/config.json`); each
 * hostile project aims at it another way: a symlink of the project (absolute, relative, climbing through a chain of
 * links as the kernel resolves it), a workspace directory that is a link, a `file:` dependency that resolves out of
 * the project (it used to resolve against the scratch directory in the cache, and reach the home directory from
 * there), a workspace pattern. Each is refused with E_BAD_INPUT naming the file and what it names, and no image is
 * written. Legitimate ones work with the real npm, pnpm and yarn 1: links inside the project are kept as links, `file:`
 * dependencies inside the project (a directory, a tarball) are installed from the project, and the node_modules cache
 * key covers a linked package's content (an edit rebuilds it; the cached build equals a clean one).
 */
import { execFileSync } from "node:child_process";
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  realpathSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { build } from "../../src/cli/commands/build";
import type { CliIo } from "../../src/cli/io";
import { openLayerTar, readTarEntries } from "../../src/layer/tar-read";
import { PACKAGE_MANAGERS } from "../../src/lockfile/package-managers";
import { blobPath, readLayout } from "../../src/layout/read";
import { pipelineErrorOf } from "../fixtures/errors";

const CANARY = "SECRET-CANARY-b7f3";
let tmp: string;
let home: string;
let cache: string;
let env: NodeJS.ProcessEnv;

function io(): CliIo & { err: string[] } {
  const err: string[] = [];
  return {
    err,
    stdout: () => {},
    stderr: (l) => err.push(l),
    env,
    cwd: process.cwd(),
    isTTY: false,
    readStdin: async () => "",
  };
}

/** A project with a main.js; `pkg` merged into its package.json; `lock` its package-lock.json (default: made by npm). */
function project(name: string, pkg: Record<string, unknown> = {}, files: Record<string, string> = {}): string {
  const dir = join(tmp, name);
  mkdirSync(dir, { recursive: true });
  writeFileSync(
    join(dir, "package.json"),
    JSON.stringify({ name, version: "1.0.0", main: "main.js", ...pkg }, null, 2),
  );
  writeFileSync(join(dir, "main.js"), 'console.log("hi");\n');
  for (const [rel, text] of Object.entries(files)) {
    mkdirSync(join(dir, rel, ".."), { recursive: true });
    writeFileSync(join(dir, rel), text);
  }
  return dir;
}

function npmLock(dir: string): void {
  execFileSync("npm", ["install", "--package-lock-only", "--ignore-scripts", "--no-audit", "--no-fund"], {
    cwd: dir,
    env,
    stdio: "pipe",
  });
}

/** A hand-written package-lock.json (for what npm itself would not lock from the project). */
function writeLock(dir: string, packages: Record<string, unknown>): void {
  writeFileSync(
    join(dir, "package-lock.json"),
    JSON.stringify({ name: "x", lockfileVersion: 3, requires: true, packages }),
  );
}

/** Every entry of every layer of the image at `out` above the base: path -> type, link target, content. */
async function appLayers(out: string): Promise<Map<string, { type: string; linkname: string; text: string }>> {
  const img = readLayout(out, { refName: "latest" });
  const m = new Map<string, { type: string; linkname: string; text: string }>();
  for (const l of img.layers.slice(-2)) {
    for await (const e of readTarEntries(await openLayerTar(blobPath(out, l.digest)))) {
      const chunks: Buffer[] = [];
      for await (const c of e.body) chunks.push(c);
      m.set(e.path.replace(/\/$/, ""), {
        type: e.type,
        linkname: e.linkname,
        text: Buffer.concat(chunks).toString("utf8"),
      });
    }
  }
  return m;
}

function allBlobsText(out: string): string {
  const img = readLayout(out, { refName: "latest" });
  return img.layers
    .slice(-2)
    .map((l) => execFileSync("gzip", ["-dc", blobPath(out, l.digest)]).toString("latin1"))
    .join("");
}

async function refused(dir: string): Promise<string> {
  const out = join(tmp, `out-${Math.random().toString(36).slice(2)}`);
  const e = await pipelineErrorOf(build({ lockfile: dir, output: out, "cache-dir": cache }, io()));
  expect(e.code).toBe("E_BAD_INPUT");
  expect(existsSync(out)).toBe(false);
  expect(e.message).not.toContain(CANARY);
  return e.message;
}

beforeAll(async () => {
  tmp = realpathSync(mkdtempSync(join(tmpdir(), "rp-e2e-lockfile-links-")));
  env = { ...process.env, npm_config_cache: join(tmp, "npm-cache") };
  delete env.SOURCE_DATE_EPOCH;
  home = join(tmp, "home");
  mkdirSync(join(home, ".docker"), { recursive: true });
  writeFileSync(join(home, ".docker", "config.json"), `{"auths":{"r":{"auth":"${CANARY}"}}}\n`);
  writeFileSync(join(home, ".docker", "package.json"), JSON.stringify({ name: "x", version: "1.0.0" }));
  // The cache sits in the home directory, as the default one does (~/.cache/rules_pipeline/lockfile).
  cache = join(home, ".cache", "rules_pipeline", "lockfile");
  // A first build makes the host-node base the others share.
  const ok = project("plain");
  npmLock(ok);
  await build({ lockfile: ok, output: join(tmp, "out-plain"), "cache-dir": cache }, io());
}, 120_000);

afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe("project symlinks (item 3)", () => {
  it("refuses a link out of the project, absolute or relative, naming the link and its target", async () => {
    const abs = project("abs-link");
    npmLock(abs);
    symlinkSync(join(home, ".docker", "config.json"), join(abs, "config.json"));
    expect(await refused(abs)).toMatch(`symlink config.json -> "${join(home, ".docker", "config.json")}"`);

    const rel = project("rel-link");
    npmLock(rel);
    mkdirSync(join(rel, "conf"));
    symlinkSync("../../home/.docker", join(rel, "conf", "docker"));
    expect(await refused(rel)).toMatch('symlink conf/docker -> "../../home/.docker"');

    // package.json and the lockfile are read as regular files only.
    const lock = project("lock-link");
    symlinkSync(join(tmp, "plain", "package-lock.json"), join(lock, "package-lock.json"));
    expect(await refused(lock)).toMatch(
      `${join(lock, "package-lock.json")}: a symlink (${JSON.stringify(join(tmp, "plain", "package-lock.json"))})`,
    );
  });

  it("judges a link by its whole chain: a `..` after a link climbs from where the link led", async () => {
    // One hop at a time leak.json is lib/home/.docker/config.json, inside; the kernel: lib/c/a is z, and ../.. from z
    // is the directory above the project.
    const dir = project("chain-link");
    npmLock(dir);
    mkdirSync(join(dir, "lib", "c"), { recursive: true });
    mkdirSync(join(dir, "z"));
    symlinkSync("../../z", join(dir, "lib", "c", "a"));
    symlinkSync("lib/c/a/../../home/.docker/config.json", join(dir, "leak.json"));
    expect(await refused(dir)).toMatch(
      /symlink leak\.json -> "lib\/c\/a\/\.\.\/\.\.\/home\/\.docker\/config\.json" leads outside the project \(through the link lib\/c\/a -> "\.\.\/\.\.\/z"/,
    );
  });

  it("refuses a workspace directory that is a link out of the project", async () => {
    const dir = project("ws-link", { workspaces: ["packages/*"] });
    mkdirSync(join(dir, "packages", "lib"), { recursive: true });
    writeFileSync(join(dir, "packages", "lib", "package.json"), JSON.stringify({ name: "lib", version: "1.0.0" }));
    npmLock(dir);
    symlinkSync(join(home, ".docker"), join(dir, "packages", "evil"));
    expect(await refused(dir)).toMatch(`symlink packages/evil -> "${join(home, ".docker")}"`);
  });

  it("keeps links inside the project as links (an absolute one made relative), reads no file twice", async () => {
    const dir = project("in-links", {}, { "lib/util.js": "module.exports = 1;\n" });
    npmLock(dir);
    symlinkSync("lib", join(dir, "current"));
    symlinkSync("main.js", join(dir, "alias.js"));
    symlinkSync(join(dir, "lib", "util.js"), join(dir, "abs.js"));
    symlinkSync("lib/missing.js", join(dir, "dangling.js"));
    const out = join(tmp, "out-in-links");
    await build({ lockfile: dir, output: out, "cache-dir": cache, entry: "alias.js" }, io());
    const m = await appLayers(out);
    expect(m.get("app/current")).toMatchObject({ type: "symlink", linkname: "lib" });
    expect(m.get("app/alias.js")).toMatchObject({ type: "symlink", linkname: "main.js" });
    expect(m.get("app/abs.js")).toMatchObject({ type: "symlink", linkname: "lib/util.js" });
    expect(m.get("app/dangling.js")).toMatchObject({ type: "symlink", linkname: "lib/missing.js" });
    expect(m.has("app/current/util.js")).toBe(false);
    expect(m.get("app/lib/util.js")).toMatchObject({ type: "file", text: "module.exports = 1;\n" });
  });

  it("a workspace directory that is a link inside the project is installed from where it leads", async () => {
    const dir = project(
      "ws-in",
      { workspaces: ["packages/*"], dependencies: { lib: "^1.0.0" } },
      {
        "shared/lib/package.json": JSON.stringify({ name: "lib", version: "1.0.0" }),
        "shared/lib/index.js": "module.exports = 'lib';\n",
      },
    );
    mkdirSync(join(dir, "packages"));
    symlinkSync("../shared/lib", join(dir, "packages", "lib"));
    npmLock(dir);
    const out = join(tmp, "out-ws-in");
    await build({ lockfile: dir, output: out, "cache-dir": cache }, io());
    const m = await appLayers(out);
    expect(m.get("app/node_modules/lib")).toMatchObject({ type: "symlink", linkname: "../shared/lib" });
    expect(m.get("app/packages/lib")).toMatchObject({ type: "symlink", linkname: "../shared/lib" });
    expect(m.get("app/shared/lib/index.js")).toMatchObject({ text: "module.exports = 'lib';\n" });
  });
});

describe("local dependencies (item 4)", () => {
  it("refuses a file: dependency out of the project (it resolved against the cache's scratch directory)", async () => {
    // From <cache>/npm-XXXXXX, ../../../../.docker is the home directory's .docker.
    const dir = project("file-escape", { dependencies: { x: "file:../../../../.docker" } });
    writeLock(dir, {
      "": { name: "file-escape", version: "1.0.0", dependencies: { x: "file:../../../../.docker" } },
      "../../../../.docker": { name: "x", version: "1.0.0" },
      "node_modules/x": { resolved: "../../../../.docker", link: true },
    });
    expect(await refused(dir)).toMatch(
      `${join(dir, "package.json")}: dependency "x": "file:../../../../.docker" leads outside the project`,
    );
  });

  it("refuses a sibling directory, a link: in a workspace, a workspace pattern out of the project", async () => {
    mkdirSync(join(tmp, "sibling"), { recursive: true });
    writeFileSync(join(tmp, "sibling", "package.json"), JSON.stringify({ name: "sibling", version: "1.0.0" }));
    const sib = project("file-sibling", { dependencies: { sibling: "file:../sibling" } });
    writeLock(sib, { "": { dependencies: { sibling: "file:../sibling" } } });
    expect(await refused(sib)).toMatch(`${join(sib, "package.json")}: dependency "sibling": "file:../sibling"`);

    const ws = project(
      "ws-dep",
      { workspaces: ["packages/*"] },
      { "packages/a/package.json": JSON.stringify({ name: "a", dependencies: { s: "link:../../../sibling" } }) },
    );
    writeLock(ws, { "": {} });
    expect(await refused(ws)).toMatch(
      `${join(ws, "packages/a/package.json")}: dependency "s": "link:../../../sibling"`,
    );

    const pat = project("ws-pattern", { workspaces: ["../*"] });
    writeLock(pat, { "": {} });
    expect(await refused(pat)).toMatch(
      `${join(pat, "package.json")}: workspace pattern "../*" leads outside the project`,
    );
  });

  it("installs file: dependencies inside the project with the real npm: a directory (linked) and a tarball", async () => {
    const dir = project(
      "file-in",
      { dependencies: { x: "file:vendor/x", y: "file:vendor/y-1.0.0.tgz" } },
      {
        "vendor/x/package.json": JSON.stringify({ name: "x", version: "1.0.0" }),
        "vendor/x/index.js": "module.exports = 'x1';\n",
        "y/package.json": JSON.stringify({ name: "y", version: "1.0.0" }),
        "y/index.js": "module.exports = 'y1';\n",
      },
    );
    execFileSync("npm", ["pack", "--pack-destination", join(dir, "vendor")], {
      cwd: join(dir, "y"),
      env,
      stdio: "pipe",
    });
    rmSync(join(dir, "y"), { recursive: true });
    npmLock(dir);
    const out = join(tmp, "out-file-in");
    await build({ lockfile: dir, output: out, "cache-dir": cache }, io());
    const m = await appLayers(out);
    expect(m.get("app/node_modules/x")).toMatchObject({ type: "symlink", linkname: "../vendor/x" });
    expect(m.get("app/vendor/x/index.js")).toMatchObject({ text: "module.exports = 'x1';\n" });
    expect(m.get("app/node_modules/y/index.js")).toMatchObject({ text: "module.exports = 'y1';\n" });
    expect(allBlobsText(out)).not.toContain(CANARY);
  });

  it("pnpm copies a file: directory into node_modules: the cache key covers its content", async () => {
    const dir = project(
      "pnpm-file",
      { dependencies: { x: "file:vendor/x" } },
      {
        "vendor/x/package.json": JSON.stringify({ name: "x", version: "1.0.0", main: "index.js" }),
        "vendor/x/index.js": "module.exports = 'v1';\n",
      },
    );
    execFileSync(
      "npx",
      ["-y", `pnpm@${PACKAGE_MANAGERS.pnpm.version}`, "install", "--lockfile-only", "--ignore-scripts"],
      {
        cwd: dir,
        env,
        stdio: "pipe",
      },
    );
    const v1 = await build({ lockfile: dir, output: join(tmp, "out-pnpm-1"), "cache-dir": cache }, io());
    expect((await appLayers(join(tmp, "out-pnpm-1"))).get("app/node_modules/x/index.js")).toMatchObject({
      text: "module.exports = 'v1';\n",
    });

    writeFileSync(join(dir, "vendor", "x", "index.js"), "module.exports = 'v2';\n");
    const v2 = await build({ lockfile: dir, output: join(tmp, "out-pnpm-2"), "cache-dir": cache }, io());
    expect(v2.result.nodeModules.cached).toBe(false);
    expect((await appLayers(join(tmp, "out-pnpm-2"))).get("app/node_modules/x/index.js")).toMatchObject({
      text: "module.exports = 'v2';\n",
    });
    expect(v2.result.digest).not.toBe(v1.result.digest);

    // Same inputs, same digest as a build with a fresh cache; and the same again from the cache.
    const clean = await build(
      { lockfile: dir, output: join(tmp, "out-pnpm-clean"), "cache-dir": join(tmp, "cache-clean") },
      io(),
    );
    expect(clean.result.digest).toBe(v2.result.digest);
    const again = await build({ lockfile: dir, output: join(tmp, "out-pnpm-3"), "cache-dir": cache }, io());
    expect(again.result.nodeModules.cached).toBe(true);
    expect(again.result.digest).toBe(v2.result.digest);
  }, 240_000);

  it("yarn 1 copies a file: directory too: an edit of it rebuilds the node_modules layer", async () => {
    const dir = project(
      "yarn-file",
      { dependencies: { x: "file:./vendor/x" } },
      {
        "vendor/x/package.json": JSON.stringify({ name: "x", version: "1.0.0", main: "index.js" }),
        "vendor/x/index.js": "module.exports = 'v1';\n",
      },
    );
    execFileSync(
      "npx",
      ["-y", `yarn@${PACKAGE_MANAGERS["yarn-classic"].version}`, "install", "--ignore-scripts", "--no-progress"],
      {
        cwd: dir,
        env,
        stdio: "pipe",
      },
    );
    await build({ lockfile: dir, output: join(tmp, "out-yarn-1"), "cache-dir": cache }, io());
    expect((await appLayers(join(tmp, "out-yarn-1"))).get("app/node_modules/x/index.js")).toMatchObject({
      text: "module.exports = 'v1';\n",
    });
    writeFileSync(join(dir, "vendor", "x", "index.js"), "module.exports = 'v2';\n");
    const v2 = await build({ lockfile: dir, output: join(tmp, "out-yarn-2"), "cache-dir": cache }, io());
    expect(v2.result.nodeModules.cached).toBe(false);
    expect((await appLayers(join(tmp, "out-yarn-2"))).get("app/node_modules/x/index.js")).toMatchObject({
      text: "module.exports = 'v2';\n",
    });
  }, 240_000);
});

describe("the canary", () => {
  it("is where it was, and in no image", () => {
    expect(readFileSync(join(home, ".docker", "config.json"), "utf8")).toContain(CANARY);
    for (const out of ["out-plain", "out-in-links", "out-file-in", "out-pnpm-2"])
      expect(allBlobsText(join(tmp, out))).not.toContain(CANARY);
  });
});
