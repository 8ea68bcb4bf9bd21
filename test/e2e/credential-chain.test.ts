/**
 * The whole credential chain through the CLI, against the real registry with htpasswd: at each step the right
 * password sits at the source that should win and wrong ones sit at every source below it, so only the expected
 * winner can make the push and the pull succeed. Then the leak audit over everything captured and written.
 */
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { runCli } from "../../src/cli/run-cli";
import type { CliIo } from "../../src/cli/io";
import { writeLayout } from "../../src/layout/write";
import { writeCredHelper } from "../fixtures/cred-helpers";
import { randomImage } from "../fixtures/random-image";
import { type RunningRegistry, startRegistry } from "../fixtures/registry";

const USER = "carol";
const secret = "right-" + Math.random().toString(36).slice(2);
const wrong = "wrong-" + Math.random().toString(36).slice(2);
const tmp = mkdtempSync(join(tmpdir(), "rp-chain-"));
const captured: string[] = [];
let reg: RunningRegistry;
let layout: string;

beforeAll(async () => {
  reg = await startRegistry({ htpasswd: { user: USER, password: secret } });
  layout = join(tmp, "layout");
  await writeLayout(layout, randomImage({ layers: 2 }));
});
afterAll(async () => {
  await reg.stop();
  rmSync(tmp, { recursive: true, force: true });
});

type Pw = string | undefined;

/** A home with the four file-based sources, each holding `pw` (or absent when undefined). */
function setup(name: string, pw: { pipeline: Pw; helper: Pw; auths: Pw; authJson: Pw }): NodeJS.ProcessEnv {
  const home = join(tmp, name);
  const bin = join(home, "bin");
  mkdirSync(bin, { recursive: true });
  const env: NodeJS.ProcessEnv = {
    HOME: home,
    PATH: `${bin}:${process.env.PATH}`,
    DOCKER_CONFIG: join(home, ".docker"),
    XDG_RUNTIME_DIR: join(home, "run"),
  };
  mkdirSync(join(home, ".docker"));
  const docker: Record<string, unknown> = { auths: {} };
  if (pw.helper !== undefined) {
    writeCredHelper(bin, "chain", { answer: { Username: USER, Secret: pw.helper } });
    docker.credHelpers = { [reg.host]: "chain" };
  }
  if (pw.auths !== undefined)
    docker.auths = { [reg.host]: { auth: Buffer.from(`${USER}:${pw.auths}`).toString("base64") } };
  writeFileSync(join(home, ".docker", "config.json"), JSON.stringify(docker), { mode: 0o600 });
  if (pw.authJson !== undefined) {
    mkdirSync(join(home, "run", "containers"), { recursive: true });
    const auth = Buffer.from(`${USER}:${pw.authJson}`).toString("base64");
    writeFileSync(join(home, "run", "containers", "auth.json"), JSON.stringify({ auths: { [reg.host]: { auth } } }), {
      mode: 0o600,
    });
  }
  if (pw.pipeline !== undefined) {
    writeFileSync(join(home, "registry-secret"), `${USER}\n${pw.pipeline}\n`, { mode: 0o600 });
    const file = join(home, ".config", "rules_pipeline", "credentials.json");
    mkdirSync(join(home, ".config", "rules_pipeline"), { recursive: true });
    const credentials = [
      { service: "docker", url: `${reg.host}/chain/`, source: { type: "file", path: join(home, "registry-secret") } },
    ];
    writeFileSync(file, JSON.stringify({ version: 1, credentials }), { mode: 0o600 });
  }
  return env;
}

async function cli(
  argv: string[],
  env: NodeJS.ProcessEnv,
  stdin = "",
): Promise<{ code: number; text: string; last: string }> {
  const lines: string[] = [];
  const io: CliIo = {
    stdout: (l) => lines.push(l),
    stderr: (l) => lines.push(l),
    env,
    cwd: tmp,
    isTTY: false,
    readStdin: async () => stdin,
  };
  const code = await runCli(argv, io);
  captured.push(...lines);
  return { code, text: lines.join("\n"), last: lines[lines.length - 1] ?? "" };
}

