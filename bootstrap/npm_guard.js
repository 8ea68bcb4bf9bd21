// @ts-check
/**
 * What a repository may tell the package manager that installs its lockfile, once for both routes: `npm_repo.bzl`
 * runs this file (`node npm_guard.js ...`, below) before any install, and `pipeline build --lockfile` imports it
 * (src/lockfile/install.ts). Plain JavaScript, CommonJS, no dependencies: it runs before any npm package is installed.
 *
 * 1. Dependencies "prepared from source": yarn 1 runs a git dependency's `preinstall`/`prepare` and Yarn 4 its
 *    `preinstall`/`prepack` while cloning it, whatever `--ignore-scripts`/`enableScripts` say, before the install
 *    script allow-list is asked; Yarn 4's `exec:` runs a repository script to make a package. So every yarn.lock
 *    entry must resolve through an allow-list of sources: the registry (semver ranges, tags, `npm:` aliases),
 *    http(s) tarballs (`.tgz`/`.tar.gz`, not on a git host), `file:`/`link:`/`portal:`/`workspace:`, and Yarn 4's
 *    `patch:` of one of these. Anything else (git, `github:`, `user/repo`, a git host's archive, `exec:`...) is refused
 *    naming the lockfile, the package and its resolution, unless the package is in the install-script allow-list
 *    (then the package manager prepares it, scripts included). npm and pnpm run no such script with scripts off
 *    (test/e2e/lockfile-hostile-repo.test.ts keeps it so) and are not checked.
 * 2. Configuration: the project's `.npmrc`, `.yarnrc`, `.yarnrc.yml` and `pnpm-workspace.yaml` are read through an
 *    allow-list of keys (registries, scopes, credentials, TLS, proxies, timeouts, peer and hoisting settings); the
 *    package manager sees a copy holding those keys only, written into its scratch directory. Every other key is
 *    dropped with a line naming the file and the key: those that load code (`plugins`, `yarnPath`, `yarn-path`,
 *    `pnpmfile`, `global-pnpmfile`, `node-options`, `script-shell`, `git`, `node-gyp`, `injectEnvironmentFiles`...),
 *    move writes (`cache`, `logs-dir`, `prefix`, `store-dir`, `cacheFolder`, `globalFolder`, `tmp`, `userconfig`...) and
 *    whatever is not known to be neither. `${VAR}` (expanded from the build host's environment by every package
 *    manager) is kept only in credentials (`_authToken`, `_auth`, `_password`, `username`, `npmAuthToken`,
 *    `npmAuthIdent`); anywhere else the key is dropped, so a repository cannot copy the environment into a URL.
 *
 *   node npm_guard.js MANAGER LOCKFILE WHERE OUT [--allow NAME]... [--config NAME=PATH]...
 * checks LOCKFILE (WHERE names it in messages) and writes the allowed part of each config file into OUT; prints a
 * line per dropped key on stdout; exits 1 with the reason on stderr when a dependency is refused or a file cannot be
 * read. MANAGER: npm, pnpm, yarn-classic or yarn-berry.
 */
"use strict";
const fs = require("node:fs");
const path = require("node:path");

/**
 * The configuration files each package manager reads from the project's directory.
 * @type {Record<"npm" | "pnpm" | "yarn-classic" | "yarn-berry", string[]>}
 */
const CONFIG_FILES = {
  npm: [".npmrc"],
  pnpm: [".npmrc", "pnpm-workspace.yaml"],
  "yarn-classic": [".npmrc", ".yarnrc"],
  "yarn-berry": [".yarnrc.yml"],
};

/** Every name in CONFIG_FILES: the files a package manager may read (ignore.ts keeps them out of /app at any depth). */
const CONFIG_NAMES = [".npmrc", ".yarnrc", ".yarnrc.yml", "pnpm-workspace.yaml"];

