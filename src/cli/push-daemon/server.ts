/**
 * `pipeline push-daemon` (internal): the resident process that runs `bazel run //pkg:NAME_push`'s pushes, so that a
 * push starts no Node (the launcher's bash talks to it, protocol.ts). It serves one bundle, one push at a time: a
 * push runs in a worker thread started ahead of it with the push command loaded (worker.ts), in the launcher's
 * environment, directory and terminal, and the thread ends with the push, so nothing one push held (a registry
 * token, a credential helper's answer, a module's state) is there for the next. A second launcher asking while a
 * push runs, or one whose Node would start differently (protocol.ts STARTUP_VARIABLES), is declined and pushes
 * itself.
 *
 * It ends after PIPELINE_PUSH_DAEMON_IDLE_SECONDS (default 1800) without a push, when its bundle changes or goes
 * (a rebuild of the rules' CLI, `bazel clean --expunge`), or when its state file is no longer its own; it removes
 * its state file as it ends. One line per push goes to `<state file>.log` (no argument or environment value), and one
 * as it ends, saying why.
 */
import { randomBytes, timingSafeEqual } from "node:crypto";
import {
  linkSync,
  lstatSync,
  mkdirSync,
  statSync,
  unlinkSync,
  writeFileSync,
  appendFileSync,
  chmodSync,
} from "node:fs";
import { createServer, type Socket } from "node:net";
import { Worker } from "node:worker_threads";
import { PipelineError } from "../../errors";
import { pidAlive } from "../../process/owner";
import { tempPath } from "../../process/temp";
import { lazyBundleFile } from "../lazy-bundle";
import {
  daemonDir,
  type DaemonState,
  encodeChunk,
  formatState,
  INTERRUPT,
  parseRequest,
  readRequest,
  readState,
  loaderEnv,
  type PushRequest,
  STARTUP_VARIABLES,
  stateFile,
  type WorkerMessage,
  type WorkerRequest,
} from "./protocol";

export const DEFAULT_IDLE_SECONDS = 1800;
/** How often an idle daemon checks its bundle and state file. */
const CHECK_MS = 20_000;
const LOG_MAX_BYTES = 256 * 1024;
/** How long an interrupted push thread has to run its exit hooks before it is stopped. */
const INTERRUPT_GRACE_MS = 5_000;

export interface DaemonOptions {
  /** The CLI bundle the daemon serves (`pipeline_cli.js`), as the launchers name it (PIPELINE_CLI). */
  bundle: string;
  /** The loader the launchers run it with (PIPELINE_CLI_LOADER). */
  loader: string;
  /** The CLI's npm packages (PIPELINE_CLI_NODE_MODULES): the push threads' module path. */
  toolsNodeModules?: string;
  env: NodeJS.ProcessEnv;
  idleSeconds: number;
}

/** A file's identity: a rebuilt or removed bundle has another (or none). */
function identity(file: string): string {
  try {
    const s = statSync(file);
    return `${s.dev}:${s.ino}:${s.size}:${s.mtimeMs}`;
  } catch {
    return "gone";
  }
}

/** Makes `dir` (and its parents) and checks it is the user's own and private: the secrets live there. */
export function privateDir(dir: string): void {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const s = lstatSync(dir);
  if (!s.isDirectory() || (process.getuid && s.uid !== process.getuid()))
    throw new PipelineError("E_BAD_INPUT", `push daemon: ${dir} is not a directory of this user's`);
  if ((s.mode & 0o077) !== 0) chmodSync(dir, 0o700);
}

