/**
 * The docs' commands run as written (issue #42 item 7): every `npm run X` that README.md or docs/ names is a script
 * of package.json; every `pipeline <command>` they show is a command of the CLI's table (src/cli/main.ts), and every
 * `--flag` shown with it (before a bare `--`) is one that command accepts, or a global one. A doc that renames a
 * flag the CLI does not have, or a command removed from the table, fails here. README's CLI table lists every
 * command --help lists, and every relative link of the docs leads to a file and, with an anchor, to one of its
 * headings. (test/unit/docs-scripts.test.ts checks the `scripts/...` paths: they exist and run as written.)
 */
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { dirname, join, normalize } from "node:path";
import { describe, expect, test } from "vitest";
import { parseCommand } from "../../src/cli/args";
import { GROUPS } from "../../src/cli/command-specs";
import { COMMANDS } from "../../src/cli/main";
import { REPO_ROOT } from "../fixtures/repo";

const DOCS = [
  "README.md",
  ...readdirSync(join(REPO_ROOT, "docs"))
    .filter((f) => f.endsWith(".md"))
    .map((f) => `docs/${f}`),
];
/** Flags every command takes (src/cli/main.ts's globalOptions, and --help). */
const GLOBAL_FLAGS = new Set(["--help", "-h", "--version", "-V", "--debug", "-v"]);

interface Shown {
  doc: string;
  line: number;
  text: string;
}

/**
 * Each `pipeline ...` a doc shows: a line of a shell code block that runs it (cut at a pipe, a redirection or a
 * comment), or an inline code span that starts with it. Starlark (`pipeline(...)`, `pipeline = ...`) is not a command.
 */
function shownCommands(doc: string): Shown[] {
  const text = readFileSync(join(REPO_ROOT, doc), "utf8");
  const out: Shown[] = [];
  let fence: string | undefined;
  text.split("\n").forEach((raw, i) => {
    const f = /^\s*```(\w*)/.exec(raw);
    if (f) {
      fence = fence === undefined ? f[1] : undefined;
      return;
    }
    if (fence !== undefined) {
      if (!["", "sh", "bash", "console", "shell"].includes(fence)) return;
      // `$(pipeline ...)`, `export X=$(...)`, `$ pipeline ...`: the command from its word on.
      const m = /(?:^|\$\(|^\s*\$\s+|&&\s*|;\s*)\s*(pipeline\s+[a-z][^\n]*)/.exec(raw);
      if (m) out.push({ doc, line: i + 1, text: m[1].split(/\s+(?:\||>|#|&&|;)\s+|\)$/)[0] });
      return;
    }
    for (const s of raw.matchAll(/`(pipeline\s+[a-z][^`]*)`/g)) out.push({ doc, line: i + 1, text: s[1] });
  });
  return out;
}

/**
 * The argument lists a shown command stands for: `pipeline model push\|pull` (a table cell) is `model push` and
 * `model pull`. Only the words are expanded; flags written `--render|--apply` are each checked by flagsOf.
 */
function alternatives(text: string): string[][] {
  const words = text.replace(/\\\|/g, "|").split(/\s+/).slice(1);
  let out: string[][] = [[]];
  for (const w of words) {
    const alts = /^[a-z][\w-]*(\|[a-z][\w-]*)+$/.test(w) ? w.split("|") : [w];
    out = out.flatMap((prefix) => alts.map((a) => [...prefix, a]));
  }
  return out;
}

/** The command of the table the words after `pipeline` name (the longest match), or undefined. */
function commandOf(args: string[]) {
  let best: { spec: (typeof COMMANDS)[number]; words: number } | undefined;
  for (const spec of COMMANDS) {
    const { words } = parseCommand(spec.command);
    if (words.every((w, i) => args[i] === w) && (!best || words.length > best.words))
      best = { spec, words: words.length };
  }
  return best;
}

/** The flags written before a bare `--` (`--tag T`, `--tag=T`, `[--tag T]`, `--render|--apply`, `--no-x`). */
function flagsOf(text: string): string[] {
  const before = text.split(/\s--(?:\s|$)/)[0];
  return [...before.matchAll(/(?<![\w-])(--[a-z][a-z0-9-]*|-[a-zA-Z])(?![\w-])/g)].map((m) => m[1]);
}

const shown = DOCS.flatMap(shownCommands);

