/**
 * `pipeline verify REF --key cosign.pub [--provenance] [--json]`: checks the image's cosign 3 signature (a Sigstore
 * bundle referrer whose DSSE envelope verifies with the key and names the image's digest) and, with --provenance, its
 * signed SLSA provenance v1 attestation the same way. Prints the verified `HOST/REPO@DIGEST`; E_SIGNATURE naming the
 * digest and what failed otherwise.
 */
import { limitsFromFlags } from "../../layer/limits";
import { parseReference } from "../../oci/reference";
import { RegistryClient } from "../../registry/client";
import { transferRateOf } from "../../registry/transfer-rate";
import { readPublicKey } from "../../sign/cosign-key";
import { SLSA_PROVENANCE_V1 } from "../../slsa";
import { verifyStatement } from "../../sign/verify";
import { keychainFor } from "../auth-flags";
import type { CliIo } from "../io";
import type { CommandArgs } from "../args";
import type { VERIFY } from "../command-specs";

export async function verify(a: CommandArgs<typeof VERIFY>, io: CliIo): Promise<void> {
  const publicKey = await readPublicKey(a.key, "--key (public key)");
  const ref = parseReference(a.reference, "reference");
  // Every response is bounded in time (--min-transfer-rate, $PIPELINE_RESPONSE_HEADERS_TIMEOUT): a hostile registry cannot hold a verify.
  const transfer = transferRateOf(limitsFromFlags(a, io.env));
  const client = new RegistryClient(ref.registry, {
    keychain: await keychainFor(a, ref.registry, io),
    insecure: a.insecure,
    log: io.debug,
    transfer,
  });
  const digest = ref.digest ?? (await client.getManifest(ref.repository, ref.tag ?? "latest")).digest;
  const image = `${ref.registry}/${ref.repository}@${digest}`;
  const signature = await verifyStatement(client, ref.repository, digest, publicKey);
  const provenance = a.provenance
    ? await verifyStatement(client, ref.repository, digest, publicKey, { predicateType: SLSA_PROVENANCE_V1 })
    : undefined;
  if (a.json) {
    const att = provenance
      ? { provenance: { attestation: provenance.referrer, predicate: provenance.statement?.predicate } }
      : {};
    const signed = signature.statement
      ? { statement: signature.statement }
      : { simpleSigning: signature.simpleSigning };
    io.stdout(
      JSON.stringify({
        reference: image,
        digest,
        signature: signature.referrer,
        via: signature.via,
        ...signed,
        ...att,
      }),
    );
    return;
  }
  io.stderr(
    `verified: the ${signature.via === "legacy-tag" ? "legacy signature (sha256-<hex>.sig)" : "signature"} ${signature.referrer} of ${image} verifies with ${a.key}`,
  );
  if (provenance) io.stderr(`verified: the SLSA provenance ${provenance.referrer} of ${image} verifies with ${a.key}`);
  io.stdout(image);
}
