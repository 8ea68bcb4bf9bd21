import { describe, expect, it } from "vitest";
import { PipelineError } from "../errors";
import { assertSafeGitUrl, credentialTarget, gitUrlKind } from "./url";

describe("gitUrlKind", () => {
  it.each([
    ["https://github.com/org/repo.git", "http"],
    ["http://127.0.0.1:8080/r.git", "http"],
    ["HTTPS://github.com/org/repo.git", "http"],
    ["ssh://git@github.com/org/repo.git", "ssh"],
    ["git+ssh://github.com/org/repo.git", "ssh"],
    ["ssh+git://github.com/org/repo.git", "ssh"],
    ["git@github.com:org/repo.git", "ssh"],
    ["github.com:org/repo.git", "ssh"],
    ["[::1]:org/repo.git", "ssh"],
    ["git://github.com/org/repo.git", "other"],
    ["file:///srv/git/r.git", "other"],
    ["/srv/git/r.git", "other"],
    ["./r.git", "other"],
  ])("%s → %s", (url, kind) => {
    expect(gitUrlKind(url)).toBe(kind);
  });
});

describe("credentialTarget", () => {
  it("is the protocol and host (port as written) git's credential protocol sends", () => {
    expect(credentialTarget("https://github.com/org/repo.git")).toEqual({ protocol: "https", host: "github.com" });
    expect(credentialTarget("http://127.0.0.1:8080/r.git")).toEqual({ protocol: "http", host: "127.0.0.1:8080" });
    expect(credentialTarget("https://git.example.com:443/r?x=1")).toEqual({
      protocol: "https",
      host: "git.example.com:443",
    });
    expect(credentialTarget("https://git.example.com")).toEqual({ protocol: "https", host: "git.example.com" });
  });
});

describe("assertSafeGitUrl", () => {
  it("rejects userinfo in HTTP(S) URLs without echoing it", () => {
    for (const url of ["https://user:hunter2@h/r.git", "https://ghp_TOKEN@h/r.git"]) {
      let err: unknown;
      try {
        assertSafeGitUrl(url);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(PipelineError);
      expect((err as PipelineError).code).toBe("E_GIT_URL");
      expect((err as PipelineError).message).not.toMatch(/hunter2|ghp_TOKEN/);
    }
  });

  it("accepts the SSH user and an @ in the path; rejects option-like URLs", () => {
    expect(() => assertSafeGitUrl("git@github.com:org/repo.git")).not.toThrow();
    expect(() => assertSafeGitUrl("ssh://git@github.com/org/repo.git")).not.toThrow();
    expect(() => assertSafeGitUrl("https://h/org/repo@v1.git")).not.toThrow();
    expect(() => assertSafeGitUrl("--upload-pack=x")).toThrow(PipelineError);
  });
});
