import { describe, expect, it } from "vitest";
import { parseWwwAuthenticate, pickChallenge } from "./challenge";

describe("parseWwwAuthenticate", () => {
  it("parses a Docker Hub style Bearer challenge with commas inside quotes", () => {
    expect(
      parseWwwAuthenticate(
        'Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:samalba/my-app:pull,push"',
      ),
    ).toEqual([
      {
        scheme: "bearer",
        params: {
          realm: "https://auth.docker.io/token",
          service: "registry.docker.io",
          scope: "repository:samalba/my-app:pull,push",
        },
      },
    ]);
  });

  it("parses Basic with a realm", () => {
    expect(parseWwwAuthenticate('Basic realm="Registry Realm"')).toEqual([
      { scheme: "basic", params: { realm: "Registry Realm" } },
    ]);
  });

  it("is case-insensitive in scheme and parameter names, keeps value case", () => {
    expect(parseWwwAuthenticate('BEARER Realm="https://A.example/Token", SERVICE=Reg')).toEqual([
      { scheme: "bearer", params: { realm: "https://A.example/Token", service: "Reg" } },
    ]);
  });

  it("splits several challenges in one header", () => {
    const c = parseWwwAuthenticate(
      'Basic realm="basic realm", Bearer realm="https://t.example/token",service="svc", Negotiate',
    );
    expect(c.map((x) => x.scheme)).toEqual(["basic", "bearer", "negotiate"]);
    expect(c[0].params).toEqual({ realm: "basic realm" });
    expect(c[1].params).toEqual({ realm: "https://t.example/token", service: "svc" });
    expect(c[2].params).toEqual({});
  });

  it("handles several header values", () => {
    const c = parseWwwAuthenticate(['Basic realm="a"', 'Bearer realm="b", error="invalid_token"']);
    expect(c).toEqual([
      { scheme: "basic", params: { realm: "a" } },
      { scheme: "bearer", params: { realm: "b", error: "invalid_token" } },
    ]);
  });

  it("unescapes quoted-pairs and keeps commas, equals and spaces in quoted values", () => {
    const c = parseWwwAuthenticate('Bearer realm="https://x/t?a=b,c=d", error_description="say \\"hi\\", ok"');
    expect(c[0].params).toEqual({ realm: "https://x/t?a=b,c=d", error_description: 'say "hi", ok' });
  });

  it("tolerates whitespace around = and between parameters, and empty list elements", () => {
    const c = parseWwwAuthenticate('Bearer  realm = "r" ,, service = s ,scope="x"');
    expect(c).toEqual([{ scheme: "bearer", params: { realm: "r", service: "s", scope: "x" } }]);
  });

  it("reads a token68 challenge and keeps going", () => {
    const c = parseWwwAuthenticate("Negotiate abc+/def==, Basic realm=x");
    expect(c).toEqual([
      { scheme: "negotiate", params: {}, token68: "abc+/def==" },
      { scheme: "basic", params: { realm: "x" } },
    ]);
  });

  it("keeps the first of duplicate parameters", () => {
    expect(parseWwwAuthenticate('Bearer realm="one", realm="two"')[0].params.realm).toBe("one");
  });

  it("accepts an empty quoted value and an unterminated quote", () => {
    expect(parseWwwAuthenticate('Bearer realm="", service="svc')[0].params).toEqual({ realm: "", service: "svc" });
  });

  it("returns [] for nothing", () => {
    expect(parseWwwAuthenticate(undefined)).toEqual([]);
    expect(parseWwwAuthenticate("")).toEqual([]);
    expect(parseWwwAuthenticate("  ,  ")).toEqual([]);
  });
});

describe("pickChallenge", () => {
  it("prefers Bearer with a realm, then Basic", () => {
    expect(pickChallenge(parseWwwAuthenticate('Basic realm="a", Bearer realm="b"'))?.scheme).toBe("bearer");
    expect(pickChallenge(parseWwwAuthenticate('Bearer service="no realm", Basic realm="a"'))?.scheme).toBe("basic");
    expect(pickChallenge(parseWwwAuthenticate("Negotiate"))).toBeUndefined();
  });
});
