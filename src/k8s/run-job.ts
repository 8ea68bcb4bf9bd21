/**
 * The Job `pipeline run --on kubernetes` (and runOnKubernetes in the runtime) creates. It is the Job `pipeline
 * deploy SPEC --job` renders (render.ts, jobOf), made by the same functions (pod.ts, pod-settings.ts): resources
 * (the machine type's requests, the spec's cpu/memory/gpu), the `nvidia.com/gpu` limit and its toleration, the
 * machine type's preferred node affinity, Pod Security "restricted" unless `restricted: false`, the registry
 * credential as imagePullSecret, `SECRET:name` env values as secretKeyRefs, `backoffLimit: 0`, `restartPolicy:
 * Never`, ttlSecondsAfterFinished and activeDeadlineSeconds (`job:`, defaults 1 day and 1 week). What makes it a
 * run:
 *  - a fresh name each time (runJobName): a rendered Job is named by its content so that applying it twice does
 *    not run it twice; a run always runs;
 *  - the label {@link RUN_LABEL} on the Job and its pod template (the run finds its pod by it), the main
 *    container named {@link RUN_CONTAINER} (its log and exit code are read), `PIPELINE_IN_CONTAINER=1`, and the
 *    service account when one is given;
 *  - no probes. A run goes to completion and its exit code is the answer: a readiness probe gates no traffic (no
 *    Service sends any), and a failing liveness probe would kill the container and, with `restartPolicy: Never`
 *    and `backoffLimit: 0`, fail the run over a check meant for servers. (A rendered `--job` keeps the probes
 *    its spec gives.)
 * Flags and runOnKubernetes() options become spec fields first (runSpec), so they take the same path; a run
 * without a spec starts from imageSpec(). The placeholder Secrets the pod refers to are not created here
 * (`pipeline deploy SPEC --apply` creates them), and specs that need init containers (code, models,
 * repositories) are refused by the CLI: a run does not follow init containers.
 */
import { randomBytes } from "node:crypto";
import type { V1Job } from "@kubernetes/client-node";
import { instanceTypeProblem } from "../deploy/instance-types";
import { parseQuantity } from "../deploy/quantity";
import type { DeploymentSpec, EnvVar, InterpreterDeployment, ResolvedDeployment } from "../deploy/types";
import { PipelineError } from "../errors";
import { ENV_IN_CONTAINER } from "../runtime";
import { ANNOTATION_PREFIX } from "./names";
import { jobOf } from "./render";

export const RUN_LABEL = `${ANNOTATION_PREFIX}/run`;
export const RUN_CONTAINER = "main";

/**
 * What the flags of `pipeline run --on kubernetes` (and runOnKubernetes()'s options) set: each replaces the spec
 * field of the same name.
 */
export interface RunOverrides {
  command?: string[];
  args?: string[];
  workingDir?: string;
  /** Added to the spec's env; a variable the spec has keeps its place with the new value. */
  env?: Record<string, string>;
  /** Kubernetes CPU quantity ("2", "500m") as request and limit (a spec's scalar `cpu` is a request only). */
  cpu?: string;
  /** Kubernetes memory quantity ("4Gi", "512Mi") as request and limit, like a spec's scalar `memory`. */
  memory?: string;
  /** Number of NVIDIA GPUs (`nvidia.com/gpu`). */
  gpu?: number;
  /** `resources.machineType` (the spec's older name for it: instanceType). */
  machineType?: string;
  /** `securityContext.restricted`; false also drops the spec's runAsUser, runAsGroup and fsGroup. */
  restricted?: boolean;
  /** `securityContext.runAsUser`; never root. */
  runAsUser?: number;
  /** `job.ttlSecondsAfterFinished`. */
  ttlSecondsAfterFinished?: number;
}

/** The flag each override comes from, for messages. */
const FLAGS: Record<keyof RunOverrides, string> = {
  command: "--entrypoint",
  args: "-- ARGS",
  workingDir: "--workdir",
  env: "--env",
  cpu: "--cpu",
  memory: "--memory",
  gpu: "--gpu",
  machineType: "--machine-type",
  restricted: "--restricted",
  runAsUser: "--run-as-user",
  ttlSecondsAfterFinished: "--ttl-seconds",
};

function bad(key: keyof RunOverrides, problem: string, got: unknown): PipelineError {
  return new PipelineError("E_K8S_RUN_OPTION", `${FLAGS[key]}: ${problem}, got ${JSON.stringify(got)}`, {
    exitCode: 2,
  });
}

const positiveQuantity = (q: string) => (parseQuantity(q) ?? 0) > 0;
const wholeAtLeast = (n: number, min: number) => Number.isInteger(n) && n >= min;

/** BASE folded to a DNS label of at most 40 characters (`run` when nothing is left). */
export function runName(base: string): string {
  return (
    base
      .toLowerCase()
      .replace(/[^a-z0-9-]+/g, "-")
      .replace(/^[^a-z]+/, "")
      .slice(0, 40)
      .replace(/-+$/, "") || "run"
  );
}

