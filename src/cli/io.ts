import { outsideText } from "../errors";

/** What a command may touch of the outside world, passed in so tests can call commands directly. */
export interface CliIo {
  stdout(line: string): void;
  stderr(line: string): void;
  env: NodeJS.ProcessEnv;
  cwd: string;
  /** Whether stderr is a terminal (progress bars are drawn only then, and never when $CI is set). */
  isTTY: boolean;
  /** All of standard input (for --password-stdin). */
  readStdin(): Promise<string>;
  /** Set by `-v`/`--debug`: diagnostics on stderr (one line per registry request; never credentials). */
  debug?: (line: string) => void;
}

export function processIo(): CliIo {
  return {
    stdout: (line) => process.stdout.write(line + "\n"),
    // Diagnostics quote outside text (a child's output, a registry's, a file name): never a raw control character.
    stderr: (line) => process.stderr.write(outsideText(line) + "\n"),
    env: process.env,
    cwd: process.cwd(),
    isTTY: Boolean(process.stderr.isTTY),
    readStdin: async () => {
      const chunks: Buffer[] = [];
      for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
      return Buffer.concat(chunks).toString("utf8");
    },
  };
}

export function showProgress(io: CliIo): boolean {
  return io.isTTY && !io.env.CI;
}
