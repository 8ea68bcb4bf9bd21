/**
 * Errors with stable codes. Every error the tools raise on purpose is a PipelineError; the CLI's single
 * error boundary prints `error[CODE]: message` for those and "please report" for anything else.
 * Messages must never contain credentials: build URLs for messages with `redactUrl`. The codes are the catalogue's
 * (src/error-codes/catalogue.ts, docs/errors.md): a code that is not in it does not compile.
 */
import type { ErrorCode } from "./error-codes/catalogue";

export type { ErrorCode } from "./error-codes/catalogue";

export class PipelineError extends Error {
  readonly code: ErrorCode;
  /** Process exit code the CLI uses for this error. */
  readonly exitCode: number;
  /** `message` goes through `outsideText`: what it quotes of a child's output, a registry or a file name is safe to print. */
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown; exitCode?: number }) {
    super(outsideText(message), options?.cause !== undefined ? { cause: options.cause } : undefined);
    this.name = "PipelineError";
    this.code = code;
    this.exitCode = options?.exitCode ?? 1;
  }
}

/** C0 and C1 controls, DEL, and the Unicode line separators and bidi overrides. */
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;

/**
 * Text from outside (a child process's output: npm, pnpm, yarn, git, runc, podman, skopeo, kubectl; a registry's
 * answer; a file name from a repository) made safe to print, once: every control character becomes a visible escape
 * (`\x1b`, `\u202e`), so the text can neither move the cursor, clear the screen, ring the bell, set the terminal's
 * title or clipboard (OSC), nor rewrite or reorder a line. Line feeds and tabs stay (a tail of npm's output keeps its
 * lines), unless `oneLine` (text quoted inside a line: a registry's) makes them and carriage returns spaces. Used by
 * every PipelineError's message, every line the CLI prints on stderr (src/cli/io.ts) and `registryText`.
 */
export function outsideText(text: string, opts: { oneLine?: boolean } = {}): string {
  return text.replace(CONTROL, (c) => {
    if (c === "\n" || c === "\t") return opts.oneLine ? " " : c;
    if (c === "\r" && opts.oneLine) return " ";
    const n = c.charCodeAt(0);
    return n <= 0xff ? `\\x${n.toString(16).padStart(2, "0")}` : `\\u${n.toString(16).padStart(4, "0")}`;
  });
}

/**
 * A bad value for an option of a library call (`network`, `runtime`, `loader`): E_BAD_OPTION naming the option as
 * the caller named it, never a CLI flag. The CLI's error boundary, which knows that option `x` is flag `--x`,
 * reports it as a usage error naming the flag (exit code 2).
 */
export class OptionError extends PipelineError {
  constructor(
    readonly option: string,
    readonly problem: string,
  ) {
    super("E_BAD_OPTION", `${option}: ${problem}`);
  }
}

/**
 * Query parameter names that carry a credential: tokens (`token`, `private_token`, `access_token`, `X-Amz-Security-Token`),
 * signatures (`sig`, `X-Amz-Signature`, Azure SAS), secrets, keys, passwords, credentials, auth and sessions.
 */
const CREDENTIAL_PARAM = /token|sig|secret|pass|pwd|credential|key|auth|session/i;

const URL_PARTS = /^([A-Za-z][A-Za-z0-9+.-]*:\/\/)([^/?#\\]*)([^?#]*)(\?[^#]*)?(#.*)?$/s;

function credentialParam(pair: string): boolean {
  const name = pair.split("=", 1)[0];
  try {
    return CREDENTIAL_PARAM.test(decodeURIComponent(name.replace(/\+/g, " ")));
  } catch {
    return CREDENTIAL_PARAM.test(name);
  }
}

/**
 * A URL without its credentials: the one function for every URL that leaves this process, in a message, a log line or
 * an artifact. Userinfo (`user:token@`, a lone `token@`) and credential-like query parameters (CREDENTIAL_PARAM) go:
 *  - "mark" (messages, logs): userinfo becomes `REDACTED@` and such a parameter's value `REDACTED`, so a reader sees
 *    that one was there;
 *  - "strip" (artifacts: the SBOM's download locations, provenance, image annotations): both are removed.
 * Everything else is kept byte for byte (no normalisation), so a URL without credentials comes back as it was. A
 * string that is not `scheme://...` loses any `//userinfo@` it holds.
 */
export function redactUrl(url: string | URL, how: "mark" | "strip" = "mark"): string {
  const s = url.toString();
  const m = URL_PARTS.exec(s);
  if (!m) return s.replace(/\/\/[^/@\s]*@/g, how === "mark" ? "//REDACTED@" : "//");
  const [, scheme, authority, path, query, fragment] = m;
  const at = authority.lastIndexOf("@");
  const userinfo = at < 0 ? "" : how === "mark" ? "REDACTED@" : "";
  let q = query ?? "";
  if (q.length > 1) {
    const pairs = q.slice(1).split("&");
    const kept =
      how === "mark"
        ? pairs.map((p) => (credentialParam(p) ? `${p.split("=", 1)[0]}=REDACTED` : p))
        : pairs.filter((p) => !credentialParam(p));
    q = kept.length ? `?${kept.join("&")}` : "";
  }
  return scheme + userinfo + authority.slice(at + 1) + path + q + (fragment ?? "");
}

/** Every `scheme://...` URL in free text (a child's output, a registry's body) through `redactUrl`. */
export function redactUrlsInText(text: string, how: "mark" | "strip" = "mark"): string {
  return text.replace(/\b[A-Za-z][A-Za-z0-9+.-]*:\/\/[^\s'"<>`]+/g, (u) => redactUrl(u, how));
}

/** `"value"` for messages; URLs lose their userinfo and secret query parameters. */
export function quoteValue(value: unknown): string {
  if (typeof value === "string")
    return JSON.stringify(/^[A-Za-z][A-Za-z0-9+.-]*:\/\//.test(value) ? redactUrl(value) : value);
  if (value === undefined) return "nothing";
  if (Array.isArray(value)) return "a list";
  if (value !== null && typeof value === "object") return "an object";
  return String(value);
}
