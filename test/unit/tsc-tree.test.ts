/**
 * A worker's tree for TypeScript 7 (src/tsc/tree.ts syncTree): kept between requests and brought to each request's
 * inputs by looking only at the paths that changed (`before`), it must hold what a tree made from nothing for the same
 * inputs holds, entry for entry, after any sequence of edits, additions, removals and renames (a differential of the
 * two over random steps). The workspace's and Bazel's own files are copies (a resident compiler must not watch the
 * user's directories), a copy changed has a later modification time than before, and npm's files stay links.
 */
import { createHash } from "node:crypto";
import {
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, relative, resolve } from "node:path";
import { afterAll, describe, expect, test } from "vitest";
import { absolute } from "../../src/tsc/inputs";
import { syncTree } from "../../src/tsc/tree";
import { seededRandom } from "../fixtures/fault-proxy";

const tmp = mkdtempSync(join(tmpdir(), "rp-tsc-tree-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** Every entry under `root`: a link's text or a file's contents, by path. */
function snapshot(root: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (dir: string) => {
    for (const e of readdirSync(dir).sort()) {
      const p = join(dir, e);
      const st = lstatSync(p);
      if (st.isSymbolicLink()) out[relative(root, p)] = `link ${readlinkSync(p)}`;
      else if (st.isDirectory()) walk(p);
      else out[relative(root, p)] = `file ${readFileSync(p, "utf8")}`;
    }
  };
  walk(root);
  return out;
}

describe("a worker's tree kept between requests", () => {
  test("synced from the changed paths alone, it holds what a tree made from nothing holds, after each of 80 random steps", () => {
    const here = join(tmp, "execroot");
    const rand = seededRandom(75);
    const pick = <T>(xs: readonly T[]) => xs[Math.floor(rand() * xs.length)];
    // The workspace's sources, Bazel's outputs, npm's files in an external repository and in a node_modules (one a
    // relative link, as rules_js lays its store out).
    const places = [
      "lib",
      "app/src",
      "bazel-out/k8-fastbuild/bin/lib",
      "external/npm/node_modules/pkg",
      "bazel-out/k8-fastbuild/bin/node_modules/.store/pkg",
    ];
    const files = new Map<string, string>();
    const write = (rel: string, text: string) => {
      mkdirSync(dirname(join(here, rel)), { recursive: true });
      writeFileSync(join(here, rel), text);
      files.set(rel, text);
    };
    for (let i = 0; i < 12; i++) write(join(pick(places), `f${i}.ts`), `export const v${i} = ${i};\n`);
    mkdirSync(join(here, "bazel-out/k8-fastbuild/bin/node_modules"), { recursive: true });
    symlinkSync(".store/pkg", join(here, "bazel-out/k8-fastbuild/bin/node_modules/pkg"));
    const inputsOf = () =>
      new Map(
        [...files, ["bazel-out/k8-fastbuild/bin/node_modules/pkg", "link"] as [string, string]].map(([rel, text]) => [
          join(here, rel),
          createHash("sha256").update(text).digest("hex"),
        ]),
      );
    const kept = { root: join(tmp, "kept"), links: new Map<string, string>() };
    let before: Map<string, string> | undefined;
    let n = 100;
    for (let step = 0; step < 80; step++) {
      const rel = pick([...files.keys()]);
      const kind = pick(["edit", "edit", "add", "remove", "rename"] as const);
      if (kind === "edit") write(rel, `${files.get(rel)}// step ${step}\n`);
      else if (kind === "add") write(join(pick(places), `f${n++}.ts`), `export const n = ${step};\n`);
      else if (files.size > 3) {
        rmSync(join(here, rel));
        const text = files.get(rel) ?? "";
        files.delete(rel);
        if (kind === "rename") write(join(pick(places), `f${n++}.ts`), text);
      }
      const inputs = inputsOf();
      const mtimes = new Map([...kept.links.keys()].map((r) => [r, lstatSync(join(kept.root, r)).mtimeMs]));
      syncTree(kept, inputs, here, true, before);
      before = inputs;
      const fresh = { root: join(tmp, `fresh-${step}`), links: new Map<string, string>() };
      syncTree(fresh, inputs, here, true);
      expect(snapshot(kept.root), `step ${step} (${kind} ${rel})`).toEqual(snapshot(fresh.root));
      expect(kept.links).toEqual(fresh.links);
      rmSync(fresh.root, { recursive: true, force: true });
      // The workspace's and Bazel's own files are copies; npm's are links. A copy edited has a later mtime.
      const npm = (r: string) => r.startsWith("external/") || r.includes("node_modules");
      for (const [r, text] of Object.entries(snapshot(kept.root)))
        expect(text.startsWith(npm(r) ? "link " : "file "), r).toBe(true);
      if (kind === "edit" && !npm(rel) && mtimes.has(rel))
        expect(lstatSync(join(kept.root, rel)).mtimeMs).toBeGreaterThan(mtimes.get(rel) ?? 0);
    }
  });
});

describe("a request's input paths", () => {
  test("joined to the working directory as resolve() would, plain or not", () => {
    const base = "/out/execroot/ws";
    const rand = seededRandom(7);
    const parts = ["a", "b.ts", ".", "..", "", "@types", "node_modules", ".bin", "..x", "x.."];
    for (let i = 0; i < 5_000; i++) {
      const n = 1 + Math.floor(rand() * 5);
      let p = Array.from({ length: n }, () => parts[Math.floor(rand() * parts.length)]).join("/");
      if (rand() < 0.05) p = `/${p}`;
      expect(absolute(base, p), p).toBe(resolve(base, p));
    }
  });
});
