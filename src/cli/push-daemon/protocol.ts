/**
 * The push daemon's wire format and where it is found, shared by its server (server.ts), the code that starts it
 * (start.ts) and the bash client in every push launcher (bazel/private/pipeline/push_client.sh): one place says
 * what both sides must agree on.
 *
 * A daemon serves the pushes of one CLI bundle (one output base's `pipeline_cli.js`). Its state file,
 * `<cache root>/push-daemon/<key>` (`key` from the bundle's path), holds one line `PORT SERVER_SECRET CLIENT_SECRET
 * PID`; the directory is the user's own and 0700, the file 0600. On a loopback TCP connection:
 *
 *   daemon → client   SERVER_SECRET "\n"             (the client checks it before it sends anything)
 *   client → daemon   fields, each ended by a NUL:   "S" CLIENT_SECRET, "V" VERSION, "D" working directory,
 *                     "T" 1|0 (stderr is a terminal), "W" columns, "F" a Node flag of the launcher (repeated),
 *                     "A" an argument of `pipeline bazel-push` (repeated, in order), "E" NAME=VALUE (the launcher's
 *                     whole exported environment, repeated), then "Z"
 *   daemon → client   "y\n" (serving) or "n REASON\n" (declined: the launcher runs the push itself, as without a
 *                     daemon), then lines "o"/"e" + a chunk of stdout/stderr escaped for bash's `printf %b`
 *                     (encodeChunk), and last "x" + the exit code.
 *
 * A connection that closes before "x" ends the push it asked for (the launcher was interrupted); a launcher that
 * reads no "x" pushes again without the daemon (a push is idempotent: blobs by digest, then the same tags).
 */
import { readFileSync } from "node:fs";
import type { Socket } from "node:net";
import { isAbsolute, join } from "node:path";
import { cacheRoot } from "../../cache/layout";

/**
 * `env` as the launcher's Node sees it once its loader and entry ran (tools/bundle-loader.ts, tools/pipeline.ts):
 * the CA file `ca_swap` kept aside is NODE_EXTRA_CA_CERTS again, and the tools' module path is consumed.
 */
export function loaderEnv(env: NodeJS.ProcessEnv): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(env)) if (v !== undefined) out[k] = v;
  if (out.PIPELINE_NODE_EXTRA_CA_CERTS !== undefined) {
    out.NODE_EXTRA_CA_CERTS = out.PIPELINE_NODE_EXTRA_CA_CERTS;
    delete out.PIPELINE_NODE_EXTRA_CA_CERTS;
  }
  delete out.PIPELINE_TOOLS_NODE_MODULES;
  return out;
}

/** The protocol's version: a launcher and a daemon of other versions never talk (the daemon declines). */
export const PROTOCOL_VERSION = "1";

/** The longest request a daemon reads (its environment and arguments): larger ones are declined, unread. */
export const MAX_REQUEST_BYTES = 1 << 20;

/** How long a client has to send its request after the greeting. */
const REQUEST_MS = 10_000;

/** The key's length at most: a file name, well under NAME_MAX. */
const KEY_MAX = 200;

/**
 * The state file's name for the bundle at `cli`: every byte of its UTF-8 path that is not an ASCII letter or digit
 * becomes "_", and the last 200 bytes are kept. The launcher computes the same in bash with LC_ALL=C
 * (`${PIPELINE_CLI//[^A-Za-z0-9]/_}`); test/unit/push-client.test.ts holds the two equal.
 */
export function daemonKey(cli: string): string {
  const bytes = Buffer.from(cli, "utf8");
  let key = "";
  for (const b of bytes) key += /[A-Za-z0-9]/.test(String.fromCharCode(b)) ? String.fromCharCode(b) : "_";
  return key.length > KEY_MAX ? key.slice(-KEY_MAX) : key;
}

/** The directory of the state files: `<cache root>/push-daemon` (src/cache/layout.ts). */
export function daemonDir(env: NodeJS.ProcessEnv): string {
  return join(cacheRoot(env), "push-daemon");
}

/** The state file of the daemon for bundle `cli`. */
export function stateFile(env: NodeJS.ProcessEnv, cli: string): string {
  return join(daemonDir(env), daemonKey(cli));
}

export interface DaemonState {
  port: number;
  serverSecret: string;
  clientSecret: string;
  pid: number;
}

export function formatState(s: DaemonState): string {
  return `${s.port} ${s.serverSecret} ${s.clientSecret} ${s.pid}\n`;
}

/** The state file's line, or undefined when it is not one (a partial or foreign file). */
export function parseState(text: string): DaemonState | undefined {
  const m = /^(\d{1,5}) ([0-9a-f]{32,}) ([0-9a-f]{32,}) (\d+)\n$/.exec(text);
  if (!m) return undefined;
  return { port: Number(m[1]), serverSecret: m[2], clientSecret: m[3], pid: Number(m[4]) };
}

/** The state in `file`, or undefined when there is none or it is not a daemon's line (a partial or foreign file). */
export function readState(file: string): DaemonState | undefined {
  try {
    return parseState(readFileSync(file, "utf8"));
  } catch {
    return undefined;
  }
}

