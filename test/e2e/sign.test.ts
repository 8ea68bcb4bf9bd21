/**
 * Issue #22's signatures, checked against Debian sid's real cosign 3.1.1 (scripts/sid-tools.sh), offline: cosign runs
 * with HTTP(S)_PROXY pointing at a closed port, so anything but the loopback registries fails (its TUF and Rekor
 * requests would). `pipeline push --sign-key` attaches cosign 3's form (a Sigstore bundle referrer) that `cosign verify
 * --key --insecure-ignore-tlog` accepts, on docker-registry 2.8 (fallback tag) and on the dev registry (referrers
 * API); `pipeline verify` accepts cosign's own signatures; a wrong key, a deleted signature, a re-tagged image and a
 * bundle moved onto another image are refused by both. `--provenance` adds a SLSA provenance v1 attestation that
 * `cosign verify-attestation --type slsaprovenance1` accepts and `oras discover` lists; `pipeline run
 * --require-signature` runs (with runc) only an image whose signature verifies.
 */
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { type TempRegistry, tempRegistry } from "../../src/devregistry/testing";
import type { Image } from "../../src/oci/model";
import { writeLayout } from "../../src/layout/write";
import { attachArtifact } from "../../src/registry/artifact";
import { sha256 } from "../../src/oci/digest";
import { BUNDLE_MEDIA_TYPE } from "../../src/sign/bundle";
import { VERSION } from "../../src/version";
import { type CliResult, runCli } from "../fixtures/cli";
import { randomImage } from "../fixtures/random-image";
import { buildRunnerApp, type RunnerApp } from "../fixtures/runner-app";
import { writeTwoPlatformLayout } from "../fixtures/multi-platform";
import { type RunningRegistry, startRegistry } from "../fixtures/registry";
import { attestedStatement, type Cosign, cosignIn, orasReferrers, signingSecrets } from "../fixtures/cosign";
import { leaksIn } from "../../src/credentials/testing";

const tmp = mkdtempSync(join(tmpdir(), "rp-e2e-sign-"));
const PASSWORD = "correct horse " + Math.random().toString(36).slice(2);
let reg: RunningRegistry;
let dev: TempRegistry;
let cosignTool: Cosign;

function cosign(args: string[], opts: { cwd?: string } = {}): Promise<CliResult> {
  return cosignTool.run(args, opts);
}

const cosignVerify = (ref: string, pub = join(tmp, "cosign.pub")) => cosignTool.verify(ref, pub);

/** A pushable layout of a fresh random image (with these manifest annotations). */
async function layoutOf(name: string, annotations?: Record<string, string>): Promise<{ dir: string; image: Image }> {
  let image = randomImage({ layers: 1, layerSize: 512 });
  if (annotations) {
    const manifest = { ...image.manifest, annotations };
    const manifestBytes = Buffer.from(JSON.stringify(manifest));
    image = { ...image, manifest, manifestBytes, digest: sha256(manifestBytes) };
  }
  const dir = join(tmp, name);
  await writeLayout(dir, image);
  return { dir, image };
}

const pushEnv = (extra: NodeJS.ProcessEnv = {}) => ({ ...process.env, COSIGN_PASSWORD: PASSWORD, ...extra });

/** The leak audit of every command that opened the key: no form of the key or its password in its output. */
function expectNoSecrets(r: CliResult): void {
  expect(leaksIn(r.stdout + "\n" + r.stderr, signingSecrets(join(tmp, "cosign.key"), PASSWORD))).toEqual([]);
}

beforeAll(async () => {
  cosignTool = cosignIn(tmp, PASSWORD);
  await cosignTool.generateKeyPair(tmp);
  await cosignTool.generateKeyPair(join(tmp, "other"));
  // A signing config naming no services: cosign 3 signs with the key alone (no Rekor, no TSA, no TUF).
  const sc = await cosign(["signing-config", "create", "--out", join(tmp, "signing-config.json")]);
  if (sc.code !== 0) throw new Error(`cosign signing-config create: ${sc.stderr}`);
  reg = await startRegistry();
  dev = await tempRegistry();
}, 600_000);

afterAll(async () => {
  await reg?.stop();
  await dev?.cleanup();
  rmSync(tmp, { recursive: true, force: true });
});

