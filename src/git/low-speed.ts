/** The minimum transfer rate of a git server (issue #72): the registry's rule, in git's words. */
import { resolveLimits } from "../layer/limits";

/**
 * A git server is a server we read from, held to the registry's minimum transfer rate ($PIPELINE_MIN_TRANSFER_RATE
 * over $PIPELINE_TRANSFER_RATE_WINDOW) through git's own rule for HTTP(S), which is the same one (curl aborts a
 * transfer slower than GIT_HTTP_LOW_SPEED_LIMIT bytes/s for GIT_HTTP_LOW_SPEED_TIME seconds); the timeouts bound the
 * rest. An environment that sets git's own limit keeps it.
 */
export function lowSpeedEnv(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  if (env.GIT_HTTP_LOW_SPEED_LIMIT !== undefined || env.GIT_HTTP_LOW_SPEED_TIME !== undefined) return env;
  const limits = resolveLimits({}, env);
  if (!(limits.minTransferRate > 0)) return env;
  return {
    ...env,
    GIT_HTTP_LOW_SPEED_LIMIT: String(Math.ceil(limits.minTransferRate)),
    GIT_HTTP_LOW_SPEED_TIME: String(Math.max(1, Math.ceil(limits.transferRateWindow / 1000))),
  };
}
