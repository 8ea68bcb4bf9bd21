import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { PipelineError } from "../errors";
import { writeCredHelper } from "../../test/fixtures/cred-helpers";
import { authJsonCandidates, authJsonKeychain, authJsonPaths, normalizeAuthJsonKey } from "./auth-json";

let tmp: string;
beforeAll(() => {
  tmp = mkdtempSync(join(tmpdir(), "auth-json-test-"));
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const b64 = (s: string) => Buffer.from(s).toString("base64");

function writeJson(path: string, content: unknown): string {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, typeof content === "string" ? content : JSON.stringify(content), { mode: 0o600 });
  return path;
}

/** A fresh auth.json under tmp, and options pointing REGISTRY_AUTH_FILE at it. */
function authFile(content: unknown): { path: string; env: Record<string, string> } {
  const path = writeJson(join(mkdtempSync(join(tmp, "f-")), "auth.json"), content);
  return { path, env: { REGISTRY_AUTH_FILE: path } };
}

describe("authJsonPaths", () => {
  it("uses REGISTRY_AUTH_FILE alone, else XDG_RUNTIME_DIR then XDG_CONFIG_HOME or ~/.config", () => {
    expect(
      authJsonPaths({ env: { REGISTRY_AUTH_FILE: "/a.json", XDG_RUNTIME_DIR: "/run/user/1" }, home: "/h" }),
    ).toEqual(["/a.json"]);
    expect(authJsonPaths({ env: { XDG_RUNTIME_DIR: "/run/user/1" }, home: "/h" })).toEqual([
      "/run/user/1/containers/auth.json",
      "/h/.config/containers/auth.json",
    ]);
    expect(authJsonPaths({ env: {}, home: "/h" })).toEqual(["/h/.config/containers/auth.json"]);
    expect(authJsonPaths({ env: { XDG_CONFIG_HOME: "/cfg" }, home: "/h" })).toEqual(["/cfg/containers/auth.json"]);
  });
});

describe("normalizeAuthJsonKey and authJsonCandidates", () => {
  it("keeps repository paths, drops them after a scheme, folds Docker Hub", () => {
    expect(normalizeAuthJsonKey("quay.io/team/app")).toBe("quay.io/team/app");
    expect(normalizeAuthJsonKey("https://quay.io/v1/")).toBe("quay.io");
    expect(normalizeAuthJsonKey("docker.io/library/")).toBe("index.docker.io/library");
    expect(normalizeAuthJsonKey("Registry-1.Docker.io")).toBe("index.docker.io");
    expect(authJsonCandidates("quay.io", "team/app/x")).toEqual([
      "quay.io/team/app/x",
      "quay.io/team/app",
      "quay.io/team",
      "quay.io",
    ]);
    expect(authJsonCandidates("docker.io")).toEqual(["index.docker.io"]);
  });
});

describe("authJsonKeychain", () => {
  it("reads REGISTRY_AUTH_FILE and names the entry it used", async () => {
    const { path, env } = authFile({ auths: { "quay.io": { auth: b64("u:p") } } });
    const k = authJsonKeychain({ env });
    expect(await k.resolve("quay.io", "team/app")).toEqual({
      credential: { username: "u", password: "p" },
      source: `auth.json ${path} auths["quay.io"]`,
    });
    expect(await k.resolve("ghcr.io")).toBeUndefined();
    expect(k.describe()).toBe(`auth.json ${path}`);
  });

  it("picks the longest key that prefixes host/repository, on path boundaries", async () => {
    const { env } = authFile({
      auths: {
        "quay.io": { auth: b64("host:1") },
        "quay.io/team": { auth: b64("ns:2") },
        "quay.io/team/app": { auth: b64("repo:3") },
        "quay.io/te": { auth: b64("partial:4") },
      },
    });
    const k = authJsonKeychain({ env });
    expect((await k.resolve("quay.io", "team/app"))?.credential).toEqual({ username: "repo", password: "3" });
    expect((await k.resolve("quay.io", "team/app/sub"))?.credential).toEqual({ username: "repo", password: "3" });
    expect((await k.resolve("quay.io", "team/other"))?.credential).toEqual({ username: "ns", password: "2" });
    expect((await k.resolve("quay.io", "team"))?.credential).toEqual({ username: "ns", password: "2" });
    expect((await k.resolve("quay.io", "teamster/app"))?.credential).toEqual({ username: "host", password: "1" });
    expect((await k.resolve("quay.io"))?.credential).toEqual({ username: "host", password: "1" });
  });

  it("matches Docker Hub aliases and scheme-prefixed keys", async () => {
    const { env } = authFile({
      auths: { "docker.io/library": { auth: b64("lib:1") }, "https://index.docker.io/v1/": { auth: b64("hub:2") } },
    });
    const k = authJsonKeychain({ env });
    expect((await k.resolve("registry-1.docker.io", "library/busybox"))?.credential).toEqual({
      username: "lib",
      password: "1",
    });
    expect((await k.resolve("docker.io", "me/app"))?.credential).toEqual({ username: "hub", password: "2" });
  });

  it("looks in $XDG_RUNTIME_DIR/containers/auth.json, then ~/.config/containers/auth.json", async () => {
    const run = mkdtempSync(join(tmp, "run-"));
    const home = mkdtempSync(join(tmp, "home-"));
    writeJson(join(run, "containers", "auth.json"), { auths: { "a.io": { auth: b64("run:1") } } });
    const cfg = writeJson(join(home, ".config", "containers", "auth.json"), {
      auths: { "a.io": { auth: b64("cfg:2") }, "b.io": { auth: b64("cfg:3") } },
    });
    const k = authJsonKeychain({ env: { XDG_RUNTIME_DIR: run }, home });
    expect((await k.resolve("a.io"))?.credential).toEqual({ username: "run", password: "1" });
    expect(await k.resolve("b.io")).toEqual({
      credential: { username: "cfg", password: "3" },
      source: `auth.json ${cfg} auths["b.io"]`,
    });
    // Without XDG_RUNTIME_DIR only the home file is read.
    expect((await authJsonKeychain({ env: {}, home }).resolve("a.io"))?.credential).toEqual({
      username: "cfg",
      password: "2",
    });
  });

  it("asks credHelpers[host] in auth.json before its auths", async () => {
    const bin = mkdtempSync(join(tmp, "bin-"));
    const h = writeCredHelper(bin, "podhelper", { answer: { Username: "pod", Secret: "s3cr3t" } });
    const { path } = authFile({
      credHelpers: { "quay.io": "podhelper" },
      auths: { "quay.io": { auth: b64("auths:x") } },
    });
    const got = await authJsonKeychain({
      env: { REGISTRY_AUTH_FILE: path, PATH: `${bin}:${process.env.PATH}` },
    }).resolve("quay.io", "a/b");
    expect(got).toEqual({
      credential: { username: "pod", password: "s3cr3t" },
      source: `credHelpers["quay.io"] → docker-credential-podhelper (auth.json ${path})`,
    });
    expect(h.calls()).toEqual(["quay.io"]);
  });

  it("rejects a malformed file naming it without echoing it; a missing file is no credential", async () => {
    const { path, env } = authFile('{"auths":{"quay.io":{"auth":"c2VjcmV0LXZhbHVl"}');
    const err = await authJsonKeychain({ env })
      .resolve("quay.io")
      .catch((e) => e);
    expect(err).toBeInstanceOf(PipelineError);
    expect(err.code).toBe("E_AUTH_JSON");
    expect(err.message).toContain(path);
    expect(err.message).toContain("not valid JSON");
    expect(err.message).not.toContain("c2VjcmV0LXZhbHVl");
    const bad = authFile({ auths: { "quay.io": { auth: b64("nocolon") } } });
    const e2 = await authJsonKeychain({ env: bad.env })
      .resolve("quay.io")
      .catch((e) => e);
    expect(e2.code).toBe("E_AUTH_JSON");
    expect(e2.message).toContain(`auth.json ${bad.path} auths["quay.io"]`);
    expect(
      await authJsonKeychain({ env: { REGISTRY_AUTH_FILE: join(tmp, "absent.json") } }).resolve("quay.io"),
    ).toBeUndefined();
  });

  it("warns once when the file is readable by others", async () => {
    const { path, env } = authFile({ auths: { "quay.io": { auth: b64("u:p") } } });
    chmodSync(path, 0o640);
    const warnings: string[] = [];
    const k = authJsonKeychain({ env, warn: (l) => warnings.push(l) });
    await k.resolve("quay.io");
    await k.resolve("quay.io");
    expect(warnings).toEqual([
      `auth.json ${path} holds credentials but is readable by group/others (mode 640); run chmod 600 ${path}`,
    ]);
  });
});
