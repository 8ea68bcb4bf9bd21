import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  closeSync,
  mkdirSync,
  openSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PipelineError } from "../errors";
import {
  addCredential,
  type CredentialEntry,
  credentialsConfigPath,
  type CredentialsConfig,
  emptyConfig,
  loadCredentialsConfig,
  matchCredential,
  removeCredential,
  saveCredentialsConfig,
} from "./config";

let tmp: string;
beforeAll(() => {
  tmp = mkdtempSync(join(tmpdir(), "credentials-config-test-"));
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function writeConfig(content: unknown): string {
  const dir = mkdtempSync(join(tmp, "cfg-"));
  const path = join(dir, "credentials.json");
  writeFileSync(path, typeof content === "string" ? content : JSON.stringify(content));
  return path;
}

function loadError(content: unknown): PipelineError {
  const path = writeConfig(content);
  try {
    loadCredentialsConfig({ path });
  } catch (e) {
    expect(e).toBeInstanceOf(PipelineError);
    expect((e as PipelineError).code).toBe("E_CREDENTIALS_CONFIG");
    expect((e as PipelineError).message).toContain(path);
    return e as PipelineError;
  }
  throw new Error(`expected ${JSON.stringify(content)} to be rejected`);
}

const fileSource = { type: "file", path: "/creds/ghcr" };
const entry = (over: Record<string, unknown>) => ({
  version: 1,
  credentials: [{ service: "docker", url: "ghcr.io", source: fileSource, ...over }],
});
const withSource = (source: unknown, service = "docker") => ({
  version: 1,
  credentials: [{ service, url: service === "git" ? "https://github.com/" : "ghcr.io", source }],
});

describe("credentialsConfigPath", () => {
  it("uses $PIPELINE_CREDENTIALS_FILE, else $XDG_CONFIG_HOME, else ~/.config", () => {
    expect(
      credentialsConfigPath({ env: { PIPELINE_CREDENTIALS_FILE: "/x/c.json", XDG_CONFIG_HOME: "/xdg" }, home: "/h" }),
    ).toBe("/x/c.json");
    expect(credentialsConfigPath({ env: { XDG_CONFIG_HOME: "/xdg" }, home: "/h" })).toBe(
      "/xdg/rules_pipeline/credentials.json",
    );
    expect(credentialsConfigPath({ env: { XDG_CONFIG_HOME: "relative" }, home: "/h" })).toBe(
      "/h/.config/rules_pipeline/credentials.json",
    );
    expect(credentialsConfigPath({ env: {}, home: "/h" })).toBe("/h/.config/rules_pipeline/credentials.json");
    expect(credentialsConfigPath({ path: "/p.json", env: { PIPELINE_CREDENTIALS_FILE: "/x" } })).toBe("/p.json");
  });
});

describe("loadCredentialsConfig", () => {
  it("treats a missing file as empty", () => {
    const got = loadCredentialsConfig({ env: { PIPELINE_CREDENTIALS_FILE: join(tmp, "absent", "c.json") } });
    expect(got).toEqual({ path: join(tmp, "absent", "c.json"), exists: false, config: emptyConfig() });
  });

  it("reads every source kind", () => {
    const config = {
      version: 1,
      credentials: [
        { service: "docker", url: "ghcr.io/org/", source: { type: "file", path: "~/.creds/ghcr" } },
        {
          service: "docker",
          url: "localhost:5000",
          source: { type: "env", username: "REG_USER", password: "REG_PASS" },
        },
        { service: "git", url: "https://github.com/org/", source: { type: "env", token: "GITHUB_TOKEN" } },
        {
          service: "git",
          url: "git@github.com",
          source: { type: "aws-secret", secretId: "ci/deploy-key", region: "eu-west-1", profile: "ci" },
        },
      ],
    };
    const path = writeConfig(config);
    expect(loadCredentialsConfig({ path })).toEqual({ path, exists: true, config });
  });

  // Each bad case: the field the message must name and the value it must quote.
  const cases: [string, unknown, string, string][] = [
    ["not JSON", "{ nope", "not valid JSON", ""],
    ["not an object", "[1]", "expected a JSON object", "[1]"],
    ["wrong version", { version: 2, credentials: [] }, "version", "2"],
    ["credentials not an array", { version: 1, credentials: { a: 1 } }, "credentials", '{"a":1}'],
    ["entry not an object", { version: 1, credentials: ["ghcr.io"] }, "credentials[0]", '"ghcr.io"'],
    ["unknown service", entry({ service: "svn" }), "credentials[0].service", '"svn"'],
    ["missing url", entry({ url: undefined }), "credentials[0].url", "nothing"],
    ["docker url with a tag", entry({ url: "ghcr.io/org:v1" }), "credentials[0].url", '"ghcr.io/org:v1"'],
    [
      "git url with another scheme",
      { version: 1, credentials: [{ service: "git", url: "ftp://host/x", source: fileSource }] },
      "credentials[0].url",
      '"ftp://host/x"',
    ],
    ["unknown source type", withSource({ type: "vault", path: "x" }), "credentials[0].source.type", '"vault"'],
    [
      "relative file path",
      withSource({ type: "file", path: "creds/ghcr" }),
      "credentials[0].source.path",
      '"creds/ghcr"',
    ],
    ["file path not a string", withSource({ type: "file", path: 7 }), "credentials[0].source.path", "7"],
    [
      "env variable name invalid",
      withSource({ type: "env", username: "REG USER", password: "P" }),
      "credentials[0].source.username",
      '"REG USER"',
    ],
    ["env password missing", withSource({ type: "env", username: "U" }), "credentials[0].source.password", "nothing"],
    [
      "env token and user",
      withSource({ type: "env", token: "T", username: "U", password: "P" }, "git"),
      "credentials[0].source",
      "not both",
    ],
    [
      "env token for docker",
      withSource({ type: "env", token: "T" }),
      "credentials[0].source.token",
      "need a user name",
    ],
    ["aws secret id missing", withSource({ type: "aws-secret" }), "credentials[0].source.secretId", "nothing"],
    [
      "aws region malformed",
      withSource({ type: "aws-secret", secretId: "x", region: "Europe" }),
      "credentials[0].source.region",
      '"Europe"',
    ],
    [
      "second entry bad",
      { version: 1, credentials: [entry({}).credentials[0], { service: "docker", url: "", source: fileSource }] },
      "credentials[1].url",
      '""',
    ],
    [
      "duplicate URL after normalization",
      {
        version: 1,
        credentials: [entry({}).credentials[0], { service: "docker", url: "GHCR.io/", source: fileSource }],
      },
      "credentials[1].url",
      "credentials[0].url",
    ],
  ];
  for (const [name, content, field, value] of cases) {
    it(`rejects ${name}, naming the file, ${field} and ${value || "the position"}`, () => {
      const err = loadError(content);
      expect(err.message).toContain(field);
      if (value) expect(err.message).toContain(value);
    });
  }

  it("names an unknown field but never shows its value (it may be a pasted secret)", () => {
    const err = loadError(withSource({ type: "file", path: "/x", password: "s3cr3t-pasted" }));
    expect(err.message).toContain('credentials[0].source: unknown field "password"');
    expect(err.message).not.toContain("s3cr3t-pasted");
    const err2 = loadError({ version: 1, credentials: [], token: "tok-pasted-123" });
    expect(err2.message).toContain('unknown field "token"');
    expect(err2.message).not.toContain("tok-pasted-123");
  });

  it("keeps JSON syntax errors to a position (V8 quotes the text around them)", () => {
    const err = loadError('{"version": 1, "credentials": [], "x": s3cr3t-in-text}');
    expect(err.message).not.toContain("s3cr3t-in-text");
  });
});

describe("saveCredentialsConfig", () => {
  const config: CredentialsConfig = {
    version: 1,
    credentials: [{ service: "docker", url: "ghcr.io", source: { type: "file", path: "/c" } }],
  };

  it("writes mode 0600 into a new 0700 directory, leaving no temp file", () => {
    const path = join(tmp, "save", "nested", "credentials.json");
    saveCredentialsConfig(path, config);
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(statSync(join(tmp, "save", "nested")).mode & 0o777).toBe(0o700);
    expect(readdirSync(join(tmp, "save", "nested"))).toEqual(["credentials.json"]);
    expect(loadCredentialsConfig({ path }).config).toEqual(config);
  });

  it("replaces the file by rename: a reader holding the old file keeps the old content", () => {
    const path = join(tmp, "save-rename", "credentials.json");
    saveCredentialsConfig(path, config);
    const before = statSync(path).ino;
    const oldText = readFileSync(path, "utf8");
    const reader = openSync(path, "r");
    const updated = addCredential(config, {
      service: "git",
      url: "git@github.com",
      source: { type: "file", path: "/k" },
    }).config;
    saveCredentialsConfig(path, updated);
    expect(readFileSync(reader, "utf8")).toBe(oldText);
    closeSync(reader);
    expect(statSync(path).ino).not.toBe(before);
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(JSON.parse(readFileSync(path, "utf8"))).toEqual(updated);
    expect(readdirSync(join(tmp, "save-rename"))).toEqual(["credentials.json"]);
  });

  it("refuses to write an invalid config and leaves the old file and no temp file", () => {
    const dir = join(tmp, "save-invalid");
    const path = join(dir, "credentials.json");
    saveCredentialsConfig(path, config);
    const bad = {
      version: 1,
      credentials: [{ service: "docker", url: "ghcr.io", source: { type: "file", path: "relative" } }],
    } as unknown as CredentialsConfig;
    expect(() => saveCredentialsConfig(path, bad)).toThrow(/source\.path/);
    expect(loadCredentialsConfig({ path }).config).toEqual(config);
    expect(readdirSync(dir)).toEqual(["credentials.json"]);
  });

  it("cleans up the temp file when the rename fails", () => {
    const dir = join(tmp, "save-fail");
    mkdirSync(join(dir, "credentials.json"), { recursive: true }); // a directory in the way: rename fails
    writeFileSync(join(dir, "credentials.json", "x"), "");
    expect(() => saveCredentialsConfig(join(dir, "credentials.json"), config)).toThrow(/cannot write credentials file/);
    expect(readdirSync(dir)).toEqual(["credentials.json"]);
  });
});

describe("add, remove, match", () => {
  const e = (service: "docker" | "git", url: string, path = `/c/${url.replace(/\W/g, "_")}`): CredentialEntry => ({
    service,
    url,
    source: { type: "file", path },
  });
  const config: CredentialsConfig = {
    version: 1,
    credentials: [
      e("docker", "ghcr.io"),
      e("docker", "ghcr.io/org/"),
      e("docker", "ghcr.io/org/team"),
      e("docker", "docker.io/library"),
      e("docker", "localhost:5000"),
      e("git", "https://github.com/"),
      e("git", "https://github.com/org/"),
      e("git", "git@github.com"),
      e("git", "ssh://deploy@git.example.com/srv/"),
    ],
  };
  const match = (service: "docker" | "git", url: string) => matchCredential(config, service, url)?.url;

  it("picks the longest docker prefix at a segment boundary", () => {
    expect(match("docker", "ghcr.io/org/team/app")).toBe("ghcr.io/org/team");
    expect(match("docker", "ghcr.io/org/teamx/app")).toBe("ghcr.io/org/");
    expect(match("docker", "ghcr.io/org/app")).toBe("ghcr.io/org/");
    expect(match("docker", "ghcr.io/organization/app")).toBe("ghcr.io");
    expect(match("docker", "GHCR.IO/other")).toBe("ghcr.io");
    expect(match("docker", "localhost:5000/x")).toBe("localhost:5000");
    expect(match("docker", "localhost:5001/x")).toBeUndefined();
    expect(match("docker", "quay.io/x")).toBeUndefined();
  });

  it("folds Docker Hub aliases on both sides", () => {
    for (const host of ["index.docker.io", "docker.io", "registry-1.docker.io", "registry.hub.docker.com"]) {
      expect(match("docker", `${host}/library/node`)).toBe("docker.io/library");
    }
    expect(match("docker", "index.docker.io/someone/node")).toBeUndefined();
  });

  it("picks the longest git prefix and keeps transports apart", () => {
    expect(match("git", "https://github.com/org/repo.git")).toBe("https://github.com/org/");
    expect(match("git", "https://GITHUB.com/orgx/repo")).toBe("https://github.com/");
    expect(match("git", "git@github.com:org/repo.git")).toBe("git@github.com");
    expect(match("git", "ssh://git@github.com/org/repo")).toBe("git@github.com");
    expect(match("git", "ssh://deploy@git.example.com/srv/app.git")).toBe("ssh://deploy@git.example.com/srv/");
    expect(match("git", "ssh://other@git.example.com/srv/app.git")).toBeUndefined();
    expect(match("git", "http://github.com/org/repo")).toBeUndefined();
    expect(match("docker", "github.com")).toBeUndefined();
  });

  it("adds, replaces by normalized URL and removes", () => {
    let c = emptyConfig();
    c = addCredential(c, e("docker", "ghcr.io/org/")).config;
    const replaced = addCredential(c, e("docker", "GHCR.io/org", "/new"));
    expect(replaced.replaced?.source).toEqual({ type: "file", path: "/c/ghcr_io_org_" });
    expect(replaced.config.credentials).toEqual([e("docker", "GHCR.io/org", "/new")]);
    expect(removeCredential(replaced.config, "git", "https://ghcr.io/org").removed).toBeUndefined();
    expect(removeCredential(replaced.config, "docker", "ghcr.io/other").removed).toBeUndefined();
    const removed = removeCredential(replaced.config, "docker", "ghcr.io/org/");
    expect(removed.removed?.url).toBe("GHCR.io/org");
    expect(removed.config.credentials).toEqual([]);
  });

  it("validates what it adds", () => {
    expect(() =>
      addCredential(emptyConfig(), {
        service: "docker",
        url: "ghcr.io",
        source: { type: "env", username: "A B", password: "P" },
      }),
    ).toThrow(/source\.username: expected an environment variable name .*"A B"/);
  });
});
