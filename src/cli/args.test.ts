import { describe, expect, expectTypeOf, test } from "vitest";
import {
  type Args,
  type CliSpec,
  type CommandArgs,
  type CommandDef,
  type CommandInput,
  defineCommand,
  runSpec,
  UsageError,
} from "./args";
import type * as specs from "./command-specs";
import type { push } from "./commands/push";
import { COMMANDS } from "./main";
import { EXIT_USAGE, runCli } from "./run-cli";
import type { CliIo } from "./io";

/** A table exercising every feature; each command records the arguments it was given. */
function spec(): { cli: CliSpec; got: Args[]; out: string[] } {
  const got: Args[] = [];
  const out: string[] = [];
  const run = async (a: Args) => {
    got.push(a);
  };
  const cli: CliSpec = {
    name: "tool",
    describe: "A test tool.",
    groups: { model: "Model artifacts" },
    commands: [
      {
        command: "push <source>",
        describe: "Push it",
        positionals: { source: { describe: "what to push" } },
        options: {
          repository: { type: "string", demandOption: true, describe: "where" },
          tag: { type: "string", array: true, describe: "tags" },
          "metadata-out": { type: "string" },
          insecure: { type: "boolean", default: false },
          level: { type: "string", choices: ["low", "high"], default: "low" },
          retries: { type: "number", default: 3 },
          secret: { type: "string", hidden: true },
        },
        run,
      },
      { command: "model push <dir> [name]", describe: "Push a model", positionals: { dir: {} }, run },
      {
        command: "model pull <kind> <refs..>",
        describe: "Pull models",
        positionals: { kind: { choices: ["a", "b"] } },
        run,
      },
      { command: "run", describe: false, options: { config: { type: "string", demandOption: true } }, run },
    ],
  };
  return { cli, got, out };
}

async function usage(p: Promise<unknown>): Promise<string> {
  const e = await p.then(
    () => undefined,
    (x: unknown) => x,
  );
  expect(e).toBeInstanceOf(UsageError);
  return (e as Error).message;
}

