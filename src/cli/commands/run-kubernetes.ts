/**
 * `pipeline run --on kubernetes`: the run as a Job on a cluster instead of containers on this machine
 * (src/k8s/run-on-cluster.ts), the path a launch script's runOnKubernetes() takes.
 *
 *   pipeline run --on kubernetes --image HOST/REPO@sha256:... [--env K=V]... [--cpu C] [--memory M] [--gpu N]
 *                [--machine-type NAME] [--no-restricted] [--namespace NS] [--context CTX] [--kubeconfig F]
 *                [--keep-job] [--timeout S] [-- ARGS]
 *   pipeline run --on kubernetes SPEC [--image REF] [...] [-- ARGS]
 *
 * The Job is the one `pipeline deploy SPEC --job` renders, from the same functions (src/k8s/run-job.ts): with a
 * spec, its image (tag resolved to a digest), command, args, workingDir, env (SECRET:name values become
 * secretKeyRefs to the Secrets `pipeline deploy SPEC --apply` creates), containerRegistry (as imagePullSecret),
 * resources (machine type, cpu, memory, gpu), securityContext and job settings; flags override them (runSpec).
 * A spec with code, models or repositories needs init containers: `pipeline deploy SPEC --apply --job` runs
 * those. Flags of the local runner (--runtime, --network, --mount, ...) are refused. The exit code is the
 * container's; Ctrl-C deletes the Job and exits 130.
 */
import { resolve as resolvePath } from "node:path";
import { PipelineError } from "../../errors";
import { onTermination } from "../../process/signals";
import { usageError as usage } from "../args";
import type { CliIo } from "../io";
import { parseEnvFlags, type RunArgs } from "./run-flags";
import type { ResolvedDeployment } from "../../deploy/types";
import type { RunOverrides } from "../../k8s/run-job";

/** RunArgs: the table declares the flags of both targets on `pipeline run`; checkTarget refuses the other target's. */
export type RunKubernetesArgs = RunArgs;

const LOCAL_ONLY = [
  "runtime",
  "network",
  "mount",
  "allow-host-path",
  "replicas",
  "stop-timeout",
  "cache-dir",
  "rootfs",
] as const satisfies readonly (keyof RunKubernetesArgs)[];
const KUBERNETES_ONLY = [
  "keep-job",
  "namespace",
  "kubeconfig",
  "context",
  "timeout",
  "cpu",
  "memory",
  "gpu",
  "machine-type",
  "restricted",
  "service-account",
  "run-as-user",
  "ttl-seconds",
] as const satisfies readonly (keyof RunKubernetesArgs)[];

/** Usage errors for flags given with the wrong --on (exported for the local path). */
export function checkTarget(a: RunKubernetesArgs): void {
  const given = (k: keyof RunKubernetesArgs) => {
    const v = a[k];
    // `--no-restricted` is given as false; the other switches default to false.
    return v !== undefined && (v !== false || k === "restricted") && !(Array.isArray(v) && v.length === 0);
  };
  if (a.on === "kubernetes") {
    const bad = LOCAL_ONLY.filter(given);
    if (bad.length)
      throw usage(
        `--on kubernetes: ${bad.map((b) => `--${b}`).join(", ")} ${bad.length > 1 ? "apply" : "applies"} to local containers only (the cluster decides the runtime and network; use volumes in a spec instead of --mount)`,
      );
  } else {
    const bad = KUBERNETES_ONLY.filter(given);
    if (bad.length)
      throw usage(
        `${bad.map((b) => `--${b}`).join(", ")} ${bad.length > 1 ? "go" : "goes"} with --on kubernetes (got --on ${a.on ?? "local"})`,
      );
  }
}

