/**
 * TypeScript 7's compile kept between a worker's requests (native.ts): one `tsc --watch` per target, in the target's
 * tree (tree.ts), whose program (the parsed default lib, `@types/node`, the sources, the checker's results) stays in
 * memory, where a one-shot `tsc --incremental` parses everything again on each request. TypeScript 7.0 has no compiler
 * API to hold a program with; its watch mode is the compiler's own way to keep one, driven here by the tree's files.
 *
 * - The process: `tsc -p WATCH_CONFIG --watch --preserveWatchOutput` with the one-shot compile's other arguments (the
 *   target's `--incremental` state, `--outDir`, `--singleThreaded`). WATCH_CONFIG (beside the target's config)
 *   extends it and adds the sentinel to its files, nothing else. It is started under `sh` holding the worker's stdin:
 *   when that closes (the worker exits or is killed), sh kills tsc.
 * - Each build tsc runs ends with its line `... - Found N errors. Watching for file changes.`; the lines since the
 *   build's first (`... - Starting compilation in watch mode...` or `... - File change detected...`) are its
 *   diagnostics, exactly what one-shot prints.
 * - The first request's answer is the process's first build (it starts after the tree holds the request's inputs).
 *   A later request's tree changed under the running process: the answer must be a build that started after every
 *   change. The sentinel (SENTINEL, a script `"TOKEN";` in a directory of its own in the tree, a root file of no
 *   consequence; tsc's watcher watches the directories of what it read, not the tree's root) is written with a new
 *   token: the build whose `.tsbuildinfo`, read as its last line arrives, gives it a new version (tsc's hash of its
 *   text; written by every build, with errors too) ended after the changes (it read the sentinel after they were
 *   made). tsc runs one build after another, so one started later began after every change: the sentinel is written
 *   again with a second token, and the build that records that one's version is the answer. A build whose file
 *   cannot be told from a later build's (that one had begun) is passed over. (A build reads a file again when its
 *   change's event or a new modification time says so: native.ts copies a program file whose digest changed into
 *   the tree, with a modification time of its own, so that neither can be missed.)
 * - A process that exited, or gave no answer within its bound (10 times its first build, at least 20 s;
 *   `PIPELINE_TSC_RESIDENT_BOUND_MS` sets it, for tests), is stopped and the request compiled one-shot
 *   (`undefined`), as is an answer with a configuration error (after one tsc's watch mode
 *   builds no more); a target whose `.tsbuildinfo` does not list the sentinel (a configuration this cannot follow) is
 *   compiled one-shot from then on. A request that changes anything but program files' contents (paths, package.json,
 *   configs) stops the target's process: the next request starts a new one.
 * - At most MAX_RESIDENTS processes (`PIPELINE_TSC_RESIDENTS`, default 4, 0: none), the least recently used stopped
 *   first; each holds its target's program (~60 MB resident for a 30-module library with `@types/node`).
 */
import { type ChildProcess, spawn } from "node:child_process";
import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { basename, dirname, join, relative } from "node:path";

/**
 * The sentinel's path in the tree: in a directory of its own, as tsc's watcher watches the directories of the files
 * it read but not its working directory (the tree's root).
 */
export const SENTINEL = "__rules_pipeline_tsc/sentinel.ts";
const WATCH_CONFIG = ".rules_pipeline_watch.json";
const MAX_RESIDENTS = Number(process.env.PIPELINE_TSC_RESIDENTS ?? 4);

/** A build's start and end, as tsc's watch mode prints them (`--pretty false`). */
const BUILD_START =
  /^.+ - (?:Starting compilation in watch mode|File change detected\. Starting incremental compilation)\.\.\.$/;
const BUILD_END = /^.+ - Found (\d+) errors?\b.*Watching for file changes\.$/;
/** An error of the configuration (a config file's, or one with no file): tsc builds no more after it. */
const CONFIG_ERROR = /^(?:error TS\d+|\S+\.json\(\d+,\d+\): error TS\d+)/m;

/** `exec 3<&0`: the worker's stdin, whose end (EOF) kills tsc; tsc's exit status is sh's. */
const GUARD =
  'exec 3<&0 0</dev/null; "$@" 3<&- & p=$!; { read -r _ <&3; kill -9 "$p"; } & k=$!; exec 3<&-; ' +
  'wait "$p"; s=$?; kill "$k" 2>/dev/null; exit "$s"';

/**
 * One build's diagnostics (tsc's lines), its error count, and the sentinel's version its `.tsbuildinfo` recorded, read
 * as its last line arrived (undefined when another build had begun by then: the file may be that one's).
 */
export interface Build {
  lines: string[];
  errors: number;
  sentinel: string | undefined;
}

/** How a resident is started: tsc, its arguments but `-p`, the tree and the name tsc knows it by, the outDir. */
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
  /** The `.tsbuildinfo` tsc writes (`--tsBuildInfoFile`), and the state directory holding it and the outDir. */
  buildInfo: string;
  state: string;
}

