/**
 * The signature policy of `pipeline run`: `--require-signature cosign.pub` (or `$PIPELINE_REQUIRE_SIGNATURE`) lets
 * only an image whose signature verifies with that key run. The check resolves a tag to its digest once, verifies
 * that digest, and hands back the image pinned to it, so what runs is what was verified (a tag moved in between does
 * not matter). An image in a local OCI layout has no registry to hold its signature: refused.
 */
import type { Keychain } from "../auth/keychain";
import { PipelineError } from "../errors";
import { parseReference } from "../oci/reference";
import { RegistryClient } from "../registry/client";
import { readPublicKey } from "./cosign-key";
import { verifyStatement } from "./verify";

export const REQUIRE_SIGNATURE_ENV = "PIPELINE_REQUIRE_SIGNATURE";

/** The public key the policy asks for: the flag, else the environment variable; undefined when neither is set. */
export function requiredKey(flag: string | undefined, env: NodeJS.ProcessEnv): string | undefined {
  return flag || env[REQUIRE_SIGNATURE_ENV] || undefined;
}

/** Verifies `image` (`HOST/REPO[:TAG][@DIGEST]`) with the key at `keyPath`; returns `HOST/REPO@DIGEST`. */
export async function requireSignature(
  image: string,
  keyPath: string,
  opts: { keychain?: Keychain; insecure?: boolean; log?: (line: string) => void },
): Promise<{ pinned: string; digest: string; signature: string }> {
  const publicKey = readPublicKey(keyPath);
  if (image.startsWith("oci:")) {
    throw new PipelineError("E_SIGNATURE", `${image}: a signature is required (--require-signature ${keyPath}) and an image in a local layout has none to verify: push it and run it from the registry`);
  }
  const ref = parseReference(image, "image");
  const client = new RegistryClient(ref.registry, { keychain: opts.keychain, insecure: opts.insecure, log: opts.log });
  const digest = ref.digest ?? (await client.getManifest(ref.repository, ref.tag ?? "latest")).digest;
  const v = await verifyStatement(client, ref.repository, digest, publicKey);
  return { pinned: `${ref.registry}/${ref.repository}@${digest}`, digest, signature: v.referrer };
}