describe.each([
  ["docker-registry 2.8 (fallback tag)", () => reg.host, "tag"],
  ["the dev registry (referrers API)", () => dev.address, "referrers"],
])("pipeline push --sign-key on %s", (_name, host, via) => {
  test("cosign verify --key accepts the signature, pipeline verify too; neither key nor password is printed", async () => {
    const { dir, image } = await layoutOf(`signed-${via}`);
    const repo = `${host()}/sign/app`;
    const r = await runCli(
      ["push", dir, "--repository", repo, "--tag", "v1", "--sign-key", join(tmp, "cosign.key"), "--json"],
      { env: pushEnv() },
    );
    expect(r.stderr).toContain("signature sha256:");
    expect(r.code).toBe(0);
    expectNoSecrets(r);
    const out = JSON.parse(r.stdout) as { digest: string; signature: { digest: string; via: string } };
    expect(out.digest).toBe(image.digest);
    expect(out.signature.via).toBe(via);

    const c = await cosignVerify(`${repo}@${image.digest}`);
    expect(c.stderr).toContain("The signatures were verified against the specified public key");
    expect(c.code).toBe(0);
    expect(JSON.parse(c.stdout)[0].critical.image["docker-manifest-digest"]).toBe(image.digest);

    const v = await runCli(["verify", `${repo}:v1`, "--key", join(tmp, "cosign.pub"), "--json"]);
    expect(v.stderr).toBe("");
    expect(JSON.parse(v.stdout)).toMatchObject({ digest: image.digest, signature: out.signature.digest, via });

    // Another key: both refuse.
    const wrong = await cosignVerify(`${repo}@${image.digest}`, join(tmp, "other", "cosign.pub"));
    expect(wrong.code).not.toBe(0);
    const w = await runCli(["verify", `${repo}:v1`, "--key", join(tmp, "other", "cosign.pub")]);
    expect(w.code).toBe(1);
    expect(w.stderr).toContain(
      `error[E_SIGNATURE]: ${repo}@${image.digest}: the signature does not verify with the key: bundle ${out.signature.digest}: none of its 1 signature(s) verifies`,
    );
  }, 120_000);

  test("pipeline verify accepts cosign sign's own signature", async () => {
    const { dir, image } = await layoutOf(`cosign-signed-${via}`);
    const repo = `${host()}/sign/by-cosign`;
    expect((await runCli(["push", dir, "--repository", repo, "--tag", "v1"])).code).toBe(0);
    const s = await cosign([
      "sign",
      "--key",
      join(tmp, "cosign.key"),
      "--signing-config",
      join(tmp, "signing-config.json"),
      "--allow-http-registry",
      "-y",
      `${repo}@${image.digest}`,
    ]);
    expect(s.code, s.stderr).toBe(0);
    const v = await runCli(["verify", `${repo}:v1`, "--key", join(tmp, "cosign.pub")]);
    expect(v.stderr).toContain("verified: the signature sha256:");
    expect(v.stdout.trim()).toBe(`${repo}@${image.digest}`);
    expect(v.code).toBe(0);
  }, 120_000);
});

test("a multi-platform image: the index is signed, and cosign verifies the index digest", async () => {
  const dir = join(tmp, "two-platforms");
  const idx = await writeTwoPlatformLayout(dir, join(tmp, "two-platforms-blobs"));
  const repo = `${reg.host}/sign/multi`;
  const r = await runCli(
    ["push", dir, "--repository", repo, "--tag", "v1", "--sign-key", join(tmp, "cosign.key"), "--json"],
    { env: pushEnv() },
  );
  expect(r.code, r.stderr).toBe(0);
  expect((JSON.parse(r.stdout) as { digest: string }).digest).toBe(idx.digest);
  const c = await cosignVerify(`${repo}:v1`);
  expect(c.code, c.stderr).toBe(0);
  expect(JSON.parse(c.stdout)[0].critical.image["docker-manifest-digest"]).toBe(idx.digest);
  const v = await runCli(["verify", `${repo}:v1`, "--key", join(tmp, "cosign.pub")]);
  expect(v.stdout.trim()).toBe(`${repo}@${idx.digest}`);
}, 120_000);

