/**
 * Lines of text: log plumbing and messages. Container output is passed on as it comes. With a prefix (replicas > 1) it is cut into lines
 * and each line gets the prefix; a last line without a newline is flushed when the stream ends.
 */
import { Writable } from "node:stream";

/** A stream that writes every line it receives to `dest` with `prefix` in front. */
export function prefixedLines(prefix: string, dest: NodeJS.WritableStream): Writable {
  return lineWriter((line) => dest.write(`${prefix}${line}\n`));
}

/** A stream that calls `onLine` for each complete line (without the newline), and for the rest at the end. */
export function lineWriter(onLine: (line: string) => void): Writable {
  let pending = "";
  return new Writable({
    decodeStrings: true,
    write(chunk: Buffer, _enc, cb) {
      pending += chunk.toString("utf8");
      let nl: number;
      while ((nl = pending.indexOf("\n")) >= 0) {
        onLine(pending.slice(0, nl).replace(/\r$/, ""));
        pending = pending.slice(nl + 1);
      }
      cb();
    },
    final(cb) {
      if (pending) onLine(pending);
      pending = "";
      cb();
    },
  });
}

/** The last non-empty line of a program's output, for error messages. */
export function lastLine(text: string): string {
  return (
    text
      .trim()
      .split("\n")
      .filter((l) => l.trim())
      .pop() ?? ""
  ).trim();
}
