/**
 * The import graph of src/ has no cycles: static, type-only and dynamic (`await import(...)`) imports all count,
 * since a cycle of any kind means two modules that cannot be understood (or moved) one without the other.
 */
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative } from "node:path";
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
});
