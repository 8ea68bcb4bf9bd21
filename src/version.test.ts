import { readFileSync } from "node:fs";
import { join } from "node:path";
import { expect, test } from "vitest";
import { VERSION } from "./version";

test("VERSION is package.json's version", () => {
  expect(VERSION).toBe(JSON.parse(readFileSync(join(__dirname, "..", "package.json"), "utf8")).version);
});
