/**
 * TypeScript 7's compile kept between a worker's requests (native.ts): one `tsc --watch` per target, in the target's
 * tree (tree.ts), whose program (the parsed default lib, `@types/node`, the sources, the checker's results) stays in
 * memory, where a one-shot `tsc --incremental` parses everything again on each request. TypeScript 7.0 has no compiler
 * API to hold a program with; its watch mode is the compiler's own way to keep one, driven here by the tree's files.
 *
 * - The process: `tsc -p WATCH_CONFIG --watch --preserveWatchOutput` with the one-shot compile's other arguments (the
 *   target's `--incremental` state, `--outDir`, `--singleThreaded`). WATCH_CONFIG (beside the target's config)
 *   extends it and adds the sentinel to its files, nothing else. It is started under `sh`, which writes tsc's output
 *   to a log in the target's state (watch-log.ts reads it by offset and parses its builds: each one's first line,
 *   written before it reads any source, its diagnostics, exactly what one-shot prints, and its error count) and holds
 *   the worker's stdin: when that closes (the worker exits or is killed), sh kills tsc.
 * - The first request's answer is the process's first build (it starts after the tree holds the request's inputs).
 *   A later request is answered by a build that began after every change of the request: the process is stopped
 *   (SIGSTOP) before the tree changes, the log read to its end, the changes made, the sentinel (SENTINEL, a script
 *   `"TOKEN";` in a directory of its own in the tree, a root file of no consequence; tsc's watcher watches the
 *   directories of what it read, not the tree's root) written with a new token, and the process continued: a build
 *   whose first line lies past the log's end at the stop began after all of it, and reads every file it uses after
 *   (a build under way at the stop is passed over; the changes' events, queued meanwhile, start the next). Its
 *   `.tsbuildinfo`, read as its last line arrives (every build writes it, with errors too), must give the sentinel a
 *   new version (tsc's hash of its text); a build whose file cannot be told from a later build's (that one had begun)
 *   is passed over. A build reads a file again when its event or a new modification time says so: native.ts copies a
 *   program file whose digest changed into the tree, with a modification time of its own.
 * - A process that exited, could not be stopped, or gave no answer within its bound (10 times its first build, at
 *   least 20 s; `PIPELINE_TSC_RESIDENT_BOUND_MS` sets it, for tests), is stopped for good and the request compiled
 *   one-shot (`undefined`), as is an answer with a configuration error (after one tsc's watch mode builds no more); a
 *   target whose `.tsbuildinfo` does not list the sentinel (a configuration this cannot follow) is compiled one-shot
 *   from then on. A request that changes anything but program files' contents (paths, package.json, configs) stops
 *   the target's process: the next request starts a new one. Only where /proc tells a stopped process (Linux).
 * - At most MAX_RESIDENTS processes (`PIPELINE_TSC_RESIDENTS`, default 4, 0: none), the least recently used stopped
 *   first; each holds its target's program (140-230 MB resident for a 30-module library with `@types/node`).
 */
