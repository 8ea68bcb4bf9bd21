/**
 * The one verifying stream (go-containerregistry's `verify.ReadCloser`): counts and hashes the bytes that flow
 * through it and, when told what to expect, fails as soon as more bytes come than the descriptor's size and at
 * the end when the digest or size differ. Every place that hashes content on its way (pull, push, layout writes,
 * unpacking, image checks, layer builds) uses it, as a Transform (`VerifyStream`) or, in async-generator
 * pipelines, through `verified()`; both share `Verifier`. A Verifier can also outlive one stream: the dev registry
 * keeps one per upload session, continued chunk by chunk (`VerifyStreamOptions.verifier`) and copied before each
 * chunk so a failed one can be undone (`copy()`).
 */
import { createHash, type Hash } from "node:crypto";
import { type Readable, Transform, type TransformCallback } from "node:stream";
import { PipelineError } from "../errors";
import { type Digest, hashDigest } from "./digest";

/** What the content must be. An absent digest only counts (and hashes, unless `hash: false`). */
export interface Expected {
  digest?: Digest;
  /** A negative size means "unknown" (a registry's missing Content-Length). */
  size?: number;
}

/** Why content failed its check; `VerifyOptions.fail` turns it into the caller's error. */
export type VerifyProblem =
  | { kind: "too-long"; expectedSize: number; bytes: number }
  | { kind: "digest"; expected: string; actual: string; bytes: number }
  | { kind: "size"; expectedSize: number; bytes: number; actual: string };

export interface VerifyOptions {
  expect?: Expected;
  /** Hash the bytes (default true). False only counts them: for content another layer already verifies. */
  hash?: boolean;
  /** Builds the error for a problem; default: E_DIGEST_MISMATCH naming `label`. */
  fail?: (problem: VerifyProblem) => Error;
  /** Names the content in the default error (e.g. "blob sha256:…"). */
  label?: string;
}

function knownSize(size: number | undefined): size is number {
  return size !== undefined && size >= 0;
}

function defaultFail(label: string): (p: VerifyProblem) => Error {
  return (p) => {
    switch (p.kind) {
      case "too-long":
        return new PipelineError(
          "E_DIGEST_MISMATCH",
          `${label}: content is longer than the ${p.expectedSize} bytes expected`,
        );
      case "digest":
        return new PipelineError(
          "E_DIGEST_MISMATCH",
          `${label}: content has digest ${p.actual}, expected ${p.expected}`,
        );
      case "size":
        return new PipelineError(
          "E_DIGEST_MISMATCH",
          `${label}: content has ${p.bytes} bytes, expected ${p.expectedSize}`,
        );
    }
  };
}

/** The check itself, for streams and generators alike. */
export class Verifier {
  private hash: Hash | undefined;
  private readonly fail: (p: VerifyProblem) => Error;
  bytes = 0;

  constructor(private readonly opts: VerifyOptions = {}) {
    this.hash = opts.hash === false ? undefined : createHash("sha256");
    this.fail = opts.fail ?? defaultFail(opts.label ?? "content");
  }

  /** An independent Verifier in this one's state (the bytes counted and hashed so far): a point to go back to. */
  copy(): Verifier {
    const c = new Verifier({ ...this.opts, hash: false });
    c.hash = this.hash?.copy();
    c.bytes = this.bytes;
    return c;
  }

  /** Counts and hashes a chunk; throws at once when more bytes came than expected. */
  update(chunk: Buffer): void {
    this.bytes += chunk.length;
    const size = this.opts.expect?.size;
    if (knownSize(size) && this.bytes > size)
      throw this.fail({ kind: "too-long", expectedSize: size, bytes: this.bytes });
    this.hash?.update(chunk);
  }

  /** sha256 of the bytes so far; undefined when not hashing. */
  digest(): Digest | undefined {
    return this.hash ? hashDigest(this.hash) : undefined;
  }

