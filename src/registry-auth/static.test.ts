import { describe, expect, test } from "vitest";
import { explicitKeychain } from "./static";

describe("explicitKeychain", () => {
  const k = explicitKeychain("docker.io", { username: "u", password: "s3cret-pw" });
  test("answers for its registry and its aliases only", async () => {
    expect((await k.resolve("index.docker.io"))?.source).toBe("--username/--password-stdin");
    expect(await k.resolve("ghcr.io")).toBeUndefined();
  });
  test("never describes itself with the password", () => {
    expect(k.describe()).not.toContain("s3cret-pw");
    expect(k.describe()).toContain("index.docker.io");
  });
});
