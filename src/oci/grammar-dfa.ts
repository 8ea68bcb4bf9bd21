/**
 * The grammars Starlark must check at analysis time (registry host, repository, platform part), as deterministic
 * finite automata: data that `bazel/private/common/grammar.bzl` is generated from, so the rules and the CLI cannot disagree
 * on what a valid value is (a `repository = "team/-app"` that passed analysis and failed at `bazel run`).
 *
 * Each automaton is proven equal to its pattern in grammar.ts and reference.ts by exhaustive and random tests
 * (grammar-dfa.test.ts); test/unit/grammar-bzl.test.ts fails when grammar.bzl is not what these tables generate.
 */

/** A transition: from `state`, any character of `chars` leads to `to`. */
type Edge = readonly [state: string, chars: string, to: string];

export interface Dfa {
  readonly start: string;
  readonly accept: readonly string[];
  readonly edges: readonly Edge[];
}

const LOWER = "abcdefghijklmnopqrstuvwxyz";
const DIGIT = "0123456789";
const LOWER_ALNUM = LOWER + DIGIT;
const ALNUM = LOWER_ALNUM + LOWER.toUpperCase();
const HEX_COLON = DIGIT + "abcdefABCDEF:";

/**
 * `[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*` joined by `/` (REPOSITORY_RE). States: `c` in a component after an
 * alphanumeric (accepting), `dot` after `.`, `u1`/`u2` after `_`/`__`, `dash` after one or more `-`, `slash`/`start`
 * where a component must begin.
 */
export const REPOSITORY_DFA: Dfa = {
  start: "start",
  accept: ["c"],
  edges: [
    ["start", LOWER_ALNUM, "c"],
    ["slash", LOWER_ALNUM, "c"],
    ["c", LOWER_ALNUM, "c"],
    ["c", ".", "dot"],
    ["c", "_", "u1"],
    ["c", "-", "dash"],
    ["c", "/", "slash"],
    ["dot", LOWER_ALNUM, "c"],
    ["u1", LOWER_ALNUM, "c"],
    ["u1", "_", "u2"],
    ["u2", LOWER_ALNUM, "c"],
    ["dash", LOWER_ALNUM, "c"],
    ["dash", "-", "dash"],
  ],
};

/**
 * A registry host: DNS labels `[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?` joined by `.`, or a bracketed IPv6 literal,
 * then an optional `:port` (reference.ts's HOST_RE).
 */
export const REGISTRY_DFA: Dfa = {
  start: "start",
  accept: ["label", "bracketed", "port"],
  edges: [
    ["start", ALNUM, "label"],
    ["start", "[", "ipv6"],
    ["label", ALNUM, "label"],
    ["label", "-", "hyphen"],
    ["label", ".", "dot"],
    ["label", ":", "colon"],
    ["hyphen", ALNUM, "label"],
    ["hyphen", "-", "hyphen"],
    ["dot", ALNUM, "label"],
    ["ipv6", HEX_COLON, "ipv6more"],
    ["ipv6more", HEX_COLON, "ipv6more"],
    ["ipv6more", "]", "bracketed"],
    ["bracketed", ":", "colon"],
    ["colon", DIGIT, "port"],
    ["port", DIGIT, "port"],
  ],
};

/** One part of `os/arch[/variant]`: `[a-z0-9][a-z0-9._-]*` (platform.ts). */
export const PLATFORM_PART_DFA: Dfa = {
  start: "start",
  accept: ["rest"],
  edges: [
    ["start", LOWER_ALNUM, "rest"],
    ["rest", LOWER_ALNUM + "._-", "rest"],
  ],
};

/** The automata grammar.bzl holds, by the name of the Starlark predicate generated for each. */
export const STARLARK_GRAMMARS: Readonly<Record<string, Dfa>> = {
  is_registry: REGISTRY_DFA,
  is_repository: REPOSITORY_DFA,
  is_platform_part: PLATFORM_PART_DFA,
};

/** `state -> char -> next state`; fails on an automaton that is not deterministic. */
export function transitions(dfa: Dfa): Map<string, Map<string, string>> {
  const out = new Map<string, Map<string, string>>();
  for (const [state, chars, to] of dfa.edges) {
    const row = out.get(state) ?? new Map<string, string>();
    out.set(state, row);
    for (const c of chars) {
      const had = row.get(c);
      if (had !== undefined && had !== to) throw new Error(`not deterministic: ${state} --${c}--> ${had} and ${to}`);
      row.set(c, to);
    }
  }
  return out;
}

/** The automaton as a predicate (its table built once). */
export function dfaPredicate(dfa: Dfa): (s: string) => boolean {
  const table = transitions(dfa);
  const accept = new Set(dfa.accept);
  return (s) => {
    let state: string | undefined = dfa.start;
    for (const c of s) {
      state = table.get(state)?.get(c);
      if (state === undefined) return false;
    }
    return accept.has(state);
  };
}
