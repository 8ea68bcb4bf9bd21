/**
 * `pipeline verify REF --key cosign.pub [--json]`: checks the image's cosign 3 signature (a Sigstore bundle referrer
 * whose DSSE envelope verifies with the key and names the image's digest). Prints the verified digest; E_SIGNATURE
 * naming the digest and what failed otherwise.
 */
import { parseReference } from "../../oci/reference";
import { RegistryClient } from "../../registry/client";
import { readPublicKey } from "../../sign/cosign-key";
import { verifyStatement } from "../../sign/verify";
import { AuthFlags, keychainFor } from "../auth-flags";
import type { CliIo } from "../io";

export async function verify(a: { reference: string; key: string; json?: boolean; insecure: boolean } & AuthFlags, io: CliIo): Promise<void> {
  const publicKey = readPublicKey(a.key);
  const ref = parseReference(a.reference, "reference");
  const client = new RegistryClient(ref.registry, { keychain: await keychainFor(a, ref.registry, io), insecure: a.insecure, log: io.debug });
  const digest = ref.digest ?? (await client.getManifest(ref.repository, ref.tag ?? "latest")).digest;
  const v = await verifyStatement(client, ref.repository, digest, publicKey);
  const image = `${ref.registry}/${ref.repository}@${digest}`;
  if (a.json) io.stdout(JSON.stringify({ reference: image, digest, signature: v.referrer, via: v.via, statement: v.statement }));
  else {
    io.stderr(`verified: the signature ${v.referrer} of ${image} verifies with ${a.key}`);
    io.stdout(image);
  }
}