async function pushAndPull(env: NodeJS.ProcessEnv, repo: string, extra: string[] = [], stdin = "") {
  const push = await cli(["push", layout, "--repository", `${reg.host}/${repo}`, "--tag", "t", ...extra], env, stdin);
  const pull = await cli(
    ["pull", `${reg.host}/${repo}:t`, "--output", join(tmp, repo.replace(/\//g, "_")), ...extra],
    env,
    stdin,
  );
  return { push, pull };
}

describe("the credential chain, first match wins", () => {
  test("1. --username/--password-stdin beats every other source", async () => {
    const env = setup("explicit", { pipeline: wrong, helper: wrong, auths: wrong, authJson: wrong });
    const { push, pull } = await pushAndPull(
      env,
      "chain/explicit",
      ["--username", USER, "--password-stdin"],
      secret + "\n",
    );
    expect(push.code, push.text).toBe(0);
    expect(pull.code, pull.text).toBe(0);
  });

  test("2. rules_pipeline's credentials beat docker's config and auth.json", async () => {
    const env = setup("pipeline", { pipeline: secret, helper: wrong, auths: wrong, authJson: wrong });
    const { push, pull } = await pushAndPull(env, "chain/pipeline");
    expect(push.code, push.text).toBe(0);
    expect(pull.code, pull.text).toBe(0);
  });

  test("3. docker's credHelpers beat its auths and auth.json", async () => {
    const env = setup("helper", { pipeline: undefined, helper: secret, auths: wrong, authJson: wrong });
    const { push, pull } = await pushAndPull(env, "chain/helper");
    expect(push.code, push.text).toBe(0);
    expect(pull.code, pull.text).toBe(0);
  });

  test("4. docker's auths beat auth.json", async () => {
    const env = setup("auths", { pipeline: undefined, helper: undefined, auths: secret, authJson: wrong });
    const { push } = await pushAndPull(env, "chain/auths");
    expect(push.code, push.text).toBe(0);
  });

  test("5. auth.json alone", async () => {
    const env = setup("authjson", { pipeline: undefined, helper: undefined, auths: undefined, authJson: secret });
    const { push } = await pushAndPull(env, "chain/authjson");
    expect(push.code, push.text).toBe(0);
  });

  test("a rejected credential names its source; with none, the error says where it looked", async () => {
    let r = await cli(
      ["push", layout, "--repository", `${reg.host}/chain/rejected`],
      setup("rejected", { pipeline: wrong, helper: undefined, auths: undefined, authJson: undefined }),
    );
    expect(r.code).toBe(1);
    expect(r.text).toContain("E_UNAUTHORIZED");
    expect(r.text).toMatch(/rules_pipeline credential "docker [^"]*chain\/" from file/);

    r = await cli(
      ["push", layout, "--repository", `${reg.host}/chain/none`],
      setup("none", { pipeline: undefined, helper: undefined, auths: undefined, authJson: undefined }),
    );
    expect(r.code).toBe(1);
    expect(r.text).toMatch(
      /no credentials found; looked in rules_pipeline credentials .*, docker config .*, auth\.json /,
    );
  });

  test("leak audit: neither password nor its base64 forms appear in any output or in any file but the sources", () => {
    const forms = [secret, wrong, ...[secret, wrong].map((p) => Buffer.from(`${USER}:${p}`).toString("base64"))];
    for (const line of captured) for (const f of forms) expect(line.includes(f), line).toBe(false);
    const sources = /(registry-secret|config\.json|auth\.json|docker-credential-chain)$/;
    const walk = (dir: string): string[] =>
      readdirSync(dir).flatMap((n) => (statSync(join(dir, n)).isDirectory() ? walk(join(dir, n)) : [join(dir, n)]));
    for (const file of [...walk(tmp), ...walk(reg.dir)]) {
      if (sources.test(file)) continue;
      const content = readFileSync(file);
      for (const f of forms) expect(content.includes(f), file).toBe(false);
    }
  });
});