test("--sign-legacy: cosign verify --new-bundle-format=false accepts the sha256-<hex>.sig tag form (and refuses without it)", async () => {
  const plain = await layoutOf("legacy-none");
  const repo = `${reg.host}/sign/legacy`;
  expect(
    (await runCli(["push", plain.dir, "--repository", repo, "--sign-key", join(tmp, "cosign.key")], { env: pushEnv() }))
      .code,
  ).toBe(0);
  const legacyVerify = (digest: string) =>
    cosign([
      "verify",
      "--key",
      join(tmp, "cosign.pub"),
      "--insecure-ignore-tlog",
      "--new-bundle-format=false",
      "--allow-http-registry",
      `${repo}@${digest}`,
    ]);
  expect((await legacyVerify(plain.image.digest)).code).not.toBe(0);

  const { dir, image } = await layoutOf("legacy");
  const r = await runCli(
    ["push", dir, "--repository", repo, "--sign-key", join(tmp, "cosign.key"), "--sign-legacy", "--json"],
    { env: pushEnv() },
  );
  expect(r.code, r.stderr).toBe(0);
  expect(JSON.parse(r.stdout)).toMatchObject({ legacySignature: { tag: `${image.digest.replace(":", "-")}.sig` } });
  const c = await legacyVerify(image.digest);
  expect(c.code, c.stderr).toBe(0);
  expect(JSON.parse(c.stdout)[0]).toMatchObject({
    critical: { image: { "docker-manifest-digest": image.digest }, type: "cosign container image signature" },
  });
  expect((await cosignVerify(`${repo}@${image.digest}`)).code).toBe(0);
  // Another key's legacy signature does not pass for ours.
  const o = await cosign([
    "verify",
    "--key",
    join(tmp, "other", "cosign.pub"),
    "--insecure-ignore-tlog",
    "--new-bundle-format=false",
    "--allow-http-registry",
    `${repo}@${image.digest}`,
  ]);
  expect(o.code).not.toBe(0);
}, 120_000);

test("bazel-push (what NAME_push runs): --sign-key / $PIPELINE_SIGN_KEY at run time, provenance names the Bazel target", async () => {
  // The launcher's runfiles tree, laid out by hand: the CLI command `bazel run //app:app_push -- ...` ends in.
  const runfiles = join(tmp, "runfiles");
  const { image } = await layoutOf("runfiles/ws/app_image");
  const config = join(runfiles, "ws", "app_push.json");
  const repository = "bazel/app";
  writeFileSync(
    config,
    JSON.stringify({
      label: "//app:app_push",
      mode: "push",
      workspace: "ws",
      registry: reg.host,
      repository,
      tags: ["v1"],
      insecure: false,
      env: {},
      images: [{ name: "default", layout: "ws/app_image", digestFile: "ws/app_image.digest" }],
    }),
  );
  const env = { ...pushEnv(), RUNFILES_DIR: runfiles };
  let r = await runCli(["bazel-push", "--config", config, "--provenance"], { env });
  expect(r.code).toBe(2);
  expect(r.stderr).toContain(
    "error[E_USAGE]: //app:app_push: --provenance and --sign-legacy need a key: --sign-key, $PIPELINE_SIGN_KEY or the sign_key attribute",
  );
  r = await runCli(["bazel-push", "--config", config, "--provenance"], {
    env: { ...env, PIPELINE_SIGN_KEY: join(tmp, "cosign.key") },
  });
  expect(r.code, r.stderr).toBe(0);
  expectNoSecrets(r);
  const repo = `${reg.host}/${repository}`;
  expect((await cosignVerify(`${repo}@${image.digest}`)).code).toBe(0);
  const v = await runCli(["verify", `${repo}:v1`, "--key", join(tmp, "cosign.pub"), "--provenance", "--json"]);
  expect(v.code, v.stderr).toBe(0);
  expect(JSON.parse(v.stdout).provenance.predicate.buildDefinition.externalParameters.invocation).toEqual({
    bazelTarget: "//app:app_push",
    tags: ["v1"],
  });
}, 120_000);

