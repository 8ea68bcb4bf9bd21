/**
 * Progress of blob transfers. Push and pull report to a ProgressSink; the library default is silent.
 * `progressFor()` gives the CLI what suits where stderr goes: on a terminal (not in CI, not `TERM=dumb`) one updating
 * line per active blob with its rate and ETA; anywhere else one plain line per finished or skipped blob, as docker
 * and crane print them, never a cursor code. Finished and skipped blobs read like every other progress line of the
 * CLI, `<what>: <state>` (`layer 1/2 0123456789ab: uploaded 3.0 MiB in 1.5s`; see src/cli/progress-lines.test.ts).
 */
import type { Digest } from "../oci/digest";

export type BlobOutcome = "uploaded" | "mounted" | "downloaded";

export interface ProgressSink {
  /** A transfer starts. `label` says what the blob is ("layer 2/3", "config"). */
  blobStart(digest: Digest, size: number, label?: string): void;
  /** Bytes moved so far for this blob (may go back down when a request is retried). */
  blobProgress(digest: Digest, bytes: number): void;
  /** `label` names the blob when no blobStart did (a mounted blob). */
  blobDone(digest: Digest, outcome: BlobOutcome, label?: string): void;
  /** Nothing to move: the registry already has it. */
  skip(digest: Digest, reason: string, label?: string): void;
}

export const silentProgress: ProgressSink = {
  blobStart() {},
  blobProgress() {},
  blobDone() {},
  skip() {},
};

/**
 * One blob's download reported to `progress`, the one way every reader does it (a registry's blob streamed or fetched
 * into a file, a Bazel cache's layer, a model's file): started now, `onBytes` is the byte-count callback the
 * registry client and the Bazel cache take, `done` reports it downloaded (`ended` calls it when a stream ends).
 */
export function downloadProgress(
  progress: ProgressSink,
  blob: { digest: Digest; size: number },
  label: string,
): { onBytes(bytes: number): void; done(): void; ended<T extends NodeJS.ReadableStream>(stream: T): T } {
  progress.blobStart(blob.digest, blob.size, label);
  const done = () => progress.blobDone(blob.digest, "downloaded");
  return {
    onBytes: (bytes) => progress.blobProgress(blob.digest, bytes),
    done,
    ended(stream) {
      stream.once("end", done);
      return stream;
    },
  };
}

/** The part of a TTY stream the renderer uses. */
export interface TerminalStream {
  write(chunk: string): unknown;
  isTTY?: boolean;
  columns?: number;
}

interface Active {
  label: string;
  size: number;
  bytes: number;
  /** When the transfer started (ms, the renderer's clock). */
  started: number;
  /** Whether `label` was given (else it is the short digest). */
  named: boolean;
}

