import { describe, expect, it } from "vitest";
import { PipelineError } from "../errors";
import { normalizeDockerUrl, normalizeGitUrl, prefixScore, urlKey } from "./url";

const key = (service: "docker" | "git", url: string) =>
  urlKey(service === "docker" ? normalizeDockerUrl(url) : normalizeGitUrl(url));

describe("normalizeDockerUrl", () => {
  it("lowercases the host, drops scheme and trailing slashes, folds Docker Hub aliases", () => {
    expect(key("docker", "GHCR.io")).toBe("docker://ghcr.io/");
    expect(key("docker", "https://ghcr.io/org/")).toBe("docker://ghcr.io/org");
    expect(key("docker", "ghcr.io/org//")).toBe("docker://ghcr.io/org");
    expect(key("docker", "localhost:5000/a/b")).toBe("docker://localhost:5000/a/b");
    for (const hub of [
      "docker.io",
      "index.docker.io",
      "registry-1.docker.io",
      "registry.hub.docker.com",
      "Docker.IO",
    ]) {
      expect(key("docker", `${hub}/library/`)).toBe("docker://index.docker.io/library");
    }
  });

  it("rejects what is not a host with an optional repository prefix, quoting it", () => {
    for (const bad of ["", "ghcr.io/Org", "ghcr.io/org:tag", "user@ghcr.io", "ghcr.io/a b", "ghcr.io?x=1", "-bad-/x"]) {
      let err: unknown;
      try {
        normalizeDockerUrl(bad, "credentials[0].url");
      } catch (e) {
        err = e;
      }
      expect(err, bad).toBeInstanceOf(PipelineError);
      expect((err as PipelineError).message).toContain("credentials[0].url");
      expect((err as PipelineError).message).toContain(JSON.stringify(bad));
    }
  });
});

describe("normalizeGitUrl", () => {
  it("reads https, ssh and scp-like URLs the way git does", () => {
    expect(normalizeGitUrl("HTTPS://GitHub.com:443/org/repo.git/")).toEqual({
      scheme: "https",
      host: "github.com",
      user: undefined,
      segments: ["org", "repo"],
    });
    expect(normalizeGitUrl("git@github.com:org/repo.git")).toEqual({
      scheme: "ssh",
      host: "github.com",
      user: "git",
      segments: ["org", "repo"],
    });
    expect(normalizeGitUrl("git@github.com")).toEqual({ scheme: "ssh", host: "github.com", user: "git", segments: [] });
    expect(normalizeGitUrl("ssh://git@Host:22/srv/")).toEqual({
      scheme: "ssh",
      host: "host",
      user: "git",
      segments: ["srv"],
    });
    expect(normalizeGitUrl("ssh://git@host:2222/srv")).toEqual({
      scheme: "ssh",
      host: "host:2222",
      user: "git",
      segments: ["srv"],
    });
    expect(normalizeGitUrl("git+ssh://git@host/x").scheme).toBe("ssh");
    expect(key("git", "git@github.com:org/repo")).toBe(key("git", "ssh://git@github.com/org/repo.git"));
  });

  it("rejects a URL holding a password without echoing it", () => {
    let err: unknown;
    try {
      normalizeGitUrl("https://me:hunter2secret@github.com/org/");
    } catch (e) {
      err = e;
    }
    expect((err as PipelineError).message).toContain("must not hold a password");
    expect((err as PipelineError).message).not.toContain("hunter2secret");
  });

  it("rejects other schemes and host-only names without a user", () => {
    for (const bad of ["ftp://host/x", "github.com", "https://", "file:///srv/repo", "https://host/x?y=1"]) {
      expect(() => normalizeGitUrl(bad), bad).toThrow(PipelineError);
    }
  });
});

describe("prefixScore", () => {
  const d = normalizeDockerUrl;
  const g = normalizeGitUrl;
  it("matches only at a path-segment boundary", () => {
    expect(prefixScore(d("ghcr.io/org"), d("ghcr.io/org/app"))).toBeDefined();
    expect(prefixScore(d("ghcr.io/org/"), d("ghcr.io/org"))).toBeDefined();
    expect(prefixScore(d("ghcr.io/org"), d("ghcr.io/organization/app"))).toBeUndefined();
    expect(prefixScore(d("ghcr.io"), d("ghcr.io:5000/org"))).toBeUndefined();
    expect(prefixScore(d("ghcr.io/org/app"), d("ghcr.io/org"))).toBeUndefined();
    expect(prefixScore(g("https://github.com/org"), g("https://github.com/org-other/x"))).toBeUndefined();
  });

  it("scores longer prefixes higher, and a named user over none", () => {
    expect(prefixScore(d("ghcr.io/org/team"), d("ghcr.io/org/team/app"))!).toBeGreaterThan(
      prefixScore(d("ghcr.io/org"), d("ghcr.io/org/team/app"))!,
    );
    expect(prefixScore(g("ssh://git@host/"), g("git@host:x/y"))!).toBeGreaterThan(
      prefixScore(g("ssh://host/"), g("git@host:x/y"))!,
    );
    expect(prefixScore(g("ssh://deploy@host/"), g("git@host:x/y"))).toBeUndefined();
  });

  it("keeps schemes apart: an ssh credential does not answer for https", () => {
    expect(prefixScore(g("git@github.com"), g("https://github.com/org/repo"))).toBeUndefined();
    expect(prefixScore(g("https://github.com/"), g("http://github.com/org/repo"))).toBeUndefined();
  });
});
