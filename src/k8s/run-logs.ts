/**
 * Following a pod's log the way `kubectl logs -f` would, and surviving a dropped stream: the log is read with
 * `follow=true&timestamps=true`, each line's RFC3339Nano timestamp is stripped and remembered, and when the
 * stream ends while the container still runs (an API server or kubelet restart, an idle proxy, a network
 * blip) it is reopened with `sinceTime` = the newest timestamp printed. `sinceTime` has one-second precision, so
 * the reopened stream repeats the lines of that second: those already printed are skipped (by timestamp and text,
 * counted), so no line is printed twice and none is lost for being out of timestamp order (LogCursor).
 */
import type { IncomingMessage } from "node:http";
import { PipelineError } from "../errors";
import type { KubeHttp } from "./run-api";

/** A point in a log: nanoseconds since the epoch (BigInt: RFC3339Nano has more digits than a double keeps). */
type Stamp = bigint;
const SECOND = 1_000_000_000n;

/** The start of a stamp's second (what `sinceTime` goes back to). */
const secondOf = (stamp: Stamp): Stamp => stamp - (stamp % SECOND);

const STAMP = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d{1,9}))?(Z|[+-]\d\d:\d\d) /;

/** Splits `TIMESTAMP text` into the stamp and the text (undefined stamp when the line has none). */
export function splitStamped(line: string): { stamp?: Stamp; text: string } {
  const m = STAMP.exec(line);
  if (!m) return { text: line };
  const seconds = Date.parse(`${m[1]}${m[3]}`);
  if (Number.isNaN(seconds)) return { text: line };
  const nanos = BigInt((m[2] ?? "").padEnd(9, "0"));
  return { stamp: BigInt(seconds) * 1_000_000n + nanos, text: line.slice(m[0].length) };
}

/** RFC3339 at one-second precision, rounded down (what `sinceTime` accepts). */
export function sinceTimeOf(stamp: Stamp): string {
  return new Date(Number(stamp / SECOND) * 1000).toISOString().replace(/\.\d{3}Z$/, "Z");
}

/**
 * Remembers what was printed and decides which lines of a reopened stream are new. A container's log is not in
 * timestamp order: the runtime stamps stdout and stderr lines in separate readers, so a stderr line can follow a
 * stdout line with a later stamp. A line is therefore never judged by its stamp alone: what a reopened stream sends
 * again (every line from `sinceTime`, the newest printed stamp's second) is recognised by stamp and text, counted,
 * so a line printed n times is skipped n times and everything else is printed.
 */
export class LogCursor {
  /** The newest stamp printed: a reopened stream starts at its second. */
  private newest?: Stamp;
  /**
   * The lines from the newest stamp's second on (what a reopened stream sends again), by `stamp text`: how many
   * times each was printed, and how many times the current stream has sent it.
   */
  private lines = new Map<string, { stamp: Stamp; printed: number; sent: number }>();

  /** Call when a stream is (re)opened. */
  reopen(): void {
    for (const line of this.lines.values()) line.sent = 0;
  }

  get sinceTime(): string | undefined {
    return this.newest === undefined ? undefined : sinceTimeOf(this.newest);
  }

  /** True when the line should be printed (and records it). Lines without a timestamp are always new. */
  accept(stamp: Stamp | undefined, text: string): boolean {
    if (stamp === undefined) return true;
    // Older than the newest second: no reopened stream sends it again, so it is new and need not be remembered.
    if (this.newest !== undefined && stamp < secondOf(this.newest)) return true;
    const key = `${stamp} ${text}`;
    let line = this.lines.get(key);
    if (!line) this.lines.set(key, (line = { stamp, printed: 0, sent: 0 }));
    line.sent++;
    if (line.sent <= line.printed) return false;
    line.printed++;
    if (this.newest === undefined || stamp > this.newest) {
      const second = secondOf(stamp);
      // A reopened stream starts at this second now: what came before it is never sent again.
      if (this.newest !== undefined && secondOf(this.newest) < second) {
        for (const [k, l] of this.lines) if (l.stamp < second) this.lines.delete(k);
      }
      this.newest = stamp;
    }
    return true;
  }
}

export interface FollowOptions {
  namespace: string;
  pod: string;
  container: string;
  follow: boolean;
  cursor: LogCursor;
  /** Gets each new line, without its timestamp and newline. */
  onLine(text: string): void;
  signal?: AbortSignal;
}

/**
 * Reads the log once (until the server ends the stream or it breaks). Resolves "end" on a clean end, "broken"
 * when the connection failed or the stream ended without its last newline; rejects on an error answer.
 */
export async function readLogOnce(api: KubeHttp, o: FollowOptions): Promise<"end" | "broken"> {
  o.cursor.reopen();
  let res: IncomingMessage;
  try {
    res = await api.stream(
      `/api/v1/namespaces/${encodeURIComponent(o.namespace)}/pods/${encodeURIComponent(o.pod)}/log`,
      { verb: "get", resource: "pods/log", namespace: o.namespace, name: o.pod },
      { container: o.container, follow: String(o.follow), timestamps: "true", sinceTime: o.cursor.sinceTime },
      o.signal,
    );
  } catch (e) {
    // A connection that broke before the answer: the caller reads the pod next, which says whether the
    // server is really gone (that error is the one reported) or the log can be followed again.
    if (e instanceof PipelineError && e.code === "E_K8S_UNREACHABLE") return "broken";
    throw e;
  }
  return new Promise((resolve) => {
    let pending = "";
    let settled = false;
    const finish = (how: "end" | "broken") => {
      if (settled) return;
      settled = true;
      // A partial last line is printed only on a clean end (a broken stream's tail comes again on resume).
      if (how === "end" && pending) emit(pending);
      resolve(how);
    };
    const emit = (line: string) => {
      const { stamp, text } = splitStamped(line);
      if (o.cursor.accept(stamp, text)) o.onLine(text);
    };
    res.setEncoding("utf8");
    res.on("data", (chunk: string) => {
      pending += chunk;
      let nl: number;
      while ((nl = pending.indexOf("\n")) >= 0) {
        emit(pending.slice(0, nl).replace(/\r$/, ""));
        pending = pending.slice(nl + 1);
      }
    });
    res.on("end", () => finish(res.complete ? "end" : "broken"));
    res.on("aborted", () => finish("broken"));
    res.on("error", () => finish("broken"));
    res.on("close", () => finish(res.complete ? "end" : "broken"));
  });
}
