/**
 * bazel/private/common/grammar.bzl is generated from src/oci/grammar-dfa.ts (whose automata equal the CLI's patterns,
 * grammar-dfa.test.ts): this fails when the file is not what the tables generate. To regenerate after changing them:
 *   PIPELINE_UPDATE_GENERATED=1 npx vitest run --project unit test/unit/grammar-bzl.test.ts
 */
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, test } from "vitest";
import { STARLARK_GRAMMARS, transitions, type Dfa } from "../../src/oci/grammar-dfa";

const FILE = join(__dirname, "..", "..", "bazel", "private", "common", "grammar.bzl");

/** Characters with the same transitions from every state share a class: the tables stay small. */
function starlarkTable(dfa: Dfa): string {
  const table = transitions(dfa);
  const states = [...new Set([dfa.start, ...dfa.edges.flatMap(([from, , to]) => [from, to])])].sort();
  const chars = [...new Set(dfa.edges.flatMap(([, cs]) => [...cs]))].sort();
  const classOf = new Map<string, number>();
  const signatures: string[] = [];
  for (const c of chars) {
    const sig = states.map((s) => table.get(s)?.get(c) ?? "").join(",");
    let k = signatures.indexOf(sig);
    if (k < 0) k = signatures.push(sig) - 1;
    classOf.set(c, k);
  }
  const next: string[] = [];
  for (const s of states) {
    for (let k = 0; k < signatures.length; k++) {
      const c = chars.find((ch) => classOf.get(ch) === k);
      const to = c === undefined ? undefined : table.get(s)?.get(c);
      if (to !== undefined) next.push(`        "${s} ${k}": "${to}",`);
    }
  }
  const classes = chars.map((c) => `${JSON.stringify(c)}: "${classOf.get(c)}"`);
  return [
    "struct(",
    `    start = "${dfa.start}",`,
    `    accept = {${dfa.accept.map((a) => `"${a}": True`).join(", ")}},`,
    `    classes = {${classes.join(", ")}},`,
    "    next = {",
    ...next,
    "    },",
    ")",
  ].join("\n");
}

function render(): string {
  const parts = [
    `"""The grammars the rules check at analysis time, the same as the CLI's.

GENERATED from src/oci/grammar-dfa.ts by test/unit/grammar-bzl.test.ts (PIPELINE_UPDATE_GENERATED=1): do not edit.
Each table is a deterministic automaton proven equal to the CLI's pattern (src/oci/grammar-dfa.test.ts), so a value
that passes analysis is one \`bazel run\` accepts, and the reverse.
"""

def _accepts(dfa, s):
    state = dfa.start
    for c in s.elems():
        k = dfa.classes.get(c)
        if k == None:
            return False
        state = dfa.next.get(state + " " + k)
        if state == None:
            return False
    return state in dfa.accept
`,
  ];
  for (const [name, dfa] of Object.entries(STARLARK_GRAMMARS)) {
    const constant = `_${name.replace(/^is_/, "").toUpperCase()}`;
    parts.push(`${constant} = ${starlarkTable(dfa)}\n`);
    parts.push(
      `def ${name}(s):\n    """Whether \`s\` is accepted (see src/oci/grammar-dfa.ts).\n\n    Args:\n      s: the string to check.\n\n    Returns:\n      True or False.\n    """\n    return _accepts(${constant}, s)\n`,
    );
  }
  return parts.join("\n");
}

describe("bazel/private/common/grammar.bzl", () => {
  test("is what src/oci/grammar-dfa.ts generates", () => {
    const want = render();
    if (process.env.PIPELINE_UPDATE_GENERATED) writeFileSync(FILE, want);
    expect(
      readFileSync(FILE, "utf8"),
      "stale: regenerate with PIPELINE_UPDATE_GENERATED=1 (see this test's header)",
    ).toBe(want);
  });
});
