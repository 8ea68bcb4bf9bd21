/**
 * `pipeline registry serve`: runs the embedded development registry until the signal aborts (or, with
 * no signal, until SIGINT/SIGTERM). Prints exactly one line to stdout, `listening on HOST:PORT`, once it
 * accepts connections; request logs (with --log) go to stderr. Never exits the process itself.
 *
 * Resource bounds default to src/devregistry/limits.ts (1000 open upload sessions, 64 per client, sessions idle
 * for 5 min swept while serving, a client stalled for 30 s or sending a body slower than 1024 bytes/s cut off); the
 * options below override them, and `parseLimitFlags` reads them from `--max-uploads`, `--max-uploads-per-client`,
 * `--upload-idle-seconds`, `--body-timeout-seconds` and `--min-body-rate`.
 */
import { readFile } from "node:fs/promises";
import { type CommandArgs, usageError as usage } from "../args";
import type { REGISTRY_SERVE } from "../command-specs";
import { onTermination } from "../../process/signals";
import { PipelineError } from "../../errors";
import type { RegistryLimits } from "../../devregistry/limits";
import { startDevRegistry } from "../../devregistry/server";

export interface RegistryServeOptions extends Partial<RegistryLimits> {
  root: string;
  /** Default 127.0.0.1. */
  host?: string;
  /** Default 5000; 0 picks a free port. */
  port?: number;
  user?: string;
  passwordFile?: string;
  log?: boolean;
}

export interface RegistryServeIo {
  stdout: (line: string) => void;
  stderr: (line: string) => void;
  signal?: AbortSignal;
}

/** A usage error: exit code 2, like every other bad flag. */

/** `--port` as typed: an integer from 0 to 65535 (0 picks a free port). */
export function parsePort(raw: string): number {
  if (!/^\d{1,5}$/.test(raw) || Number(raw) > 65535)
    throw usage(`--port: expected a port number 0-65535, got ${JSON.stringify(raw)}`);
  return Number(raw);
}

/** The resource-limit flags as typed (all optional); see `parseLimitFlags`. */
export type LimitFlags = Pick<
  CommandArgs<typeof REGISTRY_SERVE>,
  "max-uploads" | "max-uploads-per-client" | "upload-idle-seconds" | "body-timeout-seconds" | "min-body-rate"
>;

/**
 * `--max-uploads N`, `--max-uploads-per-client N`, `--upload-idle-seconds S`, `--body-timeout-seconds S`,
 * `--min-body-rate BYTES_PER_SECOND` as registry limits: positive integers,
 * a usage error naming the flag otherwise. Absent flags keep the defaults.
 */
export function parseLimitFlags(flags: LimitFlags): Partial<RegistryLimits> {
  const positive = (flag: keyof LimitFlags): number | undefined => {
    const raw = flags[flag];
    if (raw === undefined) return undefined;
    if (!/^\d{1,9}$/.test(raw) || Number(raw) === 0)
      throw usage(`--${flag}: expected a positive integer, got ${JSON.stringify(raw)}`);
    return Number(raw);
  };
  const seconds = (flag: keyof LimitFlags): number | undefined => {
    const n = positive(flag);
    return n === undefined ? undefined : n * 1000;
  };
  return {
    maxUploads: positive("max-uploads"),
    maxUploadsPerClient: positive("max-uploads-per-client"),
    uploadIdleMs: seconds("upload-idle-seconds"),
    bodyTimeoutMs: seconds("body-timeout-seconds"),
    minBodyRate: positive("min-body-rate"),
  };
}

async function readPassword(file: string): Promise<string> {
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    throw new PipelineError(
      "E_PASSWORD_FILE",
      `--password-file ${JSON.stringify(file)}: cannot read it (${err.code ?? err.message})`,
      {
        cause: e,
      },
    );
  }
  const password = text.replace(/\r?\n$/, "");
  if (!password)
    throw new PipelineError("E_PASSWORD_FILE", `--password-file ${JSON.stringify(file)}: the file is empty`);
  return password;
}

/** Resolves when `signal` aborts, or on SIGINT/SIGTERM/SIGHUP when there is no signal. */
function stopRequested(signal: AbortSignal | undefined): Promise<void> {
  if (signal) {
    if (signal.aborted) return Promise.resolve();
    return new Promise((done) => signal.addEventListener("abort", () => done(), { once: true }));
  }
  return new Promise((done) => {
    const off = onTermination(() => {
      off();
      done();
    });
  });
}

export async function registryServe(opts: RegistryServeOptions, io: RegistryServeIo): Promise<void> {
  if (!opts.root) throw usage("--root: a storage directory is required");
  if ((opts.user === undefined) !== (opts.passwordFile === undefined)) {
    throw usage(
      opts.user === undefined
        ? `--password-file ${JSON.stringify(opts.passwordFile)}: needs --user as well`
        : `--user ${JSON.stringify(opts.user)}: needs --password-file as well`,
    );
  }
  if (opts.user !== undefined && (opts.user === "" || opts.user.includes(":"))) {
    throw usage(`--user ${JSON.stringify(opts.user)}: expected a non-empty name without ":"`);
  }
  const auth =
    opts.user !== undefined && opts.passwordFile !== undefined
      ? { user: opts.user, password: await readPassword(opts.passwordFile) }
      : undefined;
  const registry = await startDevRegistry({
    root: opts.root,
    host: opts.host,
    port: opts.port,
    auth,
    log: opts.log ? io.stderr : undefined,
    maxUploads: opts.maxUploads,
    uploadIdleMs: opts.uploadIdleMs,
    bodyTimeoutMs: opts.bodyTimeoutMs,
  });
  try {
    io.stdout(`listening on ${registry.address}`);
    await stopRequested(io.signal);
  } finally {
    await registry.close();
  }
}
