import { generateKeyPairSync } from "node:crypto";
import { describe, expect, test } from "vitest";
import { parseDigest } from "../oci/digest";
import { openEnvelope, pae, signEnvelope, statementCovers, statementFor } from "./dsse";

describe("DSSE", () => {
  test("PAE is the spec's test vector", () => {
    // github.com/secure-systems-lab/dsse protocol.md: PAE("http://example.com/HelloWorld", "hello world").
    expect(pae("http://example.com/HelloWorld", Buffer.from("hello world")).toString()).toBe(
      "DSSEv1 29 http://example.com/HelloWorld 11 hello world",
    );
  });

  test("an envelope opens with its key only, and a changed payload does not open", () => {
    const key = generateKeyPairSync("ec", { namedCurve: "P-256" });
    const other = generateKeyPairSync("ec", { namedCurve: "P-256" });
    const digest = parseDigest("sha256:" + "ab".repeat(32), "test");
    const otherDigest = parseDigest("sha256:" + "cd".repeat(32), "test");
    const env = signEnvelope(statementFor(digest, "https://example.com/p", { x: 1 }), key.privateKey);
    const opened = openEnvelope(env, key.publicKey);
    expect("statement" in opened && statementCovers(opened.statement, digest)).toBe(true);
    expect("statement" in opened && statementCovers(opened.statement, otherDigest)).toBe(false);
    expect(openEnvelope(env, other.publicKey)).toEqual({ failure: "none of its 1 signature(s) verifies with the key" });
    const forged = {
      ...env,
      payload: Buffer.from(JSON.stringify(statementFor(otherDigest, "https://example.com/p", {}))).toString("base64"),
    };
    expect(openEnvelope(forged, key.publicKey)).toEqual({
      failure: "none of its 1 signature(s) verifies with the key",
    });
  });
});
