/** The node_modules layer cache: an entry whose descriptor.json does not hold digests is a corrupt entry, not a Layer. */
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, test } from "vitest";
import { buildLayer } from "../layer/build";
import { lookupLayer, storeLayer } from "./cache";

const tmp = mkdtempSync(join(tmpdir(), "lockfile-cache-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe("lookupLayer", () => {
  test("hands back what storeLayer kept; a descriptor.json whose diffId is no digest is removed with a warning", async () => {
    const cacheDir = join(tmp, "cache");
    const desc = await buildLayer([{ dest: "node_modules/a.js", content: Buffer.from("a") }], join(tmp, "l.tgz"), {
      mtime: 0,
    });
    const stored = await storeLayer(cacheDir, "k", { path: join(tmp, "l.tgz"), desc });
    const warnings: string[] = [];
    expect((await lookupLayer(cacheDir, "k", (l) => warnings.push(l)))?.desc).toEqual(desc);
    expect(warnings).toEqual([]);

    const file = join(stored.path, "..", "descriptor.json");
    writeFileSync(file, JSON.stringify({ ...JSON.parse(readFileSync(file, "utf8")), diffId: "sha256:../../x" }));
    expect(await lookupLayer(cacheDir, "k", (l) => warnings.push(l))).toBeUndefined();
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toContain(
      `${file}: diffId: expected a digest sha256:<64 lowercase hex> (got "sha256:../../x")`,
    );
    expect(warnings[0]).toContain("rebuilding it");
    expect(existsSync(join(stored.path, ".."))).toBe(false);
  });
});
