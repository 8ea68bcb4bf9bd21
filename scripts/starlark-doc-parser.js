"use strict";
/**
 * The Starlark subset scripts/rule-docs.js needs to document rules (issue #11; stardoc cannot be fetched here).
 *
 * A file is read as top-level statements only: `load(...)`, `NAME = expr`, `def name(...):` headers with their
 * docstrings, and the module docstring. Function bodies are never parsed. Expressions are parsed and evaluated
 * lazily, only when a public symbol needs them, so a construct the evaluator does not know fails only where it
 * matters, naming the file, the line and the construct (e.g. "a `.format()` call").
 *
 * Evaluated: string (implicit concatenation, `+`, `"sep".join([...])`), int and bool literals, None, lists, tuples,
 * dicts, names (bound in the file or loaded from another one), `dict(...)` with `**`, `x[key]`, `struct.field`, and
 * `a if c else b`. Calls to rule(), repository_rule(), module_extension(), tag_class(), provider(), struct() and
 * attr.*() are recorded with their arguments unevaluated, for the caller to evaluate the ones it documents.
 */
const fs = require("node:fs");
const path = require("node:path");

class RuleDocsError extends Error {
  /** @param {string} message @param {string} [code] */
  constructor(message, code = "RULE_DOCS_INPUT") {
    super(message);
    this.name = "RuleDocsError";
    this.code = code;
  }
}

const OPS = ["**=", "//=", ">>=", "<<=", "**", "//", "==", "!=", "<=", ">=", "+=", "-=", "*=", "/=", "%=", "|=", "&=", "^=", "<<", ">>", "->",
  "+", "-", "*", "/", "%", "|", "&", "^", "~", "<", ">", "(", ")", "[", "]", "{", "}", ",", ":", ";", ".", "="];
const ESCAPES = { n: "\n", t: "\t", r: "\r", "\\": "\\", '"': '"', "'": "'", a: "\x07", b: "\b", f: "\f", v: "\v" };

