/**
 * `pipeline completion bash|zsh`, run by the real shells: bash registers it (`complete -p`) and its function offers
 * commands, subcommands, flags and choices from the command table; zsh parses it and offers the same through
 * compadd (stubbed: outside an interactive completion zsh has no completion context to call it from).
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { runCli } from "./run-cli";
import type { CliIo } from "./io";
import { COMMANDS } from "./main";
import { completionScript } from "./completion";

let tmp: string;
beforeAll(() => {
  tmp = mkdtempSync(join(tmpdir(), "cli-completion-"));
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

async function script(shell: string): Promise<string> {
  const out: string[] = [];
  const err: string[] = [];
  const io: CliIo = {
    stdout: (l) => out.push(l),
    stderr: (l) => err.push(l),
    env: {},
    cwd: tmp,
    isTTY: false,
    readStdin: async () => "",
  };
  expect(await runCli(["completion", shell], io), err.join("\n")).toBe(0);
  const file = join(tmp, `pipeline.${shell}`);
  writeFileSync(file, out.join("\n") + "\n");
  return file;
}

function sh(shell: string, program: string): string {
  const r = spawnSync(shell, shell === "zsh" ? ["-f", "-c", program] : ["--norc", "--noprofile", "-c", program], {
    encoding: "utf8",
    cwd: tmp,
  });
  expect(r.status, r.stderr).toBe(0);
  return r.stdout;
}

test("completion <shell> accepts bash and zsh only, and names the choices otherwise", async () => {
  const err: string[] = [];
  const io: CliIo = {
    stdout: () => undefined,
    stderr: (l) => err.push(l),
    env: {},
    cwd: tmp,
    isTTY: false,
    readStdin: async () => "",
  };
  expect(await runCli(["completion", "fish"], io)).toBe(2);
  expect(err.join("\n")).toContain('expected one of "bash", "zsh", got "fish"');
});

test("a table word a shell would expand is refused, not written into the script", () => {
  const run = async () => undefined;
  expect(() =>
    completionScript("bash", [{ command: "x", describe: "x", options: { "a$(b)": { type: "boolean" } }, run }], "0"),
  ).toThrow(/"--a\$\(b\)"|"a\$\(b\)"/);
});

describe("bash", () => {
  const cases: [string[], string][] = [
    [["pipeline", "pu"], "push pull"],
    [["pipeline", "registry", ""], "serve"],
    [["pipeline", "cache", "p"], "prune"],
    [["pipeline", "push", "--js"], "--json"],
    [["pipeline", "push", "/layout", "--repository", "h/r", "--t"], "--tag"],
    [["pipeline", "pull", "--ver"], "--version"],
    [["pipeline", "pull", "--deb"], "--debug"],
    [["pipeline", "run", "--runtime", ""], "auto runc podman docker"],
    [["pipeline", "completion", ""], "bash zsh"],
    [["pipeline", "bazel-pu"], ""], // internal commands are not offered
  ];
  test.each(cases)("%j → %s", async (words, expected) => {
    const file = await script("bash");
    const quoted = words.map((w) => `'${w}'`).join(" ");
    const out = sh(
      "bash",
      `source '${file}'; COMP_WORDS=(${quoted}); COMP_CWORD=${words.length - 1}; _pipeline; echo "\${COMPREPLY[*]}"`,
    );
    expect(out.trim()).toBe(expected);
  });

  test("complete -p shows the function registered for pipeline", async () => {
    const file = await script("bash");
    expect(sh("bash", `source '${file}'; complete -p pipeline`).trim()).toBe(
      "complete -o default -F _pipeline pipeline",
    );
  });

  test("every listed command and every flag not hidden comes from the table", async () => {
    const file = await script("bash");
    const top = sh("bash", `source '${file}'; _pipeline_words ""`).trim().split(" ");
    for (const c of COMMANDS.filter((c) => c.describe !== false)) expect(top).toContain(c.command.split(" ")[0]);
    const push = COMMANDS.find((c) => c.command.startsWith("push "))!;
    const flags = sh("bash", `source '${file}'; _pipeline_flags push`).trim().split(" ");
    for (const [name, o] of Object.entries(push.options!)) expect(flags.includes(`--${name}`), name).toBe(!o.hidden);
  });
});

// zsh comes from scripts/install-deps.sh (Debian's zsh package).
describe("zsh", () => {
  // Stubs: compadd prints its candidates, compdef records the registration.
  const stubs =
    'compadd() { [[ "$1" == -- ]] && shift; print -r -- "$*"; }; _files() { print -r -- FILES; }; compdef() { print -r -- "compdef $*"; }';

  test("parses, and registers _pipeline for pipeline when sourced", async () => {
    const file = await script("zsh");
    sh("zsh", `zsh -n '${file}'`);
    expect(sh("zsh", `${stubs}; source '${file}'`).trim()).toBe("compdef _pipeline pipeline");
  });

  test.each([
    [
      ["pipeline", ""],
      "push pull materialize inspect sbom verify registry credentials base build verify-image run map deploy model cache completion",
    ],
    [["pipeline", "model", ""], "push pull"],
    [
      ["pipeline", "push", "--"],
      "--repository --tag --metadata-out --sbom --sign-key --sign-password-file --provenance --sign-legacy --provenance-lockfile --insecure --json --platform --username --password-stdin --help --version --debug",
    ],
    [["pipeline", "deploy", "--output", ""], "yaml json"],
    [["pipeline", "push", ""], "FILES"],
  ])("%j → %s", async (words, expected) => {
    const file = await script("zsh");
    const quoted = words.map((w) => `'${w}'`).join(" ");
    const last = words[words.length - 1];
    const out = sh(
      "zsh",
      `${stubs}; source '${file}' >/dev/null; words=(${quoted}); CURRENT=${words.length}; PREFIX='${last}'; _pipeline`,
    );
    expect(out.trim()).toBe(expected);
  });
});
