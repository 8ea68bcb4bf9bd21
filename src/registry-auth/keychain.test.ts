import { describe, expect, it } from "vitest";
import { anonymousKeychain } from "./anonymous";
import { defaultKeychain } from "./default";
import {
  ANONYMOUS,
  chainKeychains,
  isAnonymous,
  isBasic,
  isIdentityToken,
  type Keychain,
  resolveCredential,
} from "./keychain";

function fixed(name: string, hosts: Record<string, string>): Keychain & { calls: string[] } {
  const calls: string[] = [];
  return {
    calls,
    async resolve(registry) {
      calls.push(registry);
      return hosts[registry]
        ? { credential: { username: name, password: hosts[registry] }, source: `${name}[${registry}]` }
        : undefined;
    },
    describe: () => name,
  };
}

describe("chainKeychains", () => {
  it("returns the first match and stops asking", async () => {
    const a = fixed("a", { "x.io": "1" });
    const b = fixed("b", { "x.io": "2", "y.io": "3" });
    const chain = chainKeychains(a, b);
    expect(await chain.resolve("x.io")).toEqual({ credential: { username: "a", password: "1" }, source: "a[x.io]" });
    expect(b.calls).toEqual([]);
    expect((await chain.resolve("y.io"))?.source).toBe("b[y.io]");
    expect(await chain.resolve("z.io")).toBeUndefined();
    expect(chain.describe()).toBe("a, b");
  });

  it("falls back to anonymous saying where it looked", async () => {
    const got = await resolveCredential(chainKeychains(fixed("a", {}), fixed("b", {})), "z.io");
    expect(got).toEqual({ credential: ANONYMOUS, source: "no credentials found; looked in a, b" });
  });

  it("the anonymous keychain always answers anonymous", async () => {
    const got = await resolveCredential(anonymousKeychain, "z.io");
    expect(isAnonymous(got.credential)).toBe(true);
    expect(got.source).toMatch(/anonymous/);
  });

  it("the default chain: rules_pipeline's credentials, docker config (DOCKER_CONFIG), then podman's auth.json", async () => {
    const k = defaultKeychain({ env: { DOCKER_CONFIG: "/nonexistent-dir" }, home: "/nonexistent-home" });
    expect(await k.resolve("ghcr.io")).toBeUndefined();
    expect(k.describe()).toBe(
      "rules_pipeline credentials /nonexistent-home/.config/rules_pipeline/credentials.json, " +
        "docker config /nonexistent-dir/config.json, auth.json /nonexistent-home/.config/containers/auth.json",
    );
  });

  it("type guards tell credentials apart", () => {
    expect(isBasic({ username: "u", password: "" })).toBe(true);
    expect(isBasic({ identityToken: "t" })).toBe(false);
    expect(isIdentityToken({ identityToken: "t" })).toBe(true);
    expect(isAnonymous(ANONYMOUS)).toBe(true);
    expect(isBasic(ANONYMOUS)).toBe(false);
  });
});
