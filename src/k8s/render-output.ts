/**
 * What `pipeline deploy --render` prints, GitOps-ready: manifests a repository can hold and `kubectl apply`
 * accepts as they are.
 *  - default ("reference"): the workloads only. Secrets are never printed without data: each pod template
 *    names the Secrets it needs in the annotation `rules-pipeline/required-secrets`, and a YAML comment at the
 *    top repeats it (create them with `pipeline deploy SPEC --secrets-only --apply`, or a secret manager);
 *  - "fill" (--with-secrets): the Secrets too, filled from the local secrets --apply uses;
 *  - "only" (--secrets-only): the filled Secrets alone.
 */
import type { KubernetesObject } from "@kubernetes/client-node";
import type { SecretLookupOptions } from "../deploy/secrets";
import { fillSecrets, isPlaceholderSecret, requiredSecrets } from "./secret-objects";
import type { V1Secret } from "@kubernetes/client-node";

export type SecretsMode = "reference" | "fill" | "only";

export interface RenderedManifests<T> {
  objects: T[];
  /** Secret values in every form they could appear in, for scrubbing messages (empty for "reference"). */
  sensitive: string[];
  /** `# ...` lines to print above YAML output (empty when nothing is needed). */
  comment: string;
}

/** Comment lines naming each Secret the manifests need and where its data comes from. */
export function requiredSecretsComment(placeholders: readonly V1Secret[], spec: string): string {
  if (!placeholders.length) return "";
  const lines = [
    "# Secrets these manifests need (not rendered here; each pod template names them in the annotation",
    `# rules-pipeline/required-secrets). Create them with \`pipeline deploy ${spec} --secrets-only --apply\`,`,
    "# render them with --with-secrets, or provide them from your secret manager:",
    ...requiredSecrets(placeholders).map(
      (r) => `#   ${r.name} (type ${r.type}, key${r.keys.length > 1 ? "s" : ""} ${r.keys.join(", ")}) from ${r.from}`,
    ),
  ];
  return lines.join("\n") + "\n";
}

export function manifestsFor<T extends KubernetesObject>(
  objects: T[],
  mode: SecretsMode,
  lookup: SecretLookupOptions,
  spec = "SPEC",
): RenderedManifests<T> {
  const isPlaceholder = (o: T): o is T & V1Secret => isPlaceholderSecret(o);
  const placeholders: V1Secret[] = objects.filter(isPlaceholder);
  if (mode === "reference") {
    return {
      objects: objects.filter((o) => !isPlaceholderSecret(o)),
      sensitive: [],
      comment: requiredSecretsComment(placeholders, spec),
    };
  }
  const filled = fillSecrets(mode === "only" ? objects.filter((o) => isPlaceholderSecret(o)) : objects, lookup);
  return { objects: filled.objects, sensitive: filled.sensitive, comment: "" };
}
