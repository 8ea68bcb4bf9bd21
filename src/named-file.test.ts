/**
 * The one reader of files a spec or a flag names (issue #72): a device, a FIFO, a directory or a file over the bound
 * is refused before a byte is read, naming the field or flag, the path and what it is; and every key and password
 * file of the CLI goes through it (deploy --render's requireSignature, run --require-signature, push --sign-key and
 * --sign-password-file, verify --key), through the CLI's own entry point in this process. Before, /dev/zero was read
 * until memory ran out and a FIFO blocked the read for ever (these tests then never ended).
 */
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { pipelineErrorOf, pipelineErrorOfSync } from "../test/fixtures/errors";
import { runCli } from "./cli/run-cli";
import type { CliIo } from "./cli/io";
import { readNamedFile, readNamedFileSync } from "./named-file";

let dir: string;
let fifo: string;
const KEY = { what: "--key (public key)", bound: 64 * 1024, code: "E_SIGNING_KEY" } as const;
const DIGEST = `sha256:${"ab".repeat(32)}`;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "named-file-"));
  fifo = join(dir, "key.fifo");
  execFileSync("mkfifo", [fifo]);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("readNamedFile", () => {
  it("reads a regular file within the bound", async () => {
    writeFileSync(join(dir, "ok.pub"), "key\n");
    expect((await readNamedFile(join(dir, "ok.pub"), KEY)).toString()).toBe("key\n");
    expect(readNamedFileSync(join(dir, "ok.pub"), KEY).toString()).toBe("key\n");
  });

  it("refuses what is not a regular file, or larger than the bound, naming the flag, the path and what it is", async () => {
    const big = join(dir, "big.pub");
    writeFileSync(big, Buffer.alloc(KEY.bound + 1, 0x41));
    mkdirSync(join(dir, "a-dir"));
    const cases: [string, string][] = [
      ["/dev/zero", "--key (public key): /dev/zero: a character device, not a regular file"],
      [fifo, `--key (public key): ${fifo}: a FIFO (named pipe), not a regular file`],
      [join(dir, "a-dir"), `--key (public key): ${join(dir, "a-dir")}: a directory, not a regular file`],
      [big, `--key (public key): ${big}: ${KEY.bound + 1} bytes, more than such a file holds (${KEY.bound})`],
      [join(dir, "absent"), `--key (public key): ${join(dir, "absent")}: no such file`],
    ];
    for (const [path, message] of cases) {
      const e = await pipelineErrorOf(readNamedFile(path, KEY));
      expect(e.code).toBe("E_SIGNING_KEY");
      expect(e.message).toBe(message);
      expect(pipelineErrorOfSync(() => readNamedFileSync(path, KEY)).message).toBe(message);
    }
  });
});

/** The CLI in this process: its exit code and stderr. */
async function cli(argv: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number; stderr: string }> {
  const err: string[] = [];
  const io: CliIo = {
    stdout: () => undefined,
    stderr: (l) => err.push(l),
    env: { HOME: dir, DOCKER_CONFIG: join(dir, ".docker"), ...env },
    cwd: dir,
    isTTY: false,
    readStdin: async () => "",
  };
  const code = await runCli(argv, io);
  return { code, stderr: err.join("\n") };
}

describe("every key and password file the CLI reads goes through it", () => {
  it("deploy --render and run SPEC: a spec's requireSignature naming /dev/zero or a FIFO (relative to the spec) is refused at once", async () => {
    for (const [key, shown] of [
      ["/dev/zero", "/dev/zero: a character device"],
      ["key.fifo", `${fifo}: a FIFO (named pipe)`],
    ]) {
      const spec = join(dir, "deploy.yaml");
      writeFileSync(spec, `image: 127.0.0.1:1/app@${DIGEST}\nrequireSignature: ${key}\n`);
      const r = await cli(["deploy", spec, "--render", "--offline"]);
      expect(r.code, r.stderr).toBe(1);
      expect(r.stderr).toContain(
        `error[E_SIGNING_KEY]: ${spec}: requireSignature (public key): ${shown}, not a regular file`,
      );
      // `pipeline run SPEC` reads it before any registry is asked about the spec's image.
      const run = await cli(["run", spec]);
      expect(run.code, run.stderr).toBe(1);
      expect(run.stderr).toContain(
        `error[E_SIGNING_KEY]: ${spec}: requireSignature (public key): ${shown}, not a regular file`,
      );
    }
  });

  it("run --require-signature and verify --key: refused before any registry is asked", async () => {
    for (const key of ["/dev/zero", fifo]) {
      const run = await cli(["run", "--image", `127.0.0.1:1/app@${DIGEST}`, "--require-signature", key]);
      expect(run.code, run.stderr).toBe(1);
      expect(run.stderr).toMatch(/error\[E_SIGNING_KEY\]: --require-signature \(public key\): .*, not a regular file/);
      const verify = await cli(["verify", `127.0.0.1:1/app@${DIGEST}`, "--key", key]);
      expect(verify.code, verify.stderr).toBe(1);
      expect(verify.stderr).toMatch(/error\[E_SIGNING_KEY\]: --key \(public key\): .*, not a regular file/);
    }
  });

  it("push --sign-key and --sign-password-file: refused before anything is pushed", async () => {
    const layout = join(dir, "no-layout");
    const key = await cli(["push", layout, "--repository", "127.0.0.1:1/app", "--sign-key", "/dev/zero"], {
      COSIGN_PASSWORD: "pw",
    });
    expect(key.code, key.stderr).toBe(1);
    expect(key.stderr).toContain(
      "error[E_SIGNING_KEY]: --sign-key (signing key): /dev/zero: a character device, not a regular file",
    );
    writeFileSync(join(dir, "cosign.key"), "not read: the password comes first\n");
    const pw = await cli([
      "push",
      layout,
      "--repository",
      "127.0.0.1:1/app",
      "--sign-key",
      join(dir, "cosign.key"),
      "--sign-password-file",
      fifo,
    ]);
    expect(pw.code, pw.stderr).toBe(1);
    expect(pw.stderr).toContain(
      `error[E_SIGNING_KEY]: --sign-password-file (password file): ${fifo}: a FIFO (named pipe), not a regular file`,
    );
  });
});
