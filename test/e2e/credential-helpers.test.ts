/**
 * Credential helpers and auth.json against the real CNCF registry behind htpasswd: a real
 * `docker-credential-NAME` executable on the PATH answers the password, the push succeeds and skopeo
 * confirms; a wrong password names the helper in the 401; and the secret never leaks into messages, logs or
 * files. auth.json is written by `skopeo login` itself, so the format is podman/skopeo's own.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { sha256 } from "../../src/oci/digest";
import { authJsonKeychain } from "../../src/registry-auth/auth-json";
import { dockerConfigKeychain } from "../../src/registry-auth/docker-config";
import { pushImage } from "../../src/registry/push";
import { startRegistry, type RunningRegistry } from "../fixtures/registry";
import { writeCredHelper } from "../fixtures/cred-helpers";
import { randomImage } from "../fixtures/random-image";
import { writeTwoPlatformLayout } from "../fixtures/multi-platform";
import { runCli } from "../fixtures/cli";
import { pipelineErrorOf as caught } from "../fixtures/errors";

const SKOPEO = "/usr/bin/skopeo";
const USER = "helper-user";
const PASSWORD = "Pa55-from-Helper-e2e-7f3a9c";
const WRONG = "wr0ng-Helper-Pa55-4b1d";

function skopeoRawDigest(ref: string, args: string[]): string {
  const raw = execFileSync(SKOPEO, ["inspect", "--tls-verify=false", ...args, "--raw", `docker://${ref}`], {
    timeout: 120_000,
    stdio: ["ignore", "pipe", "pipe"],
  });
  return sha256(raw);
}

/** Every byte string that would give a secret away. */
function leaks(secret: string): string[] {
  return [secret, Buffer.from(secret).toString("base64"), Buffer.from(`${USER}:${secret}`).toString("base64")];
}

function filesUnder(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...filesUnder(p));
    else out.push(p);
  }
  return out;
}

let tmp: string;
let reg: RunningRegistry;
beforeAll(async () => {
  tmp = mkdtempSync(join(tmpdir(), "cred-helpers-e2e-"));
  reg = await startRegistry({ htpasswd: { user: USER, password: PASSWORD } });
});
afterAll(async () => {
  await reg?.stop();
  rmSync(tmp, { recursive: true, force: true });
});

/** A DOCKER_CONFIG dir with this config.json content, and a bin dir for helpers. */
function setup(name: string, config: unknown): { configDir: string; bin: string; env: Record<string, string> } {
  const configDir = join(tmp, `${name}-config`);
  const bin = join(tmp, `${name}-bin`);
  mkdirSync(configDir);
  mkdirSync(bin);
  writeFileSync(join(configDir, "config.json"), JSON.stringify(config), { mode: 0o600 });
  return { configDir, bin, env: { DOCKER_CONFIG: configDir, PATH: `${bin}:${process.env.PATH}` } };
}

