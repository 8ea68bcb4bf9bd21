/** `pipeline push-daemon --loader FILE` (internal): the push daemon of the bundle $PIPELINE_CLI (src/cli/push-daemon/). */
import { PipelineError } from "../../errors";
import { DEFAULT_IDLE_SECONDS, servePushDaemon } from "../push-daemon/server";
import { ENV_PUSH_DAEMON_IDLE } from "../push-daemon/start";
import type { CommandArgs } from "../args";
import type { PUSH_DAEMON } from "../command-specs";
import type { CliIo } from "../io";

export async function pushDaemon(a: CommandArgs<typeof PUSH_DAEMON>, io: CliIo): Promise<void> {
  const bundle = io.env.PIPELINE_CLI;
  if (!bundle)
    throw new PipelineError("E_USAGE", "push-daemon: PIPELINE_CLI (the bundle to serve) is not set", { exitCode: 2 });
  const raw = io.env[ENV_PUSH_DAEMON_IDLE];
  const idle = raw === undefined || raw === "" ? DEFAULT_IDLE_SECONDS : Number(raw);
  if (!Number.isFinite(idle) || idle <= 0)
    throw new PipelineError(
      "E_USAGE",
      `$${ENV_PUSH_DAEMON_IDLE} must be a positive number of seconds, got ${JSON.stringify(raw)}`,
      {
        exitCode: 2,
      },
    );
  await servePushDaemon({
    bundle,
    loader: a.loader,
    toolsNodeModules: io.env.PIPELINE_CLI_NODE_MODULES,
    env: io.env,
    idleSeconds: idle,
  });
}
