/**
 * The credential flags of push/pull/inspect: `--username U --password-stdin`, ahead of every other source.
 * The command table imports AUTH_OPTIONS at start-up, so the credential modules load only when a command asks.
 */
import { PipelineError } from "../errors";
import { lazyDefaultKeychain } from "../registry-auth/lazy";
import { type Keychain, memoKeychain } from "../registry-auth/keychain";
import type { OptionSpec } from "./args";
import type { CliIo } from "./io";

export interface AuthFlags {
  username?: string;
  "password-stdin"?: boolean;
  password?: string;
}

export const AUTH_OPTIONS = {
  username: { type: "string", describe: "user name for the registry (with --password-stdin)" },
  "password-stdin": { type: "boolean", default: false, describe: "read the password (or token) from standard input" },
  // Refused: a password in argv is visible to every user of the machine (ps) and lands in shell history.
  password: { type: "string", hidden: true },
} as const satisfies Record<keyof AuthFlags, OptionSpec>;

/** The keychain a command uses for `registry`: explicit flags first, then the default chain (built on first use). */
export async function keychainFor(a: AuthFlags, registry: string, io: CliIo): Promise<Keychain> {
  if (a.password !== undefined) {
    throw new PipelineError(
      "E_USAGE",
      "--password is not accepted (it would show in `ps` and shell history): pipe it to --password-stdin",
      {
        exitCode: 2,
      },
    );
  }
  // Remembered for the command: every client it opens (an index's platforms, SBOM and signature referrers)
  // shares one answer per registry and repository, so a credential helper runs once.
  const chain = memoKeychain(lazyDefaultKeychain({ env: io.env, warn: (line) => io.stderr(`warning: ${line}`) }));
  if (!a.username && !a["password-stdin"]) return chain;
  if (!a.username || !a["password-stdin"]) {
    throw new PipelineError("E_USAGE", "--username and --password-stdin go together", { exitCode: 2 });
  }
  const password = (await io.readStdin()).replace(/\r?\n$/, "");
  if (!password) throw new PipelineError("E_USAGE", "--password-stdin: standard input was empty", { exitCode: 2 });
  const [{ chainKeychains }, { explicitKeychain }] = await Promise.all([
    import("../registry-auth/keychain.js"),
    import("../registry-auth/static.js"),
  ]);
  return chainKeychains(explicitKeychain(registry, { username: a.username, password }), chain);
}
