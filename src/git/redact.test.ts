import { describe, expect, it } from "vitest";
import { redactUrlsInText } from "../errors";
import { maskSecrets, sanitizeGitOutput, secretsOf } from "./redact";

describe("secretsOf", () => {
  it("covers the secret, its URL encoding and the Basic header value", () => {
    const s = secretsOf({ username: "alice", password: "p@ss word" });
    expect(s).toContain("p@ss word");
    expect(s).toContain("p%40ss%20word");
    expect(s).toContain(Buffer.from("alice:p@ss word").toString("base64"));
    expect(secretsOf({ token: "tok" })).toContain(Buffer.from("x-access-token:tok").toString("base64"));
    expect(secretsOf(undefined)).toEqual([]);
  });

  it("covers a private key and each of its body lines, not the armour", () => {
    const key =
      "-----BEGIN OPENSSH PRIVATE KEY-----\nAAAAAAAAAAAAAAAAAAAAAAAA\nBBBBBBBBBBBBBBBBBBBB\nCC\n-----END OPENSSH PRIVATE KEY-----\n";
    const s = secretsOf({ privateKey: key });
    expect(s).toContain("AAAAAAAAAAAAAAAAAAAAAAAA");
    expect(s).toContain("BBBBBBBBBBBBBBBBBBBB");
    expect(s).not.toContain("CC");
    expect(s.some((x) => x.startsWith("-----BEGIN") && !x.includes("\n"))).toBe(false);
  });
});

describe("masking", () => {
  it("masks every occurrence, longest first", () => {
    expect(maskSecrets("a secret and secretive secret", ["secret", "secretive"])).toBe("a *** and *** ***");
  });

  it("redacts userinfo of any URL in free text", () => {
    expect(redactUrlsInText("fatal: 'https://u:p@h.example/r.git' and ssh://git@h/r and https://h/r")).toBe(
      "fatal: 'https://REDACTED@h.example/r.git' and ssh://REDACTED@h/r and https://h/r",
    );
  });

  it("sanitizeGitOutput does both", () => {
    const out = sanitizeGitOutput("https://alice:hunter22@h/r: hunter22 rejected", {
      username: "alice",
      password: "hunter22",
    });
    expect(out).toBe("https://REDACTED@h/r: *** rejected");
  });
});
