/**
 * A small declarative command-line parser on node's `util.parseArgs`: commands named by words and positionals
 * (`"credentials add <service> <url>"`), typed options with defaults, choices and `demandOption`, `--` passed
 * through, strict about everything else (unknown options, missing or extra arguments are UsageErrors naming the
 * flag or argument and the value), and `--help` text generated from the same table. No dependencies: the CLI's
 * start-up (a no-op push) must stay close to `node -e 0`.
 */
import { closest } from "../closest";
import { PipelineError } from "../errors";
import { parseArgs } from "node:util";

export class UsageError extends Error {}

/** A usage error found by a command (E_USAGE, exit code 2), in the same format as the parser's. */
export function usageError(message: string): PipelineError {
  return new PipelineError("E_USAGE", message, { exitCode: 2 });
}

/** What a handler returns: nothing (exit code 0), or the exit code to leave with. */
export type CommandResult = Promise<void> | Promise<{ exitCode: number } | undefined>;

export interface OptionSpec {
  type: "string" | "boolean" | "number";
  /** Repeatable (`--tag a --tag b`): the value is an array. */
  array?: boolean;
  default?: string | boolean | number | readonly string[];
  /** Required: missing it is a usage error naming the flag. */
  demandOption?: boolean;
  choices?: readonly string[];
  describe?: string;
  /** Accepted but not listed in --help. */
  hidden?: boolean;
}

export interface PositionalSpec {
  describe?: string;
  choices?: readonly string[];
}

/** Parsed arguments: options under their flag name (and its camelCase form), positionals under theirs. */
export interface Args {
  [key: string]: unknown;
  /** The command's words (`["registry", "serve"]`), as yargs had them. */
  _: string[];
  /** Everything after a bare `--`, untouched. */
  "--": string[];
}

/** A command's entry in the table apart from its handler: the handler's argument type is derived from it (CommandArgs). */
export interface CommandDef {
  /** Words, then positionals: `<name>` required, `[name]` optional, `<name..>`/`[name..]` the rest as an array. */
  command: string;
  /** One line for --help; false hides an internal command (still runnable). */
  describe: string | false;
  positionals?: Record<string, PositionalSpec>;
  options?: Record<string, OptionSpec>;
}

export interface CommandSpec<IO = HelpIo> extends CommandDef {
  run(args: Args, io: IO): CommandResult;
}

// The arguments a command's handler receives, as types computed from its CommandDef (declared `as const`):
// positionals by the names in `command`, options by flag name; a value is one of `choices` if given, else a
// string, boolean or number by `type`, an array if `array`; present unless it is neither `demandOption` nor
// has a `default`. (The parser also sets each option under its camelCase name; the type lists the flag name only.)
type ChoiceOf<S, Else> = S extends { choices: readonly (infer C)[] } ? C : Else;
type Words<C extends string> = C extends `${infer W} ${infer Rest}` ? [W, ...Words<Rest>] : [C];
type PositionalValue<D extends CommandDef, N extends string> = D extends { positionals: infer P }
  ? N extends keyof P
    ? ChoiceOf<P[N], string>
    : string
  : string;
type PositionalArg<D extends CommandDef, W extends string> = W extends `${"<" | "["}${infer N}..${">" | "]"}`
  ? { [K in N]: PositionalValue<D, K>[] }
  : W extends `<${infer N}>`
    ? { [K in N]: PositionalValue<D, K> }
    : W extends `[${infer N}]`
      ? { [K in N]?: PositionalValue<D, K> }
      : unknown;
type PositionalArgs<D extends CommandDef, Ws extends string[]> = Ws extends [
  infer W extends string,
  ...infer Rest extends string[],
]
  ? PositionalArg<D, W> & PositionalArgs<D, Rest>
  : unknown;
type OptionValue<O> = O extends { type: "boolean" }
  ? boolean
  : O extends { type: "number" }
    ? number
    : ChoiceOf<O, string>;
type OptionArg<O> = O extends { array: true } ? OptionValue<O>[] : OptionValue<O>;
type Always<O> = O extends { demandOption: true } ? true : O extends { default: unknown } ? true : false;
type OptionArgs<Os> = { -readonly [K in keyof Os as Always<Os[K]> extends true ? K : never]: OptionArg<Os[K]> } & {
  -readonly [K in keyof Os as Always<Os[K]> extends true ? never : K]?: OptionArg<Os[K]>;
};
type OptionsOf<D extends CommandDef> = D extends { options: infer Os } ? Os : Record<never, never>;
type Defaulted<Os> = { [K in keyof Os]: Os[K] extends { default: unknown } ? K : never }[keyof Os];
type Flat<T> = { [K in keyof T]: T[K] };

