import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PipelineError } from "../errors";
import { writeCredHelper } from "../../test/fixtures/cred-helpers";
import {
  dockerConfigKeychain,
  dockerConfigPath,
  permissionWarning,
  readAuthFile,
  registryOfAuthKey,
} from "./docker-config";

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

/** A fresh bin dir for helpers, and an env whose PATH puts it first. */
function bin(): { dir: string; env: Record<string, string> } {
  const dir = mkdtempSync(join(tmp, "bin-"));
  return { dir, env: { PATH: `${dir}:${process.env.PATH}` } };
}

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
    expect((await dockerConfigKeychain({ env: { DOCKER_CONFIG: dir } }).resolve("ghcr.io"))?.credential).toEqual({
      username: "b",
      password: "2",
    });
  });

  it("resolves every Docker Hub alias to the same entry", async () => {
    const dir = configDir({ auths: { "https://index.docker.io/v1/": { auth: b64("hub:pw") } } });
    const k = dockerConfigKeychain({ env: { DOCKER_CONFIG: dir } });
    for (const host of ["docker.io", "index.docker.io", "registry-1.docker.io"]) {
      expect((await k.resolve(host))?.credential).toEqual({ username: "hub", password: "pw" });
    }
  });

  it("returns an identity token when present", async () => {
    const dir = configDir({
      auths: {
        "myreg.azurecr.io": { auth: b64("00000000-0000-0000-0000-000000000000:"), identitytoken: "refresh-me" },
      },
    });
    const got = await dockerConfigKeychain({ env: { DOCKER_CONFIG: dir } }).resolve("myreg.azurecr.io");
    expect(got?.credential).toEqual({ identityToken: "refresh-me", username: undefined });
  });

  it("skips entries without secrets (credsStore placeholders) and unknown hosts", async () => {
    const { dir: binDir, env } = bin();
    writeCredHelper(binDir, "desktop", { notFound: true });
    const dir = configDir({ auths: { "quay.io": {} }, credsStore: "desktop" });
    const k = dockerConfigKeychain({ env: { ...env, DOCKER_CONFIG: dir } });
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
    const err = await dockerConfigKeychain({ env: { DOCKER_CONFIG: dir } })
      .resolve("ghcr.io")
      .catch((e) => e);
    expect(err).toBeInstanceOf(PipelineError);
    expect(err.code).toBe("E_DOCKER_CONFIG");
    expect(err.message).toContain(join(dir, "config.json"));
    expect(err.message).toContain("not valid JSON");
    expect(err.message).not.toContain("c2VjcmV0LXZhbHVl");
  });

  it("rejects a non-object auths and an undecodable auth", async () => {
    const k1 = dockerConfigKeychain({ env: { DOCKER_CONFIG: configDir({ auths: [] }) } });
    expect((await k1.resolve("x.io").catch((e) => e)).code).toBe("E_DOCKER_CONFIG");
    const k2 = dockerConfigKeychain({
      env: { DOCKER_CONFIG: configDir({ auths: { "x.io": { auth: b64("no-colon-here") } } }) },
    });
    const err = await k2.resolve("x.io").catch((e) => e);
    expect(err.code).toBe("E_DOCKER_CONFIG");
    expect(err.message).toContain('auths["x.io"]');
    expect(err.message).not.toContain("no-colon-here");
  });

  it("reads ~/.docker/config.json when DOCKER_CONFIG is unset", async () => {
    const home = mkdtempSync(join(tmp, "home-"));
    mkdirSync(join(home, ".docker"));
    writeFileSync(
      join(home, ".docker", "config.json"),
      JSON.stringify({ auths: { "r.io": { username: "u", password: "p" } } }),
    );
    expect((await dockerConfigKeychain({ env: {}, home }).resolve("r.io"))?.source).toBe(
      `docker config ${join(home, ".docker", "config.json")} auths["r.io"]`,
    );
  });
});