export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ["KiB", "MiB", "GiB", "TiB"];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v.toFixed(v >= 100 ? 0 : 1)} ${units[i]}`;
}

function short(digest: Digest): string {
  return digest.replace(/^sha256:/, "").slice(0, 12);
}

/** What a blob line is about: its label (when there is one) and its short digest. */
function blobName(digest: Digest, label: string | undefined): string {
  return label ? `${label} ${short(digest)}` : short(digest);
}

/**
 * Renders on a terminal: finished blobs scroll up as permanent lines, active blobs stay below as one
 * line each, redrawn at most every `throttleMs` (starts and completions redraw at once).
 */
export class TtyProgress implements ProgressSink {
  private readonly active = new Map<string, Active>();
  private drawn = 0;
  private lastDraw = 0;
  private readonly throttleMs: number;
  private readonly now: () => number;

  constructor(
    private readonly out: TerminalStream,
    opts: { throttleMs?: number; now?: () => number } = {},
  ) {
    this.throttleMs = opts.throttleMs ?? 100;
    this.now = opts.now ?? Date.now;
  }

  blobStart(digest: Digest, size: number, label?: string): void {
    this.active.set(digest, {
      label: label ?? short(digest),
      size,
      bytes: 0,
      started: this.now(),
      named: label !== undefined,
    });
    this.draw([]);
  }

  blobProgress(digest: Digest, bytes: number): void {
    const a = this.active.get(digest);
    if (!a) return;
    a.bytes = bytes;
    if (this.now() - this.lastDraw >= this.throttleMs) this.draw([]);
  }

  blobDone(digest: Digest, outcome: BlobOutcome, label?: string): void {
    const a = this.active.get(digest);
    this.active.delete(digest);
    const size = a ? ` ${formatBytes(a.size)}` : "";
    this.draw([`${blobName(digest, a?.named ? a.label : label)}: ${outcome}${size}`]);
  }

  skip(digest: Digest, reason: string, label?: string): void {
    this.active.delete(digest);
    this.draw([`${blobName(digest, label)}: ${reason}`]);
  }

  private line(a: Active): string {
    const pct = a.size > 0 ? Math.floor((a.bytes / a.size) * 100) : 100;
    const seconds = (this.now() - a.started) / 1000;
    let speed = "";
    if (seconds >= 0.5 && a.bytes > 0) {
      const rate = a.bytes / seconds;
      speed = ` ${formatBytes(Math.round(rate))}/s ETA ${formatDuration(Math.max(0, a.size - a.bytes) / rate)}`;
    }
    return `${a.label} ${formatBytes(a.bytes)} / ${formatBytes(a.size)} (${pct}%)${speed}`;
  }

  private fit(s: string): string {
    const width = this.out.columns ?? 0;
    return width > 1 && s.length >= width ? s.slice(0, width - 1) : s;
  }

  private draw(permanent: string[]): void {
    let s = "";
    // Back to the first active line and clear to the end of the screen.
    if (this.drawn > 0) s += `\x1b[${this.drawn}F\x1b[0J`;
    for (const p of permanent) s += this.fit(p) + "\n";
    const lines = [...this.active.values()].map((a) => this.fit(this.line(a)));
    for (const l of lines) s += l + "\n";
    this.drawn = lines.length;
    this.lastDraw = this.now();
    if (s) this.out.write(s);
  }
}

/** `1.5s`, `42s`, `3m05s`: short, for an ETA or a duration. */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds)) return "?";
  if (seconds < 10) return `${seconds.toFixed(1)}s`;
  if (seconds < 60) return `${Math.round(seconds)}s`;
  const m = Math.floor(seconds / 60);
  return `${m}m${String(Math.round(seconds - m * 60)).padStart(2, "0")}s`;
}

/** Off a terminal: one line per finished or skipped blob (what, outcome, size, time), nothing while it moves. */
export class LineProgress implements ProgressSink {
  private readonly started = new Map<string, { label?: string; size: number; at: number }>();
  private readonly now: () => number;

  constructor(
    private readonly line: (s: string) => void,
    opts: { now?: () => number } = {},
  ) {
    this.now = opts.now ?? Date.now;
  }

  blobStart(digest: Digest, size: number, label?: string): void {
    this.started.set(digest, { label, size, at: this.now() });
  }

  blobProgress(_digest: Digest, _bytes: number): void {}

  blobDone(digest: Digest, outcome: BlobOutcome, label?: string): void {
    const s = this.started.get(digest);
    this.started.delete(digest);
    const size = s ? ` ${formatBytes(s.size)} in ${formatDuration((this.now() - s.at) / 1000)}` : "";
    this.line(`${blobName(digest, s ? s.label : label)}: ${outcome}${size}`);
  }

  skip(digest: Digest, reason: string, label?: string): void {
    this.started.delete(digest);
    this.line(`${blobName(digest, label)}: ${reason}`);
  }
}

/** Whether `stream` is a terminal that takes cursor codes: a TTY, not in CI, not `TERM=dumb`. */
export function isFancyTerminal(
  stream: Pick<TerminalStream, "isTTY">,
  env: Record<string, string | undefined>,
): boolean {
  return Boolean(stream.isTTY) && !env.CI && env.TERM !== "dumb";
}

/** The TTY renderer when `stream` is a fancy terminal (see isFancyTerminal); silent otherwise. */
export function progressForTerminal(
  stream: TerminalStream = process.stderr,
  env: Record<string, string | undefined> = process.env,
): ProgressSink {
  return isFancyTerminal(stream, env) ? new TtyProgress(stream) : silentProgress;
}

/** What the CLI's commands report to: the TTY renderer on a fancy terminal, else one line per blob on `stderr`. */
export function progressFor(
  io: { isTTY: boolean; env: Record<string, string | undefined>; stderr: (line: string) => void },
  stream: TerminalStream = process.stderr,
): ProgressSink {
  return isFancyTerminal({ isTTY: io.isTTY }, io.env) ? new TtyProgress(stream) : new LineProgress((l) => io.stderr(l));
}