describe("rejected signatures (docker-registry 2.8)", () => {
  test("a deleted signature: cosign and pipeline verify both refuse, naming the digest", async () => {
    const { dir, image } = await layoutOf("deleted");
    const repo = `${reg.host}/sign/deleted`;
    const r = await runCli(["push", dir, "--repository", repo, "--sign-key", join(tmp, "cosign.key"), "--json"], {
      env: pushEnv(),
    });
    expect(r.code, r.stderr).toBe(0);
    const sig = (JSON.parse(r.stdout) as { signature: { digest: string } }).signature.digest;
    expect((await cosignVerify(`${repo}@${image.digest}`)).code).toBe(0);
    const del = await fetch(`http://${reg.host}/v2/sign/deleted/manifests/${sig}`, { method: "DELETE" });
    expect(del.status).toBe(202);
    expect((await cosignVerify(`${repo}@${image.digest}`)).code).not.toBe(0);
    const v = await runCli(["verify", `${repo}@${image.digest}`, "--key", join(tmp, "cosign.pub")]);
    expect(v.code).toBe(1);
    expect(v.stderr).toContain(
      `error[E_SIGNATURE]: ${repo}@${image.digest}: the signature does not verify with the key: bundle ${sig}:`,
    );

    // Signing again: the fallback index still names the deleted manifest, which distribution refuses in a new
    // index (MANIFEST_BLOB_UNKNOWN) until it is dropped.
    const again = await runCli(["push", dir, "--repository", repo, "--sign-key", join(tmp, "cosign.key")], {
      env: pushEnv(),
    });
    expect(again.code, again.stderr).toBe(0);
    expect((await cosignVerify(`${repo}@${image.digest}`)).code).toBe(0);
  }, 120_000);

  test("an unsigned image under a signed image's tag, and a signature moved onto it: both refused", async () => {
    const a = await layoutOf("retag-a");
    const b = await layoutOf("retag-b");
    const repo = `${reg.host}/sign/retag`;
    const r = await runCli(
      ["push", a.dir, "--repository", repo, "--tag", "prod", "--sign-key", join(tmp, "cosign.key"), "--json"],
      {
        env: pushEnv(),
      },
    );
    expect(r.code, r.stderr).toBe(0);
    expect((await runCli(["verify", `${repo}:prod`, "--key", join(tmp, "cosign.pub")])).code).toBe(0);
    expect((await runCli(["push", b.dir, "--repository", repo, "--tag", "prod"])).code).toBe(0);
    expect((await cosignVerify(`${repo}:prod`)).code).not.toBe(0);
    let v = await runCli(["verify", `${repo}:prod`, "--key", join(tmp, "cosign.pub")]);
    expect(v.stderr).toContain(
      `error[E_SIGNATURE]: ${repo}@${b.image.digest}: the signature does not verify with the key: no signature found`,
    );

    // A's bundle (its statement names A's digest) attached to B: the envelope verifies, the subject does not match.
    const sigManifest = JSON.parse(
      execFileSync(
        "skopeo",
        [
          "inspect",
          "--raw",
          "--tls-verify=false",
          `docker://${repo}@${(JSON.parse(r.stdout) as { signature: { digest: string } }).signature.digest}`,
        ],
        { encoding: "utf8" },
      ),
    ) as { layers: { digest: string }[] };
    const bundle = Buffer.from(
      await (await fetch(`http://${reg.host}/v2/sign/retag/blobs/${sigManifest.layers[0].digest}`)).arrayBuffer(),
    );
    await attachArtifact(
      { registry: reg.host, repository: "sign/retag" },
      { mediaType: b.image.mediaType, digest: b.image.digest, size: b.image.manifestBytes.length },
      {
        artifactType: BUNDLE_MEDIA_TYPE,
        bytes: bundle,
        annotations: {
          "dev.sigstore.bundle.content": "dsse-envelope",
          "dev.sigstore.bundle.predicateType": "https://sigstore.dev/cosign/sign/v1",
        },
      },
    );
    expect((await cosignVerify(`${repo}@${b.image.digest}`)).code).not.toBe(0);
    v = await runCli(["verify", `${repo}:prod`, "--key", join(tmp, "cosign.pub")]);
    expect(v.code).toBe(1);
    expect(v.stderr).toContain(
      `the signed statement names [{"sha256":"${a.image.digest.slice(7)}"}], not ${b.image.digest}`,
    );
  }, 120_000);
});