describe("runSpec", () => {
  test("options by name and camelCase, defaults, repeatable options, numbers, switches and --no-", async () => {
    const { cli, got, out } = spec();
    const io = { stdout: (l: string) => out.push(l) };
    await runSpec(
      cli,
      [
        "push",
        "dir",
        "--repository",
        "r",
        "--tag",
        "a",
        "--tag=b",
        "--metadata-out",
        "m.json",
        "--retries",
        "5",
        "--insecure",
      ],
      io,
    );
    expect(got[0]).toMatchObject({
      _: ["push"],
      "--": [],
      source: "dir",
      repository: "r",
      tag: ["a", "b"],
      "metadata-out": "m.json",
      metadataOut: "m.json",
      insecure: true,
      level: "low",
      retries: 5,
    });
    await runSpec(cli, ["push", "--repository=r", "dir", "--no-insecure", "--level", "high"], io);
    expect(got[1]).toMatchObject({ source: "dir", insecure: false, level: "high", tag: undefined });
    await runSpec(cli, ["push", "dir", "--repository", "r", "--insecure=true"], io);
    expect(got[2].insecure).toBe(true);
    expect(out).toEqual([]);
  });

  test("everything after -- is passed through untouched, --help included", async () => {
    const { cli, got } = spec();
    await runSpec(cli, ["run", "--config", "c.json", "--", "--help", "-x", "positional"], { stdout: () => undefined });
    expect(got[0]).toMatchObject({ _: ["run"], config: "c.json", "--": ["--help", "-x", "positional"] });
  });

  test("optional and variadic positionals; positional choices", async () => {
    const { cli, got } = spec();
    const io = { stdout: () => undefined };
    await runSpec(cli, ["model", "push", "d"], io);
    await runSpec(cli, ["model", "push", "d", "n"], io);
    await runSpec(cli, ["model", "pull", "a", "r1", "r2"], io);
    expect(got.map((g) => [g.dir, g.name, g.kind, g.refs])).toEqual([
      ["d", undefined, undefined, undefined],
      ["d", "n", undefined, undefined],
      [undefined, undefined, "a", ["r1", "r2"]],
    ]);
    expect(await usage(runSpec(cli, ["model", "pull", "c", "r"], io))).toBe(
      'model pull <kind>: expected one of "a", "b", got "c"',
    );
    expect(await usage(runSpec(cli, ["model", "pull", "a"], io))).toBe("model pull: missing argument <refs>");
  });

  test("usage errors name the flag, argument or command and the value received", async () => {
    const { cli } = spec();
    const io = { stdout: () => undefined };
    const cases: [string[], string][] = [
      [["push", "d", "--repository", "r", "--frob", "x"], 'unknown option --frob for "push"'],
      [["push", "d", "--repository", "r", "--frob=x"], 'unknown option --frob=x for "push"'],
      [["push", "d", "--repository", "r", "-q"], 'unknown option -q for "push"'],
      [["push", "d"], "push: missing required option --repository"],
      [["run"], "run: missing required option --config"],
      [["push", "--repository", "r"], "push: missing argument <source>"],
      [["push", "d", "e", "--repository", "r"], 'push: unexpected argument "e"'],
      [["push", "d", "--repository"], "--repository needs a value"],
      [
        ["push", "d", "--repository", "--insecure"],
        '--repository needs a value, got the option "--insecure" (write --repository=--insecure if that is the value)',
      ],
      [["push", "d", "--repository", "r", "--insecure=yes"], '--insecure: a switch takes no value, got "yes"'],
      [["push", "d", "--repository", "r", "--level", "mid"], '--level: expected one of "low", "high", got "mid"'],
      [["push", "d", "--repository", "r", "--retries", "many"], '--retries: expected a number, got "many"'],
      [[], "name a command (push, model)"],
      [["frob"], 'unknown command "frob"'],
      [["--repository", "r"], 'expected a command before "--repository"'],
      [["model"], "model: name a command (push, pull)"],
      [["model", "frob"], 'unknown command "model frob" (model has: push, pull)'],
    ];
    for (const [argv, message] of cases) expect(await usage(runSpec(cli, argv, io)), argv.join(" ")).toBe(message);
  });

  test("--help: the command list, a group's commands, and one command's positionals and options", async () => {
    const { cli, got } = spec();
    const out: string[] = [];
    const io = { stdout: (l: string) => out.push(l) };
    await runSpec(cli, ["--help"], io);
    expect(out[0]).toContain("tool <command> [options]");
    expect(out[0]).toContain("A test tool.");
    expect(out[0]).toMatch(/tool push <source> +Push it/);
    expect(out[0]).toMatch(/tool model <command> +Model artifacts/);
    expect(out[0]).not.toContain("tool run"); // internal
    await runSpec(cli, ["model", "-h"], io);
    expect(out[1]).toMatch(/tool model push <dir> \[name\] +Push a model/);
    expect(out[1]).toMatch(/tool model pull <kind> <refs\.\.> +Pull models/);
    await runSpec(cli, ["push", "--help"], io); // help even when required options are missing
    expect(out[2]).toContain("tool push <source> [options]");
    expect(out[2]).toMatch(/source +what to push \[required\]/);
    expect(out[2]).toMatch(/--repository VALUE +where \[required\]/);
    expect(out[2]).toMatch(/--tag VALUE +tags \[repeatable\]/);
    expect(out[2]).toMatch(/--level VALUE +\[choices: low, high\] \[default: "low"\]/);
    expect(out[2]).toMatch(/--retries N +\[default: 3\]/);
    expect(out[2]).not.toContain("--secret");
    expect(got).toEqual([]);
  });
});

