/**
 * cosign's legacy signature form (the tag `sha256-<hex>.sig`, a simple-signing payload with its signature in an
 * annotation) as `pipeline verify` and `run --require-signature` read it: made by `pipeline push --sign-legacy`, and by
 * Debian sid's cosign 3.1.1 itself, which still makes it offline with `cosign sign --new-bundle-format=false
 * --use-signing-config=false --tlog-upload=false` (flags it calls deprecated). A bundle is looked for first; the
 * legacy tag when none verifies. Another key, and a payload naming another image, are refused.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, expect, test } from "vitest";
import { writeLayout } from "../../src/layout/write";
import { runCli } from "../fixtures/cli";
import { type Cosign, cosignIn } from "../fixtures/cosign";
import { randomImage } from "../fixtures/random-image";
import { type RunningRegistry, startRegistry } from "../fixtures/registry";

const tmp = mkdtempSync(join(tmpdir(), "rp-e2e-sign-legacy-"));
const PASSWORD = "legacy " + Math.random().toString(36).slice(2);
let reg: RunningRegistry;
let cosign: Cosign;
const key = () => join(tmp, "keys", "cosign.key");
const pub = () => join(tmp, "keys", "cosign.pub");
const otherPub = () => join(tmp, "other", "cosign.pub");

/** A fresh random image pushed (with these extra push flags) to REPO; returns `HOST/REPO@DIGEST` and the JSON output. */
async function pushed(
  repo: string,
  flags: string[] = [],
): Promise<{ ref: string; out: Record<string, { digest: string }> }> {
  const dir = mkdtempSync(join(tmp, "layout-"));
  const image = randomImage({ layers: 1, layerSize: 256 });
  await writeLayout(dir, image);
  const r = await runCli(["push", dir, "--repository", `${reg.host}/${repo}`, "--json", ...flags], {
    env: { ...process.env, COSIGN_PASSWORD: PASSWORD },
  });
  if (r.code !== 0) throw new Error(`push: ${r.stderr}`);
  return {
    ref: `${reg.host}/${repo}@${image.digest}`,
    out: JSON.parse(r.stdout) as Record<string, { digest: string }>,
  };
}

const legacySign = (ref: string) =>
  cosign.run([
    "sign",
    "--key",
    key(),
    "--tlog-upload=false",
    "--new-bundle-format=false",
    "--use-signing-config=false",
    "--allow-http-registry",
    "-y",
    ref,
  ]);

beforeAll(async () => {
  cosign = cosignIn(tmp, PASSWORD);
  await cosign.generateKeyPair(join(tmp, "keys"));
  await cosign.generateKeyPair(join(tmp, "other"));
  reg = await startRegistry();
}, 300_000);

afterAll(async () => {
  await reg?.stop();
  rmSync(tmp, { recursive: true, force: true });
});

test("cosign 3.1.1's own legacy signature: pipeline verify accepts it (via legacy-tag), another key is refused naming the tag", async () => {
  const { ref } = await pushed("legacy/by-cosign");
  const s = await legacySign(ref);
  expect(s.code, s.stderr).toBe(0);
  expect(s.stderr).toContain("Flag --new-bundle-format has been deprecated"); // as docs/supply-chain.md says
  const tags = (await (await fetch(`http://${reg.host}/v2/legacy/by-cosign/tags/list`)).json()) as { tags: string[] };
  const sigTag = `${ref.split("@")[1].replace(":", "-")}.sig`;
  expect(tags.tags).toEqual([sigTag]); // the legacy form only: no bundle referrer, no fallback index

  const v = await runCli(["verify", ref, "--key", pub(), "--json"]);
  expect(v.code, v.stderr).toBe(0);
  const out = JSON.parse(v.stdout) as {
    via: string;
    simpleSigning: { critical: { image: Record<string, string>; type: string } };
  };
  expect(out.via).toBe("legacy-tag");
  expect(out.simpleSigning.critical).toMatchObject({
    image: { "docker-manifest-digest": ref.split("@")[1] },
    type: "cosign container image signature",
  });
  const plain = await runCli(["verify", ref, "--key", pub()]);
  expect(plain.stderr).toContain("verified: the legacy signature (sha256-<hex>.sig) sha256:");

  const w = await runCli(["verify", ref, "--key", otherPub()]);
  expect(w.code).toBe(1);
  expect(w.stderr).toContain(
    `error[E_SIGNATURE]: ${ref}: the signature does not verify with the key: legacy signature ${sigTag} (sha256:`,
  );
  expect(w.stderr).toContain("its signature does not verify with the key");
  // cosign agrees.
  const c = await cosign.run([
    "verify",
    "--key",
    otherPub(),
    "--insecure-ignore-tlog",
    "--new-bundle-format=false",
    "--allow-http-registry",
    ref,
  ]);
  expect(c.code).not.toBe(0);
}, 120_000);

test("push --sign-legacy: with the bundle referrer deleted, the legacy tag still verifies, for verify and run --require-signature's check", async () => {
  const { ref, out } = await pushed("legacy/ours", ["--sign-key", key(), "--sign-legacy"]);
  expect(
    (await fetch(`http://${reg.host}/v2/legacy/ours/manifests/${out.signature.digest}`, { method: "DELETE" })).status,
  ).toBe(202);
  const v = await runCli(["verify", ref, "--key", pub(), "--json"]);
  expect(v.code, v.stderr).toBe(0);
  expect(JSON.parse(v.stdout)).toMatchObject({ via: "legacy-tag", signature: out.legacySignature.digest });
  // The same check guards `pipeline run`: a layout image is not needed to show it refuses another key first.
  const r = await runCli(["run", "--image", ref, "--require-signature", otherPub(), "--cache-dir", join(tmp, "cache")]);
  expect(r.code).toBe(1);
  expect(r.stderr).toContain(
    `error[E_SIGNATURE]: ${ref}: the signature does not verify with the key: bundle ${out.signature.digest}:`,
  );
  expect(r.stderr).toContain("legacy signature sha256-");
}, 120_000);

test("a legacy signature of another image copied to this image's .sig tag is refused (the payload names the other digest)", async () => {
  const a = await pushed("legacy/moved");
  const b = await pushed("legacy/moved");
  expect((await legacySign(a.ref)).code).toBe(0);
  const aTag = `${a.ref.split("@")[1].replace(":", "-")}.sig`;
  const bTag = `${b.ref.split("@")[1].replace(":", "-")}.sig`;
  const accept = "application/vnd.oci.image.manifest.v1+json";
  const manifest = await (
    await fetch(`http://${reg.host}/v2/legacy/moved/manifests/${aTag}`, { headers: { Accept: accept } })
  ).text();
  const put = await fetch(`http://${reg.host}/v2/legacy/moved/manifests/${bTag}`, {
    method: "PUT",
    headers: { "Content-Type": accept },
    body: manifest,
  });
  expect(put.status).toBe(201);
  const v = await runCli(["verify", b.ref, "--key", pub()]);
  expect(v.code).toBe(1);
  expect(v.stderr).toContain(`the signed payload names "${a.ref.split("@")[1]}", not ${b.ref.split("@")[1]}`);
  const c = await cosign.run([
    "verify",
    "--key",
    pub(),
    "--insecure-ignore-tlog",
    "--new-bundle-format=false",
    "--allow-http-registry",
    b.ref,
  ]);
  expect(c.code).not.toBe(0);
}, 120_000);
