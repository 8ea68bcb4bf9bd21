/**
 * Which project files go into the code layer of a `--lockfile` build. Always left out: `node_modules/` and
 * `.git/` (anywhere), and package-manager configuration, which often holds registry tokens: `.npmrc`, `.yarnrc` and
 * `.yarnrc.yml` at any depth, unless a `.dockerignore` line `!path/to/.npmrc` names that file itself (no wildcard).
 * Then the project's `.dockerignore`, with
 * Docker's rules: one pattern per line, `#` comments, a leading `/` ignored, `*` and `?` within one path
 * component, `**` across components, `[...]` classes, `\` escapes, `!` re-includes; the last matching line
 * wins, and a pattern that matches a directory matches everything under it.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { PipelineError } from "../errors";

const ALWAYS_EXCLUDED_NAMES = new Set(["node_modules", ".git"]);
// Package manager configuration, which often holds registry tokens (.npmrc's `_authToken`, .yarnrc.yml's `npmAuthToken`).
const SECRET_FILES = new Set([".npmrc", ".yarnrc", ".yarnrc.yml"]);

interface Rule {
  re: RegExp;
  negate: boolean;
  source: string;
}

export function compilePattern(pattern: string, where: string): RegExp {
  let re = "^";
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i];
    if (c === "*") {
      if (pattern[i + 1] === "*") {
        i++;
        if (pattern[i + 1] === "/") {
          i++;
          re += "(?:.*/)?";
        } else re += ".*";
      } else re += "[^/]*";
    } else if (c === "?") re += "[^/]";
    else if (c === "\\") {
      i++;
      if (i >= pattern.length)
        throw new PipelineError(
          "E_BAD_INPUT",
          `${where}: pattern ${JSON.stringify(pattern)} ends with a lone backslash`,
        );
      re += pattern[i].replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");
    } else if (c === "[") {
      const end = pattern.indexOf("]", i + 2);
      if (end < 0)
        throw new PipelineError("E_BAD_INPUT", `${where}: pattern ${JSON.stringify(pattern)} has an unclosed [`);
      const body = pattern.slice(i + 1, end).replace(/\\/g, "\\\\");
      re += `[${body.startsWith("!") ? `^${body.slice(1)}` : body}]`;
      i = end;
    } else re += c.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");
  }
  return new RegExp(`${re}$`);
}

export class IgnoreRules {
  private readonly rules: Rule[];
  readonly hasNegations: boolean;
  /** Paths a `!` line names literally: the only way a secrets' file (SECRET_FILES) is included. */
  private readonly named = new Set<string>();

  constructor(lines: string[], where: string) {
    this.rules = [];
    for (const [n, raw] of lines.entries()) {
      let line = raw.trim();
      if (line === "" || line.startsWith("#")) continue;
      const negate = line.startsWith("!");
      if (negate) line = line.slice(1).trim();
      line = line
        .replace(/^\/+/, "")
        .replace(/\/+$/, "")
        .replace(/\/\.(?=\/|$)/g, "")
        .replace(/^\.\//, "");
      if (line === "" || line === ".") continue;
      if (negate && !/[*?[\\]/.test(line)) this.named.add(line);
      this.rules.push({ re: compilePattern(line, `${where} line ${n + 1}`), negate, source: raw });
    }
    this.hasNegations = this.rules.some((r) => r.negate);
  }

  static fromProject(dir: string): IgnoreRules {
    const file = join(dir, ".dockerignore");
    let text: string;
    try {
      text = readFileSync(file, "utf8");
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === "ENOENT") return new IgnoreRules([], file);
      throw new PipelineError("E_BAD_INPUT", `${file}: cannot read it (${(e as Error).message})`);
    }
    return new IgnoreRules(text.split(/\r?\n/), file);
  }

  /** Whether the project-relative path `rel` ("src/a.js") is left out of the code layer. */
  excludes(rel: string): boolean {
    const parts = rel.split("/");
    if (parts.some((p) => ALWAYS_EXCLUDED_NAMES.has(p))) return true;
    if (SECRET_FILES.has(parts[parts.length - 1]) && !this.named.has(rel)) return true;
    const prefixes = parts.map((_, i) => parts.slice(0, i + 1).join("/"));
    let excluded = false;
    for (const rule of this.rules) {
      if (prefixes.some((p) => rule.re.test(p))) excluded = !rule.negate;
    }
    return excluded;
  }
}
