/**
 * Following a pod's log the way `kubectl logs -f` would, and surviving a dropped stream: the log is read with
 * `follow=true&timestamps=true`, each line's RFC3339Nano timestamp is stripped and remembered, and when the
 * stream ends while the container still runs (an API server or kubelet restart, an idle proxy, a network
 * blip) it is reopened with `sinceTime` = the last timestamp. `sinceTime` has one-second precision, so the
 * reopened stream repeats the lines of that second: those up to the last one already printed are skipped
 * (by timestamp, then by how many lines carried the last timestamp), so no line is printed twice.
 */
import type { IncomingMessage } from "node:http";
import { PipelineError } from "../errors";
import type { KubeHttp } from "./run-api";

/** A point in a log: nanoseconds since the epoch (BigInt: RFC3339Nano has more digits than a double keeps). */
type Stamp = bigint;

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
  return new Date(Number(stamp / 1_000_000_000n) * 1000).toISOString().replace(/\.\d{3}Z$/, "Z");
}

/** Remembers what was printed and decides which lines of a reopened stream are new. */
export class LogCursor {
  private last?: Stamp;
  private atLast = 0;
  private seenAtLastThisStream = 0;

  /** Call when a stream is (re)opened. */
  reopen(): void {
    this.seenAtLastThisStream = 0;
  }

  get sinceTime(): string | undefined {
    return this.last === undefined ? undefined : sinceTimeOf(this.last);
  }

  /** True when the line should be printed (and records it). Lines without a timestamp are always new. */
  accept(stamp: Stamp | undefined): boolean {
    if (stamp === undefined) return true;
    if (this.last !== undefined && stamp < this.last) return false;
    if (this.last !== undefined && stamp === this.last) {
      this.seenAtLastThisStream++;
      if (this.seenAtLastThisStream <= this.atLast) return false;
      this.atLast++;
      return true;
    }
    this.last = stamp;
    this.atLast = 1;
    this.seenAtLastThisStream = 1;
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
      if (o.cursor.accept(stamp)) o.onLine(text);
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
