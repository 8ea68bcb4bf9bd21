/**
 * A generated npm dependency tree for the monorepo benchmarks (P9-P11), installable offline by plain `npm ci`:
 * package tarballs plus a package.json and a lockfile (v3) whose `resolved` fields are absolute `file:` paths
 * with sha512 integrity. Deterministic from a seed (tarballs are tar --sort=name, mtime 0, root-owned, gzipped
 * by zlib with a fixed header): the same seed gives the same packages and byte-identical tarballs; the lockfile
 * differs only in the tarballs' absolute paths.
 *
 * Why tarballs and `file:` URLs rather than the machine's npm cache: `npm ci` honours `file:` tarballs in a
 * lockfile without the network (checked with `unshare -n npm ci --offline`), from any working directory (the
 * paths are absolute), which is what all three consumers need: Bazel's `npm_dependencies` (npm ci inside the
 * external repository), `pipeline build --lockfile` (npm ci in a scratch directory) and the plain-npm peers. The
 * npm cache holds whatever earlier installs left there, which is neither ~5,000 files of our choosing nor certain.
 *
 * Shapes, like a real tree: packages with bundled types (`types` → lib/index.d.ts re-exporting a dozen modules),
 * untyped packages typed by an `@types/<name>` companion (devDependencies, declarations only), untyped packages
 * with minified bundles and source maps, scoped packages, a few nested copies at another major version, and the
 * real `@types/node` + `undici-types` packed from the checkout's node_modules (every Node TypeScript project has
 * them; their versions are the ones pinned by the repository's lockfile).
 */
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { cpSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { gzipSync } from "node:zlib";
import { Rng, TextGen } from "./gen";

export interface NpmPackage {
  /** npm name ("foo", "@scope/foo", "@types/foo"). */
  name: string;
  version: string;
  /** Install path ("node_modules/foo", "node_modules/a/node_modules/b"). */
  path: string;
  kind: "typed" | "untyped" | "types" | "host" | "platform";
  /** Dependencies by name → range. */
  deps: Record<string, string>;
  /** The function its entry point exports (typed and untyped packages). */
  exportName: string;
  files: number;
}

export interface NpmTree {
  dir: string;
  packageJson: string;
  lockfile: string;
  packages: NpmPackage[];
  /** What the library imports: packages with bundled types, and untyped ones with their `@types` companion. */
  direct: { name: string; exportName: string; types?: string }[];
  /** The esbuild-shaped package (a dependency of the root) and its optional platform packages, one installed. */
  platform: PlatformPackages;
  /** Files of the installed packages (not counting the other platforms' packages, which npm skips). */
  files: number;
  bytes: number;
}

const cap = (s: string) => s[0].toUpperCase() + s.slice(1);
const ident = (s: string) => s.replace(/[^a-zA-Z]/g, "");

/** One syntactically valid declaration module (every name starts with `prefix`, so none is a reserved word). */
export function declarations(t: TextGen, r: Rng, prefix: string, size: number): string {
  const out: string[] = [];
  const names: string[] = [];
  const fresh = () => {
    const n = `${prefix}${cap(ident(r.pick(t.vocab)) || "X")}${names.length}`;
    names.push(n);
    return n;
  };
  const type = () =>
    names.length && r.chance(0.3)
      ? r.pick(names.filter((n) => /^[A-Z]/.test(n))) || "string"
      : r.pick([
          "string",
          "number",
          "boolean",
          "unknown",
          "string[]",
          "Record<string, unknown>",
          "Promise<void>",
          "number | undefined",
        ]);
  const field = () => `${ident(r.pick(t.vocab)).toLowerCase() || "x"}${r.chance(0.3) ? "?" : ""}: ${type()};`;
  let n = 0;
  while (n < size) {
    const doc = r.chance(0.5)
      ? `/** ${t
          .markdown(40 + r.int(120))
          .replace(/\*\//g, "")
          .replace(/\n/g, " ")} */\n`
      : "";
    const k = r.int(5);
    let d: string;
    if (k === 0)
      d = `export interface ${fresh()} {\n${Array.from({ length: 1 + r.int(8) }, () => "    " + field()).join("\n")}\n}`;
    else if (k === 1)
      d = `export type ${fresh()} = ${Array.from({ length: 1 + r.int(4) }, () => (r.chance(0.5) ? JSON.stringify(ident(r.pick(t.vocab))) : type())).join(" | ")};`;
    else if (k === 2)
      d = `export declare function ${fresh().replace(/^./, (c) => c.toLowerCase())}(input: ${type()}, options?: ${type()}): ${type()};`;
    else if (k === 3)
      d = `export declare class ${fresh()} {\n    constructor(options?: ${type()});\n${Array.from({ length: 1 + r.int(5) }, () => `    ${ident(r.pick(t.vocab)).toLowerCase() || "m"}(value: ${type()}): ${type()};`).join("\n")}\n}`;
    else d = `export declare const ${fresh().replace(/^./, (c) => c.toLowerCase())}: ${type()};`;
    out.push(doc + d);
    n += doc.length + d.length + 1;
  }
  return out.join("\n") + "\n";
}

interface Planned extends NpmPackage {
  /** Where the files are staged before packing. */
  stage: string;
}

function entryJs(p: NpmPackage, requires: string[]): string {
  return `"use strict";\n${requires.map((d, i) => `const dep${i} = require(${JSON.stringify(d)});\n`).join("")}exports.${p.exportName} = function (input) {\n  return ${JSON.stringify(p.name)} + ":" + String(input);\n};\nexports.dependencies = [${requires.map((_, i) => `dep${i}`).join(", ")}].length;\n`;
}

/** Writes the files of `p` under its stage directory (`package/...`); returns what it wrote. */
function writePackage(p: Planned, t: TextGen, r: Rng): { files: number; bytes: number } {
  let bytes = 0;
  let files = 0;
  let left = p.files;
  /** `required`: the package.json and the entry points, written whatever the planned count. */
  const put = (rel: string, content: string, required = false) => {
    if (left <= 0 && !required) return;
    const f = join(p.stage, "package", rel);
    mkdirSync(dirname(f), { recursive: true });
    writeFileSync(f, content);
    bytes += Buffer.byteLength(content);
    files++;
    left--;
  };
  const base = p.name.replace(/^@[^/]+\//, "");
  const prefix = cap(ident(base)).slice(0, 12) || "Pkg";
  const modules: string[] = [];
  const pj: Record<string, unknown> = {
    name: p.name,
    version: p.version,
    description: t.markdown(80).replace(/\n/g, " "),
    license: "MIT",
    repository: { type: "git", url: `https://example.invalid/${base}.git` },
  };
  if (p.kind === "types") Object.assign(pj, { types: "index.d.ts", typeScriptVersion: "4.8" });
  else if (p.kind === "typed") Object.assign(pj, { main: "lib/index.js", types: "lib/index.d.ts" });
  else Object.assign(pj, { main: "index.js" });
  if (Object.keys(p.deps).length) pj.dependencies = p.deps;
  put("package.json", JSON.stringify(pj, null, 2) + "\n", true);
  if (r.chance(0.9)) put("README.md", t.markdown(Math.round(r.lognormal(3000, 0.9))));
  if (r.chance(0.85))
    put(
      "LICENSE",
      `MIT License\n\nCopyright (c) ${2012 + r.int(13)} ${base}\n\nPermission is hereby granted, free of charge, to any person obtaining a copy of this software.\n`,
    );
  if (p.kind === "types") {
    const subs = Math.max(0, left - 1);
    for (let i = 0; i < subs; i++) {
      const m = `${ident(r.pick(t.vocab)).toLowerCase() || "m"}${i}`;
      modules.push(m);
      put(
        `${i % 3 === 2 ? "ts5.0/" : ""}${m}.d.ts`,
        declarations(t, r, `${prefix}${i}`, Math.round(r.lognormal(1200, 0.9))),
      );
    }
    const top = modules.filter((_, i) => i % 3 !== 2);
    put(
      "index.d.ts",
      `${top.map((m) => `export * from "./${m}";`).join("\n")}\nexport interface ${prefix}Options {\n    verbose?: boolean;\n}\nexport declare function ${p.exportName}(input: string, options?: ${prefix}Options): string;\n`,
      true,
    );
    return { files, bytes };
  }
  const requires = Object.keys(p.deps);
  if (p.kind === "typed") {
    put("lib/index.js", entryJs(p, requires), true);
    const pairs = Math.max(0, Math.floor((left - 1) / 2.3));
    for (let i = 0; i < pairs; i++) {
      const m = `${ident(r.pick(t.vocab)).toLowerCase() || "m"}${i}`;
      modules.push(m);
      put(`lib/${m}.d.ts`, declarations(t, r, `${prefix}${i}`, Math.round(r.lognormal(1000, 0.9))));
      put(`lib/${m}.js`, t.js(Math.round(r.lognormal(1500, 1.0))));
      if (r.chance(0.3)) put(`lib/${m}.js.map`, t.sourceMap(Math.round(r.lognormal(2500, 0.8))));
    }
    put(
      "lib/index.d.ts",
      `${modules.map((m) => `export * from "./${m}";`).join("\n")}\nexport interface ${prefix}Options {\n    verbose?: boolean;\n}\nexport declare function ${p.exportName}(input: string, options?: ${prefix}Options): string;\n`,
      true,
    );
  } else put("index.js", entryJs(p, requires), true);
  if (r.chance(0.3)) put(`dist/${base}.min.js`, t.minified(Math.round(r.lognormal(30e3, 0.8))));
  if (r.chance(0.2)) put(`dist/${base}.min.js.map`, t.sourceMap(Math.round(r.lognormal(40e3, 0.8))));
  if (r.chance(0.2)) put("CHANGELOG.md", t.markdown(Math.round(r.lognormal(4000, 1))));
  const sub = r.pick(["lib", "src", "cjs", "build"]);
  for (let i = 0; left > 0; i++)
    put(
      `${sub}/${r.chance(0.3) ? ident(r.pick(t.vocab)).toLowerCase() + "/" : ""}${ident(r.pick(t.vocab)).toLowerCase() || "f"}${i}.js`,
      t.js(Math.round(r.lognormal(1500, 1.0))),
    );
  return { files, bytes };
}

/** A tarball as npm pack makes one (`package/...`), deterministic; returns [path, integrity]. */
export function pack(stage: string, out: string): string {
  const tar = spawnSync(
    "tar",
    [
      "--sort=name",
      "--mtime=@0",
      "--owner=0",
      "--group=0",
      "--numeric-owner",
      "--mode=u+rw,go+r,go-w",
      "-cf",
      "-",
      "-C",
      stage,
      "package",
    ],
    { maxBuffer: 1 << 30 },
  );
  if (tar.status !== 0) throw new Error(`tar of ${stage} failed: ${tar.stderr}`);
  const tgz = gzipSync(tar.stdout, { level: 6 });
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(out, tgz);
  return "sha512-" + createHash("sha512").update(tgz).digest("base64");
}

/** A package shaped like esbuild: a JS front end whose native half is one optional dependency per platform. */
export interface PlatformPackages {
  /** "fastbuild". */
  name: string;
  /** Shared by the front end and every platform package (pinned exactly, as esbuild pins them). */
  version: string;
  /** Every platform package listed in the lockfile, and whether npm installs it on this machine. */
  platforms: { name: string; os: string[]; cpu?: string[]; installed: boolean }[];
  /** The one the front end loads here: `@fastbuild/${process.platform}-${process.arch}`. */
  host: string;
  /** What `describe()` of the front end returns on this machine. */
  describes: string;
  /** Lockfile entries by install path ("node_modules/fastbuild", "node_modules/@fastbuild/linux-x64"...). */
  lockPackages: Record<string, Record<string, unknown>>;
  /** Files of each package, by name. */
  files: Record<string, number>;
  /** Bytes of the packages npm installs here. */
  bytes: number;
}

/** The platforms the front end ships for (esbuild's most used), plus this machine's so that it always has one. */
const PLATFORMS: [string, string][] = [
  ["linux", "x64"],
  ["linux", "arm64"],
  ["darwin", "x64"],
  ["darwin", "arm64"],
  ["win32", "x64"],
];

/**
 * `fastbuild` and its optional platform packages (`@fastbuild/<os>-<cpu>`, plus an fsevents-like
 * `@fastbuild/watch-darwin` restricted by `os` only), as tarballs in `tarballs` with the lockfile entries npm writes
 * for them (`"optional": true`, `"os"`, `"cpu"`). `npm ci` installs the front end and only the platform packages
 * whose `os`/`cpu` match the machine; the others stay in the lockfile, not in node_modules (what esbuild's
 * `@esbuild/*`, rollup's `@rollup/rollup-*` and chokidar's `fsevents` do in real trees). The front end's main requires
 * `@fastbuild/${process.platform}-${process.arch}` and fails when it is missing. Deterministic from the seed (its own
 * generator: the rest of a tree does not move).
 */
export function platformPackages(tarballs: string, stageRoot: string, seed: number): PlatformPackages {
  const r = new Rng(seed);
  const name = "fastbuild";
  const version = `0.${10 + r.int(20)}.${r.int(10)}`;
  const host = `@${name}/${process.platform}-${process.arch}`;
  const matches = (os: string[], cpu?: string[]) =>
    os.includes(process.platform) && (!cpu || cpu.includes(process.arch));
  const pairs = PLATFORMS.some(([os, cpu]) => os === process.platform && cpu === process.arch)
    ? PLATFORMS
    : [...PLATFORMS, [process.platform, process.arch] as [string, string]];
  const platforms: PlatformPackages["platforms"] = [
    ...pairs.map(([os, cpu]) => ({
      name: `@${name}/${os}-${cpu}`,
      os: [os],
      cpu: [cpu],
      installed: matches([os], [cpu]),
    })),
    { name: `@${name}/watch-darwin`, os: ["darwin"], installed: matches(["darwin"]) },
  ];
  const lockPackages: PlatformPackages["lockPackages"] = {};
  const files: Record<string, number> = {};
  let bytes = 0;
  /** Writes and packs one package; returns [tarball, integrity]. */
  const stagePackage = (
    pkgName: string,
    content: Record<string, string>,
    executable: string[] = [],
  ): [string, string] => {
    const stage = join(stageRoot, pkgName.replace("/", "__"));
    let n = 0;
    for (const [rel, text] of Object.entries(content)) {
      const f = join(stage, "package", rel);
      mkdirSync(dirname(f), { recursive: true });
      writeFileSync(f, text, { mode: executable.includes(rel) ? 0o755 : 0o644 });
      n += Buffer.byteLength(text);
    }
    files[pkgName] = Object.keys(content).length;
    if (pkgName === name || platforms.some((p) => p.name === pkgName && p.installed)) bytes += n;
    const tgz = join(tarballs, `${pkgName.replace("/", "__")}-${version}.tgz`);
    const integrity = pack(stage, tgz);
    rmSync(stage, { recursive: true, force: true });
    return [tgz, integrity];
  };
  for (const p of platforms) {
    const platform = p.name.slice(`@${name}/`.length);
    const pj = {
      name: p.name,
      version,
      description: `The ${platform} binary for ${name}, a JavaScript bundler.`,
      license: "MIT",
      preferUnplugged: true,
      engines: { node: ">=18" },
      os: p.os,
      ...(p.cpu ? { cpu: p.cpu } : {}),
    };
    const [tgz, integrity] = stagePackage(
      p.name,
      {
        "package.json": JSON.stringify(pj, null, 2) + "\n",
        "README.md": `# ${p.name}\n\nThis is the ${platform} binary for ${name}. See https://example.invalid/${name} for details.\n`,
        "index.js": `"use strict";\nexports.platform = ${JSON.stringify(platform)};\nexports.version = ${JSON.stringify(version)};\nexports.binary = require("path").join(__dirname, "bin", ${JSON.stringify(name)});\n`,
        [`bin/${name}`]: `#!/bin/sh\n# stands for ${name}'s native executable for ${platform}\necho "${name} ${version} (${platform})"\n`,
      },
      [`bin/${name}`],
    );
    // The keys in the order npm writes them (npm 10).
    lockPackages[`node_modules/${p.name}`] = {
      version,
      resolved: `file:${tgz}`,
      integrity,
      ...(p.cpu ? { cpu: p.cpu } : {}),
      license: "MIT",
      optional: true,
      os: p.os,
      engines: { node: ">=18" },
    };
  }
  const optionalDependencies = Object.fromEntries(
    platforms.map((p) => [p.name, version]).sort(([a], [b]) => (a < b ? -1 : 1)),
  );
  const main = `"use strict";
// The native half is the optional dependency of this platform: npm installs that one and skips the others.
const platformPackage = "@${name}/" + process.platform + "-" + process.arch;
function native() {
  try {
    return require(platformPackage);
  } catch (e) {
    throw new Error(\`${name}: the package "\${platformPackage}" could not be found, and is needed by ${name} on this platform (\${e.message})\`);
  }
}
exports.platformPackage = platformPackage;
exports.version = ${JSON.stringify(version)};
exports.describe = function () {
  const n = native();
  return "${name} ${version} on " + n.platform + " (" + platformPackage + " " + n.version + ")";
};
`;
  const [tgz, integrity] = stagePackage(
    name,
    {
      "package.json":
        JSON.stringify(
          {
            name,
            version,
            description: "An extremely fast JavaScript bundler (its native half is one optional package per platform).",
            license: "MIT",
            main: "lib/main.js",
            types: "lib/main.d.ts",
            bin: { [name]: `bin/${name}` },
            engines: { node: ">=18" },
            optionalDependencies,
          },
          null,
          2,
        ) + "\n",
      "README.md": `# ${name}\n\nA JavaScript bundler whose executable comes from \`@${name}/<os>-<cpu>\`, the optional dependency npm installs for the machine.\n`,
      LICENSE: `MIT License\n\nCopyright (c) 2020 ${name}\n`,
      "lib/main.js": main,
      "lib/main.d.ts": `/** The platform package this machine needs, e.g. "@${name}/linux-x64". */\nexport declare const platformPackage: string;\nexport declare const version: string;\n/** Loads the platform package; says which one and its version. */\nexport declare function describe(): string;\n`,
      [`bin/${name}`]: `#!/usr/bin/env node\n"use strict";\nconsole.log(require("../lib/main").describe());\n`,
    },
    [`bin/${name}`],
  );
  lockPackages[`node_modules/${name}`] = {
    version,
    resolved: `file:${tgz}`,
    integrity,
    license: "MIT",
    bin: { [name]: `bin/${name}` },
    engines: { node: ">=18" },
    optionalDependencies,
  };
  const hostPlatform = `${process.platform}-${process.arch}`;
  return {
    name,
    version,
    platforms,
    host,
    describes: `${name} ${version} on ${hostPlatform} (${host} ${version})`,
    lockPackages,
    files,
    bytes,
  };
}

/** `@types/node` and what it depends on, from the checkout's node_modules (real declarations). */
function hostPackages(): { name: string; dir: string; version: string; deps: Record<string, string>; files: number }[] {
  const out: { name: string; dir: string; version: string; deps: Record<string, string>; files: number }[] = [];
  const queue = ["@types/node"];
  while (queue.length) {
    const name = queue.shift()!;
    if (out.some((p) => p.name === name)) continue;
    const pj = require.resolve(`${name}/package.json`);
    const j = JSON.parse(readFileSync(pj, "utf8")) as { version: string; dependencies?: Record<string, string> };
    const count = spawnSync("find", [dirname(pj), "-type", "f"], { encoding: "utf8" })
      .stdout.split("\n")
      .filter(Boolean).length;
    out.push({ name, dir: dirname(pj), version: j.version, deps: j.dependencies ?? {}, files: count });
    queue.push(...Object.keys(j.dependencies ?? {}));
  }
  return out;
}

/**
 * Generates about `files` files of packages into `dir` (tarballs/, package.json, package-lock.json). `direct`
 * packages are the ones the library imports (alternately with bundled types and typed by an @types companion).
 */
export function generateNpmTree(dir: string, o: { seed: number; files: number; direct: number }): NpmTree {
  const r = new Rng(o.seed);
  const t = new TextGen(r);
  rmSync(dir, { recursive: true, force: true });
  const stageRoot = join(dir, "stage");
  const plan: Planned[] = [];
  const taken = new Set<string>();
  const newName = (scoped: boolean): string => {
    for (;;) {
      const a = ident(r.pick(t.vocab)).toLowerCase();
      const b = r.chance(0.4) ? `-${ident(r.pick(t.vocab)).toLowerCase()}` : "";
      const name = scoped ? `@${ident(r.pick(t.vocab)).toLowerCase()}/${a}${b}` : `${a}${b}`;
      if (a.length >= 3 && !taken.has(name) && !name.startsWith("@types/")) return (taken.add(name), name);
    }
  };
  const add = (
    name: string,
    kind: NpmPackage["kind"],
    files: number,
    path = `node_modules/${name}`,
    version?: string,
  ): Planned => {
    const p: Planned = {
      name,
      version: version ?? `${1 + r.int(9)}.${r.int(30)}.${r.int(20)}`,
      path,
      kind,
      deps: {},
      exportName: `use${cap(ident(name.replace(/^@[^/]+\//, "")))}`,
      files,
      stage: join(stageRoot, String(plan.length)),
    };
    plan.push(p);
    return p;
  };
  const host = hostPackages();
  let total = host.reduce((n, h) => n + h.files, 0);
  const direct: NpmTree["direct"] = [];
  for (let i = 0; i < o.direct; i++) {
    const typed = i % 2 === 0;
    // Untyped ones unscoped: their companion is then plainly `@types/<name>`.
    const p = add(
      newName(typed && r.chance(0.5)),
      typed ? "typed" : "untyped",
      Math.round(Math.min(400, r.lognormal(typed ? 60 : 15, 0.6))),
    );
    total += p.files;
    if (typed) direct.push({ name: p.name, exportName: p.exportName });
    else {
      const types = add(
        `@types/${p.name.replace(/^@([^/]+)\//, "$1__")}`,
        "types",
        Math.round(Math.min(60, r.lognormal(6, 0.7))),
      );
      total += types.files;
      types.exportName = p.exportName;
      direct.push({ name: p.name, exportName: p.exportName, types: types.name });
    }
  }
  while (total < o.files) {
    const roll = r.float();
    const kind = roll < 0.2 ? "typed" : "untyped";
    const p = add(
      newName(r.chance(0.15)),
      kind,
      Math.max(4, Math.round(Math.min(600, r.lognormal(kind === "typed" ? 30 : 12, 1.0)))),
    );
    total += p.files;
    if (kind === "untyped" && r.chance(0.12))
      total += add(
        `@types/${p.name.replace(/^@([^/]+)\//, "$1__")}`,
        "types",
        Math.max(2, Math.round(r.lognormal(5, 0.7))),
      ).files;
  }
  // Dependencies only on packages planned later: a DAG, so requires never cycle.
  const code = plan.filter((p) => p.kind !== "types");
  code.forEach((p, i) => {
    for (let k = r.int(i < o.direct ? 5 : 4); k > 0 && i + 1 < code.length; k--) {
      const d = code[i + 1 + r.int(code.length - i - 1)];
      p.deps[d.name] = `^${d.version}`;
    }
  });
  // A few nested copies at another major version (a dependency that cannot be hoisted).
  for (let k = 0; k < Math.max(1, Math.round(code.length / 40)); k++) {
    const parent = code[r.int(code.length)];
    const depName = Object.keys(parent.deps)[0];
    const top = depName && plan.find((p) => p.path === `node_modules/${depName}`);
    if (
      !top ||
      parent.path.includes("/node_modules/", 1) ||
      plan.some((p) => p.path === `${parent.path}/node_modules/${depName}`)
    )
      continue;
    const major = Number(top.version.split(".")[0]) + 1 + r.int(3);
    const nested = add(
      depName,
      top.kind,
      Math.max(4, Math.round(top.files / 2)),
      `${parent.path}/node_modules/${depName}`,
      `${major}.${r.int(10)}.${r.int(10)}`,
    );
    parent.deps[depName] = `^${nested.version}`;
  }

  // Files, tarballs, lockfile.
  let bytes = 0;
  const lockPackages: Record<string, Record<string, unknown>> = {};
  const tarballs = join(dir, "tarballs");
  const tarballOf = (name: string, version: string) => join(tarballs, `${name.replace("/", "__")}-${version}.tgz`);
  for (const p of plan) {
    const w = writePackage(p, t, r);
    bytes += w.bytes;
    p.files = w.files;
    const tgz = tarballOf(p.name, p.version);
    const integrity = pack(p.stage, tgz);
    lockPackages[p.path] = {
      version: p.version,
      resolved: `file:${tgz}`,
      integrity,
      license: "MIT",
      ...(Object.keys(p.deps).length ? { dependencies: p.deps } : {}),
    };
  }
  const hostPlanned: NpmPackage[] = [];
  for (const h of host) {
    const stage = join(stageRoot, `host-${hostPlanned.length}`);
    cpSync(h.dir, join(stage, "package"), { recursive: true, dereference: true });
    const tgz = tarballOf(h.name, h.version);
    lockPackages[`node_modules/${h.name}`] = {
      version: h.version,
      resolved: `file:${tgz}`,
      integrity: pack(stage, tgz),
      license: "MIT",
      ...(Object.keys(h.deps).length ? { dependencies: h.deps } : {}),
    };
    hostPlanned.push({
      name: h.name,
      version: h.version,
      path: `node_modules/${h.name}`,
      kind: "host",
      deps: h.deps,
      exportName: "",
      files: h.files,
    });
  }
  // Last, from a generator of its own, so that the packages above do not depend on it.
  const platform = platformPackages(tarballs, join(stageRoot, "platform"), o.seed + 1);
  bytes += platform.bytes;
  rmSync(stageRoot, { recursive: true, force: true });

  // The root depends on the direct packages, then on each top-level package nothing reached so far depends on (a
  // package whose dependents all took a nested copy included); @types are dev. npm prunes what nothing reaches.
  const reached = new Set<string>();
  const visit = (path: string) => {
    if (reached.has(path) || !lockPackages[path]) return;
    reached.add(path);
    for (const d of Object.keys((lockPackages[path].dependencies as Record<string, string>) ?? {})) {
      const nested = `${path}/node_modules/${d}`;
      visit(lockPackages[nested] ? nested : `node_modules/${d}`);
    }
  };
  const dependencies: Record<string, string> = {};
  const devDependencies: Record<string, string> = {};
  const topLevel = plan.filter((p) => p.path === `node_modules/${p.name}`);
  for (const p of [...topLevel.filter((p) => direct.some((d) => d.name === p.name)), ...topLevel]) {
    if (p.kind === "types" || reached.has(p.path)) continue;
    dependencies[p.name] = `^${p.version}`;
    visit(p.path);
  }
  // dev: not reachable from dependencies (npm recomputes these flags; a consistent lockfile keeps ci quiet).
  for (const p of topLevel) if (p.kind === "types") devDependencies[p.name] = `^${p.version}`;
  devDependencies["@types/node"] = `^${host[0].version}`;
  for (const [path, entry] of Object.entries(lockPackages)) if (!reached.has(path)) entry.dev = true;
  // A dependency of the root, as esbuild is of a project bundling its code; its platform packages only `optional`.
  dependencies[platform.name] = `^${platform.version}`;
  Object.assign(lockPackages, platform.lockPackages);
  const rootPkg = {
    name: "acme-monorepo",
    version: "1.0.0",
    private: true,
    main: "dist/x/etl.js",
    dependencies: sorted(dependencies),
    devDependencies: sorted(devDependencies),
  };
  const lock = {
    name: rootPkg.name,
    version: rootPkg.version,
    lockfileVersion: 3,
    requires: true,
    packages: {
      "": {
        name: rootPkg.name,
        version: rootPkg.version,
        dependencies: rootPkg.dependencies,
        devDependencies: rootPkg.devDependencies,
      },
      ...sorted(lockPackages),
    },
  };
  const packageJson = join(dir, "package.json");
  const lockfile = join(dir, "package-lock.json");
  writeFileSync(packageJson, JSON.stringify(rootPkg, null, 2) + "\n");
  writeFileSync(lockfile, JSON.stringify(lock, null, 2) + "\n");
  const platformPlanned: NpmPackage[] = [
    platform.name,
    ...platform.platforms.filter((p) => p.installed).map((p) => p.name),
  ].map((name) => {
    const entry = platform.lockPackages[`node_modules/${name}`];
    return {
      name,
      version: platform.version,
      path: `node_modules/${name}`,
      kind: "platform",
      deps: (entry.optionalDependencies as Record<string, string>) ?? {},
      exportName: "describe",
      files: platform.files[name],
    };
  });
  const packages = [...plan.map(({ stage: _stage, ...p }) => p), ...hostPlanned, ...platformPlanned];
  return {
    dir,
    packageJson,
    lockfile,
    packages,
    direct,
    platform,
    files: packages.reduce((n, p) => n + p.files, 0),
    bytes,
  };
}

function sorted<T>(o: Record<string, T>): Record<string, T> {
  return Object.fromEntries(Object.entries(o).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}