// .npmrc (npm, pnpm, yarn 1) and .yarnrc (yarn 1): keys that only say where packages come from and how they are
// laid out. Scoped registries (`@scope:registry`) and per-registry credentials (`//host/path/:_authToken`) too.
const NPMRC_KEYS = new Set(
  (
    "registry strict-ssl ca cafile proxy https-proxy noproxy always-auth fetch-retries fetch-retry-factor " +
    "fetch-retry-mintimeout fetch-retry-maxtimeout fetch-timeout network-timeout network-concurrency maxsockets " +
    "legacy-peer-deps strict-peer-dependencies auto-install-peers engine-strict install-strategy install-links " +
    "dedupe-peer-dependents hoist hoist-pattern public-hoist-pattern shamefully-hoist node-linker " +
    "link-workspace-packages prefer-workspace-packages shared-workspace-lockfile inject-workspace-packages " +
    "dedupe-direct-deps resolve-peers-from-workspace-root exclude-links-from-lockfile peers-suffix-max-length " +
    "lockfile-include-tarball-url include-workspace-root resolution-mode registry-supports-time-field " +
    "save-exact save-prefix package-lock optional omit include os cpu libc"
  ).split(" "),
);
const SCOPED_REGISTRY = /^@[a-z0-9][\w.-]*:registry$/i;
const REGISTRY_CREDENTIAL = /^\/\/[^\s:]+(?::\d+)?[^\s]*:(_authToken|_auth|_password|username|email|always-auth)$/;
const NPMRC_SECRETS = /(^|:)(_authToken|_auth|_password|username)$/;

// .yarnrc.yml (Yarn 4): the top-level settings kept (Yarn's names, https://yarnpkg.com/configuration/yarnrc).
const YARNRC_YML_KEYS = new Set(
  (
    "npmRegistryServer npmScopes npmRegistries npmAuthToken npmAuthIdent npmAlwaysAuth npmPublishRegistry " +
    "caFilePath enableStrictSsl httpProxy httpsProxy httpTimeout httpRetry networkConcurrency networkSettings " +
    "unsafeHttpWhitelist enableNetwork nodeLinker nmHoistingLimits nmMode nmSelfReferences packageExtensions " +
    "supportedArchitectures enableTransparentWorkspaces defaultSemverRangePrefix enableTelemetry enableColors " +
    "enableProgressBars enableGlobalCache enableHardenedMode logFilters compressionLevel"
  ).split(" "),
);
const YARNRC_YML_SECRETS = /^\s*(npmAuthToken|npmAuthIdent)\s*:/;

// pnpm-workspace.yaml: pnpm 9.15.9 reads these (pnpm 10 also reads settings there; none is kept).
const PNPM_WORKSPACE_KEYS = new Set(["packages", "catalog", "catalogs"]);

/**
 * @typedef {{ file: string, key: string, why: string }} Dropped
 * @typedef {{ text: string, dropped: Dropped[] }} Filtered
 */

/** An error whose message names the file and what is wrong in it: E_BAD_INPUT in the CLI, a failed fetch in Bazel. */
class GuardError extends Error {}

const NOT_ALLOWED = 'not among the keys a repository may set (docs/npm.md, "What a repository you build can do")';

/**
 * `.npmrc` (ini: `key=value`, `key[]=value`, `;`/`#` comments, `[section]`s) or yarn 1's `.yarnrc` (`key value`,
 * `key "value"`, `--flag value`): the lines of allowed keys, verbatim.
 * @param {string} text @param {string} file @param {boolean} yarnrc
 * @returns {Filtered}
 */
