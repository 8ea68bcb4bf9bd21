/**
 * The deployment model shared by the spec parser (spec.ts), the resolver (resolve.ts), the local runner
 * (src/container/) and the Kubernetes renderer (src/k8s/). Plain data: the same shapes come from the TypeScript
 * constructors in constructors.ts and from a YAML/JSON spec.
 */
import type { AdmissionEngineName } from "../admission/engines";
import type { Digest } from "../oci/digest";

/** What the code runs with. */
export type InterpreterDeployment =
  | { kind: "ContainerAtTag"; repository: string; tag: string }
  | { kind: "ContainerAtDigest"; repository: string; digest: Digest }
  /**
   * An image in an OCI image layout on this machine (`--image oci:DIR[@sha256:...]`, e.g. what `bazel build
   * //pkg:NAME_image` wrote): the local runner only. `layout` is absolute; `digest` picks (and checks) the manifest.
   */
  | { kind: "ContainerInLayout"; layout: string; digest?: Digest }
  /** A Node already on the machine (tests, special hosts). */
  | { kind: "ServerAvailableInterpreter"; nodePath: string }
  /** package.json + lockfile in the code deployment define the environment; built by `pipeline build --lockfile`. */
  | { kind: "LockfileProject"; lockfile: string };

/** What code is added to the interpreter. */
export type CodeDeployment =
  | { kind: "GitRepoBranch"; repoUrl: string; branch: string }
  | { kind: "GitRepoCommit"; repoUrl: string; commit: string }
  /** The first path is the working directory; all are on the module path (NODE_PATH). */
  | { kind: "ServerAvailableFolder"; codePaths: string[] }
  | { kind: "None" };

/** `SECRET:name` in a spec: a named secret, resolved by secrets.ts, never stored in output. */
export interface SecretRef {
  secret: string;
}

export interface EnvVar {
  name: string;
  value: string;
}

export interface ModelSpec {
  /** Registry reference of the model artifact: HOST/REPO:TAG or HOST/REPO@sha256:... */
  id: string;
  /** Absolute path in the container (default /opt/models). */
  path: string;
}

export interface GitRepositorySpec {
  url: string;
  /** Directory under `mountPath`; [A-Za-z0-9._-]+. */
  name: string;
  /** Branch, tag or commit to check out (default: the remote's HEAD). */
  ref?: string;
  username?: string;
  password?: SecretRef;
}

export interface RepositoriesSpec {
  /** Name of the cache where clones are kept between runs. */
  dataset: string;
  /** Absolute path in the container (default /opt/repos). */
  mountPath: string;
  repositories: GitRepositorySpec[];
}

/** A request and a limit (Kubernetes quantities, e.g. "500m", "2", "4Gi"); either may be absent. */
export interface QuantitySpec {
  request?: string;
  limit?: string;
}

export interface ResourcesSpec {
  replicas: number;
  /** `instanceType`, or its newer name `machineType`: a Gradient machine name (src/deploy/instance-types.ts). */
  instanceType?: string;
  /** CPU; a scalar in the spec is a request only (no CPU limit, so no throttling). */
  cpu?: QuantitySpec;
  /** Memory; a scalar in the spec is both the request and the limit. */
  memory?: QuantitySpec;
  /** GPUs (`nvidia.com/gpu` limit and a toleration for the `nvidia.com/gpu` taint). */
  gpu?: number;
}

/** A readiness or liveness check. */
export type ProbeSpec = ({ kind: "http"; path: string; port: number } | { kind: "tcp"; port: number }) & ProbeTiming;

export interface ProbeTiming {
  initialDelaySeconds?: number;
  periodSeconds?: number;
  timeoutSeconds?: number;
  failureThreshold?: number;
}

/**
 * `probes:`; absent checks get defaults when the spec has a port (a TCP check of the first port), `none`
 * (false here) turns one off.
 */
export interface ProbesSpec {
  readiness?: ProbeSpec | false;
  liveness?: ProbeSpec | false;
}

/** `securityContext:`; by default pods meet Pod Security "restricted". */
export interface SecurityContextSpec {
  /** false: no securityContext is rendered (the image's user, root included; privilege escalation allowed). Default true. */
  restricted?: boolean;
  runAsUser?: number;
  runAsGroup?: number;
  fsGroup?: number;
}

/** `job:` (Kubernetes Jobs, `pipeline deploy --job`). */
export interface JobSpec {
  /** Seconds a finished Job is kept (default 86400). */
  ttlSecondsAfterFinished?: number;
  /** Seconds a Job may run before it is stopped (default 604800, a week). */
  activeDeadlineSeconds?: number;
}

/** `initImages:`: images of the init containers, e.g. a mirror (by digest). */
export interface InitImagesSpec {
  git?: string;
  oras?: string;
}

/** `admission:`: the cluster's admission engine, whose policy is rendered beside the workload (src/k8s/admission.ts). */
export interface AdmissionSpec {
  /** An engine of src/admission/engines.ts. */
  engine: AdmissionEngineName;
}

/** A validated deployment spec (the Gradient model). Every default is filled in. */
export interface DeploymentSpec {
  /** Deployment name (Kubernetes object names, container names); default: last path part of the image repository. */
  name: string;
  /** `image:` — a reference string as given (tag or digest); exactly one of image / interpreter. */
  interpreter: InterpreterDeployment;
  code: CodeDeployment;
  /** Name of a registry credential (a named secret holding a user and password) used to pull the image. */
  containerRegistry?: string;
  /** Replaces the image's entrypoint + cmd when set. */
  command?: string[];
  /** Arguments appended to the command / entrypoint. */
  args?: string[];
  /** Working directory in the container (default: the image's). */
  workingDir?: string;
  /** `port` and `ports` merged, deduplicated, in order. */
  ports: number[];
  env: EnvVar[];
  models: ModelSpec[];
  repositories?: RepositoriesSpec;
  resources: ResourcesSpec;
  probes?: ProbesSpec;
  securityContext?: SecurityContextSpec;
  job?: JobSpec;
  /** Name of a PersistentVolumeClaim that keeps downloaded models across pod restarts. */
  modelCache?: string;
  /** How models reach the pod: `initContainer` (absent: the default) or `imageVolume` (src/k8s/model-volumes.ts). */
  modelDelivery?: "initContainer" | "imageVolume";
  initImages?: InitImagesSpec;
  /** A PEM public key file (relative to the spec's directory): only an image whose signature verifies with it runs. */
  requireSignature?: string;
  /** The admission policy to render beside the workload; needs requireSignature (the key the policy carries). */
  admission?: AdmissionSpec;
  /** Where the pipeline's maps keep items and results (`artifacts`: s3://BUCKET/PREFIX/; also in env). */
  artifacts?: string;
}

/** Where a value came from in the spec file, for error messages. */
export interface SpecLocation {
  file: string;
  /** YAML path, e.g. `repositories.repositories[0].password`. */
  path: string;
  /** 1-based line, when known. */
  line?: number;
}

/** The spec with tags and branches pinned: every replica and step runs the same bytes. */
export interface ResolvedDeployment {
  spec: DeploymentSpec;
  /** HOST/REPO@sha256:... for container interpreters; oci:DIR@sha256:... for an image in a local layout. */
  image?: string;
  /** Commit for git code deployments. */
  commit?: string;
  /** The tag the image was resolved from, when it was given by tag (the `app.kubernetes.io/version` label). */
  version?: string;
  /** The image's numeric user when known (its config's `User`), for runAsUser. */
  imageUser?: number;
  warnings: string[];
}
