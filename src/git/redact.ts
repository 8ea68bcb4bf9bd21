/**
 * Keeping git credentials out of messages: the strings a credential could appear as, and masking of git's
 * output before it goes into an error message (URLs in it through errors.ts's `redactUrlsInText`).
 */
import { redactUrlsInText } from "../errors";
import { type GitCredential, TOKEN_USERNAME } from "./auth";

const MASK = "***";

/**
 * Every form in which a credential's secret could show up in text: the secret itself, its URL-encoded form,
 * the base64 of `user:secret` (an HTTP Basic Authorization header) and, for a private key, each longer line.
 */
export function secretsOf(cred: GitCredential | undefined): string[] {
  if (!cred) return [];
  const out = new Set<string>();
  const basic = (user: string, secret: string) => {
    out.add(secret);
    out.add(encodeURIComponent(secret));
    out.add(Buffer.from(`${user}:${secret}`).toString("base64"));
  };
  if ("password" in cred) basic(cred.username, cred.password);
  else if ("token" in cred) basic(TOKEN_USERNAME, cred.token);
  else {
    out.add(cred.privateKey.trim());
    for (const line of cred.privateKey.split(/\r?\n/))
      if (line.trim().length >= 16 && !line.startsWith("-----")) out.add(line.trim());
  }
  return [...out].filter((s) => s.length > 0).sort((a, b) => b.length - a.length);
}

/** Replaces each occurrence of each secret with `***` (longest first, so no fragment of a longer one is left). */
export function maskSecrets(text: string, secrets: readonly string[]): string {
  let out = text;
  for (const s of [...secrets].sort((a, b) => b.length - a.length)) if (s) out = out.split(s).join(MASK);
  return out;
}

/** Git output made safe for an error message: URL userinfo redacted and the credential's secrets masked. */
export function sanitizeGitOutput(text: string, cred: GitCredential | undefined): string {
  return maskSecrets(redactUrlsInText(text), secretsOf(cred));
}
