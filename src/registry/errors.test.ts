import { describe, expect, it } from "vitest";
import { Readable } from "node:stream";
import type { IncomingMessage } from "node:http";
import type { HttpResponse } from "./http-attempt";
import { formatErrorEntries, parseErrorBody, RegistryError, responseError } from "./errors";

function response(status: number, body: string, url = "http://reg.example:5000/v2/a/b/manifests/v1"): HttpResponse {
  const text = async () => body;
  return {
    status,
    headers: {},
    url: new URL(url),
    body: Readable.from([]) as unknown as IncomingMessage,
    header: () => undefined,
    buffer: async () => Buffer.from(body),
    text,
    discard: async () => undefined,
  };
}
const ctx = {
  registry: "reg.example:5000",
  repository: "a/b",
  operation: "get manifest v1",
  credentialSource: 'docker config /c.json auths["reg.example:5000"]',
};

describe("parseErrorBody", () => {
  it("reads the spec's error list and ignores anything else", () => {
    expect(parseErrorBody('{"errors":[{"code":"DENIED","message":"no","detail":{"x":1}},{"nocode":1}]}')).toEqual([
      { code: "DENIED", message: "no", detail: { x: 1 } },
    ]);
    expect(parseErrorBody("<html>")).toEqual([]);
    expect(parseErrorBody('{"errors":"x"}')).toEqual([]);
    expect(formatErrorEntries([{ code: "A", message: "m" }, { code: "B" }])).toBe("A: m; B");
  });
});

describe("responseError", () => {
  it("401 → E_UNAUTHORIZED naming registry, repository, operation and credential source", async () => {
    const e = await responseError(
      response(401, '{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}'),
      ctx,
    );
    expect(e).toBeInstanceOf(RegistryError);
    expect(e.code).toBe("E_UNAUTHORIZED");
    expect(e.message).toBe(
      'get manifest v1: registry reg.example:5000 refused access to repository a/b (401 Unauthorized: UNAUTHORIZED: authentication required); credentials: docker config /c.json auths["reg.example:5000"]',
    );
  });

  it("403 → E_DENIED; 404 with *_UNKNOWN or no body → E_NOT_FOUND", async () => {
    expect((await responseError(response(403, '{"errors":[{"code":"DENIED"}]}'), ctx)).code).toBe("E_DENIED");
    expect((await responseError(response(404, '{"errors":[{"code":"NAME_UNKNOWN"}]}'), ctx)).code).toBe("E_NOT_FOUND");
    expect((await responseError(response(404, '{"errors":[{"code":"BLOB_UNKNOWN"}]}'), ctx)).code).toBe("E_NOT_FOUND");
    expect((await responseError(response(404, ""), ctx)).code).toBe("E_NOT_FOUND");
    expect((await responseError(response(404, '{"errors":[{"code":"BLOB_UPLOAD_UNKNOWN"}]}'), ctx)).code).toBe(
      "E_REGISTRY",
    );
  });

  it("anything else → E_REGISTRY with status, spec codes and a redacted URL", async () => {
    const e = await responseError(
      response(
        400,
        '{"errors":[{"code":"MANIFEST_INVALID","message":"manifest invalid"}]}',
        "http://user:pw@reg.example:5000/up?X-Amz-Signature=abc&_state=s",
      ),
      ctx,
    );
    expect(e.code).toBe("E_REGISTRY");
    expect(e.status).toBe(400);
    expect(e.hasCode("MANIFEST_INVALID")).toBe(true);
    expect(e.message).toContain("HTTP 400 (MANIFEST_INVALID: manifest invalid)");
    expect(e.message).not.toContain("pw@");
    expect(e.message).not.toContain("abc");
  });

  it("quotes short plain-text bodies but not HTML pages", async () => {
    expect((await responseError(response(502, "upstream timed out"), ctx)).message).toContain("(upstream timed out)");
    expect((await responseError(response(502, "<html><body>Bad Gateway</body></html>"), ctx)).message).not.toContain(
      "<html>",
    );
  });
});
