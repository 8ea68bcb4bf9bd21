/**
 * The generated monorepo of P9-P11 and P13, deterministic from a seed: two ts_library packages, `//util`
 * (module_name "@acme/util": the real ESM-only packages, and date-fns in full runs, real-npm.ts) and `//lib`
 * (module_name "@acme/lib", a few dozen TypeScript files importing generated npm packages with bundled types and with
 * `@types` companions, and `../util`), and two pipelines in `//x` using `//lib`, `etl` by relative path and `report`
 * by package name (and, in full runs, the native addon better-sqlite3). Written twice from the same
 * sources: as a Bazel workspace (WORKSPACE, BUILD files, a workspace tsconfig given to `pipeline_dependencies`)
 * and as a plain npm project for the peers (one tsconfig with `incremental`, `paths` for "@acme/lib", compiled
 * to dist/, a Dockerfile FROM the host-node base and a .dockerignore that also shapes `pipeline build --lockfile`'s
 * code layer). Both take their npm packages from the same generated lockfile (npm-tree.ts).
 *
 * The one-line change: `const delta = N;` inside a function body of the library's first module. `compute(20)`,
 * which both programs print, is `60 + N`, so every run can check that its change reached the program.
 */
import { cpSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { Rng, TextGen } from "./gen";
import type { NpmTree } from "./npm-tree";
import type { RealPackages } from "./real-npm";
import { TS7_LABEL } from "./ts7-lockfile";

/** The package of the TypeScript 7 copy of the sources (WorkspaceOptions.ts7Package). */
export const TS7_PKG = "ts7";

export interface MonorepoSources {
  /** Project-relative path → content (util/*.ts, lib/*.ts, x/*.ts). */
  files: Record<string, string>;
  /** The file holding the changed line. */
  changed: string;
  libFiles: number;
  real: RealPackages;
}

const cap = (s: string) => s[0].toUpperCase() + s.slice(1);
const ident = (s: string) => s.replace(/[^a-zA-Z]/g, "").toLowerCase() || "item";
const pad = (i: number) => String(i).padStart(2, "0");

/** One library module: records, a class, scoring and labelling functions, some helpers. */
function libModule(
  i: number,
  word: string,
  t: TextGen,
  r: Rng,
  imports: { npm?: { name: string; exportName: string }; earlier?: number },
): string {
  const n = pad(i);
  const lines: string[] = [];
  if (imports.npm) lines.push(`import { ${imports.npm.exportName} } from ${JSON.stringify(imports.npm.name)};`);
  if (imports.earlier) lines.push(`import { score${pad(imports.earlier)} } from "./${modName(imports.earlier)}";`);
  if (lines.length) lines.push("");
  const R = `${cap(word)}${n}`;
  lines.push(
    `/** ${t
      .markdown(60 + r.int(100))
      .replace(/\*\//g, "")
      .replace(/\n/g, " ")} */`,
    `export interface ${R} {`,
    "  id: number;",
    "  name: string;",
    "  tags: string[];",
    "  weight?: number;",
    "}",
    "",
    `export type ${R}Kind = ${["new", "open", "done", "late"]
      .slice(0, 2 + r.int(3))
      .map((k) => JSON.stringify(k))
      .join(" | ")};`,
    "",
    `export function normalize${n}(rows: ${R}[]): ${R}[] {`,
    "  return rows.filter((row) => row.id >= 0).map((row) => ({ ...row, name: row.name.trim(), tags: [...row.tags].sort() }));",
    "}",
    "",
    `export function score${n}(n: number): number {`,
    ...(i === 1
      ? ["  const delta = 0;", "  return n * 3 + delta;"]
      : [`  return n * ${i}${imports.earlier ? ` + score${pad(imports.earlier)}(1)` : ""};`]),
    "}",
    "",
    `export function label${n}(value: string): string {`,
    imports.npm ? `  return ${imports.npm.exportName}(value) + "/${n}";` : `  return value.toUpperCase() + "/${n}";`,
    "}",
    "",
    `export class Batch${n} {`,
    `  private readonly items: ${R}[] = [];`,
    `  add(item: ${R}): this {`,
    "    this.items.push(item);",
    "    return this;",
    "  }",
    "  get size(): number {",
    "    return this.items.length;",
    "  }",
    "  total(): number {",
    "    return this.items.reduce((sum, item) => sum + (item.weight ?? 1), 0);",
    "  }",
    "}",
  );
  for (let k = 0, helpers = 1 + r.int(5); k < helpers; k++) {
    const h = `${ident(r.pick(t.vocab))}${n}x${k}`;
    lines.push(
      "",
      `/** ${t
        .markdown(40 + r.int(80))
        .replace(/\*\//g, "")
        .replace(/\n/g, " ")} */`,
      `export function ${h}(values: readonly number[], factor = ${1 + r.int(9)}): number[] {`,
      "  const out: number[] = [];",
      "  for (const v of values) {",
      `    if (v % ${2 + r.int(5)} === 0) out.push(v * factor);`,
      `    else out.push(Math.round(v / ${2 + r.int(7)}));`,
      "  }",
      "  return out;",
      "}",
    );
  }
  return lines.join("\n") + "\n";
}

const modName = (i: number) => `mod${pad(i)}`;

/** //util: a label through the real ESM-only packages (chalk prints no colour without a terminal) and date-fns. */
function utilSource(real: RealPackages): string {
  const dateFns = real.typed === "date-fns";
  return [
    `import chalk from "chalk";`,
    `import { nanoid } from "nanoid";`,
    ...(dateFns ? [`import { formatISO } from "date-fns";`] : []),
    "",
    "/** `value`, bold on a terminal, with the length of a fresh id" +
      (dateFns ? " and the epoch's date" : "") +
      ". */",
    "export function stamp(value: string): string {",
    `  return chalk.bold(value) + "#" + nanoid(8).length${dateFns ? ` + "@" + formatISO(new Date(0), { representation: "date" }).slice(0, 4)` : ""};`,
    "}",
    "",
  ].join("\n");
}

/** x/report.ts: the library by package name, and the native addon when there is one. */
function reportSource(real: RealPackages): string {
  if (!real.nativeAddon)
    return `import { compute } from "@acme/lib";\n\nconsole.log("report computed " + compute(20));\n`;
  return [
    `import Database from ${JSON.stringify(real.nativeAddon.name)};`,
    `import { compute } from "@acme/lib";`,
    "",
    `const db = new Database(":memory:");`,
    `const row = db.prepare("select ? + 0 as v").get(compute(20)) as { v: number };`,
    `console.log("report computed " + row.v + " (sqlite " + (db.prepare("select sqlite_version() as v").get() as { v: string }).v + ")");`,
    "",
  ].join("\n");
}

/** The TypeScript of //util, //lib and //x. */
export function monorepoSources(seed: number, libFiles: number, tree: NpmTree, real: RealPackages): MonorepoSources {
  const r = new Rng(seed);
  const t = new TextGen(r);
  const files: Record<string, string> = {};
  for (let i = 1; i <= libFiles; i++) {
    const npm = i === 1 ? undefined : tree.direct[(i - 2) % tree.direct.length];
    const earlier = i > 3 && r.chance(0.4) ? 2 + r.int(i - 2) : undefined;
    files[`lib/${modName(i)}.ts`] = libModule(i, ident(r.pick(t.vocab)), t, r, { npm, earlier });
  }
  const mods = Array.from({ length: libFiles }, (_, k) => k + 1);
  files["lib/index.ts"] = [
    ...mods.map((i) => `export * from "./${modName(i)}";`),
    ...mods.map((i) => `import { label${pad(i)} } from "./${modName(i)}";`),
    // By relative path, as etl imports the library: the peers' plain tsc output runs without a package link.
    `import { stamp } from "../util";`,
    `import { score01 } from "./${modName(1)}";`,
    "",
    "/** What both pipelines print: changes with the library's changed line. */",
    "export function compute(n: number): number {",
    "  return score01(n);",
    "}",
    "",
    "/** Every module's label (through the npm packages the library imports). */",
    "export function describeAll(value: string): string {",
    `  return [${mods.map((i) => `label${pad(i)}(value)`).join(", ")}].length + " labels, first " + label02(value) + ", " + stamp(value);`,
    "}",
    "",
  ].join("\n");
  if (libFiles < 2) throw new Error("monorepoSources: at least 2 library files");
  files["x/etl.ts"] =
    `import { compute, describeAll } from "../lib";\n\nconsole.log("etl computed " + compute(20) + ", " + describeAll("row"));\n`;
  files["x/report.ts"] = reportSource(real);
  files["util/index.ts"] = utilSource(real);
  return { files, changed: `lib/${modName(1)}.ts`, libFiles, real };
}

/** Rewrites the changed line of the library under `root` (`const delta = N;`); returns what compute(20) then is. */
export function changeLibrary(root: string, src: MonorepoSources, n: number): number {
  const p = join(root, src.changed);
  const before = readFileSync(p, "utf8");
  const after = before.replace(/const delta = \d+;/, `const delta = ${n};`);
  if (after === before && !before.includes(`const delta = ${n};`))
    throw new Error(`changeLibrary: no "const delta" line in ${p}`);
  writeFileSync(p, after);
  return 60 + n;
}

/** Writes `text` at `rel` under `root`, making its directories. */
export function write(root: string, rel: string, text: string): void {
  mkdirSync(dirname(join(root, rel)), { recursive: true });
  writeFileSync(join(root, rel), text);
}

/** What a workspace may hold beside the defaults (the TypeScript 7 sides of P9/P10: bench/lib/monorepo-ts7.ts). */
export interface WorkspaceOptions {
  /**
   * A second copy of the sources in `ts7/` (`//ts7/util`, `//ts7/lib`, `//ts7/x:etl`) whose targets compile with
   * TypeScript 7, their own `typescript` attribute naming it (TS7_LABEL): the tree given must have it in its lockfile.
   */
  ts7Package?: boolean;
}

/** The extra Starlark arguments of the npm repository (`scripts`). */
function rootArgs(allowInstallScripts: string[]): { scripts: string } {
  return {
    scripts: allowInstallScripts.length ? `, allow_install_scripts = ${JSON.stringify(allowInstallScripts)}` : "",
  };
}

/**
 * A consumer workspace's root (WORKSPACE mode): rules_pipeline from `repoRoot`, a workspace-wide tsconfig.json, and
 * `@npm` from the root package.json + lockfile (which the caller writes, with tsconfig.json).
 */
export function writeWorkspaceRoot(
  ws: string,
  repoRoot: string,
  name: string,
  allowInstallScripts: string[] = [],
): void {
  const { scripts } = rootArgs(allowInstallScripts);
  write(
    ws,
    "WORKSPACE",
    `workspace(name = "${name}")
local_repository(name = "rules_pipeline", path = ${JSON.stringify(repoRoot)})
load("@rules_pipeline//bazel:repositories.bzl", "npm_dependencies", "pipeline_dependencies")
pipeline_dependencies(tsconfig = "//:tsconfig.json")
load("@rules_pipeline//bazel:pipeline.bzl", "base_images")
base_images()
npm_dependencies(name = "npm", package_json = "//:package.json", lockfile = "//:package-lock.json"${scripts})
`,
  );
  write(ws, "BUILD.bazel", `exports_files(["tsconfig.json", "package.json", "package-lock.json"])\n`);
  write(ws, ".bazelrc", "build --nosandbox_debug\nbuild --incompatible_strict_action_env\n");
  write(ws, ".bazelversion", "4\n");
}

/**
 * writeWorkspaceRoot's bzlmod twin, for Bazel 7: README's MODULE.bazel with rules_pipeline by local_path_override from
 * `repoRoot`, the `pipeline` extension's npm repository and tsconfig; WORKSPACE.bzlmod empty keeps WORKSPACE out of it.
 */
export function writeModuleRoot(ws: string, repoRoot: string, name: string, allowInstallScripts: string[] = []): void {
  const { scripts } = rootArgs(allowInstallScripts);
  write(
    ws,
    "MODULE.bazel",
    `module(name = "${name}")
bazel_dep(name = "rules_pipeline", version = "0.1.0")
local_path_override(module_name = "rules_pipeline", path = ${JSON.stringify(repoRoot)})
pipeline = use_extension("@rules_pipeline//bazel:extensions.bzl", "pipeline")
pipeline.npm(name = "npm", package_json = "//:package.json", lockfile = "//:package-lock.json"${scripts})
pipeline.config(tsconfig = "//:tsconfig.json")
use_repo(pipeline, "npm", "pipeline-host-node")
`,
  );
  write(ws, "WORKSPACE.bzlmod", "");
}

/**
 * The Bazel workspace: rules_pipeline from `repoRoot`, the npm tree, the pipelines pushing to `registry`; with
 * `o.ts7Package`, also the TypeScript 7 copy of //util, //lib and //x:etl in `ts7/` (one workspace and server for
 * both compilers: the copy's targets differ from the others only in their `typescript`).
 */
export function writeBazelWorkspace(
  ws: string,
  repoRoot: string,
  registry: string,
  src: MonorepoSources,
  tree: NpmTree,
  o: WorkspaceOptions = {},
): void {
  const { real } = src;
  writeWorkspaceRoot(ws, repoRoot, "mono", real.nativeAddon ? [real.nativeAddon.name] : []);
  write(
    ws,
    "tsconfig.json",
    JSON.stringify({ compilerOptions: { strict: true, noUnusedLocals: true } }, null, 2) + "\n",
  );
  cpSync(tree.packageJson, join(ws, "package.json"));
  cpSync(tree.lockfile, join(ws, "package-lock.json"));
  writePackages(ws, "", registry, src, tree);
  if (o.ts7Package) writePackages(ws, `${TS7_PKG}/`, registry, src, tree, TS7_LABEL);
}

/**
 * //PREFIXutil, //PREFIXlib and //PREFIXx (the sources and their BUILD files) under `ws/PREFIX`; with `typescript`,
 * every target compiles with it and //PREFIXx holds `etl` only (the report pipeline and its addon are not measured
 * with another compiler).
 */
function writePackages(
  ws: string,
  prefix: string,
  registry: string,
  src: MonorepoSources,
  tree: NpmTree,
  typescript?: string,
): void {
  const { real } = src;
  const ts = typescript ? `\n    typescript = "${typescript}",` : "";
  const npm = (names: string[]) => names.map((n) => `        "@npm//:node_modules/${n}",`).join("\n");
  const library = (name: string, deps: string) => `load("@rules_pipeline//bazel:pipeline.bzl", "ts_library")

ts_library(
    name = "${name}",
    srcs = glob(["*.ts"]),
    deps = [
${deps}
    ],
    module_name = "@acme/${name}",${ts}
    visibility = ["//visibility:public"],
)
`;
  const root = join(ws, prefix);
  write(root, "util/BUILD.bazel", library("util", npm([...real.esmOnly, ...(real.typed ? [real.typed] : [])])));
  write(
    root,
    "lib/BUILD.bazel",
    library(
      "lib",
      `        "//${prefix}util",\n${npm(tree.direct.flatMap((d) => [d.name, ...(d.types ? [d.types] : [])]))}`,
    ),
  );
  const addon = real.nativeAddon
    ? `, "@npm//:node_modules/${real.nativeAddon.name}", "@npm//:node_modules/${real.nativeAddon.types}"`
    : "";
  const pipeline = (name: string) => `pipeline(
    name = "${name}",
    entry = "${name}.ts",
    deps = ["//${prefix}lib"${name === "report" ? addon : ""}],${ts}
    registry = "${registry}",
    repository = "mono/${name}",
    base = "@pipeline-host-node//image",
)
`;
  write(
    root,
    "x/BUILD.bazel",
    `load("@rules_pipeline//bazel:pipeline.bzl", "pipeline")\n\n${pipeline("etl")}${typescript ? "" : `\n${pipeline("report")}`}`,
  );
  for (const [rel, text] of Object.entries(src.files))
    if (!typescript || !rel.startsWith("x/") || rel === "x/etl.ts") write(root, rel, text);
}

/**
 * The same workspace for Bazel 7.7.1 with bzlmod: README's MODULE.bazel (rules_pipeline by local_path_override, the
 * `pipeline` extension's npm repository with the same install scripts allowed), WORKSPACE.bzlmod empty so that the
 * WORKSPACE file is not read, and no .bazelversion (scripts/bazel7.sh runs 7.7.1 whatever it says).
 */
export function writeBzlmodWorkspace(
  ws: string,
  repoRoot: string,
  registry: string,
  src: MonorepoSources,
  tree: NpmTree,
  o: WorkspaceOptions = {},
): void {
  writeBazelWorkspace(ws, repoRoot, registry, src, tree, o);
  const addon = src.real.nativeAddon?.name;
  writeModuleRoot(ws, repoRoot, "mono", addon ? [addon] : []);
  rmSync(join(ws, ".bazelversion"), { force: true });
}

/** The tsconfig of the plain npm project: what Bazel's compile does, plus `incremental` (as users run tsc by hand). */
export const PEER_TSCONFIG = {
  compilerOptions: {
    target: "ES2022",
    lib: ["ES2022"], // the rules' compile's lib when the tsconfig names none (no DOM)
    module: "commonjs",
    moduleResolution: "node",
    esModuleInterop: true,
    skipLibCheck: true,
    strict: true,
    noUnusedLocals: true,
    rootDir: ".",
    outDir: "dist",
    baseUrl: ".",
    paths: { "@acme/lib": ["lib"], "@acme/util": ["util"] },
    incremental: true,
    tsBuildInfoFile: "dist/.tsbuildinfo",
    newLine: "lf",
  },
  include: ["util/**/*.ts", "lib/**/*.ts", "x/**/*.ts"],
};

/** The Dockerfile of the podman peer: the host-node base (loaded into podman's storage as `baseRef`), node_modules, the compiled app. */
export const dockerfile = (baseRef: string) => `FROM ${baseRef}
WORKDIR /app
COPY node_modules /app/node_modules
COPY dist /app/dist
ENTRYPOINT ["node", "/app/dist/x/etl.js"]
`;

/** The plain npm project (no node_modules yet: copy or install one). */
export function writePeerProject(dir: string, src: MonorepoSources, tree: NpmTree, baseRef: string): void {
  cpSync(tree.packageJson, join(dir, "package.json"));
  cpSync(tree.lockfile, join(dir, "package-lock.json"));
  write(dir, "tsconfig.json", JSON.stringify(PEER_TSCONFIG, null, 2) + "\n");
  write(dir, "Dockerfile", dockerfile(baseRef));
  // Sources stay out of the image: podman's COPY reads only node_modules and dist anyway, and `pipeline build
  // --lockfile` (which leaves node_modules out by itself) then packs dist/, package.json and the lockfile.
  write(dir, ".dockerignore", "util\nlib\nx\ntsconfig.json\nDockerfile\ndist/.tsbuildinfo\n");
  for (const [rel, text] of Object.entries(src.files)) write(dir, rel, text);
}
