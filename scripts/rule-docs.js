#!/usr/bin/env node
"use strict";
/**
 * docs/rules.md, the rule reference, generated from the rules' `doc =` strings and the macros' docstrings (issue
 * #11; stardoc cannot be fetched here, so this is a small generator of its own).
 *
 * It starts from the public entry files (ENTRY_FILES), takes their public symbols in the order they are declared
 * (top-level names without a leading `_`; loaded names are not re-exported) and follows `load()`s to what each one
 * is: a rule, a repository rule, a module extension and its tag classes, a provider, a macro (a `def` with a
 * Google-style docstring) or a constant (a struct's fields). Attributes starting with `_` are private and left out;
 * every public attribute must have `doc =`, every macro argument a line under `Args:`.
 *
 *   node scripts/rule-docs.js           writes docs/rules.md
 *   node scripts/rule-docs.js --check   exits 1 when docs/rules.md is not what it would write
 *   (--root DIR: another checkout; exit 2: the .bzl files cannot be documented, the message names file:line)
 *
 * test/unit/rule-docs.test.ts keeps docs/rules.md in sync.
 */
const fs = require("node:fs");
const path = require("node:path");
const { Loader, RuleDocsError } = require("./starlark-doc-parser.js");

const ENTRY_FILES = ["bazel/pipeline.bzl", "bazel/repositories.bzl", "bazel/extensions.bzl"];
const OUTPUT = "docs/rules.md";
const COMMAND = "node scripts/rule-docs.js";
// What an attribute is when it sets no `default`.
const IMPLICIT_DEFAULTS = {
  bool: "False", int: "0", int_list: "[]", label: "None", label_keyed_string_dict: "{}", label_list: "[]", output: "None",
  output_list: "[]", string: '""', string_dict: "{}", string_keyed_label_dict: "{}", string_list: "[]", string_list_dict: "{}",
};

/**
 * A doc string without the indentation of the code around it: `indent` columns (a docstring's own column) off every
 * line but the first, or, when `indent` is null, PEP 257's common indentation, but only for a string that starts
 * on the line after its quotes (`doc = """` + newline); other `doc =` strings are written from column 0.
 */
function trimDocstring(s, indent = null) {
  const lines = s.replace(/\t/g, "        ").split("\n");
  const indents = lines.slice(1).filter((l) => l.trim()).map((l) => l.length - l.trimStart().length);
  const cut = indent !== null ? indent : lines[0].trim() === "" && indents.length ? Math.min(...indents) : 0;
  const out = [lines[0].trim(), ...lines.slice(1).map((l) => l.slice(Math.min(cut, l.length - l.trimStart().length)).trimEnd())];
  return out.join("\n").replace(/^\n+|\n+$/g, "");
}

/** Google style: a description, then `Args:` (name: doc, continuation lines indented deeper), `Returns:`... */
function parseDocstring(doc, indent) {
  const lines = trimDocstring(doc, indent).split("\n");
  const out = { description: [], args: [], sections: [] };
  let section = null;
  for (const line of lines) {
    const header = /^(Args|Arguments|Returns|Yields|Raises|Deprecated):\s*$/.exec(line);
    if (header) {
      section = { name: header[1] === "Arguments" ? "Args" : header[1], lines: [] };
      if (section.name !== "Args") out.sections.push(section);
    } else if (section && section.name === "Args") {
      const indent = line.length - line.trimStart().length;
      const entry = /^\s*(\*{0,2}[A-Za-z_]\w*)(?:\s*\([^)]*\))?:\s*(.*)$/.exec(line);
      if (entry && (section.indent === undefined || indent <= section.indent)) {
        section.indent = indent;
        out.args.push({ name: entry[1].replace(/^\*+/, ""), doc: entry[2] });
      } else if (line.trim() && out.args.length) out.args[out.args.length - 1].doc += "\n" + line.trim();
    } else (section ? section.lines : out.description).push(line);
  }
  out.description = out.description.join("\n").trim();
  for (const s of out.sections) s.text = trimDocstring(`\n${s.lines.join("\n")}`);
  return out;
}

