/**
 * The signature policy of `pipeline run` (local, `--on kubernetes`) and `pipeline deploy --apply`:
 * `--require-signature cosign.pub`, else `$PIPELINE_REQUIRE_SIGNATURE`, else the spec's `requireSignature` (a path
 * relative to the spec's directory) lets only an image whose signature verifies with that key run. The check resolves
 * a tag to its digest once, verifies that digest, and hands back the image pinned to it, so what runs is what was
 * verified (a tag moved in between does not matter); on a cluster it happens before any request to the API server.
 * An image in a local OCI layout has no registry to hold its signature: refused.
 */
import { dirname, resolve } from "node:path";
import type { Digest } from "../oci/digest";
import type { Keychain } from "../registry-auth/keychain";
import { specKeychain } from "../deploy/resolve";
import type { ResolvedDeployment } from "../deploy/types";
import { PipelineError } from "../errors";
import { parseReference } from "../oci/reference";
import { resolveLimits } from "../layer/limits";
import { RegistryClient } from "../registry/client";
import { type TransferRate, transferRateOf } from "../registry/transfer-rate";
import { readPublicKey } from "./cosign-key";
import { verifyStatement } from "./verify";

export const REQUIRE_SIGNATURE_ENV = "PIPELINE_REQUIRE_SIGNATURE";

/**
 * The public key the policy asks for: the flag, else the environment variable, else the spec's field (resolved against
 * the spec file's directory); undefined when none is set.
 */
export function requiredKey(
  flag: string | undefined,
  env: NodeJS.ProcessEnv,
  spec?: { file: string; requireSignature?: string },
): string | undefined {
  return requiredKeyOf(flag, env, spec)?.path;
}

/** The key the policy asks for (requiredKey), and what named it, for errors: `--require-signature (public key)`. */
export interface RequiredKey {
  path: string;
  what: string;
}

export function requiredKeyOf(
  flag: string | undefined,
  env: NodeJS.ProcessEnv,
  spec?: { file: string; requireSignature?: string },
): RequiredKey | undefined {
  if (flag) return { path: flag, what: "--require-signature (public key)" };
  const fromEnv = env[REQUIRE_SIGNATURE_ENV];
  if (fromEnv) return { path: fromEnv, what: `$${REQUIRE_SIGNATURE_ENV} (public key)` };
  if (spec?.requireSignature)
    return {
      path: resolve(dirname(spec.file), spec.requireSignature),
      what: `${spec.file}: requireSignature (public key)`,
    };
  return undefined;
}

/**
 * Reads the key the policy asks for, if any, before the command does anything else (a spec's key path, like a flag's,
 * is opened, checked to be a regular file and read to a bound: src/named-file.ts); E_SIGNING_KEY naming it otherwise.
 */
export async function checkRequiredKey(key: RequiredKey | undefined): Promise<void> {
  if (key) await readPublicKey(key.path, key.what);
}

/**
 * The policy of the cluster paths (`run --on kubernetes`, `deploy --apply`): when a key is required, the resolved
 * deployment's image must verify with it (with the spec's registry credential) before the caller contacts the cluster.
 */
export async function requireSignedDeployment(
  deployment: ResolvedDeployment,
  flag: string | undefined,
  spec: { file: string; requireSignature?: string } | undefined,
  opts: {
    env: NodeJS.ProcessEnv;
    insecure?: boolean;
    stderr: (line: string) => void;
    debug?: (line: string) => void;
    warn?: (line: string) => void;
  },
): Promise<void> {
  const required = requiredKeyOf(flag, opts.env, spec);
  if (!required) return;
  const key = required.path;
  if (!deployment.image) {
    const where = spec?.file ?? "--image";
    throw new PipelineError(
      "E_SIGNATURE",
      `${where}: a signature is required (${key}) and the deployment's interpreter is ${deployment.spec.interpreter.kind}, not an image`,
    );
  }
  const keychain = specKeychain(deployment.spec, { env: opts.env, warn: opts.warn ?? opts.stderr });
  const transfer = transferRateOf(resolveLimits({}, opts.env));
  const v = await requireSignature(deployment.image, required, {
    keychain,
    insecure: opts.insecure,
    log: opts.debug,
    transfer,
  });
  opts.stderr(`signature ${v.signature} of ${v.pinned}: verifies with ${key}`);
}

/** Verifies `image` (`HOST/REPO[:TAG][@DIGEST]`) with the key at `keyPath`; returns `HOST/REPO@DIGEST`. */
export async function requireSignature(
  image: string,
  key: string | RequiredKey,
  opts: { keychain?: Keychain; insecure?: boolean; log?: (line: string) => void; transfer?: TransferRate },
): Promise<{ pinned: string; digest: Digest; signature: string }> {
  const { path: keyPath, what } = typeof key === "string" ? { path: key, what: "public key" } : key;
  const publicKey = await readPublicKey(keyPath, what);
  if (image.startsWith("oci:")) {
    throw new PipelineError(
      "E_SIGNATURE",
      `${image}: a signature is required (--require-signature ${keyPath}) and an image in a local layout has none to verify: push it and run it from the registry`,
    );
  }
  const ref = parseReference(image, "image");
  const client = new RegistryClient(ref.registry, {
    keychain: opts.keychain,
    insecure: opts.insecure,
    log: opts.log,
    transfer: opts.transfer,
  });
  const digest = ref.digest ?? (await client.getManifest(ref.repository, ref.tag ?? "latest")).digest;
  const v = await verifyStatement(client, ref.repository, digest, publicKey);
  return { pinned: `${ref.registry}/${ref.repository}@${digest}`, digest, signature: v.referrer };
}
