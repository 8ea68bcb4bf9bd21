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

// biome-ignore lint/suspicious/noConfusingVoidType: a handler that returns nothing is a plain `async (…) => {…}`
export type CommandResult = { exitCode?: number } | void;

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

export interface CommandSpec<IO = HelpIo> {
  /** Words, then positionals: `<name>` required, `[name]` optional, `<name..>`/`[name..]` the rest as an array. */
  command: string;
  /** One line for --help; false hides an internal command (still runnable). */
  describe: string | false;
  positionals?: Record<string, PositionalSpec>;
  options?: Record<string, OptionSpec>;
  run(args: Args, io: IO): Promise<CommandResult>;
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
    else if (positionals.length) throw new Error(`command ${JSON.stringify(command)}: word ${JSON.stringify(part)} after a positional`);
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
    if (parsed.words.every((w, i) => argv[i] === w) && (!best || parsed.words.length > best.parsed.words.length)) best = { cmd, parsed };
  }
  return best;
}

const untilDashDash = (args: string[]) => (args.includes("--") ? args.slice(0, args.indexOf("--")) : args);

/** Parses `argv` against the table and runs the command; `--help` prints help instead. */
export async function runSpec<IO extends HelpIo>(spec: CliSpec<IO>, argv: string[], io: IO): Promise<CommandResult> {
  const found = findCommand(spec, argv);
  if (found) {
    const rest = argv.slice(found.parsed.words.length);
    if (untilDashDash(rest).some(isHelp)) return io.stdout(helpCommand(spec, found.cmd));
    return found.cmd.run(parseCommandArgs(found.cmd, found.parsed, rest), io);
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
  if (untilDashDash(argv.slice(g)).some(isHelp)) return io.stdout(helpIndex(spec, prefix));
  if (argv.length > g) throw new UsageError(`expected a command before ${JSON.stringify(argv[g])}${g ? ` (${group} has: ${names.join(", ")})` : ""}`);
  throw new UsageError(`${g ? `${group}: ` : ""}name a command (${names.join(", ")})`);
}

function parseCommandArgs<IO>(cmd: CommandSpec<IO>, parsed: Parsed, argv: string[]): Args {
  const specs = cmd.options ?? {};
  const options: Record<string, { type: "string" | "boolean"; multiple: boolean }> = {};
  for (const [name, o] of Object.entries(specs)) options[name] = { type: o.type === "boolean" ? "boolean" : "string", multiple: Boolean(o.array) };
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
        throw new UsageError(`${t.rawName}: expected one of ${o.choices.map((c) => JSON.stringify(c)).join(", ")}, got ${JSON.stringify(t.value)}`);
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
    throw new UsageError(`${label}: missing required option${missing.length > 1 ? "s" : ""} ${missing.map(([n]) => `--${n}`).join(", ")}`);
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
  if (s.trim() === "" || !Number.isFinite(n)) throw new UsageError(`${flag}: expected a number, got ${JSON.stringify(s)}`);
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
          const notes = [ps?.describe, ps?.choices && `[choices: ${ps.choices.join(", ")}]`, p.required && "[required]"];
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
