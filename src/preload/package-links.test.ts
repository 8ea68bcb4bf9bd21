/**
 * rules_js's package links under `--preserve-symlinks` (package-links.ts): a pnpm-style tree like the one rules_js puts
 * in a launcher's runfiles — `node_modules/a` → `.aspect_rules_js/a@1/node_modules/a`, whose dependency `b` is a relative link
 * beside it, and `c` an absolute link as the runfiles tree makes them — resolved by a real Node with the hook bundled
 * as the preload is (esbuild), and without it (the failure users saw: `Cannot find module 'b'`).
 */
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, realpathSync, renameSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { buildSync } from "esbuild";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { followPackageLinks, followPackageLinksUrl } from "./package-links";

const tmp = realpathSync(mkdtempSync(join(tmpdir(), "rp-package-links-")));
const root = join(tmp, "runfiles", "_main");
const nm = join(root, "node_modules");
const hook = join(tmp, "hook.js");

function write(path: string, text: string): void {
  mkdirSync(join(path, ".."), { recursive: true });
  writeFileSync(path, text);
}

beforeAll(() => {
  // The store: a@1 requires b (a link beside it) and c (an absolute link, as the runfiles tree has); b@1 requires a
  // again (the one module, not a second copy).
  write(
    join(nm, ".aspect_rules_js/a@1/node_modules/a/index.js"),
    'exports.b = require("b"); exports.c = require("c"); exports.where = __filename;\n',
  );
  write(join(nm, ".aspect_rules_js/a@1/node_modules/a/package.json"), '{"name":"a","main":"index.js"}\n');
  write(
    join(nm, ".aspect_rules_js/b@1/node_modules/b/index.js"),
    'exports.where = __filename; exports.a = () => require("a");\n',
  );
  symlinkSync("../../b@1/node_modules/b", join(nm, ".aspect_rules_js/a@1/node_modules/b"));
  symlinkSync("../../a@1/node_modules/a", join(nm, ".aspect_rules_js/b@1/node_modules/a"));
  symlinkSync(".aspect_rules_js/a@1/node_modules/a", join(nm, "a"));
  // c: outside the runfiles tree, reached by an absolute link that must be kept (as runfiles entries are).
  write(join(tmp, "outside/c/index.js"), "exports.where = __filename;\n");
  symlinkSync(join(tmp, "outside/c"), join(nm, "c"));
  write(
    join(root, "main.js"),
    'const a = require("a"); console.log(JSON.stringify({ a: a.where, b: a.b.where, c: a.c.where, again: a.b.a() === a }));\n',
  );
  // ES modules: e@1 (`"type": "module"`, an `exports` `import` condition only, top-level await) imports f, a CommonJS
  // package beside it in the store.
  write(
    join(nm, ".aspect_rules_js/e@1/node_modules/e/package.json"),
    '{"name":"e","type":"module","exports":{".":{"import":"./index.js"}}}\n',
  );
  write(
    join(nm, ".aspect_rules_js/e@1/node_modules/e/index.js"),
    'import { where as f } from "f";\nawait Promise.resolve();\nexport const where = import.meta.filename;\nexport { f };\n',
  );
  write(join(nm, ".aspect_rules_js/f@1/node_modules/f/index.js"), "exports.where = __filename;\n");
  symlinkSync("../../f@1/node_modules/f", join(nm, ".aspect_rules_js/e@1/node_modules/f"));
  symlinkSync(".aspect_rules_js/e@1/node_modules/e", join(nm, "e"));
  write(join(root, "main.mjs"), 'import { where, f } from "e";\nconsole.log(JSON.stringify({ e: where, f }));\n');
  // A CommonJS entry loading packages with import(): the CommonJS a (whose b sits beside it) and the ESM-only e.
  write(
    join(root, "dynamic.cjs"),
    'Promise.all([import("a"), import("e")]).then(([a, e]) => console.log(JSON.stringify({ a: a.default.where, b: a.default.b.where, e: e.where, f: e.f })));\n',
  );
  // The launchers' preload itself (tools/preload.ts), bundled as the rules bundle it.
  buildSync({
    entryPoints: [join(__dirname, "../../tools/preload.ts")],
    bundle: true,
    platform: "node",
    outfile: hook,
    logLevel: "silent",
  });
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function run(preload: boolean, entry = "main.js") {
  const args = [
    "--preserve-symlinks",
    "--preserve-symlinks-main",
    ...(preload ? ["--require", hook] : []),
    join(root, entry),
  ];
  return spawnSync(process.execPath, args, { encoding: "utf8", cwd: root });
}

describe("require under --preserve-symlinks in a rules_js tree", () => {
  test("without the hook, a package's dependency beside it in the store is not found", () => {
    const r = run(false);
    expect(r.status).not.toBe(0);
    expect(r.stderr).toContain("Cannot find module 'b'");
  });

  test("with it: each package at its store path, its dependency found beside it, the absolute link kept, one module per package", () => {
    const r = run(true);
    expect(r.status, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({
      a: join(nm, ".aspect_rules_js/a@1/node_modules/a/index.js"),
      b: join(nm, ".aspect_rules_js/b@1/node_modules/b/index.js"),
      c: join(nm, "c/index.js"),
      again: true,
    });
  });
});

describe("import under --preserve-symlinks in a rules_js tree (an ES module entry)", () => {
  test("without the hook, the dependency of an ESM-only package beside it in the store is not found", () => {
    const r = run(false, "main.mjs");
    expect(r.status).not.toBe(0);
    expect(r.stderr).toContain("Cannot find package 'f'");
  });

  test("with the preload: the ESM-only package and the CommonJS one it imports load from their store paths", () => {
    const r = run(true, "main.mjs");
    expect(r.status, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({
      e: join(nm, ".aspect_rules_js/e@1/node_modules/e/index.js"),
      f: join(nm, ".aspect_rules_js/f@1/node_modules/f/index.js"),
    });
  });
});

describe("import() from a CommonJS entry in a rules_js tree", () => {
  test("with the preload: both packages load from their store paths, their dependencies found beside them", () => {
    const r = run(true, "dynamic.cjs");
    expect(r.status, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({
      a: join(nm, ".aspect_rules_js/a@1/node_modules/a/index.js"),
      b: join(nm, ".aspect_rules_js/b@1/node_modules/b/index.js"),
      e: join(nm, ".aspect_rules_js/e@1/node_modules/e/index.js"),
      f: join(nm, ".aspect_rules_js/f@1/node_modules/f/index.js"),
    });
  });
});

describe("the hooks thread starts only for an app tree with rules_js packages", () => {
  test("the same links under another store name are not followed: no node_modules/.aspect_rules_js, no hook", () => {
    const other = join(tmp, "other", "_main");
    write(
      join(other, "node_modules/.store/e@1/node_modules/e/package.json"),
      '{"name":"e","type":"module","exports":"./index.js"}\n',
    );
    write(join(other, "node_modules/.store/e@1/node_modules/e/index.js"), 'export { where } from "f";\n');
    write(join(other, "node_modules/.store/f@1/node_modules/f/index.js"), "exports.where = __filename;\n");
    symlinkSync("../../f@1/node_modules/f", join(other, "node_modules/.store/e@1/node_modules/f"));
    symlinkSync(".store/e@1/node_modules/e", join(other, "node_modules/e"));
    write(join(other, "main.mjs"), 'import { where } from "e";\nconsole.log(where);\n');
    const args = ["--preserve-symlinks", "--preserve-symlinks-main", "--require", hook, join(other, "main.mjs")];
    const r = spawnSync(process.execPath, args, { encoding: "utf8", cwd: other });
    expect(r.status).not.toBe(0);
    expect(r.stderr).toContain("Cannot find package 'f'");
    // require is not hooked either: `Module._findPath` is Node's own after the preload (its lookups cost a launch).
    write(join(other, "node_modules/.store/g@1/node_modules/g/index.js"), 'exports.where = require("f").where;\n');
    symlinkSync("../../f@1/node_modules/f", join(other, "node_modules/.store/g@1/node_modules/f"));
    symlinkSync(".store/g@1/node_modules/g", join(other, "node_modules/g"));
    write(join(other, "main.js"), 'console.log(require("g").where);\n');
    const cjs = spawnSync(
      process.execPath,
      ["--preserve-symlinks", "--preserve-symlinks-main", "--require", hook, join(other, "main.js")],
      { encoding: "utf8", cwd: other },
    );
    expect(cjs.status).not.toBe(0);
    expect(cjs.stderr).toContain("Cannot find module 'f'");
    // The same tree with a rules_js store beside it (empty): require follows the links.
    mkdirSync(join(other, "node_modules/.aspect_rules_js"));
    const hooked = spawnSync(
      process.execPath,
      ["--preserve-symlinks", "--preserve-symlinks-main", "--require", hook, join(other, "main.js")],
      { encoding: "utf8", cwd: other },
    );
    expect(hooked.stderr).toBe("");
    expect(hooked.stdout.trim()).toBe(join(other, "node_modules/.store/f@1/node_modules/f/index.js"));
  });
});

describe("followPackageLinks", () => {
  test("followPackageLinksUrl: a file URL through the links; other URLs and unchanged paths as given", () => {
    const url = pathToFileURL(join(nm, "a/index.js")).href;
    expect(followPackageLinksUrl(url)).toBe(
      pathToFileURL(join(nm, ".aspect_rules_js/a@1/node_modules/a/index.js")).href,
    );
    expect(followPackageLinksUrl("node:fs")).toBe("node:fs");
    const main = pathToFileURL(join(root, "main.js")).href;
    expect(followPackageLinksUrl(main)).toBe(main);
  });

  test("resolves relative links after node_modules only; keeps absolute ones and paths without node_modules", () => {
    expect(followPackageLinks(join(nm, "a/index.js"))).toBe(join(nm, ".aspect_rules_js/a@1/node_modules/a/index.js"));
    expect(followPackageLinks(join(nm, ".aspect_rules_js/a@1/node_modules/b/index.js"))).toBe(
      join(nm, ".aspect_rules_js/b@1/node_modules/b/index.js"),
    );
    expect(followPackageLinks(join(nm, "c/index.js"))).toBe(join(nm, "c/index.js"));
    expect(followPackageLinks(join(root, "main.js"))).toBe(join(root, "main.js"));
  });

  test("a shared cache answers as a fresh one in any order; a component is looked up once for every path under it", () => {
    const paths = [
      join(nm, "a/index.js"),
      join(nm, "a/package.json"),
      join(nm, ".aspect_rules_js/a@1/node_modules/b/index.js"),
      join(nm, ".aspect_rules_js/b@1/node_modules/a/index.js"),
      join(nm, "c/index.js"),
      join(nm, "e/index.js"),
      join(nm, "missing/index.js"),
      join(root, "main.js"),
    ];
    const fresh = paths.map((p) => followPackageLinks(p));
    for (const order of [paths, [...paths].reverse()]) {
      const cache = new Map<string, string>();
      const answers = new Map(order.map((p) => [p, followPackageLinks(p, cache)]));
      expect(paths.map((p) => answers.get(p))).toEqual(fresh);
    }
    // Looked up once: a directory made a link afterwards is still taken for the directory it was, by that cache only.
    const later = join(tmp, "later", "node_modules");
    write(join(later, "x/one.js"), "");
    write(join(later, "x/two.js"), "");
    const cache = new Map<string, string>();
    expect(followPackageLinks(join(later, "x/one.js"), cache)).toBe(join(later, "x/one.js"));
    renameSync(join(later, "x"), join(later, "x-real"));
    symlinkSync("x-real", join(later, "x"));
    expect(followPackageLinks(join(later, "x/two.js"), cache)).toBe(join(later, "x/two.js"));
    expect(followPackageLinks(join(later, "x/two.js"))).toBe(join(later, "x-real/two.js"));
  });

  test("a missing component or a loop of relative links leaves the path as it was", () => {
    expect(followPackageLinks(join(nm, "missing/index.js"))).toBe(join(nm, "missing/index.js"));
    symlinkSync("loop2", join(nm, "loop1"));
    symlinkSync("loop1", join(nm, "loop2"));
    expect(followPackageLinks(join(nm, "loop1/index.js"))).toBe(join(nm, "loop1/index.js"));
  });
});