export async function servePushDaemon(opts: DaemonOptions): Promise<never> {
  const dir = daemonDir(opts.env);
  privateDir(dir);
  const file = stateFile(opts.env, opts.bundle);
  const watched = [opts.bundle, lazyBundleFile(opts.bundle), opts.loader];
  const identities = watched.map(identity);
  /** The bundle was rebuilt or removed since the daemon started (its files have another identity, or none). */
  const bundleChanged = () => watched.some((f, i) => identity(f) !== identities[i]);
  const startup = fingerprint(opts.env);
  const log = (line: string) => writeLog(`${file}.log`, line);

  let next = prewarm(opts);
  let busy = false;
  let idle: NodeJS.Timeout | undefined;
  const state: DaemonState = {
    port: 0,
    serverSecret: randomBytes(24).toString("hex"),
    clientSecret: randomBytes(24).toString("hex"),
    pid: process.pid,
  };

  const server = createServer((socket) => {
    socket.setNoDelay(true);
    socket.on("error", () => undefined);
    socket.write(`${state.serverSecret}\n`);
    readRequest(socket).then(
      (fields) => {
        // Not one of this user's launchers, or not a request: nothing is answered.
        if (!fields) {
          log("dropped a connection: no whole request within 10 s or 1 MiB");
          return socket.destroy();
        }
        const req = parseRequest(fields);
        if (!("clientSecret" in req) || !sameSecret(req.clientSecret, state.clientSecret)) {
          log(`dropped a connection: ${"problem" in req ? req.problem : "not the client secret"}`);
          return socket.destroy();
        }
        const changed = !busy && bundleChanged();
        const reason = busy ? "busy" : declineReason(req, startup, opts, changed);
        if (reason) {
          socket.end(`n ${reason}\n`);
          log(`declined: ${reason}`);
          if (changed) stop(0, "the bundle changed");
          return;
        }
        busy = true;
        if (idle) clearTimeout(idle);
        serve(req, socket).finally(() => {
          busy = false;
          idleTimer();
        });
      },
      () => socket.destroy(),
    );
  });

  async function serve(req: PushRequest, socket: Socket): Promise<void> {
    const started = Date.now();
    try {
      process.chdir(req.cwd);
    } catch (e) {
      socket.end(`n cannot enter the working directory: ${(e as Error).message.replace(/\n/g, " ")}\n`);
      return;
    }
    let worker: Worker;
    try {
      worker = await next;
    } catch (e) {
      socket.end(`n ${(e as Error).message.replace(/\n/g, " ")}\n`);
      stop(1, (e as Error).message);
    }
    socket.write("y\n");
    let done = false;
    const ended = new Promise<number>((resolve) => {
      worker.on("message", (m: WorkerMessage) => {
        if ("chunk" in m && !socket.destroyed) socket.write(encodeChunk(m.stream, m.chunk));
      });
      worker.on("error", () => undefined);
      worker.on("exit", (code) => resolve(code));
    });
    socket.on("close", () => {
      if (done) return;
      // The launcher is gone: the thread ends its push (exit hooks and all), or is stopped if it cannot.
      worker.postMessage(INTERRUPT);
      setTimeout(() => void worker.terminate(), INTERRUPT_GRACE_MS).unref();
    });
    const request: WorkerRequest = { args: req.args, env: loaderEnv(req.env), tty: req.tty, columns: req.columns };
    worker.postMessage(request);
    const code = await ended;
    done = true;
    const interrupted = socket.destroyed;
    // Logged first: once the launcher has its exit code, the push is over for whoever looks.
    log(`${interrupted ? "interrupted" : `exit ${code}`} in ${Date.now() - started} ms`);
    if (!interrupted) socket.end(`x${code}\n`);
    // The next push's thread starts once this one's launcher has its answer: started beside the push, its start-up
    // (the bundle's modules loaded, the client warmed) took the cores the push and Bazel were using.
    next = prewarm(opts);
  }

  function idleTimer(): void {
    if (idle) clearTimeout(idle);
    idle = setTimeout(() => stop(0, `idle for ${opts.idleSeconds} s`), opts.idleSeconds * 1000);
  }

  /** Ends the daemon, its state file removed if it is still its own; the log says why. */
  function stop(code: number, why: string): never {
    log(`stopping: ${why}`);
    try {
      if (readState(file)?.pid === process.pid) unlinkSync(file);
    } catch {
      // gone already
    }
    server.close();
    process.exit(code);
  }

  // Before the state file is published: a signal that came between the two would end the daemon and leave its file.
  for (const s of ["SIGTERM", "SIGINT", "SIGHUP"] as const) process.on(s, () => stop(0, s));
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  const address = server.address();
  if (!address || typeof address === "string") throw new Error("push daemon: no TCP address");
  state.port = address.port;
  if (!publish(file, state)) {
    log("another daemon serves this bundle");
    server.close();
    process.exit(0);
  }
  log(`serving ${opts.bundle} on 127.0.0.1:${state.port}`);
  idleTimer();
  setInterval(() => {
    if (busy) return;
    if (readState(file)?.pid !== process.pid) stop(0, "its state file is another's");
    if (bundleChanged()) stop(0, "the bundle changed");
  }, CHECK_MS).unref();
  return new Promise<never>(() => undefined);
}