/** The documentation model of the entry files: [{ file, docstring, symbols: [...] }]. Throws RuleDocsError. */
function extract(root, entries = ENTRY_FILES) {
  const moduleFile = path.join(root, "MODULE.bazel");
  const named = fs.existsSync(moduleFile) && /module\(\s*name\s*=\s*"([^"]+)"/.exec(fs.readFileSync(moduleFile, "utf8"));
  const repoName = named ? named[1] : "rules_pipeline";
  const loader = new Loader(root, repoName);
  const problems = [];
  const files = entries.map((file) => {
    const mod = loader.module(file);
    const symbols = [];
    for (const name of mod.order) {
      const b = mod.bindings.get(name);
      if (name.startsWith("_") || b.kind === "load") continue;
      try {
        symbols.push(symbol(loader, mod, name, b, problems));
      } catch (e) {
        if (e instanceof RuleDocsError) e.message += `\n  (documenting \`${name}\` of ${file})`;
        throw e;
      }
    }
    return { file, repoName, docstring: mod.docstring && trimDocstring(mod.docstring, 0), symbols };
  });
  if (problems.length) throw new RuleDocsError(`${problems.length} documentation problem(s):\n${problems.map((p) => `  ${p}`).join("\n")}`, "RULE_DOCS_MISSING_DOC");
  return files;
}

function str(loader, obj, key, what) {
  const e = obj.kwargs.get(key) || (key === "doc" && obj.fn === "provider" ? obj.positional[0] : undefined);
  if (!e) return undefined;
  const v = loader.arg(e);
  if (typeof v !== "string") throw new RuleDocsError(`${e.mod.file}:${e.node.line}: \`${key}\` of ${what} must be a string, got ${JSON.stringify(loader.text(e.mod, e.node))}`);
  return trimDocstring(v);
}

function where(obj) { return `${obj.mod.file}:${obj.node.line}`; }

function attrs(loader, owner, what, problems) {
  const e = owner.kwargs.get("attrs");
  const dict = e ? loader.arg(e) : new Map();
  if (!(dict instanceof Map)) throw new RuleDocsError(`${e.mod.file}:${e.node.line}: \`attrs\` of ${what} is not a dict`);
  const out = [];
  for (const [name, a] of dict) {
    if (name.startsWith("_")) continue;
    if (!a || a.$ !== "attr") throw new RuleDocsError(`${e.mod.file}:${e.node.line}: attribute \`${name}\` of ${what} is not an attr.*() call`);
    const doc = str(loader, a, "doc", `attribute \`${name}\``);
    if (!doc || !doc.trim()) problems.push(`${where(a)}: public attribute \`${name}\` of ${what} has no doc=`);
    const get = (k) => a.kwargs.get(k) && loader.text(a.mod, a.kwargs.get(k).node);
    const mandatory = a.kwargs.has("mandatory") && loader.arg(a.kwargs.get("mandatory")) === true;
    out.push({ name, type: a.type, doc: doc || "", mandatory, default: get("default"), implicit: IMPLICIT_DEFAULTS[a.type], values: get("values") });
  }
  return out;
}

