/**
 * Text a registry controls (error bodies, `errors[].code/message`, challenge and Retry-After headers, the snippet a
 * JSON parse error quotes from a manifest) made safe to show, once: `registryText` is the one function every such
 * string goes through before it enters a message.
 *  - Credentials: a registry (or a proxy in front of it) may echo the request's headers. Every form of every
 *    credential this process has sent to a registry is cut out and replaced by `[redacted]`: the password, the base64
 *    of `user:password` (standard and URL-safe, with and without padding), bearer tokens, identity (refresh) tokens,
 *    and their URL-encoded and JSON-escaped forms. Only the verbatim forms: a registry that holds the password can
 *    always spell it some other way, but no echo it sends back is repeated.
 *  - Terminal control: errors.ts's `outsideText`, on one line (registry text is quoted inside a line).
 * The Authenticator registers each credential when it resolves it and each token when it gets it
 * (`rememberCredential`, `rememberIssuedToken`): the set is the process's, like the token cache, and bounded.
 */
import { type Credential, isBasic, isIdentityToken } from "../registry-auth/keychain";
import { outsideText, redactUrl } from "../errors";

export const REDACTED = "[redacted]";

/** Forms kept at most (oldest dropped first): a long-lived worker meets many tokens. */
const MAX_FORMS = 1024;
const forms = new Set<string>();
/** All forms as one pattern, longest first (so no fragment of a longer one is left, and one pass never
 * rewrites a marker it wrote); undefined while none is known, rebuilt after a change. */
let pattern: RegExp | undefined;

function add(form: string): void {
  if (!form || forms.has(form)) return;
  forms.add(form);
  if (forms.size > MAX_FORMS) forms.delete(forms.values().next().value ?? "");
  pattern = undefined;
}

/** A secret as it is, URL-encoded (a form body, a query) and JSON-escaped (an echo inside a JSON string). */
function addSecret(secret: string): void {
  if (!secret) return;
  add(secret);
  add(encodeURIComponent(secret));
  add(JSON.stringify(secret).slice(1, -1));
}

/** The base64 of `text` in each spelling a header or a log may use: standard or URL-safe, padded or not. */
export function base64Forms(text: string): string[] {
  const std = Buffer.from(text, "utf8").toString("base64");
  const url = std.replace(/\+/g, "-").replace(/\//g, "_");
  return [std, std.replace(/=+$/, ""), url, url.replace(/=+$/, "")];
}

/**
 * Forgets every form registered so far. For a process that serves independent runs one after another and must not
 * carry one run's secrets into another's messages: the unit tests, which share a worker process between files
 * (test/fixtures/unit-file-state.ts).
 */
export function forgetCredentials(): void {
  forms.clear();
  pattern = undefined;
}

/** Registers the forms of a credential about to be sent to a registry or its token service. */
export function rememberCredential(credential: Credential): void {
  if (isBasic(credential)) {
    addSecret(credential.password);
    for (const f of base64Forms(`${credential.username}:${credential.password}`)) add(f);
  } else if (isIdentityToken(credential)) {
    addSecret(credential.identityToken);
  }
}

/** Registers a bearer token got from a token service. */
export function rememberIssuedToken(token: string): void {
  addSecret(token);
}

/** `text` from a registry, safe for a message: credentials sent to registries redacted, control characters escaped. */
export function registryText(text: string): string {
  if (forms.size && !pattern) {
    const alternatives = [...forms]
      .sort((a, b) => b.length - a.length)
      .map((f) => f.replace(/[\\^$.*+?()[\]{}|]/g, "\\$&"));
    pattern = new RegExp(alternatives.join("|"), "g");
  }
  return outsideText(pattern ? text.replace(pattern, REDACTED) : text, { oneLine: true });
}

/** A URL a registry chose (a redirect's, a Location, a Link): `redactUrl`, then `registryText`. */
export function registryUrl(url: string | URL): string {
  return registryText(redactUrl(url));
}
