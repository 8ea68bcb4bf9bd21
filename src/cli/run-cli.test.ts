import { readFileSync } from "node:fs";
import { join } from "node:path";
import { REPO_ROOT } from "../../test/fixtures/repo";
import { scratchDir } from "../../test/fixtures/scratch";
import { ERROR_CODES, type ErrorCode } from "../error-codes/catalogue";
import { errorDocHint } from "./failure";
import { describe, expect, test } from "vitest";
import { EXIT_ERROR, EXIT_INTERNAL, EXIT_USAGE, runCli } from "./run-cli";
import type { CliIo } from "./io";
import { VERSION } from "../version";

function io(env: NodeJS.ProcessEnv = {}, stdin = "") {
  const out: string[] = [];
  const err: string[] = [];
  const cli: CliIo = {
    stdout: (l) => out.push(l),
    stderr: (l) => err.push(l),
    env,
    cwd: process.cwd(),
    isTTY: false,
    readStdin: async () => stdin,
  };
  return { cli, out, err };
}

describe("the CLI's error boundary", () => {
  test("no command and unknown commands are usage errors (exit 2)", async () => {
    for (const argv of [[], ["frobnicate"]]) {
      const t = io();
      expect(await runCli(argv, t.cli)).toBe(EXIT_USAGE);
      expect(t.err.join("\n")).toMatch(/pipeline --help/);
    }
  });

  test("one usage-error format: a parser error and a command's own E_USAGE both print error[E_USAGE]: and exit 2", async () => {
    const parser = io();
    expect(await runCli(["push", "d", "--repository", "r", "--frob", "x"], parser.cli)).toBe(EXIT_USAGE);
    expect(parser.err[0]).toBe('error[E_USAGE]: unknown option --frob for "push"');
    const command = io();
    expect(await runCli(["registry", "serve", "--port", "99999"], command.cli)).toBe(EXIT_USAGE);
    expect(command.err[0]).toBe(`error[E_USAGE]: --port: expected a port number 0-65535, got "99999"`);
  });

  test("--version prints the version anywhere before --, and runs nothing", async () => {
    for (const argv of [["--version"], ["-V"], ["push", "--version"], ["registry", "serve", "--version"]]) {
      const t = io();
      expect(await runCli(argv, t.cli)).toBe(0);
      expect(t.out).toEqual([`pipeline ${VERSION} (rules_pipeline, node ${process.versions.node})`]);
    }
  });

  test("typos get a did-you-mean: commands (also in a group) and flags", async () => {
    const cases: [string[], RegExp][] = [
      [["psuh", "x"], /unknown command "psuh" \(did you mean "push"\?\)/],
      [["model", "pul", "x"], /unknown command "model pul" \(did you mean "model pull"\?\)/],
      [["inspect", "oci:/x", "--insecur"], /unknown option --insecur for "inspect" \(did you mean --insecure\?\)/],
      [
        ["push", "oci:/x", "--repository", "h/r", "--tags", "v1"],
        /unknown option --tags for "push" \(did you mean --tag\?\)/,
      ],
    ];
    for (const [argv, re] of cases) {
      const t = io();
      expect(await runCli(argv, t.cli)).toBe(EXIT_USAGE);
      expect(t.err.join("\n")).toMatch(re);
    }
    const far = io();
    expect(await runCli(["frobnicate"], far.cli)).toBe(EXIT_USAGE);
    expect(far.err.join("\n")).not.toMatch(/did you mean/);
  });

  test("-v/--debug prints a failure's stack and causes after its message; without it there is no stack", async () => {
    for (const flag of ["-v", "--debug"]) {
      const t = io();
      expect(await runCli([flag, "inspect", "oci:/nowhere/at/all"], t.cli)).toBe(EXIT_ERROR);
      expect(t.err[0]).toMatch(/^error\[E_LAYOUT\]: .*\/nowhere\/at\/all/);
      expect(t.err.slice(2).join("\n")).toMatch(/^debug: PipelineError: .*\n\s+at /);
    }
    const plain = io();
    expect(await runCli(["inspect", "oci:/nowhere/at/all"], plain.cli)).toBe(EXIT_ERROR);
    expect(plain.err).toHaveLength(2);
  });

  test("an error line is followed by where its code is explained: docs/errors.md's heading for it", async () => {
    const t = io();
    expect(await runCli(["inspect", "oci:/nowhere/at/all"], t.cli)).toBe(EXIT_ERROR);
    expect(t.err).toEqual([expect.stringMatching(/^error\[E_LAYOUT\]: /), "see docs/errors.md#e_layout"]);
    // Usage errors (exit 2) are explained by --help instead.
    const usage = io();
    expect(await runCli(["registry", "serve", "--port", "99999"], usage.cli)).toBe(EXIT_USAGE);
    expect(usage.err.join("\n")).not.toContain("docs/errors.md");
    // Every code's anchor is a heading of the generated catalogue (GitHub's anchor: the heading, lower-cased).
    const headings = new Set(
      [...readFileSync(join(REPO_ROOT, "docs", "errors.md"), "utf8").matchAll(/^### (E_[A-Z0-9_]+)$/gm)].map((m) =>
        m[1].toLowerCase(),
      ),
    );
    const codes = Object.keys(ERROR_CODES) as ErrorCode[];
    expect(codes.length).toBeGreaterThan(100);
    expect(codes.map(errorDocHint).filter((h) => !headings.has(h.slice(h.indexOf("#") + 1)))).toEqual([]);
  });

  test("--help lists the global options", async () => {
    const t = io();
    expect(await runCli(["--help"], t.cli)).toBe(0);
    expect(t.out.join("\n")).toMatch(/--version, -V +print the version/);
    expect(t.out.join("\n")).toMatch(/--debug, -v +log each registry request/);
  });

  test("an unknown flag is a usage error naming it", async () => {
    const t = io();
    expect(await runCli(["inspect", "oci:/x", "--frob"], t.cli)).toBe(EXIT_USAGE);
    expect(t.err.join("\n")).toMatch(/frob/);
  });

  test("bad input is exit 1 with a stable code and the value, and no stack trace", async () => {
    const t = io();
    expect(await runCli(["push", "/nowhere", "--repository", "localhost:5000/App:v1"], t.cli)).toBe(EXIT_ERROR);
    const text = t.err.join("\n");
    expect(text).toMatch(/^error\[E_BAD_REFERENCE\]: --repository: /);
    expect(text).not.toMatch(/\n\s+at /);
  });

  test("a directory that is not an OCI layout is named", async () => {
    const dir = scratchDir("rp-cli-");
    const t = io();
    expect(await runCli(["inspect", `oci:${dir}`], t.cli)).toBe(EXIT_ERROR);
    expect(t.err.join("\n")).toContain(`error[E_LAYOUT]: ${dir} is not an OCI image layout`);
  });

  test("--password is refused (argv is visible to everyone); --username needs --password-stdin", async () => {
    let t = io();
    expect(
      await runCli(
        ["pull", "localhost:5000/a/b:t", "--output", "/tmp/x", "--username", "u", "--password", "hunter2"],
        t.cli,
      ),
    ).toBe(EXIT_USAGE);
    expect(t.err.join("\n")).toContain("--password is not accepted");
    expect(t.err.join("\n")).not.toContain("hunter2");
    t = io();
    expect(await runCli(["pull", "localhost:5000/a/b:t", "--output", "/tmp/x", "--username", "u"], t.cli)).toBe(
      EXIT_USAGE,
    );
    expect(t.err.join("\n")).toContain("--username and --password-stdin go together");
    t = io({}, "");
    expect(
      await runCli(
        ["pull", "localhost:5000/a/b:t", "--output", "/tmp/x", "--username", "u", "--password-stdin"],
        t.cli,
      ),
    ).toBe(EXIT_USAGE);
    expect(t.err.join("\n")).toContain("standard input was empty");
  });

  test("a bad --platform names the flag and value", async () => {
    const t = io();
    expect(await runCli(["pull", "localhost:5000/a/b:t", "--output", "/tmp/x", "--platform", "amd64"], t.cli)).toBe(
      EXIT_ERROR,
    );
    expect(t.err.join("\n")).toContain(
      '--platform: expected os/arch[/variant] (e.g. linux/amd64, linux/arm64/v8), got "amd64"',
    );
  });
});

describe("an unexpected failure (a bug) is exit 70", () => {
  test("an error that is not a PipelineError: exit 70, 'internal error' with its stack, and a request to report it", async () => {
    const t = io();
    const bug = new TypeError("cannot read properties of undefined (reading 'x')");
    t.cli.readStdin = () => Promise.reject(bug);
    const code = await runCli(
      ["pull", "localhost:5000/a/b:t", "--output", "/tmp/x", "--username", "u", "--password-stdin"],
      t.cli,
    );
    expect(code).toBe(70); // sysexits.h EX_SOFTWARE, as the CLI's header documents: the number itself, not the constant
    expect(EXIT_INTERNAL).toBe(70);
    expect(t.err[0]).toMatch(/^internal error: TypeError: cannot read properties of undefined \(reading 'x'\)\n\s+at /);
    expect(t.err[1]).toMatch(/^This is a bug in rules_pipeline .*: please report it with the command you ran\.$/);
    // A thrown non-Error value is reported the same way.
    const u = io();
    u.cli.readStdin = () => Promise.reject("a string, not an Error");
    expect(
      await runCli(
        ["pull", "localhost:5000/a/b:t", "--output", "/tmp/x", "--username", "u", "--password-stdin"],
        u.cli,
      ),
    ).toBe(70);
    expect(u.err[0]).toBe("internal error: a string, not an Error");
  });
});
