/**
 * Verification's work is bounded whatever the registry serves (issue #41, src/sign/budget.ts), against the dev
 * registry (a real registry, in-process): an envelope of ~22k junk signatures is refused unchecked, junk spread over
 * many bundles stops at the verification's budget, and legacy `.sig` layers are read newest first.
 */
import { generateKeyPairSync, randomBytes, sign } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { anonymousKeychain } from "../registry-auth/anonymous";
import { pushBlob, pushImage, type TempRegistry, tempRegistry } from "../devregistry/testing";
import { sha256 } from "../oci/digest";
import { type Descriptor, MediaType } from "../oci/types";
import { attachArtifact } from "../registry/artifact";
import { RegistryClient } from "../registry/client";
import { MAX_ENVELOPE_SIGNATURES, MAX_VERIFY_SIGNATURES, VerifyBudget } from "./budget";
import { BUNDLE_MEDIA_TYPE, bundleAnnotations, COSIGN_SIGN_PREDICATE, makeBundle } from "./bundle";
import { keyHint } from "./cosign-key";
import { type Envelope, openEnvelope, signEnvelope, statementFor } from "./dsse";
import { legacySignatureTag, SIGNATURE_ANNOTATION, SIMPLE_SIGNING_MEDIA_TYPE, simpleSigningPayload } from "./legacy";
import { verifyStatement } from "./verify";

const key = generateKeyPairSync("ec", { namedCurve: "P-256" });
const other = generateKeyPairSync("ec", { namedCurve: "P-256" });
const junk = (n: number) => Array.from({ length: n }, () => ({ sig: randomBytes(24).toString("base64") }));
let reg: TempRegistry;
const client = () => new RegistryClient(reg.address, { keychain: anonymousKeychain, retry: { retries: 0 } });

beforeAll(async () => {
  reg = await tempRegistry();
});
afterAll(async () => {
  await reg?.cleanup();
});

async function subjectIn(repo: string): Promise<Descriptor> {
  const img = await pushImage(reg.address, repo, "v1", [randomBytes(32)]);
  return { mediaType: MediaType.OCI_MANIFEST, digest: img.digest, size: img.manifest.length };
}

/** Attaches a bundle whose envelope carries `signatures` (the statement itself names `subject`). */
async function attachBundle(repo: string, subject: Descriptor, signatures: Envelope["signatures"]): Promise<void> {
  const envelope = {
    ...signEnvelope(statementFor(subject.digest, COSIGN_SIGN_PREDICATE, {}), key.privateKey),
    signatures,
  };
  const bytes = Buffer.from(JSON.stringify(makeBundle(envelope, keyHint(key.publicKey))));
  await attachArtifact(
    { registry: reg.address, repository: repo },
    subject,
    { artifactType: BUNDLE_MEDIA_TYPE, bytes, annotations: bundleAnnotations(COSIGN_SIGN_PREDICATE) },
    { keychain: anonymousKeychain },
  );
}

describe("DSSE envelopes: a cap per envelope and a budget per verification", () => {
  const digest = sha256("image");
  const good = signEnvelope(statementFor(digest, COSIGN_SIGN_PREDICATE, {}), key.privateKey);

  it(`refuses an envelope of more than ${MAX_ENVELOPE_SIGNATURES} signatures without checking any`, () => {
    const budget = new VerifyBudget("img");
    const flood = { ...good, signatures: [...junk(22_000), ...good.signatures] };
    expect(openEnvelope(flood, key.publicKey, budget)).toEqual({
      failure: `the DSSE envelope carries 22001 signatures, more than the ${MAX_ENVELOPE_SIGNATURES} one envelope may carry; none was checked`,
    });
    expect(budget.signatures).toBe(0);
  });

  it("checks a signature listed many times once, and finds the valid one among junk within the cap", () => {
    const budget = new VerifyBudget("img");
    const same = junk(1)[0];
    const env = { ...good, signatures: [same, same, same, ...junk(MAX_ENVELOPE_SIGNATURES - 4), ...good.signatures] };
    expect("statement" in openEnvelope(env, key.publicKey, budget)).toBe(true);
    expect(budget.signatures).toBe(MAX_ENVELOPE_SIGNATURES - 2);
  });

  it("stops with E_SIGNATURE once the verification's signature budget is spent", () => {
    const budget = new VerifyBudget("host/app@sha256:x", { signatures: 5, bytes: 1 << 20 });
    const env = { ...good, signatures: junk(MAX_ENVELOPE_SIGNATURES) };
    expect(() => openEnvelope(env, key.publicKey, budget)).toThrow(
      expect.objectContaining({
        code: "E_SIGNATURE",
        message: expect.stringContaining(
          "host/app@sha256:x: the signature does not verify: verification stopped at the DSSE envelope: more than 5 signatures checked",
        ),
      }),
    );
  });
});

