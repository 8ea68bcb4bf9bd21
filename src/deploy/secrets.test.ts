import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { resolveNamedSecret, resolveRegistrySecret, secretEnvName, secretsDir } from "./secrets";
import { pipelineErrorOfSync } from "../../test/fixtures/errors";

const dir = mkdtempSync(join(tmpdir(), "deploy-secrets-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("resolveNamedSecret", () => {
  it("maps names to environment variables", () => {
    expect(secretEnvName("git-bot")).toBe("PIPELINE_SECRET_GIT_BOT");
    expect(secretEnvName("team.registry")).toBe("PIPELINE_SECRET_TEAM_REGISTRY");
  });

  it("looks in the environment first, then the secrets directory", () => {
    writeFileSync(join(dir, "git-bot"), "from-file\n");
    expect(resolveNamedSecret("git-bot", { env: { PIPELINE_SECRETS_DIR: dir } })).toBe("from-file");
    expect(
      resolveNamedSecret("git-bot", { env: { PIPELINE_SECRETS_DIR: dir, PIPELINE_SECRET_GIT_BOT: "from-env" } }),
    ).toBe("from-env");
  });

  it("finds the directory from XDG_CONFIG_HOME or the home directory", () => {
    expect(secretsDir({ env: { XDG_CONFIG_HOME: "/x" } })).toBe("/x/rules_pipeline/secrets");
    expect(secretsDir({ env: {}, home: "/home/u" })).toBe("/home/u/.config/rules_pipeline/secrets");
  });

  it("a missing secret says where it was looked for", () => {
    const err = pipelineErrorOfSync(() => resolveNamedSecret("nope", { env: { PIPELINE_SECRETS_DIR: dir } }));
    expect(err.code).toBe("E_SECRET_NOT_FOUND");
    expect(err.message).toBe(`secret "nope" not found: set PIPELINE_SECRET_NOPE or create ${join(dir, "nope")}`);
  });

  it("an empty secret and a bad name are refused", () => {
    writeFileSync(join(dir, "empty"), "\n");
    expect(pipelineErrorOfSync(() => resolveNamedSecret("empty", { env: { PIPELINE_SECRETS_DIR: dir } })).code).toBe(
      "E_SECRET_EMPTY",
    );
    expect(
      pipelineErrorOfSync(() => resolveNamedSecret("../etc/passwd", { env: { PIPELINE_SECRETS_DIR: dir } })).code,
    ).toBe("E_SECRET_NAME");
  });

  it("a secret that cannot be read (a directory) is E_SECRET_READ naming the file and the reason", () => {
    mkdirSync(join(dir, "a-dir"));
    const err = pipelineErrorOfSync(() => resolveNamedSecret("a-dir", { env: { PIPELINE_SECRETS_DIR: dir } }));
    expect(err.code).toBe("E_SECRET_READ");
    expect(err.message).toBe(`secret "a-dir": ${join(dir, "a-dir")}: a directory, not a regular file`);
  });

  it("a secret that is a FIFO is refused without blocking, by the one reader of named files (issue #72)", () => {
    execFileSync("mkfifo", [join(dir, "a-fifo")]);
    const err = pipelineErrorOfSync(() => resolveNamedSecret("a-fifo", { env: { PIPELINE_SECRETS_DIR: dir } }));
    expect(err.code).toBe("E_SECRET_READ");
    expect(err.message).toBe(`secret "a-fifo": ${join(dir, "a-fifo")}: a FIFO (named pipe), not a regular file`);
  });
});

describe("resolveRegistrySecret", () => {
  const env = { PIPELINE_SECRETS_DIR: dir };

  it("reads JSON or two lines", () => {
    writeFileSync(join(dir, "reg-json"), JSON.stringify({ username: "u", password: "p4ss" }));
    writeFileSync(join(dir, "reg-lines"), "u\np4ss\n");
    expect(resolveRegistrySecret("reg-json", { env })).toEqual({ username: "u", password: "p4ss" });
    expect(resolveRegistrySecret("reg-lines", { env })).toEqual({ username: "u", password: "p4ss" });
  });

  it("refuses other shapes without echoing the value", () => {
    for (const [name, value] of [
      ["reg-one-line", "t0ken-only-value"],
      ["reg-bad-json", '{"username": "u", "pass": "t0ken-only-value"}'],
      ["reg-broken-json", '{"username": "t0ken-only-value"'],
      ["reg-three-lines", "u\nt0ken-only-value\nextra"],
    ]) {
      writeFileSync(join(dir, name), value);
      const err = pipelineErrorOfSync(() => resolveRegistrySecret(name, { env }));
      expect(err.code).toBe("E_SECRET_FORMAT");
      expect(err.message).toContain(`secret "${name}"`);
      expect(err.message).not.toContain("t0ken-only-value");
    }
  });
});
