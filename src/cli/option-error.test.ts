import { describe, expect, test, vi } from "vitest";
import { OptionError } from "../errors";
import { chooseRuntime } from "../container/engine-choice";
import { EXIT_USAGE, runCli } from "./run-cli";
import type { CliIo } from "./io";

// A command whose library call refuses one of its options (the parser's `choices` keep today's flags from getting
// that far, so a stand-in command raises it).
vi.mock("./commands/tarball", () => ({
  load: async () => {
    throw new OptionError("maxWaitSeconds", 'expected a whole number, got "soon"');
  },
}));

describe("options of library calls", () => {
  test("the library names the option, not a flag, and exits like any error (E_BAD_OPTION, 1)", async () => {
    const e = await chooseRuntime("kata" as never).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(OptionError);
    expect(e).toMatchObject({ code: "E_BAD_OPTION", exitCode: 1, option: "runtime" });
    expect((e as Error).message).toBe('runtime: expected one of auto, runc, podman, docker, got "kata"');
  });

  test("the CLI reports it as a usage error naming the flag (exit 2)", async () => {
    const err: string[] = [];
    const io: CliIo = {
      stdout: () => undefined,
      stderr: (l) => err.push(l),
      env: {},
      cwd: process.cwd(),
      isTTY: false,
      readStdin: async () => "",
    };
    expect(await runCli(["load"], io)).toBe(EXIT_USAGE);
    expect(err[0]).toBe('error[E_USAGE]: --max-wait-seconds: expected a whole number, got "soon"');
  });
});