function symbol(loader, mod, name, b, problems) {
  const value = loader.lookup(mod, name, b);
  const what = `\`${name}\` (${mod.file})`;
  if (value && value.$ === "function") {
    const def = value.def;
    if (!def.doc) {
      problems.push(`${def.file}:${def.line}: public macro ${what} has no docstring`);
      return { name, kind: "macro", doc: "", params: [], sections: [] };
    }
    const doc = parseDocstring(def.doc, def.docCol);
    const params = def.params.filter((p) => p.name);
    for (const p of params) if (!doc.args.some((a) => a.name === p.name)) problems.push(`${def.file}:${def.line}: argument \`${p.name}\` of macro ${what} is not documented under Args:`);
    for (const a of doc.args) if (!params.some((p) => p.name === a.name)) problems.push(`${def.file}:${def.line}: macro ${what} documents \`${a.name}\`, which is not one of its arguments`);
    return {
      name, kind: "macro", doc: doc.description, sections: doc.sections,
      params: params.map((p) => ({ ...p, doc: (doc.args.find((a) => a.name === p.name) || { doc: "" }).doc })),
    };
  }
  if (value && (value.$ === "rule" || value.$ === "repository_rule")) {
    const doc = str(loader, value, "doc", what);
    if (!doc) problems.push(`${where(value)}: public ${value.$.replace("_", " ")} ${what} has no doc=`);
    const flag = (k) => value.kwargs.has(k) && loader.arg(value.kwargs.get(k)) === true;
    const environ = value.kwargs.has("environ") ? loader.arg(value.kwargs.get("environ")) : [];
    return { name, kind: value.$, doc: doc || "", executable: flag("executable"), test: flag("test"), environ, attrs: attrs(loader, value, what, problems) };
  }
  if (value && value.$ === "module_extension") {
    const doc = str(loader, value, "doc", what);
    if (!doc) problems.push(`${where(value)}: public module extension ${what} has no doc=`);
    const e = value.kwargs.get("tag_classes");
    const classes = e ? loader.arg(e) : new Map();
    if (!(classes instanceof Map)) throw new RuleDocsError(`${e.mod.file}:${e.node.line}: \`tag_classes\` of ${what} is not a dict`);
    const tags = [...classes].map(([tag, tc]) => {
      if (!tc || tc.$ !== "tag_class") throw new RuleDocsError(`${e.mod.file}:${e.node.line}: tag class \`${tag}\` of ${what} is not a tag_class() call`);
      const tdoc = str(loader, tc, "doc", `tag class \`${tag}\``);
      if (!tdoc) problems.push(`${where(tc)}: tag class \`${tag}\` of ${what} has no doc=`);
      return { name: tag, doc: tdoc || "", attrs: attrs(loader, tc, `tag class \`${tag}\` of ${what}`, problems) };
    });
    return { name, kind: "module_extension", doc: doc || "", tags };
  }
  if (value && value.$ === "provider") {
    const doc = str(loader, value, "doc", what);
    if (!doc) problems.push(`${where(value)}: public provider ${what} has no doc=`);
    const e = value.kwargs.get("fields");
    const fields = e ? loader.arg(e) : new Map();
    if (!(fields instanceof Map)) problems.push(`${where(value)}: fields of provider ${what} are not a dict of field name to doc`);
    return { name, kind: "provider", doc: doc || "", fields: fields instanceof Map ? [...fields].map(([f, d]) => ({ name: f, doc: String(d) })) : [] };
  }
  const origin = loader.origin(mod, name);
  const comment = b.comment || (origin && origin.binding.comment) || "";
  if (value && value.$ === "struct") {
    return { name, kind: "struct", doc: comment, fields: [...value.kwargs].map(([f, e]) => ({ name: f, value: e.node ? loader.text(e.mod, e.node) : JSON.stringify(e.value) })) };
  }
  if (value === null || ["string", "number", "boolean"].includes(typeof value) || Array.isArray(value) || value instanceof Map) {
    const text = origin && origin.binding.node ? loader.text(origin.mod, origin.binding.node) : JSON.stringify(value);
    return { name, kind: "constant", doc: comment, value: text };
  }
  throw new RuleDocsError(`${b.file}:${b.line}: cannot document public symbol ${what}: it is ${value && value.$ ? `a ${value.$}` : typeof value}`);
}

// ---- Markdown

