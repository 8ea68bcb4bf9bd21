/**
 * `pipeline deploy <spec> (--render | --apply) [--job] [--namespace NS] ...`: a deployment spec on Kubernetes.
 *  - --render prints the manifests (multi-document YAML, or a JSON List with --output json), GitOps-ready:
 *    Secrets are only named (annotation + comment, src/k8s/render-output.ts) unless --with-secrets fills them
 *    from the local secrets. No cluster or kubeconfig is needed.
 *  - --secrets-only: just the Secrets, filled (--render) or created (--apply).
 *  - --offline: no network requests (E_OFFLINE for a tag or branch); pinned specs never need the network.
 *  - --apply loads the kubeconfig ($KUBECONFIG or ~/.kube/config, --kubeconfig, --context), fills the Secrets
 *    from the local named secrets, applies every object with server-side apply, then waits for the
 *    Deployment's rollout (or the Job's completion) up to --timeout seconds, with progress on a terminal.
 * Both first load the spec and resolve it (tag → digest, branch → commit), so every replica runs the same bytes.
 * With `admission: {engine}` in the spec, both also emit the cluster's admission policy first (src/k8s/admission.ts).
 */
import { resolve as resolvePath } from "node:path";
import type { KubernetesObject } from "@kubernetes/client-node";
import { PipelineError } from "../../errors";
import { pinnedDigest } from "../../oci/reference";
import { type CliIo, showProgress } from "../io";
import type { CommandInput } from "../args";
import type { DEPLOY } from "../command-specs";

// The option table is light to import (the command table loads it at start-up); everything else loads on use.
export { DEPLOY_OPTIONS } from "../deploy-options";

export type DeployArgs = CommandInput<typeof DEPLOY>;

function mode(a: DeployArgs): "render" | "apply" {
  if (Boolean(a.render) === Boolean(a.apply)) {
    throw new PipelineError(
      "E_USAGE",
      `deploy: pass exactly one of --render or --apply (got ${a.render ? "both" : "neither"})`,
      { exitCode: 2 },
    );
  }
  return a.render ? "render" : "apply";
}

