import { Readable, Writable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { describe, expect, test } from "vitest";
import type { PipelineError } from "../errors";
import { sha256 } from "./digest";
import { Verifier, verified, type VerifyProblem, VerifyStream, type VerifyStreamOptions } from "./verifying-stream";

const chunks = [Buffer.from("alpha-"), Buffer.from("beta-"), Buffer.from("gamma")];
const whole = Buffer.concat(chunks);

/** Runs `chunks` through a VerifyStream; returns what reached the consumer and the error, if any. */
async function run(
  opts: VerifyStreamOptions,
  input: Buffer[] = chunks,
): Promise<{ got: Buffer; error?: Error; progress: number[] }> {
  const got: Buffer[] = [];
  const progress: number[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      got.push(chunk);
      cb();
    },
  });
  let error: Error | undefined;
  await pipeline(Readable.from(input), new VerifyStream({ ...opts, onBytes: (n) => progress.push(n) }), sink).catch(
    (e: Error) => {
      error = e;
    },
  );
  return { got: Buffer.concat(got), error, progress };
}

describe("VerifyStream", () => {
  test("without expectations it counts and hashes what flows and passes it on unchanged", async () => {
    const s = new VerifyStream();
    const got: Buffer[] = [];
    for await (const c of Readable.from(chunks).pipe(s)) got.push(c as Buffer);
    expect(Buffer.concat(got).equals(whole)).toBe(true);
    expect(s.bytes).toBe(whole.length);
    expect(s.digest()).toBe(sha256(whole));
  });

  test("right content passes; the progress count ends at the size", async () => {
    const r = await run({ expect: { digest: sha256(whole), size: whole.length } });
    expect(r.error).toBeUndefined();
    expect(r.got.equals(whole)).toBe(true);
    expect(r.progress.at(-1)).toBe(whole.length);
  });

  test("a wrong digest fails at the end with E_DIGEST_MISMATCH naming both digests", async () => {
    const r = await run({ expect: { digest: sha256("other"), size: whole.length }, label: "blob X" });
    expect(r.error).toMatchObject({ code: "E_DIGEST_MISMATCH" });
    expect(r.error!.message).toBe(`blob X: content has digest ${sha256(whole)}, expected ${sha256("other")}`);
  });

  test("more bytes than the size fail at the chunk that crosses it, before the rest is read", async () => {
    const seen: VerifyProblem[] = [];
    const r = await run({
      expect: { digest: sha256(whole), size: 8 },
      fail: (p) => {
        seen.push(p);
        return new Error("too long");
      },
    });
    expect(r.error?.message).toBe("too long");
    expect(seen).toEqual([{ kind: "too-long", expectedSize: 8, bytes: 11 }]);
    expect(r.got.length).toBeLessThanOrEqual(6); // only the first chunk went through
  });

  test("a short stream with the right prefix fails on its size", async () => {
    const prefix = whole.subarray(0, 6);
    const r = await run({ expect: { size: whole.length } }, [prefix]);
    expect(r.error).toMatchObject({ code: "E_DIGEST_MISMATCH" });
    expect(r.error!.message).toContain(`content has 6 bytes, expected ${whole.length}`);
  });

  test("an unknown (negative) size is not checked", async () => {
    expect((await run({ expect: { digest: sha256(whole), size: -1 } })).error).toBeUndefined();
  });

  test("holdLast: wrong content never reaches the consumer in full; progress counts only what was passed on", async () => {
    const bad = await run({ expect: { digest: sha256("other"), size: whole.length }, holdLast: true });
    expect(bad.error).toMatchObject({ code: "E_DIGEST_MISMATCH" });
    expect(bad.got.length).toBe(whole.length - chunks[2].length);
    expect(Math.max(...bad.progress)).toBe(whole.length - chunks[2].length);

    const good = await run({ expect: { digest: sha256(whole), size: whole.length }, holdLast: true });
    expect(good.error).toBeUndefined();
    expect(good.got.equals(whole)).toBe(true);
    expect(good.progress.at(-1)).toBe(whole.length);
  });
});

