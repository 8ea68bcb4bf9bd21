import { generateKeyPairSync } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { customResourceProblems, loadCrdSchema } from "../../test/fixtures/crd-schema";
import { pipelineErrorOf, pipelineErrorOfSync } from "../../test/fixtures/errors";
import { parseDeploymentSpec } from "../deploy/spec";
import type { ResolvedDeployment } from "../deploy/types";
import { BUILDER_ID, SLSA_PROVENANCE_V1 } from "../slsa";
import type { KyvernoImageValidatingPolicy } from "../admission/kyverno";
import type { KyvernoClusterPolicy } from "../admission/kyverno-legacy";
import { admittedReferences } from "../admission/shared";
import type { ClusterImagePolicy } from "../admission/sigstore";
import { admissionPolicyOf, renderAdmissionPolicy } from "./admission";
import { admissionDenial } from "./apply";

const DIGEST = `sha256:${"ab".repeat(32)}`;
const IMAGE = `registry.example.com/team/app@${DIGEST}`;
const PEM = generateKeyPairSync("ec", { namedCurve: "P-256" })
  .publicKey.export({ type: "spki", format: "pem" })
  .toString();
const SIGSTORE = loadCrdSchema("sigstore-clusterimagepolicy.json");
const KYVERNO = loadCrdSchema("kyverno-clusterpolicy.json");
const KYVERNO_IVP = loadCrdSchema("kyverno-imagevalidatingpolicy.json");
const dir = mkdtempSync(join(tmpdir(), "admission-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function render(engine: "sigstore" | "kyverno" | "kyverno-legacy") {
  return renderAdmissionPolicy({ admission: { engine }, name: "app", image: IMAGE, publicKeyPem: PEM, version: "1" });
}

describe("admission policies", () => {
  it("scope: this repository by tag and by digest, never a wildcard repository", () => {
    expect(admittedReferences(IMAGE)).toEqual(["registry.example.com/team/app:*", "registry.example.com/team/app@*"]);
    expect(admittedReferences(`node@${DIGEST}`)).toEqual([
      "index.docker.io/library/node:*",
      "index.docker.io/library/node@*",
    ]);
  });

  it("sigstore: a ClusterImagePolicy the engine's CRD accepts, with the key inline and the SLSA v1 provenance", () => {
    const p = render("sigstore") as ClusterImagePolicy;
    expect(customResourceProblems(p, SIGSTORE)).toEqual([]);
    expect(p.metadata?.name).toBe("rules-pipeline-app");
    expect(p.metadata?.namespace).toBeUndefined();
    expect(p.spec.images).toEqual([
      { glob: "registry.example.com/team/app:*" },
      { glob: "registry.example.com/team/app@*" },
    ]);
    const [authority] = p.spec.authorities;
    expect(authority.key.data).toBe(PEM);
    expect(authority).not.toHaveProperty("ctlog");
    const [att] = authority.attestations;
    expect(att.predicateType).toBe(SLSA_PROVENANCE_V1);
    expect(att.policy.type).toBe("cue");
    expect(att.policy.data).toContain(`id: "${BUILDER_ID}"`);
    expect(att.policy.data).toContain(`predicateType: "${SLSA_PROVENANCE_V1}"`);
  });

  it("kyverno: an ImageValidatingPolicy the engine's CRD accepts: the key as cosign attestor, the provenance, three CEL checks", () => {
    const p = render("kyverno") as KyvernoImageValidatingPolicy;
    expect(customResourceProblems(p, KYVERNO_IVP)).toEqual([]);
    expect([p.apiVersion, p.kind, p.metadata?.name]).toEqual([
      "policies.kyverno.io/v1",
      "ImageValidatingPolicy",
      "rules-pipeline-app",
    ]);
    expect(p.spec.matchImageReferences).toEqual(admittedReferences(IMAGE).map((glob) => ({ glob })));
    expect(p.spec.validationActions).toEqual(["Deny"]);
    expect(p.spec.attestors).toEqual([
      {
        name: "key",
        cosign: {
          key: { data: PEM, hashAlgorithm: "sha256" },
          ctlog: { insecureIgnoreTlog: true, insecureIgnoreSCT: true },
        },
      },
    ]);
    expect(p.spec.attestations).toEqual([{ name: "provenance", intoto: { type: SLSA_PROVENANCE_V1 } }]);
    const [signed, attested, builder] = p.spec.validations.map((v) => v.expression);
    // Each check applies to the images of this repository alone, in every list the resource has.
    const ours =
      '(image.startsWith("registry.example.com/team/app" + ":") || image.startsWith("registry.example.com/team/app" + "@"))';
    expect(signed).toBe(
      `images.all(kind, images[kind].all(image, !${ours} || verifyImageSignatures(image, [attestors.key]) > 0))`,
    );
    expect(attested).toContain("verifyAttestationSignatures(image, attestations.provenance, [attestors.key]) > 0");
    expect(builder).toContain(
      `extractPayload(image, attestations.provenance).predicate.runDetails.builder.id == "${BUILDER_ID}"`,
    );
  });

  it("kyverno-legacy: a ClusterPolicy with verifyImages the engine's CRD accepts, the builder as an attestation condition", () => {
    const p = render("kyverno-legacy") as KyvernoClusterPolicy;
    expect(customResourceProblems(p, KYVERNO)).toEqual([]);
    const [rule] = p.spec.rules;
    const [v] = rule.verifyImages;
    expect(v.imageReferences).toEqual(admittedReferences(IMAGE));
    expect(v.failureAction).toBe("Enforce");
    expect(v.attestors[0].entries[0].keys.publicKeys).toBe(PEM);
    expect(v.attestations[0].predicateType).toBe(SLSA_PROVENANCE_V1);
    expect(v.attestations[0].conditions[0].all[0]).toMatchObject({
      key: "{{ runDetails.builder.id }}",
      operator: "Equals",
      value: BUILDER_ID,
    });
  });

  it("the schema check can fail: an unknown field, a wrong type and a value outside an enum are reported", () => {
    const p = render("kyverno-legacy") as KyvernoClusterPolicy;
    const bad = structuredClone(p) as unknown as { kind: string; spec: Record<string, unknown> };
    bad.spec.rules = [
      { ...p.spec.rules[0], verifyImages: [{ ...p.spec.rules[0].verifyImages[0], failureAction: "Deny" }] },
    ];
    bad.spec.webhookTimeoutSeconds = "30";
    bad.spec.imagez = [];
    expect(customResourceProblems(bad, KYVERNO)).toEqual([
      "spec.webhookTimeoutSeconds: expected integer, got string",
      'spec.rules[0].verifyImages[0].failureAction: "Deny" is not one of ["Audit","Enforce"]',
      "spec.imagez: unknown field (the API server would prune it)",
    ]);
    const cip = structuredClone(render("sigstore")) as unknown as {
      kind: string;
      spec: { authorities: { key: object }[] };
    };
    cip.spec.authorities[0].key = { pem: PEM };
    expect(customResourceProblems(cip, SIGSTORE)).toEqual([
      "spec.authorities[0].key.pem: unknown field (the API server would prune it)",
    ]);
  });

  it("admissionPolicyOf reads requireSignature's key relative to the spec and names a bad one", async () => {
    writeFileSync(join(dir, "cosign.pub"), PEM);
    writeFileSync(join(dir, "bad.pub"), "not a key\n");
    const specFile = join(dir, "deploy.yaml");
    const resolved = (key: string): ResolvedDeployment => ({
      spec: parseDeploymentSpec(`image: ${IMAGE}\nrequireSignature: ${key}\nadmission: {engine: sigstore}\n`, specFile),
      image: IMAGE,
      warnings: [],
    });
    const p = (await admissionPolicyOf(resolved("cosign.pub"), specFile)) as ClusterImagePolicy;
    expect(p.spec.authorities[0].key.data).toBe(PEM);
    const e = await pipelineErrorOf(admissionPolicyOf(resolved("bad.pub"), specFile));
    expect(e.message).toContain(
      `${specFile}: requireSignature: public key ${join(dir, "bad.pub")}: not a PEM public key`,
    );
    const layout: ResolvedDeployment = { ...resolved("cosign.pub"), image: `oci:/tmp/x@${DIGEST}` };
    expect((await pipelineErrorOf(admissionPolicyOf(layout, specFile))).message).toContain(
      "admission: the policy names an image in a registry",
    );
  });

  it("spec errors name the field and the value", () => {
    const bad = (text: string) => pipelineErrorOfSync(() => parseDeploymentSpec(`image: ${IMAGE}\n${text}`, "d.yaml"));
    expect(bad("requireSignature: k.pub\nadmission: {engine: opa}\n").message).toMatch(
      /admission\.engine.*expected one of "sigstore", "kyverno", "kyverno-legacy".*opa/,
    );
    expect(bad("admission: {engine: sigstore}\n").message).toContain('an admission policy needs "requireSignature"');
    expect(bad("requireSignature: k.pub\nadmission: {}\n").message).toMatch(/admission.*engine/);
  });
});

describe("admission denials (the API server's words)", () => {
  it("names the webhook, the policy and the reason: sigstore policy-controller", () => {
    const msg =
      'admission webhook "policy.sigstore.dev" denied the request: validation failed: failed policy: rules-pipeline-app: ' +
      "spec.template.spec.containers[0].image 127.0.0.1:5000/app@sha256:ab signature key validation failed for " +
      "authority rules-pipeline-key for 127.0.0.1:5000/app@sha256:ab: no matching signatures";
    expect(admissionDenial(msg)).toEqual({
      webhook: "policy.sigstore.dev",
      policy: "rules-pipeline-app",
      reason: msg.slice(msg.indexOf("validation failed")),
    });
  });

  it("names the policy of a Kyverno refusal; none for a message that is not a denial", () => {
    const msg =
      'admission webhook "mutate.kyverno.svc-fail" denied the request: resource Deployment/default/app was blocked ' +
      "due to the following policies rules-pipeline-app: autogen-signed-with-slsa-provenance: 'failed to verify image'";
    expect(admissionDenial(msg)?.policy).toBe("rules-pipeline-app");
    // Kyverno 1.19.1's ImageValidatingPolicy, as the test cluster's API server words it.
    const ivp =
      'admission webhook "ivpol.validate.kyverno.svc-fail-finegrained-rules-pipeline-app" denied the request: Policy ' +
      "rules-pipeline-app failed: the image must be signed with the key of the deployment's requireSignature";
    expect(admissionDenial(ivp)).toEqual({
      webhook: "ivpol.validate.kyverno.svc-fail-finegrained-rules-pipeline-app",
      policy: "rules-pipeline-app",
      reason: ivp.slice(ivp.indexOf("Policy ")),
    });
    expect(admissionDenial('deployments.apps "x" is forbidden: User cannot patch')).toBeUndefined();
  });
});
