/**
 * cosign's key files. `cosign generate-key-pair` writes `cosign.pub` (a PEM SubjectPublicKeyInfo) and `cosign.key`:
 * PEM type `ENCRYPTED SIGSTORE PRIVATE KEY` (cosign 1.x: `ENCRYPTED COSIGN PRIVATE KEY`) around base64 JSON
 * `{kdf: {name: "scrypt", params: {N, r, p}, salt}, cipher: {name: "nacl/secretbox", nonce}, ciphertext}`; the
 * plaintext is the PKCS#8 DER private key, the secretbox key scrypt(password, salt, N, r, p, 32 bytes).
 * Node's crypto has scrypt but not XSalsa20-Poly1305: tweetnacl (the audited TweetNaCl port, no dependencies) opens
 * the secretbox. Only ECDSA P-256 keys are accepted (cosign's default); errors name the file, never the password.
 */
import { createHash, createPrivateKey, createPublicKey, type KeyObject, scryptSync } from "node:crypto";
import nacl from "tweetnacl";
import { PipelineError } from "../errors";
import { readNamedFile } from "../named-file";

const PEM_TYPES = ["ENCRYPTED SIGSTORE PRIVATE KEY", "ENCRYPTED COSIGN PRIVATE KEY"];
/** scrypt's memory is 128·N·r bytes: at most 256 MiB (cosign's own keys use N=65536, r=8: 64 MiB). */
const MAX_SCRYPT_MEMORY = 256 * 1024 * 1024;
const MAX_KEY_FILE = 64 * 1024;

export interface SigningKey {
  privateKey: KeyObject;
  publicKey: KeyObject;
}

/**
 * A key or password file, read through the one bounded reader (src/named-file.ts): a regular file of at most
 * MAX_KEY_FILE bytes, or E_SIGNING_KEY naming `what` (the flag or field), the path and what it is instead.
 */
async function readSmall(path: string, what: string): Promise<string> {
  return (await readNamedFile(path, { what, bound: MAX_KEY_FILE, code: "E_SIGNING_KEY" })).toString("utf8");
}

function assertP256(key: KeyObject, where: string): void {
  const curve = key.asymmetricKeyDetails?.namedCurve;
  if (key.asymmetricKeyType !== "ec" || curve !== "prime256v1") {
    throw new PipelineError(
      "E_SIGNING_KEY",
      `${where}: an ECDSA P-256 key is needed (cosign's default), got ${key.asymmetricKeyType ?? "?"}${curve ? ` ${curve}` : ""}`,
    );
  }
}

interface EncryptedKey {
  kdf: { name: string; params: { N: number; r: number; p: number }; salt: string };
  cipher: { name: string; nonce: string };
  ciphertext: string;
}

function parseEncrypted(text: string, where: string): EncryptedKey {
  const m = /-----BEGIN ([A-Z ]+)-----([\s\S]*?)-----END \1-----/.exec(text);
  if (!m || !PEM_TYPES.includes(m[1])) {
    throw new PipelineError(
      "E_SIGNING_KEY",
      `${where}: not a cosign private key (expected PEM "${PEM_TYPES[0]}", got ${m ? `"${m[1]}"` : "no PEM block"})`,
    );
  }
  let doc: EncryptedKey;
  try {
    doc = JSON.parse(Buffer.from(m[2].replace(/\s+/g, ""), "base64").toString("utf8")) as EncryptedKey;
  } catch (e) {
    throw new PipelineError("E_SIGNING_KEY", `${where}: the PEM body is not base64 JSON (${(e as Error).message})`);
  }
  const p = doc?.kdf?.params;
  if (doc?.kdf?.name !== "scrypt" || doc?.cipher?.name !== "nacl/secretbox") {
    throw new PipelineError(
      "E_SIGNING_KEY",
      `${where}: kdf ${JSON.stringify(doc?.kdf?.name)} / cipher ${JSON.stringify(doc?.cipher?.name)}: only scrypt / nacl/secretbox are known`,
    );
  }
  if (
    ![p?.N, p?.r, p?.p].every((n) => Number.isSafeInteger(n) && n > 0) ||
    (p.N & (p.N - 1)) !== 0 ||
    128 * p.N * p.r > MAX_SCRYPT_MEMORY ||
    p.p > 16
  ) {
    throw new PipelineError(
      "E_SIGNING_KEY",
      `${where}: scrypt parameters ${JSON.stringify(p)} out of bounds (N a power of two, 128·N·r ≤ ${MAX_SCRYPT_MEMORY} bytes, p ≤ 16)`,
    );
  }
  if (typeof doc.kdf.salt !== "string" || typeof doc.cipher.nonce !== "string" || typeof doc.ciphertext !== "string") {
    throw new PipelineError("E_SIGNING_KEY", `${where}: salt, nonce and ciphertext must be base64 strings`);
  }
  return doc;
}

