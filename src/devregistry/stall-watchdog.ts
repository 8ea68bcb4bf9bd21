/**
 * Cuts off a request whose client stalls or drips, so a stalled upload (or a client that never reads its answer)
 * cannot pin a file descriptor forever. Node's own `requestTimeout` limits a whole request, which would cut off
 * big layers on slow links; this limits inactivity, and the body's rate, instead.
 *
 * Every quarter of the timeout the watchdog looks at the connection. The client is "owed" progress while the
 * request body is incomplete and our buffer for it has room (so Node is reading the socket), or while answer
 * bytes wait in the socket's queue. Bytes read or written, or a change in the queue, are progress. When the
 * client owed progress and made none for `timeoutMs`, `onStall` runs once. Time the registry spends itself
 * (hashing, waiting for another chunk of the same upload, which fills our buffer) never counts.
 *
 * The body's rate: over each `timeoutMs` of time spent waiting for the body (owed as above, our buffer with room),
 * the bytes read must be at least `minBodyRate` per second, else `onStall` runs once too. A body dripped a byte
 * every 10 s makes progress, so only the rate catches it.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import { RateWindow } from "../rate-window";

export interface StallLimits {
  timeoutMs: number;
  /** Bytes per second a request body must arrive at while we wait for it. */
  minBodyRate: number;
}

/** Why a request was cut off, for its 408. */
export type StallReason = { kind: "stall" } | { kind: "slow"; bytes: number; ms: number };

export function watchStalls(
  req: IncomingMessage,
  res: ServerResponse,
  limits: StallLimits,
  onStall: (why: StallReason) => void,
): void {
  const { timeoutMs, minBodyRate } = limits;
  const socket = req.socket;
  const progress = (): string => `${socket.bytesRead}/${socket.bytesWritten}/${socket.writableLength}`;
  let seen = progress();
  let since = Date.now();
  let last = since;
  const body = new RateWindow(minBodyRate, timeoutMs, socket.bytesRead);
  const bodyOwed = (): boolean => !req.complete && req.readableLength < req.readableHighWaterMark;
  const owed = (): boolean => bodyOwed() || socket.writableLength > 0;
  const stop = (): void => {
    clearInterval(timer);
    socket.off("close", stop);
    res.off("close", stop);
  };
  const timer = setInterval(
    () => {
      if (socket.destroyed || (req.complete && res.writableFinished)) return stop();
      const now = Date.now();
      const short = body.tick(bodyOwed() ? now - last : 0, socket.bytesRead);
      last = now;
      if (short) {
        stop();
        onStall({ kind: "slow", ...short });
        return;
      }
      const p = progress();
      if (p !== seen || !owed()) {
        seen = p;
        since = now;
        return;
      }
      if (now - since >= timeoutMs) {
        stop();
        onStall({ kind: "stall" });
      }
    },
    Math.max(5, Math.floor(timeoutMs / 4)),
  );
  timer.unref();
  socket.once("close", stop);
  // A keep-alive socket outlives this request: stop watching when its answer is done, not at the next tick, or
  // fast requests on one connection pile up "close" listeners on the socket.
  res.once("close", stop);
}