describe("dockerConfigKeychain with credential helpers", () => {
  const SECRET = "helper-Secret-0123456789";

  it("asks credHelpers[host] with the host on stdin, and names the helper and the file in the source", async () => {
    const { dir: binDir, env } = bin();
    const gh = writeCredHelper(binDir, "gh", { answer: { Username: "octo", Secret: SECRET } });
    const dir = configDir({ credHelpers: { "ghcr.io": "gh" } });
    const got = await dockerConfigKeychain({ env: { ...env, DOCKER_CONFIG: dir } }).resolve("ghcr.io");
    expect(got).toEqual({
      credential: { username: "octo", password: SECRET },
      source: `credHelpers["ghcr.io"] → docker-credential-gh (docker config ${join(dir, "config.json")})`,
    });
    expect(gh.calls()).toEqual(["ghcr.io"]);
  });

  it("gives credHelpers precedence over credsStore, and credsStore over auths", async () => {
    const { dir: binDir, env } = bin();
    const per = writeCredHelper(binDir, "per", { answer: { Username: "per-host", Secret: "1" } });
    const store = writeCredHelper(binDir, "store", { answer: { Username: "store", Secret: "2" } });
    const dir = configDir({
      credHelpers: { "a.io": "per" },
      credsStore: "store",
      auths: { "a.io": { auth: b64("auths:3") }, "b.io": { auth: b64("auths:4") } },
    });
    const k = dockerConfigKeychain({ env: { ...env, DOCKER_CONFIG: dir } });
    expect((await k.resolve("a.io"))?.credential).toEqual({ username: "per-host", password: "1" });
    const b = await k.resolve("b.io");
    expect(b?.credential).toEqual({ username: "store", password: "2" });
    expect(b?.source).toBe(`credsStore → docker-credential-store (docker config ${join(dir, "config.json")})`);
    expect(per.calls()).toEqual(["a.io"]);
    expect(store.calls()).toEqual(["b.io"]);
  });

  it("falls through to auths when credsStore has nothing; credHelpers[host] with nothing means no credential", async () => {
    const { dir: binDir, env } = bin();
    writeCredHelper(binDir, "empty", { notFound: true });
    const d1 = configDir({ credsStore: "empty", auths: { "a.io": { auth: b64("u:from-auths") } } });
    const got = await dockerConfigKeychain({ env: { ...env, DOCKER_CONFIG: d1 } }).resolve("a.io");
    expect(got).toEqual({
      credential: { username: "u", password: "from-auths" },
      source: `docker config ${join(d1, "config.json")} auths["a.io"]`,
    });
    const d2 = configDir({ credHelpers: { "a.io": "empty" }, auths: { "a.io": { auth: b64("u:from-auths") } } });
    expect(await dockerConfigKeychain({ env: { ...env, DOCKER_CONFIG: d2 } }).resolve("a.io")).toBeUndefined();
  });

  it("folds Docker Hub aliases for credHelpers keys and sends Hub's legacy URL", async () => {
    const { dir: binDir, env } = bin();
    const hub = writeCredHelper(binDir, "hub", { answer: { Username: "whale", Secret: SECRET } });
    for (const key of ["docker.io", "https://index.docker.io/v1/", "registry-1.docker.io"]) {
      const k = dockerConfigKeychain({ env: { ...env, DOCKER_CONFIG: configDir({ credHelpers: { [key]: "hub" } }) } });
      for (const host of ["docker.io", "index.docker.io", "registry-1.docker.io"]) {
        const got = await k.resolve(host);
        expect(got?.credential).toEqual({ username: "whale", password: SECRET });
        expect(got?.source).toContain(`credHelpers[${JSON.stringify(key)}] → docker-credential-hub`);
      }
    }
    const store = writeCredHelper(binDir, "hubstore", { answer: { Username: "whale", Secret: SECRET } });
    await dockerConfigKeychain({ env: { ...env, DOCKER_CONFIG: configDir({ credsStore: "hubstore" }) } }).resolve(
      "docker.io",
    );
    expect(new Set([...hub.calls(), ...store.calls()])).toEqual(new Set(["https://index.docker.io/v1/"]));
  });

  it("returns an identity token from a helper answering Username <token>", async () => {
    const { dir: binDir, env } = bin();
    writeCredHelper(binDir, "acr", { answer: { Username: "<token>", Secret: SECRET } });
    const got = await dockerConfigKeychain({
      env: { ...env, DOCKER_CONFIG: configDir({ credsStore: "acr" }) },
    }).resolve("x.azurecr.io");
    expect(got?.credential).toEqual({ identityToken: SECRET });
  });

  it("fails clearly when the configured helper is missing, failing, or malformed, never showing the secret", async () => {
    const { dir: binDir, env } = bin();
    writeCredHelper(binDir, "bad", { fail: { stderr: "cannot reach keyring", stdout: SECRET } });
    writeCredHelper(binDir, "junk", { raw: `Secret=${SECRET}` });
    for (const [helper, expected] of [
      ["missing", "not found on PATH"],
      ["bad", "failed (exit 1): cannot reach keyring"],
      ["junk", "malformed JSON"],
    ]) {
      const dir = configDir({ credHelpers: { "ghcr.io": helper } });
      const err = await dockerConfigKeychain({ env: { ...env, DOCKER_CONFIG: dir } })
        .resolve("ghcr.io")
        .catch((e) => e);
      expect(err).toBeInstanceOf(PipelineError);
      expect(err.code).toBe("E_CRED_HELPER");
      expect(err.message).toContain(`docker-credential-${helper}`);
      expect(err.message).toContain(`credHelpers["ghcr.io"] in docker config ${join(dir, "config.json")}`);
      expect(err.message).toContain(expected);
      expect(err.message).not.toContain(SECRET);
    }
  });

  it("times out a hanging credsStore helper", async () => {
    const { dir: binDir, env } = bin();
    writeCredHelper(binDir, "stuck", { hang: { seconds: 30 } });
    const k = dockerConfigKeychain({
      env: { ...env, DOCKER_CONFIG: configDir({ credsStore: "stuck" }) },
      helperTimeoutMs: 200,
    });
    const err = await k.resolve("ghcr.io").catch((e) => e);
    expect(err.code).toBe("E_CRED_HELPER");
    expect(err.message).toContain("docker-credential-stuck");
    expect(err.message).toContain("did not answer");
  });

  it("rejects ill-typed credHelpers and credsStore naming the file", async () => {
    for (const content of [
      { credHelpers: ["gh"] },
      { credHelpers: { "ghcr.io": 3 } },
      { credsStore: { name: "desktop" } },
    ]) {
      const dir = configDir(content);
      const err = await dockerConfigKeychain({ env: { DOCKER_CONFIG: dir } })
        .resolve("ghcr.io")
        .catch((e) => e);
      expect(err.code).toBe("E_DOCKER_CONFIG");
      expect(err.message).toContain(join(dir, "config.json"));
    }
  });
});

describe("permission warnings", () => {
  it("warns once about a group/other-readable file holding secrets, and not about one without", async () => {
    const dir = configDir({ auths: { "r.io": { auth: b64("u:p") } } });
    const path = join(dir, "config.json");
    chmodSync(path, 0o644);
    const warnings: string[] = [];
    const k = dockerConfigKeychain({ env: { DOCKER_CONFIG: dir }, warn: (l) => warnings.push(l) });
    await k.resolve("r.io");
    await k.resolve("other.io");
    expect(warnings).toEqual([
      `docker config ${path} holds credentials but is readable by group/others (mode 644); run chmod 600 ${path}`,
    ]);
    expect(warnings[0]).not.toContain(b64("u:p"));

    chmodSync(path, 0o600);
    expect(permissionWarning(readAuthFile(path, "docker config", "E_DOCKER_CONFIG")!)).toBeUndefined();
    const placeholders = configDir({ auths: { "r.io": {} }, credsStore: "x" });
    chmodSync(join(placeholders, "config.json"), 0o644);
    expect(
      permissionWarning(readAuthFile(join(placeholders, "config.json"), "docker config", "E_DOCKER_CONFIG")!),
    ).toBeUndefined();
  });
});
