import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { useFakeServers } from "../../test/fixtures/fake-servers";
import { anonymousKeychain } from "../registry-auth/anonymous";
import { pushBlob, pushImage, type TempRegistry, tempRegistry } from "../devregistry/testing";
import { parseDigest, sha256 } from "../oci/digest";
import { type Descriptor, MediaType } from "../oci/types";
import { RegistryClient } from "./client";
import { listReferrers, MAX_REFERRER_PAGES, putReferrer } from "./referrers";

const FAST = { retries: 0, baseDelayMs: 1, timeoutMs: 5000 };
const SPDX = "application/spdx+json";
const EMPTY = Buffer.from("{}");
const serve = useFakeServers();
const client = (host: string, access: "pull" | "push" = "pull") =>
  new RegistryClient(host, { keychain: anonymousKeychain, retry: FAST, access });

// A dev registry that answers the referrers API two descriptors a page, and one that answers one a page; each
// logs its requests (path only), so a test counts the pages read.
let paged: TempRegistry;
let single: TempRegistry;
const log: string[] = [];
beforeAll(async () => {
  paged = await tempRegistry({ referrersPageSize: 2, log: (l) => log.push(l) });
  single = await tempRegistry({ referrersPageSize: 1, log: (l) => log.push(l) });
});
afterAll(async () => {
  await paged?.cleanup();
  await single?.cleanup();
});

/** An image in `repo`, as a subject descriptor. */
async function subjectIn(address: string, repo: string): Promise<Descriptor> {
  const img = await pushImage(address, repo, "v1", [randomBytes(64)]);
  return { mediaType: MediaType.OCI_MANIFEST, digest: img.digest, size: img.manifest.length };
}

/** Pushes `n` referrers of `subject` with `artifactType` through the referrers API; their digests, sorted. */
async function pushReferrers(
  address: string,
  repo: string,
  subject: Descriptor,
  n: number,
  artifactType: string,
): Promise<string[]> {
  const c = client(address, "push");
  await pushBlob(address, repo, EMPTY);
  const empty = { mediaType: MediaType.OCI_EMPTY, digest: sha256(EMPTY), size: EMPTY.length };
  const digests: string[] = [];
  for (let i = 0; i < n; i++) {
    const bytes = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: MediaType.OCI_MANIFEST,
        artifactType,
        config: empty,
        layers: [empty],
        subject,
        annotations: { n: `${artifactType} ${i} ${randomBytes(4).toString("hex")}` },
      }),
    );
    const put = await putReferrer(
      c,
      repo,
      bytes,
      { mediaType: MediaType.OCI_MANIFEST, digest: sha256(bytes), size: bytes.length, artifactType },
      subject.digest,
    );
    expect(put.via).toBe("referrers");
    digests.push(put.digest);
  }
  return digests.sort();
}

const pagesRead = (repo: string, subject: string) =>
  log.filter((l) => l.startsWith(`GET /v2/${repo}/referrers/${subject} 200 `)).length;

