/**
 * Deterministic inputs for the benchmarks, generated from a seed (no downloads): a node_modules-like tree,
 * a small app and a base image's root file system. Contents are built to compress like the real thing
 * (JS/JSON/markdown text with per-file vocabularies, minified bundles, source maps, native binaries
 * that are part random), not random bytes only and not zeros.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";

/** mulberry32: a small, fast, seedable PRNG. */
export class Rng {
  private s: number;
  constructor(seed: number) {
    this.s = seed >>> 0;
  }
  u32(): number {
    let t = (this.s = (this.s + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  }
  float(): number {
    return this.u32() / 4294967296;
  }
  int(n: number): number {
    return Math.floor(this.float() * n);
  }
  pick<T>(a: readonly T[]): T {
    return a[this.int(a.length)];
  }
  chance(p: number): boolean {
    return this.float() < p;
  }
  /** Log-normal with the given median and sigma. */
  lognormal(median: number, sigma: number): number {
    const u = Math.max(1e-12, this.float());
    const v = this.float();
    const z = Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
    return median * Math.exp(sigma * z);
  }
  bytes(n: number): Buffer {
    const b = Buffer.allocUnsafe(n);
    let i = 0;
    for (; i + 4 <= n; i += 4) b.writeUInt32LE(this.u32(), i);
    for (; i < n; i++) b[i] = this.u32() & 0xff;
    return b;
  }
}

const SYLLABLES =
  "ba be bi bo bu ca ce ci co cu da de di do du fa fe fi fo ga ge go ha he hi ka ke ko la le li lo lu ma me mi mo mu na ne ni no nu pa pe pi po pu ra re ri ro ru sa se si so su ta te ti to tu va ve vi vo za ze zo ex in on an er or al st tr pr qu".split(
    " ",
  );
const KEYWORDS = [
  "value",
  "options",
  "result",
  "buffer",
  "index",
  "length",
  "callback",
  "error",
  "data",
  "key",
  "name",
  "type",
  "node",
  "state",
  "config",
  "path",
  "stream",
  "parse",
  "format",
  "resolve",
  "handler",
  "context",
  "target",
  "source",
  "item",
  "list",
  "map",
  "next",
  "push",
  "emit",
];
const ENGLISH =
  "the a of to and in is that for it as with be on this are by an can from or which not have will you if when all use your more other one its was but has see also these must should returns default each any used called new function object string array option set get value file module package version install usage example api license support note".split(
    " ",
  );
const TYPES = [
  "string",
  "number",
  "boolean",
  "void",
  "unknown",
  "any",
  "Buffer",
  "Promise<void>",
  "Record<string, unknown>",
  "string[]",
  "number | undefined",
];

function makeVocabulary(rng: Rng, n: number): string[] {
  const out = new Set<string>(KEYWORDS);
  while (out.size < n) {
    const parts = 1 + rng.int(3);
    let w = "";
    for (let i = 0; i < parts; i++) {
      const s = rng.pick(SYLLABLES);
      w += i > 0 && rng.chance(0.5) ? s[0].toUpperCase() + s.slice(1) : s;
    }
    out.add(w);
  }
  return [...out];
}

/** Text generators sharing one global vocabulary; each file draws a local vocabulary from it (as real files do). */
export class TextGen {
  readonly vocab: string[];
  constructor(private readonly rng: Rng) {
    this.vocab = makeVocabulary(rng, 4000);
  }
  private local(n: number): string[] {
    const out: string[] = [];
    for (let i = 0; i < n; i++) out.push(this.rng.pick(this.vocab));
    return out;
  }
  private words(n: number): string {
    const r = this.rng;
    const w: string[] = [];
    for (let i = 0; i < n; i++) w.push(r.chance(0.7) ? r.pick(ENGLISH) : r.pick(this.vocab));
    return w.join(" ");
  }

  js(size: number): string {
    const r = this.rng;
    const ids = this.local(15 + r.int(60));
    const id = () => r.pick(ids);
    const lines: string[] = ['"use strict";'];
    let n = lines[0].length + 1;
    let depth = 0;
    while (n < size) {
      const ind = "  ".repeat(depth);
      let line: string;
      switch (r.int(12)) {
        case 0:
          line = `${ind}const ${id()} = require("${r.chance(0.5) ? "./" : ""}${id()}");`;
          break;
        case 1:
          line = `${ind}function ${id()}(${id()}, ${id()}) {`;
          depth = Math.min(depth + 1, 4);
          break;
        case 2:
          line = `${ind}return ${id()}.${id()}(${id()}, ${r.int(1000)});`;
          break;
        case 3:
          line = `${ind}if (${id()} === ${r.chance(0.5) ? `"${id()}"` : "undefined"}) {`;
          depth = Math.min(depth + 1, 4);
          break;
        case 4:
          line = `${ind}// ${this.words(4 + r.int(10))}`;
          break;
        case 5:
        case 6:
          if (depth > 0) depth--;
          line = `${"  ".repeat(depth)}}`;
          break;
        case 7:
          line = `${ind}${id()}.prototype.${id()} = function (${id()}) { return this.${id()}[${id()}]; };`;
          break;
        case 8:
          line = `${ind}throw new TypeError("${this.words(3 + r.int(6))}");`;
          break;
        case 9:
          line = `${ind}var ${id()} = ${id()} && ${id()}.${id()} || ${r.int(100)};`;
          break;
        case 10:
          line = `${ind}exports.${id()} = ${id()};`;
          break;
        default:
          line = `${ind}${id()}(${id()}, function (${id()}) { ${id()}.${id()} = ${id()}; });`;
      }
      lines.push(line);
      n += line.length + 1;
    }
    return lines.join("\n").slice(0, size);
  }

  dts(size: number): string {
    const r = this.rng;
    const ids = this.local(15 + r.int(50));
    const id = () => r.pick(ids);
    const lines: string[] = [];
    let n = 0;
    while (n < size) {
      const line = r.chance(0.3)
        ? `/** ${this.words(5 + r.int(12))} */`
        : r.chance(0.5)
          ? `export declare function ${id()}(${id()}: ${r.pick(TYPES)}, ${id()}?: ${r.pick(TYPES)}): ${r.pick(TYPES)};`
          : `    ${id()}${r.chance(0.3) ? "?" : ""}: ${r.pick(TYPES)};`;
      lines.push(line);
      n += line.length + 1;
    }
    return lines.join("\n").slice(0, size);
  }

  markdown(size: number): string {
    const r = this.rng;
    const parts: string[] = [];
    let n = 0;
    while (n < size) {
      const p = r.chance(0.15)
        ? `## ${this.words(2 + r.int(3))}\n`
        : r.chance(0.2)
          ? "```js\n" + this.js(100 + r.int(300)) + "\n```\n"
          : this.words(20 + r.int(60)) + ".\n";
      parts.push(p);
      n += p.length + 1;
    }
    return parts.join("\n").slice(0, size);
  }

  minified(size: number): string {
    const r = this.rng;
    const short = "abcdefghijklmnopqrstuvwxyz".split("").concat(this.local(40));
    const s = () => r.pick(short);
    const out: string[] = [];
    let n = 0;
    while (n < size) {
      const stmt =
        r.int(4) === 0
          ? `function ${s()}(${s()},${s()}){return ${s()}.${s()}(${s()})}`
          : r.int(3) === 0
            ? `var ${s()}=${s()}(${r.int(9999)}),${s()}="${s()}${s()}";`
            : `${s()}.${s()}=${s()}?${s()}:${s()}(${s()},${r.int(99)});`;
      out.push(stmt);
      n += stmt.length;
    }
    return out.join("").slice(0, size);
  }

  sourceMap(size: number): string {
    const r = this.rng;
    const B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    const m: string[] = [];
    let n = 0;
    const target = Math.floor(size * 0.6);
    while (n < target) {
      const len = 4 + r.int(4);
      let seg = "";
      for (let i = 0; i < len; i++) seg += B64[r.int(r.chance(0.6) ? 12 : 64)];
      m.push(seg, r.chance(0.1) ? ";" : ",");
      n += len + 1;
    }
    const head = `{"version":3,"file":"index.min.js","sources":["../src/index.js"],"names":[],"mappings":"${m.join("")}","sourcesContent":[`;
    const content = JSON.stringify(this.js(Math.max(0, size - head.length - m.length)));
    return (head + content + "]}").slice(0, size);
  }

  /**
   * A native binary: machine code (short sequences drawn from a per-file pool, so they repeat as real
   * instruction sequences do, with some random operands), random constants, tables, strings, padding.
   * Compresses about 2-2.5x with gzip, like real shared libraries.
   */
  binary(size: number): Buffer {
    const r = this.rng;
    const pool: Buffer[] = [];
    for (let i = 0; i < 400; i++) pool.push(r.bytes(3 + r.int(20)));
    const parts: Buffer[] = [];
    let n = 0;
    while (n < size) {
      const k = r.int(20);
      let b: Buffer;
      if (k < 12) {
        const code: Buffer[] = [];
        let m = 0;
        const len = 4096 + r.int(16384);
        while (m < len) {
          const c = r.chance(0.7) ? pool[r.int(pool.length)] : r.bytes(1 + r.int(4));
          code.push(c);
          m += c.length;
        }
        b = Buffer.concat(code);
      } else if (k < 15) b = r.bytes(1024 + r.int(4096));
      else if (k < 17) b = Buffer.from(this.words(200 + r.int(800)).replace(/ /g, "\0"));
      else if (k < 19) {
        const row = r.bytes(8 + r.int(24));
        b = Buffer.alloc(row.length * (20 + r.int(100)));
        for (let i = 0; i < b.length; i += row.length) {
          row.copy(b, i);
          row[r.int(row.length)] = r.u32() & 0xff;
        }
      } else b = Buffer.alloc(512 + r.int(4096));
      parts.push(b);
      n += b.length;
    }
    return Buffer.concat(parts).subarray(0, size);
  }
}

const MIT = `MIT License

Copyright (c) YEAR AUTHOR

Permission is hereby granted, free of charge, to any person obtaining a copy of this software and associated
documentation files (the "Software"), to deal in the Software without restriction, including without limitation
the rights to use, copy, modify, merge, publish, distribute, sublicense, and/or sell copies of the Software, and
to permit persons to whom the Software is furnished to do so, subject to the following conditions:

The above copyright notice and this permission notice shall be included in all copies or substantial portions of
the Software.

THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR IMPLIED, INCLUDING BUT NOT LIMITED TO THE
WARRANTIES OF MERCHANTABILITY, FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT.
`;

export interface TreeStats {
  files: number;
  bytes: number;
  /** Paths written (relative), to skip the rare name collision. */
  seen?: Set<string>;
}

function put(root: string, rel: string, content: string | Buffer, stats: TreeStats, mode?: number): void {
  stats.seen ??= new Set();
  if (stats.seen.has(rel)) return;
  stats.seen.add(rel);
  const p = join(root, rel);
  mkdirSync(dirname(p), { recursive: true });
  writeFileSync(p, content, mode !== undefined ? { mode } : undefined);
  stats.files++;
  stats.bytes += typeof content === "string" ? Buffer.byteLength(content) : content.length;
}

export interface NodeModulesOptions {
  seed: number;
  files: number;
  bytes: number;
}

/**
 * A node_modules-like tree at `root`: packages (some scoped, some nested) each with package.json, README,
 * LICENSE, JS and .d.ts files of log-normal sizes; then large files (minified bundles, source maps, native
 * binaries) until about `bytes`.
 */
export function generateNodeModules(root: string, o: NodeModulesOptions): TreeStats {
  const r = new Rng(o.seed);
  const t = new TextGen(r);
  const stats: TreeStats = { files: 0, bytes: 0 };
  const pkgs: string[] = [];
  const smallBudget = o.bytes * 0.45;
  const smallFiles = Math.max(1, Math.round(o.files * 0.99));
  const medianSmall = Math.max(64, smallBudget / smallFiles / Math.exp(0.5)); // mean of lognormal(σ=1) = median·e^0.5
  while (stats.files < smallFiles) {
    let name = t.vocab[r.int(t.vocab.length)].toLowerCase();
    if (r.chance(0.15)) name = `@${t.vocab[r.int(t.vocab.length)].toLowerCase()}/${name}`;
    if (pkgs.length > 10 && r.chance(0.1)) name = `${r.pick(pkgs)}/node_modules/${name}`;
    if (pkgs.includes(name)) continue;
    pkgs.push(name);
    const version = `${r.int(10)}.${r.int(30)}.${r.int(20)}`;
    const deps: Record<string, string> = {};
    for (let i = r.int(6); i > 0; i--) deps[r.pick(t.vocab).toLowerCase()] = `^${r.int(10)}.${r.int(10)}.0`;
    const pj = {
      name: name.replace(/^.*node_modules\//, ""),
      version,
      description: t.markdown(60).replace(/\n/g, " "),
      main: "index.js",
      types: "index.d.ts",
      license: "MIT",
      dependencies: deps,
      keywords: t.vocab.slice(r.int(3000), r.int(3000) + 3 + r.int(5)),
    };
    const base = name;
    put(root, `${base}/package.json`, JSON.stringify(pj, null, 2) + "\n", stats);
    if (r.chance(0.8))
      put(
        root,
        `${base}/LICENSE`,
        MIT.replace("YEAR", String(2010 + r.int(15))).replace("AUTHOR", r.pick(t.vocab)),
        stats,
      );
    if (r.chance(0.7))
      put(root, `${base}/README.md`, t.markdown(Math.round(r.lognormal(medianSmall * 1.5, 0.8))), stats);
    put(root, `${base}/index.js`, t.js(Math.round(r.lognormal(medianSmall / 3, 0.8))), stats);
    const n = Math.round(r.lognormal(12, 0.9));
    const sub = r.pick(["lib", "dist", "src", "build", "cjs", "esm"]);
    const subdirs = [
      sub,
      sub,
      sub,
      `${sub}/${r.pick(t.vocab).toLowerCase()}`,
      `${sub}/${r.pick(t.vocab).toLowerCase()}`,
    ];
    for (let i = 0; i < n && stats.files < smallFiles; i++) {
      const dir = r.pick(subdirs);
      const size = Math.min(256 * 1024, Math.round(r.lognormal(medianSmall, 1.0)));
      if (r.chance(0.25)) put(root, `${base}/${dir}/${r.pick(t.vocab)}.d.ts`, t.dts(size), stats);
      else put(root, `${base}/${dir}/${r.pick(t.vocab)}.js`, t.js(size), stats);
    }
  }
  // Large files until the byte budget is spent.
  while (stats.bytes < o.bytes) {
    const pkg = r.pick(pkgs);
    const size = Math.min(o.bytes - stats.bytes + 1, Math.round(Math.exp(Math.log(200e3) + r.float() * Math.log(30))));
    const k = r.int(10);
    if (k < 5) put(root, `${pkg}/dist/${r.pick(t.vocab)}.min.js`, t.minified(size), stats);
    else if (k < 8) put(root, `${pkg}/dist/${r.pick(t.vocab)}.min.js.map`, t.sourceMap(size), stats);
    else put(root, `${pkg}/build/Release/${r.pick(t.vocab)}.node`, t.binary(size), stats, 0o755);
  }
  return stats;
}

/** A small app: `files` JS modules and a JSON data file under `root`. */
export function generateApp(root: string, seed: number, files: number): TreeStats {
  const r = new Rng(seed);
  const t = new TextGen(r);
  const stats: TreeStats = { files: 0, bytes: 0 };
  put(root, "main.js", `"use strict";\nconst version = "v1";\nconsole.log("app", version);\n` + t.js(2000), stats);
  for (let i = 1; i < files - 1; i++)
    put(
      root,
      `lib/${String(i).padStart(3, "0")}-${r.pick(t.vocab)}.js`,
      t.js(Math.round(r.lognormal(3000, 0.7))),
      stats,
    );
  put(root, "data/settings.json", JSON.stringify({ seed, items: t.vocab.slice(0, 100) }, null, 2), stats);
  return stats;
}

/**
 * A base image's root file system: shared libraries and binaries (part random), docs and config text. `libDir` is
 * where the libraries go (usr/lib/aarch64-linux-gnu for an arm64 base); the default keeps the amd64 base as it was.
 */
export function generateRootfs(
  root: string,
  seed: number,
  bytes: number,
  libDir = "usr/lib/x86_64-linux-gnu",
): TreeStats {
  const r = new Rng(seed);
  const t = new TextGen(r);
  const stats: TreeStats = { files: 0, bytes: 0 };
  const dirs = [
    libDir,
    "usr/bin",
    "usr/sbin",
    "usr/share/doc",
    "usr/share/locale",
    "etc",
    "usr/lib/python3/dist-packages",
  ];
  while (stats.bytes < bytes) {
    const dir = r.pick(dirs);
    const left = bytes - stats.bytes;
    if (dir === libDir || dir.endsWith("bin")) {
      const size = Math.min(left, Math.round(r.lognormal(120e3, 1.4)));
      put(
        root,
        `${dir}/${r.pick(t.vocab).toLowerCase()}${dir.endsWith("bin") ? "" : ".so." + r.int(9)}`,
        t.binary(Math.max(1, size)),
        stats,
        0o755,
      );
    } else {
      const size = Math.min(left, Math.round(r.lognormal(4e3, 1.0)));
      const name = `${dir}/${r.pick(t.vocab).toLowerCase()}/${r.pick(t.vocab).toLowerCase()}${dir.includes("python") ? ".py" : ""}`;
      put(root, name, dir.includes("python") ? t.js(Math.max(1, size)) : t.markdown(Math.max(1, size)), stats);
    }
  }
  return stats;
}
