/**
 * A blob downloaded into a synchronous consumer (a layout's file being written: src/layout/write.ts), its response
 * body read into one reused buffer per connection (node:net and node:tls `onread`) instead of node:http's two fresh
 * buffers per 64 KiB read (the socket's, then the parser's copy of the body). On a 158 MB pull those allocations,
 * their page faults and their garbage collection were ~45% of the client's CPU (issue #43 item 3, bench P7).
 *
 * The request goes through the transport like every other (authentication, retries, redirects, the headers'
 * deadline, the idle timeout), over connections opened here (http.ts Connector, no agent). Until a response's headers
 * are parsed, each read is handed to node:http as a copy, as a socket's 'data'. When the response is a 200 whose
 * Content-Length is the descriptor's size and that has no Transfer-Encoding, its body bypasses node:http from the next
 * read on: each read goes to the consumer while its bytes sit in the buffer (the consumer must be done with them when
 * it returns), and the connection is closed after the last byte. Any other response (an error, a redirect, a chunked
 * or mis-sized body) is read through node:http as before. Either way one Verifier counts and hashes the bytes
 * (src/oci/verifying-stream.ts) and the minimum transfer rate holds (transfer-rate.ts).
 *
 * A fetch may start before its consumer is known (pull.ts asks for the first layers before the config has arrived):
 * what arrives meanwhile is copied aside and the connection paused until into().
 */
import type { IncomingMessage } from "node:http";
import { connect as netConnect, isIP, type OnReadOpts, type Socket } from "node:net";
import type * as tls from "node:tls";
import { performance } from "node:perf_hooks";
import { PipelineError } from "../errors";
import type { BlobConsumer } from "../oci/model";
import type { Verifier } from "../oci/verifying-stream";
import type { Connector, HttpResponse } from "./http-attempt";
import { type TransferRate, tooSlowError, watchRate } from "./transfer-rate";

/** Bytes one read of a direct body may bring: a 100 MB layer is ~100 reads on loopback, not ~1,600. */
const READ_BUFFER = 1024 * 1024;

export interface BlobFetchOptions {
  /** The blob's size (its descriptor's). */
  size: number;
  /** Counts, hashes and judges the bytes (expecting the descriptor's digest and size). */
  verifier: Verifier;
  /** Sends the GET over `connection` and returns the 200 response (any other status is thrown as the client's error). */
  request(connection: Connector): Promise<HttpResponse>;
  rate: Pick<TransferRate, "minBytesPerSecond" | "windowMs">;
  /** Names the download in errors: `get blob sha256:… from HOST/REPO`. */
  operation: string;
  registry: string;
  /** Hears the running count of bytes handed to the consumer (progress). */
  onBytes?: (bytes: number) => void;
}

/** The response whose body bypasses node:http, and its connection. */
interface Direct {
  socket: Socket;
  res: IncomingMessage;
}

export class BlobFetch implements Connector {
  private consumer?: BlobConsumer;
  private direct?: Direct;
  /** The body read through node:http (not direct), once the response is here. */
  private body?: IncomingMessage;
  /** Body bytes that arrived before the consumer (copies, in order). */
  private readonly held: Buffer[] = [];
  /** Body bytes taken off the connection (held or handed on). */
  private received = 0;
  private consumerMs = 0;
  private readonly sockets = new Set<Socket>();
  private socketError?: Error;
  private settled = false;
  private stopWatch: () => void = () => {};
  private readonly result: Promise<void>;
  private resolve!: () => void;
  private reject!: (e: unknown) => void;

  constructor(private readonly o: BlobFetchOptions) {
    this.result = new Promise<void>((resolve, reject) => {
      this.resolve = resolve;
      this.reject = reject;
    });
    this.result.catch(() => {}); // its error is into()'s; a fetch never taken is only aborted
    this.run().catch((e: unknown) => this.fail(e));
  }

  /** Hands every byte of the blob to `consumer`, in order; resolves once all came and the digest and size check out. */
  into(consumer: BlobConsumer): Promise<void> {
    if (this.consumer) throw new Error("BlobFetch.into() called twice");
    this.consumer = consumer;
    for (const chunk of this.held.splice(0)) if (!this.settled) this.deliver(chunk);
    if (this.direct) {
      this.drainResponse();
      if (!this.finishedDirect()) this.direct.socket.resume();
    } else if (this.body) {
      this.readThroughHttp(this.body);
    }
    return this.result;
  }

  /** Whether the body bypassed node:http (known once the response is here). */
  get readDirectly(): boolean {
    return this.direct !== undefined;
  }

  /** Stops the download (a fetch that will not be taken); into()'s promise, if any, rejects. */
  abort(): void {
    this.fail(new PipelineError("E_REGISTRY", `${this.o.operation}: download stopped`));
  }

  connect(url: URL, insecureTls: boolean): Socket {
    // Stopped before its request went out: none goes out (node:http fails the request with this, not retried).
    if (this.settled) throw new PipelineError("E_REGISTRY", `${this.o.operation}: download stopped`);
    const buffer = Buffer.allocUnsafeSlow(READ_BUFFER);
    const host = url.hostname.replace(/^\[(.*)\]$/, "$1");
    const https = url.protocol === "https:";
    const port = Number(url.port) || (https ? 443 : 80);
    // A read into `buffer` is handed on before the next read may overwrite it: onRead copies or consumes it at once.
    const onread: OnReadOpts = {
      buffer,
      callback: (n, buf) => this.onRead(socket, n, Buffer.from(buf.buffer, buf.byteOffset, n)),
    };
    // node:tls takes `onread` as node:net does; @types/node does not list it (blob-fetch.test.ts reads over TLS).
    const tlsOptions: tls.ConnectionOptions & { onread: OnReadOpts } = {
      host,
      port,
      servername: isIP(host) ? undefined : host,
      rejectUnauthorized: !insecureTls,
      ALPNProtocols: ["http/1.1"],
      onread,
    };
    const socket: Socket = https
      ? (require("node:tls") as typeof tls).connect(tlsOptions)
      : netConnect({ host, port, onread });
    this.sockets.add(socket);
    socket.on("error", (e) => {
      this.socketError ??= e;
    });
    socket.once("close", () => {
      this.sockets.delete(socket);
      if (this.direct?.socket === socket && this.received < this.o.size) this.fail(this.cutShort());
    });
    return socket;
  }

