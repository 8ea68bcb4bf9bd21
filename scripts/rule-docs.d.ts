// Types of scripts/rule-docs.js (plain CommonJS, run with `node`), for the tests that import it.

/** The public entry files the reference starts from, in the order it lists them. */
export declare const ENTRY_FILES: readonly string[];
/** Where the reference is written, relative to the repository root: "docs/rules.md". */
export declare const OUTPUT: string;
/** The command that regenerates it: "node scripts/rule-docs.js". */
export declare const COMMAND: string;

/** The .bzl files cannot be documented: `file:line: ...` naming the construct, or the missing `doc=`s. */
export declare class RuleDocsError extends Error {
  readonly code: "RULE_DOCS_INPUT" | "RULE_DOCS_MISSING_DOC";
}

export interface GenerateOptions {
  /** Entry files relative to the root (default: ENTRY_FILES). */
  entries?: string[];
}

/** The text of docs/rules.md for the checkout at `repoRoot`; throws RuleDocsError. */
export declare function generate(repoRoot: string, options?: GenerateOptions): string;