class Resident {
  private readonly child: ChildProcess;
  private partial = "";
  private current: string[] = [];
  private readonly builds: Build[] = [];
  private wake: (() => void) | undefined;
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
    const env = { ...spec.env };
    delete env.TS_WATCH_DEBUG;
    this.child = spawn(
      "/bin/sh",
      ["-c", GUARD, "sh", spec.native, "-p", project, "--watch", "--preserveWatchOutput", ...spec.args],
      { cwd: spec.cwd, env, stdio: ["pipe", "pipe", "pipe"] },
    );
    this.child.stdout?.setEncoding("utf8");
    this.child.stdout?.on("data", (d: string) => this.read(d));
    this.child.stderr?.setEncoding("utf8");
    this.child.stderr?.on("data", (d: string) => this.current.push(...d.split("\n").filter(Boolean)));
    this.child.on("error", (e) => this.exit(`could not start: ${e.message}`));
    this.child.on("exit", (code, signal) => this.exit(`exited with ${signal ?? code}`));
    this.child.stdin?.on("error", () => {});
  }

  private read(d: string): void {
    const lines = (this.partial + d).split("\n");
    this.partial = lines.pop() ?? "";
    let ended: Build | undefined;
    for (const line of lines) {
      const end = BUILD_END.exec(line);
      if (end) {
        ended = { lines: this.current, errors: Number(end[1]), sentinel: undefined };
        this.builds.push(ended);
        this.current = [];
      } else if (BUILD_START.test(line)) {
        ended = undefined;
        this.current = [];
      } else if (line.trim()) this.current.push(line);
    }
    if (ended) ended.sentinel = sentinelVersion(this.spec.buildInfo);
    if (this.builds.length) this.notify();
  }

  private exit(why: string): void {
    this.exited ||= why;
    this.notify();
  }

  private notify(): void {
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
  }

  /** The next build that ends (taken from those ended), or undefined when the process exited or `ms` passed. */
  private async nextBuild(ms: number): Promise<Build | undefined> {
    const until = Date.now() + ms;
    while (!this.builds.length && !this.exited) {
      const left = until - Date.now();
      if (left <= 0) return undefined;
      await new Promise<void>((done) => {
        const timer = setTimeout(done, left);
        this.wake = () => {
          clearTimeout(timer);
          done();
        };
      });
    }
    return this.builds.shift();
  }

  /** The first build, and whether its `.tsbuildinfo` lists the sentinel (else the process cannot be followed). */
  async first(): Promise<{ build: Build | undefined; sentinel: boolean }> {
    const started = Date.now();
    const build = await this.nextBuild(FIRST_BUILD_MS);
    this.firstBuildMs = Date.now() - started;
    return { build, sentinel: build?.sentinel !== undefined };
  }

  /** The answer to a request whose changes the tree already holds: a build started after them (the header). */
  async after(): Promise<Build | undefined> {
    const bound = Number(process.env.PIPELINE_TSC_RESIDENT_BOUND_MS) || Math.max(20_000, 10 * this.firstBuildMs);
    // Builds that ended before this request (the watcher saw other changes) read none of its tokens.
    this.builds.length = 0;
    let build: Build | undefined;
    for (let phase = 0; phase < 2; phase++) {
      const before = sentinelVersion(this.spec.buildInfo);
      const tmp = join(this.spec.cwd, `${SENTINEL}.tmp`);
      writeFileSync(tmp, `"${++this.token}";\n`);
      renameSync(tmp, join(this.spec.cwd, SENTINEL));
      do {
        build = await this.nextBuild(bound);
        if (!build) return undefined;
      } while (build.sentinel === undefined || build.sentinel === before);
    }
    return build;
  }

  /**
   * Stops the process (sh kills tsc when its stdin closes); resolves once it exited and its state (which a build cut
   * short may have left half-written) is removed: the target's next compile starts from none.
   */
  async stop(): Promise<void> {
    if (!this.exited) {
      await new Promise<void>((done) => {
        this.child.once("exit", () => done());
        this.child.stdin?.end();
      });
    }
    rmSync(this.spec.state, { recursive: true, force: true });
  }
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

/** Whether a target's requests may be answered by a resident compiler. */
export function residentEnabled(key: string): boolean {
  return MAX_RESIDENTS > 0 && !unusable.has(key);
}

/** Stops the target's resident compiler, if it has one; resolves once it exited (it writes no more in the tree). */
export async function stopResident(key: string): Promise<void> {
  const resident = residents.get(key);
  residents.delete(key);
  await resident?.stop();
}

/**
 * The target's answer from its resident compiler (started for `spec` when it has none, or one for another tree), or
 * undefined when it could not answer (the request is then to be compiled one-shot, its state dropped).
 */
export async function residentBuild(key: string, spec: ResidentSpec): Promise<Build | undefined> {
  let resident = residents.get(key);
  if (resident?.exited) {
    // Died between requests: this one is compiled one-shot (from no state), the next starts a new compiler.
    await stopResident(key);
    return undefined;
  }
  if (resident && resident.spec.cwd !== spec.cwd) {
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
