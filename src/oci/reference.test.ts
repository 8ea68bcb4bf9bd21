import { describe, expect, test } from "vitest";
import {
  formatReference,
  isLoopbackRegistry,
  parseReference,
  pinnedDigest,
  unpinned,
  validateRepository,
} from "./reference";

const D = "sha256:" + "a".repeat(64);

describe("parseReference", () => {
  test.each([
    ["localhost:5000/team/app", { registry: "localhost:5000", repository: "team/app" }],
    ["127.0.0.1:5001/a/b:v1", { registry: "127.0.0.1:5001", repository: "a/b", tag: "v1" }],
    [`ghcr.io/org/img@${D}`, { registry: "ghcr.io", repository: "org/img", digest: D }],
    [`ghcr.io/org/img:v2@${D}`, { registry: "ghcr.io", repository: "org/img", tag: "v2", digest: D }],
    ["node:20", { registry: "index.docker.io", repository: "library/node", tag: "20" }],
    ["docker.io/library/node", { registry: "index.docker.io", repository: "library/node" }],
    ["registry-1.docker.io/me/x", { registry: "index.docker.io", repository: "me/x" }],
  ])("%s", (input, expected) => {
    expect(parseReference(input)).toEqual({ tag: undefined, digest: undefined, ...expected });
  });

  test.each([
    ["", /invalid image reference/],
    ["ghcr.io/Org/img", /lowercase/],
    ["ghcr.io/org/img@sha256:123", /digest must be/],
    ["ghcr.io/org/img:bad tag", /invalid image reference/],
    ["localhost:5000/team//app", /lowercase path components/],
  ])("rejects %j naming the value", (input, message) => {
    expect(() => parseReference(input, "--repository")).toThrow(message);
  });

  test("round-trips through formatReference", () => {
    expect(formatReference(parseReference(`localhost:5000/a/b:t@${D}`))).toBe(`localhost:5000/a/b:t@${D}`);
  });

  test("a repository with a tag or digest is refused with the value quoted", () => {
    expect(() => validateRepository("team/app:v1", "repository")).toThrow(
      'repository: should not contain a tag or digest, got "team/app:v1"',
    );
    expect(() => validateRepository(`team/app@${D}`)).toThrow(/should not contain a tag or digest/);
  });

  test("only loopback registries are plain HTTP by default", () => {
    expect(isLoopbackRegistry("localhost:5000")).toBe(true);
    expect(isLoopbackRegistry("127.0.0.1:1")).toBe(true);
    expect(isLoopbackRegistry("[::1]:5000")).toBe(true);
    expect(isLoopbackRegistry("10.0.0.1:5000")).toBe(false);
    expect(isLoopbackRegistry("localhost.example.com")).toBe(false);
  });

  test("loopback is the host `localhost` and the IP literals 127.0.0.0/8 and ::1, nothing that only looks like them", () => {
    for (const host of [
      "localhost",
      "LocalHost:5000",
      "127.0.0.1",
      "127.255.255.254:443",
      "127.1.2.3:5000",
      "[::1]",
      "[0:0:0:0:0:0:0:1]:5000",
      "[::0001]:1",
    ]) {
      expect([host, isLoopbackRegistry(host)]).toEqual([host, true]);
    }
    // DNS names anyone can register or point anywhere: credentials must not go to them over plain HTTP.
    const notLoopback = [
      "127.x.example",
      "127.x.example:5000",
      "127.0.0.1.example.com",
      "127.0.0.1.nip.io:5000",
      "127.example",
      "127.300.1.1", // not an IPv4 literal (300 > 255)
      "127.0.0.01", // leading zeros: some parsers read octal
      "127.1", // short form: a name to getaddrinfo, not an IP literal here
      "0x7f.0.0.1",
      "mylocalhost",
      "localhost.",
      "localhost.example.com:5000",
      "128.0.0.1",
      "[::2]:5000",
      "[::ffff:127.0.0.1]",
      "[::1%lo]:5000",
      "[::1]x",
      "::1",
      "[127.0.0.1]:5000",
      "",
    ];
    for (const host of notLoopback) expect([host, isLoopbackRegistry(host)]).toEqual([host, false]);
  });
});

describe("pinnedDigest / unpinned: the one test for a reference pinned by digest", () => {
  test.each([
    [`ghcr.io/org/img@${D}`, D, "ghcr.io/org/img"],
    [`ghcr.io/org/img:v2@${D}`, D, "ghcr.io/org/img:v2"],
    [`127.0.0.1:5000/a@${D}`, D, "127.0.0.1:5000/a"],
    ["ghcr.io/org/img:v2", undefined, "ghcr.io/org/img:v2"],
    // Not a whole digest at the end: not pinned, left as it is.
    [`ghcr.io/org/img@sha256:${"a".repeat(63)}`, undefined, `ghcr.io/org/img@sha256:${"a".repeat(63)}`],
    [`ghcr.io/org/img@sha256:${"A".repeat(64)}`, undefined, `ghcr.io/org/img@sha256:${"A".repeat(64)}`],
    [`ghcr.io/org/img@${D}:v2`, undefined, `ghcr.io/org/img@${D}:v2`],
    [`ghcr.io/org/img@sha512:${"a".repeat(128)}`, undefined, `ghcr.io/org/img@sha512:${"a".repeat(128)}`],
  ])("%s", (ref, digest, rest) => {
    expect(pinnedDigest(ref)).toBe(digest);
    expect(unpinned(ref)).toBe(rest);
  });
});
