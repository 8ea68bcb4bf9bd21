/**
 * Helpers for credential tests: a tiny in-process AWS Secrets Manager (GetSecretValue over the JSON 1.1
 * protocol) on a free loopback port, and leak audits that look for a secret in every form it could leak
 * as (itself, URL-encoded, base64 alone or as HTTP Basic `user:secret`).
 */
import { createServer, type IncomingHttpHeaders, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { lstatSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";

export interface FakeSecretsManager {
  /** `http://127.0.0.1:PORT`, for AWS_ENDPOINT_URL_SECRETS_MANAGER. */
  url: string;
  /** Secret id → SecretString. */
  secrets: Map<string, string>;
  requests: { target: string; headers: IncomingHttpHeaders; body: unknown }[];
  stop(): Promise<void>;
}

/** Answers `secretsmanager.GetSecretValue` from `secrets`; ResourceNotFoundException for others. */
export async function startFakeSecretsManager(secrets: Record<string, string> = {}): Promise<FakeSecretsManager> {
  const map = new Map(Object.entries(secrets));
  const requests: FakeSecretsManager["requests"] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const target = String(req.headers["x-amz-target"] ?? "");
      let body: { SecretId?: unknown } = {};
      try {
        body = JSON.parse(Buffer.concat(chunks).toString("utf8") || "{}") as { SecretId?: unknown };
      } catch {
        /* answered below */
      }
      requests.push({ target, headers: req.headers, body });
      const send = (status: number, payload: unknown) => {
        const bytes = Buffer.from(JSON.stringify(payload));
        res.writeHead(status, {
          "Content-Type": "application/x-amz-json-1.1",
          "Content-Length": bytes.length,
          "x-amzn-RequestId": "00000000-0000-0000-0000-000000000000",
          ...(status !== 200 ? { "x-amzn-ErrorType": (payload as { __type: string }).__type } : {}),
        });
        res.end(bytes);
      };
      if (req.method !== "POST" || target !== "secretsmanager.GetSecretValue") {
        send(400, { __type: "UnknownOperationException", message: `unsupported ${req.method} ${target}` });
        return;
      }
      if (!/^AWS4-HMAC-SHA256 Credential=/.test(String(req.headers.authorization ?? ""))) {
        send(400, { __type: "MissingAuthenticationTokenException", message: "Missing Authentication Token" });
        return;
      }
      const id = typeof body.SecretId === "string" ? body.SecretId : "";
      const value = map.get(id);
      if (value === undefined) {
        send(400, { __type: "ResourceNotFoundException", message: "Secrets Manager can't find the specified secret." });
        return;
      }
      send(200, {
        ARN: `arn:aws:secretsmanager:us-east-1:123456789012:secret:${id}-AbCdEf`,
        Name: id,
        VersionId: "11111111-1111-1111-1111-111111111111",
        SecretString: value,
        VersionStages: ["AWSCURRENT"],
        CreatedDate: 1700000000,
      });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    secrets: map,
    requests,
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** Every form a secret could leak as. `users` adds the base64 of `user:secret` (a Basic header). */
export function leakForms(secret: string, users: readonly string[] = []): string[] {
  const forms = new Set([secret, encodeURIComponent(secret), Buffer.from(secret).toString("base64")]);
  for (const u of users) forms.add(Buffer.from(`${u}:${secret}`).toString("base64"));
  return [...forms];
}

/** The forms of `secrets` found in `text` (expect it to be []). */
export function leaksIn(text: string, secrets: readonly string[], users: readonly string[] = []): string[] {
  return secrets.flatMap((s) => leakForms(s, users)).filter((f) => text.includes(f));
}

/** An error's text as it could be shown: message, stack, and its causes'. */
export function errorText(e: unknown): string {
  const parts: string[] = [];
  for (let cur: unknown = e, depth = 0; cur !== undefined && cur !== null && depth < 5; depth++) {
    const err = cur as { message?: unknown; stack?: unknown; cause?: unknown };
    parts.push(String(err.message ?? cur), String(err.stack ?? ""));
    try {
      parts.push(JSON.stringify(cur));
    } catch {
      /* circular */
    }
    cur = err.cause;
  }
  return parts.join("\n");
}

/**
 * Files under `dir` (recursively) other than `except` that contain a form of a secret. `symlinks: "skip"` looks at
 * what is stored under `dir` only (a Bazel output base links to the workspace, the host's tools and itself).
 */
export function filesLeaking(
  dir: string,
  secrets: readonly string[],
  except: readonly string[] = [],
  users: readonly string[] = [],
  opts: { symlinks?: "follow" | "skip" } = {},
): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const name of readdirSync(d)) {
      const p = join(d, name);
      const st = opts.symlinks === "skip" ? lstatSync(p) : statSync(p);
      if (st.isDirectory()) walk(p);
      else if (st.isFile() && !except.includes(p) && leaksIn(readFileSync(p, "latin1"), secrets, users).length)
        out.push(p);
    }
  };
  walk(dir);
  return out;
}
