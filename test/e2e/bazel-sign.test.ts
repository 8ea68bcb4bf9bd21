/**
 * Issue #22 through Bazel 4.2.3: `pipeline(sign_key = "//keys:cosign.key")` makes `bazel run //pkg:NAME_push` sign
 * what it pushed and attach a signed SLSA provenance, which Debian sid's cosign 3.1.1 accepts (`verify --key`,
 * `verify-attestation --type slsaprovenance1`) and refuses once the image's tag moved to another digest or the
 * signature referrer is deleted; `oras discover` lists the SBOM, the signature and the provenance. The key is a source
 * file the runfiles tree links to: no copy in the output base. The leak audit: neither the key (its file's text, the
 * decrypted PKCS#8 DER, the private scalar) nor its password is in any command's output, Bazel's output base
 * (command.log and java.log included) or the disk cache, the password coming from $PIPELINE_SIGN_PASSWORD_FILE or
 * $COSIGN_PASSWORD (Bazel logs its client environment in java.log, with the values of names like *PASS* removed).
 */
import { execFileSync } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import {
  cpSync,
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  realpathSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { filesLeaking, leaksIn } from "../../src/credentials/testing";
import { writeLayout } from "../../src/layout/write";
import { BUNDLE_MEDIA_TYPE } from "../../src/sign/bundle";
import type { ProvenancePredicate } from "../../src/sign/provenance";
import { bazel, type BazelResult, makeConsumerWorkspace, QUIET, discard } from "../fixtures/bazel";
import { runCli } from "../fixtures/cli";
import { attestedStatement, type Cosign, cosignIn, orasReferrers, signingSecrets } from "../fixtures/cosign";
import { randomImage } from "../fixtures/random-image";
import { type RunningRegistry, startRegistry } from "../fixtures/registry";

const tmp = mkdtempSync(join(tmpdir(), "rp-e2e-bazel-sign-"));
/** The output base inside `tmp`: removing `tmp` removes it (and what the last test shows java.log keeps). */
const OUTPUT_BASE = join(tmp, "output");
const STARTUP = [`--output_base=${OUTPUT_BASE}`];
const DISK_CACHE = join(tmp, "disk-cache");
const PASSWORD = "bazel sign " + randomBytes(9).toString("base64url");
const KEYS = join(tmp, "keys");
const PASSWORD_FILE = join(tmp, "password.txt");
const PUSH = "//examples/hello:hello_push";
let reg: RunningRegistry;
let ws: string;
let cosign: Cosign;
/** Everything every command printed, for the leak audit. */
const printed: string[] = [];

async function bazelIn(args: string[], env: Record<string, string | undefined> = {}): Promise<BazelResult> {
  const r = await bazel(ws, args, env, STARTUP);
  printed.push(r.stdout, r.stderr);
  return r;
}

/** `bazel run //examples/hello:hello_push -- ARGS`; the pushed `HOST/REPO@sha256:…` is the last stdout line. */
async function signedPush(
  args: string[],
  env: Record<string, string | undefined>,
): Promise<{ r: BazelResult; ref: string }> {
  const r = await bazelIn(["run", ...QUIET, `--disk_cache=${DISK_CACHE}`, PUSH, "--", ...args], env);
  return { r, ref: r.stdout.trim().split("\n").pop() ?? "" };
}

beforeAll(async () => {
  cosign = cosignIn(tmp, PASSWORD);
  await cosign.generateKeyPair(KEYS);
  writeFileSync(PASSWORD_FILE, PASSWORD + "\n", { mode: 0o600 });
  reg = await startRegistry();
  ws = makeConsumerWorkspace(join(tmp, "a"));
  mkdirSync(join(ws, "keys"));
  cpSync(join(KEYS, "cosign.key"), join(ws, "keys", "cosign.key"));
  writeFileSync(join(ws, "keys", "BUILD.bazel"), 'exports_files(["cosign.key"])\n');
  const build = join(ws, "examples", "hello", "BUILD.bazel");
  const original = readFileSync(build, "utf8");
  const signed = original.replace(
    'repository = "examples/hello",',
    'repository = "examples/hello",\n    sign_key = "//keys:cosign.key",',
  );
  expect(signed).not.toBe(original);
  writeFileSync(build, signed);
}, 600_000);

afterAll(async () => {
  if (ws) await discard(ws, STARTUP);
  await reg?.stop();
  rmSync(tmp, { recursive: true, force: true });
});

describe("pipeline(sign_key = ...) with Bazel 4.2.3", () => {
  let ref = "";

  test("NAME_push signs and attests; cosign verify and verify-attestation accept it, oras discover lists SBOM, signature and provenance", async () => {
    const repo = `${reg.host}/signed/hello`;
    const meta = join(tmp, "meta.json");
    const p = await signedPush(["--repository", repo, "--tag", "v1", "--metadata-out", meta], {
      PIPELINE_SIGN_PASSWORD_FILE: PASSWORD_FILE,
    });
    expect(p.r.code, p.r.stderr).toBe(0);
    ref = p.ref;
    const digest = ref.split("@")[1];
    expect(ref).toBe(`${repo}@${digest}`);
    expect(p.r.stderr).not.toContain("warning:");
    const metadata = JSON.parse(readFileSync(meta, "utf8")) as Record<
      "sbom" | "signature" | "provenance",
      { digest: string }
    >;

    const v = await cosign.verify(ref, join(KEYS, "cosign.pub"));
    expect(v.code, v.stderr).toBe(0);
    expect(JSON.parse(v.stdout)[0].critical.image["docker-manifest-digest"]).toBe(digest);
    const a = await cosign.verifyProvenance(ref, join(KEYS, "cosign.pub"));
    expect(a.code, a.stderr).toBe(0);
    const statement = attestedStatement(a.stdout);
    expect(statement.subject).toEqual([{ digest: { sha256: digest.slice(7) } }]);
    const predicate = statement.predicate as ProvenancePredicate;
    expect(predicate.buildDefinition.externalParameters.invocation).toEqual({ bazelTarget: PUSH, tags: ["v1"] });
    // Resolved dependencies: the base image's digest (from the image's annotation) and the npm lockfile the image's
    // packages were installed from (npm_dependencies' copy of //examples:package-lock.json). Unstamped: no commit.
    const manifest = JSON.parse(
      execFileSync("skopeo", ["inspect", "--raw", "--tls-verify=false", `docker://${ref}`], { encoding: "utf8" }),
    ) as {
      annotations: Record<string, string>;
    };
    expect(predicate.buildDefinition.resolvedDependencies).toEqual([
      expect.objectContaining({
        name: "base image",
        digest: { sha256: manifest.annotations["org.opencontainers.image.base.digest"].slice(7) },
      }),
      {
        name: "@npm//:package-lock.json",
        digest: {
          sha256: createHash("sha256")
            .update(readFileSync(join(ws, "examples", "package-lock.json")))
            .digest("hex"),
        },
        annotations: { role: "lockfile" },
      },
    ]);

    expect(await orasReferrers(ref, "v1.1-referrers-tag")).toEqual(
      [
        [metadata.sbom.digest, "application/spdx+json"],
        [metadata.signature.digest, BUNDLE_MEDIA_TYPE],
        [metadata.provenance.digest, BUNDLE_MEDIA_TYPE],
      ].sort(),
    );

    // The tag moved to another (unsigned) image: refused by tag, the signed digest still verifies.
    const other = join(tmp, "other-layout");
    await writeLayout(other, randomImage({ layers: 1, layerSize: 256 }));
    expect((await runCli(["push", other, "--repository", repo, "--tag", "v1"])).code).toBe(0);
    expect((await cosign.verify(`${repo}:v1`, join(KEYS, "cosign.pub"))).code).not.toBe(0);
    expect((await cosign.verify(ref, join(KEYS, "cosign.pub"))).code).toBe(0);
    // The signature referrer deleted: pipeline verify refuses. cosign 3.1.1's `verify` takes any bundle the key signed
    // over the digest as a signature, the provenance attestation included (its output says type slsa.dev/provenance/v1);
    // with that one deleted too, it refuses.
    const del = (digest: string) =>
      fetch(`http://${reg.host}/v2/signed/hello/manifests/${digest}`, { method: "DELETE" });
    expect((await del(metadata.signature.digest)).status).toBe(202);
    const mine = await runCli(["verify", ref, "--key", join(KEYS, "cosign.pub")]);
    expect(mine.code).toBe(1);
    expect(mine.stderr).toContain(
      `error[E_SIGNATURE]: ${ref}: the signature does not verify with the key: bundle ${metadata.signature.digest}:`,
    );
    const lenient = await cosign.verify(ref, join(KEYS, "cosign.pub"));
    expect(lenient.code, lenient.stderr).toBe(0);
    expect(JSON.parse(lenient.stdout)[0].critical.type).toBe("https://slsa.dev/provenance/v1");
    expect((await del(metadata.provenance.digest)).status).toBe(202);
    const gone = await cosign.verify(ref, join(KEYS, "cosign.pub"));
    expect(gone.code).not.toBe(0);
    expect((await cosign.verifyProvenance(ref, join(KEYS, "cosign.pub"))).code).not.toBe(0);
  }, 900_000);

  test("the key is linked into the runfiles of NAME_push and NAME (a symlink to the source file), named in their launch configs", async () => {
    const r = await bazelIn(["build", `--disk_cache=${DISK_CACHE}`, "//examples/hello:hello"]);
    expect(r.code, r.stderr).toBe(0);
    const source = realpathSync(join(ws, "keys", "cosign.key"));
    for (const target of ["hello_push", "hello"]) {
      const cfg = JSON.parse(
        readFileSync(join(ws, "bazel-bin", "examples", "hello", `${target}.launch.json`), "utf8"),
      ) as { signKey?: string };
      expect(cfg.signKey).toBe("consumer/keys/cosign.key");
      const linked = join(
        ws,
        "bazel-bin",
        "examples",
        "hello",
        `${target}.sh.runfiles`,
        "consumer",
        "keys",
        "cosign.key",
      );
      expect(lstatSync(linked).isSymbolicLink(), linked).toBe(true);
      expect(realpathSync(linked)).toBe(source);
    }
    // No action reads it: the only actions naming it are the runfiles middlemen (bookkeeping, no file content). The
    // same query finds the compile action reading main.ts.
    const readers = async (pattern: string) => {
      const q = await bazelIn([
        "aquery",
        "--output=jsonproto",
        `inputs("${pattern}", deps(//examples/hello:hello_push) + deps(//examples/hello:hello))`,
      ]);
      expect(q.code, q.stderr).toBe(0);
      return [
        ...new Set(
          ((JSON.parse(q.stdout || "{}") as { actions?: { mnemonic: string }[] }).actions ?? []).map((x) => x.mnemonic),
        ),
      ];
    };
    expect(await readers(".*keys/cosign\\.key")).toEqual(["Middleman"]);
    expect(await readers(".*examples/hello/main\\.ts")).toContain("TsCompile");
  }, 600_000);

  test("$COSIGN_PASSWORD in bazel run's environment signs too: Bazel's java.log names the variable, not its value", async () => {
    const repo = `${reg.host}/signed/env-password`;
    const marker = "visible-" + randomBytes(6).toString("hex");
    const p = await signedPush(["--repository", repo], { COSIGN_PASSWORD: PASSWORD, RP_SIGN_MARKER: marker });
    expect(p.r.code, p.r.stderr).toBe(0);
    expect((await cosign.verify(p.ref, join(KEYS, "cosign.pub"))).code).toBe(0);
    // Bazel logs each command's client environment, with the values of names like *PASS* removed (SafeRequestLogging).
    const javaLog = readdirSync(OUTPUT_BASE)
      .filter((f) => f.startsWith("java.log."))
      .map((f) => readFileSync(join(OUTPUT_BASE, f), "utf8"))
      .join("\n");
    expect(javaLog).toContain("--client_env=COSIGN_PASSWORD=__private_value_removed__");
    expect(javaLog).toContain(`--client_env=RP_SIGN_MARKER=${marker}`);
  }, 600_000);

  test("leak audit: neither the key nor its password is in any output, the output base (command.log, java.log) or the disk cache", () => {
    const secrets = signingSecrets(join(KEYS, "cosign.key"), PASSWORD);
    // The audit finds what is there: the key file and the password file.
    expect(filesLeaking(KEYS, secrets, [], [], { symlinks: "skip" })).toEqual([join(KEYS, "cosign.key")]);
    expect(filesLeaking(tmp, [PASSWORD], [], [], { symlinks: "skip" })).toContain(PASSWORD_FILE);

    expect(printed.length).toBe(10); // 5 Bazel commands
    expect(leaksIn(printed.join("\n"), secrets)).toEqual([]);
    const logs = readdirSync(OUTPUT_BASE).filter((f) => f === "command.log" || f.startsWith("java.log"));
    expect(logs).toContain("command.log");
    expect(logs.some((f) => f.startsWith("java.log"))).toBe(true);
    expect(existsSync(join(DISK_CACHE, "ac"))).toBe(true);
    expect(filesLeaking(OUTPUT_BASE, secrets, [], [], { symlinks: "skip" })).toEqual([]);
    expect(filesLeaking(DISK_CACHE, secrets, [], [], { symlinks: "skip" })).toEqual([]);
  }, 300_000);
});