/** Why the daemon must not run `req` (the launcher then pushes itself), or undefined. */
function declineReason(
  req: PushRequest,
  startup: Map<string, string | undefined>,
  opts: DaemonOptions,
  changed: boolean,
): string | undefined {
  if (changed) return "the bundle changed";
  if (req.env.PIPELINE_CLI !== opts.bundle) return "another bundle";
  const env = loaderEnv(req.env);
  for (const [name, value] of startup) if (env[name] !== value) return `${name} differs from the daemon's`;
  if (req.nodeFlags.join(" ") !== process.execArgv.join(" ")) return "Node's flags differ from the daemon's";
  // Standard input stays the launcher's: a push that reads it runs there.
  if (req.args.some((a) => a === "--password-stdin" || a.startsWith("--password-stdin="))) return "--password-stdin";
  return undefined;
}

/** The STARTUP_VARIABLES of `env`, as the loader leaves them (worker.ts loaderEnv). */
function fingerprint(env: NodeJS.ProcessEnv): Map<string, string | undefined> {
  const seen = loaderEnv(env);
  return new Map(STARTUP_VARIABLES.map((n) => [n, seen[n]]));
}

function sameSecret(got: string, want: string): boolean {
  const a = Buffer.from(got);
  const b = Buffer.from(want);
  return a.length === b.length && timingSafeEqual(a, b);
}

/** A worker thread with the push command loaded, waiting for its one request. */
function prewarm(opts: DaemonOptions): Promise<Worker> {
  const worker = new Worker(opts.loader, {
    argv: [opts.bundle, "push-daemon-worker"],
    env: {
      ...process.env,
      ...(opts.toolsNodeModules ? { PIPELINE_TOOLS_NODE_MODULES: opts.toolsNodeModules } : {}),
    },
  });
  const ready = new Promise<Worker>((resolve, reject) => {
    worker.once("message", () => resolve(worker));
    worker.once("error", reject);
    worker.once("exit", (code) => reject(new Error(`push daemon: a push thread ended before its push (exit ${code})`)));
  });
  ready.catch(() => undefined); // observed when a push takes it; an idle daemon must not end on it
  return ready;
}

/** Writes the state file only if none is there, or the one there is a dead daemon's. */
function publish(file: string, state: DaemonState): boolean {
  const tmp = tempPath(file);
  writeFileSync(tmp, formatState(state), { mode: 0o600 });
  try {
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        linkSync(tmp, file);
        return true;
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
        const other = readState(file);
        if (other && other.pid !== process.pid && pidAlive(other.pid)) return false;
        try {
          unlinkSync(file);
        } catch {
          // another daemon removed it first
        }
      }
    }
    return false;
  } finally {
    unlinkSync(tmp);
  }
}

function writeLog(file: string, line: string): void {
  try {
    const size = (() => {
      try {
        return statSync(file).size;
      } catch {
        return 0;
      }
    })();
    const text = `${new Date().toISOString()} ${process.pid} ${line}\n`;
    if (size > LOG_MAX_BYTES) writeFileSync(file, text, { mode: 0o600 });
    else appendFileSync(file, text, { mode: 0o600 });
  } catch {
    // the log is for people: a push never fails for it
  }
}
