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
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown; exitCode?: number }) {
    super(message, options?.cause !== undefined ? { cause: options.cause } : undefined);
    this.name = "PipelineError";
    this.code = code;
    this.exitCode = options?.exitCode ?? 1;
  }
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

/** Removes userinfo and sensitive query parameters from a URL meant for a message or a log line. */
export function redactUrl(url: string | URL): string {
  let u: URL;
  try {
    u = new URL(url.toString());
  } catch {
    return String(url).replace(/\/\/[^/@\s]*@/, "//REDACTED@");
  }
  if (u.username || u.password) {
    u.username = "REDACTED";
    u.password = "";
  }
  for (const key of [...u.searchParams.keys()]) {
    if (/token|signature|sig|secret|password|credential|key|auth/i.test(key)) u.searchParams.set(key, "REDACTED");
  }
  return u.toString();
}

/** `"value"` for messages; URLs lose their userinfo and secret query parameters. */
export function quoteValue(value: unknown): string {
  if (typeof value === "string") return JSON.stringify(/^[A-Za-z][A-Za-z0-9+.-]*:\/\//.test(value) ? redactUrl(value) : value);
  if (value === undefined) return "nothing";
  if (Array.isArray(value)) return "a list";
  if (value !== null && typeof value === "object") return "an object";
  return String(value);
}
