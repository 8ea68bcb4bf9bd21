import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { sha256 } from "../oci/digest";
import { MediaType } from "../oci/types";
import { startDevRegistry } from "./server";
import { pushBlob, pushImage, request, type TempRegistry, tempRegistry } from "./testing";

const SPDX = "application/spdx+json";
const EMPTY = Buffer.from("{}");

let reg: TempRegistry;
let unpaged: TempRegistry;
beforeAll(async () => {
  reg = await tempRegistry({ referrersPageSize: 2 });
  unpaged = await tempRegistry();
});
afterAll(async () => {
  await reg?.cleanup();
  await unpaged?.cleanup();
});

/** An image and `n` referrers of it (artifactType `types[i % types.length]`); the referrers' digests by type, sorted. */
async function withReferrers(
  address: string,
  repo: string,
  n: number,
  types: string[],
): Promise<{ subject: string; byType: Record<string, string[]> }> {
  const img = await pushImage(address, repo, "v1", [randomBytes(32)]);
  await pushBlob(address, repo, EMPTY);
  const empty = { mediaType: MediaType.OCI_EMPTY, digest: sha256(EMPTY), size: EMPTY.length };
  const byType: Record<string, string[]> = {};
  for (let i = 0; i < n; i++) {
    const artifactType = types[i % types.length];
    const body = JSON.stringify({
      schemaVersion: 2,
      mediaType: MediaType.OCI_MANIFEST,
      artifactType,
      config: empty,
      layers: [empty],
      subject: { mediaType: MediaType.OCI_MANIFEST, digest: img.digest, size: img.manifest.length },
      annotations: { i: String(i) },
    });
    const res = await request(address, "PUT", `/v2/${repo}/manifests/${sha256(Buffer.from(body))}`, {
      body,
      headers: { "Content-Type": MediaType.OCI_MANIFEST },
    });
    expect(res.status).toBe(201);
    (byType[artifactType] ??= []).push(sha256(Buffer.from(body)));
  }
  for (const t of Object.keys(byType)) byType[t].sort();
  return { subject: img.digest, byType };
}

type Page = { manifests: { digest: string; artifactType: string }[] };

describe("dev registry referrers pages (referrersPageSize)", () => {
  it("answers referrersPageSize descriptors a page, by digest, each naming the next page in a Link header that keeps the filter", async () => {
    const { subject, byType } = await withReferrers(reg.address, "r/paged", 7, [SPDX, "application/example"]);
    const spdx = byType[SPDX]; // 4 of the 7
    const q = `artifactType=${encodeURIComponent(SPDX)}`;
    const first = await request(reg.address, "GET", `/v2/r/paged/referrers/${subject}?${q}`);
    expect(first.status).toBe(200);
    expect(first.headers["oci-filters-applied"]).toBe("artifactType");
    expect(first.json<Page>().manifests.map((m) => m.digest)).toEqual(spdx.slice(0, 2));
    expect(first.headers.link).toBe(
      `</v2/r/paged/referrers/${subject}?${q}&n=2&last=${encodeURIComponent(spdx[1])}>; rel="next"`,
    );
    const next = /^<([^>]+)>/.exec(String(first.headers.link))![1];
    const second = await request(reg.address, "GET", next);
    expect(second.json<Page>().manifests.map((m) => m.digest)).toEqual(spdx.slice(2, 4));
    expect(second.json<Page>().manifests.every((m) => m.artifactType === SPDX)).toBe(true);
    // The last page names no next one.
    expect(second.headers.link).toBeUndefined();

    // Unfiltered: 7 referrers, pages of 2.
    const seen: string[] = [];
    let path: string | undefined = `/v2/r/paged/referrers/${subject}`;
    let pages = 0;
    while (path) {
      const res = await request(reg.address, "GET", path);
      seen.push(...res.json<Page>().manifests.map((m) => m.digest));
      path = res.headers.link ? /^<([^>]+)>/.exec(String(res.headers.link))![1] : undefined;
      pages++;
    }
    expect(pages).toBe(4);
    expect(seen).toEqual([...byType[SPDX], ...byType["application/example"]].sort());
  });

  it("a client's smaller n is honoured, a larger one capped at the page size; without a page size everything is one page", async () => {
    const { subject } = await withReferrers(reg.address, "r/n", 3, [SPDX]);
    const one = await request(reg.address, "GET", `/v2/r/n/referrers/${subject}?n=1`);
    expect(one.json<Page>().manifests).toHaveLength(1);
    expect(one.headers.link).toContain("n=1&last=");
    const capped = await request(reg.address, "GET", `/v2/r/n/referrers/${subject}?n=50`);
    expect(capped.json<Page>().manifests).toHaveLength(2);
    expect(capped.headers.link).toContain("n=2&last=");

    const other = await withReferrers(unpaged.address, "r/all", 3, [SPDX]);
    const all = await request(unpaged.address, "GET", `/v2/r/all/referrers/${other.subject}`);
    expect(all.json<Page>().manifests.map((m) => m.digest)).toEqual(other.byType[SPDX]);
    expect(all.headers.link).toBeUndefined();
  });

  it("referrersPageSize must be a positive integer", async () => {
    for (const bad of [0, -1, 1.5]) {
      // Refused before the storage directory is touched.
      await expect(
        startDevRegistry({ root: join(tmpdir(), "devregistry-never-created"), port: 0, referrersPageSize: bad }),
      ).rejects.toMatchObject({
        code: "E_USAGE",
        message: `referrersPageSize: expected a positive integer, got ${bad}`,
      });
    }
    expect(existsSync(join(tmpdir(), "devregistry-never-created"))).toBe(false);
  });
});