export async function deploy(a: DeployArgs, io: CliIo): Promise<void> {
  const what = mode(a);
  if (a["with-secrets"] && what === "apply") {
    throw new PipelineError("E_USAGE", "--with-secrets is for --render (--apply always creates the Secrets)", {
      exitCode: 2,
    });
  }
  const timeout = a.timeout ?? 300;
  if (!(timeout > 0))
    throw new PipelineError(
      "E_USAGE",
      `--timeout: expected a number of seconds > 0, got ${JSON.stringify(a.timeout)}`,
      { exitCode: 2 },
    );
  const [
    { loadDeploymentSpec, specFieldLocation },
    { resolveDeployment },
    { parsePlatform },
    { formatManifests, parseFormat },
    { describeObject, renderDeployment },
    { manifestsFor },
    { renderMappingJob },
  ] = await Promise.all([
    import("../../deploy/spec.js"),
    import("../../deploy/resolve.js"),
    import("../../oci/platform.js"),
    import("../../k8s/manifest.js"),
    import("../../k8s/render.js"),
    import("../../k8s/render-output.js"),
    import("../../k8s/map-job.js"),
  ]);
  const format = parseFormat(a.output ?? "yaml");
  const spec = loadDeploymentSpec(resolvePath(io.cwd, a.spec), { warn: (line) => io.stderr(`warning: ${line}`) });
  if (a.image)
    spec.interpreter = (await import("../../deploy/constructors.js")).containerFromReference(a.image, "--image");
  // The key a flag or the spec names is read before anything else (src/named-file.ts: a device or a FIFO is refused
  // at once), whether or not this mode verifies with it (--render: the spec's, which the admission policy holds).
  if (!a["secrets-only"]) {
    const policy = await import("../../sign/policy.js");
    const specKey = { file: resolvePath(io.cwd, a.spec), requireSignature: spec.requireSignature };
    await policy.checkRequiredKey(
      what === "apply"
        ? policy.requiredKeyOf(a["require-signature"], io.env, specKey)
        : policy.requiredKeyOf(undefined, {}, specKey),
    );
  }
  // Reading the kubeconfig first makes a bad --context fail before any registry request.
  const loaded =
    what === "apply"
      ? (await import("../../k8s/kubeconfig.js")).loadKubeconfig({
          env: io.env,
          kubeconfig: a.kubeconfig && resolvePath(io.cwd, a.kubeconfig),
          context: a.context,
        })
      : undefined;
  const resolved = await resolveDeployment(spec, {
    env: io.env,
    offline: a.offline,
    locate: a.image
      ? (path) => (path === "image" || path.startsWith("interpreter") ? "--image" : specFieldLocation(spec, path))
      : undefined,
    insecure: a.insecure,
    platform: parsePlatform(a.platform ?? "linux/amd64", "--platform"),
    warn: (line) => io.stderr(`warning: ${line}`),
  });
  for (const flag of ["git-image", "oras-image"] as const) {
    const v = a[flag];
    if (v !== undefined && !pinnedDigest(v)) {
      throw new PipelineError(
        "E_USAGE",
        `--${flag}: expected an image by digest (HOST/REPO[:TAG]@sha256:...), got ${JSON.stringify(v)}`,
        {
          exitCode: 2,
        },
      );
    }
  }
  const opts = {
    namespace: a.namespace ?? loaded?.namespace ?? "default",
    gitImage: a["git-image"],
    orasImage: a["oras-image"],
  };
  const workload = (a.job ? renderMappingJob : renderDeployment)(resolved, opts);
  // The admission policy (cluster-scoped) comes first: --apply puts it in place before the workload it admits.
  const policy =
    resolved.spec.admission && !a["secrets-only"]
      ? await (await import("../../k8s/admission.js")).admissionPolicyOf(resolved, resolvePath(io.cwd, a.spec))
      : undefined;
  const objects: KubernetesObject[] = policy ? [policy, ...workload] : workload;
  const lookup = { env: io.env, home: io.env.HOME };
  if (what === "render") {
    const out = manifestsFor(
      objects,
      a["secrets-only"] ? "only" : a["with-secrets"] ? "fill" : "reference",
      lookup,
      a.spec,
    );
    const text = formatManifests(out.objects, format);
    io.stdout(((format === "yaml" ? out.comment : "") + text).replace(/\n$/, ""));
    return;
  }
  // Before any request to the cluster: the image's signature, when a key is required (--apply only: --render and
  // --secrets-only run nothing).
  const specPath = resolvePath(io.cwd, a.spec);
  if (!a["secrets-only"]) {
    await (await import("../../sign/policy.js")).requireSignedDeployment(
      resolved,
      a["require-signature"],
      { file: specPath, requireSignature: spec.requireSignature },
      {
        env: io.env,
        insecure: a.insecure,
        stderr: io.stderr,
        debug: io.debug,
        warn: (line) => io.stderr(`warning: ${line}`),
      },
    );
  }
  const [{ fillSecrets }, { applyObjects, makeClient }, { waitForRollout }] = await Promise.all([
    import("../../k8s/secret-objects.js"),
    import("../../k8s/apply.js"),
    import("../../k8s/rollout.js"),
  ]);
  const filled = a["secrets-only"] ? manifestsFor(objects, "only", lookup) : fillSecrets(objects, lookup);
  const client = makeClient(loaded!);
  if (!a["secrets-only"] && resolved.spec.modelDelivery === "imageVolume" && resolved.spec.models.length) {
    // Before anything is applied: nodes that cannot mount image volumes would leave the pod without its model at its path.
    const { checkImageVolumeNodes, nodeVersions } = await import("../../k8s/image-volume-nodes.js");
    checkImageVolumeNodes(await nodeVersions(client), client.where, "modelDelivery", (line) =>
      io.stderr(`warning: ${line}`),
    );
  }
  const progress = showProgress(io);
  const applied = await applyObjects(client, filled.objects, {
    sensitive: filled.sensitive,
    onApplied: (o) => io.stdout(`${describeObject(o)} serverside-applied`),
  });
  if (a["secrets-only"]) return;
  await waitForRollout(client, applied, {
    timeoutMs: timeout * 1000,
    intervalMs: a["poll-interval"] ?? 2000,
    onProgress: progress ? (line) => io.stderr(line) : undefined,
  });
  for (const o of objects) {
    if (o.kind === "Deployment") io.stdout(`${describeObject(o)} rolled out`);
    if (o.kind === "Job") io.stdout(`${describeObject(o)} complete`);
  }
}