export async function runKubernetes(a: RunKubernetesArgs, io: CliIo): Promise<{ exitCode: number }> {
  checkTarget(a);
  if (!a.spec && !a.image)
    throw usage(
      "pipeline run --on kubernetes: name a deployment spec file, or an image with --image HOST/REPO@sha256:...",
    );
  const timeout = a.timeout ?? 300;
  if (!(timeout > 0)) throw usage(`--timeout: expected seconds > 0, got ${JSON.stringify(a.timeout)}`);
  const overrides: RunOverrides = {
    command: a.entrypoint ? [a.entrypoint] : undefined,
    args: a["--"]?.length ? a["--"].map(String) : undefined,
    workingDir: a.workdir,
    env: parseEnvFlags(a.env ?? [], io.env),
    cpu: a.cpu,
    memory: a.memory,
    gpu: a.gpu,
    machineType: a["machine-type"],
    restricted: a.restricted,
    runAsUser: a["run-as-user"],
    ttlSecondsAfterFinished: a["ttl-seconds"],
  };
  const loaded = (await import("../../k8s/kubeconfig.js")).loadKubeconfig({
    env: io.env,
    kubeconfig: a.kubeconfig && resolvePath(io.cwd, a.kubeconfig),
    context: a.context,
  });
  const namespace = a.namespace ?? loaded.namespace ?? "default";
  const { imageSpec, runJob, runJobName, runSpec } = await import("../../k8s/run-job.js");
  const { containerFromReference } = await import("../../deploy/constructors.js");
  const warn = (line: string) => io.stderr(`warning: ${line}`);

  let deployment: ResolvedDeployment;
  let specFile: { file: string; requireSignature?: string } | undefined;
  if (a.spec) {
    const [{ loadDeploymentSpec }, { resolveDeployment }] = await Promise.all([
      import("../../deploy/spec.js"),
      import("../../deploy/resolve.js"),
    ]);
    const specPath = resolvePath(io.cwd, a.spec);
    const spec = loadDeploymentSpec(specPath, { warn });
    specFile = { file: specPath, requireSignature: spec.requireSignature };
    // The key the flag or the spec names, read before anything else (src/named-file.ts).
    const policy = await import("../../sign/policy.js");
    await policy.checkRequiredKey(policy.requiredKeyOf(a["require-signature"], io.env, specFile));
    if (a.image) spec.interpreter = containerFromReference(a.image, "--image", io.cwd);
    const extras = [
      spec.code.kind !== "None" && "code",
      spec.models.length && "models",
      spec.repositories && "repositories",
    ].filter(Boolean);
    if (extras.length) {
      throw usage(
        `${specPath}: ${extras.join(", ")} need init containers, which --on kubernetes does not run: use \`pipeline deploy ${a.spec} --apply --job\``,
      );
    }
    if (spec.resources.replicas > 1)
      throw usage(
        `${specPath}: resources.replicas is ${spec.resources.replicas}; --on kubernetes runs one pod (use \`pipeline deploy ${a.spec} --apply --job\`)`,
      );
    if (spec.interpreter.kind === "ContainerInLayout")
      throw usage(
        `${specPath}: the image is an OCI layout on this machine, which a cluster cannot pull: push it and pass --image HOST/REPO@sha256:...`,
      );
    // Resolved before the flags are applied: resolve's messages name the spec file's lines (specFieldLocation).
    const resolved = await resolveDeployment(spec, { env: io.env, insecure: a.insecure, warn });
    deployment = { ...resolved, spec: runSpec(resolved.spec, overrides) };
  } else {
    const interp = containerFromReference(a.image!, "--image", io.cwd);
    if (interp.kind === "ContainerInLayout")
      throw usage(
        `--image ${a.image}: an OCI layout on this machine cannot be pulled by a cluster: push it (bazel run //pkg:NAME_push) and pass HOST/REPO@sha256:...`,
      );
    if (interp.kind !== "ContainerAtDigest")
      throw usage(
        `--image ${a.image}: --on kubernetes needs the image by digest (HOST/REPO@sha256:...), so the pod runs exactly the pushed bytes`,
      );
    const spec = imageSpec(a.name ?? interp.repository.split("/").pop()!, interp);
    deployment = { spec: runSpec(spec, overrides), image: `${interp.repository}@${interp.digest}`, warnings: [] };
  }
  // Before any request to the cluster: the image's signature, when a key is required.
  await (await import("../../sign/policy.js")).requireSignedDeployment(deployment, a["require-signature"], specFile, {
    env: io.env,
    insecure: a.insecure,
    stderr: io.stderr,
    debug: io.debug,
    warn,
  });
  const { withMapTemplate } = await import("../../k8s/map-job.js");
  // The pod may map a step over an Indexed Job of its own (runMap inside the pod, docs/scale-out.md).
  const job = withMapTemplate(
    runJob({
      name: runJobName(a.name ?? deployment.spec.name),
      namespace,
      deployment,
      serviceAccount: a["service-account"],
    }),
    { deployment },
  );
  const jobName = job.metadata!.name!;
  const [{ envSecretName }, { namedSecretObjectName }] = await Promise.all([
    import("../../deploy/env.js"),
    import("../../k8s/names.js"),
  ]);
  const fromSecrets = deployment.spec.env.filter((e) => envSecretName(e.value) !== undefined);
  if (fromSecrets.length) {
    const objects = [...new Set(fromSecrets.map((e) => namedSecretObjectName(envSecretName(e.value)!)))];
    io.stderr(
      `env ${fromSecrets.map((e) => e.name).join(", ")}: read from the Secrets ${objects.join(", ")} (\`pipeline deploy ${a.spec ?? "SPEC"} --apply\` creates them)`,
    );
  }

  const [{ KubeHttp }, { runOnCluster }] = await Promise.all([
    import("../../k8s/run-api.js"),
    import("../../k8s/run-on-cluster.js"),
  ]);
  const stop = new AbortController();
  const onSignal = (sig: NodeJS.Signals) => {
    if (stop.signal.aborted) return;
    io.stderr(`${sig}: deleting Job ${namespace}/${jobName}`);
    stop.abort();
  };
  const offSignals = onTermination(onSignal);
  try {
    const { exitCode } = await runOnCluster({
      api: new KubeHttp(loaded),
      job,
      keepJob: a["keep-job"],
      timeoutMs: timeout * 1000,
      intervalMs: a["poll-interval"],
      onLine: io.stdout,
      log: io.stderr,
      signal: stop.signal,
    });
    if (exitCode !== 0) io.stderr(`Job ${namespace}/${jobName}: the container exited with code ${exitCode}`);
    return { exitCode };
  } catch (e) {
    if (stop.signal.aborted) {
      // Interrupted: only a failure to clean up is worth a line (the Job may be left behind).
      if (!(e instanceof PipelineError && e.code === "E_ABORTED"))
        io.stderr(`error${e instanceof PipelineError ? `[${e.code}]` : ""}: ${(e as Error).message}`);
      return { exitCode: 130 };
    }
    throw e;
  } finally {
    offSignals();
  }
}
