/** The global `-v`/`--debug` flag, before `--`: read by the error boundary (run-cli.ts) and the code cache loader. */
const DEBUG_FLAGS = ["-v", "--debug"];

/** `argv` without `-v`/`--debug` before `--`, and whether one was there. */
export function takeDebug(argv: string[]): { argv: string[]; debug: boolean } {
  const end = argv.includes("--") ? argv.indexOf("--") : argv.length;
  const head = argv.slice(0, end).filter((a) => !DEBUG_FLAGS.includes(a));
  return { argv: [...head, ...argv.slice(end)], debug: head.length !== end };
}
