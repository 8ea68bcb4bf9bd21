/** The `pipeline` command table. Each command lives in commands/<name>.ts and is imported only when run. */
import yargs, { Argv } from "yargs";
import { AUTH_OPTIONS } from "./auth-flags";
import type { CliIo } from "./io";

export class UsageError extends Error {}

export type CommandResult = { exitCode?: number } | void;

const str = { type: "string" } as const;
const strs = { type: "string", array: true } as const;
const bool = { type: "boolean", default: false } as const;

/** Parses `argv` and runs the command; resolves to the command's exit code (0 unless it says otherwise). */
export async function runCommand(argv: string[], io: CliIo): Promise<number> {
  const result: { exitCode?: number } = {};
  const done = (r: CommandResult) => {
    if (r && typeof r.exitCode === "number") result.exitCode = r.exitCode;
  };
  const parser: Argv = yargs(argv)
    .scriptName("pipeline")
    .usage("$0 <command> [options]\n\nBuild, push and launch pipeline container images (rules_pipeline).")
    .parserConfiguration({ "populate--": true })
    .command(
      "push <source>",
      "Push an OCI layout (DIR or oci:DIR[:NAME]) to a registry",
      (y) =>
        y
          .positional("source", { ...str, describe: "OCI layout directory" })
          .option("repository", { ...str, demandOption: true, describe: "HOST/REPOSITORY to push to" })
          .option("tag", { ...strs, describe: "tag to push (repeatable)" })
          .option("metadata-out", { ...str, describe: "write the pushed image's metadata as JSON here" })
          .option("insecure", { ...bool, describe: "allow plain HTTP / unverified TLS to a non-loopback registry" })
          .options(AUTH_OPTIONS),
      async (a) => done(await (await import("./commands/push")).push(a as never, io)),
    )
    .command(
      "pull <reference>",
      "Pull an image into an OCI layout directory",
      (y) =>
        y
          .positional("reference", { ...str, describe: "HOST/REPO[:TAG][@DIGEST]" })
          .option("output", { ...str, demandOption: true, describe: "layout directory to write (replaced atomically)" })
          .option("platform", { ...str, default: "linux/amd64", describe: "os/arch picked from an index" })
          .option("source-annotation", { ...bool, describe: "record the source reference in index.json (for cross-repository mounts)" })
          .option("insecure", bool)
          .options(AUTH_OPTIONS),
      async (a) => done(await (await import("./commands/pull")).pull(a as never, io)),
    )
    .command(
      "inspect <reference>",
      "Print an image's digest, manifest and config (HOST/REPO:TAG, or oci:DIR)",
      (y) => y.positional("reference", str).option("insecure", bool).option("platform", { ...str, default: "linux/amd64" }).options(AUTH_OPTIONS),
      async (a) => done(await (await import("./commands/inspect")).inspect(a as never, io)),
    )
    .command("registry <command>", "A small development registry", (y) =>
      y
        .command(
          "serve",
          "Serve an OCI distribution registry from a directory",
          (s) =>
            s
              .option("root", { ...str, default: ".pipeline-registry", describe: "storage directory" })
              .option("host", { ...str, default: "127.0.0.1" })
              .option("port", { ...str, default: "5000", describe: "0 picks a free port" })
              .option("user", { ...str, describe: "require Basic auth with this user" })
              .option("password-file", { ...str, describe: "file holding the password for --user" })
              .option("log", { ...bool, describe: "log one line per request" }),
          async (a) => {
            const { parsePort, registryServe } = await import("./commands/registry-serve");
            await registryServe(
              { root: a.root, host: a.host, port: parsePort(a.port), user: a.user, passwordFile: a["password-file"], log: a.log },
              { stdout: io.stdout, stderr: io.stderr },
            );
          },
        )
        .demandCommand(1),
    )
    .command("credentials <command>", "rules_pipeline's own credentials (references to secrets, matched by URL prefix)", (y) =>
      y
        .command(
          "add <service> <url>",
          "Add or replace a credential",
          (s) =>
            s
              .positional("service", { ...str, choices: ["docker", "git"] })
              .positional("url", { ...str, describe: "docker: HOST[/REPO-PREFIX]; git: https://host/path/, ssh://[user@]host/path or user@host[:path]" })
              .option("file", { ...str, describe: "user (line 1) and password (line 2); git also: a token line or an SSH private key" })
              .option("env-user", { ...str, describe: "variable holding the user name" })
              .option("env-password", { ...str, describe: "variable holding the password" })
              .option("env-token", { ...str, describe: "git: variable holding a token" })
              .option("aws-secret", { ...str, describe: "AWS Secrets Manager secret id: JSON {username,password}, {token} or {private_key}" })
              .option("aws-region", str)
              .option("aws-profile", str),
          async (a) => done(await (await import("./commands/credentials")).credentialsAdd(a as never, io)),
        )
        .command(
          "list",
          "List credentials (no secrets)",
          (s) => s.option("json", { ...bool, describe: "print the file's JSON" }),
          async (a) => done(await (await import("./commands/credentials")).credentialsList(a as never, io)),
        )
        .command(
          "remove <service> <url>",
          "Remove the credential for exactly this URL",
          (s) => s.positional("service", { ...str, choices: ["docker", "git"] }).positional("url", str),
          async (a) => done(await (await import("./commands/credentials")).credentialsRemove(a as never, io)),
        )
        .command(
          "test <service> <url>",
          "Make an authenticated request with the credential the chain picks, and say which source answered",
          (s) => s.positional("service", { ...str, choices: ["docker", "git"] }).positional("url", str).option("insecure", bool),
          async (a) => {
            const { credentialsTest } = await import("./commands/credentials");
            const { defaultKeychain } = await import("../auth/default");
            const keychain = defaultKeychain({ env: io.env, warn: (line) => io.stderr(`warning: ${line}`) });
            done(await credentialsTest(a as never, io, { keychain }));
          },
        )
        .demandCommand(1),
    )
    .command("base <command>", "Build base images", (y) =>
      y
        .command(
          "host-node",
          "A base image made of the host's node binary and the libraries it loads (not hermetic)",
          (s) => s.option("output", { ...str, demandOption: true }).option("node", { ...str, describe: "node binary (default: this one)" }),
          async (a) => done(await (await import("./commands/base")).hostNode(a as never, io)),
        )
        .command(
          "add-node",
          "A base image (e.g. CUDA) plus /usr/local/bin/node taken from a Node image",
          (s) =>
            s
              .option("base", { ...str, demandOption: true, describe: "OCI layout of the base" })
              .option("node", { ...str, demandOption: true, describe: "OCI layout of an image with /usr/local/bin/node" })
              .option("output", { ...str, demandOption: true }),
          async (a) => done(await (await import("./commands/base")).addNode(a as never, io)),
        )
        .demandCommand(1),
    )
    .command(
      "layer",
      false, // internal: run by the Bazel rules
      (y) =>
        y
          .option("out", { ...str, demandOption: true })
          .option("descriptor", { ...str, demandOption: true })
          .option("name", { ...str, default: "layer" })
          .option("files", { ...strs, default: [], describe: "files listing `dest<TAB>src` lines" }),
      async (a) => done(await (await import("./commands/layer")).layer(a as never, io)),
    )
    .command(
      "image",
      false,
      (y) =>
        y
          .option("config", { ...str, demandOption: true })
          .option("base", str)
          .option("layer", { ...strs, default: [] })
          .option("out-layout", { ...str, demandOption: true })
          .option("out-digest", { ...str, demandOption: true })
          .option("ref-name", str),
      async (a) => done(await (await import("./commands/image")).image(a as never, io)),
    )
    .command(
      "bazel-push",
      false,
      (y) =>
        y
          .option("config", { ...str, demandOption: true })
          .option("repository", { ...str, describe: "HOST/REPOSITORY overriding the BUILD file's" })
          .option("tag", { ...strs, describe: "extra tag (repeatable)" })
          .option("metadata-out", str)
          .options(AUTH_OPTIONS),
      async (a) => done(await (await import("./commands/bazel-push")).bazelPush(a as never, io)),
    )
    .command(
      "bazel-run",
      false,
      (y) => y.option("config", { ...str, demandOption: true }),
      async (a) => done(await (await import("./commands/bazel-run")).bazelRun(a as never, io)),
    )
    .demandCommand(1, "name a command")
    .strict()
    .help()
    .version(false)
    .exitProcess(false)
    .fail((msg, err) => {
      if (err) throw err;
      throw new UsageError(msg);
    });
  await parser.parseAsync();
  return result.exitCode ?? 0;
}
