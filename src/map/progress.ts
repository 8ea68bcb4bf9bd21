/**
 * A map's progress (docs/scale-out.md): on a terminal one line redrawn (`map 412/1000 done, 20 running, 0 failed, 1
 * retry`); with `--json` one JSON event per line on stderr (stdout may be carrying the results); elsewhere one plain
 * line per tenth of the items done, per retry and per failure, never a cursor code.
 */
import type { ChunkEvent, ItemFailure } from "../runtime/map-chunk";
import type { MapProgress } from "./target";

export type ProgressMode = "terminal" | "json" | "lines";

export class MapCounter implements MapProgress {
  private done = 0;
  private reused = 0;
  private running = 0;
  /** Items whose last attempt failed (one that succeeds on a retry leaves the set). */
  private readonly failing = new Set<number>();
  private retries = 0;
  private lastTenth = 0;
  private lastDraw = 0;

  constructor(
    private readonly total: number,
    private readonly mode: ProgressMode,
    private readonly err: (line: string) => void,
    private readonly draw: (text: string) => void = (t) => process.stderr.write(t),
  ) {}

  /** Items whose results were stored before this run (not run again). */
  alreadyDone(n: number): void {
    this.done += n;
    this.reused += n;
  }

  item(e: ChunkEvent): void {
    if (e.kind === "start") this.running++;
    else {
      this.done++;
      this.failing.delete(e.index);
      if (e.reused) this.reused++;
      else this.running = Math.max(0, this.running - 1);
    }
    if (this.mode === "json")
      this.err(JSON.stringify({ event: e.kind === "start" ? "item-start" : "item-done", ...e }));
    this.update(false);
  }

  retry(index: number, attempt: number, message: string): void {
    this.retries++;
    this.running = 0;
    this.say(
      { event: "retry", index, attempt, message },
      `map: index ${index} is run again (attempt ${attempt + 1}) after: ${message}`,
    );
  }

  failed(f: ItemFailure): void {
    this.failing.add(f.index);
    this.running = Math.max(0, this.running - 1);
    this.say({ event: "item-failed", ...f }, `map: item ${f.index} failed (${f.kind}): ${f.message}`);
  }

  /** The closing line. */
  finish(ok: boolean): void {
    if (this.mode === "terminal") this.draw("\r\x1b[K");
    const line = `map: ${this.done}/${this.total} done (${this.reused} reused from the store), ${this.failing.size} failed, ${this.retries} retries`;
    if (this.mode === "json")
      this.err(
        JSON.stringify({
          event: "finish",
          ok,
          done: this.done,
          total: this.total,
          reused: this.reused,
          failed: this.failing.size,
          retries: this.retries,
        }),
      );
    else this.err(line);
  }

  private say(event: object, line: string): void {
    if (this.mode === "json") this.err(JSON.stringify(event));
    else {
      if (this.mode === "terminal") this.draw("\r\x1b[K");
      this.err(line);
      this.update(true);
    }
  }

  private update(force: boolean): void {
    if (this.mode === "terminal") {
      const now = Date.now();
      if (!force && now - this.lastDraw < 100 && this.done < this.total) return;
      this.lastDraw = now;
      this.draw(
        `\r\x1b[Kmap ${this.done}/${this.total} done, ${this.running} running, ${this.failing.size} failed, ${this.retries} retries`,
      );
    } else if (this.mode === "lines" && this.total > 0) {
      const tenth = Math.floor((this.done * 10) / this.total);
      if (tenth > this.lastTenth) {
        this.lastTenth = tenth;
        this.err(`map: ${this.done}/${this.total} done`);
      }
    }
  }
}