function filterIni(text, file, yarnrc) {
  /** @type {string[]} */ const kept = [];
  /** @type {Dropped[]} */ const dropped = [];
  let inSection = false;
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#") || line.startsWith(";")) continue;
    if (!yarnrc && line.startsWith("[")) {
      inSection = true; // npm reads no section: what follows is ignored by it, and by us
      dropped.push({ file, key: line, why: "a section, which the package manager ignores" });
      continue;
    }
    const m = yarnrc ? /^("(?:[^"\\]|\\.)*"|[^\s"]+)\s*(.*)$/.exec(line) : /^([^=]*?)\s*(?:=\s*(.*))?$/.exec(line);
    let key = (m?.[1] ?? line).replace(/\[\]$/, "");
    if (yarnrc && /^"[^"\\]*"$/.test(key)) key = key.slice(1, -1);
    const value = m?.[2] ?? "";
    const allowed =
      !inSection &&
      !key.includes("${") &&
      (NPMRC_KEYS.has(key) || SCOPED_REGISTRY.test(key) || REGISTRY_CREDENTIAL.test(key));
    if (!allowed) dropped.push({ file, key, why: inSection ? "inside a section" : NOT_ALLOWED });
    else if (/\$\{/.test(value) && !NPMRC_SECRETS.test(key)) {
      dropped.push({
        file,
        key,
        why: "its value has a ${...}: environment variables are expanded in credentials only",
      });
    } else kept.push(line);
  }
  return { text: kept.length ? `${kept.join("\n")}\n` : "", dropped };
}

/**
 * A YAML file's top-level keys through `allowed`: each `key:` line at column 0 with the indented, blank or comment
 * lines under it is one block, kept or dropped whole. A line at column 0 that is not a plain `key:` (a quoted or
 * complex key, a merge `<<`, a document marker, a flow mapping) makes the file unreadable here: refused.
 * @param {string} text @param {string} file @param {Set<string>} allowed @param {RegExp | undefined} secrets
 * @returns {Filtered}
 */
