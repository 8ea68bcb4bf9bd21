/** config-fifo.ts with real FIFOs and a real reader (cat): the bytes arrive whole, nothing lands in the file system. */
import { spawn } from "node:child_process";
import { lstatSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { feedConfigFifo, makeConfigFifo, releaseConfigFifoSync } from "./config-fifo";

const tmp = mkdtempSync(join(tmpdir(), "rp-config-fifo-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function reader(path: string): { done: Promise<Buffer>; exited: () => boolean } {
  const c = spawn("cat", [path], { stdio: ["ignore", "pipe", "ignore"] });
  const chunks: Buffer[] = [];
  let gone = false;
  c.stdout.on("data", (d: Buffer) => chunks.push(d));
  return {
    done: new Promise((resolve) => c.on("close", () => ((gone = true), resolve(Buffer.concat(chunks))))),
    exited: () => gone,
  };
}

describe("config FIFO", () => {
  it("delivers a config larger than a pipe's buffer to the reader, and the FIFO stays empty (mode 0600)", async () => {
    const path = join(tmp, "a.json");
    await makeConfigFifo(path);
    const bytes = Buffer.from(
      JSON.stringify({ env: Array.from({ length: 5000 }, (_, i) => `V${i}=${"x".repeat(40)}`) }),
    );
    expect(bytes.length).toBeGreaterThan(128 * 1024);
    const r = reader(path);
    expect(await feedConfigFifo(path, bytes, r.exited)).toBe(true);
    expect((await r.done).equals(bytes)).toBe(true);
    const st = lstatSync(path);
    expect([st.isFIFO(), st.size, st.mode & 0o777]).toEqual([true, 0, 0o600]);
  });
  it("gives up when the reader is gone before opening it", async () => {
    const path = join(tmp, "b.json");
    await makeConfigFifo(path);
    expect(await feedConfigFifo(path, Buffer.from("{}"), () => true)).toBe(false);
  });
  it("releases a reader left waiting (it sees end-of-file)", async () => {
    const path = join(tmp, "c.json");
    await makeConfigFifo(path);
    const r = reader(path);
    await new Promise((res) => setTimeout(res, 200)); // cat has opened it by now; if not, release below is a no-op and the retry catches it
    for (let i = 0; i < 50 && !r.exited(); i++) {
      releaseConfigFifoSync(path);
      await new Promise((res) => setTimeout(res, 20));
    }
    expect((await r.done).length).toBe(0);
  });
});
