/** `pipeline push/pull --username U --password-stdin` against the real registry with htpasswd: explicit flags win. */
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, expect, test } from "vitest";
import { runCli } from "../../src/cli/run-cli";
import type { CliIo } from "../../src/cli/io";
import { writeLayout } from "../../src/layout/write";
import { randomImage } from "../fixtures/random-image";
import { type RunningRegistry, startRegistry, writeDockerConfig } from "../fixtures/registry";

const secret = "pw-" + Math.random().toString(36).slice(2);
const tmp = mkdtempSync(join(tmpdir(), "rp-cli-auth-"));
let reg: RunningRegistry;

beforeAll(async () => {
  reg = await startRegistry({ htpasswd: { user: "bob", password: secret } });
});
afterAll(async () => {
  await reg.stop();
  rmSync(tmp, { recursive: true, force: true });
});

function io(env: NodeJS.ProcessEnv, stdin: string) {
  const lines: string[] = [];
  const cli: CliIo = {
    stdout: (l) => lines.push(l),
    stderr: (l) => lines.push(l),
    env,
    cwd: tmp,
    isTTY: false,
    readStdin: async () => stdin,
  };
  return { cli, lines };
}

function filesUnder(dir: string): string[] {
  return readdirSync(dir).flatMap((n) => {
    const p = join(dir, n);
    return statSync(p).isDirectory() ? filesUnder(p) : [p];
  });
}

test("--username/--password-stdin beats a wrong docker config, and the secret shows up nowhere", async () => {
  const layout = join(tmp, "layout");
  await writeLayout(layout, randomImage({ layers: 2 }));
  const dockerDir = mkdtempSync(join(tmp, "docker-"));
  writeDockerConfig(dockerDir, { [reg.host]: { username: "bob", password: "wrong" } });
  const env = { DOCKER_CONFIG: dockerDir, HOME: tmp };

  let t = io(env, "");
  expect(await runCli(["push", layout, "--repository", `${reg.host}/cli/auth`], t.cli)).toBe(1);
  expect(t.lines.join("\n")).toContain("E_UNAUTHORIZED");

  t = io(env, secret + "\n");
  expect(
    await runCli(
      ["push", layout, "--repository", `${reg.host}/cli/auth`, "--tag", "v1", "--username", "bob", "--password-stdin"],
      t.cli,
    ),
  ).toBe(0);
  const ref = t.lines[t.lines.length - 1];
  expect(ref).toMatch(/@sha256:[a-f0-9]{64}$/);

  const out = join(tmp, "pulled");
  const p = io(env, secret);
  expect(
    await runCli(["pull", `${reg.host}/cli/auth:v1`, "--output", out, "--username", "bob", "--password-stdin"], p.cli),
  ).toBe(0);
  expect(p.lines.join("\n")).toContain(ref.split("@")[1]);

  const b64 = Buffer.from(`bob:${secret}`).toString("base64");
  for (const text of [...t.lines, ...p.lines]) {
    expect(text).not.toContain(secret);
    expect(text).not.toContain(b64);
  }
  for (const f of filesUnder(tmp)) {
    const content = readFileSync(f);
    expect(content.includes(secret), f).toBe(false);
    expect(content.includes(b64), f).toBe(false);
  }
});