/** What the parser hands the handler of `D`: `pipeline push` gets `CommandArgs<typeof PUSH>`. */
export type CommandArgs<D extends CommandDef> = Flat<
  { _: string[]; "--": string[] } & PositionalArgs<D, Words<D["command"]>> & OptionArgs<OptionsOf<D>>
>;

/**
 * What a direct caller of the handler (a test, another command) must give: CommandArgs without the command words,
 * `--` or the options that have a default (the handler then supplies the default itself; its type makes it).
 */
export type CommandInput<D extends CommandDef> = Optional<CommandArgs<D>, "_" | "--" | Defaulted<OptionsOf<D>>>;
type Optional<T, K extends PropertyKey> = Flat<Omit<T, K> & Partial<Pick<T, Extract<K, keyof T>>>>;

/**
 * A table entry: `def` (declared `as const`) and the handler, whose argument type comes from `def`, so a flag
 * renamed in one and not the other is a type error.
 */
export function defineCommand<const D extends CommandDef, IO>(
  def: D,
  run: (args: CommandArgs<D>, io: IO) => CommandResult,
): CommandSpec<IO> {
  // The one unchecked step: the parser builds the arguments from this same `def` (parseCommandArgs), so they
  // have the type CommandArgs<D> describes; args.test.ts checks the parser against it.
  return { ...def, run: (args, io) => run(args as CommandArgs<D>, io) };
}

export interface HelpIo {
  stdout(line: string): void;
}

export interface CliSpec<IO = HelpIo> {
  name: string;
  describe: string;
  /** Descriptions of command groups (`registry` in `registry serve`). */
  groups: Record<string, string>;
  commands: CommandSpec<IO>[];
  /** Options every command takes (handled before parsing), listed in the index's help: [flags, description]. */
  globalOptions?: [string, string][];
}

export interface Positional {
  name: string;
  required: boolean;
  variadic: boolean;
}

export interface Parsed {
  words: string[];
  positionals: Positional[];
}

/** The words and positionals of a command string (`"credentials add <service> <url>"`). */
export function parseCommand(command: string): Parsed {
  const words: string[] = [];
  const positionals: Positional[] = [];
  for (const part of command.trim().split(/\s+/)) {
    const m = /^([<[])([A-Za-z][\w-]*)(\.\.)?[>\]]$/.exec(part);
    if (m) positionals.push({ name: m[2], required: m[1] === "<", variadic: Boolean(m[3]) });
    else if (positionals.length)
      throw new Error(`command ${JSON.stringify(command)}: word ${JSON.stringify(part)} after a positional`);
    else words.push(part);
  }
  return { words, positionals };
}

const camel = (s: string) => s.replace(/-([a-z])/g, (_m, c: string) => c.toUpperCase());

function isHelp(arg: string): boolean {
  return arg === "--help" || arg === "-h";
}

/** The command `argv` names: the one whose words match the most leading arguments. */
function findCommand<IO>(spec: CliSpec<IO>, argv: string[]): { cmd: CommandSpec<IO>; parsed: Parsed } | undefined {
  let best: { cmd: CommandSpec<IO>; parsed: Parsed } | undefined;
  for (const cmd of spec.commands) {
    const parsed = parseCommand(cmd.command);
    if (parsed.words.every((w, i) => argv[i] === w) && (!best || parsed.words.length > best.parsed.words.length))
      best = { cmd, parsed };
  }
  return best;
}

const untilDashDash = (args: string[]) => (args.includes("--") ? args.slice(0, args.indexOf("--")) : args);

