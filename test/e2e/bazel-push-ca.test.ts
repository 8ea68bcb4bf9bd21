/**
 * The push and run launchers' CA swap (bazel/private/pipeline/launcher.bzl `ca_swap`, tools/bundle-loader.ts), against
 * the real CNCF registry serving HTTPS on the machine's own non-loopback address (a loopback registry is spoken to
 * over plain HTTP), with a certificate no public CA signed: the push trusts it only through the file the user names.
 *
 * - NODE_EXTRA_CA_CERTS and SSL_CERT_FILE naming the same file, on a Node before 22: the CLI's Node starts with
 *   `--use-openssl-ca` and without the variable (no CA store built at start), the push succeeds, and the credential
 *   helper it starts sees NODE_EXTRA_CA_CERTS as the user set it (and not the launcher's PIPELINE_NODE_EXTRA_CA_CERTS).
 * - NODE_EXTRA_CA_CERTS alone, or both with NODE_OPTIONS choosing `--use-bundled-ca`: nothing changes (Node's own
 *   roots and the file), the push succeeds.
 * - Neither: the certificate is not trusted, the push fails and nothing is reported as pushed (the two above are
 *   trusted through the file and nothing else).
 * - `bazel run //pkg:NAME` (bazel-run: a push, then the launch script as the CLI's child), both naming the file: the
 *   CLI's Node starts with the flag and without the variable, as the push's; the launch script starts as the user's
 *   environment says, with the variable and without the flag.
 */
