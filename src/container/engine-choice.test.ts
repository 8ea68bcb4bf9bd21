import { describe, expect, test } from "vitest";
import { probeCommand } from "./engine-choice";

describe("a runtime probe", () => {
  test("answers with the first line of the output", async () => {
    expect(await probeCommand("sh", ["-c", "echo 1.2.3; echo more"], 10_000)).toEqual({ ok: true, detail: "1.2.3" });
  });

  test("a failure says the last line of its errors", async () => {
    expect(await probeCommand("sh", ["-c", "echo first >&2; echo 'cannot connect' >&2; exit 3"], 10_000)).toEqual({
      ok: false,
      detail: "cannot connect",
    });
  });

  test("a probe with no answer in time says so, not only that the command failed", async () => {
    expect(await probeCommand("sleep", ["30"], 200)).toEqual({
      ok: false,
      detail: "no answer within 0.2 s (stopped with SIGTERM)",
    });
  });
});