/** Parses `argv` against the table and runs the command (`--help` prints help instead); resolves to the exit code. */
export async function runSpec<IO extends HelpIo>(spec: CliSpec<IO>, argv: string[], io: IO): Promise<number> {
  const found = findCommand(spec, argv);
  if (found) {
    const rest = argv.slice(found.parsed.words.length);
    if (untilDashDash(rest).some(isHelp)) {
      io.stdout(helpCommand(spec, found.cmd));
      return 0;
    }
    const result = await found.cmd.run(parseCommandArgs(found.cmd, found.parsed, rest), io);
    return result?.exitCode ?? 0;
  }
  // No command: a group (`registry`), help, or a mistake.
  const words: string[] = [];
  for (const a of argv) {
    if (a.startsWith("-")) break;
    words.push(a);
  }
  const all = spec.commands.map((c) => parseCommand(c.command).words);
  const isGroup = (p: string[]) => all.some((w) => w.length > p.length && p.every((x, i) => w[i] === x));
  let g = 0;
  while (g < words.length && isGroup(words.slice(0, g + 1))) g++;
  const prefix = words.slice(0, g);
  const listed = spec.commands.filter((c) => c.describe !== false).map((c) => parseCommand(c.command).words);
  const names = [...new Set(listed.filter((w) => w.length > g && prefix.every((x, i) => w[i] === x)).map((w) => w[g]))];
  const group = prefix.join(" ");
  if (words.length > g) {
    const named = words.slice(0, g + 1).join(" ");
    const near = closest(words[g], names);
    throw new UsageError(
      `unknown command ${JSON.stringify(named)}${near ? ` (did you mean ${JSON.stringify([...prefix, near].join(" "))}?)` : ""}${g ? ` (${group} has: ${names.join(", ")})` : ""}`,
    );
  }
  if (untilDashDash(argv.slice(g)).some(isHelp)) {
    io.stdout(helpIndex(spec, prefix));
    return 0;
  }
  if (argv.length > g)
    throw new UsageError(
      `expected a command before ${JSON.stringify(argv[g])}${g ? ` (${group} has: ${names.join(", ")})` : ""}`,
    );
  throw new UsageError(`${g ? `${group}: ` : ""}name a command (${names.join(", ")})`);
}

function parseCommandArgs<IO>(cmd: CommandSpec<IO>, parsed: Parsed, argv: string[]): Args {
  const specs = cmd.options ?? {};
  const options: Record<string, { type: "string" | "boolean"; multiple: boolean }> = {};
  for (const [name, o] of Object.entries(specs))
    options[name] = { type: o.type === "boolean" ? "boolean" : "string", multiple: Boolean(o.array) };
  const { tokens } = parseArgs({ args: argv, options, strict: false, allowPositionals: true, tokens: true });
  const values: Record<string, unknown> = {};
  const positionals: string[] = [];
  const dashDash: string[] = [];
  let afterTerminator = false;
  for (const t of tokens) {
    if (t.kind === "option-terminator") {
      afterTerminator = true;
      continue;
    }
    if (t.kind === "positional") {
      (afterTerminator ? dashDash : positionals).push(t.value);
      continue;
    }
    const negated = !specs[t.name] && t.name.startsWith("no-") && specs[t.name.slice(3)]?.type === "boolean";
    const name = negated ? t.name.slice(3) : t.name;
    const o = specs[name];
    if (!o) {
      const near = closest(t.name, Object.keys(specs));
      throw new UsageError(
        `unknown option ${t.rawName}${t.value !== undefined ? `=${t.value}` : ""} for "${parsed.words.join(" ")}"${near ? ` (did you mean --${near}?)` : ""}`,
      );
    }
    let value: unknown;
    if (o.type === "boolean") {
      if (t.value === undefined) value = !negated;
      else if (!negated && (t.value === "true" || t.value === "false")) value = t.value === "true";
      else throw new UsageError(`${t.rawName}: a switch takes no value, got ${JSON.stringify(t.value)}`);
    } else {
      if (t.value === undefined) throw new UsageError(`${t.rawName} needs a value`);
      if (!t.inlineValue && t.value.length > 1 && t.value.startsWith("-")) {
        throw new UsageError(
          `${t.rawName} needs a value, got the option ${JSON.stringify(t.value)} (write ${t.rawName}=${t.value} if that is the value)`,
        );
      }
      value = o.type === "number" ? toNumber(t.rawName, t.value) : t.value;
      if (o.choices && !o.choices.includes(t.value)) {
        throw new UsageError(
          `${t.rawName}: expected one of ${o.choices.map((c) => JSON.stringify(c)).join(", ")}, got ${JSON.stringify(t.value)}`,
        );
      }
    }
    if (o.array) values[name] = [...((values[name] as unknown[] | undefined) ?? []), value];
    else values[name] = value;
  }

  const args: Args = { _: [...parsed.words], "--": dashDash };
  const label = parsed.words.join(" ");
  let i = 0;
  for (const p of parsed.positionals) {
    const ps = cmd.positionals?.[p.name];
    const taken = p.variadic ? positionals.slice(i) : positionals.slice(i, i + 1);
    i += taken.length;
    if (p.required && taken.length === 0) throw new UsageError(`${label}: missing argument <${p.name}>`);
    for (const v of taken) {
      if (ps?.choices && !ps.choices.includes(v)) {
        throw new UsageError(
          `${label} <${p.name}>: expected one of ${ps.choices.map((c) => JSON.stringify(c)).join(", ")}, got ${JSON.stringify(v)}`,
        );
      }
    }
    args[p.name] = p.variadic ? taken : taken[0];
  }
  if (i < positionals.length) {
    const extra = positionals
      .slice(i)
      .map((v) => JSON.stringify(v))
      .join(" ");
    throw new UsageError(`${label}: unexpected argument${positionals.length - i > 1 ? "s" : ""} ${extra}`);
  }

  const missing = Object.entries(specs).filter(([name, o]) => o.demandOption && values[name] === undefined);
  if (missing.length) {
    throw new UsageError(
      `${label}: missing required option${missing.length > 1 ? "s" : ""} ${missing.map(([n]) => `--${n}`).join(", ")}`,
    );
  }
  for (const [name, o] of Object.entries(specs)) {
    const v = values[name] ?? (Array.isArray(o.default) ? [...o.default] : o.default);
    args[name] = v;
    if (name.includes("-")) args[camel(name)] = v;
  }
  return args;
}

