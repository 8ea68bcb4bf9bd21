import { execFileSync } from "node:child_process";
import { describe, expect, test } from "vitest";
import { createHash } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { lockfileDigests, provenanceFor } from "./provenance";
import { parseDigest } from "../oci/digest";

describe("provenanceFor", () => {
  const input = {
    registry: "r.example",
    repository: "team/app",
    tags: ["v1"],
    platforms: ["linux/amd64", "linux/arm64"],
  };

  test("one base and one commit across platforms; malformed annotations are left out, not trusted", () => {
    const base = "sha256:" + "aa".repeat(32);
    const p = provenanceFor({
      ...input,
      annotations: [
        { "org.opencontainers.image.base.digest": base, "org.opencontainers.image.revision": "ab".repeat(20) },
        { "org.opencontainers.image.base.digest": base, "org.opencontainers.image.revision": "ab".repeat(20) },
        { "org.opencontainers.image.base.digest": "sha256:short", "org.opencontainers.image.revision": "main" },
        undefined,
      ],
    });
    expect(p.buildDefinition.resolvedDependencies).toEqual([
      { name: "base image", digest: { sha256: "aa".repeat(32) } },
      { name: "source", digest: { gitCommit: "ab".repeat(20) } },
    ]);
    expect(p.buildDefinition.externalParameters).toEqual({
      repository: "r.example/team/app",
      tags: ["v1"],
      platforms: ["linux/amd64", "linux/arm64"],
    });
  });

  test("the source's URL loses its credentials", () => {
    const p = provenanceFor({
      ...input,
      annotations: [
        {
          "org.opencontainers.image.revision": "ab".repeat(20),
          "org.opencontainers.image.source": "https://x-access-token:ghs_SeCrEt@github.com/org/app?token=SeCrEt2",
        },
      ],
    });
    expect(JSON.stringify(p)).not.toContain("SeCrEt");
    expect(p.buildDefinition.resolvedDependencies[0].uri).toBe("git+https://github.com/org/app");
  });

  test("lockfiles: one entry per name and digest, in name order, after the base and source", () => {
    const a = parseDigest("sha256:" + "0a".repeat(32), "a");
    const b = parseDigest("sha256:" + "0b".repeat(32), "b");
    const p = provenanceFor({
      ...input,
      annotations: [],
      lockfiles: [
        { name: "@npm//:package-lock.json", digest: b },
        { name: "@deps//:package-lock.json", digest: a },
        { name: "@npm//:package-lock.json", digest: b },
      ],
    });
    expect(p.buildDefinition.resolvedDependencies).toEqual([
      { name: "@deps//:package-lock.json", digest: { sha256: "0a".repeat(32) }, annotations: { role: "lockfile" } },
      { name: "@npm//:package-lock.json", digest: { sha256: "0b".repeat(32) }, annotations: { role: "lockfile" } },
    ]);
  });

  test("lockfileDigests hashes each file and names one it cannot read", async () => {
    const dir = mkdtempSync(join(tmpdir(), "rp-prov-"));
    try {
      writeFileSync(join(dir, "package-lock.json"), "{}\n");
      expect(await lockfileDigests([{ name: "lock", file: join(dir, "package-lock.json") }])).toEqual([
        { name: "lock", digest: "sha256:" + createHash("sha256").update("{}\n").digest("hex") },
      ]);
      await expect(lockfileDigests([{ name: "x", file: join(dir, "missing.json") }])).rejects.toMatchObject({
        code: "E_BAD_INPUT",
        message: `lockfile: ${join(dir, "missing.json")}: no such file`,
      });
      // A FIFO or a device named as a lockfile is refused at once (it used to block, or hash for ever).
      execFileSync("mkfifo", [join(dir, "fifo")]);
      await expect(lockfileDigests([{ name: "x", file: join(dir, "fifo") }])).rejects.toMatchObject({
        code: "E_BAD_INPUT",
        message: `lockfile: ${join(dir, "fifo")}: a FIFO (named pipe), not a regular file`,
      });
      await expect(lockfileDigests([{ name: "x", file: "/dev/zero" }])).rejects.toMatchObject({
        message: "lockfile: /dev/zero: a character device, not a regular file",
      });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("the same input states the same (no timestamps)", () => {
    expect(JSON.stringify(provenanceFor({ ...input, annotations: [] }))).toBe(
      JSON.stringify(provenanceFor({ ...input, annotations: [] })),
    );
  });
});