/**
 * Decrypts a cosign private key file with `password`. A wrong password is E_SIGNING_KEY naming the file; `what` names
 * the flag or field that named it (`--sign-key (signing key)`).
 */
export async function readSigningKey(path: string, password: string, what = "signing key"): Promise<SigningKey> {
  return decryptSigningKey(await readSmall(path, what), password, `signing key ${path}`);
}

/** A cosign private key's text decrypted with `password`; `where` names it in errors. */
export function decryptSigningKey(text: string, password: string, where: string): SigningKey {
  const doc = parseEncrypted(text, where);
  const { N, r, p } = doc.kdf.params;
  const key = scryptSync(Buffer.from(password, "utf8"), Buffer.from(doc.kdf.salt, "base64"), 32, {
    N,
    r,
    p,
    maxmem: 2 * MAX_SCRYPT_MEMORY,
  });
  const nonce = Buffer.from(doc.cipher.nonce, "base64");
  if (nonce.length !== nacl.secretbox.nonceLength)
    throw new PipelineError(
      "E_SIGNING_KEY",
      `${where}: the nonce has ${nonce.length} bytes, not ${nacl.secretbox.nonceLength}`,
    );
  const plain = nacl.secretbox.open(Buffer.from(doc.ciphertext, "base64"), nonce, key);
  key.fill(0);
  if (!plain)
    throw new PipelineError(
      "E_SIGNING_KEY",
      `${where}: cannot decrypt it (wrong password in COSIGN_PASSWORD or the password file, or a damaged file)`,
    );
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey({ key: Buffer.from(plain), format: "der", type: "pkcs8" });
  } catch (e) {
    throw new PipelineError("E_SIGNING_KEY", `${where}: the decrypted key is not PKCS#8 DER (${(e as Error).message})`);
  } finally {
    plain.fill(0);
  }
  assertP256(privateKey, where);
  return { privateKey, publicKey: createPublicKey(privateKey) };
}

/** A PEM public key (cosign.pub); ECDSA P-256 only. `what` names the flag or field that named it (`--key (public key)`). */
export async function readPublicKey(path: string, what = "public key"): Promise<KeyObject> {
  const where = `public key ${path}`;
  const text = await readSmall(path, what);
  let key: KeyObject;
  try {
    key = createPublicKey(text);
  } catch (e) {
    if (e instanceof PipelineError) throw e;
    throw new PipelineError("E_SIGNING_KEY", `${where}: not a PEM public key (${(e as Error).message})`);
  }
  assertP256(key, where);
  return key;
}

/** The bundle's `publicKey.hint` as cosign writes it: base64 of the SHA-256 of the key's DER SubjectPublicKeyInfo. */
export function keyHint(publicKey: KeyObject): string {
  return createHash("sha256")
    .update(publicKey.export({ format: "der", type: "spki" }))
    .digest("base64");
}

/** A file whose first line is the signing key's password (the environment names the file, never the password). */
export const ENV_SIGN_PASSWORD_FILE = "PIPELINE_SIGN_PASSWORD_FILE";

/**
 * The private key's password: the first line of `passwordFile` (--sign-password-file), else of
 * `$PIPELINE_SIGN_PASSWORD_FILE`, else `$COSIGN_PASSWORD` as cosign reads it (set, even empty). Never from the
 * command line.
 */
export async function signingPassword(env: NodeJS.ProcessEnv, passwordFile: string | undefined): Promise<string> {
  const file = passwordFile || env[ENV_SIGN_PASSWORD_FILE];
  const what = passwordFile ? "--sign-password-file" : `$${ENV_SIGN_PASSWORD_FILE}`;
  if (file) return (await readSmall(file, `${what} (password file)`)).replace(/\r?\n[\s\S]*$/, "");
  if (env.COSIGN_PASSWORD !== undefined) return env.COSIGN_PASSWORD;
  throw new PipelineError(
    "E_SIGNING_KEY",
    `the signing key's password is needed: set COSIGN_PASSWORD, or name a file holding it with --sign-password-file FILE or $${ENV_SIGN_PASSWORD_FILE}`,
  );
}
