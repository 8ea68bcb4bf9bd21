/**
 * The arguments of one TsCompile (ts_compile_action.bzl writes them, one a line, into the action's flag file; a
 * worker request carries the same lines):
 *
 *   --typescript DIR --project TSCONFIG --label LABEL [--typescript-label LABEL] [--tsconfig USER_TSCONFIG]
 *   [--expect OUTPUT]... [--npm-repo NAME]... [--npm-link //PKG:node_modules]... [--node-modules ROOT]...
 *   [--snapshot BLOB] [--threads single|compiler]
 *
 * Each flag as `--flag=value` (a value that may start with "@", which Bazel would take for a flag file on a line of its
 * own) or `--flag value`.
 */

/** The parsed arguments. */
export interface Options {
  typescript: string;
  typescriptLabel: string;
  project: string;
  label: string;
  tsconfig: string;
  expect: string[];
  npmRepos: string[];
  npmLinks: string[];
  nodeModules: string[];
  snapshot: string;
  threads: "single" | "compiler";
}

/** The flags that take one value, and the option each sets. */
const SINGLE = {
  "--typescript": "typescript",
  "--typescript-label": "typescriptLabel",
  "--tsconfig": "tsconfig",
  "--project": "project",
  "--label": "label",
  "--snapshot": "snapshot",
} as const;

/** The flags that may repeat, and the list each adds to. */
const REPEATED = {
  "--expect": "expect",
  "--npm-repo": "npmRepos",
  "--npm-link": "npmLinks",
  "--node-modules": "nodeModules",
} as const;

const isKey = <T extends object>(table: T, k: string): k is Extract<keyof T, string> => Object.hasOwn(table, k);

export function parseArgs(argv: string[]): Options {
  const o: Options = {
    typescript: "",
    typescriptLabel: "",
    project: "",
    label: "",
    tsconfig: "",
    expect: [],
    npmRepos: [],
    npmLinks: [],
    nodeModules: [],
    snapshot: "",
    threads: "single",
  };
  for (let i = 0; i < argv.length; i++) {
    const eq = argv[i].startsWith("--") ? argv[i].indexOf("=") : -1;
    const a = eq > 0 ? argv[i].slice(0, eq) : argv[i];
    const v = eq > 0 ? argv[i].slice(eq + 1) : argv[++i];
    if (v === undefined) throw new Error(`tsc_worker: ${a} needs a value`);
    if (isKey(SINGLE, a)) o[SINGLE[a]] = v;
    else if (isKey(REPEATED, a)) o[REPEATED[a]].push(v);
    else if (a === "--threads") {
      if (v !== "single" && v !== "compiler") throw new Error(`tsc_worker: --threads is single or compiler, got ${v}`);
      o.threads = v;
    } else throw new Error(`tsc_worker: unknown argument ${JSON.stringify(a)}`);
  }
  if (!o.typescript || !o.project) throw new Error("tsc_worker: --typescript and --project are required");
  return o;
}