describe("signing errors", () => {
  test("a wrong password fails before anything is pushed, naming the key file and not the password", async () => {
    const { dir } = await layoutOf("wrong-password");
    const r = await runCli(
      ["push", dir, "--repository", `${reg.host}/sign/wrongpw`, "--sign-key", join(tmp, "cosign.key")],
      {
        env: pushEnv({ COSIGN_PASSWORD: "not it" }),
      },
    );
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(
      `error[E_SIGNING_KEY]: signing key ${join(tmp, "cosign.key")}: cannot decrypt it (wrong password`,
    );
    expect(r.stderr).not.toContain("not it");
    const tags = await fetch(`http://${reg.host}/v2/sign/wrongpw/tags/list`);
    expect(tags.status).toBe(404);
  }, 60_000);

  test("the password from --sign-password-file; without one, E_SIGNING_KEY says where it is read from", async () => {
    const { dir } = await layoutOf("password-file");
    const file = join(tmp, "password.txt");
    writeFileSync(file, PASSWORD + "\n", { mode: 0o600 });
    const env = { ...process.env };
    delete env.COSIGN_PASSWORD;
    let r = await runCli(
      ["push", dir, "--repository", `${reg.host}/sign/pwfile`, "--sign-key", join(tmp, "cosign.key")],
      { env },
    );
    expect(r.stderr).toContain(
      "error[E_SIGNING_KEY]: the signing key's password is needed: set COSIGN_PASSWORD, or name a file holding it with --sign-password-file FILE or $PIPELINE_SIGN_PASSWORD_FILE",
    );
    r = await runCli(
      [
        "push",
        dir,
        "--repository",
        `${reg.host}/sign/pwfile`,
        "--sign-key",
        join(tmp, "cosign.key"),
        "--sign-password-file",
        file,
      ],
      {
        env,
      },
    );
    expect(r.code, r.stderr).toBe(0);
    expectNoSecrets(r);
    expect((await cosignVerify(r.stdout.trim())).code).toBe(0);
  }, 60_000);

  test("a signing failure after the push fails the push, naming the step and the pushed image", async () => {
    // The real registry holds, at the image's fallback tag, something that is not an index: attaching fails.
    const { dir, image } = await layoutOf("sign-fails");
    const repo = `${reg.host}/sign/fails`;
    const junk = await layoutOf("junk");
    expect((await runCli(["push", junk.dir, "--repository", repo, "--tag", image.digest.replace(":", "-")])).code).toBe(
      0,
    );
    const r = await runCli(["push", dir, "--repository", repo, "--tag", "v1", "--sign-key", join(tmp, "cosign.key")], {
      env: pushEnv(),
    });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(
      `error[E_SIGNING]: signature step: ${repo}@${image.digest} is pushed, but attaching its signature failed (E_REGISTRY:`,
    );
    expect(
      (
        await fetch(`http://${reg.host}/v2/sign/fails/manifests/v1`, {
          method: "HEAD",
          headers: { Accept: image.mediaType },
        })
      ).status,
    ).toBe(200);
  }, 60_000);
});

