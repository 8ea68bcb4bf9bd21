/** Reading request bodies the handlers do not stream: a whole small body with a size limit, or none at all. */
import type { IncomingMessage } from "node:http";
import { ErrorAnswer } from "./error-answer";

/** Reads a whole (small) request body, answering 413 beyond `limit` bytes. */
export async function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  const declared = Number(req.headers["content-length"] ?? "0");
  if (declared > limit) {
    throw new ErrorAnswer(413, "SIZE_INVALID", `request body of ${declared} bytes exceeds the limit of ${limit} bytes`);
  }
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    total += chunk.length;
    if (total > limit) {
      throw new ErrorAnswer(413, "SIZE_INVALID", `request body exceeds the limit of ${limit} bytes`);
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

/** Drains and discards a request body we do not use, so keep-alive connections stay usable. */
export function discardBody(req: IncomingMessage): void {
  if (!req.readableEnded) req.resume();
}

/** True when the request announces a body (a length above 0, or chunked). */
export function hasBody(req: IncomingMessage): boolean {
  return req.headers["transfer-encoding"] !== undefined || Number(req.headers["content-length"] ?? "0") > 0;
}