import { readFileSync, rmSync, mkdtempSync, writeFileSync, chmodSync, mkdirSync } from "node:fs";
import { networkInterfaces, tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { bazel, QUIET } from "../fixtures/bazel";
import { type Borrowed, borrowConsumerWorkspace } from "../fixtures/workspace-pool";
import { type RunningRegistry, startRegistry } from "../fixtures/registry";
import { selfSignedCert } from "../fixtures/kube-api";

const tmp = mkdtempSync(join(tmpdir(), "rp-e2e-push-ca-"));
const TARGET = "//examples/hello:hello_push";
/** The machine's first non-internal IPv4 address: a registry there is spoken to over HTTPS. */
const ip = Object.values(networkInterfaces())
  .flat()
  .find((a) => a && a.family === "IPv4" && !a.internal)?.address;
let reg: RunningRegistry;
let borrowed: Borrowed | undefined;
let ca: string;
let bin: string;

beforeAll(async () => {
  if (!ip) throw new Error("no non-loopback IPv4 address on this machine: the test needs one to serve HTTPS on");
  const { cert, key } = selfSignedCert(ip);
  ca = join(tmp, "ca.pem");
  writeFileSync(ca, cert);
  writeFileSync(join(tmp, "key.pem"), key);
  reg = await startRegistry({
    addr: ip,
    tls: { cert: ca, key: join(tmp, "key.pem") },
    htpasswd: { user: "u", password: "p" },
  });
  // A credential helper that answers and writes down what the push handed it: its environment's CA variables and the
  // command line of the process that started it (the CLI's Node).
  bin = join(tmp, "bin");
  mkdirSync(bin);
  const helper = join(bin, "docker-credential-capture");
  writeFileSync(
    helper,
    [
      "#!/bin/bash",
      "cat >/dev/null",
      '{ printf "extra=%s\\n" "${NODE_EXTRA_CA_CERTS-unset}"; printf "saved=%s\\n" "${PIPELINE_NODE_EXTRA_CA_CERTS-unset}";',
      '  printf "parent=%s\\n" "$(tr "\\0" " " </proc/$PPID/cmdline)"; } >"$CAPTURE"',
      `printf '{"ServerURL":"${reg.host}","Username":"u","Secret":"p"}'`,
      "",
    ].join("\n"),
  );
  chmodSync(helper, 0o755);
  writeFileSync(join(tmp, "config.json"), JSON.stringify({ credHelpers: { [reg.host]: "capture" } }));
  borrowed = borrowConsumerWorkspace();
});

afterAll(async () => {
  await borrowed?.release();
  await reg?.stop();
  rmSync(tmp, { recursive: true, force: true });
});

async function push(name: string, env: Record<string, string | undefined>, target = TARGET, args: string[] = []) {
  const capture = join(tmp, `${name}.capture`);
  const r = await bazel(borrowed!.ws, ["run", ...QUIET, target, ...args], {
    PIPELINE_REPOSITORY: `${reg.host}/ca/${name}`,
    DOCKER_CONFIG: tmp,
    PATH: `${bin}:${process.env.PATH}`,
    CAPTURE: capture,
    NODE_OPTIONS: undefined,
    ...env,
  });
  let seen: Record<string, string> = {};
  try {
    seen = Object.fromEntries(
      readFileSync(capture, "utf8")
        .trim()
        .split("\n")
        .map((l) => [l.slice(0, l.indexOf("=")), l.slice(l.indexOf("=") + 1)]),
    );
  } catch {
    // The helper did not run.
  }
  return { ...r, seen, ref: r.stdout.trim().split("\n").pop() ?? "" };
}

describe("the launchers' CA swap (NODE_EXTRA_CA_CERTS = SSL_CERT_FILE)", () => {
  test("the same file in both: the push trusts it through OpenSSL's store, the helper sees the user's variable", async () => {
    const r = await push("swapped", { NODE_EXTRA_CA_CERTS: ca, SSL_CERT_FILE: ca });
    expect(r.code, r.stderr).toBe(0);
    expect(r.ref).toMatch(new RegExp(`^${reg.host.replace(/\./g, "\\.")}/ca/swapped@sha256:[0-9a-f]{64}$`));
    const runfiles = join(borrowed!.ws, "bazel-bin/examples/hello/hello_push.sh.runfiles");
    const major = Number(readFileSync(join(runfiles, "rules_pipeline_node/version.txt"), "utf8").split(".")[0]);
    expect(r.seen.extra).toBe(ca);
    expect(r.seen.saved).toBe("unset");
    expect(r.seen.parent).toContain("bazel-push");
    // Node 22 and later read the CAs on first use: nothing to swap there.
    expect(r.seen.parent.split(" ").includes("--use-openssl-ca")).toBe(major < 22);
  });

  test("NODE_EXTRA_CA_CERTS alone: no swap, the push trusts the file through Node's own loading", async () => {
    const r = await push("extra-only", { NODE_EXTRA_CA_CERTS: ca, SSL_CERT_FILE: undefined });
    expect(r.code, r.stderr).toBe(0);
    expect(r.seen.extra).toBe(ca);
    expect(r.seen.parent).toContain("bazel-push");
    expect(r.seen.parent.split(" ")).not.toContain("--use-openssl-ca");
  });

  test("NODE_OPTIONS choosing --use-bundled-ca: no swap, Node's roots and the file as the user chose", async () => {
    const r = await push("bundled", { NODE_EXTRA_CA_CERTS: ca, SSL_CERT_FILE: ca, NODE_OPTIONS: "--use-bundled-ca" });
    expect(r.code, r.stderr).toBe(0);
    expect(r.seen.extra).toBe(ca);
    expect(r.seen.parent).toContain("bazel-push");
    expect(r.seen.parent.split(" ")).not.toContain("--use-openssl-ca");
  });

  test("neither: the certificate is not trusted, and nothing is reported as pushed", async () => {
    const r = await push("untrusted", { NODE_EXTRA_CA_CERTS: undefined, SSL_CERT_FILE: undefined });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain(reg.host);
    expect(r.stdout).not.toMatch(/@sha256:/);
  });

  test("bazel run //pkg:NAME: the CLI takes the swap, the launch script starts with the user's variable", async () => {
    // Every Node process writes down, before its program runs, its arguments, its command-line flags and the variables.
    const log = join(tmp, "nodes.jsonl");
    const preload = join(tmp, "record-node.cjs");
    writeFileSync(
      preload,
      `require("node:fs").appendFileSync(${JSON.stringify(log)}, JSON.stringify({ argv: process.argv, execArgv: process.execArgv, extra: process.env.NODE_EXTRA_CA_CERTS ?? "unset", saved: process.env.PIPELINE_NODE_EXTRA_CA_CERTS ?? "unset" }) + "\\n");\n`,
    );
    const r = await push(
      "run",
      {
        NODE_EXTRA_CA_CERTS: ca,
        SSL_CERT_FILE: ca,
        NODE_OPTIONS: `--require ${preload}`,
        PIPELINE_TARGET: "inprocess",
      },
      "//examples/hello:hello",
      ["--", "1", "2"],
    );
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('args: ["1","2"] sum: 3');
    expect(r.stderr).toMatch(new RegExp(`${reg.host.replace(/\./g, "\\.")}/ca/run@sha256:[0-9a-f]{64}: pushed`));
    const runfiles = join(borrowed!.ws, "bazel-bin/examples/hello/hello.sh.runfiles");
    const major = Number(readFileSync(join(runfiles, "rules_pipeline_node/version.txt"), "utf8").split(".")[0]);
    const nodes: { argv: string[]; execArgv: string[]; extra: string; saved: string }[] = readFileSync(log, "utf8")
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l));
    const cli = nodes.filter((n) => n.argv.includes("bazel-run"));
    const script = nodes.filter((n) => n.argv.some((a) => a.endsWith("/examples/hello/main.js")));
    expect(cli.length, JSON.stringify(nodes)).toBe(1);
    expect(script.length, JSON.stringify(nodes)).toBe(1);
    // Node 22 and later read the CAs on first use: nothing to swap there.
    expect(cli[0].execArgv.includes("--use-openssl-ca")).toBe(major < 22);
    expect(cli[0].extra).toBe(major < 22 ? "unset" : ca);
    expect(cli[0].saved).toBe(major < 22 ? ca : "unset");
    expect(script[0].execArgv).not.toContain("--use-openssl-ca");
    expect(script[0].extra).toBe(ca);
    expect(script[0].saved).toBe("unset");
    // The push in bazel-run asked the helper as the push does: it saw the user's variable.
    expect(r.seen.extra).toBe(ca);
    expect(r.seen.parent).toContain("bazel-run");
  });
});