/** Tokens (name, int, string, op, newline, eof; each with start/end offsets, line, col) and whole-line comments. */
function tokenize(src, file) {
  const toks = [];
  const comments = new Map(); // line -> text of a comment that is alone on its line
  let i = 0, line = 1, lineStart = 0, depth = 0;
  const fail = (msg, l = line, c = i - lineStart) => { throw new RuleDocsError(`${file}:${l}:${c + 1}: ${msg}`); };
  const push = (type, value, start, l, c) => toks.push({ type, value, start, end: i, line: l, col: c });
  while (i < src.length) {
    const ch = src[i];
    if (ch === "\n") {
      if (depth === 0 && toks.length && toks[toks.length - 1].type !== "newline") push("newline", "", i, line, i - lineStart);
      i++, line++, lineStart = i;
    } else if (ch === " " || ch === "\t" || ch === "\r") i++;
    else if (ch === "#") {
      const e = src.indexOf("\n", i) < 0 ? src.length : src.indexOf("\n", i);
      if (!src.slice(lineStart, i).trim()) comments.set(line, src.slice(i + 1, e).trim());
      i = e;
    } else if (ch === "\\" && src[i + 1] === "\n") i += 2, line++, lineStart = i;
    else {
      const start = i, l = line, c = i - lineStart;
      const str = /^([rRbB]{0,2})("""|'''|"|')/.exec(src.slice(i, i + 5));
      const word = /^[A-Za-z_]\w*/.exec(src.slice(i, i + 200));
      const num = /^(0[xX][0-9a-fA-F]+|0[oO][0-7]+|\d+(\.\d*)?([eE][+-]?\d+)?)/.exec(src.slice(i, i + 100));
      if (str) {
        const raw = /r/i.test(str[1]), q = str[2];
        let val = "";
        i += str[0].length;
        for (;;) {
          if (i >= src.length) fail("unterminated string", l, c);
          if (src.startsWith(q, i)) { i += q.length; break; }
          const s = src[i];
          if (s === "\n") {
            if (q.length === 1) fail("newline in a one-line string", l, c);
            val += s, i++, line++, lineStart = i;
          } else if (s !== "\\") val += s, i++;
          else if (raw) {
            val += s + src[i + 1];
            if (src[i + 1] === "\n") line++, lineStart = i + 2;
            i += 2;
          } else {
            const n = src[i + 1];
            const m = /^([0-7]{1,3}|x[0-9a-fA-F]{2}|u[0-9a-fA-F]{4}|U[0-9a-fA-F]{8})/.exec(src.slice(i + 1, i + 10));
            if (n === "\n") i += 2, line++, lineStart = i;
            else if (n in ESCAPES) val += ESCAPES[n], i += 2;
            else if (m) val += String.fromCodePoint(parseInt(/^[0-7]/.test(m[1]) ? m[1] : m[1].slice(1), /^[0-7]/.test(m[1]) ? 8 : 16)), i += 1 + m[1].length;
            else fail(`invalid escape sequence \\${n} in a string`);
          }
        }
        push("string", val, start, l, c);
      } else if (word) i += word[0].length, push("name", word[0], start, l, c);
      else if (num) i += num[0].length, push("num", Number(num[0].replace(/^0[oO]/, "0o")), start, l, c);
      else {
        const op = OPS.find((o) => src.startsWith(o, i));
        if (!op) fail(`unexpected character ${JSON.stringify(ch)}`);
        if ("([{".includes(op)) depth++;
        if (")]}".includes(op)) depth = Math.max(0, depth - 1);
        i += op.length, push("op", op, start, l, c);
      }
    }
  }
  if (toks.length && toks[toks.length - 1].type !== "newline") push("newline", "", i, line, i - lineStart);
  return { toks, comments };
}

const EOF = { type: "eof", value: "", start: -1, end: -1, line: 0, col: 0 };

/** A recursive-descent parser of Starlark expressions over one statement's tokens. */
class Parser {
  constructor(toks, file) { this.t = toks; this.i = 0; this.file = file; }
  peek(k = 0) { return this.t[this.i + k] || { ...EOF, line: (this.t[this.t.length - 1] || EOF).line }; }
  next() { return this.t[this.i++] || this.peek(); }
  is(value, k = 0) { const t = this.peek(k); return (t.type === "op" || t.type === "name") && t.value === value; }
  eat(value) { return this.is(value) ? this.next() : null; }
  fail(msg, tok = this.peek()) { throw new RuleDocsError(`${this.file}:${tok.line}:${tok.col + 1}: ${msg}`); }
  expect(value) { return this.eat(value) || this.fail(`expected \`${value}\`, got ${this.peek().type === "eof" ? "the end of the statement" : `\`${this.peek().value}\``}`); }
  name() { return this.peek().type === "name" ? this.next().value : this.fail(`expected a name, got \`${this.peek().value}\``); }
  node(type, first, props) { return { type, line: first.line, col: first.col, start: first.start, end: this.t[this.i - 1].end, ...props }; }
  atEnd() { return this.peek().type === "eof" || this.peek().type === "newline"; }

  /** expr, or a tuple `a, b` without parentheses. */
  exprList() {
    const first = this.peek(), e = this.test();
    if (!this.is(",")) return e;
    const items = [e];
    while (this.eat(",") && !this.atEnd() && !this.is(")")) items.push(this.test());
    return this.node("tuple", first, { items });
  }
  test() {
    const first = this.peek();
    if (this.is("lambda")) this.fail("a lambda is not supported");
    const e = this.binary(0);
    if (!this.eat("if")) return e;
    const cond = this.binary(0);
    this.expect("else");
    return this.node("cond", first, { cond, then: e, else: this.test() });
  }
  /** Binary operators by precedence: or, and, not (unary), comparisons, |, ^, &, shifts, + -, * / // %. */
  binary(level) {
    const LEVELS = [["or"], ["and"], null, ["==", "!=", "<", ">", "<=", ">=", "in", "not in"], ["|"], ["^"], ["&"], ["<<", ">>"], ["+", "-"], ["*", "/", "//", "%"]];
    if (level === LEVELS.length) return this.unary();
    const first = this.peek();
    if (LEVELS[level] === null) {
      if (this.eat("not")) return this.node("unary", first, { op: "not", operand: this.binary(level) });
      return this.binary(level + 1);
    }
    let left = this.binary(level + 1);
    for (;;) {
      const op = this.is("not") && this.is("in", 1) ? "not in" : LEVELS[level].find((o) => this.is(o));
      if (!op) return left;
      this.next();
      if (op === "not in") this.next();
      left = this.node("binop", first, { op, left, right: this.binary(level + 1) });
    }
  }
  unary() {
    const first = this.peek();
    const op = ["-", "+", "~"].find((o) => this.is(o));
    if (op) return this.next(), this.node("unary", first, { op, operand: this.unary() });
    return this.primary();
  }
  primary() {
    const first = this.peek();
    let e = this.atom();
    for (;;) {
      if (this.eat(".")) e = this.node("dot", first, { obj: e, name: this.name() });
      else if (this.eat("(")) e = this.node("call", first, { fn: e, args: this.args() });
      else if (this.eat("[")) {
        const key = this.is(":") ? null : this.test();
        let slice = false;
        while (this.eat(":")) {
          slice = true;
          if (!this.is(":") && !this.is("]")) this.test();
        }
        this.expect("]");
        e = slice ? this.node("slice", first, { obj: e }) : this.node("index", first, { obj: e, key });
      } else return e;
    }
  }
  args() {
    const args = [];
    while (!this.eat(")")) {
      const first = this.peek();
      if (this.eat("**")) args.push({ kind: "**", value: this.test(), tok: first });
      else if (this.eat("*")) args.push({ kind: "*", value: this.test(), tok: first });
      else if (this.peek().type === "name" && this.is("=", 1)) {
        const name = this.name();
        this.next();
        args.push({ kind: "kw", name, value: this.test(), tok: first });
      } else args.push({ kind: "pos", value: this.test(), tok: first });
      if (!this.is(")")) this.expect(",");
    }
    return args;
  }
  /** `for x in y if z` clauses, parsed so that the error names a comprehension. */
  comprehension(first, type, close) {
    while (this.eat("for")) {
      this.binary(4);
      while (this.eat(",")) this.binary(4);
      this.expect("in");
      this.binary(0);
      while (this.eat("if")) this.binary(0);
    }
    this.expect(close);
    return this.node(type, first, {});
  }
  atom() {
    const t = this.peek();
    if (t.type === "string") {
      let value = "";
      while (this.peek().type === "string") value += this.next().value;
      return this.node("str", t, { value });
    }
    if (t.type === "num") return this.next(), this.node("num", t, { value: t.value });
    if (t.type === "name" && !["for", "if", "else", "in", "not", "and", "or", "def", "return"].includes(t.value)) return this.next(), this.node("ident", t, { name: t.value });
    if (this.eat("(")) {
      if (this.eat(")")) return this.node("tuple", t, { items: [] });
      const e = this.exprList();
      if (this.is("for")) return this.comprehension(t, "comprehension", ")");
      this.expect(")");
      return e.type === "tuple" ? { ...e, start: t.start, end: this.t[this.i - 1].end } : e;
    }
    if (this.eat("[")) {
      const items = [];
      while (!this.eat("]")) {
        items.push(this.test());
        if (this.is("for")) return this.comprehension(t, "comprehension", "]");
        if (!this.is("]")) this.expect(",");
      }
      return this.node("list", t, { items });
    }
    if (this.eat("{")) {
      const entries = [];
      while (!this.eat("}")) {
        const key = this.test();
        this.expect(":");
        entries.push([key, this.test()]);
        if (this.is("for")) return this.comprehension(t, "comprehension", "}");
        if (!this.is("}")) this.expect(",");
      }
      return this.node("dict", t, { entries });
    }
    return this.fail(t.type === "eof" || t.type === "newline" ? "unexpected end of the statement" : `unexpected \`${t.value}\``, t);
  }
}

/** Splits the tokens into logical lines and reads the top-level statements. */
function parseModule(src, file) {
  const { toks, comments } = tokenize(src, file);
  const lines = [];
  for (let s = 0, i = 0; i < toks.length; i++) if (toks[i].type === "newline") lines.push(toks.slice(s, i)), s = i + 1;
  const bindings = new Map();
  const order = [];
  let docstring = null;
  const commentAbove = (line) => {
    const out = [];
    for (let l = line - 1; comments.has(l); l--) out.unshift(comments.get(l));
    return out.join("\n");
  };
  const bind = (name, b) => { if (!bindings.has(name)) order.push(name); bindings.set(name, b); };
  for (let n = 0; n < lines.length; n++) {
    const ln = lines[n], t0 = ln[0];
    if (!ln.length || t0.col !== 0) continue;
    if (n === 0 && ln.every((t) => t.type === "string")) docstring = ln.map((t) => t.value).join("");
    else if (t0.type === "name" && t0.value === "load" && ln[1] && ln[1].value === "(") {
      const p = new Parser(ln.slice(2), file);
      const args = p.args();
      const label = args[0] && args[0].kind === "pos" && args[0].value.type === "str" ? args[0].value.value : p.fail("load() needs a label string first", t0);
      for (const a of args.slice(1)) {
        if (a.value.type !== "str" || !["pos", "kw"].includes(a.kind)) p.fail("load() takes \"symbol\" or alias = \"symbol\"", a.tok);
        bind(a.kind === "kw" ? a.name : a.value.value, { kind: "load", label, symbol: a.value.value, line: a.tok.line, col: a.tok.col, file });
      }
    } else if (t0.type === "name" && t0.value === "def") {
      const p = new Parser(ln.slice(1), file);
      const name = p.name();
      p.expect("(");
      const params = [];
      while (!p.eat(")")) {
        const star = p.eat("**") ? "**" : p.eat("*") ? "*" : "";
        const pname = star === "*" && (p.is(",") || p.is(")")) ? "" : p.name();
        const dflt = p.eat("=") ? p.test() : null;
        params.push({ name: pname, star, default: dflt && src.slice(dflt.start, dflt.end) });
        if (!p.is(")")) p.expect(",");
      }
      const body = lines[n + 1] && lines[n + 1][0] && lines[n + 1][0].col > 0 ? lines[n + 1] : [];
      const doc = body.length && body.every((t) => t.type === "string") ? body.map((t) => t.value).join("") : null;
      bind(name, { kind: "def", name, params, doc, docCol: doc === null ? 0 : body[0].col, line: t0.line, col: t0.col, file });
    } else if (t0.type === "name" && ln[1] && ln[1].type === "op" && ln[1].value === "=") {
      bind(t0.value, { kind: "assign", toks: ln.slice(2), line: t0.line, col: t0.col, file, comment: commentAbove(t0.line) });
    }
  }
  return { file, src, docstring, bindings, order };
}

const RECORDED = new Set(["rule", "repository_rule", "module_extension", "tag_class", "provider", "struct"]);
const ATTR_NS = { $: "attr-namespace" };

function typeName(v) {
  if (v === null) return "None";
  if (Array.isArray(v)) return "list";
  if (v instanceof Map) return "dict";
  if (typeof v === "object" && v.$ === "builtin") return `\`${v.name}\` (a builtin, or not defined)`;
  if (typeof v === "object") return v.$ === "function" ? `function ${v.def.name}` : v.$;
  return { string: "string", number: "int", boolean: "bool" }[typeof v] || typeof v;
}

/** Reads .bzl files by label, evaluates their bindings on demand (memoized; cycles are errors). */
class Loader {
  /** @param {string} root the repository root @param {string} repoName the name `@<name>//` labels mean this repository by */
  constructor(root, repoName) { this.root = root; this.repoName = repoName; this.modules = new Map(); }
  module(file) {
    if (!this.modules.has(file)) {
      const abs = path.join(this.root, file);
      if (!fs.existsSync(abs)) throw new RuleDocsError(`${file}: no such file`);
      this.modules.set(file, parseModule(fs.readFileSync(abs, "utf8"), file));
    }
    return this.modules.get(file);
  }
  fail(mod, at, msg) { throw new RuleDocsError(`${mod.file}:${at.line}:${at.col + 1}: ${msg}`); }
  /** Repository-relative path of a load() label, relative to the file that loads it. */
  resolve(mod, label, at) {
    const m = /^(?:@(@?[\w.~+-]*))?\/\/([^:]*)(?::(.+))?$/.exec(label);
    if (m) {
      if (m[1] !== undefined && m[1] !== "" && m[1] !== this.repoName) this.fail(mod, at, `cannot follow load(${JSON.stringify(label)}): another repository`);
      return path.posix.join(m[2], m[3] || path.posix.basename(m[2]));
    }
    if (label.startsWith(":")) return path.posix.join(path.posix.dirname(mod.file), label.slice(1));
    if (!label.includes("/")) return path.posix.join(path.posix.dirname(mod.file), label);
    return this.fail(mod, at, `cannot follow load(${JSON.stringify(label)})`);
  }
  /** The binding `name` finally comes from, following `x = y` aliases and loads. */
  origin(mod, name) {
    const b = mod.bindings.get(name);
    if (b && b.kind === "load") return this.origin(this.module(this.resolve(mod, b.label, b)), b.symbol);
    if (b && b.kind === "assign" && b.toks.length === 1 && b.toks[0].type === "name") return this.origin(mod, b.toks[0].value);
    return b ? { mod, binding: b } : null;
  }
  lookup(mod, name, at) {
    const b = mod.bindings.get(name);
    if (!b) {
      if (name === "attr") return ATTR_NS;
      if (name === "True" || name === "False") return name === "True";
      if (name === "None") return null;
      return { $: "builtin", name };
    }
    if (b.state === "done") return b.value;
    if (b.state === "busy") this.fail(mod, at, `\`${name}\` refers to itself`);
    b.state = "busy";
    try {
      if (b.kind === "load") {
        const target = this.module(this.resolve(mod, b.label, b));
        if (!target.bindings.has(b.symbol)) this.fail(mod, b, `${target.file} has no \`${b.symbol}\``);
        b.value = this.lookup(target, b.symbol, b);
      } else if (b.kind === "def") b.value = { $: "function", mod, def: b };
      else {
        const p = new Parser(b.toks, mod.file);
        const node = p.exprList();
        if (!p.atEnd()) p.fail(`unexpected \`${p.peek().value}\``);
        b.node = node;
        b.value = this.eval(mod, node);
      }
      b.state = "done";
      return b.value;
    } finally {
      if (b.state === "busy") b.state = undefined;
    }
  }
  /** Source text of a node, on one line. */
  text(mod, node) { return mod.src.slice(node.start, node.end).replace(/\s*\n\s*/g, " "); }
  /** Evaluates a recorded call's argument (an entry of `.kwargs` or `.positional`). */
  arg(entry) {
    if (!("value" in entry)) entry.value = this.eval(entry.mod, entry.node);
    return entry.value;
  }
  record(mod, node, kind, fn) {
    const kwargs = new Map(), positional = [];
    for (const a of node.args) {
      if (a.kind === "pos") positional.push({ mod, node: a.value });
      else if (a.kind === "kw") kwargs.set(a.name, { mod, node: a.value });
      else if (a.kind === "**") {
        const d = this.eval(mod, a.value);
        if (!(d instanceof Map)) this.fail(mod, a.tok, `\`**\` needs a dict, got ${typeName(d)}`);
        for (const [k, v] of d) kwargs.set(k, { mod, node: a.value, value: v });
      } else this.fail(mod, a.tok, `\`*args\` in a call to ${fn}()`);
    }
    return { $: kind, fn, mod, node, kwargs, positional };
  }
  eval(mod, node) {
    const E = (n) => this.eval(mod, n);
    switch (node.type) {
      case "str": case "num": return node.value;
      case "ident": return this.lookup(mod, node.name, node);
      case "list": case "tuple": return node.items.map(E);
      case "dict": return new Map(node.entries.map(([k, v]) => [E(k), E(v)]));
      case "cond": return this.truth(mod, node.cond, E(node.cond)) ? E(node.then) : E(node.else);
      case "unary": if (node.op === "not") return !this.truth(mod, node.operand, E(node.operand)); break;
      case "binop": {
        if (node.op === "and" || node.op === "or") {
          const l = E(node.left), t = this.truth(mod, node.left, l);
          return (node.op === "and" ? !t : t) ? l : E(node.right);
        }
        const l = E(node.left), r = E(node.right);
        if (node.op === "+" && typeof l === "string" && typeof r === "string") return l + r;
        if (node.op === "+" && Array.isArray(l) && Array.isArray(r)) return [...l, ...r];
        if (node.op === "|" && l instanceof Map && r instanceof Map) return new Map([...l, ...r]);
        if (node.op === "+" || node.op === "|") this.fail(mod, node, `cannot evaluate \`${node.op}\` of ${typeName(l)} and ${typeName(r)}`);
        break;
      }
      case "index": {
        const obj = E(node.obj), key = E(node.key);
        if (obj instanceof Map && obj.has(key)) return obj.get(key);
        if ((Array.isArray(obj) || typeof obj === "string") && Number.isInteger(key) && obj.at(key) !== undefined) return obj.at(key);
        this.fail(mod, node, `cannot evaluate \`${this.text(mod, node)}\`: no such key or index in ${typeName(obj)}`);
        break;
      }
      case "dot": {
        const obj = E(node.obj);
        if (obj === ATTR_NS) return { $: "builtin", name: `attr.${node.name}` };
        if (obj && obj.$ === "struct" && obj.kwargs.has(node.name)) return this.arg(obj.kwargs.get(node.name));
        this.fail(mod, node, `cannot evaluate \`.${node.name}\` of ${typeName(obj)}`);
        break;
      }
      case "call": return this.call(mod, node);
    }
    const what = { comprehension: "a comprehension", slice: "a slice", unary: `the unary \`${node.op}\` operator`, binop: `the \`${node.op}\` operator` }[node.type] || `a ${node.type}`;
    return this.fail(mod, node, `cannot evaluate ${what} (\`${this.text(mod, node).slice(0, 60)}\`)`);
  }
  truth(mod, node, v) {
    if (v !== null && typeof v === "object" && !Array.isArray(v) && !(v instanceof Map)) this.fail(mod, node, `cannot tell whether ${typeName(v)} is true`);
    return v instanceof Map ? v.size > 0 : Array.isArray(v) ? v.length > 0 : Boolean(v);
  }
  call(mod, node) {
    if (node.fn.type === "dot") {
      const recv = this.eval(mod, node.fn.obj), name = node.fn.name;
      if (recv === ATTR_NS) return { ...this.record(mod, node, "attr", `attr.${name}`), type: name };
      if (typeof recv === "string" && name === "join" && node.args.length === 1 && node.args[0].kind === "pos") {
        const items = this.eval(mod, node.args[0].value);
        if (Array.isArray(items) && items.every((s) => typeof s === "string")) return items.join(recv);
        this.fail(mod, node, `cannot evaluate \`.join()\` of ${typeName(items)} (a list of strings is needed)`);
      }
      if (typeof recv === "string") this.fail(mod, node, `cannot evaluate a \`.${name}()\` call (only "sep".join([...]) is supported; write the string out)`);
      this.fail(mod, node, `cannot evaluate a \`.${name}()\` call on ${typeName(recv)}`);
    }
    const fn = this.eval(mod, node.fn);
    if (fn && fn.$ === "builtin" && RECORDED.has(fn.name)) return this.record(mod, node, fn.name, fn.name);
    if (fn && fn.$ === "builtin" && fn.name === "dict") {
      const out = new Map();
      for (const a of node.args) {
        const v = a.kind === "kw" ? null : this.eval(mod, a.value);
        if (a.kind === "kw") out.set(a.name, this.eval(mod, a.value));
        else if (v instanceof Map) for (const [k, x] of v) out.set(k, x);
        else this.fail(mod, a.tok, `dict() of ${typeName(v)}: the generator takes dicts (\`dict(A, **B)\`)`);
      }
      return out;
    }
    if (fn && fn.$ === "function") this.fail(mod, node, `cannot evaluate a call to the function \`${fn.def.name}()\` (${fn.def.file}:${fn.def.line}): the generator runs no functions`);
    return this.fail(mod, node, `cannot evaluate a call to \`${this.text(mod, node.fn)}()\``);
  }
}

module.exports = { RuleDocsError, Loader, parseModule, tokenize };
