import { describe, expect, it } from "vitest";
import {
  base64Forms,
  forgetCredentials,
  REDACTED,
  registryText,
  registryUrl,
  rememberCredential,
  rememberIssuedToken,
} from "./registry-text";

describe("registryText", () => {
  it("redacts every spelling of a Basic credential, an identity token and a bearer token once remembered", () => {
    const password = 'p"w/+?é';
    rememberCredential({ username: "u", password });
    rememberCredential({ identityToken: "refresh-tok-123&x" });
    rememberIssuedToken("bearer-tok-456");
    const forms = [
      password,
      encodeURIComponent(password),
      JSON.stringify(password).slice(1, -1),
      ...base64Forms(`u:${password}`),
    ];
    expect(new Set(base64Forms(`u:${password}`)).size).toBe(4);
    for (const form of forms) expect(registryText(`echo ${form} end`)).toBe(`echo ${REDACTED} end`);
    expect(registryText("refresh_token=refresh-tok-123%26x&t=bearer-tok-456")).toBe(
      `refresh_token=${REDACTED}&t=${REDACTED}`,
    );
    expect(registryUrl("https://r.example/v2/x/bearer-tok-456?state=1")).toBe(
      `https://r.example/v2/x/${REDACTED}?state=1`,
    );
  });

  it("shows C0, DEL, C1, line separators and bidi overrides as escapes; line breaks and tabs as spaces", () => {
    expect(registryText("\u001b[2J\u001b[1;1Hpushed ok\u0007\u007f\u009b2K\u202eevil\u2028x\r\n\ty")).toBe(
      "\\x1b[2J\\x1b[1;1Hpushed ok\\x07\\x7f\\x9b2K\\u202eevil\\u2028x   y",
    );
  });

  it("cleans the snippet a JSON parse error quotes from a registry's bytes", () => {
    rememberIssuedToken("snippet-token-789");
    let message = "";
    try {
      JSON.parse("\u001b[2Jsnippet-token-789 not json");
    } catch (e) {
      message = (e as Error).message;
    }
    expect(message).toContain("\u001b");
    expect(registryText(message)).not.toMatch(/\u001b|snippet-token-789/);
  });
  // Last: the remembered forms are the process's, and "e" would be cut out of every text after it.
  it("never rewrites its own marker, however short a password is", () => {
    rememberCredential({ username: "d", password: "e" });
    expect(registryText("secret e here")).toBe(`s${REDACTED}cr${REDACTED}t ${REDACTED} h${REDACTED}r${REDACTED}`);
  });

  it("forgets every remembered form on request (the unit tests' shared worker: test/fixtures/unit-file-state.ts)", () => {
    rememberCredential({ username: "f", password: "forget-me-42" });
    expect(registryText("x forget-me-42")).toBe(`x ${REDACTED}`);
    forgetCredentials();
    expect(registryText("x forget-me-42 secret e here")).toBe("x forget-me-42 secret e here");
  });
});