describe("the bytes budget", () => {
  it("stops with E_SIGNATURE once the bytes read and hashed pass the verification's budget", () => {
    const budget = new VerifyBudget("host/app@sha256:x", { signatures: 100, bytes: 1024 });
    budget.spendBytes(1000, "bundle a");
    expect(() => budget.spendBytes(100, "bundle b")).toThrow(
      expect.objectContaining({
        code: "E_SIGNATURE",
        message: expect.stringContaining("verification stopped at bundle b: reading and hashing"),
      }),
    );
  });
});

describe("verifyStatement against a registry serving junk", () => {
  it("refuses a bundle of ~22k junk signatures, naming the cap, and checks none of them", async () => {
    const subject = await subjectIn("junk/flood");
    await attachBundle("junk/flood", subject, junk(22_000));
    const err = await verifyStatement(client(), "junk/flood", subject.digest, key.publicKey).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: "E_SIGNATURE" });
    expect((err as Error).message).toContain(
      `the DSSE envelope carries 22000 signatures, more than the ${MAX_ENVELOPE_SIGNATURES} one envelope may carry`,
    );
  });

  it(`stops at ${MAX_VERIFY_SIGNATURES} signatures checked in all, however many bundles carry junk`, async () => {
    const subject = await subjectIn("junk/many");
    const bundles = Math.ceil(MAX_VERIFY_SIGNATURES / MAX_ENVELOPE_SIGNATURES) + 1;
    for (let i = 0; i < bundles; i++) await attachBundle("junk/many", subject, junk(MAX_ENVELOPE_SIGNATURES));
    const err = await verifyStatement(client(), "junk/many", subject.digest, key.publicKey).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: "E_SIGNATURE" });
    expect((err as Error).message).toContain(
      `more than ${MAX_VERIFY_SIGNATURES} signatures checked, the most one verification checks`,
    );
  });
});

describe("legacy .sig signatures", () => {
  it("are read newest first: after 32 signatures by an old key, the newest (by the current key) verifies", async () => {
    const repo = "legacy/rotated";
    const subject = await subjectIn(repo);
    const payload = simpleSigningPayload(`${reg.address}/${repo}`, subject.digest);
    await pushBlob(reg.address, repo, payload);
    const layer = (k: typeof key) => ({
      mediaType: SIMPLE_SIGNING_MEDIA_TYPE,
      digest: sha256(payload),
      size: payload.length,
      annotations: { [SIGNATURE_ANNOTATION]: sign("sha256", payload, k.privateKey).toString("base64") },
    });
    const config = Buffer.from("{}");
    await pushBlob(reg.address, repo, config);
    const manifest = {
      schemaVersion: 2,
      mediaType: MediaType.OCI_MANIFEST,
      config: { mediaType: MediaType.OCI_CONFIG, digest: sha256(config), size: config.length },
      layers: [...Array.from({ length: 32 }, () => layer(other)), layer(key)],
    };
    await client().putManifest(
      repo,
      legacySignatureTag(subject.digest),
      Buffer.from(JSON.stringify(manifest)),
      MediaType.OCI_MANIFEST,
    );
    const v = await verifyStatement(client(), repo, subject.digest, key.publicKey);
    expect(v.via).toBe("legacy-tag");
  });
});