describe("VerifyStream.feed", () => {
  /** Feeds `input` into a VerifyStream and reads it with 'data' events; what arrived, the error, and whether 'end' came. */
  async function fed(opts: VerifyStreamOptions, input: Buffer[] = chunks) {
    const v = new VerifyStream(opts);
    v.feed(Readable.from(input));
    const got: Buffer[] = [];
    let ended = false;
    const error = await new Promise<Error | undefined>((resolve) => {
      v.on("data", (c: Buffer) => got.push(c));
      v.on("end", () => {
        ended = true;
        resolve(undefined);
      });
      v.on("error", resolve);
    });
    return { got: Buffer.concat(got), error, ended, v };
  }

  test("passes the source's bytes on unchanged, hashed and counted, and ends with it", async () => {
    const r = await fed({ expect: { digest: sha256(whole), size: whole.length } });
    expect([r.error, r.ended, r.got.equals(whole), r.v.digest()]).toEqual([undefined, true, true, sha256(whole)]);
  });

  test("a wrong digest or a short source errors instead of ending; too many bytes error at the chunk that crosses the size", async () => {
    const wrong = await fed({ expect: { digest: sha256("other"), size: whole.length }, label: "blob X" });
    expect([wrong.ended, wrong.error?.message]).toEqual([
      false,
      `blob X: content has digest ${sha256(whole)}, expected ${sha256("other")}`,
    ]);
    const short = await fed({ expect: { size: whole.length + 1 } });
    expect([short.ended, (short.error as PipelineError)?.code]).toEqual([false, "E_DIGEST_MISMATCH"]);
    const long = await fed({ expect: { size: 8 } });
    expect([long.ended, long.got.length, long.error?.message]).toEqual([
      false,
      6,
      "content: content is longer than the 8 bytes expected",
    ]);
  });

  test("a reader that falls behind pauses the source (backpressure), which goes on once it reads again", async () => {
    const big = Array.from({ length: 64 }, (_, i) => Buffer.alloc(64 * 1024, i));
    const src = Readable.from(big);
    const v = new VerifyStream({ expect: { digest: sha256(Buffer.concat(big)) } });
    v.feed(src);
    await new Promise((r) => setTimeout(r, 20));
    expect(src.isPaused()).toBe(true); // nobody reads yet
    expect(v.bytes).toBeLessThan(64 * 64 * 1024);
    const got: Buffer[] = [];
    for await (const c of v) got.push(c as Buffer);
    expect(Buffer.concat(got).equals(Buffer.concat(big))).toBe(true);
  });

  test("is not for holdLast streams", () => {
    expect(() => new VerifyStream({ holdLast: true }).feed(Readable.from(chunks))).toThrow(/holdLast/);
  });
});

describe("Verifier and verified()", () => {
  test("in a generator pipeline the check comes after the content", async () => {
    const v = new Verifier({ expect: { digest: sha256("other") } });
    const got: Buffer[] = [];
    for await (const c of verified(Readable.from(chunks), v)) got.push(c);
    expect(Buffer.concat(got).equals(whole)).toBe(true);
    expect(() => v.check()).toThrow(/content has digest/);
  });

  test("hash: false only counts: the size is checked, the digest is not", () => {
    const v = new Verifier({ expect: { digest: sha256("other"), size: whole.length }, hash: false });
    for (const c of chunks) v.update(c);
    expect(v.digest()).toBeUndefined();
    expect(() => v.check()).not.toThrow();
    const short = new Verifier({ expect: { digest: sha256("other"), size: whole.length + 1 }, hash: false });
    for (const c of chunks) short.update(c);
    expect(() => short.check()).toThrow(/content has 16 bytes, expected 17/);
  });

  test("a Verifier continued by several streams hashes and counts their bytes as one content (an upload's chunks)", async () => {
    const v = new Verifier();
    for (const c of chunks)
      await pipeline(
        Readable.from([c]),
        new VerifyStream({ verifier: v }),
        new Writable({ write: (_c, _e, cb) => cb() }),
      );
    expect(v.bytes).toBe(whole.length);
    expect(v.digest()).toBe(sha256(whole));
  });

  test("copy() is a point to go back to: later bytes change the original, not the copy", () => {
    const v = new Verifier();
    v.update(chunks[0]);
    const back = v.copy();
    v.update(Buffer.from("junk"));
    expect(back.bytes).toBe(chunks[0].length);
    expect(back.digest()).toBe(sha256(chunks[0]));
    back.update(chunks[1]);
    back.update(chunks[2]);
    expect(back.digest()).toBe(sha256(whole));
    expect(v.digest()).toBe(sha256(Buffer.concat([chunks[0], Buffer.from("junk")])));
  });
});
