/**
 * docs/development.md's "Files under ~400 lines", kept true: every source file of src/ and tools/ (tests aside) and
 * every plain JavaScript program of bootstrap/ is at most 400 lines, but for the exceptions named here, each with its reason. A new
 * file past 400 lines fails (split it, or name it here and say why); so does a named one that dropped to 400 or under
 * (take it off the list, so the list never lies).
 */
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, test } from "vitest";

const ROOT = join(__dirname, "..", "..");
const LIMIT = 400;

/** The files allowed past the limit, by path from the repository root, and why. */
const EXCEPTIONS: Record<string, string> = {
  "src/registry/client.ts": "the registry client's one class, every endpoint it speaks",
  "src/cli/command-specs.ts": "the command table: one spec per command, a list",
  "src/schema/validators.ts": "the validators and the two contexts (YAML, JSON) they report through",
  "src/layer/tar-read.ts": "the safe tar reader: headers, pax records, limits",
  "src/cli/args.ts": "the one argument parser",
  "bootstrap/repo_cache.js": "the repository cache: key, atomic publish, checked restore",
  "src/runtime/index.ts":
    "@rules_pipeline/runtime's public face is one self-contained file (its types are one index.d.ts for users' compiles): the image variables, runInContainer, runOnKubernetes, runMap",
};

/** The files the rule covers: TypeScript sources of src/ and tools/ without tests, bootstrap/'s programs. */
function coveredFiles(): string[] {
  const ts = ["src", "tools"].flatMap((dir) =>
    readdirSync(join(ROOT, dir), { recursive: true, encoding: "utf8" })
      .filter((f) => f.endsWith(".ts") && !f.endsWith(".test.ts"))
      .map((f) => `${dir}/${f}`),
  );
  const js = readdirSync(join(ROOT, "bootstrap"), { recursive: true, encoding: "utf8" })
    .filter((f) => f.endsWith(".js"))
    .map((f) => `bootstrap/${f}`);
  return [...ts, ...js].sort();
}

function lineCount(file: string): number {
  const text = readFileSync(join(ROOT, file), "utf8");
  return text.split("\n").length - (text.endsWith("\n") ? 1 : 0);
}

describe(`files under ${LIMIT} lines`, () => {
  const files = coveredFiles();

  test("the rule covers the sources (src/, tools/, bootstrap/*.js)", () => {
    expect(files).toContain("src/errors.ts");
    expect(files).toContain("tools/pipeline.ts");
    expect(files).toContain("src/tsc/protocol.ts");
    expect(files).toContain("bootstrap/esbuild_bundle.js");
    expect(files.some((f) => f.endsWith(".test.ts"))).toBe(false);
  });

  test("no file past the limit but the named exceptions", () => {
    const over = files.filter((f) => lineCount(f) > LIMIT && !(f in EXCEPTIONS));
    expect(over.map((f) => `${f}: ${lineCount(f)} lines`)).toEqual([]);
  });

  test("every named exception is still past the limit (else it comes off the list)", () => {
    const stale = Object.keys(EXCEPTIONS).filter((f) => !files.includes(f) || lineCount(f) <= LIMIT);
    expect(stale).toEqual([]);
  });
});