/**
 * A chunk of output as one protocol line: `kind`, then the text with every byte bash's `printf %b` would read
 * specially or that would end the line escaped (backslash, newline, other control characters as `\0NNN`).
 */
export function encodeChunk(kind: "o" | "e", text: string): string {
  let out = kind;
  for (const ch of text) {
    const c = ch.codePointAt(0) ?? 0;
    if (ch === "\\") out += "\\\\";
    else if (c < 0x20 || c === 0x7f) out += `\\0${c.toString(8).padStart(3, "0")}`;
    else out += ch;
  }
  return `${out}\n`;
}

/** What a client asks: a `pipeline bazel-push` run in its environment, directory and terminal. */
export interface PushRequest {
  clientSecret: string;
  version: string;
  cwd: string;
  tty: boolean;
  columns?: number;
  nodeFlags: string[];
  args: string[];
  env: Record<string, string>;
}

/** The request in `fields` (the NUL-separated fields before "Z"), or a reason it is not one. */
export function parseRequest(fields: string[]): PushRequest | { problem: string } {
  const req: PushRequest = { clientSecret: "", version: "", cwd: "", tty: false, nodeFlags: [], args: [], env: {} };
  for (const f of fields) {
    const v = f.slice(1);
    switch (f[0]) {
      case "S":
        req.clientSecret = v;
        break;
      case "V":
        req.version = v;
        break;
      case "D":
        req.cwd = v;
        break;
      case "T":
        req.tty = v === "1";
        break;
      case "W":
        if (/^\d{1,4}$/.test(v)) req.columns = Number(v);
        break;
      case "F":
        req.nodeFlags.push(v);
        break;
      case "A":
        req.args.push(v);
        break;
      case "E": {
        const eq = v.indexOf("=");
        if (eq <= 0) return { problem: `environment field without a name: ${JSON.stringify(v.slice(0, 40))}` };
        req.env[v.slice(0, eq)] = v.slice(eq + 1);
        break;
      }
      default:
        return { problem: `unknown field ${JSON.stringify(f.slice(0, 1))}` };
    }
  }
  if (req.version !== PROTOCOL_VERSION) return { problem: `protocol version ${JSON.stringify(req.version)}` };
  if (!isAbsolute(req.cwd)) return { problem: `working directory ${JSON.stringify(req.cwd)} is not absolute` };
  return req;
}

/** The request's fields (up to "Z"), or undefined when the client sent too much, too little or too late. */
export function readRequest(socket: Socket): Promise<string[] | undefined> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const timer = setTimeout(() => finish(undefined), REQUEST_MS);
    const finish = (fields: string[] | undefined) => {
      clearTimeout(timer);
      socket.off("data", onData);
      socket.off("close", onClose);
      resolve(fields);
    };
    const onClose = () => finish(undefined);
    const onData = (chunk: Buffer) => {
      chunks.push(chunk);
      size += chunk.length;
      if (size > MAX_REQUEST_BYTES) return finish(undefined);
      const all = Buffer.concat(chunks);
      if (
        all.length >= 2 &&
        all.subarray(-2).equals(Buffer.from("Z\0")) &&
        (all.length === 2 || all[all.length - 3] === 0)
      ) {
        const fields = all.subarray(0, -1).toString("utf8").split("\0");
        fields.pop(); // "" after the last NUL
        fields.pop(); // "Z"
        finish(fields);
      }
    };
    socket.on("data", onData);
    socket.on("close", onClose);
  });
}

/**
 * The variables Node or OpenSSL read once, as a process starts (its CA store, module paths, options), and the
 * launcher's own: a request whose values differ from the daemon's is declined, so a push through the daemon runs
 * as the launcher's own Node would have. HOME too (libuv reads the process's, not a thread's).
 */
export const STARTUP_VARIABLES = [
  "HOME",
  "NODE_OPTIONS",
  "NODE_PATH",
  "NODE_EXTRA_CA_CERTS",
  "NODE_ICU_DATA",
  "NODE_TLS_REJECT_UNAUTHORIZED",
  "OPENSSL_CONF",
  "OPENSSL_MODULES",
  "SSL_CERT_FILE",
  "SSL_CERT_DIR",
  "UV_THREADPOOL_SIZE",
  "PIPELINE_CLI",
  "PIPELINE_CLI_LOADER",
  "PIPELINE_CLI_NODE",
  "PIPELINE_CLI_NODE_MODULES",
] as const;

/** What the daemon sends a push thread: the launcher's request, its environment as loaderEnv leaves it. */
export interface WorkerRequest {
  args: string[];
  env: Record<string, string>;
  tty: boolean;
  columns?: number;
}

/** What the daemon sends a push thread whose launcher went away: end the push as an interrupted process would. */
export const INTERRUPT = "interrupt";

/** What a push thread sends the daemon: that it is ready (once), then its output, chunk by chunk. */
export type WorkerMessage = { ready: true } | { stream: "o" | "e"; chunk: string };
