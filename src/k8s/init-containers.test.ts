/**
 * Runs the git init container's real script (/bin/sh + Debian's git) on this machine against a git
 * smart-HTTP server with Basic auth, with the env the manifest gives the container and the secretKeyRef
 * replaced by the secret's value, as the kubelet would do.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { spawn } from "node:child_process";
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { V1Container } from "@kubernetes/client-node";
import { createTestRepo, type GitServer, startGitServer, type TestRepo } from "../../test/fixtures/git-server";
import { leaksIn } from "../credentials/testing";
import { gitCloneContainer } from "./init-containers";
import { formatManifests } from "./manifest";

const TOKEN = "glpat-InitContainerTok3n-77";
let tmp: string;
let server: GitServer;
let priv: TestRepo;
let pub: TestRepo;

beforeAll(async () => {
  tmp = mkdtempSync(join(tmpdir(), "k8s-init-"));
  priv = createTestRepo(join(tmp, "srv"), "private");
  pub = createTestRepo(join(tmp, "srv"), "public");
  server = await startGitServer({
    root: join(tmp, "srv"),
    users: { "deploy-bot": TOKEN },
    publicRepos: ["public.git"],
  });
});
afterAll(async () => {
  await server?.stop();
  rmSync(tmp, { recursive: true, force: true });
});

/** Runs the container's command with its env; secretKeyRefs take `secrets[name]`. */
function runLikeKubelet(c: V1Container, secrets: Record<string, string>): Promise<{ code: number; out: string }> {
  const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, HOME: join(tmp, "home"), GIT_CONFIG_NOSYSTEM: "1" };
  for (const e of c.env ?? []) {
    const ref = e.valueFrom?.secretKeyRef;
    env[e.name] = ref ? secrets[ref.name!] : e.value;
  }
  const [cmd, ...args] = c.command!;
  return new Promise((resolve) => {
    const child = spawn(cmd, [...args, ...(c.args ?? [])], { env, stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    child.stdout.on("data", (d: Buffer) => (out += d.toString()));
    child.stderr.on("data", (d: Buffer) => (out += d.toString()));
    child.on("close", (code) => resolve({ code: code ?? -1, out }));
  });
}

const passwordSecretObject = (c: V1Container): string =>
  c.env!.find((e) => e.name === "RP_GIT_PASSWORD")!.valueFrom!.secretKeyRef!.name!;

const files = (dir: string) =>
  Object.fromEntries(
    readdirSync(dir)
      .filter((f) => f !== ".git")
      .map((f) => [f, readFileSync(join(dir, f), "utf8")]),
  );

describe("git clone init container", () => {
  it("clones a private repository at a branch with the password from the secret, never in the manifest", async () => {
    const dest = join(tmp, "repos", "configs");
    const c = gitCloneContainer("alpine/git:2.45.2", {
      name: "clone-0",
      url: server.repoUrl("private"),
      ref: "dev",
      dest,
      username: "deploy-bot",
      passwordSecret: "GIT_TOKEN",
      mounts: [],
    });
    const manifest = formatManifests([c], "yaml");
    expect(leaksIn(manifest, [TOKEN], ["deploy-bot"])).toEqual([]);
    const secretObject = passwordSecretObject(c);
    const r = await runLikeKubelet(c, { [secretObject]: TOKEN });
    expect(r.code, r.out).toBe(0);
    expect(files(dest)).toEqual(priv.files.dev);
    expect(r.out).toContain(priv.commits.dev);
    expect(leaksIn(r.out, [TOKEN], ["deploy-bot"])).toEqual([]);
    expect(
      server.requests.some((q) => q.path.startsWith("/private.git") && q.authenticated && q.user === "deploy-bot"),
    ).toBe(true);
  });

  it("fetches a commit id, and reruns cleanly over a previous clone", async () => {
    const dest = join(tmp, "repos", "at-commit");
    const c = gitCloneContainer("x", {
      name: "clone-1",
      url: server.repoUrl("private"),
      ref: priv.commits.first,
      dest,
      username: "deploy-bot",
      passwordSecret: "t",
      mounts: [],
    });
    const secretObject = passwordSecretObject(c);
    for (let i = 0; i < 2; i++) {
      const r = await runLikeKubelet(c, { [secretObject]: TOKEN });
      expect(r.code, r.out).toBe(0);
      expect(files(dest)).toEqual(priv.files.first);
    }
  });

  it("clones into a volume's mount point (the code volume), also over a previous clone and stale files", async () => {
    const dest = join(tmp, "mnt", "code");
    mkdirSync(dest, { recursive: true });
    const c = gitCloneContainer("x", { name: "code", url: server.repoUrl("public"), dest, mounts: [] });
    // A private mount namespace with a tmpfs on dest, as the kubelet mounts an emptyDir; the script runs twice.
    const wrap =
      'mount -t tmpfs none "$RP_GIT_DEST" && echo x > "$RP_GIT_DEST/stale" && echo x > "$RP_GIT_DEST/.stale" && "$@" && "$@" && ls -A "$RP_GIT_DEST"';
    const r = await runLikeKubelet(
      { ...c, command: ["unshare", "-m", "--propagation", "private", "/bin/sh", "-c", wrap, "wrap", ...c.command!] },
      {},
    );
    expect(r.code, r.out).toBe(0);
    const listed = r.out
      .trim()
      .split("\n")
      .slice(-(Object.keys(pub.files.main).length + 1));
    expect(listed.sort()).toEqual([".git", ...Object.keys(pub.files.main)].sort());
  });

  it("as a non-root user (the restricted securityContext) into a root-owned mount point, with HOME=/tmp", async () => {
    const dest = join(tmp, "mnt", "code-nonroot");
    mkdirSync(dest, { recursive: true });
    for (const d of [tmp, join(tmp, "mnt")]) chmodSync(d, 0o755); // the user must reach the mount point
    const c = gitCloneContainer("x", {
      name: "code",
      url: server.repoUrl("private"),
      ref: "dev",
      dest,
      username: "deploy-bot",
      passwordSecret: "t",
      mounts: [],
    });
    c.env = [...c.env!, { name: "HOME", value: "/tmp" }];
    // An emptyDir: root-owned, world-writable; the script runs as 65532 like the rendered pod.
    const wrap =
      'mount -t tmpfs -o mode=1777 none "$RP_GIT_DEST" && setpriv --reuid=65532 --regid=65532 --clear-groups -- "$@"';
    const r = await runLikeKubelet(
      { ...c, command: ["unshare", "-m", "--propagation", "private", "/bin/sh", "-c", wrap, "wrap", ...c.command!] },
      { [passwordSecretObject(c)]: TOKEN },
    );
    expect(r.code, r.out).toBe(0);
    expect(r.out).toContain(priv.commits.dev);
  });

  it("clones a public repository's HEAD without credentials", async () => {
    const dest = join(tmp, "repos", "public");
    const c = gitCloneContainer("x", { name: "clone-2", url: server.repoUrl("public"), dest, mounts: [] });
    expect(c.env!.map((e) => e.name)).not.toContain("RP_GIT_PASSWORD");
    const r = await runLikeKubelet(c, {});
    expect(r.code, r.out).toBe(0);
    expect(files(dest)).toEqual(pub.files.main);
  });

  it("fails (no prompt, no hang) when the password is wrong, without printing it", async () => {
    const dest = join(tmp, "repos", "denied");
    const wrong = "wr0ng-Token-Value-123";
    const c = gitCloneContainer("x", {
      name: "clone-3",
      url: server.repoUrl("private"),
      dest,
      username: "deploy-bot",
      passwordSecret: "t",
      mounts: [],
    });
    const secretObject = passwordSecretObject(c);
    const r = await runLikeKubelet(c, { [secretObject]: wrong });
    expect(r.code).not.toBe(0);
    expect(r.out).toMatch(/Authentication failed|401/);
    expect(leaksIn(r.out, [wrong], ["deploy-bot"])).toEqual([]);
  });
});