describe('referrers API pagination (Link: rel="next")', () => {
  it("follows every page on the same registry and merges their manifests, the artifactType filter kept on each page", async () => {
    const subject = await subjectIn(paged.address, "team/paged");
    const spdx = await pushReferrers(paged.address, "team/paged", subject, 5, SPDX);
    const other = await pushReferrers(paged.address, "team/paged", subject, 2, "application/example");

    let before = pagesRead("team/paged", subject.digest);
    const filtered = await listReferrers(client(paged.address), "team/paged", subject.digest, {
      artifactTypes: [SPDX],
    });
    expect(filtered.via).toBe("referrers");
    expect(filtered.manifests.map((m) => m.digest)).toEqual(spdx);
    // 5 referrers of the type, 2 a page: 3 pages, every one filtered by the registry (none of the other type).
    expect(pagesRead("team/paged", subject.digest) - before).toBe(3);

    before = pagesRead("team/paged", subject.digest);
    const all = await listReferrers(client(paged.address), "team/paged", subject.digest);
    expect(all.manifests.map((m) => m.digest).sort()).toEqual([...spdx, ...other].sort());
    expect(new Set(all.manifests.map((m) => m.digest)).size).toBe(7);
    expect(pagesRead("team/paged", subject.digest) - before).toBe(4);
  });

  it(`reads at most ${MAX_REFERRER_PAGES} pages: exactly that many is fine, a registry naming more is E_TOO_MANY_PAGES`, async () => {
    const subject = await subjectIn(single.address, "team/many");
    const digests = await pushReferrers(single.address, "team/many", subject, MAX_REFERRER_PAGES, SPDX);
    expect(
      (
        await listReferrers(client(single.address), "team/many", subject.digest, { artifactTypes: [SPDX] })
      ).manifests.map((m) => m.digest),
    ).toEqual(digests);

    await pushReferrers(single.address, "team/many", subject, 1, SPDX);
    const before = pagesRead("team/many", subject.digest);
    await expect(
      listReferrers(client(single.address), "team/many", subject.digest, { artifactTypes: [SPDX] }),
    ).rejects.toMatchObject({
      code: "E_TOO_MANY_PAGES",
      message: expect.stringContaining(
        `list referrers of ${subject.digest} in ${single.address}/team/many: registry ${single.address} names more than ${MAX_REFERRER_PAGES} pages of referrers`,
      ),
    });
    expect(pagesRead("team/many", subject.digest) - before).toBe(MAX_REFERRER_PAGES);
  });

  it("refuses a next page on another host, without asking it", async () => {
    const elsewhere = await serve(
      (_req, res) => void res.writeHead(200, { "Content-Type": MediaType.OCI_INDEX }).end('{"manifests":[]}'),
    );
    const subject = parseDigest("sha256:" + "a".repeat(64), "subject");
    const first = {
      schemaVersion: 2,
      mediaType: MediaType.OCI_INDEX,
      manifests: [
        { mediaType: MediaType.OCI_MANIFEST, digest: "sha256:" + "b".repeat(64), size: 10, artifactType: SPDX },
      ],
    };
    const s = await serve(
      (_req, res) =>
        void res
          .writeHead(200, {
            "Content-Type": MediaType.OCI_INDEX,
            Link: `<http://localhost:${elsewhere.port}/v2/a/b/referrers/${subject}?page=2>; rel="next"`,
          })
          .end(JSON.stringify(first)),
    );
    await expect(listReferrers(client(s.host), "a/b", subject, { artifactTypes: [SPDX] })).rejects.toMatchObject({
      code: "E_REGISTRY",
      message: expect.stringMatching(
        new RegExp(
          `named a next page on another host or scheme \\(http://localhost:${elsewhere.port}/v2/a/b/referrers/.*\\); refusing to follow it`,
        ),
      ),
    });
    expect(s.requests).toHaveLength(1);
    expect(elsewhere.requests).toHaveLength(0);
  });

  it("a later page that fails is an error naming the page, not a shorter list", async () => {
    const subject = parseDigest("sha256:" + "c".repeat(64), "subject");
    const s = await serve((req, res) => {
      if (!req.url.includes("page=2")) {
        return void res
          .writeHead(200, {
            "Content-Type": MediaType.OCI_INDEX,
            Link: `</v2/a/b/referrers/${subject}?page=2>; rel="next"`,
          })
          .end('{"manifests":[]}');
      }
      res
        .writeHead(500, { "Content-Type": "application/json" })
        .end('{"errors":[{"code":"UNKNOWN","message":"boom"}]}');
    });
    await expect(listReferrers(client(s.host), "a/b", subject)).rejects.toMatchObject({
      code: "E_REGISTRY",
      message: expect.stringContaining(
        `list referrers of ${subject} in ${s.host}/a/b (page 2): registry ${s.host} answered HTTP 500 (UNKNOWN: boom)`,
      ),
    });
    expect(s.requests.map((r) => r.url)).toEqual([
      `/v2/a/b/referrers/${subject}`,
      `/v2/a/b/referrers/${subject}?page=2`,
    ]);
  });

  it("filters every page by artifact type and keeps only the newest `keep` (a registry ignoring ?artifactType= too)", async () => {
    const subject = parseDigest("sha256:" + "d".repeat(64), "subject");
    const BUNDLE = "application/vnd.dev.sigstore.bundle.v0.3+json";
    // 10 pages of 200 descriptors, one in four of the wanted type; the registry does not filter (none has to).
    const hex = (n: number) => n.toString(16).padStart(64, "0");
    const page = (p: number) =>
      Array.from({ length: 200 }, (_, i) => ({
        mediaType: MediaType.OCI_MANIFEST,
        digest: `sha256:${hex(p * 1000 + i)}`,
        size: 100,
        artifactType: i % 4 === 0 ? BUNDLE : SPDX,
      }));
    const s = await serve((req, res) => {
      const p = Number(/page=(\d+)/.exec(req.url)?.[1] ?? 1);
      const headers: Record<string, string> = { "Content-Type": MediaType.OCI_INDEX };
      if (p < 10) headers.Link = `</v2/a/b/referrers/${subject}?page=${p + 1}>; rel="next"`;
      res
        .writeHead(200, headers)
        .end(JSON.stringify({ schemaVersion: 2, mediaType: MediaType.OCI_INDEX, manifests: page(p) }));
    });
    const got = await listReferrers(client(s.host), "a/b", subject, {
      artifactTypes: [BUNDLE, MediaType.OCI_EMPTY],
      keep: 32,
    });
    const wanted = Array.from({ length: 10 }, (_, p) => page(p + 1))
      .flat()
      .filter((m) => m.artifactType === BUNDLE);
    expect(got.manifests.map((m) => m.digest)).toEqual(wanted.slice(-32).map((m) => m.digest));
    expect(s.requests).toHaveLength(10);
  });
});
