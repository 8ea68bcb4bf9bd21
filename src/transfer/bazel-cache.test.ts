/**
 * The cache URL's checks. Reading blobs from a real cache (nginx's WebDAV, what `--remote_cache=http://…` speaks) is in
 * test/e2e/remote-cache-server.test.ts, and a push from it under `--remote_download_minimal` in
 * test/e2e/bazel7-bzlmod.test.ts.
 */
import { describe, expect, it } from "vitest";
import { parseDigest } from "../oci/digest";
import { BazelCache, bazelCacheUrl } from "./bazel-cache";

const WHAT = "//pkg:app_push: --@rules_pipeline//bazel:remote_cache";

describe("bazelCacheUrl", () => {
  it("keeps a path prefix and puts blobs under its cas/", () => {
    const digest = parseDigest(`sha256:${"ab".repeat(32)}`, "test");
    expect(new BazelCache(bazelCacheUrl("http://127.0.0.1:8080", WHAT)).blobUrl(digest).href).toBe(
      `http://127.0.0.1:8080/cas/${"ab".repeat(32)}`,
    );
    expect(new BazelCache(bazelCacheUrl("https://cache.example/team", WHAT)).blobUrl(digest).href).toBe(
      `https://cache.example/team/cas/${"ab".repeat(32)}`,
    );
  });

  it("refuses what the push cannot read, naming the flag and the value (never a password)", () => {
    expect(() => bazelCacheUrl("grpc://cache.example:9092", WHAT)).toThrow(
      `${WHAT}: only an HTTP cache (http:// or https://) is read by the push, got "grpc://cache.example:9092"`,
    );
    expect(() => bazelCacheUrl("cache.example", WHAT)).toThrow(`${WHAT}: not a URL: "cache.example"`);
    let message = "";
    try {
      bazelCacheUrl("https://me:s3cret@cache.example/x", WHAT);
    } catch (e) {
      message = (e as Error).message;
    }
    expect(message).toContain(`${WHAT}: the URL must not carry credentials (https://cache.example/x`);
    expect(message).not.toContain("s3cret");
    expect(() => bazelCacheUrl("http://cache.example/?k=v", WHAT)).toThrow("the URL must have no query or fragment");
  });
});
