import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PipelineError } from "../errors";
import { dockerConfigKeychain, dockerConfigPath, registryOfAuthKey } from "./docker-config";

let tmp: string;
beforeAll(() => {
  tmp = mkdtempSync(join(tmpdir(), "docker-config-test-"));
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function configDir(content: unknown): string {
  const dir = mkdtempSync(join(tmp, "cfg-"));
  writeFileSync(join(dir, "config.json"), typeof content === "string" ? content : JSON.stringify(content));
  return dir;
}
const b64 = (s: string) => Buffer.from(s).toString("base64");

describe("dockerConfigPath", () => {
  it("uses $DOCKER_CONFIG/config.json, else ~/.docker/config.json", () => {
    expect(dockerConfigPath({ env: { DOCKER_CONFIG: "/cfg" }, home: "/home/u" })).toBe("/cfg/config.json");
    expect(dockerConfigPath({ env: {}, home: "/home/u" })).toBe("/home/u/.docker/config.json");
    expect(dockerConfigPath({ path: "/x.json", env: { DOCKER_CONFIG: "/cfg" } })).toBe("/x.json");
  });
});

describe("registryOfAuthKey", () => {
  it("strips scheme and path and folds Docker Hub aliases", () => {
    expect(registryOfAuthKey("localhost:5000")).toBe("localhost:5000");
    expect(registryOfAuthKey("https://localhost:5000")).toBe("localhost:5000");
    expect(registryOfAuthKey("http://localhost:5000/v1/")).toBe("localhost:5000");
    expect(registryOfAuthKey("https://index.docker.io/v1/")).toBe("index.docker.io");
    expect(registryOfAuthKey("docker.io")).toBe("index.docker.io");
    expect(registryOfAuthKey("registry-1.docker.io")).toBe("index.docker.io");
    expect(registryOfAuthKey("GHCR.io")).toBe("ghcr.io");
  });
});

describe("dockerConfigKeychain", () => {
  it("decodes base64 auth and names the entry it used", async () => {
    const dir = configDir({ auths: { "localhost:5000": { auth: b64("user:pa:ss") } } });
    const got = await dockerConfigKeychain({ env: { DOCKER_CONFIG: dir } }).resolve("localhost:5000");
    expect(got).toEqual({
      credential: { username: "user", password: "pa:ss" },
      source: `docker config ${join(dir, "config.json")} auths["localhost:5000"]`,
    });
  });

  it("matches keys written with a scheme and a path", async () => {
    const dir = configDir({ auths: { "http://reg.example.com:5000/v1/": { username: "u", password: "p" } } });
    const got = await dockerConfigKeychain({ env: { DOCKER_CONFIG: dir } }).resolve("reg.example.com:5000");
    expect(got?.credential).toEqual({ username: "u", password: "p" });
    expect(got?.source).toContain('auths["http://reg.example.com:5000/v1/"]');
    expect(await dockerConfigKeychain({ env: { DOCKER_CONFIG: dir } }).resolve("reg.example.com")).toBeUndefined();
  });

  it("prefers an exact key over a normalized one", async () => {
    const dir = configDir({ auths: { "https://ghcr.io": { auth: b64("a:1") }, "ghcr.io": { auth: b64("b:2") } } });
    expect((await dockerConfigKeychain({ env: { DOCKER_CONFIG: dir } }).resolve("ghcr.io"))?.credential).toEqual({ username: "b", password: "2" });
  });

  it("resolves every Docker Hub alias to the same entry", async () => {
    const dir = configDir({ auths: { "https://index.docker.io/v1/": { auth: b64("hub:pw") } } });
    const k = dockerConfigKeychain({ env: { DOCKER_CONFIG: dir } });
    for (const host of ["docker.io", "index.docker.io", "registry-1.docker.io"]) {
      expect((await k.resolve(host))?.credential).toEqual({ username: "hub", password: "pw" });
    }
  });

  it("returns an identity token when present", async () => {
    const dir = configDir({ auths: { "myreg.azurecr.io": { auth: b64("00000000-0000-0000-0000-000000000000:"), identitytoken: "refresh-me" } } });
    const got = await dockerConfigKeychain({ env: { DOCKER_CONFIG: dir } }).resolve("myreg.azurecr.io");
    expect(got?.credential).toEqual({ identityToken: "refresh-me", username: undefined });
  });

  it("skips entries without secrets (credsStore placeholders) and unknown hosts", async () => {
    const dir = configDir({ auths: { "quay.io": {} }, credsStore: "desktop" });
    const k = dockerConfigKeychain({ env: { DOCKER_CONFIG: dir } });
    expect(await k.resolve("quay.io")).toBeUndefined();
    expect(await k.resolve("ghcr.io")).toBeUndefined();
  });

  it("treats a missing file as no credentials, and says where it looked", async () => {
    const k = dockerConfigKeychain({ env: { DOCKER_CONFIG: join(tmp, "nope") } });
    expect(await k.resolve("ghcr.io")).toBeUndefined();
    expect(k.describe()).toBe(`docker config ${join(tmp, "nope", "config.json")}`);
  });

  it("rejects malformed JSON with a clear error naming the file and not quoting it", async () => {
    const dir = configDir('{"auths": {"ghcr.io": {"auth": "c2VjcmV0LXZhbHVl"}, }');
    const err = await dockerConfigKeychain({ env: { DOCKER_CONFIG: dir } }).resolve("ghcr.io").catch((e) => e);
    expect(err).toBeInstanceOf(PipelineError);
    expect(err.code).toBe("E_DOCKER_CONFIG");
    expect(err.message).toContain(join(dir, "config.json"));
    expect(err.message).toContain("not valid JSON");
    expect(err.message).not.toContain("c2VjcmV0LXZhbHVl");
  });

  it("rejects a non-object auths and an undecodable auth", async () => {
    const k1 = dockerConfigKeychain({ env: { DOCKER_CONFIG: configDir({ auths: [] }) } });
    expect((await k1.resolve("x.io").catch((e) => e)).code).toBe("E_DOCKER_CONFIG");
    const k2 = dockerConfigKeychain({ env: { DOCKER_CONFIG: configDir({ auths: { "x.io": { auth: b64("no-colon-here") } } }) } });
    const err = await k2.resolve("x.io").catch((e) => e);
    expect(err.code).toBe("E_DOCKER_CONFIG");
    expect(err.message).toContain('auths["x.io"]');
    expect(err.message).not.toContain("no-colon-here");
  });

  it("reads ~/.docker/config.json when DOCKER_CONFIG is unset", async () => {
    const home = mkdtempSync(join(tmp, "home-"));
    mkdirSync(join(home, ".docker"));
    writeFileSync(join(home, ".docker", "config.json"), JSON.stringify({ auths: { "r.io": { username: "u", password: "p" } } }));
    expect((await dockerConfigKeychain({ env: {}, home }).resolve("r.io"))?.source).toBe(`docker config ${join(home, ".docker", "config.json")} auths["r.io"]`);
  });
});
