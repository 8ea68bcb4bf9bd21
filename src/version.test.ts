import { readFileSync } from "node:fs";
import { join } from "node:path";
import { expect, test } from "vitest";
import { VERSION } from "./version";

test("VERSION is package.json's version", () => {
  expect(VERSION).toBe(JSON.parse(readFileSync(join(__dirname, "..", "package.json"), "utf8")).version);
});

test("the publishable packages carry VERSION, and the CLI's npm dependencies are the root package.json's", () => {
  const read = (...p: string[]) => JSON.parse(readFileSync(join(__dirname, "..", ...p), "utf8"));
  const root = read("package.json");
  for (const pkg of ["cli", "runtime"])
    expect(read("packages", pkg, "package.json").version, `packages/${pkg}`).toBe(VERSION);
  const cli = read("packages", "cli", "package.json");
  expect(cli.bin).toEqual({ pipeline: "pipeline.js" });
  for (const [dep, range] of Object.entries(cli.dependencies)) expect(range, dep).toBe(root.dependencies[dep]);
});