describe("the docs' commands run as written", () => {
  test("every `npm run X` is a script of package.json", () => {
    const scripts = Object.keys(
      (JSON.parse(readFileSync(join(REPO_ROOT, "package.json"), "utf8")) as { scripts: Record<string, string> })
        .scripts,
    );
    const named = DOCS.flatMap((doc) =>
      [...readFileSync(join(REPO_ROOT, doc), "utf8").matchAll(/\bnpm run ([\w:.-]+)/g)].map((m) => ({
        doc,
        script: m[1],
      })),
    );
    expect(named.some((n) => n.script === "test:quick")).toBe(true);
    expect(named.filter((n) => !scripts.includes(n.script)).map((n) => `${n.doc}: npm run ${n.script}`)).toEqual([]);
  });

  test("every `pipeline <command>` is a command of the CLI's table (or names a group of them: `pipeline credentials`)", () => {
    expect(shown.length).toBeGreaterThan(40);
    const isGroup = (args: string[]) => args.length === 1 && args[0] in GROUPS;
    const unknown = shown.flatMap((s) =>
      alternatives(s.text)
        .filter((args) => !commandOf(args) && !isGroup(args))
        .map((args) => ({ ...s, args })),
    );
    expect(unknown.map((s) => `${s.doc}:${s.line}: pipeline ${s.args.join(" ")} (${s.text})`)).toEqual([]);
  });

  test("every --flag shown with a command is one it accepts", () => {
    const wrong: string[] = [];
    for (const s of shown) {
      const found = commandOf(alternatives(s.text)[0]);
      if (!found) continue;
      const accepted = new Set(Object.keys(found.spec.options ?? {}).flatMap((o) => [`--${o}`, `--no-${o}`]));
      for (const flag of flagsOf(s.text)) {
        if (!accepted.has(flag) && !GLOBAL_FLAGS.has(flag))
          wrong.push(
            `${s.doc}:${s.line}: ${flag} is not an option of "pipeline ${parseCommand(found.spec.command).words.join(" ")}": ${s.text}`,
          );
      }
    }
    expect(wrong).toEqual([]);
  });

  test("README's CLI table has a row for every command --help lists", () => {
    const readme = readFileSync(join(REPO_ROOT, "README.md"), "utf8");
    const section = readme.slice(
      readme.indexOf("## The `pipeline` CLI"),
      readme.indexOf("\n## ", readme.indexOf("## The `pipeline` CLI") + 5),
    );
    const rows = [...section.matchAll(/^\| `(pipeline [^`]+)`(?: \/ `(pipeline [^`]+)`)? \|/gm)].flatMap((m) =>
      [m[1], m[2]].filter((x) => x !== undefined),
    );
    const listed = new Set(rows.flatMap((r) => alternatives(r).map((args) => commandOf(args)?.spec.command)));
    const visible = COMMANDS.filter((c) => c.describe !== false).map((c) => c.command);
    expect(visible.filter((c) => !listed.has(c))).toEqual([]);
  });

  test("every relative link of README.md and docs/ leads to a file, and an anchor to one of its headings", () => {
    const broken: string[] = [];
    let links = 0;
    for (const doc of DOCS) {
      const text = readFileSync(join(REPO_ROOT, doc), "utf8");
      for (const m of text.matchAll(/\]\(([^)\s]+)\)/g)) {
        const [path, anchor] = m[1].split("#");
        if (/^[a-z]+:/.test(path)) continue; // https:, mailto:
        links++;
        const target = path ? normalize(join(dirname(doc), path)) : doc;
        if (!existsSync(join(REPO_ROOT, target))) broken.push(`${doc}: ${m[1]} (no ${target})`);
        else if (anchor !== undefined && target.endsWith(".md") && !headingSlugs(target).has(anchor))
          broken.push(`${doc}: ${m[1]} (no heading #${anchor} in ${target})`);
      }
    }
    expect(links).toBeGreaterThan(50);
    expect(broken).toEqual([]);
  });
});

/** GitHub's anchors for a markdown file's headings: lower case, punctuation dropped, spaces as dashes. */
function headingSlugs(doc: string): Set<string> {
  const slugs = new Set<string>();
  let fence = false;
  for (const line of readFileSync(join(REPO_ROOT, doc), "utf8").split("\n")) {
    if (line.startsWith("```")) fence = !fence;
    const h = !fence && /^#{1,6} (.*)$/.exec(line);
    if (h)
      slugs.add(
        h[1]
          .trim()
          .toLowerCase()
          .replace(/[^\p{L}\p{N}\s_-]/gu, "")
          .replace(/\s/g, "-"),
      );
  }
  return slugs;
}
