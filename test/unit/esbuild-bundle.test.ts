/**
 * bootstrap/esbuild_bundle.js, the program of the JsBundle action and of @rules_pipeline_tools, bundles only
 * declared inputs (issue 18, item 5a): a require that resolves to a file outside its `--input` files and `--input-dir`
 * directories fails, naming the importer, the request and the file; `--external` keeps it a run-time require; a
 * declared file is bundled; `import()` becomes `require()` (packages loaded lazily are found through NODE_PATH); several
 * `--bundle`s are built in one run, each with its own `--external`s. Real esbuild (the repository's dev dependency) on a
 * directory shaped like an execroot with an undeclared `node_modules` at its root.
 */
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { afterAll, describe, expect, test } from "vitest";

const ROOT = join(__dirname, "..", "..");
const BUNDLER = join(ROOT, "bootstrap", "esbuild_bundle.js");
const ESBUILD = join(ROOT, "node_modules", "esbuild", "lib", "main.js");
const root = realpathSync(mkdtempSync(join(tmpdir(), "rp-bundle-")));

function write(rel: string, text: string): void {
  mkdirSync(dirname(join(root, rel)), { recursive: true });
  writeFileSync(join(root, rel), text);
}

write(
  "bin/entry.js",
  `let opt;\ntry {\n  opt = require("optional-dep");\n} catch {}\nmodule.exports = { util: require("./util"), opt };\n`,
);
write("bin/util.js", `module.exports = "util";\n`);
// A relative request out of the inputs (checked from the metafile, not by the resolve callback, which sees only bare ones).
write("bin/entry-relative.js", `module.exports = require("../node_modules/optional-dep/index.js");\n`);
write("bin/lazy.ts", `const name: string = "lazy-dep";\nexport const load = () => import(name);\n`);
// Like a consumer's `npm install` at the workspace root: present in the execroot, never an input.
write(
  "node_modules/optional-dep/package.json",
  JSON.stringify({ name: "optional-dep", version: "1.0.0", main: "index.js" }),
);
write("node_modules/optional-dep/index.js", `module.exports = "UNDECLARED PACKAGE CONTENT";\n`);
mkdirSync(join(root, "declared/node_modules"), { recursive: true });
// A package in both trees: the workspace root's copy is met first by esbuild's upward walk (as `yaml` is in the rules'
// own checkout after `npm ci`), the declared one must be bundled.
write("bin/entry-shared.js", `module.exports = require("shared-dep");\n`);
for (const [dir, text] of [
  ["node_modules", "UNDECLARED COPY"],
  ["declared/node_modules", "DECLARED COPY"],
]) {
  write(`${dir}/shared-dep/package.json`, JSON.stringify({ name: "shared-dep", version: "1.0.0", main: "index.js" }));
  write(`${dir}/shared-dep/index.js`, `module.exports = "${text}";\n`);
}

afterAll(() => rmSync(root, { recursive: true, force: true }));

/** Runs the bundler from `root` (the execroot) with a params file, as the JsBundle action does. */
function bundle(
  extra: string[],
  entry = "bin/entry.js",
  global: string[] = [],
): { status: number | null; stderr: string; out: string } {
  const out = join("bin", `out-${Math.random().toString(36).slice(2)}.js`);
  const params = join(root, `${out}.params`);
  writeFileSync(
    params,
    [ESBUILD, "declared/node_modules", "--bundle", entry, out, ...extra, "--input", "bin/util.js", ...global].join(
      "\n",
    ) + "\n",
  );
  const r = spawnSync(process.execPath, [BUNDLER, `@${params}`], { cwd: root, encoding: "utf8" });
  let text = "";
  try {
    text = readFileSync(join(root, out), "utf8");
  } catch {
    // no output
  }
  return { status: r.status, stderr: r.stderr, out: text };
}

describe("esbuild_bundle.js bundles only declared inputs", () => {
  test("a require resolving outside the inputs fails, naming the importer, the request and the file", () => {
    const r = bundle([]);
    expect(r.status).toBe(1);
    expect(r.stderr).toContain(
      `bin/entry.js: "optional-dep" resolves to ${join(root, "node_modules/optional-dep/index.js")}, which is not a declared input`,
    );
    expect(r.stderr).toContain("`external`");
    expect(r.out).toBe("");
  });

  test("a relative request resolving outside the inputs fails the same way, and leaves no output", () => {
    const r = bundle([], "bin/entry-relative.js");
    expect(r.status).toBe(1);
    expect(r.stderr).toContain(
      `bin/entry-relative.js: "../node_modules/optional-dep/index.js" resolves to ${join(root, "node_modules/optional-dep/index.js")}, which is not a declared input`,
    );
    expect(r.out).toBe("");
  });

  test("--external keeps it a run-time require, and the declared files are bundled", () => {
    const r = bundle(["--external", "optional-dep"]);
    expect(r.status, r.stderr).toBe(0);
    expect(r.out).toContain('require("optional-dep")');
    expect(r.out).toContain('"util"');
    expect(r.out).not.toContain("UNDECLARED PACKAGE CONTENT");
  });

  test("a declared package is bundled", () => {
    const r = bundle(["--input", "node_modules/optional-dep/index.js"]);
    expect(r.status, r.stderr).toBe(0);
    expect(r.out).toContain("UNDECLARED PACKAGE CONTENT");
  });

  test("a package declared and also present in an undeclared node_modules above the importer: the declared copy is bundled", () => {
    const r = bundle(
      [
        "--input",
        "declared/node_modules/shared-dep/package.json",
        "--input",
        "declared/node_modules/shared-dep/index.js",
      ],
      "bin/entry-shared.js",
    );
    expect(r.status, r.stderr).toBe(0);
    expect(r.out).toContain("DECLARED COPY");
    expect(r.out).not.toContain("UNDECLARED COPY");
  });

  test("a package only in the undeclared node_modules is still refused when the declared tree lacks it", () => {
    const r = bundle([], "bin/entry-shared.js");
    expect(r.status).toBe(1);
    expect(r.stderr).toContain(
      `"shared-dep" resolves to ${join(root, "node_modules/shared-dep/index.js")}, which is not a declared input`,
    );
  });

  test("--input-dir declares every file under it", () => {
    const r = bundle([], "bin/entry.js", ["--input-dir", "node_modules/optional-dep"]);
    expect(r.status, r.stderr).toBe(0);
    expect(r.out).toContain("UNDECLARED PACKAGE CONTENT");
  });

  test("import() of a package becomes a require() (found through NODE_PATH at run time), from TypeScript", () => {
    const r = bundle([], "bin/lazy.ts");
    expect(r.status, r.stderr).toBe(0);
    expect(r.out).toMatch(/require\(name\)/);
    expect(r.out).not.toContain("import(");
  });

  test("several bundles in one run, each with its own --external", () => {
    const second = join("bin", `second-${Math.random().toString(36).slice(2)}.js`);
    const r = bundle(["--external", "optional-dep", "--bundle", "bin/entry.js", second], "bin/entry.js", [
      "--input-dir",
      "node_modules/optional-dep",
    ]);
    expect(r.status, r.stderr).toBe(0);
    expect(r.out).toContain('require("optional-dep")');
    const text = readFileSync(join(root, second), "utf8");
    expect(text).toContain("UNDECLARED PACKAGE CONTENT");
  });

  test("a bad argument fails with the usage", () => {
    const r = bundle(["--inputs", "x"]);
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('unexpected argument "--inputs"');
  });
});