describe("defineCommand: a handler's argument type is its declaration's", () => {
  const PUSH = {
    command: "model push <dir> [name] [more..]",
    describe: "Push it",
    positionals: { dir: { choices: ["a", "b"] } },
    options: {
      repository: { type: "string", demandOption: true },
      tag: { type: "string", array: true },
      "metadata-out": { type: "string" },
      insecure: { type: "boolean", default: false },
      level: { type: "string", choices: ["low", "high"], default: "low" },
      retries: { type: "number", default: 3 },
    },
  } as const satisfies CommandDef;

  test("positionals by name, options by flag: required, defaulted, optional, repeatable, choices, numbers", () => {
    expectTypeOf<CommandArgs<typeof PUSH>>().toEqualTypeOf<{
      _: string[];
      "--": string[];
      dir: "a" | "b";
      name?: string;
      more: string[];
      repository: string;
      insecure: boolean;
      level: "low" | "high";
      retries: number;
      tag?: string[];
      "metadata-out"?: string;
    }>();
    // A direct caller (a test, another command) may leave out the words, `--` and what has a default.
    expectTypeOf<CommandInput<typeof PUSH>>().toEqualTypeOf<{
      _?: string[];
      "--"?: string[];
      dir: "a" | "b";
      name?: string;
      more: string[];
      repository: string;
      insecure?: boolean;
      level?: "low" | "high";
      retries?: number;
      tag?: string[];
      "metadata-out"?: string;
    }>();
  });

  test("a flag the declaration does not have is a type error in the handler (a rename caught at compile time)", async () => {
    const got: unknown[] = [];
    const cmd = defineCommand(PUSH, async (a, _io: unknown) => {
      got.push(a["metadata-out"], a.retries, a.dir);
      // @ts-expect-error --metadata-file is not declared (the flag is --metadata-out)
      got.push(a["metadata-file"]);
      // @ts-expect-error --retries is a number, not a string
      a.retries.toUpperCase;
    });
    await runSpec(
      { name: "tool", describe: "", groups: {}, commands: [cmd] },
      ["model", "push", "a", "--repository", "r", "--metadata-out", "m"],
      {
        stdout: () => undefined,
      },
    );
    expect(got).toEqual(["m", 3, "a", undefined]);
    // The pipeline table's handlers take their declaration's type: push's argument is CommandArgs<typeof PUSH>.
    expectTypeOf<Parameters<typeof push>[0]>().toEqualTypeOf<CommandArgs<typeof specs.PUSH>>();
    // @ts-expect-error push declares --metadata-out, not --metadata-file
    expectTypeOf<Parameters<typeof push>[0]>().toHaveProperty("metadata-file");
  });
});

describe("the pipeline command table", () => {
  function io() {
    const out: string[] = [];
    const err: string[] = [];
    const cli: CliIo = {
      stdout: (l) => out.push(l),
      stderr: (l) => err.push(l),
      env: {},
      cwd: process.cwd(),
      isTTY: false,
      readStdin: async () => "",
    };
    return { cli, out, err };
  }

  test("every command parses (words then positionals) and lists in --help unless internal", async () => {
    const t = io();
    expect(await runCli(["--help"], t.cli)).toBe(0);
    for (const c of COMMANDS) {
      const words = c.command.split(" ").filter((w) => !/^[<[]/.test(w));
      if (c.describe !== false && words.length === 1) expect(t.out[0]).toContain(`pipeline ${c.command}`);
      const h = io();
      expect(await runCli([...words, "--help"], h.cli), c.command).toBe(0);
      expect(h.out[0]).toContain(`pipeline ${c.command}`);
    }
    expect(t.out[0]).toMatch(/pipeline registry <command> +A small development registry/);
    expect(t.out[0]).not.toMatch(/bazel-run|pipeline layer/);
  });

  test("choices of a positional and a missing required option are usage errors naming them", async () => {
    let t = io();
    expect(await runCli(["credentials", "add", "svn", "https://x/"], t.cli)).toBe(EXIT_USAGE);
    expect(t.err[0]).toBe('error[E_USAGE]: credentials add <service>: expected one of "docker", "git", got "svn"');
    t = io();
    expect(await runCli(["base", "add-node", "--base", "b"], t.cli)).toBe(EXIT_USAGE);
    expect(t.err[0]).toBe("error[E_USAGE]: base add-node: missing required option --output");
    t = io();
    expect(await runCli(["registry"], t.cli)).toBe(EXIT_USAGE);
    expect(t.err[0]).toBe("error[E_USAGE]: registry: name a command (serve)");
  });
});