/** `<` outside code spans would start an HTML tag (`<base name>` would vanish). */
function escapeOutsideCode(text) {
  return text.replace(/(`+)[\s\S]*?[^`]\1(?!`)|</g, (m) => (m === "<" ? "&lt;" : m));
}

const LIST_ITEM = /^\s*([-*]|\d+\.) /;

/**
 * A doc string as a Markdown block: indented code blocks kept as they are, and a line indented by 1-3 spaces (not
 * continuing a list item) kept on its own line, as in "Targets:" followed by one indented line per target.
 */
function prose(text) {
  const lines = text.split("\n");
  const kinds = [];
  let code = false, list = false;
  lines.forEach((line, i) => {
    const indent = line.length - line.trimStart().length;
    const prevBlank = i === 0 || !lines[i - 1].trim();
    if (line.trim()) code = indent >= 4 && (prevBlank || code);
    if (!line.trim() || code) return kinds.push(code ? "code" : "blank");
    list = LIST_ITEM.test(line) || (list && indent > 0 && !prevBlank);
    kinds.push(indent >= 1 && indent <= 3 && !prevBlank && !list ? "break" : "text");
  });
  const out = [];
  for (let i = 0; i < lines.length;) {
    let j = i;
    if (kinds[i] === "code" || kinds[i] === "blank") j++;
    else while (j < lines.length && (kinds[j] === "text" || kinds[j] === "break")) j++;
    const block = kinds[i] === "code" || kinds[i] === "blank" ? lines.slice(i, j) : escapeOutsideCode(lines.slice(i, j).join("\n")).split("\n");
    block.forEach((l, k) => out.push(kinds[i + k + 1] === "break" ? `${l}<br>` : l));
    i = j;
  }
  return out.join("\n");
}

/** A doc string in one table cell: soft wraps joined, paragraphs and list items kept apart, `|` escaped. */
function cell(text) {
  const paragraphs = text.trim().split(/\n\s*\n/).map((p) => p.split("\n").map((l) => l.trim()).reduce((acc, l) => {
    if (!acc) return l;
    return /^([-*]|\d+\.) /.test(l) ? `${acc}<br>${l}` : `${acc} ${l}`;
  }, ""));
  return paragraphs.map((p) => escapeOutsideCode(p).replace(/\|/g, "\\|")).join("<br><br>");
}

function code(text) {
  const ticks = "`".repeat(Math.max(0, ...(text.match(/`+/g) || []).map((t) => t.length)) + 1);
  const pad = text.startsWith("`") || text.endsWith("`") ? " " : "";
  return `${ticks}${pad}${text}${pad}${ticks}`.replace(/\|/g, "\\|");
}

function table(header, rows) {
  return [`| ${header.join(" | ")} |`, `| ${header.map(() => "---").join(" | ")} |`, ...rows.map((r) => `| ${r.join(" | ")} |`)].join("\n");
}

function attrTable(list, implicitName) {
  const rows = list.map((a) => [
    code(a.name),
    a.values ? `${a.type}; one of ${code(a.values)}` : a.type,
    a.mandatory ? "**mandatory**" : a.default !== undefined ? code(a.default) : a.implicit ? code(a.implicit) : "optional",
    cell(a.doc),
  ]);
  if (implicitName) rows.unshift([code("name"), "name", "**mandatory**", implicitName]);
  return rows.length ? table(["Attribute", "Type", "Default", "Description"], rows) : "";
}

const KIND = { macro: "Macro", rule: "Rule", repository_rule: "Repository rule", module_extension: "Module extension", provider: "Provider", struct: "Constant (struct)", constant: "Constant" };

/** Explicit anchors: `pipeline` is both a macro (pipeline.bzl) and a module extension (extensions.bzl). */
function anchor(file, name) {
  return (name ? `${path.posix.basename(file, ".bzl")}-${name}` : path.posix.basename(file)).toLowerCase().replace(/[^a-z0-9_-]/g, "-");
}

function renderSymbol(f, s) {
  const label = `@${f.repoName}//${path.posix.dirname(f.file)}:${path.posix.basename(f.file)}`;
  const how = s.kind === "module_extension"
    ? `${s.name} = use_extension(${JSON.stringify(label)}, ${JSON.stringify(s.name)})`
    : `load(${JSON.stringify(label)}, ${JSON.stringify(s.name)})`;
  const kind = KIND[s.kind] + (s.executable ? " (executable)" : "") + (s.test ? " (test)" : "");
  const parts = [`<a id="${anchor(f.file, s.name)}"></a>\n\n### ${s.name}`, `${kind} · ${code(how)}`];
  if (s.doc) parts.push(prose(s.doc));
  if (s.kind === "rule" || s.kind === "repository_rule") {
    parts.push(attrTable(s.attrs, s.kind === "rule" ? "A unique name for this target." : "A unique name for this repository."));
    if (s.environ.length) parts.push(`Environment variables it reads: ${s.environ.map(code).join(", ")}.`);
  } else if (s.kind === "macro") {
    if (s.params.length) {
      parts.push(table(["Argument", "Default", "Description"], s.params.map((p) => [
        code(p.star + p.name), p.star ? "" : p.default === null ? "**mandatory**" : code(p.default), cell(p.doc),
      ])));
    }
    for (const sec of s.sections) parts.push(`**${sec.name}:** ${prose(sec.text)}`);
  } else if (s.kind === "module_extension") {
    for (const t of s.tags) {
      parts.push(`#### ${s.name}.${t.name}`, `Tag class · ${code(`${s.name}.${t.name}(...)`)}`);
      if (t.doc) parts.push(prose(t.doc));
      if (t.attrs.length) parts.push(attrTable(t.attrs));
    }
  } else if (s.kind === "provider") {
    if (s.fields.length) parts.push(table(["Field", "Description"], s.fields.map((x) => [code(x.name), cell(x.doc)])));
  } else if (s.kind === "struct") {
    parts.push(table(["Field", "Value"], s.fields.map((x) => [code(x.name), code(x.value)])));
  } else parts.push("```starlark\n" + `${s.name} = ${s.value}` + "\n```");
  return parts.filter(Boolean).join("\n\n");
}

function render(files) {
  const out = [
    `<!-- Generated by \`${COMMAND}\`. Do not edit by hand: edit the doc strings in bazel/, then run it. -->`,
    "# Rule reference",
    `Generated by \`${COMMAND}\` from the \`doc =\` strings and docstrings of ${ENTRY_FILES.join(", ")} and the files they ` +
      `load. Do not edit this file by hand: change the .bzl files and rerun the command (test/unit/rule-docs.test.ts ` +
      "fails when this file is out of date). Attributes whose names start with `_` are private and not listed.",
    "## Contents",
    files.map((f) => [`- [${f.file}](#${anchor(f.file)})`, ...f.symbols.map((s) => `  - [${s.name}](#${anchor(f.file, s.name)}) (${KIND[s.kind].toLowerCase().replace(" (struct)", "")})`)].join("\n")).join("\n"),
  ];
  for (const f of files) {
    out.push(`<a id="${anchor(f.file)}"></a>\n\n## ${f.file}`);
    if (f.docstring) out.push(prose(f.docstring));
    for (const s of f.symbols) out.push(renderSymbol(f, s));
  }
  return out.join("\n\n") + "\n";
}

/** The text of docs/rules.md for the checkout at `root`. */
function generate(root, options = {}) {
  return render(extract(root, options.entries || ENTRY_FILES));
}

function main(argv) {
  const check = argv.includes("--check");
  const r = argv.indexOf("--root");
  const root = r >= 0 ? path.resolve(argv[r + 1]) : path.join(__dirname, "..");
  const unknown = argv.filter((a, i) => a !== "--check" && a !== "--root" && argv[i - 1] !== "--root");
  if (unknown.length) return console.error(`usage: ${COMMAND} [--check] [--root DIR]; unknown: ${unknown.join(" ")}`), 2;
  let text;
  try {
    text = generate(root);
  } catch (e) {
    if (!(e instanceof RuleDocsError)) throw e;
    return console.error(`rule-docs: ${e.message}`), 2;
  }
  const out = path.join(root, OUTPUT);
  if (check) {
    const current = fs.existsSync(out) ? fs.readFileSync(out, "utf8") : null;
    if (current === text) return 0;
    console.error(`${OUTPUT} is ${current === null ? "missing" : "out of date with the rules' doc= strings"}: regenerate it with \`${COMMAND}\``);
    return 1;
  }
  fs.mkdirSync(path.dirname(out), { recursive: true });
  fs.writeFileSync(out, text);
  console.error(`wrote ${OUTPUT}`);
  return 0;
}

if (require.main === module) process.exitCode = main(process.argv.slice(2));

module.exports = { generate, extract, parseDocstring, RuleDocsError, ENTRY_FILES, OUTPUT, COMMAND };
