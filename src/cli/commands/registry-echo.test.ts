/**
 * A hostile registry echoes the credentials it was sent, and terminal escapes, in its errors (issue #41): what the
 * CLI prints (inspect, inspect --json, pull --json) holds neither the password, nor the base64 of `user:password` in
 * any spelling, nor the bearer token, nor a raw control character, and still says what the registry said otherwise.
 * The real CNCF registry cannot be made to echo request headers, so the registry here is an in-process fake
 * (node:http on 127.0.0.1:0).
 */
import { mkdtempSync, rmSync } from "node:fs";
import * as http from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { runCli } from "../run-cli";
import type { CliIo } from "../io";

const USER = "ci-bot";
// Chosen so the base64 of `user:password` has `+`, `/` and padding: each spelling differs.
const PASSWORD = "s3cr3t>>?~pw";
const TOKEN = "tok.eyJzdWIiOiJjaS1ib3QifQ.hostile-bearer-9f8e7d";
const B64 = Buffer.from(`${USER}:${PASSWORD}`).toString("base64");
const B64_URL = B64.replace(/\+/g, "-").replace(/\//g, "_");
const FORMS = [PASSWORD, B64, B64.replace(/=+$/, ""), B64_URL, B64_URL.replace(/=+$/, ""), TOKEN];
const ESCAPES = "\u001b[2J\u001b[1;1Hpushed ok";

type Scheme = "basic" | "bearer";
type Echo = "500-text" | "401-message" | "400-code" | "escapes";

/** Every spelling of what the request carried, as a careless proxy's debug echo would put it. */
function echoOf(authorization: string): string {
  const b64 = authorization.replace(/^(Basic|Bearer) /, "");
  const url = b64.replace(/\+/g, "-").replace(/\//g, "_");
  return `Authorization: ${authorization} (url-safe ${url}, unpadded ${url.replace(/=+$/, "")}, password ${PASSWORD})`;
}

function send(res: http.ServerResponse, status: number, headers: Record<string, string>, body: string): void {
  res.writeHead(status, { "Content-Length": String(Buffer.byteLength(body)), ...headers });
  res.end(body);
}

let port = 0;
let mode: { scheme: Scheme; echo: Echo } = { scheme: "basic", echo: "500-text" };
const server = http.createServer((req, res) => {
  const auth = req.headers.authorization ?? "";
  if (req.url?.startsWith("/token")) {
    if (auth !== `Basic ${B64}`) return send(res, 401, {}, "");
    return send(res, 200, { "Content-Type": "application/json" }, JSON.stringify({ token: TOKEN, expires_in: 300 }));
  }
  const wanted = mode.scheme === "basic" ? `Basic ${B64}` : `Bearer ${TOKEN}`;
  const challenge =
    mode.scheme === "basic"
      ? 'Basic realm="hostile"'
      : `Bearer realm="http://127.0.0.1:${port}/token",service="hostile"`;
  if (auth !== wanted) return send(res, 401, { "WWW-Authenticate": challenge }, '{"errors":[{"code":"UNAUTHORIZED"}]}');
  const json = { "Content-Type": "application/json" };
  switch (mode.echo) {
    case "500-text":
      return send(res, 500, { "Content-Type": "text/plain", "Retry-After": "0" }, `upstream exploded; ${echoOf(auth)}`);
    case "401-message":
      return send(
        res,
        401,
        { ...json, "WWW-Authenticate": challenge },
        JSON.stringify({ errors: [{ code: "UNAUTHORIZED", message: `rejected ${echoOf(auth)}` }] }),
      );
    case "400-code":
      return send(
        res,
        400,
        json,
        JSON.stringify({ errors: [{ code: `DENIED ${echoOf(auth)}`, message: "bad request" }] }),
      );
    case "escapes":
      return send(
        res,
        400,
        json,
        JSON.stringify({ errors: [{ code: "\u001b[31mDENIED\u009b2K", message: `${ESCAPES}\u0007\u007f` }] }),
      );
  }
});

let tmp: string;
beforeAll(async () => {
  tmp = mkdtempSync(join(tmpdir(), "registry-echo-"));
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  port = (server.address() as AddressInfo).port;
});
afterAll(async () => {
  await new Promise<void>((resolve) => server.close(() => resolve()));
  rmSync(tmp, { recursive: true, force: true });
});

async function cli(argv: string[]): Promise<{ code: number; out: string }> {
  const lines: string[] = [];
  const io: CliIo = {
    stdout: (l) => lines.push(l),
    stderr: (l) => lines.push(l),
    env: { HOME: tmp, DOCKER_CONFIG: join(tmp, "docker"), REGISTRY_AUTH_FILE: join(tmp, "auth.json") },
    cwd: tmp,
    isTTY: false,
    readStdin: async () => `${PASSWORD}\n`,
  };
  return { code: await runCli([...argv, "--username", USER, "--password-stdin"], io), out: lines.join("\n") };
}

/** The same failure through each command that prints one: inspect, inspect --json, pull --json. */
async function everyForm(): Promise<string[]> {
  const ref = `127.0.0.1:${port}/team/app:v1`;
  const runs = [
    await cli(["inspect", ref]),
    await cli(["inspect", "--json", ref]),
    await cli(["pull", "--json", ref, "--output", join(tmp, "out")]),
  ];
  for (const r of runs) expect(r.code, r.out).toBe(1);
  return runs.map((r) => r.out);
}

function expectClean(out: string): void {
  expect(
    FORMS.filter((form) => out.includes(form)),
    out,
  ).toEqual([]);
  expect(out).not.toMatch(/[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/);
}

describe.each<Scheme>(["basic", "bearer"])("a registry echoing the %s Authorization it was sent", (scheme) => {
  const sent = scheme === "basic" ? "Basic [redacted]" : "Bearer [redacted]";

  test("in a 500 text body: E_REGISTRY, status, path and the rest of the text, no credential", async () => {
    mode = { scheme, echo: "500-text" };
    for (const out of await everyForm()) {
      expectClean(out);
      expect(out).toContain("error[E_REGISTRY]");
      expect(out).toContain(`answered HTTP 500 (upstream exploded; Authorization: ${sent}`);
      expect(out).toContain("password [redacted])");
      expect(out).toContain("/v2/team/app/manifests/v1");
    }
  });

  test("in a 401's errors[].message: E_UNAUTHORIZED with the code and the rest of the message, no credential", async () => {
    mode = { scheme, echo: "401-message" };
    for (const out of await everyForm()) {
      expectClean(out);
      expect(out).toContain("error[E_UNAUTHORIZED]");
      expect(out).toContain(`(401 Unauthorized: UNAUTHORIZED: rejected Authorization: ${sent} (url-safe [redacted]`);
    }
  });

  test("in a 400's errors[].code: E_REGISTRY with the status and path, no credential", async () => {
    mode = { scheme, echo: "400-code" };
    for (const out of await everyForm()) {
      expectClean(out);
      expect(out).toContain("error[E_REGISTRY]");
      expect(out).toContain(`answered HTTP 400 (DENIED Authorization: ${sent}`);
      expect(out).toContain(": bad request)");
      expect(out).toContain("/v2/team/app/manifests/v1");
    }
  });
});

test("terminal escapes in errors[].code and .message are shown as escapes, never sent raw", async () => {
  mode = { scheme: "basic", echo: "escapes" };
  for (const out of await everyForm()) {
    expectClean(out);
    expect(out).toContain("answered HTTP 400 (\\x1b[31mDENIED\\x9b2K: \\x1b[2J\\x1b[1;1Hpushed ok\\x07\\x7f)");
    expect(out).toContain("/v2/team/app/manifests/v1");
  }
});
