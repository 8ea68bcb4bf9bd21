/**
 * DSSE envelopes (github.com/secure-systems-lab/dsse, protocol v1) and in-toto statements v1: what a cosign 3
 * signature and an attestation sign. The signature is ECDSA P-256 / SHA-256, ASN.1 DER, over
 * PAE(type, body) = "DSSEv1" SP LEN(type) SP type SP LEN(body) SP body.
 */
import { type KeyObject, sign, verify } from "node:crypto";
import { type Digest, digestHex } from "../oci/digest";
import { registryText } from "../registry/registry-text";
import { MAX_ENVELOPE_SIGNATURES, VerifyBudget } from "./budget";

export const IN_TOTO_PAYLOAD_TYPE = "application/vnd.in-toto+json";
export const IN_TOTO_STATEMENT_V1 = "https://in-toto.io/Statement/v1";

export interface Envelope {
  payload: string;
  payloadType: string;
  signatures: { sig: string; keyid?: string }[];
}

export interface Statement {
  _type: string;
  subject: { name?: string; digest: Record<string, string>; annotations?: Record<string, string> }[];
  predicateType: string;
  predicate: unknown;
}

export function pae(payloadType: string, body: Buffer): Buffer {
  const type = Buffer.from(payloadType, "utf8");
  return Buffer.concat([Buffer.from(`DSSEv1 ${type.length} `), type, Buffer.from(` ${body.length} `), body]);
}

/** A digest as in-toto writes it (its DigestSet, `{ sha256: "<hex>" }`): the wire form of subjects and dependencies. */
export function digestSet(digest: Digest): Record<string, string> {
  return { sha256: digestHex(digest) };
}

/** A statement about one image (by its manifest digest `sha256:<hex>`). */
export function statementFor(digest: Digest, predicateType: string, predicate: unknown, name?: string): Statement {
  return {
    _type: IN_TOTO_STATEMENT_V1,
    subject: [{ ...(name ? { name } : {}), digest: digestSet(digest) }],
    predicateType,
    predicate,
  };
}

export function signEnvelope(statement: Statement, privateKey: KeyObject): Envelope {
  const body = Buffer.from(JSON.stringify(statement));
  const sig = sign("sha256", pae(IN_TOTO_PAYLOAD_TYPE, body), privateKey);
  return {
    payload: body.toString("base64"),
    payloadType: IN_TOTO_PAYLOAD_TYPE,
    signatures: [{ sig: sig.toString("base64") }],
  };
}

/**
 * The statement an envelope carries when one of its signatures verifies with `publicKey`; else why not. An envelope
 * with more than MAX_ENVELOPE_SIGNATURES signatures is refused before any is checked; the PAE is built once, and each
 * distinct well-formed signature checked against it is charged to `budget` (its count and the PAE's bytes, which
 * node:crypto hashes per check: it has no ECDSA verify over a digest computed once), which throws when spent.
 */
export function openEnvelope(
  envelope: Envelope,
  publicKey: KeyObject,
  budget: VerifyBudget = new VerifyBudget("envelope"),
  where = "the DSSE envelope",
): { statement: Statement } | { failure: string } {
  if (
    typeof envelope?.payload !== "string" ||
    typeof envelope.payloadType !== "string" ||
    !Array.isArray(envelope.signatures)
  ) {
    return { failure: "the DSSE envelope lacks payload, payloadType or signatures" };
  }
  if (envelope.payloadType !== IN_TOTO_PAYLOAD_TYPE)
    return { failure: `payloadType ${JSON.stringify(envelope.payloadType)}, not ${IN_TOTO_PAYLOAD_TYPE}` };
  if (envelope.signatures.length > MAX_ENVELOPE_SIGNATURES) {
    return {
      failure: `the DSSE envelope carries ${envelope.signatures.length} signatures, more than the ${MAX_ENVELOPE_SIGNATURES} one envelope may carry; none was checked`,
    };
  }
  const body = Buffer.from(envelope.payload, "base64");
  const signed = pae(envelope.payloadType, body);
  const sigs = new Set(
    envelope.signatures.flatMap((s) => (typeof s?.sig === "string" && s.sig.length > 0 ? [s.sig] : [])),
  );
  let ok = false;
  for (const sig of sigs) {
    budget.spendSignature(signed.length, where);
    if (verify("sha256", signed, publicKey, Buffer.from(sig, "base64"))) {
      ok = true;
      break;
    }
  }
  if (!ok) return { failure: `none of its ${envelope.signatures.length} signature(s) verifies with the key` };
  let statement: Statement;
  try {
    statement = JSON.parse(body.toString("utf8")) as Statement;
  } catch (e) {
    return { failure: `the signed payload is not JSON (${registryText((e as Error).message)})` };
  }
  if (statement?._type !== IN_TOTO_STATEMENT_V1 || !Array.isArray(statement.subject))
    return { failure: `the signed payload is not an in-toto statement v1 (_type ${JSON.stringify(statement?._type)})` };
  return { statement };
}

/** Whether the statement names `digest` (`sha256:<hex>`) among its subjects. */
export function statementCovers(statement: Statement, digest: Digest): boolean {
  const hex = digestHex(digest);
  return statement.subject.some((s) => s?.digest?.sha256 === hex);
}
