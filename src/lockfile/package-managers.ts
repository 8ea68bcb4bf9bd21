/**
 * Which package manager a lockfile needs, and that package manager, pinned: the same table as
 * bazel/private/npm/package_managers.bzl (package-managers.test.ts checks they agree). The kind is the lockfile's file
 * name; its version is checked before anything is installed, so an unsupported one is an error naming the file and
 * the version found. pnpm and yarn are the npm registry's tarballs, downloaded once into the cache and checked against
 * the registry's integrity before use; npm is the one on PATH.
 */
import { createHash } from "node:crypto";
import { spawnSync } from "node:child_process";
import { existsSync, promises as fsp } from "node:fs";
import { join } from "node:path";
import { PipelineError, redactUrl } from "../errors";

export type LockfileKind = "npm" | "pnpm" | "yarn";
export type PackageManager = "npm" | "pnpm" | "yarn-classic" | "yarn-berry";

export interface ToolPin {
  version: string;
  url: string;
  integrity: string;
  /** The entry script inside the package, run with node. */
  bin: string;
}

export const PACKAGE_MANAGERS: Readonly<Record<Exclude<PackageManager, "npm">, ToolPin>> = {
  pnpm: {
    version: "9.15.9",
    url: "https://registry.npmjs.org/pnpm/-/pnpm-9.15.9.tgz",
    integrity: "sha512-aARhQYk8ZvrQHAeSMRKOmvuJ74fiaR1p5NQO7iKJiClf1GghgbrlW1hBjDolO95lpQXsfF+UA+zlzDzTfc8lMQ==",
    bin: "bin/pnpm.cjs",
  },
  "yarn-classic": {
    version: "1.22.22",
    url: "https://registry.npmjs.org/yarn/-/yarn-1.22.22.tgz",
    integrity: "sha512-prL3kGtyG7o9Z9Sv8IPfBNrWTDmXB4Qbes8A9rEzt6wkJV8mUvoirjU0Mp3GGAU06Y0XQyA3/2/RQFVuK7MTfg==",
    bin: "bin/yarn.js",
  },
  "yarn-berry": {
    version: "4.9.2",
    url: "https://registry.npmjs.org/@yarnpkg/cli-dist/-/cli-dist-4.9.2.tgz",
    integrity: "sha512-qrMyWzvEnWhaWOflvE1pGxWGiVOPsO/q4XfGCeRPnLU8ECkvhrhJEfCNakcy3s3VHcApBASQ4fmL0sOEw6xtZQ==",
    bin: "bin/yarn.js",
  },
};

/** Lockfile names, in the order a project directory is searched. */
export const LOCKFILE_NAMES: readonly (readonly [string, LockfileKind])[] = [
  ["npm-shrinkwrap.json", "npm"],
  ["package-lock.json", "npm"],
  ["pnpm-lock.yaml", "pnpm"],
  ["yarn.lock", "yarn"],
];

/** The `__metadata.version` of a yarn berry lockfile the pinned Yarn 4 installs with --immutable. */
export const YARN_BERRY_METADATA: readonly string[] = ["8"];

/**
 * The `nodeLinker` values of a yarn berry project's `.yarnrc.yml` that are honoured: the packages are installed as a
 * node_modules tree, what the image's /app/node_modules is made of (package_managers.bzl's YARN_NODE_LINKERS).
 */
export const YARN_NODE_LINKERS: readonly string[] = ["node-modules"];

/** The kind of a lockfile from its file name, else undefined. */
export function lockfileKind(basename: string): LockfileKind | undefined {
  return LOCKFILE_NAMES.find(([name]) => name === basename)?.[1];
}

