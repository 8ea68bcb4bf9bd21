/**
 * The admission engines `pipeline deploy` renders a policy for: one row each, the name the spec's `admission.engine`
 * takes (src/deploy/spec-fields-cluster.ts derives its accepted values and their docs from these keys) and the engine's
 * module, which says what the policy is, renders it, and reads from its status that the engine has loaded it
 * (src/k8s/admission-ready.ts). A new engine is its module (an `AdmissionEngine`, shared.ts) and one row here;
 * test/unit/admission-engines.test.ts keeps it so.
 */
import type { KubernetesObject } from "@kubernetes/client-node";
import { kyverno } from "./kyverno";
import { kyvernoLegacy } from "./kyverno-legacy";
import type { AdmissionEngine } from "./shared";
import { sigstore } from "./sigstore";

export const ADMISSION_ENGINE_TABLE = {
  sigstore,
  kyverno,
  "kyverno-legacy": kyvernoLegacy,
} satisfies Record<string, AdmissionEngine>;

/** The values of the spec's `admission.engine`. */
export type AdmissionEngineName = keyof typeof ADMISSION_ENGINE_TABLE;

/** Any engine's policy, as its module renders it. */
export type AdmissionPolicy = ReturnType<(typeof ADMISSION_ENGINE_TABLE)[AdmissionEngineName]["render"]>;

function isEngineName(name: string): name is AdmissionEngineName {
  return Object.hasOwn(ADMISSION_ENGINE_TABLE, name);
}

/** The table's names in its order: what the spec accepts. */
export const ADMISSION_ENGINE_NAMES: readonly AdmissionEngineName[] =
  Object.keys(ADMISSION_ENGINE_TABLE).filter(isEngineName);

/** The engine whose policy `o` is, if any: what `deploy --apply` waits for after applying it. */
export function engineOfPolicy(o: KubernetesObject): AdmissionEngine | undefined {
  return Object.values(ADMISSION_ENGINE_TABLE).find((e) => e.apiVersion === o.apiVersion && e.kind === o.kind);
}
