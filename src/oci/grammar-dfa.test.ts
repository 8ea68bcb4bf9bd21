/**
 * The automata that bazel/private/common/grammar.bzl is generated from accept exactly what the CLI's patterns accept:
 * every string up to 4 characters over an alphabet with one character of each class that matters (and some that
 * never may), and 200,000 seeded random strings up to 24 characters.
 */
import { describe, expect, test } from "vitest";
import { dfaPredicate, PLATFORM_PART_DFA, REGISTRY_DFA, REPOSITORY_DFA, type Dfa } from "./grammar-dfa";
import { REPOSITORY_RE } from "./grammar";
import { PLATFORM_PART_RE } from "./platform";
import { HOST_RE } from "./reference";

const ALPHABET = "0aAfFgG-._:[]/@ é";

function* allStrings(maxLength: number): Generator<string> {
  let layer = [""];
  yield "";
  for (let n = 1; n <= maxLength; n++) {
    const next: string[] = [];
    for (const prefix of layer) for (const c of ALPHABET) next.push(prefix + c);
    yield* next;
    layer = next;
  }
}

function* randomStrings(count: number, seed: number): Generator<string> {
  let x = seed >>> 0;
  const rand = (n: number) => {
    x = (Math.imul(x ^ (x >>> 15), 0x2c1b3c6d) + 0x9e3779b9) >>> 0;
    return x % n;
  };
  for (let i = 0; i < count; i++) {
    let s = "";
    const len = rand(25);
    for (let j = 0; j < len; j++) s += ALPHABET[rand(ALPHABET.length)];
    yield s;
  }
}

const CASES: [string, Dfa, RegExp][] = [
  ["repository", REPOSITORY_DFA, REPOSITORY_RE],
  ["registry", REGISTRY_DFA, HOST_RE],
  ["platform part", PLATFORM_PART_DFA, PLATFORM_PART_RE],
];

describe("the Starlark grammars' automata equal the CLI's patterns", () => {
  for (const [name, dfa, pattern] of CASES) {
    test(`${name}: deterministic, and the same verdict on every string up to 4 characters and 200,000 random ones`, () => {
      const dfaSays = dfaPredicate(dfa); // throws if not deterministic
      const differ: string[] = [];
      let accepted = 0;
      for (const gen of [allStrings(4), randomStrings(200_000, 20261124)]) {
        for (const s of gen) {
          const want = pattern.test(s);
          if (want) accepted++;
          if (dfaSays(s) !== want && differ.length < 10) differ.push(JSON.stringify(s));
        }
      }
      expect(differ).toEqual([]);
      expect(accepted).toBeGreaterThan(1000); // not vacuous
    });
  }

  test("the case that drifted: team/-app is no repository, team/a-app is", () => {
    const repository = dfaPredicate(REPOSITORY_DFA);
    const registry = dfaPredicate(REGISTRY_DFA);
    expect(repository("team/-app")).toBe(false);
    expect(repository("team/a--app")).toBe(true);
    expect(repository("team/a___b")).toBe(false);
    expect(registry("[::1]:5000")).toBe(true);
    expect(registry("my_registry:5000")).toBe(false);
  });
});
