/**
 * scripts/lib/node-ca.sh (sourced by scripts/test.sh): where NODE_EXTRA_CA_CERTS names SSL_CERT_FILE's own file, the
 * run's Node processes trust that store through `--use-openssl-ca` instead of building their CA store at start. Checked
 * with a real TLS server on loopback whose certificate is self-signed (its own CA, made for the test): a Node process
 * started in the swapped environment still connects to it, one without either setting does not.
 */
import { spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:https";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { selfSignedCert } from "../fixtures/kube-api";

const ROOT = join(__dirname, "..", "..");
const tmp = mkdtempSync(join(tmpdir(), "rp-node-ca-"));
const ca = join(tmp, "ca.pem");
const other = join(tmp, "other.pem");
let server: Server;
let url = "";

beforeAll(async () => {
  // The server's certificate is its own CA: trusted where a store holds it, not otherwise.
  const tls = selfSignedCert();
  writeFileSync(ca, tls.cert);
  writeFileSync(other, selfSignedCert().cert);
  mkdirSync(join(tmp, "empty-dir"));
  server = createServer(tls, (_req, res) => res.end("ok"));
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  url = `https://127.0.0.1:${(server.address() as AddressInfo).port}/`;
});
afterAll(async () => {
  await new Promise((resolve) => server?.close(resolve));
  rmSync(tmp, { recursive: true, force: true });
});

interface Outcome {
  nodeOptions: string;
  extraCaCerts: string;
  /** What a Node process started in that environment got from the server: "ok" or its error's code. */
  fetched: string;
}

/** Sources node-ca.sh in bash with `env`, calls node_ca_on_first_use, then connects to the server from a new Node. */
async function swapped(env: Record<string, string>): Promise<Outcome> {
  const script = `source scripts/lib/node-ca.sh && node_ca_on_first_use && printf '%s\\n%s\\n' "\${NODE_OPTIONS-}" "\${NODE_EXTRA_CA_CERTS-}" && node -e '
require("https").get(process.argv[1], (r) => { r.setEncoding("utf8"); r.on("data", (d) => console.log(d)); }).on("error", (e) => console.log(e.code));' ${JSON.stringify(url)}`;
  const { PATH, HOME } = process.env;
  const child = spawn("bash", ["-c", script], {
    cwd: ROOT,
    env: { PATH, HOME, SSL_CERT_DIR: join(tmp, "empty-dir"), ...env },
  });
  let out = "";
  child.stdout.on("data", (d: Buffer) => (out += d.toString("utf8")));
  const code = await new Promise<number | null>((resolve) => child.on("close", resolve));
  expect(code).toBe(0);
  const [nodeOptions, extraCaCerts, fetched] = out.split("\n");
  return { nodeOptions, extraCaCerts, fetched };
}

describe("node-ca.sh: the CA store read on first use", () => {
  test("NODE_EXTRA_CA_CERTS naming SSL_CERT_FILE's file (through a link): --use-openssl-ca instead, and the server is still trusted", async () => {
    const link = join(tmp, "link.pem");
    symlinkSync(ca, link);
    expect(await swapped({ NODE_EXTRA_CA_CERTS: link, SSL_CERT_FILE: ca, NODE_OPTIONS: "--no-warnings" })).toEqual({
      nodeOptions: "--no-warnings --use-openssl-ca",
      extraCaCerts: "",
      fetched: "ok",
    });
    // Not vacuous: neither setting, and the server's CA is not trusted.
    expect((await swapped({ SSL_CERT_FILE: ca })).fetched).toBe("DEPTH_ZERO_SELF_SIGNED_CERT");
  });

  test("anything else is left as it was: another file, no SSL_CERT_FILE, --use-bundled-ca chosen", async () => {
    expect(await swapped({ NODE_EXTRA_CA_CERTS: ca, SSL_CERT_FILE: other })).toEqual({
      nodeOptions: "",
      extraCaCerts: ca,
      fetched: "ok",
    });
    expect(await swapped({ NODE_EXTRA_CA_CERTS: ca })).toEqual({ nodeOptions: "", extraCaCerts: ca, fetched: "ok" });
    expect(await swapped({ NODE_EXTRA_CA_CERTS: ca, SSL_CERT_FILE: ca, NODE_OPTIONS: "--use-bundled-ca" })).toEqual({
      nodeOptions: "--use-bundled-ca",
      extraCaCerts: ca,
      fetched: "ok",
    });
  });

  test("scripts/test.sh applies it before anything starts", () => {
    const text = readFileSync(join(ROOT, "scripts", "test.sh"), "utf8");
    const applied = text.indexOf("\nnode_ca_on_first_use\n");
    expect(applied).toBeGreaterThan(0);
    expect(applied).toBeLessThan(text.indexOf("phase typecheck"));
  });
});
