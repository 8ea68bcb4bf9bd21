/**
 * The import graph of src/ has no cycles: static, type-only and dynamic (`await import(...)`) imports all count,
 * since a cycle of any kind means two modules that cannot be understood (or moved) one without the other. The same
 * holds one level up: no two folders of src/ import each other, directly or through other folders (a folder is
 * read as one unit; a file at the top of src/ is a unit of its own). And a few folders keep out of others altogether
 * (FORBIDDEN below): the registry client speaks the protocol and writes no layout; the CLI's commands read the
 * launch contract (src/launch/), never what the launchers preload into the user's Node (src/preload/). Below src/ lies
 * one floor only: bootstrap/, the plain JavaScript that runs before anything is built (the repository rules' programs,
 * the bundler), which src/ may import and which imports nothing but Node's built-in modules; src/ imports nothing of
 * bazel/ (its programs are src/'s, bundled). src/tsc/, the TypeScript actions' programs, imports nothing of src/ but
 * itself: its bundles hold the compile and nothing of the CLI.
 */
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative, sep } from "node:path";
import ts from "typescript";
import { describe, expect, test } from "vitest";

const SRC = join(__dirname, "..", "..", "src");

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((n) => {
    const p = join(dir, n);
    if (statSync(p).isDirectory()) return sourceFiles(p);
    return n.endsWith(".ts") && !n.endsWith(".test.ts") && !n.endsWith(".d.ts") ? [p] : [];
  });
}

/** Relative imports of a file's text, resolved to files that exist (`x.ts` or `x/index.ts`). */
function importsOf(file: string, text: string): string[] {
  const info = ts.preProcessFile(text, true, true);
  const out: string[] = [];
  for (const { fileName } of info.importedFiles) {
    if (!fileName.startsWith(".")) continue;
    const base = join(dirname(file), fileName);
    const hit = [`${base}.ts`, join(base, "index.ts")].find((c) => existsSync(c));
    if (hit) out.push(hit);
  }
  return out;
}

/** Strongly connected components of more than one file (or a file importing itself): Tarjan's algorithm. */
function cycles(graph: Map<string, string[]>): string[][] {
  let next = 0;
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const out: string[][] = [];
  const visit = (v: string) => {
    index.set(v, next);
    low.set(v, next++);
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) === index.get(v)) {
      const scc: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        onStack.delete(w);
        scc.push(w);
      } while (w !== v);
      if (scc.length > 1 || (graph.get(v) ?? []).includes(v)) out.push(scc.sort());
    }
  };
  for (const v of graph.keys()) if (!index.has(v)) visit(v);
  return out;
}

/** The unit a file of src/ belongs to: its top folder (`registry`), or the file itself at the top (`errors.ts`). */
function unitOf(file: string): string {
  return relative(SRC, file).split(sep)[0];
}

/** The graph of units: an edge wherever a file of one imports a file of another. */
function unitGraph(graph: Map<string, string[]>): Map<string, string[]> {
  const out = new Map<string, Set<string>>();
  for (const [file, imports] of graph) {
    const from = unitOf(file);
    const edges = out.get(from) ?? new Set<string>();
    out.set(from, edges);
    for (const to of imports.map(unitOf)) if (to !== from) edges.add(to);
  }
  return new Map([...out].map(([k, v]) => [k, [...v]]));
}

/** For a message: the file imports that make one unit of a cycle import the next. */
function witnesses(graph: Map<string, string[]>, units: string[]): string[] {
  const inCycle = new Set(units);
  return [...graph].flatMap(([file, imports]) =>
    imports
      .filter((to) => unitOf(to) !== unitOf(file) && inCycle.has(unitOf(file)) && inCycle.has(unitOf(to)))
      .map((to) => `${relative(SRC, file)} -> ${relative(SRC, to)}`),
  );
}

/** Folder → folders none of its files may import, directly or through the folders it imports. */
const FORBIDDEN: Record<string, string[]> = {
  registry: ["layout", "preload", "transfer", "cli"],
  cli: ["preload"],
  transfer: ["preload", "cli"],
  launch: ["preload", "cli"],
};

/** Each forbidden folder `from` reaches in the folder graph, with the first file import on the way. */
function forbiddenReaches(graph: Map<string, string[]>, rules: Record<string, string[]>): string[] {
  const units = unitGraph(graph);
  const out: string[] = [];
  for (const [from, banned] of Object.entries(rules)) {
    const seen = new Set<string>([from]);
    const queue = [from];
    while (queue.length) {
      const u = queue.shift()!;
      for (const v of units.get(u) ?? []) {
        if (seen.has(v)) continue;
        seen.add(v);
        queue.push(v);
      }
    }
    for (const b of banned) {
      if (!seen.has(b)) continue;
      const direct = witnesses(graph, [from, b]).filter((w) => w.startsWith(`${from}/`));
      out.push(`${from} reaches ${b}${direct.length ? `: ${direct.join(", ")}` : " (through other folders)"}`);
    }
  }
  return out;
}

