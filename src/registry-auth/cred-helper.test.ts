import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PipelineError } from "../errors";
import { writeCredHelper } from "../../test/fixtures/cred-helpers";
import {
  credentialHelperKeychain,
  findHelper,
  getFromHelper,
  helperServerUrl,
  helperSource,
  searchPath,
} from "./cred-helper";

let tmp: string;
beforeAll(() => {
  tmp = mkdtempSync(join(tmpdir(), "cred-helper-test-"));
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const SECRET = "hunter2-Secret-Value-xyz";
const b64 = (s: string) => Buffer.from(s).toString("base64");

/** A fresh bin dir, and an env whose PATH puts it first. */
function bin(): { dir: string; env: Record<string, string> } {
  const dir = mkdtempSync(join(tmp, "bin-"));
  return { dir, env: { PATH: `${dir}:${process.env.PATH}` } };
}

async function caught(p: Promise<unknown>): Promise<PipelineError> {
  const e = await p.then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(PipelineError);
  return e as PipelineError;
}

function expectNoSecret(text: string): void {
  expect(text).not.toContain(SECRET);
  expect(text).not.toContain(b64(SECRET));
}

describe("helperServerUrl", () => {
  it("gives Docker Hub's legacy URL for every Hub alias and the host otherwise", () => {
    for (const h of ["docker.io", "index.docker.io", "registry-1.docker.io", "Docker.IO"]) {
      expect(helperServerUrl(h)).toBe("https://index.docker.io/v1/");
    }
    expect(helperServerUrl("ghcr.io")).toBe("ghcr.io");
    expect(helperServerUrl("127.0.0.1:5000")).toBe("127.0.0.1:5000");
  });
});

describe("helperSource", () => {
  it("reads like the setting, the executable, then the file", () => {
    expect(
      helperSource("gh", {
        registry: "ghcr.io",
        setting: 'credHelpers["ghcr.io"]',
        file: "docker config /c/config.json",
      }),
    ).toBe('credHelpers["ghcr.io"] → docker-credential-gh (docker config /c/config.json)');
    expect(helperSource("desktop", { registry: "x", setting: "credsStore", file: "docker config /c" })).toBe(
      "credsStore → docker-credential-desktop (docker config /c)",
    );
    expect(helperSource("pass", { registry: "x" })).toBe("docker-credential-pass");
  });
});

describe("findHelper", () => {
  it("searches absolute PATH entries in order and skips non-executable files", () => {
    const a = mkdtempSync(join(tmp, "a-"));
    const b = mkdtempSync(join(tmp, "b-"));
    writeFileSync(join(a, "docker-credential-x"), "not executable");
    chmodSync(join(a, "docker-credential-x"), 0o644);
    writeCredHelper(b, "x", { notFound: true });
    const env = { PATH: `relative/dir::${a}:${b}` };
    expect(searchPath(env)).toEqual([a, b]);
    expect(findHelper("x", env)).toBe(join(b, "docker-credential-x"));
    expect(findHelper("y", env)).toBeUndefined();
  });
});

describe("getFromHelper", () => {
  it("returns the helper's user name and secret, having sent the server URL on stdin (no newline)", async () => {
    const { dir, env } = bin();
    const h = writeCredHelper(dir, "good", { answer: { Username: "alice", Secret: SECRET } });
    expect(await getFromHelper("good", { registry: "ghcr.io" }, { env })).toEqual({
      username: "alice",
      password: SECRET,
    });
    expect(await getFromHelper("good", { registry: "registry-1.docker.io" }, { env })).toEqual({
      username: "alice",
      password: SECRET,
    });
    expect(h.calls()).toEqual(["ghcr.io", "https://index.docker.io/v1/"]);
  });

  it("maps Username <token> to an identity token", async () => {
    const { dir, env } = bin();
    writeCredHelper(dir, "tok", { answer: { Username: "<token>", Secret: SECRET } });
    expect(await getFromHelper("tok", { registry: "myreg.azurecr.io" }, { env })).toEqual({ identityToken: SECRET });
  });

  it('treats "credentials not found" (stdout or stderr, non-zero exit) and an empty Secret as no credential', async () => {
    const { dir, env } = bin();
    writeCredHelper(dir, "none", { notFound: true });
    writeCredHelper(dir, "none2", { fail: { stderr: "credentials not found in native keychain", code: 3 } });
    writeCredHelper(dir, "empty", { raw: '{"ServerURL":"x","Username":"","Secret":""}' });
    for (const name of ["none", "none2", "empty"])
      expect(await getFromHelper(name, { registry: "quay.io" }, { env })).toBeUndefined();
  });

  it("reports another failure with the helper's stderr (truncated), the registry and the setting, never stdout", async () => {
    const { dir, env } = bin();
    writeCredHelper(dir, "broken", {
      fail: { stderr: `keyring is locked\n${"x".repeat(1000)}`, stdout: `{"Secret":"${SECRET}"}`, code: 4 },
    });
    const e = await caught(
      getFromHelper(
        "broken",
        { registry: "ghcr.io", setting: 'credHelpers["ghcr.io"]', file: "docker config /c/config.json" },
        { env },
      ),
    );
    expect(e.code).toBe("E_CRED_HELPER");
    expect(e.message).toContain("docker-credential-broken");
    expect(e.message).toContain("ghcr.io");
    expect(e.message).toContain('credHelpers["ghcr.io"] in docker config /c/config.json');
    expect(e.message).toContain("failed (exit 4): keyring is locked x");
    expect(e.message).toContain("stdout");
    expect(e.message.length).toBeLessThan(700);
    expectNoSecret(e.message);
    expectNoSecret(String(e.stack));
  });

  it("says malformed JSON without echoing it", async () => {
    const { dir, env } = bin();
    writeCredHelper(dir, "garbled", { raw: `{"Username":"alice","Secret":"${SECRET}"` });
    writeCredHelper(dir, "typed", { raw: `{"Username":42,"Secret":"${SECRET}"}` });
    writeCredHelper(dir, "list", { raw: `["${SECRET}"]` });
    for (const name of ["garbled", "typed", "list"]) {
      const e = await caught(getFromHelper(name, { registry: "ghcr.io" }, { env }));
      expect(e.code).toBe("E_CRED_HELPER");
      expect(e.message).toContain(`docker-credential-${name}`);
      expect(e.message).toContain("malformed JSON");
      expectNoSecret(e.message);
    }
  });

  it("names the helper and the PATH it searched when the helper is missing", async () => {
    const { dir, env } = bin();
    const e = await caught(getFromHelper("nowhere", { registry: "ghcr.io", setting: "credsStore" }, { env }));
    expect(e.code).toBe("E_CRED_HELPER");
    expect(e.message).toContain("docker-credential-nowhere");
    expect(e.message).toContain("not found on PATH");
    expect(e.message).toContain(dir);
    expect(e.message).toContain("credsStore");
    const empty = await caught(getFromHelper("nowhere", { registry: "ghcr.io" }, { env: {} }));
    expect(empty.message).toContain("PATH is empty");
  });

  it("kills a helper that hangs past the timeout", async () => {
    const { dir, env } = bin();
    const h = writeCredHelper(dir, "slow", { hang: { seconds: 30 } });
    const started = Date.now();
    const e = await caught(getFromHelper("slow", { registry: "ghcr.io" }, { env, helperTimeoutMs: 300 }));
    expect(Date.now() - started).toBeLessThan(5000);
    expect(e.code).toBe("E_CRED_HELPER");
    expect(e.message).toContain("docker-credential-slow");
    expect(e.message).toContain("did not answer within 0.3 s");
    expect(h.calls()).toEqual(["ghcr.io"]);
  });

  it("reports a helper killed by a signal", async () => {
    const { dir } = bin();
    const path = join(dir, "docker-credential-suicide");
    writeFileSync(path, "#!/bin/bash\ncat >/dev/null\nkill -9 $$\n");
    chmodSync(path, 0o755);
    const e = await caught(
      getFromHelper("suicide", { registry: "ghcr.io" }, { env: { PATH: `${dir}:${process.env.PATH}` } }),
    );
    expect(e.message).toContain("killed by SIGKILL");
  });

  it("refuses helper names that are paths", async () => {
    const e = await caught(
      getFromHelper("../../bin/sh", { registry: "ghcr.io", setting: "credsStore" }, { env: { PATH: "/usr/bin" } }),
    );
    expect(e.code).toBe("E_CRED_HELPER");
    expect(e.message).toContain("invalid credential helper name");
  });

  it("passes the environment given (and HOME from opts.home) to the helper", async () => {
    const { dir, env } = bin();
    const path = join(dir, "docker-credential-envy");
    writeFileSync(
      path,
      '#!/bin/bash\ncat >/dev/null\nprintf \'{"Username":"%s","Secret":"%s"}\' "$HOME" "${MARK:-unset}"\n',
    );
    chmodSync(path, 0o755);
    expect(await getFromHelper("envy", { registry: "r.io" }, { env: { ...env, MARK: "m1" }, home: "/home/h" })).toEqual(
      {
        username: "/home/h",
        password: "m1",
      },
    );
  });
});

describe("credentialHelperKeychain", () => {
  it("asks one helper about any registry", async () => {
    const { dir, env } = bin();
    writeCredHelper(dir, "all", { answer: { Username: "u", Secret: SECRET } });
    const k = credentialHelperKeychain("all", { env });
    expect(await k.resolve("r.example.com")).toEqual({
      credential: { username: "u", password: SECRET },
      source: "docker-credential-all",
    });
    expect(k.describe()).toBe("credential helper docker-credential-all");
  });
});