/** `BASE-xxxxx`: runName(BASE) and a random suffix, so runs never collide. */
export function runJobName(
  base: string,
  random: () => string = () => randomBytes(4).toString("hex").slice(0, 5),
): string {
  return `${runName(base)}-${random()}`;
}

/** The spec of a run given only an image (`--image REF`): nothing but the image, named runName(name). */
export function imageSpec(name: string, interpreter: InterpreterDeployment): DeploymentSpec {
  return {
    name: runName(name),
    interpreter,
    code: { kind: "None" },
    ports: [],
    env: [],
    models: [],
    resources: { replicas: 1 },
  };
}

/** `spec` with the run's overrides and `PIPELINE_IN_CONTAINER=1` (in the pod, the launch script does the work). */
export function runSpec(spec: DeploymentSpec, o: RunOverrides = {}): DeploymentSpec {
  if (o.cpu !== undefined && !positiveQuantity(o.cpu))
    throw bad("cpu", 'expected a Kubernetes CPU quantity such as "2" or "500m"', o.cpu);
  if (o.memory !== undefined && !positiveQuantity(o.memory))
    throw bad("memory", 'expected a Kubernetes memory quantity such as "4Gi" or "512Mi"', o.memory);
  if (o.gpu !== undefined && !wholeAtLeast(o.gpu, 0)) throw bad("gpu", "expected a whole number of GPUs >= 0", o.gpu);
  const machineProblem = o.machineType === undefined ? undefined : instanceTypeProblem(o.machineType);
  if (machineProblem) throw bad("machineType", machineProblem, o.machineType);
  if (o.runAsUser !== undefined && !wholeAtLeast(o.runAsUser, 1))
    throw bad("runAsUser", "expected a non-root user id (an integer >= 1)", o.runAsUser);
  if (o.ttlSecondsAfterFinished !== undefined && !wholeAtLeast(o.ttlSecondsAfterFinished, 0)) {
    throw bad("ttlSecondsAfterFinished", "expected whole seconds >= 0", o.ttlSecondsAfterFinished);
  }
  const restricted = o.restricted ?? spec.securityContext?.restricted !== false;
  if (!restricted && o.runAsUser !== undefined) {
    throw bad(
      "runAsUser",
      "a pod that is not restricted (--no-restricted, or the spec's securityContext.restricted: false) has no securityContext and runs as the image's user",
      o.runAsUser,
    );
  }

  const env: EnvVar[] = spec.env.map((e) => ({ ...e }));
  for (const [name, value] of Object.entries({ ...o.env, [ENV_IN_CONTAINER]: "1" })) {
    const i = env.findIndex((e) => e.name === name);
    if (i >= 0) env[i] = { name, value };
    else env.push({ name, value });
  }
  const out: DeploymentSpec = { ...spec, env, resources: { ...spec.resources } };
  if (o.command) out.command = o.command;
  if (o.args) out.args = o.args;
  if (o.workingDir) out.workingDir = o.workingDir;
  if (o.cpu !== undefined) out.resources.cpu = { request: o.cpu, limit: o.cpu };
  if (o.memory !== undefined) out.resources.memory = { request: o.memory, limit: o.memory };
  if (o.gpu !== undefined) out.resources.gpu = o.gpu;
  if (o.machineType !== undefined) out.resources.instanceType = o.machineType;
  if (o.restricted === false) out.securityContext = { restricted: false };
  else if (o.restricted || o.runAsUser !== undefined) {
    out.securityContext = {
      ...spec.securityContext,
      restricted: true,
      ...(o.runAsUser !== undefined ? { runAsUser: o.runAsUser } : {}),
    };
  }
  if (o.ttlSecondsAfterFinished !== undefined)
    out.job = { ...spec.job, ttlSecondsAfterFinished: o.ttlSecondsAfterFinished };
  return out;
}

export interface RunJobOptions {
  /** The Job's name (see {@link runJobName}). */
  name: string;
  namespace: string;
  /** The run: its spec (runSpec applied) with the image by digest. */
  deployment: ResolvedDeployment;
  serviceAccount?: string;
}

export function runJob(o: RunJobOptions): V1Job {
  const { job } = jobOf(o.deployment, { namespace: o.namespace }, "none");
  const template = job.spec!.template;
  job.metadata = { ...job.metadata, name: o.name, labels: { ...job.metadata?.labels, [RUN_LABEL]: o.name } };
  template.metadata = { ...template.metadata, labels: { ...template.metadata?.labels, [RUN_LABEL]: o.name } };
  const pod = template.spec!;
  pod.containers[0].name = RUN_CONTAINER;
  if (o.serviceAccount) pod.serviceAccountName = o.serviceAccount;
  return job;
}