describe("SLSA provenance (pipeline push --provenance)", () => {
  // The lockfile the image was "built from", named as given (relative to the working directory) and hashed.
  const LOCK = JSON.stringify({ name: "app", lockfileVersion: 3, packages: {} }) + "\n";
  const LOCK_SHA256 = createHash("sha256").update(LOCK).digest("hex");
  beforeAll(() => writeFileSync(join(tmp, "package-lock.json"), LOCK));
  const base = "sha256:" + "1b".repeat(32);
  const commit = "0123456789abcdef0123456789abcdef01234567";
  const annotations = {
    "org.opencontainers.image.base.name": `registry.example/node@${base}`,
    "org.opencontainers.image.base.digest": base,
    "org.opencontainers.image.revision": commit,
    "org.opencontainers.image.source": "https://git.example/team/app",
  };
  const expected = (repository: string) => ({
    buildDefinition: {
      buildType: "urn:rules_pipeline:buildtype:push:v1",
      externalParameters: {
        repository,
        tags: ["v1"],
        platforms: ["linux/amd64"],
        invocation: { command: "pipeline push", repository, tags: ["v1"], platforms: [] },
      },
      resolvedDependencies: [
        { uri: "oci://registry.example/node", name: "base image", digest: { sha256: "1b".repeat(32) } },
        { uri: "git+https://git.example/team/app", name: "source", digest: { gitCommit: commit } },
        { name: "package-lock.json", digest: { sha256: LOCK_SHA256 }, annotations: { role: "lockfile" } },
      ],
    },
    runDetails: { builder: { id: "urn:rules_pipeline:pipeline-cli", version: { rules_pipeline: VERSION } } },
  });

  test.each([
    ["docker-registry 2.8", () => reg.host, "v1.1-referrers-tag"],
    ["the dev registry", () => dev.address, "v1.1-referrers-api"],
  ])(
    "on %s: cosign verify-attestation --type slsaprovenance1 accepts it; oras discover lists SBOM, signature and provenance",
    async (_name, host, spec) => {
      const { dir, image } = await layoutOf(`provenance-${spec}`, annotations);
      const repo = `${host()}/sign/prov`;
      const sbom = join(tmp, "sbom.spdx.json");
      writeFileSync(sbom, JSON.stringify({ spdxVersion: "SPDX-2.3", name: "app", packages: [] }));
      const r = await runCli(
        [
          "push",
          dir,
          "--repository",
          repo,
          "--tag",
          "v1",
          "--sbom",
          sbom,
          "--sign-key",
          join(tmp, "cosign.key"),
          "--provenance",
          "--provenance-lockfile",
          "package-lock.json",
          "--json",
        ],
        { env: pushEnv(), cwd: tmp },
      );
      expect(r.code, r.stderr).toBe(0);
      expectNoSecrets(r);
      const out = JSON.parse(r.stdout) as Record<"sbom" | "signature" | "provenance", { digest: string }>;

      const c = await cosign([
        "verify-attestation",
        "--key",
        join(tmp, "cosign.pub"),
        "--type",
        "slsaprovenance1",
        "--insecure-ignore-tlog",
        "--allow-http-registry",
        `${repo}@${image.digest}`,
      ]);
      expect(c.code, c.stderr).toBe(0);
      const statement = attestedStatement(c.stdout);
      expect(statement.subject).toEqual([{ digest: { sha256: image.digest.slice(7) } }]);
      expect(statement.predicate).toEqual(expected(repo));
      // Another key: refused.
      const wrong = await cosign([
        "verify-attestation",
        "--key",
        join(tmp, "other", "cosign.pub"),
        "--type",
        "slsaprovenance1",
        "--insecure-ignore-tlog",
        "--allow-http-registry",
        `${repo}@${image.digest}`,
      ]);
      expect(wrong.code).not.toBe(0);

      const v = await runCli(["verify", `${repo}:v1`, "--key", join(tmp, "cosign.pub"), "--provenance", "--json"]);
      expect(v.code, v.stderr).toBe(0);
      expect(JSON.parse(v.stdout)).toMatchObject({
        digest: image.digest,
        provenance: { attestation: out.provenance.digest, predicate: expected(repo) },
      });

      expect(await orasReferrers(`${repo}@${image.digest}`, spec)).toEqual(
        [
          [out.sbom.digest, "application/spdx+json"],
          [out.signature.digest, BUNDLE_MEDIA_TYPE],
          [out.provenance.digest, BUNDLE_MEDIA_TYPE],
        ].sort(),
      );
    },
    120_000,
  );

  test("without the provenance referrer, verify --provenance and cosign verify-attestation refuse; the signature still verifies", async () => {
    const { dir, image } = await layoutOf("provenance-deleted", annotations);
    const repo = `${reg.host}/sign/prov-deleted`;
    const r = await runCli(
      [
        "push",
        dir,
        "--repository",
        repo,
        "--sign-key",
        join(tmp, "cosign.key"),
        "--provenance",
        "--provenance-lockfile",
        "package-lock.json",
        "--json",
      ],
      { env: pushEnv(), cwd: tmp },
    );
    expect(r.code, r.stderr).toBe(0);
    const att = (JSON.parse(r.stdout) as { provenance: { digest: string } }).provenance.digest;
    expect((await fetch(`http://${reg.host}/v2/sign/prov-deleted/manifests/${att}`, { method: "DELETE" })).status).toBe(
      202,
    );
    const c = await cosign([
      "verify-attestation",
      "--key",
      join(tmp, "cosign.pub"),
      "--type",
      "slsaprovenance1",
      "--insecure-ignore-tlog",
      "--allow-http-registry",
      `${repo}@${image.digest}`,
    ]);
    expect(c.code).not.toBe(0);
    expect((await runCli(["verify", `${repo}@${image.digest}`, "--key", join(tmp, "cosign.pub")])).code).toBe(0);
    const v = await runCli(["verify", `${repo}@${image.digest}`, "--key", join(tmp, "cosign.pub"), "--provenance"]);
    expect(v.code).toBe(1);
    expect(v.stderr).toContain(
      `error[E_SIGNATURE]: ${repo}@${image.digest}: the attestation (https://slsa.dev/provenance/v1) does not verify with the key: bundle ${att}:`,
    );
  }, 120_000);

  test("--provenance without --sign-key is a usage error", async () => {
    const { dir } = await layoutOf("provenance-nokey");
    const r = await runCli(["push", dir, "--repository", `${reg.host}/sign/nokey`, "--provenance"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("error[E_USAGE]: --provenance needs --sign-key");
    const lock = await runCli(
      ["push", dir, "--repository", `${reg.host}/sign/nokey`, "--provenance-lockfile", "package-lock.json"],
      { cwd: tmp },
    );
    expect(lock.code).toBe(2);
    expect(lock.stderr).toContain("error[E_USAGE]: --provenance-lockfile goes with --provenance");
    // A lockfile that cannot be read fails before anything is pushed.
    const missing = await runCli(
      [
        "push",
        dir,
        "--repository",
        `${reg.host}/sign/nolock`,
        "--sign-key",
        join(tmp, "cosign.key"),
        "--provenance",
        "--provenance-lockfile",
        "gone.json",
      ],
      { env: pushEnv(), cwd: tmp },
    );
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain(`error[E_BAD_INPUT]: lockfile: ${join(tmp, "gone.json")}: no such file`);
    expect((await fetch(`http://${reg.host}/v2/sign/nolock/tags/list`)).status).toBe(404);
  });
});

describe("pipeline run --require-signature (runc, docker-registry 2.8)", () => {
  let app: RunnerApp;
  const cache = () => join(tmp, "run-cache");
  const pub = () => join(tmp, "cosign.pub");
  beforeAll(async () => {
    app = await buildRunnerApp(join(tmp, "app"), reg);
  }, 300_000);

  test("refuses the unsigned image before anything runs, then runs it once signed (flag, and $PIPELINE_REQUIRE_SIGNATURE)", async () => {
    let r = await runCli([
      "run",
      "--image",
      `${reg.host}/run/app:v1`,
      "--require-signature",
      pub(),
      "--cache-dir",
      cache(),
      "--",
      "hello",
    ]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(
      `error[E_SIGNATURE]: ${reg.host}/run/app@${app.digest}: the signature does not verify with the key: no signature found`,
    );
    expect(r.stdout).not.toContain("hello from");

    const signed = await runCli(
      ["push", app.layout, "--repository", `${reg.host}/run/app`, "--sign-key", join(tmp, "cosign.key")],
      {
        env: pushEnv(),
      },
    );
    expect(signed.code, signed.stderr).toBe(0);
    r = await runCli([
      "run",
      "--image",
      `${reg.host}/run/app:v1`,
      "--require-signature",
      pub(),
      "--cache-dir",
      cache(),
      "--",
      "hello",
    ]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain(`of ${reg.host}/run/app@${app.digest}: verifies with ${pub()}`);
    expect(r.stdout).toContain("hello from");
    r = await runCli(["run", "--image", app.ref, "--cache-dir", cache(), "--", "hello"], {
      env: { ...process.env, PIPELINE_REQUIRE_SIGNATURE: join(tmp, "other", "cosign.pub") },
    });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(
      `error[E_SIGNATURE]: ${reg.host}/run/app@${app.digest}: the signature does not verify with the key: bundle sha256:`,
    );
    expect(r.stdout).not.toContain("hello from");
  }, 300_000);

  test("refuses a tampered signature: a signed bundle whose statement was edited", async () => {
    const repo = `${reg.host}/run/tampered`;
    const pushed = await runCli(
      ["push", app.layout, "--repository", repo, "--tag", "v1", "--sign-key", join(tmp, "cosign.key"), "--json"],
      {
        env: pushEnv(),
      },
    );
    expect(pushed.code, pushed.stderr).toBe(0);
    const sig = (JSON.parse(pushed.stdout) as { signature: { digest: string } }).signature.digest;
    const manifest = (await (
      await fetch(`http://${reg.host}/v2/run/tampered/manifests/${sig}`, {
        headers: { Accept: "application/vnd.oci.image.manifest.v1+json" },
      })
    ).json()) as { layers: { digest: string }[] };
    const bundle = (await (
      await fetch(`http://${reg.host}/v2/run/tampered/blobs/${manifest.layers[0].digest}`)
    ).json()) as {
      dsseEnvelope: { payload: string };
    };
    const statement = JSON.parse(Buffer.from(bundle.dsseEnvelope.payload, "base64").toString("utf8")) as {
      predicate: Record<string, unknown>;
    };
    statement.predicate = { note: "edited after signing" };
    bundle.dsseEnvelope.payload = Buffer.from(JSON.stringify(statement)).toString("base64");
    // Only the edited bundle is left: the genuine one is deleted.
    expect((await fetch(`http://${reg.host}/v2/run/tampered/manifests/${sig}`, { method: "DELETE" })).status).toBe(202);
    const subject = { mediaType: app.image.mediaType, digest: app.digest, size: app.image.manifestBytes.length };
    await attachArtifact({ registry: reg.host, repository: "run/tampered" }, subject, {
      artifactType: BUNDLE_MEDIA_TYPE,
      bytes: Buffer.from(JSON.stringify(bundle)),
      annotations: {
        "dev.sigstore.bundle.content": "dsse-envelope",
        "dev.sigstore.bundle.predicateType": "https://sigstore.dev/cosign/sign/v1",
      },
    });
    expect((await cosignVerify(`${repo}@${app.digest}`)).code).not.toBe(0);
    const r = await runCli([
      "run",
      "--image",
      `${repo}:v1`,
      "--require-signature",
      pub(),
      "--cache-dir",
      cache(),
      "--",
      "hello",
    ]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(
      `error[E_SIGNATURE]: ${repo}@${app.digest}: the signature does not verify with the key: bundle sha256:`,
    );
    expect(r.stderr).toContain("none of its 1 signature(s) verifies with the key");
    expect(r.stdout).not.toContain("hello from");
  }, 300_000);

  test("a spec's requireSignature (relative to the spec file) is the policy of `pipeline run SPEC`", async () => {
    mkdirSync(join(tmp, "spec-dir"), { recursive: true });
    writeFileSync(
      join(tmp, "spec-dir", "spec.yaml"),
      `image: ${reg.host}/run/app@${app.digest}\nrequireSignature: ../other/cosign.pub\n`,
    );
    const r = await runCli(["run", join(tmp, "spec-dir", "spec.yaml"), "--cache-dir", cache(), "--", "hello"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(
      `error[E_SIGNATURE]: ${reg.host}/run/app@${app.digest}: the signature does not verify with the key: `,
    ); // signed by the earlier test with our key, or not at all
    expect(r.stdout).not.toContain("hello from");
  }, 120_000);

  test("refuses an image from a local layout (no signature to verify); --on kubernetes: sign-cluster.test.ts", async () => {
    const r = await runCli([
      "run",
      "--image",
      `oci:${app.layout}`,
      "--require-signature",
      pub(),
      "--cache-dir",
      cache(),
      "--",
      "hello",
    ]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(
      `error[E_SIGNATURE]: oci:${app.layout}: a signature is required (--require-signature ${pub()}) and an image in a local layout has none to verify`,
    );
  }, 120_000);
});