describe("docker credential helpers against a registry with htpasswd", () => {
  /** Files we wrote on purpose and that hold the secret: the helper scripts. */
  const written = new Set<string>();
  const messages: string[] = [];
  const logs: string[] = [];

  it("pushes with credHelpers[host]; skopeo reads the image back with the same credentials", async () => {
    const { bin, env } = setup("good", { credHelpers: { [reg.host]: "e2e-good" } });
    const helper = writeCredHelper(bin, "e2e-good", { answer: { Username: USER, Secret: PASSWORD } });
    written.add(helper.path);
    const image = randomImage({ layers: 2 });
    const result = await pushImage(
      image,
      { registry: reg.host, repository: "e2e/helped", tags: ["v1"] },
      { keychain: dockerConfigKeychain({ env }), log: (l) => logs.push(l) },
    );
    expect(result.digest).toBe(image.digest);
    expect(helper.calls().length).toBeGreaterThan(0);
    expect(new Set(helper.calls())).toEqual(new Set([reg.host]));
    expect(skopeoRawDigest(result.reference, ["--creds", `${USER}:${PASSWORD}`])).toBe(image.digest);
    // And the registry really wants the credentials.
    expect(() => skopeoRawDigest(result.reference, ["--no-creds"])).toThrow(/unauthorized/);
  });

  it("pushes with credsStore when no credHelpers entry matches", async () => {
    const { bin, env } = setup("store", {
      credsStore: "e2e-store",
      credHelpers: { "other.example.com": "e2e-missing" },
      auths: { [reg.host]: {} },
    });
    const helper = writeCredHelper(bin, "e2e-store", { answer: { Username: USER, Secret: PASSWORD } });
    written.add(helper.path);
    const image = randomImage({ layers: 1 });
    const result = await pushImage(
      image,
      { registry: reg.host, repository: "e2e/stored" },
      { keychain: dockerConfigKeychain({ env }), log: (l) => logs.push(l) },
    );
    expect(skopeoRawDigest(result.reference, ["--creds", `${USER}:${PASSWORD}`])).toBe(image.digest);
    expect(new Set(helper.calls())).toEqual(new Set([reg.host]));
  });

  it("`pipeline push` of a two-platform layout runs the credential helper once (one push session, one answer)", async () => {
    const { bin, env } = setup("once", { credHelpers: { [reg.host]: "e2e-once" } });
    const helper = writeCredHelper(bin, "e2e-once", { answer: { Username: USER, Secret: PASSWORD } });
    written.add(helper.path);
    const layout = join(tmp, "two-platform");
    await writeTwoPlatformLayout(layout, join(tmp, "two-platform-blobs"));
    const r = await runCli(["push", layout, "--repository", `${reg.host}/e2e/two-platform`, "--tag", "v1"], {
      env: { ...process.env, ...env },
    });
    messages.push(r.stdout, r.stderr);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(`${reg.host}/e2e/two-platform@sha256:`);
    // The index, both platforms' images and the tag went up through one answer from the helper.
    expect(helper.calls()).toEqual([reg.host]);
  });

  it("a helper answering a wrong password is E_UNAUTHORIZED naming the helper, never the secret", async () => {
    const { configDir, bin, env } = setup("wrong", {
      credHelpers: { [reg.host]: "e2e-wrong" },
      credsStore: "e2e-good",
    });
    written.add(writeCredHelper(bin, "e2e-wrong", { answer: { Username: USER, Secret: WRONG } }).path);
    const e = await caught(
      pushImage(
        randomImage({ layers: 1 }),
        { registry: reg.host, repository: "e2e/helped" },
        { keychain: dockerConfigKeychain({ env }), log: (l) => logs.push(l) },
      ),
    );
    messages.push(e.message, String(e.stack));
    expect(e.code).toBe("E_UNAUTHORIZED");
    expect(e.message).toContain(
      `credHelpers["${reg.host}"] → docker-credential-e2e-wrong (docker config ${join(configDir, "config.json")})`,
    );
  });

  it("a failing helper is E_CRED_HELPER naming it, with its stderr and not its stdout", async () => {
    const { bin, env } = setup("failing", { credHelpers: { [reg.host]: "e2e-failing" } });
    written.add(
      writeCredHelper(bin, "e2e-failing", { fail: { stderr: "vault sealed", stdout: PASSWORD, code: 2 } }).path,
    );
    const e = await caught(
      pushImage(
        randomImage({ layers: 1 }),
        { registry: reg.host, repository: "e2e/helped" },
        { keychain: dockerConfigKeychain({ env }), log: (l) => logs.push(l) },
      ),
    );
    messages.push(e.message, String(e.stack));
    expect(e.code).toBe("E_CRED_HELPER");
    expect(e.message).toContain("docker-credential-e2e-failing");
    expect(e.message).toContain(reg.host);
    expect(e.message).toContain("vault sealed");
  });

  it("leaks the secrets nowhere: messages, log lines, files in the temp dirs", () => {
    expect(logs.length).toBeGreaterThan(0);
    const files = [...filesUnder(tmp), ...filesUnder(reg.dir)].filter((f) => !written.has(f));
    expect(files.length).toBeGreaterThan(written.size);
    for (const secret of [PASSWORD, WRONG]) {
      for (const needle of leaks(secret)) {
        for (const text of [...messages, ...logs]) expect(text).not.toContain(needle);
        for (const f of files) expect(readFileSync(f, "latin1"), f).not.toContain(needle);
      }
    }
  });
});

describe("auth.json written by skopeo login", () => {
  it("pushes with the auth.json skopeo login wrote (REGISTRY_AUTH_FILE), scoped to a repository", async () => {
    const authFile = join(tmp, "containers", "auth.json");
    execFileSync(
      SKOPEO,
      ["login", "--tls-verify=false", "--authfile", authFile, "-u", USER, "--password-stdin", reg.host],
      {
        input: PASSWORD,
        timeout: 60_000,
      },
    );
    // Narrow the entry to a namespace (a form auth.json allows): it must still match e2e/podman.
    const content = JSON.parse(readFileSync(authFile, "utf8")) as { auths: Record<string, unknown> };
    expect(Object.keys(content.auths)).toEqual([reg.host]);
    writeFileSync(authFile, JSON.stringify({ auths: { [`${reg.host}/e2e`]: content.auths[reg.host] } }), {
      mode: 0o600,
    });

    const keychain = authJsonKeychain({ env: { REGISTRY_AUTH_FILE: authFile } });
    const image = randomImage({ layers: 1 });
    const result = await pushImage(image, { registry: reg.host, repository: "e2e/podman", tags: ["v1"] }, { keychain });
    expect(skopeoRawDigest(result.reference, ["--authfile", authFile])).toBe(image.digest);

    const e = await caught(
      pushImage(randomImage({ layers: 1 }), { registry: reg.host, repository: "elsewhere/app" }, { keychain }),
    );
    expect(e.code).toBe("E_UNAUTHORIZED");
    expect(e.message).toContain(`no credentials found; looked in auth.json ${authFile}`);
  });
});
