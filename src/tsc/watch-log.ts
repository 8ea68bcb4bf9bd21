/**
 * The log of a `tsc --watch` (resident.ts), read by offset: what tsc wrote before a moment is all in the file at that
 * moment, as a pipe's output is not. Each build tsc runs starts with its line `... - Starting compilation in watch
 * mode...` or `... - File change detected...` (written before the build reads any source) and ends with `... - Found
 * N errors. Watching for file changes.` (`--pretty false`); the lines between are its diagnostics, exactly what
 * one-shot prints.
 */
import { closeSync, fstatSync, openSync, readSync, writeFileSync } from "node:fs";

const BUILD_START =
  /^.+ - (?:Starting compilation in watch mode|File change detected\. Starting incremental compilation)\.\.\.$/;
const BUILD_END = /^.+ - Found (\d+) errors?\b.*Watching for file changes\.$/;

/**
 * One build's diagnostics (tsc's lines), its error count, where its first line starts in the log, and the sentinel's
 * version its `.tsbuildinfo` recorded, read as its last line was parsed (undefined when another build had written
 * its first line by then: the file may be that one's).
 */
export interface Build {
  lines: string[];
  errors: number;
  start: number;
  sentinel: string | undefined;
}

export class WatchLog {
  private readonly fd: number;
  /** The log's bytes parsed so far, and the last line's beginning, not yet complete. */
  private offset = 0;
  private partial = Buffer.alloc(0);
  private current: string[] = [];
  private currentStart = 0;

  /** An empty log at `file`; `version` reads the sentinel's version from the `.tsbuildinfo`. */
  constructor(
    file: string,
    private readonly version: () => string | undefined,
  ) {
    writeFileSync(file, "");
    this.fd = openSync(file, "r");
  }

  /** Where the parsed part ends: a build whose first line starts here or later is not parsed yet. */
  get boundary(): number {
    return this.offset - this.partial.length;
  }

  /** The builds that ended in what tsc wrote since the last call. */
  read(): Build[] {
    // Polled every few milliseconds while a request waits: nothing is read or allocated until the log grew.
    const fresh = this.written();
    if (!fresh?.length) return [];
    let at = this.boundary;
    const text = Buffer.concat([this.partial, fresh]);
    this.offset += fresh.length;
    const builds: Build[] = [];
    let ended: Build | undefined;
    let from = 0;
    for (let nl = text.indexOf(10); nl >= 0; nl = text.indexOf(10, from)) {
      const line = text.subarray(from, nl).toString("utf8");
      const end = BUILD_END.exec(line);
      if (end) {
        ended = { lines: this.current, errors: Number(end[1]), start: this.currentStart, sentinel: undefined };
        builds.push(ended);
        this.current = [];
      } else if (BUILD_START.test(line)) {
        ended = undefined;
        this.current = [];
        this.currentStart = at;
      } else if (line.trim()) this.current.push(line);
      at += nl + 1 - from;
      from = nl + 1;
    }
    this.partial = Buffer.from(text.subarray(from));
    if (ended) {
      const version = this.version();
      // A later build writes its first line before it reads or writes anything: none written since, the file was this
      // build's when it was read.
      ended.sentinel = this.startWritten() ? undefined : version;
    }
    return builds;
  }

  /** What tsc wrote past the parsed part of the log; undefined when it cannot be read. */
  private written(): Buffer | undefined {
    try {
      const size = fstatSync(this.fd).size;
      if (size <= this.offset) return Buffer.alloc(0);
      const rest = Buffer.alloc(size - this.offset);
      return rest.subarray(0, readSync(this.fd, rest, 0, rest.length, this.offset));
    } catch {
      return undefined;
    }
  }

  /** Whether a build's first line is among what tsc wrote after the parsed part of the log (it is not parsed here). */
  private startWritten(): boolean {
    const rest = this.written();
    if (!rest) return true;
    const text = Buffer.concat([this.partial, rest]).toString("utf8");
    return text.split("\n").some((line) => BUILD_START.test(line));
  }

  close(): void {
    closeSync(this.fd);
  }
}
