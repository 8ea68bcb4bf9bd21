/**
 * Basic auth for the dev registry: one user and password, compared in constant time (both sides hashed
 * first, so lengths never leak), and the 401 challenge that asks for them.
 */
import { createHash, timingSafeEqual } from "node:crypto";
import { ErrorAnswer } from "./error-answer";

export const REALM = "pipeline-dev-registry";

function sameSecret(a: string, b: string): boolean {
  const ha = createHash("sha256").update(a, "utf8").digest();
  const hb = createHash("sha256").update(b, "utf8").digest();
  return timingSafeEqual(ha, hb);
}

/** True when `authorization` is `Basic base64(user:password)` for exactly this user and password. */
export function basicAuthOk(authorization: string | undefined, user: string, password: string): boolean {
  if (!authorization) return false;
  const m = /^Basic\s+([A-Za-z0-9+/=_-]+)\s*$/i.exec(authorization);
  if (!m) return false;
  const decoded = Buffer.from(m[1], "base64").toString("utf8");
  const colon = decoded.indexOf(":");
  if (colon < 0) return false;
  const userOk = sameSecret(decoded.slice(0, colon), user);
  const passOk = sameSecret(decoded.slice(colon + 1), password);
  return userOk && passOk;
}

export function unauthorized(): ErrorAnswer {
  return new ErrorAnswer(401, "UNAUTHORIZED", "authentication required", undefined, {
    "WWW-Authenticate": `Basic realm="${REALM}"`,
  });
}
