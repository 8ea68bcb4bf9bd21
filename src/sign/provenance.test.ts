import { describe, expect, test } from "vitest";
import { provenanceFor } from "./provenance";

describe("provenanceFor", () => {
  const input = { registry: "r.example", repository: "team/app", tags: ["v1"], platforms: ["linux/amd64", "linux/arm64"] };

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
    expect(p.buildDefinition.externalParameters).toEqual({ repository: "r.example/team/app", tags: ["v1"], platforms: ["linux/amd64", "linux/arm64"] });
  });

  test("the same input states the same (no timestamps)", () => {
    expect(JSON.stringify(provenanceFor({ ...input, annotations: [] }))).toBe(JSON.stringify(provenanceFor({ ...input, annotations: [] })));
  });
});