  /** Throws unless the bytes seen match what was expected. Call once the content has ended. */
  check(): void {
    const { digest, size } = this.opts.expect ?? {};
    const actual = this.digest();
    // The size first: content cut short (or padded) also has another digest, and the sizes say more about why.
    if (knownSize(size) && this.bytes !== size) {
      throw this.fail({ kind: "size", expectedSize: size, bytes: this.bytes, actual: actual ?? "(not hashed)" });
    }
    if (digest !== undefined && actual !== undefined && actual !== digest) {
      throw this.fail({ kind: "digest", expected: digest, actual, bytes: this.bytes });
    }
  }
}

export interface VerifyStreamOptions extends VerifyOptions {
  /**
   * Hold the last chunk back until the check passes, so a consumer (a registry receiving an upload) never gets
   * the full length of wrong content.
   */
  holdLast?: boolean;
  /** Hears the running count of bytes passed on downstream (for progress). */
  onBytes?: (bytes: number) => void;
  /**
   * Continue this Verifier instead of starting a new one (its count and hash go on; `expect`, `hash`, `fail` and
   * `label` are then its own): an upload received in several requests.
   */
  verifier?: Verifier;
}

/** A pass-through Transform around a Verifier; errors (before 'end') when the content fails its check. */
export class VerifyStream extends Transform {
  private readonly verifier: Verifier;
  private held?: Buffer;
  private source?: Readable;

  constructor(private readonly streamOpts: VerifyStreamOptions = {}) {
    super();
    this.verifier = streamOpts.verifier ?? new Verifier(streamOpts);
  }

  get bytes(): number {
    return this.verifier.bytes;
  }

  /** sha256 of what has flowed; complete once the stream has ended. Asking a stream told not to hash is a bug. */
  digest(): Digest {
    const d = this.verifier.digest();
    if (d === undefined) throw new Error("VerifyStream.digest(): this stream was told not to hash");
    return d;
  }

  /**
   * Reads `src` straight into this stream's readable side, without a pipe into its writable side: each of a registry
   * response's chunks (64 KiB each, ~2,400 per 158 MB) then passes one stream layer instead of two. The same checks;
   * the end of `src` ends this stream (the check runs before its 'end'), and `src` is paused while this stream's reader
   * is behind; `src` is destroyed with this stream (a reader that gives up closes the response it was reading, issue
   * #72). Not with holdLast (that is for bodies being sent). `src`'s errors are the caller's to forward.
   */
  feed(src: Readable): void {
    if (this.streamOpts.holdLast) throw new Error("VerifyStream.feed(): holdLast is for streams written to");
    this.source = src;
    src.on("data", (chunk: Buffer) => {
      try {
        this.verifier.update(chunk);
      } catch (e) {
        this.destroy(e as Error);
        return;
      }
      this.streamOpts.onBytes?.(this.verifier.bytes);
      if (!this.push(chunk)) src.pause();
    });
    src.once("end", () => this.end());
  }

  _read(size: number): void {
    this.source?.resume();
    super._read(size);
  }

  _destroy(err: Error | null, cb: (error?: Error | null) => void): void {
    if (this.source && !this.source.destroyed) this.source.destroy();
    super._destroy(err, cb);
  }

  _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    try {
      this.verifier.update(chunk);
    } catch (e) {
      cb(e as Error);
      return;
    }
    const onBytes = this.streamOpts.onBytes;
    if (!this.streamOpts.holdLast) {
      onBytes?.(this.verifier.bytes);
      cb(null, chunk);
      return;
    }
    const out = this.held;
    this.held = chunk;
    if (out) onBytes?.(this.verifier.bytes - chunk.length);
    cb(null, out);
  }

  _flush(cb: TransformCallback): void {
    try {
      this.verifier.check();
    } catch (e) {
      cb(e as Error);
      return;
    }
    if (this.streamOpts.holdLast) {
      if (this.held) this.push(this.held);
      this.streamOpts.onBytes?.(this.verifier.bytes);
    }
    cb();
  }
}

/** Passes `src` through `verifier` (counting, hashing, failing early when too long); call `check()` after. */
export async function* verified(src: AsyncIterable<Buffer>, verifier: Verifier): AsyncGenerator<Buffer> {
  for await (const chunk of src) {
    verifier.update(chunk);
    yield chunk;
  }
}
