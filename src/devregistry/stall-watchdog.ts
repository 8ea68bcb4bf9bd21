/**
 * Cuts off a request whose client stalls, so a stalled upload (or a client that never reads its answer) cannot
 * pin a file descriptor forever. Node's own `requestTimeout` limits a whole request, which would cut off big
 * layers on slow links; this limits inactivity instead.
 *
 * Every quarter of the timeout the watchdog looks at the connection. The client is "owed" progress while the
 * request body is incomplete and our buffer for it has room (so Node is reading the socket), or while answer
 * bytes wait in the socket's queue. Bytes read or written, or a change in the queue, are progress. When the
 * client owed progress and made none for `timeoutMs`, `onStall` runs once. Time the registry spends itself
 * (hashing, waiting for another chunk of the same upload, which fills our buffer) never counts.
 */
import type { IncomingMessage, ServerResponse } from "node:http";

export function watchStalls(req: IncomingMessage, res: ServerResponse, timeoutMs: number, onStall: () => void): void {
  const socket = req.socket;
  const progress = (): string => `${socket.bytesRead}/${socket.bytesWritten}/${socket.writableLength}`;
  let seen = progress();
  let since = Date.now();
  const owed = (): boolean =>
    (!req.complete && req.readableLength < req.readableHighWaterMark) || socket.writableLength > 0;
  const stop = (): void => {
    clearInterval(timer);
    socket.off("close", stop);
    res.off("close", stop);
  };
  const timer = setInterval(() => {
    if (socket.destroyed || (req.complete && res.writableFinished)) return stop();
    const now = Date.now();
    const p = progress();
    if (p !== seen || !owed()) {
      seen = p;
      since = now;
      return;
    }
    if (now - since >= timeoutMs) {
      stop();
      onStall();
    }
  }, Math.max(5, Math.floor(timeoutMs / 4)));
  timer.unref();
  socket.once("close", stop);
  // A keep-alive socket outlives this request: stop watching when its answer is done, not at the next tick, or
  // fast requests on one connection pile up "close" listeners on the socket.
  res.once("close", stop);
}
