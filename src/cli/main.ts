/**
 * The `pipeline` command table: each command's declaration (command-specs.ts) paired with its handler, which lives
 * in commands/<name>.ts and is imported only when run, so start-up loads this table, the declarations, the parser
 * (args.ts, on node's util.parseArgs) and the one command's modules.
 *
 * Adding a command is a declaration in command-specs.ts:
 *   export const MODEL_PUSH = {
 *     command: "model push <dir>",               // words, then <required> / [optional] / <rest..> positionals
 *     describe: "Push a model directory",         // false: internal (not in --help)
 *     positionals: { dir: { describe: "..." } },  // optional: describe, choices
 *     options: { repository: { ...str, demandOption: true, describe: "..." }, tag: strs, ...AUTH_OPTIONS },
 *   } as const satisfies CommandDef;
 * a handler `modelPush(a: CommandArgs<typeof MODEL_PUSH>, io: CliIo)` in commands/model.ts, and one entry here:
 *   defineCommand(spec.MODEL_PUSH, async (a, io) => (await import("./commands/model")).modelPush(a, io)),
 * Options arrive under their flag name (a["metadata-out"]; the parser also sets a.metadataOut, untyped); arguments
 * after `--` in a["--"]. A new word group (`model`) also wants a line in GROUPS.
 */
import { type CommandSpec, defineCommand, runSpec, UsageError } from "./args";
import * as spec from "./command-specs";
import type { CliIo } from "./io";

export { UsageError };

export const COMMANDS: CommandSpec<CliIo>[] = [
  defineCommand(spec.PUSH, async (a, io) => (await import("./commands/push.js")).push(a, io)),
  defineCommand(spec.PULL, async (a, io) => (await import("./commands/pull.js")).pull(a, io)),
  defineCommand(spec.MATERIALIZE, async (a, io) => (await import("./commands/materialize.js")).materialize(a, io)),
  defineCommand(spec.INSPECT, async (a, io) => (await import("./commands/inspect.js")).inspect(a, io)),
  defineCommand(spec.SBOM, async (a, io) => (await import("./commands/sbom.js")).sbom(a, io)),
  defineCommand(spec.VERIFY, async (a, io) => (await import("./commands/verify.js")).verify(a, io)),
  defineCommand(spec.REGISTRY_SERVE, async (a, io) => {
    const { parseLimitFlags, parsePort, registryServe } = await import("./commands/registry-serve.js");
    await registryServe(
      {
        root: a.root,
        host: a.host,
        port: parsePort(a.port),
        user: a.user,
        passwordFile: a["password-file"],
        log: a.log,
        ...parseLimitFlags(a),
      },
      { stdout: io.stdout, stderr: io.stderr },
    );
  }),
  defineCommand(spec.CREDENTIALS_ADD, async (a, io) =>
    (await import("./commands/credentials.js")).credentialsAdd(a, io),
  ),
  defineCommand(spec.CREDENTIALS_LIST, async (a, io) =>
    (await import("./commands/credentials.js")).credentialsList(a, io),
  ),
  defineCommand(spec.CREDENTIALS_REMOVE, async (a, io) =>
    (await import("./commands/credentials.js")).credentialsRemove(a, io),
  ),
  defineCommand(spec.CREDENTIALS_TEST, async (a, io) => {
    const { credentialsTest } = await import("./commands/credentials.js");
    const { defaultKeychain } = await import("../registry-auth/default.js");
    const keychain = defaultKeychain({ env: io.env, warn: (line) => io.stderr(`warning: ${line}`) });
    return credentialsTest(a, io, { keychain });
  }),
  defineCommand(spec.BASE_HOST_NODE, async (a, io) => (await import("./commands/base.js")).hostNode(a, io)),
  defineCommand(spec.BASE_ADD_NODE, async (a, io) => (await import("./commands/base.js")).addNode(a, io)),
  // Internal commands, run by the Bazel rules.
  defineCommand(spec.BUILD, async (a, io) => (await import("./commands/build.js")).build(a, io)),
  defineCommand(spec.VERIFY_IMAGE, async (a, io) =>
    (await import("./commands/verify-image.js")).verifyImageCommand(a, io),
  ),
  defineCommand(spec.RUN, async (a, io) => (await import("./commands/run.js")).run(a, io)),
  defineCommand(spec.MAP, async (a, io) => (await import("./commands/map.js")).map(a, io)),
  defineCommand(spec.DEPLOY, async (a, io) => (await import("./commands/deploy.js")).deploy(a, io)),
  defineCommand(spec.MODEL_PUSH, async (a, io) => (await import("./commands/model.js")).modelPush(a, io)),
  defineCommand(spec.MODEL_PULL, async (a, io) => (await import("./commands/model.js")).modelPull(a, io)),
  defineCommand(spec.CACHE_DU, async (a, io) => (await import("./commands/cache.js")).cacheDu(a, io)),
  defineCommand(spec.CACHE_PRUNE, async (a, io) => (await import("./commands/cache.js")).cachePrune(a, io)),
  defineCommand(spec.LAYER, async (a, io) => (await import("./commands/layer.js")).layer(a, io)),
  defineCommand(spec.IMAGE, async (a, io) => (await import("./commands/image.js")).image(a, io)),
  defineCommand(spec.TARBALL, async (a, io) => (await import("./commands/tarball.js")).tarball(a, io)),
  defineCommand(spec.LOAD, async (a, io) => (await import("./commands/tarball.js")).load(a, io)),
  defineCommand(spec.COMPLETION, async (a, io) => {
    const [{ completionScript }, { VERSION }] = await Promise.all([import("./completion.js"), import("../version.js")]);
    io.stdout(completionScript(a.shell, COMMANDS, VERSION));
  }),
  defineCommand(spec.BAZEL_PUSH, async (a, io) => (await import("./commands/bazel-push.js")).bazelPush(a, io)),
  defineCommand(spec.BAZEL_RUN, async (a, io) => (await import("./commands/bazel-run.js")).bazelRun(a, io)),
  defineCommand(spec.PUSH_DAEMON, async (a, io) => (await import("./commands/push-daemon.js")).pushDaemon(a, io)),
  defineCommand(spec.PUSH_DAEMON_WORKER, async () => {
    await (await import("./push-daemon/worker.js")).pushDaemonWorker();
  }),
];

/** Parses `argv` and runs the command; resolves to the command's exit code (0 unless it says otherwise). */
export async function runCommand(argv: string[], io: CliIo): Promise<number> {
  return runSpec(
    {
      name: "pipeline",
      describe: "Build, push and launch pipeline container images (rules_pipeline).",
      groups: spec.GROUPS,
      commands: COMMANDS,
      globalOptions: [
        ["--version, -V", "print the version"],
        ["--debug, -v", "log each registry request on stderr; print a failure's stack and causes"],
      ],
    },
    argv,
    io,
  );
}
