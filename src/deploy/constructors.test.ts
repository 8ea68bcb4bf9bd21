import { describe, expect, it, test } from "vitest";
import { PipelineError } from "../errors";
import {
  ContainerAtDigest,
  ContainerAtTag,
  GitRepoBranch,
  GitRepoCommit,
  LockfileProject,
  NoCode,
  ServerAvailableFolder,
  ServerAvailableInterpreter,
} from "./constructors";

const D = "sha256:" + "ab".repeat(32);
const C40 = "0123456789abcdef0123456789abcdef01234567";

function errorOf(f: () => unknown): PipelineError {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(PipelineError);
    expect((e as PipelineError).code).toBe("E_DEPLOYMENT");
    return e as PipelineError;
  }
  throw new Error("expected E_DEPLOYMENT");
}

describe("constructors give the types' shapes", () => {
  it("interpreters", () => {
    expect(ContainerAtTag("registry.example.com/team/pipeline")).toEqual({
      kind: "ContainerAtTag",
      repository: "registry.example.com/team/pipeline",
      tag: "latest",
    });
    expect(ContainerAtTag("localhost:5000/a", "v1.2")).toEqual({
      kind: "ContainerAtTag",
      repository: "localhost:5000/a",
      tag: "v1.2",
    });
    expect(ContainerAtTag("node", "20")).toEqual({
      kind: "ContainerAtTag",
      repository: "index.docker.io/library/node",
      tag: "20",
    });
    expect(ContainerAtDigest("ghcr.io/org/app", D)).toEqual({
      kind: "ContainerAtDigest",
      repository: "ghcr.io/org/app",
      digest: D,
    });
    expect(ServerAvailableInterpreter("/usr/bin/node")).toEqual({
      kind: "ServerAvailableInterpreter",
      nodePath: "/usr/bin/node",
    });
    expect(LockfileProject()).toEqual({ kind: "LockfileProject", lockfile: "package-lock.json" });
    expect(LockfileProject("./app/package-lock.json")).toEqual({
      kind: "LockfileProject",
      lockfile: "app/package-lock.json",
    });
  });

  it("code", () => {
    expect(GitRepoBranch("https://git.example.com/org/app.git")).toEqual({
      kind: "GitRepoBranch",
      repoUrl: "https://git.example.com/org/app.git",
      branch: "main",
    });
    expect(GitRepoBranch("git@github.com:org/app.git", "release/1.x")).toEqual({
      kind: "GitRepoBranch",
      repoUrl: "git@github.com:org/app.git",
      branch: "release/1.x",
    });
    expect(GitRepoCommit("ssh://git@h/x.git", C40)).toEqual({
      kind: "GitRepoCommit",
      repoUrl: "ssh://git@h/x.git",
      commit: C40,
    });
    expect(GitRepoCommit("https://h/x.git", "f".repeat(64)).kind).toBe("GitRepoCommit");
    expect(ServerAvailableFolder(["/srv/app", "/srv/lib"])).toEqual({
      kind: "ServerAvailableFolder",
      codePaths: ["/srv/app", "/srv/lib"],
    });
    expect(NoCode()).toEqual({ kind: "None" });
  });
});

describe("bad arguments name the constructor, the argument and the value", () => {
  test.each([
    [
      "ContainerAtTag repository with a tag",
      () => ContainerAtTag("x.io/a:v1"),
      'ContainerAtTag: repository: should not contain a tag or digest (give the tag or digest separately) (got "x.io/a:v1")',
    ],
    [
      "ContainerAtTag uppercase repository",
      () => ContainerAtTag("x.io/Team/a"),
      /^ContainerAtTag: repository: expected lowercase .* \(got "x.io\/Team\/a"\)$/,
    ],
    [
      "ContainerAtTag scheme",
      () => ContainerAtTag("https://x.io/a"),
      /^ContainerAtTag: repository: expected HOST\/REPOSITORY.* \(got "https:\/\/x.io\/a"\)$/,
    ],
    [
      "ContainerAtTag bad tag",
      () => ContainerAtTag("x.io/a", "v 1"),
      /^ContainerAtTag: tag: expected a tag .* \(got "v 1"\)$/,
    ],
    [
      "ContainerAtDigest short digest",
      () => ContainerAtDigest("x.io/a", "sha256:abc"),
      /^ContainerAtDigest: digest: expected a digest .* \(got "sha256:abc"\)$/,
    ],
    [
      "ContainerAtDigest uppercase digest",
      () => ContainerAtDigest("x.io/a", D.toUpperCase()),
      /ContainerAtDigest: digest: .*got "SHA256:AB/,
    ],
    [
      "ServerAvailableInterpreter relative",
      () => ServerAvailableInterpreter("node"),
      'ServerAvailableInterpreter: nodePath: expected an absolute path (starting with /) (got "node")',
    ],
    [
      "LockfileProject absolute",
      () => LockfileProject("/app/package-lock.json"),
      /^LockfileProject: lockfile: expected a path relative .* \(got "\/app\/package-lock.json"\)$/,
    ],
    [
      "LockfileProject escaping",
      () => LockfileProject("a/../../package-lock.json"),
      /leaves the code deployment's root \(got "a\/..\/..\/package-lock.json"\)$/,
    ],
    [
      "GitRepoBranch empty url",
      () => GitRepoBranch(""),
      'GitRepoBranch: repoUrl: expected a git URL, got an empty string (got "")',
    ],
    [
      "GitRepoBranch option-like url",
      () => GitRepoBranch("--upload-pack=x"),
      /^GitRepoBranch: repoUrl: must not start with "-" \(got "--upload-pack=x"\)$/,
    ],
    [
      "GitRepoBranch bad branch",
      () => GitRepoBranch("https://h/x.git", "a..b"),
      /^GitRepoBranch: branch: expected a git branch name .* \(got "a..b"\)$/,
    ],
    ["GitRepoBranch option-like branch", () => GitRepoBranch("https://h/x.git", "-x"), /branch: .*\(got "-x"\)$/],
    [
      "GitRepoCommit short",
      () => GitRepoCommit("https://h/x.git", "abc1234"),
      'GitRepoCommit: commit: expected a full commit id (40 or 64 lowercase hex digits) (got "abc1234")',
    ],
    [
      "ServerAvailableFolder empty",
      () => ServerAvailableFolder([]),
      /^ServerAvailableFolder: codePaths: expected at least one path .*\(got a list\)$/,
    ],
    [
      "ServerAvailableFolder relative",
      () => ServerAvailableFolder(["/a", "b"]),
      'ServerAvailableFolder: codePaths[1]: expected an absolute path (starting with /) (got "b")',
    ],
    [
      "ServerAvailableFolder duplicate",
      () => ServerAvailableFolder(["/a/", "/a"]),
      'ServerAvailableFolder: codePaths[1]: duplicate of codePaths[0] (got "/a")',
    ],
    [
      "wrong type from JavaScript",
      () => ServerAvailableInterpreter(42 as unknown as string),
      "ServerAvailableInterpreter: nodePath: expected a string (got 42)",
    ],
  ])("%s", (_, f, message) => {
    const err = errorOf(f);
    if (typeof message === "string") expect(err.message).toBe(message);
    else expect(err.message).toMatch(message);
  });

  it("a git URL with a password is refused without echoing the password", () => {
    const err = errorOf(() => GitRepoCommit("https://bot:hunter2@git.example.com/x.git", C40));
    expect(err.message).toContain("contains user information");
    expect(err.message).toContain('(got "https://REDACTED@git.example.com/x.git")');
    expect(err.message).not.toContain("hunter2");
  });
});
