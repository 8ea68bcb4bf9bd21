/**
 * `pipeline materialize DIR --output OUT`: layout DIR written whole to OUT, the layers a shallow layout lacks fetched
 * from the sources it records (src/transfer/materialize.ts). What the NAME_image_full rule's action runs. Progress
 * on stderr (off a terminal, one line per fetched layer); the digest of what OUT holds on stdout.
 */
import { materializeLayout } from "../../transfer/materialize";
import { progressFor } from "../../registry/progress";
import { keychainFor } from "../auth-flags";
import type { CommandInput } from "../args";
import type { MATERIALIZE } from "../command-specs";
import type { CliIo } from "../io";

export async function materialize(a: CommandInput<typeof MATERIALIZE>, io: CliIo): Promise<void> {
  const done = await materializeLayout(a.layout, a.output, {
    keychain: await keychainFor(a, "", io),
    insecure: a.insecure,
    progress: progressFor(io),
  });
  io.stdout(done.digest);
}