function toNumber(flag: string, s: string): number {
  const n = Number(s);
  if (s.trim() === "" || !Number.isFinite(n))
    throw new UsageError(`${flag}: expected a number, got ${JSON.stringify(s)}`);
  return n;
}

function table(rows: [string, string][]): string[] {
  const width = Math.min(44, Math.max(0, ...rows.map(([a]) => a.length)));
  return rows.map(([a, b]) => (b ? `  ${a.padEnd(width)}  ${b}` : `  ${a}`).trimEnd());
}

function helpIndex<IO>(spec: CliSpec<IO>, prefix: string[]): string {
  const rows: [string, string][] = [];
  const seen = new Set<string>();
  for (const c of spec.commands) {
    if (c.describe === false) continue;
    const { words, positionals } = parseCommand(c.command);
    if (!prefix.every((w, i) => words[i] === w)) continue;
    if (words.length > prefix.length + 1) {
      const group = words.slice(0, prefix.length + 1).join(" ");
      if (!seen.has(group)) rows.push([`${spec.name} ${group} <command>`, spec.groups[group] ?? ""]);
      seen.add(group);
      continue;
    }
    rows.push([[spec.name, ...words, ...positionals.map(formatPositional)].join(" "), c.describe]);
  }
  const head = prefix.length ? `${spec.name} ${prefix.join(" ")} <command>` : `${spec.name} <command> [options]`;
  const about = prefix.length ? spec.groups[prefix.join(" ")] : spec.describe;
  return [
    head,
    "",
    ...(about ? [about, ""] : []),
    "Commands:",
    ...table(rows),
    "",
    "Options:",
    ...table([["--help", "show help"], ...(spec.globalOptions ?? [])]),
  ].join("\n");
}

function formatPositional(p: Positional): string {
  const inner = `${p.name}${p.variadic ? ".." : ""}`;
  return p.required ? `<${inner}>` : `[${inner}]`;
}

function helpCommand<IO>(spec: CliSpec<IO>, cmd: CommandSpec<IO>): string {
  const { words, positionals } = parseCommand(cmd.command);
  const lines = [[spec.name, ...words, ...positionals.map(formatPositional)].join(" ") + " [options]", ""];
  if (cmd.describe) lines.push(cmd.describe, "");
  if (positionals.length) {
    lines.push("Positionals:");
    lines.push(
      ...table(
        positionals.map((p) => {
          const ps = cmd.positionals?.[p.name];
          const notes = [
            ps?.describe,
            ps?.choices && `[choices: ${ps.choices.join(", ")}]`,
            p.required && "[required]",
          ];
          return [p.name, notes.filter(Boolean).join(" ")];
        }),
      ),
      "",
    );
  }
  const rows: [string, string][] = [];
  for (const [name, o] of Object.entries(cmd.options ?? {})) {
    if (o.hidden) continue;
    const type = o.type === "boolean" ? "" : ` ${o.type === "number" ? "N" : "VALUE"}`;
    const notes = [
      o.describe,
      o.choices && `[choices: ${o.choices.join(", ")}]`,
      o.array && "[repeatable]",
      o.demandOption && "[required]",
      o.default !== undefined &&
        o.default !== false &&
        !(Array.isArray(o.default) && o.default.length === 0) &&
        `[default: ${JSON.stringify(o.default)}]`,
    ];
    rows.push([`--${name}${type}`, notes.filter(Boolean).join(" ")]);
  }
  rows.push(["--help", "show help"]);
  lines.push("Options:", ...table(rows));
  return lines.join("\n");
}
