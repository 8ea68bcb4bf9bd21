/**
 * bootstrap/npm_guard.js: which yarn.lock entries yarn would prepare from source (refused unless allowed), and the
 * allow-list of package-manager configuration keys a repository may set. The real package managers meet it in
 * test/e2e/lockfile-hostile-repo.test.ts; here, every kind of source and key, and the command line npm_repo.bzl runs.
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { CONFIG_NAMES, filterConfig, GuardError, preparedFromSource, sourceProblem } from "../../bootstrap/npm_guard";

const GUARD = join(__dirname, "..", "..", "bootstrap", "npm_guard.js");
const REPO = join(__dirname, "..", "..");
const tmp = mkdtempSync(join(tmpdir(), "rp-npm-guard-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const classic = (entries: [string, string | undefined][]) =>
  `# yarn lockfile v1\n\n\n${entries.map(([header, resolved]) => `${header}:\n  version "1.0.0"\n${resolved ? `  resolved "${resolved}"\n` : ""}`).join("\n")}`;
const berry = (resolutions: string[]) =>
  `__metadata:\n  version: 8\n  cacheKey: 10c0\n\n${resolutions.map((r) => `"${r}":\n  version: 1.0.0\n  resolution: "${r}"\n  languageName: node\n  linkType: hard\n`).join("\n")}`;

describe("preparedFromSource: yarn 1", () => {
  it("accepts the registry, npm: aliases, tarballs and files", () => {
    const text = classic([
      [
        "ms@^2.1.1, ms@2.1.3",
        "https://registry.yarnpkg.com/ms/-/ms-2.1.3.tgz#574c8138ce1d2b5861f0b44579dbadd60c6615b2",
      ],
      ['"@types/ms@>= 2 < 3"', "https://registry.yarnpkg.com/@types/ms/-/ms-2.1.0.tgz"],
      ['"alias@npm:ms@^2.1.3"', "https://registry.yarnpkg.com/ms/-/ms-2.1.3.tgz"],
      ['"scripted@file:vendor/scripted-1.0.0.tgz"', "file:vendor/scripted-1.0.0.tgz#6d0e98"],
      ['"tar@https://example.com/pkgs/tar-1.0.0.tgz"', "https://example.com/pkgs/tar-1.0.0.tgz"],
      ['"gh@https://npm.pkg.github.com/download/@acme/gh/1.0.0/abc"', undefined],
      ['"local@file:../local"', undefined],
      ['"@acme/pkg@^1.0.0"', "https://npm.pkg.github.com/download/@acme/pkg/1.0.0/0123abcd"],
      ["latest@latest", "https://registry.npmjs.org/latest/-/latest-1.0.0.tgz"],
    ]);
    expect(preparedFromSource("yarn-classic", text).map((p) => p.name)).toEqual(["gh"]);
  });

  it("refuses git in every spelling, git hosts' archives, and a git `resolved` behind a semver range", () => {
    const sha = "7b2ccb2c3e987ab5c831d86b61c7f9562d01483b";
    const text = classic([
      ['"a@git+https://example.com/a.git"', `git+https://example.com/a.git#${sha}`],
      ['"b@git+ssh://git@example.com/b.git"', `git+ssh://git@example.com/b.git#${sha}`],
      ['"c@github:acme/c"', `https://codeload.github.com/acme/c/tar.gz/${sha}`],
      ["d@acme/d", `https://codeload.github.com/acme/d/tar.gz/${sha}`],
      ['"e@https://github.com/acme/e/archive/v1.tar.gz"', "https://github.com/acme/e/archive/v1.tar.gz"],
      ['"f@https://example.com/f.git#v1"', `https://example.com/f.git#${sha}`],
      ["g@^1.0.0", `git+https://example.com/g.git#${sha}`],
      ['"h@git://example.com/h"', `git://example.com/h#${sha}`],
    ]);
    expect(preparedFromSource("yarn-classic", text)).toEqual([
      { name: "a", resolution: `git+https://example.com/a.git#${sha}` },
      { name: "b", resolution: `git+ssh://git@example.com/b.git#${sha}` },
      { name: "c", resolution: `https://codeload.github.com/acme/c/tar.gz/${sha}` },
      { name: "d", resolution: `https://codeload.github.com/acme/d/tar.gz/${sha}` },
      { name: "e", resolution: "https://github.com/acme/e/archive/v1.tar.gz" },
      { name: "f", resolution: `https://example.com/f.git#${sha}` },
      { name: "g", resolution: `git+https://example.com/g.git#${sha}` },
      { name: "h", resolution: `git://example.com/h#${sha}` },
    ]);
  });

  it("the repository's own fixtures pass", () => {
    for (const dir of ["yarn", "scripts/yarn"]) {
      const text = readFileSync(join(REPO, "test/fixtures/lockfiles", dir, "yarn.lock"), "utf8");
      expect(preparedFromSource("yarn-classic", text)).toEqual([]);
    }
    for (const dir of ["berry", "scripts/berry"]) {
      const text = readFileSync(join(REPO, "test/fixtures/lockfiles", dir, "yarn.lock"), "utf8");
      expect(preparedFromSource("yarn-berry", text)).toEqual([]);
    }
  });
});

describe("preparedFromSource: Yarn 4", () => {
  it("accepts npm:, workspace:, file:, link:, portal:, tarballs and patch: of them", () => {
    const text = berry([
      "ms@npm:2.1.3",
      "app@workspace:.",
      "scripted@file:./vendor/scripted-1.0.0.tgz#./vendor/scripted-1.0.0.tgz::hash=7164c5&locator=app%40workspace%3A.",
      "l@link:./l::locator=app%40workspace%3A.",
      "p@portal:./p::locator=app%40workspace%3A.",
      "t@https://example.com/t-1.0.0.tgz",
      "fsevents@patch:fsevents@npm%3A2.3.3#optional!builtin<compat/fsevents>::version=2.3.3&hash=df0bf1",
    ]);
    expect(preparedFromSource("yarn-berry", text)).toEqual([]);
  });

  it("refuses git, github:, exec:, a git host's tarball and patch: of a git dependency", () => {
    const sha = "7b2ccb2c3e987ab5c831d86b61c7f9562d01483b";
    const refused = [
      `a@git+http://127.0.0.1:1/a.git#commit=${sha}`,
      `b@https://github.com/acme/b.git#commit=${sha}`,
      `c@github:acme/c#commit=${sha}`,
      "d@exec:./gen.js::locator=app%40workspace%3A.",
      `e@https://codeload.github.com/acme/e/tar.gz/${sha}`,
      `f@patch:f@git%2Bhttps%3A//example.com/f.git%23commit%3D${sha}#~/.yarn/patches/f.patch::version=1.0.0`,
      `g@ssh://git@example.com/g.git#commit=${sha}`,
    ];
    expect(preparedFromSource("yarn-berry", berry(refused))).toEqual(
      refused.map((r) => ({ name: r.slice(0, r.indexOf("@")), resolution: r })),
    );
  });

  it("npm and pnpm lockfiles are not read", () => {
    expect(preparedFromSource("npm", '{"packages":{"node_modules/a":{"resolved":"git+https://x/a.git"}}}')).toEqual([]);
    expect(preparedFromSource("pnpm", "packages:\n  a@1.0.0:\n    resolution: {type: git}\n")).toEqual([]);
  });
});

describe("sourceProblem", () => {
  const text = berry(["evil@git+http://127.0.0.1:1/evil.git#commit=abc", "ms@npm:2.1.3"]);

  it("names the lockfile, the package, its resolution and the flag that allows it", () => {
    const problem = sourceProblem("yarn-berry", text, "/p/yarn.lock", [], "--allow-install-scripts");
    expect(problem).toContain("/p/yarn.lock: a dependency is prepared from source");
    expect(problem).toContain("  evil (evil@git+http://127.0.0.1:1/evil.git#commit=abc)");
    expect(problem).toContain('add "evil" to --allow-install-scripts');
  });

  it("an allowed package passes", () => {
    expect(sourceProblem("yarn-berry", text, "/p/yarn.lock", ["evil"], "--allow-install-scripts")).toBeUndefined();
  });
});

describe("filterConfig: an allow-list of keys", () => {
  it(".npmrc keeps registries, scopes, credentials and TLS; drops what loads code or moves writes", () => {
    const text = [
      "registry=https://r.example/",
      "@acme:registry=https://s.example/",
      "//s.example/:_authToken=${NPM_TOKEN}",
      "strict-ssl=false",
      "cafile=/etc/ssl/ca.pem",
      "auto-install-peers=true",
      "omit[]=dev",
      "; a comment",
      "pnpmfile=pnpm-workspace.yaml",
      "global-pnpmfile=/tmp/x.cjs",
      "cache=/tmp/elsewhere",
      "logs-dir=/tmp/logs",
      "prefix=/tmp/prefix",
      "store-dir=/tmp/store",
      "userconfig=/tmp/u",
      "script-shell=/tmp/sh",
      "node-options=--require ./x.js",
      "git=./fake-git",
      "registry-x=1",
      "proxy=http://${HOME}.example/",
      "//${HOST}/:_authToken=x",
      "[section]",
      "registry=https://inside.example/",
    ].join("\n");
    const { text: kept, dropped } = filterConfig(".npmrc", text, "/p/.npmrc");
    expect(kept).toBe(
      "registry=https://r.example/\n@acme:registry=https://s.example/\n//s.example/:_authToken=${NPM_TOKEN}\n" +
        "strict-ssl=false\ncafile=/etc/ssl/ca.pem\nauto-install-peers=true\nomit[]=dev\n",
    );
    expect(dropped.map((d) => d.key)).toEqual([
      "pnpmfile",
      "global-pnpmfile",
      "cache",
      "logs-dir",
      "prefix",
      "store-dir",
      "userconfig",
      "script-shell",
      "node-options",
      "git",
      "registry-x",
      "proxy",
      "//${HOST}/:_authToken",
      "[section]",
      "registry",
    ]);
    expect(dropped.every((d) => d.file === "/p/.npmrc")).toBe(true);
    expect(dropped.find((d) => d.key === "proxy")?.why).toContain("expanded in credentials only");
  });

  it("yarn 1's .yarnrc: yarn-path, folders and flags dropped", () => {
    const text =
      'registry "https://r.example/"\n"@acme:registry" "https://s.example/"\nyarn-path "./evil.js"\n' +
      "cache-folder /tmp/c\n--modules-folder /tmp/m\nyarn-offline-mirror ./mirror\n";
    const { text: kept, dropped } = filterConfig(".yarnrc", text, "/p/.yarnrc");
    expect(kept).toBe('registry "https://r.example/"\n"@acme:registry" "https://s.example/"\n');
    expect(dropped.map((d) => d.key)).toEqual(["yarn-path", "cache-folder", "--modules-folder", "yarn-offline-mirror"]);
  });

  it(".yarnrc.yml: plugins, yarnPath, folders and ${VAR} outside credentials dropped, whole blocks", () => {
    const text = [
      "nodeLinker: node-modules",
      "plugins:",
      "  - path: .yarnrc.yml",
      "yarnPath: .yarn/releases/yarn.cjs",
      "cacheFolder: /tmp/cache",
      "globalFolder: /tmp/global",
      "injectEnvironmentFiles:",
      "  - .env",
      "npmScopes:",
      "  acme:",
      "    npmAuthToken: ${ACME_TOKEN}",
      "    npmRegistryServer: https://s.example",
      "npmRegistryServer: https://r.example/${HOME}",
      "",
    ].join("\n");
    const { text: kept, dropped } = filterConfig(".yarnrc.yml", text, "/p/.yarnrc.yml");
    expect(kept).toBe(
      "nodeLinker: node-modules\nnpmScopes:\n  acme:\n    npmAuthToken: ${ACME_TOKEN}\n    npmRegistryServer: https://s.example\n",
    );
    expect(dropped.map((d) => d.key)).toEqual([
      "plugins",
      "yarnPath",
      "cacheFolder",
      "globalFolder",
      "injectEnvironmentFiles",
      "npmRegistryServer",
    ]);
  });

  it("pnpm-workspace.yaml keeps packages and catalogs", () => {
    const text = "packages:\n  - packages/*\ncatalog:\n  ms: 2.1.3\npnpmfile: x.cjs\nstoreDir: /tmp/s\n";
    const { text: kept, dropped } = filterConfig("pnpm-workspace.yaml", text, "/p/pnpm-workspace.yaml");
    expect(kept).toBe("packages:\n  - packages/*\ncatalog:\n  ms: 2.1.3\n");
    expect(dropped.map((d) => d.key)).toEqual(["pnpmfile", "storeDir"]);
  });

  it("YAML this reader cannot split into top-level keys is refused naming the file and the line", () => {
    for (const text of [
      '"plugins": [x]\n',
      "<<: *a\n",
      "---\nnpmRegistryServer: x\n",
      "{plugins: [x]}\n",
      "  plugins: [x]\n",
    ]) {
      expect(() => filterConfig(".yarnrc.yml", text, "/p/.yarnrc.yml")).toThrow(GuardError);
      expect(() => filterConfig(".yarnrc.yml", text, "/p/.yarnrc.yml")).toThrow(/^\/p\/\.yarnrc\.yml line \d+:/);
    }
  });

  it("CONFIG_NAMES is npm_repo.bzl's list", () => {
    const bzl = readFileSync(join(REPO, "bazel/private/npm/npm_repo.bzl"), "utf8");
    const m = /^_CONFIG_NAMES = (\[.*\])$/m.exec(bzl);
    expect(m && JSON.parse(m[1])).toEqual(CONFIG_NAMES);
  });
});

describe("the command line npm_repo.bzl runs", () => {
  it("writes the allowed part of each config file, prints the dropped keys, fails on a refused dependency", () => {
    const out = join(tmp, "out");
    rmSync(out, { recursive: true, force: true });
    mkdirSync(out);
    writeFileSync(join(tmp, ".npmrc"), "registry=https://r.example/\ncache=/tmp/x\n");
    writeFileSync(join(tmp, "pnpm-lock.yaml"), "lockfileVersion: '9.0'\n");
    const ok = spawnSync(
      process.execPath,
      [
        GUARD,
        "pnpm",
        join(tmp, "pnpm-lock.yaml"),
        "//:pnpm-lock.yaml",
        out,
        "--config",
        `//:.npmrc=${join(tmp, ".npmrc")}`,
      ],
      {
        encoding: "utf8",
      },
    );
    expect(ok.status).toBe(0);
    expect(ok.stdout).toContain("//:.npmrc: cache ignored:");
    expect(readFileSync(join(out, ".npmrc"), "utf8")).toBe("registry=https://r.example/\n");

    writeFileSync(join(tmp, "yarn.lock"), berry(["evil@git+http://127.0.0.1:1/evil.git#commit=abc"]));
    const bad = spawnSync(process.execPath, [GUARD, "yarn-berry", join(tmp, "yarn.lock"), "//:yarn.lock", out], {
      encoding: "utf8",
    });
    expect(bad.status).toBe(1);
    expect(bad.stderr).toContain("//:yarn.lock: a dependency is prepared from source");
    expect(bad.stderr).toContain('add "evil" to `allow_install_scripts`');
    const allowed = spawnSync(
      process.execPath,
      [GUARD, "yarn-berry", join(tmp, "yarn.lock"), "//:yarn.lock", out, "--allow", "evil"],
      {
        encoding: "utf8",
      },
    );
    expect(allowed.status).toBe(0);
    expect(existsSync(join(out, ".yarnrc.yml"))).toBe(false);
  });
});