  responded(res: IncomingMessage): void {
    const socket = res.socket as Socket | null;
    if (this.settled || !socket || !this.sockets.has(socket)) return;
    if (
      res.statusCode !== 200 ||
      res.headers["transfer-encoding"] !== undefined ||
      res.headers["content-length"] !== String(this.o.size)
    )
      return;
    // node:http will see the connection close before the body's end: an 'aborted' error nobody else listens for.
    res.on("error", () => {});
    this.direct = { socket, res };
  }

  private async run(): Promise<void> {
    const res = await this.o.request(this);
    if (this.settled) {
      res.body.destroy();
      return;
    }
    // One rate check for both kinds of body: time counts once the consumer is there, but not the consumer's own.
    this.stopWatch = watchRate(
      this.o.rate,
      () => ({
        bytes: this.received,
        waiting: this.consumer !== undefined && !this.settled,
        consumerMs: this.consumerMs,
      }),
      (m) => this.fail(tooSlowError(`${this.o.operation}: registry ${this.o.registry}`, this.o.rate, m)),
    );
    if (this.direct?.res !== res.body) {
      this.body = res.body;
      if (this.consumer) this.readThroughHttp(res.body);
      return;
    }
    this.drainResponse();
    this.finishedDirect();
  }

  /** One read of `socket` (`chunk` is the connection's buffer); false pauses the connection. */
  private onRead(socket: Socket, n: number, chunk: Buffer): boolean {
    const direct = this.direct;
    if (direct?.socket !== socket) {
      // Headers (or a body node:http reads): node:http keeps what it is given, so it gets a copy.
      socket.emit("data", Buffer.from(chunk));
      return true;
    }
    if (this.settled) return false;
    this.drainResponse();
    const wanted = Math.min(n, this.o.size - this.received);
    if (wanted <= 0) return false; // past the body's end (the connection is closed with the last byte)
    const body = chunk.subarray(0, wanted);
    this.received += wanted;
    if (!this.consumer) {
      this.held.push(Buffer.from(body));
      return false; // paused until into()
    }
    this.deliver(body);
    return !this.finishedDirect();
  }

  /**
   * The body bytes node:http read with the headers (they came before any direct read): taken out of the response once
   * it is direct, when node:http is no longer handed anything.
   */
  private drainResponse(): void {
    const res = this.direct?.res;
    if (!res) return;
    for (let c: Buffer | null = res.read(); c !== null; c = res.read()) {
      const wanted = Math.min(c.length, this.o.size - this.received);
      if (wanted <= 0) continue;
      this.received += wanted;
      const body = c.subarray(0, wanted);
      if (this.consumer) this.deliver(body);
      else this.held.push(body);
    }
  }

  /** Settles a direct fetch whose bytes have all come and been handed on; true when it is over. */
  private finishedDirect(): boolean {
    if (this.settled) return true;
    if (!this.consumer || this.held.length || this.received < this.o.size) return false;
    this.finish();
    return true;
  }

  /** A response that is not direct: its body through node:http, in flowing mode, into the same consumer. */
  private readThroughHttp(body: IncomingMessage): void {
    body.on("data", (chunk: Buffer) => {
      if (this.settled) return;
      this.received += chunk.length;
      this.deliver(chunk);
    });
    body.once("end", () => this.finish());
    body.once("error", (e) => this.fail(this.connectionError(e)));
    body.once("close", () => {
      if (!body.readableEnded) this.fail(this.cutShort());
    });
  }

  private deliver(chunk: Buffer): void {
    try {
      this.o.verifier.update(chunk);
      const t = performance.now();
      this.consumer!(chunk);
      this.consumerMs += performance.now() - t;
    } catch (e) {
      this.fail(e);
      return;
    }
    this.o.onBytes?.(this.o.verifier.bytes);
  }

  private finish(): void {
    if (this.settled) return;
    try {
      this.o.verifier.check();
    } catch (e) {
      this.fail(e);
      return;
    }
    this.settled = true;
    this.close();
    this.resolve();
  }

  private fail(e: unknown): void {
    if (this.settled) return;
    this.settled = true;
    this.close();
    this.reject(e);
  }

  private close(): void {
    this.stopWatch();
    this.held.length = 0;
    this.body?.destroy();
    for (const s of this.sockets) s.destroy();
  }

  /** The connection ended before the body did. */
  private cutShort(): PipelineError {
    const why = this.socketError
      ? ` (${(this.socketError as NodeJS.ErrnoException).code ?? this.socketError.message})`
      : "";
    return new PipelineError(
      "E_REGISTRY_UNREACHABLE",
      `${this.o.operation}: the connection to registry ${this.o.registry} ended after ${this.received} of ${this.o.size} bytes${why}`,
    );
  }

  private connectionError(e: unknown): unknown {
    return e instanceof PipelineError ? e : this.cutShort();
  }
}