import { type ChildProcess, spawn } from "node:child_process";
import { mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { basename, dirname, join, relative } from "node:path";
import { type Build, WatchLog } from "./watch-log";

/**
 * The sentinel's path in the tree: in a directory of its own, as tsc's watcher watches the directories of the files
 * it read but not its working directory (the tree's root).
 */
export const SENTINEL = "__rules_pipeline_tsc/sentinel.ts";
const WATCH_CONFIG = ".rules_pipeline_watch.json";
const MAX_RESIDENTS = Number(process.env.PIPELINE_TSC_RESIDENTS ?? 4);

/** An error of the configuration (a config file's, or one with no file): tsc builds no more after it. */
const CONFIG_ERROR = /^(?:error TS\d+|\S+\.json\(\d+,\d+\): error TS\d+)/m;

/**
 * `sh -c GUARD sh LOG TSC ARGS...`: tsc's output to LOG; its process id on sh's stderr; the worker's stdin (fd 3),
 * whose end (EOF) kills tsc; tsc's exit status is sh's.
 */
const GUARD =
  'log=$1; shift; exec 3<&0 0</dev/null; "$@" >"$log" 2>&1 3<&- & p=$!; echo "pid $p" >&2; ' +
  '{ read -r _ <&3; kill -9 "$p"; } & k=$!; exec 3<&-; wait "$p"; s=$?; kill "$k" 2>/dev/null; exit "$s"';

/** How a resident is started: tsc, its arguments but `-p`, the tree and the name tsc knows it by, its state. */
export interface ResidentSpec {
  native: string;
  /** The target's generated config, in the tree. */
  project: string;
  /** tsc's arguments besides `-p` (`--outDir`, `--incremental` state, `--singleThreaded`, `--pretty false`). */
  args: string[];
  /** The tree (its real path), the name tsc is given for it, and the spawn's environment. */
  cwd: string;
  name: string;
  env: NodeJS.ProcessEnv;
  /** The files of the generated config, relative to its directory. */
  files: string[];
  /** The `.tsbuildinfo` tsc writes (`--tsBuildInfoFile`), and the state directory holding it, the outDir and the log. */
  buildInfo: string;
  state: string;
}

class Resident {
  private readonly child: ChildProcess;
  private readonly log: WatchLog;
  private readonly builds: Build[] = [];
  private wake: (() => void) | undefined;
  private pid = 0;
  private paused = false;
  exited = "";
  firstBuildMs = 0;
  private token = 0;

  constructor(readonly spec: ResidentSpec) {
    const sentinel = join(spec.cwd, SENTINEL);
    mkdirSync(dirname(sentinel), { recursive: true });
    writeFileSync(sentinel, '"0";\n');
    const configDir = dirname(join(spec.cwd, spec.project));
    const config = {
      extends: `./${basename(spec.project)}`,
      files: [...spec.files, relative(configDir, sentinel)],
    };
    writeFileSync(join(configDir, WATCH_CONFIG), JSON.stringify(config));
    const project = join(spec.name, dirname(spec.project), WATCH_CONFIG);
    mkdirSync(spec.state, { recursive: true });
    const log = join(spec.state, "watch.log");
    this.log = new WatchLog(log, () => sentinelVersion(spec.buildInfo));
    const env = { ...spec.env };
    delete env.TS_WATCH_DEBUG;
    this.child = spawn(
      "/bin/sh",
      ["-c", GUARD, "sh", log, spec.native, "-p", project, "--watch", "--preserveWatchOutput", ...spec.args],
      { cwd: spec.cwd, env, stdio: ["pipe", "ignore", "pipe"] },
    );
    this.child.stderr?.setEncoding("utf8");
    this.child.stderr?.on("data", (d: string) => {
      const pid = /^pid (\d+)$/m.exec(d);
      if (pid) this.pid = Number(pid[1]);
    });
    this.child.on("error", (e) => this.exit(`could not start: ${e.message}`));
    this.child.on("exit", (code, signal) => this.exit(`exited with ${signal ?? code}`));
    this.child.stdin?.on("error", () => {});
  }

  /** Takes the builds tsc finished since the last call. */
  private poll(): void {
    this.builds.push(...this.log.read());
  }

  private exit(why: string): void {
    this.exited ||= why;
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
  }

  /**
   * The next build that ends, or undefined when the process exited or the time `until` (ms since the epoch) passed.
   * The log is looked at every millisecond for 200 ms (a build of a small change takes ~40 ms; a poll is one fstat),
   * then every 5 ms. A build found after `until` is no answer: a busy event loop looks late, and the bound is the
   * compiler's, not the loop's.
   */
  private async nextBuild(until: number): Promise<Build | undefined> {
    const since = Date.now();
    for (;;) {
      const late = Date.now() > until;
      this.poll();
      if (this.builds.length && !late) return this.builds.shift();
      const left = until - Date.now();
      if (this.exited || left <= 0) return undefined;
      await new Promise<void>((done) => {
        const timer = setTimeout(done, Math.min(left, Date.now() - since < 200 ? 1 : 5));
        this.wake = () => {
          clearTimeout(timer);
          done();
        };
      });
    }
  }

  /** The first build, and whether its `.tsbuildinfo` lists the sentinel (else the process cannot be followed). */
  async first(): Promise<{ build: Build | undefined; sentinel: boolean }> {
    const started = Date.now();
    const build = await this.nextBuild(started + FIRST_BUILD_MS);
    this.firstBuildMs = Date.now() - started;
    return { build, sentinel: build?.sentinel !== undefined };
  }

  /** Stops the process (SIGSTOP) before the request changes its tree; false when it cannot be (it is then dropped). */
  async pause(): Promise<boolean> {
    if (this.exited || !this.pid) return false;
    try {
      process.kill(this.pid, "SIGSTOP");
    } catch {
      return false;
    }
    this.paused = true;
    // Each thread stops as it next leaves the kernel, most within a fraction of a millisecond: looked at again at once
    // for the first 2 ms (a timer's 1 ms is most of the wait otherwise), then every millisecond, for 400 ms at most.
    const since = Date.now();
    while (Date.now() - since < 400) {
      if (allStopped(this.pid)) return true;
      await new Promise((r) => (Date.now() - since < 2 ? setImmediate(r) : setTimeout(r, 1)));
    }
    return false;
  }

  /** Continues a paused process. */
  resume(): void {
    if (!this.paused) return;
    this.paused = false;
    try {
      process.kill(this.pid, "SIGCONT");
    } catch {
      // Gone: its exit says so.
    }
  }

  /** The answer to a request whose changes the paused process's tree holds: a build begun after them (the header). */
  async after(): Promise<Build | undefined> {
    const bound = Number(process.env.PIPELINE_TSC_RESIDENT_BOUND_MS) || Math.max(20_000, 10 * this.firstBuildMs);
    this.poll();
    // Everything tsc wrote before it was stopped is parsed; a build whose first line starts here or later began after.
    const from = this.log.boundary;
    this.builds.length = 0;
    const before = sentinelVersion(this.spec.buildInfo);
    const tmp = join(this.spec.cwd, `${SENTINEL}.tmp`);
    writeFileSync(tmp, `"${++this.token}";\n`);
    renameSync(tmp, join(this.spec.cwd, SENTINEL));
    // One bound for the answer, from before the process continues (this one may be slow to look after it), however
    // many builds are passed over on the way.
    const until = Date.now() + bound;
    this.resume();
    let build: Build | undefined;
    do {
      build = await this.nextBuild(until);
      if (!build) return undefined;
    } while (build.start < from || build.sentinel === undefined || build.sentinel === before);
    return build;
  }

  /**
   * Stops the process (sh kills tsc when its stdin closes, stopped or not); resolves once it exited and its state
   * (which a build cut short may have left half-written) is removed: the target's next compile starts from none.
   */
  async stop(): Promise<void> {
    this.resume();
    if (!this.exited) {
      await new Promise<void>((done) => {
        this.child.once("exit", () => done());
        this.child.stdin?.end();
      });
    }
    this.log.close();
    rmSync(this.spec.state, { recursive: true, force: true });
  }

  /** The log's size parsed so far: a long-lived compiler's log is bounded by starting a new one (LOG_LIMIT). */
  get logBytes(): number {
    return this.log.boundary;
  }
}

/** The log a compiler may write before the next request starts a new one (its program parsed again). */
const LOG_LIMIT = 64 * 2 ** 20;

/**
 * A thread's state letter from its /proc stat file (`T`: stopped, `t`: stopped while traced), or undefined. The
 * tsc bundles are built from src/tsc alone (BUILD.bazel's _TSC_SRCS), so not src/process/owner.ts's procStat.
 */
function taskState(stat: string): string | undefined {
  try {
    const text = readFileSync(stat, "utf8");
    return text.slice(text.lastIndexOf(")") + 2, text.lastIndexOf(")") + 3);
  } catch {
    return undefined;
  }
}

/**
 * Whether every thread of process `pid` is stopped. A stop reaches each thread of a process on its own (the kernel
 * stops each on its way out of the kernel): the first, which `/proc/PID/stat` shows, may be stopped while another (tsc
 * builds on other threads than its first) still runs. A thread that exited meanwhile (gone from `task/`) runs no more.
 */
function allStopped(pid: number): boolean {
  let tasks: string[];
  try {
    tasks = readdirSync(`/proc/${pid}/task`);
  } catch {
    return false;
  }
  return tasks.every((t) => {
    const state = taskState(`/proc/${pid}/task/${t}/stat`);
    return state === undefined || state === "T" || state === "t";
  });
}

/** The bound of a first build (one-shot compiles have none): only a compiler that hangs meets it. */
const FIRST_BUILD_MS = 15 * 60_000;

/** The sentinel's version (tsc's hash of its text) in the `.tsbuildinfo` at `file`, if it lists it. */
function sentinelVersion(file: string): string | undefined {
  try {
    const info: unknown = JSON.parse(readFileSync(file, "utf8"));
    if (!info || typeof info !== "object" || !("fileNames" in info) || !("fileInfos" in info)) return undefined;
    const { fileNames, fileInfos } = info;
    if (!Array.isArray(fileNames) || !Array.isArray(fileInfos)) return undefined;
    const at = fileNames.findIndex((n) => n === SENTINEL || (typeof n === "string" && n.endsWith(`/${SENTINEL}`)));
    const entry: unknown = fileInfos[at];
    if (typeof entry === "string") return entry;
    return entry && typeof entry === "object" && "version" in entry ? String(entry.version) : undefined;
  } catch {
    return undefined;
  }
}

const residents = new Map<string, Resident>();
/** Targets whose sentinel tsc did not emit: compiled one-shot. */
const unusable = new Set<string>();

/** Whether a target's requests may be answered by a resident compiler (where /proc tells a stopped process). */
export function residentEnabled(key: string): boolean {
  return MAX_RESIDENTS > 0 && !unusable.has(key) && process.platform === "linux";
}

/** Stops every resident compiler (the worker's stdin closed: its process may then exit). */
export async function stopAllResidents(): Promise<void> {
  await Promise.all([...residents.keys()].map((key) => stopResident(key)));
}

/** Stops the target's resident compiler, if it has one; resolves once it exited (it writes no more in the tree). */
export async function stopResident(key: string): Promise<void> {
  const resident = residents.get(key);
  residents.delete(key);
  await resident?.stop();
}

/**
 * Pauses the target's resident compiler before its tree changes (the header); false when it has none that could be
 * paused. `resumeResident` continues it if the request ends without asking it (a module-format error).
 */
export async function pauseResident(key: string): Promise<boolean> {
  const resident = residents.get(key);
  return resident ? resident.pause() : false;
}

/** Continues the target's resident compiler if it is paused. */
export function resumeResident(key: string): void {
  residents.get(key)?.resume();
}

/**
 * The target's answer from its resident compiler (`paused` by pauseResident before the tree changed; started for
 * `spec` when it has none, or one for another tree), or undefined when it could not answer (the request is then to be
 * compiled one-shot, its state dropped).
 */
export async function residentBuild(key: string, spec: ResidentSpec, paused: boolean): Promise<Build | undefined> {
  let resident = residents.get(key);
  if (resident && (resident.exited || !paused)) {
    // Died between requests, or could not be paused: this request is compiled one-shot (from no state), the next
    // starts a new compiler.
    await stopResident(key);
    return undefined;
  }
  if (resident && (resident.spec.cwd !== spec.cwd || resident.logBytes > LOG_LIMIT)) {
    await stopResident(key);
    resident = undefined;
  }
  residents.delete(key);
  let build: Build | undefined;
  if (resident) build = await resident.after();
  else {
    resident = new Resident(spec);
    const first = await resident.first();
    build = first.build;
    // A sentinel tsc did not record, or complained of (outside a rootDir a test's config set): not for this target.
    const said = build?.lines.join("\n") ?? "";
    const cannot = !build && resident.exited.startsWith("could not start");
    if (cannot || (build && ((!first.sentinel && !CONFIG_ERROR.test(said)) || said.includes(dirname(SENTINEL))))) {
      unusable.add(key);
      build = undefined;
    }
    if (!first.sentinel) build = undefined;
  }
  // A configuration error is answered one-shot: tsc's watch mode builds no more after one.
  if (!build || CONFIG_ERROR.test(build.lines.join("\n"))) {
    await resident.stop();
    return undefined;
  }
  residents.set(key, resident);
  while (residents.size > MAX_RESIDENTS) {
    const [oldest] = residents.keys();
    await stopResident(oldest);
  }
  return build;
}