describe("import graph of src/", () => {
  test("the detector finds static, type-only and dynamic cycles (it can fail)", () => {
    const g = new Map<string, string[]>();
    const files: Record<string, string> = {
      "/m/a.ts": `import { b } from "./b";`,
      "/m/b.ts": `import type { C } from "./c";`,
      "/m/c.ts": `export async function f() { return (await import("./a")).x; }`,
      "/m/d.ts": `import { a } from "./a";`,
    };
    for (const [f, text] of Object.entries(files)) {
      const info = ts.preProcessFile(text, true, true);
      g.set(
        f,
        info.importedFiles.map((i) => join(dirname(f), `${i.fileName}.ts`)),
      );
    }
    expect(cycles(g)).toEqual([["/m/a.ts", "/m/b.ts", "/m/c.ts"]]);
  });

  test("has no cycles", () => {
    const files = sourceFiles(SRC);
    expect(files.length).toBeGreaterThan(100);
    const graph = new Map(files.map((f) => [f, importsOf(f, readFileSync(f, "utf8"))]));
    const found = cycles(graph).map((c) => c.map((f) => relative(SRC, f)));
    expect(found, "import cycles (files that import each other, directly or through others)").toEqual([]);
  });

  test("the folder graph is found from file imports (it can fail)", () => {
    const f = (p: string) => join(SRC, p);
    const g = new Map<string, string[]>([
      [f("a/x.ts"), [f("b/y.ts")]],
      [f("b/y.ts"), [f("errors.ts")]],
      [f("b/z.ts"), [f("a/w.ts")]],
      [f("a/w.ts"), []],
      [f("errors.ts"), []],
      [f("elf.ts"), [f("a/w.ts")]],
    ]);
    expect(cycles(unitGraph(g))).toEqual([["a", "b"]]);
    expect(witnesses(g, ["a", "b"])).toEqual(["a/x.ts -> b/y.ts", "b/z.ts -> a/w.ts"]);
  });

  test("has no cycles between folders", () => {
    const files = sourceFiles(SRC);
    const graph = new Map(files.map((f) => [f, importsOf(f, readFileSync(f, "utf8"))]));
    const found = cycles(unitGraph(graph)).map((units) => ({ folders: units, imports: witnesses(graph, units) }));
    expect(found, "folders of src/ that import each other, directly or through others").toEqual([]);
  });

  test("a forbidden folder is found, directly or through another (it can fail)", () => {
    const f = (p: string) => join(SRC, p);
    const g = new Map<string, string[]>([
      [f("cli/a.ts"), [f("launch/b.ts")]],
      [f("launch/b.ts"), [f("preload/c.ts")]],
      [f("preload/c.ts"), []],
      [f("registry/d.ts"), [f("layout/e.ts")]],
      [f("layout/e.ts"), []],
    ]);
    expect(forbiddenReaches(g, { cli: ["preload"], registry: ["layout"], launch: ["cli"] })).toEqual([
      "cli reaches preload (through other folders)",
      "registry reaches layout: registry/d.ts -> layout/e.ts",
    ]);
  });

  test("no folder reaches one it keeps out of (the registry client no layout, the CLI not the launchers' machinery)", () => {
    const files = sourceFiles(SRC);
    const graph = new Map(files.map((f) => [f, importsOf(f, readFileSync(f, "utf8"))]));
    expect(forbiddenReaches(graph, FORBIDDEN)).toEqual([]);
  });
});

describe("the floors below src/", () => {
  const ROOT = join(SRC, "..");
  const BOOTSTRAP = join(ROOT, "bootstrap");

  test("src/ imports from outside itself only bootstrap/, never bazel/", () => {
    const outside = sourceFiles(SRC).flatMap((f) =>
      ts
        .preProcessFile(readFileSync(f, "utf8"), true, true)
        .importedFiles.filter((i) => i.fileName.startsWith("."))
        .map((i) => join(dirname(f), i.fileName))
        .filter((p) => !p.startsWith(SRC + sep) && !p.startsWith(BOOTSTRAP + sep))
        .map((p) => `${relative(ROOT, f)} -> ${relative(ROOT, p)}`),
    );
    expect(outside, "imports of src/ that reach above it").toEqual([]);
  });

  test("bootstrap/ requires only Node's built-in modules (it runs before any package is installed)", () => {
    const programs = readdirSync(BOOTSTRAP).filter((n) => n.endsWith(".js"));
    expect(programs).toContain("esbuild_bundle.js");
    const requires = programs.flatMap((n) =>
      // Its programs' own requires (a declaration's): esbuild_bundle.js also writes requires into the code it makes.
      [
        ...readFileSync(join(BOOTSTRAP, n), "utf8").matchAll(
          /^(?:const|let|var)\b[^=\n]*=\s*require\(\s*"([^"]+)"\s*\)/gm,
        ),
      ]
        .map((m) => m[1])
        .filter((spec) => !spec.startsWith("node:"))
        .map((spec) => `${n} requires ${spec}`),
    );
    expect(requires).toEqual([]);
  });

  test("src/tsc/ imports nothing of src/ but itself", () => {
    const TSC = join(SRC, "tsc");
    const reach = sourceFiles(TSC).flatMap((f) =>
      importsOf(f, readFileSync(f, "utf8"))
        .filter((p) => !p.startsWith(TSC + sep))
        .map((p) => `${relative(SRC, f)} -> ${relative(SRC, p)}`),
    );
    expect(reach).toEqual([]);
  });
});