function filterYaml(text, file, allowed, secrets) {
  /** @type {{ key: string, lines: string[] }[]} */ const blocks = [];
  for (const [i, line] of text.split(/\r?\n/).entries()) {
    if (/^(\s|#|$)/.test(line)) {
      if (blocks.length) blocks[blocks.length - 1].lines.push(line);
      else if (/^\s+\S/.test(line) && !/^\s+#/.test(line))
        throw new GuardError(`${file} line ${i + 1}: indented before any key`);
      continue;
    }
    const m = /^([A-Za-z][A-Za-z0-9_-]*)\s*:(\s|$)/.exec(line);
    if (!m) {
      throw new GuardError(
        `${file} line ${i + 1}: ${JSON.stringify(line.slice(0, 60))} is not a plain \`key: value\`; write the settings as top-level plain keys`,
      );
    }
    blocks.push({ key: m[1], lines: [line] });
  }
  /** @type {string[]} */ const kept = [];
  /** @type {Dropped[]} */ const dropped = [];
  for (const b of blocks) {
    if (!allowed.has(b.key)) dropped.push({ file, key: b.key, why: NOT_ALLOWED });
    else if (b.lines.some((l) => /\$\{/.test(l) && !secrets?.test(l))) {
      dropped.push({
        file,
        key: b.key,
        why: "a value in it has a ${...}: environment variables are expanded in credentials only",
      });
    } else kept.push(...b.lines);
  }
  return { text: kept.length ? `${kept.join("\n").replace(/\s+$/, "")}\n` : "", dropped };
}

/**
 * The allowed part of the configuration file `name` (one of CONFIG_NAMES), and what was dropped.
 * @param {string} name @param {string} text @param {string} file where it is, for messages
 * @returns {Filtered}
 */
function filterConfig(name, text, file) {
  if (name === ".npmrc") return filterIni(text, file, false);
  if (name === ".yarnrc") return filterIni(text, file, true);
  if (name === ".yarnrc.yml") return filterYaml(text, file, YARNRC_YML_KEYS, YARNRC_YML_SECRETS);
  if (name === "pnpm-workspace.yaml") return filterYaml(text, file, PNPM_WORKSPACE_KEYS, undefined);
  throw new GuardError(`${file}: not a package manager configuration file (${CONFIG_NAMES.join(", ")})`);
}

// Hosts whose URLs yarn takes for git repositories (yarn 1's GIT_HOSTS, Yarn 4's hosted-git patterns).
const GIT_HOSTS = /^(github\.com|gist\.github\.com|codeload\.github\.com|gitlab\.com|bitbucket\.org|bitbucket\.com)$/i;

/**
 * Whether `url` is an http(s) tarball that no git resolver claims: a `.tgz`/`.tar.gz` path, not on a git host.
 * @param {string} url
 */
function isPlainTarball(url) {
  let u;
  try {
    u = new URL(url);
  } catch {
    return false;
  }
  if (u.protocol !== "http:" && u.protocol !== "https:") return false;
  if (GIT_HOSTS.test(u.hostname) || /\.git(\/|$)/.test(u.pathname)) return false;
  return /\.(tgz|tar\.gz)$/.test(u.pathname) && !/^(commit|head|tag|semver)=/.test(u.hash.slice(1));
}

/**
 * A yarn 1 range that yarn resolves without a git clone: semver or a tag, `npm:` alias, `file:`/`link:`, a tarball.
 * @param {string} range
 * @returns {boolean}
 */
function classicRangeOk(range) {
  if (range.startsWith("npm:"))
    return classicRangeOk(range.slice(range.lastIndexOf("@") > 4 ? range.lastIndexOf("@") + 1 : 4));
  if (/^(file|link):/.test(range)) return !/\.git(#|$)/.test(range);
  if (/^https?:\/\//.test(range)) return isPlainTarball(range);
  return !/[:/]/.test(range); // `user/repo` is GitHub, `x:` another protocol
}

/**
 * A yarn 1 `resolved`: a registry or tarball URL, or a file.
 * @param {string} resolved
 */
function classicResolvedOk(resolved) {
  if (resolved.startsWith("file:")) return !/\.git(#|$)/.test(resolved);
  try {
    const u = new URL(resolved);
    return (u.protocol === "http:" || u.protocol === "https:") && !GIT_HOSTS.test(u.hostname);
  } catch {
    return false;
  }
}

/**
 * A Yarn 4 locator reference (`npm:1.0.0`, `patch:x@npm%3A1.0.0#...`) fetched without preparing a clone.
 * @param {string} ref
 * @returns {boolean}
 */
function berryReferenceOk(ref) {
  if (ref.startsWith("patch:")) {
    const inner = decodeURIComponent(ref.slice("patch:".length).split("#")[0]);
    const at = inner.indexOf("@", 1);
    return at > 0 && berryReferenceOk(inner.slice(at + 1));
  }
  if (/^(npm|workspace|file|link|portal):/.test(ref)) return !/^file:.*\.git(#|$)/.test(ref);
  if (/^https?:\/\//.test(ref)) return isPlainTarball(ref.split("::")[0]);
  return false; // git, github:, exec:, and whatever a plugin would resolve
}

/** @param {string} s */
function unquote(s) {
  const t = s.trim();
  return t.length >= 2 && t[0] === '"' && t[t.length - 1] === '"' ? t.slice(1, -1) : t;
}

/**
 * The entries of a yarn.lock that yarn would prepare from source (clone, run scripts, pack): [{name, resolution}].
 * @param {string} manager @param {string} text
 * @returns {{ name: string, resolution: string }[]}
 */
function preparedFromSource(manager, text) {
  /** @type {{ name: string, resolution: string }[]} */ const out = [];
  if (manager !== "yarn-classic" && manager !== "yarn-berry") return out;
  /** @type {{ descriptors: string[], fields: Record<string, string> } | undefined} */ let entry;
  const entries = [];
  for (const line of text.split(/\r?\n/)) {
    if (/^[^\s#]/.test(line) && line.endsWith(":")) {
      entry = { descriptors: line.slice(0, -1).split(",").map(unquote), fields: {} };
      entries.push(entry);
    } else if (entry && /^ {2}\S/.test(line)) {
      const m = manager === "yarn-berry" ? /^ {2}(\w+):\s*(.*)$/.exec(line) : /^ {2}(\w+)\s+(.*)$/.exec(line);
      if (m) entry.fields[m[1]] = unquote(m[2]);
    } else if (/^\S/.test(line)) entry = undefined;
  }
  for (const e of entries) {
    const first = e.descriptors[0];
    if (first === "__metadata") continue;
    const name = first.slice(0, first.indexOf("@", 1) > 0 ? first.indexOf("@", 1) : first.length);
    if (manager === "yarn-berry") {
      const resolution = e.fields.resolution ?? first;
      const ref = resolution.slice(resolution.indexOf("@", 1) + 1);
      if (!berryReferenceOk(ref)) out.push({ name, resolution });
      continue;
    }
    const ranges = e.descriptors.map((d) => d.slice(d.indexOf("@", 1) + 1));
    const resolved = e.fields.resolved;
    if (!ranges.every(classicRangeOk) || (resolved !== undefined && !classicResolvedOk(resolved))) {
      out.push({ name, resolution: resolved ?? e.descriptors.join(", ") });
    }
  }
  return out;
}

/**
 * Why the lockfile at `where` cannot be installed with `allow` as the install-script allow-list, or undefined.
 * @param {string} manager @param {string} text @param {string} where @param {readonly string[]} allow @param {string} flag
 */
function sourceProblem(manager, text, where, allow, flag) {
  const refused = preparedFromSource(manager, text).filter((p) => !allow.includes(p.name));
  if (!refused.length) return undefined;
  const one = refused.length === 1;
  return [
    `${where}: ${one ? "a dependency is" : "dependencies are"} prepared from source (a git clone or a command), which ` +
      `${manager === "yarn-classic" ? "yarn 1" : "Yarn 4"} does by running ${one ? "its" : "their"} scripts ` +
      "(preinstall, prepare, prepack) on this machine, scripts off or not:",
    ...refused.map((p) => `  ${p.name} (${p.resolution})`),
    `Depend on a registry version or a tarball instead, or add ${refused.map((p) => JSON.stringify(p.name)).join(", ")} ` +
      `to ${flag} to let it run them.`,
  ].join("\n");
}

/** @param {string[]} argv */
function main(argv) {
  const [manager, lockfile, where, out, ...rest] = argv;
  /** @type {string[]} */ const allow = [];
  /** @type {[string, string][]} */ const configs = [];
  for (let i = 0; i < rest.length; i += 2) {
    if (rest[i] === "--allow") allow.push(rest[i + 1]);
    else if (rest[i] === "--config") {
      const eq = rest[i + 1].indexOf("=");
      configs.push([rest[i + 1].slice(0, eq), rest[i + 1].slice(eq + 1)]);
    } else throw new Error(`npm_guard.js: unknown argument ${rest[i]}`);
  }
  try {
    const problem = sourceProblem(manager, fs.readFileSync(lockfile, "utf8"), where, allow, "`allow_install_scripts`");
    if (problem) throw new GuardError(problem);
    for (const [label, file] of configs) {
      const name = path.basename(file);
      const names = Object.entries(CONFIG_FILES).find(([m]) => m === manager)?.[1] ?? [];
      if (!names.includes(name)) continue;
      const { text, dropped } = filterConfig(name, fs.readFileSync(file, "utf8"), label);
      for (const d of dropped) process.stdout.write(`${d.file}: ${d.key} ignored: ${d.why}\n`);
      if (text) fs.writeFileSync(path.join(out, name), text, { mode: 0o600 });
    }
  } catch (e) {
    if (!(e instanceof GuardError)) throw e;
    process.stderr.write(`${e.message}\n`);
    return 1;
  }
  return 0;
}

if (require.main === module) process.exitCode = main(process.argv.slice(2));
module.exports = { CONFIG_FILES, CONFIG_NAMES, GuardError, filterConfig, preparedFromSource, sourceProblem };