/** The value of the first `<indent>key: value` line of a YAML text, unquoted. */
function yamlScalar(text: string, key: string, indent = ""): string | undefined {
  for (const line of text.split("\n")) {
    if (line.startsWith(`${indent}${key}:`)) {
      const v = line
        .slice(indent.length + key.length + 1)
        .replace(/ #.*$/, "")
        .trim();
      return v.length >= 2 && v[0] === v[v.length - 1] && (v[0] === "'" || v[0] === '"') ? v.slice(1, -1) : v;
    }
  }
  return undefined;
}

function unsupported(path: string, message: string): PipelineError {
  return new PipelineError("E_LOCKFILE_VERSION", `${path}: ${message}`);
}

/** The package manager that installs the lockfile at `path` (of `kind`) with text `text`; an unsupported version throws. */
export function lockfileManager(kind: LockfileKind, text: string, path: string): PackageManager {
  if (kind === "npm") {
    let lock: unknown;
    try {
      lock = JSON.parse(text);
    } catch (e) {
      throw new PipelineError("E_BAD_INPUT", `${path}: not valid JSON (${(e as Error).message})`);
    }
    const version =
      lock && typeof lock === "object" ? (lock as { lockfileVersion?: unknown }).lockfileVersion : undefined;
    if (typeof version !== "number" || version < 2) {
      throw unsupported(
        path,
        `lockfileVersion ${JSON.stringify(version)} is not supported (need 2 or 3, written by npm 7 or later)`,
      );
    }
    return "npm";
  }
  if (kind === "pnpm") {
    const v = yamlScalar(text, "lockfileVersion");
    if (v === undefined)
      throw unsupported(path, "no lockfileVersion found (supported: '9.0', written by pnpm 9 and 10)");
    if (!v.startsWith("9.")) {
      throw unsupported(
        path,
        `lockfileVersion ${JSON.stringify(v)} is not supported (supported: '9.0', written by pnpm 9 and 10); regenerate it with \`pnpm install --lockfile-only\` using pnpm >= 9`,
      );
    }
    return "pnpm";
  }
  if (/^__metadata:/m.test(text)) {
    const meta = text.slice(text.search(/^__metadata:/m));
    const v = yamlScalar(meta, "version", "  ");
    if (v === undefined || !YARN_BERRY_METADATA.includes(v)) {
      throw unsupported(
        path,
        `yarn berry __metadata version ${JSON.stringify(v ?? null)} is not supported (supported: ${YARN_BERRY_METADATA.join(", ")}, written by Yarn 4); regenerate it with \`yarn install\` using Yarn 4`,
      );
    }
    return "yarn-berry";
  }
  if (text.includes("# yarn lockfile v1")) return "yarn-classic";
  throw unsupported(path, "neither a yarn classic lockfile (`# yarn lockfile v1`) nor a yarn berry one (`__metadata`)");
}

/**
 * Checks a yarn berry project's `.yarnrc.yml` at `path`: Yarn reads it as it is, but for `yarnPath` (the pinned Yarn
 * runs) and `enableScripts` (install scripts are off); a `nodeLinker` other than node-modules cannot be honoured.
 */
export function checkYarnrc(text: string, path: string): void {
  const linker = yamlScalar(text, "nodeLinker");
  if (linker !== undefined && !YARN_NODE_LINKERS.includes(linker)) {
    throw new PipelineError(
      "E_BAD_INPUT",
      `${path}: nodeLinker ${JSON.stringify(linker)} is not supported (supported: ${YARN_NODE_LINKERS.join(", ")}): the packages are installed as a node_modules tree, which the image's /app/node_modules and the compiles are made of; set \`nodeLinker: node-modules\``,
    );
  }
}

/** The SRI string (`sha512-<base64>`) of `bytes` in the algorithm `integrity` names. */
export function integrityOf(bytes: Buffer, integrity: string): string {
  const algo = integrity.slice(0, integrity.indexOf("-"));
  return `${algo}-${createHash(algo).update(bytes).digest("base64")}`;
}

/**
 * The pinned `manager`'s entry script under `<cacheDir>/tools/<manager>-<version>/`, downloaded and checked against its
 * integrity first when absent. The download goes to a temporary directory renamed into place: a crash leaves no half
 * tool behind.
 */
export async function ensureTool(
  manager: Exclude<PackageManager, "npm">,
  cacheDir: string,
  fetchImpl: typeof fetch = fetch,
): Promise<string> {
  const pin = PACKAGE_MANAGERS[manager];
  const dir = join(cacheDir, "tools", `${manager}-${pin.version}`);
  const entry = join(dir, pin.bin);
  if (existsSync(entry)) return entry;
  let bytes: Buffer;
  try {
    const res = await fetchImpl(pin.url);
    if (!res.ok) throw new Error(`HTTP ${res.status}`);
    bytes = Buffer.from(await res.arrayBuffer());
  } catch (e) {
    throw new PipelineError(
      "E_NPM_NETWORK",
      `downloading ${manager} ${pin.version} from ${redactUrl(pin.url)} failed: ${(e as Error).message}`,
    );
  }
  const got = integrityOf(bytes, pin.integrity);
  if (got !== pin.integrity) {
    throw new PipelineError(
      "E_INTEGRITY",
      `${redactUrl(pin.url)}: integrity ${got} is not the pinned ${pin.integrity}; not using it`,
    );
  }
  await fsp.mkdir(join(cacheDir, "tools"), { recursive: true });
  const tmp = await fsp.mkdtemp(join(cacheDir, "tools", `.${manager}-`));
  try {
    await fsp.writeFile(join(tmp, "package.tgz"), bytes);
    const r = spawnSync("tar", ["xzf", "package.tgz", "--strip-components=1"], { cwd: tmp, encoding: "utf8" });
    if (r.status !== 0)
      throw new PipelineError("E_NPM", `unpacking ${manager} ${pin.version}: tar exited ${r.status}: ${r.stderr}`);
    await fsp.rm(join(tmp, "package.tgz"));
    await fsp.rename(tmp, dir).catch(async (e: NodeJS.ErrnoException) => {
      if (e.code !== "ENOTEMPTY" && e.code !== "EEXIST") throw e; // another build put it there first
    });
  } finally {
    await fsp.rm(tmp, { recursive: true, force: true });
  }
  return entry;
}
