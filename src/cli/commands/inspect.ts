/** `pipeline inspect REF|oci:DIR`: digest, media type, manifest and config as JSON. */
import { readLayout } from "../../layout/read";
import { parseReference } from "../../oci/reference";
import { inspect as inspectRemote } from "../../registry/pull";
import { keychainFor } from "../auth-flags";
import type { CliIo } from "../io";
import { hostPlatform, parsePlatform } from "../../oci/platform";
import type { CommandArgs } from "../args";
import type { INSPECT } from "../command-specs";

export async function inspect(a: CommandArgs<typeof INSPECT>, io: CliIo): Promise<void> {
  if (a.reference.startsWith("oci:")) {
    const m = /^oci:(.*?)(?::([^/:]+))?$/.exec(a.reference)!;
    const img = readLayout(m[1], {
      refName: m[2],
      platform: a.platform ? parsePlatform(a.platform, "--platform") : hostPlatform(),
    });
    io.stdout(
      JSON.stringify(
        { digest: img.digest, mediaType: img.mediaType, manifest: img.manifest, config: img.config },
        null,
        2,
      ),
    );
    return;
  }
  const ref = parseReference(a.reference, "reference");
  const result = await inspectRemote(ref, {
    keychain: await keychainFor(a, ref.registry, io),
    insecure: a.insecure,
    platform: a.platform ? parsePlatform(a.platform, "--platform") : hostPlatform(),
    log: io.debug,
  });
  io.stdout(JSON.stringify(result, null, 2));
}
