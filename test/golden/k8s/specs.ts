/** Resolved deployments the golden files are rendered from (objects, as the resolver would return them). */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { parseDeploymentSpec } from "../../../src/deploy/spec";
import type { DeploymentSpec, ResolvedDeployment } from "../../../src/deploy/types";
import { parseDigest } from "../../../src/oci/digest";

export const DIGEST = parseDigest("sha256:3f4b1c9e2a7d5b8c0e1f2a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e7f", "DIGEST");
export const MODEL_DIGEST = "sha256:aa11bb22cc33dd44ee55ff6600112233445566778899aabbccddeeff00112233";

function spec(over: Partial<DeploymentSpec>): DeploymentSpec {
  return {
    name: "hello",
    interpreter: { kind: "ContainerAtTag", repository: "registry.example.com/team/hello", tag: "v1" },
    code: { kind: "None" },
    ports: [],
    env: [],
    models: [],
    resources: { replicas: 1 },
    ...over,
  };
}

/** One port, one env var, one replica. */
export const minimalService: ResolvedDeployment = {
  spec: spec({ ports: [8080], env: [{ name: "LOG_LEVEL", value: "info" }] }),
  image: `registry.example.com/team/hello@${DIGEST}`,
  warnings: [],
};

/** Everything the spec can say. */
export const fullExample: ResolvedDeployment = {
  spec: spec({
    name: "inference",
    interpreter: { kind: "ContainerAtTag", repository: "registry.example.com/ml/inference", tag: "2024-06" },
    containerRegistry: "example-registry",
    command: ["node", "dist/serve.js"],
    args: ["--listen", "0.0.0.0"],
    workingDir: "/app",
    ports: [8080, 9090],
    env: [
      { name: "MODEL_DIR", value: "/opt/models" },
      { name: "API_TOKEN", value: "SECRET:inference_api_token" },
    ],
    models: [
      { id: "registry.example.com/models/resnet50:v2", path: "/opt/models" },
      { id: `registry.example.com/models/tokenizer@${MODEL_DIGEST}`, path: "/opt/models" },
      { id: "models.example.org/embeddings:1.0", path: "/opt/embeddings" },
    ],
    repositories: {
      dataset: "training-repos",
      mountPath: "/opt/repos",
      repositories: [
        {
          url: "https://git.example.com/ml/configs.git",
          name: "configs",
          ref: "main",
          username: "deploy-bot",
          password: { secret: "GIT_TOKEN" },
        },
        { url: "https://github.com/example/public-data.git", name: "public-data" },
      ],
    },
    resources: { replicas: 3, instanceType: "A6000", memory: { request: "32Gi", limit: "40Gi" } },
    probes: {
      readiness: { kind: "http", path: "/healthz", port: 8080, periodSeconds: 5 },
      liveness: { kind: "tcp", port: 9090, initialDelaySeconds: 30 },
    },
    securityContext: { runAsUser: 1000, runAsGroup: 1000 },
    modelCache: "inference-models",
    initImages: { git: `mirror.example.com/alpine/git@${DIGEST}`, oras: `mirror.example.com/oras@${DIGEST}` },
  }),
  image: `registry.example.com/ml/inference@${DIGEST}`,
  version: "2024-06",
  warnings: [],
};

/**
 * A pipeline run: two parallel pods (Indexed) on a two-GPU machine, git code at a pinned commit, a model, a
 * registry credential, a liveness probe on a metrics port, explicit cpu/memory, a user, Job timing.
 */
export const pipelineJob: ResolvedDeployment = {
  spec: spec({
    name: "train",
    interpreter: { kind: "ContainerAtDigest", repository: "registry.example.com/ml/train", digest: DIGEST },
    code: { kind: "GitRepoBranch", repoUrl: "https://git.example.com/ml/train.git", branch: "main" },
    containerRegistry: "example-registry",
    args: ["--epochs", "3"],
    env: [{ name: "WANDB_MODE", value: "offline" }],
    models: [{ id: `registry.example.com/models/resnet50@${MODEL_DIGEST}`, path: "/opt/models" }],
    ports: [9100],
    resources: {
      replicas: 2,
      instanceType: "A100-80Gx2",
      cpu: { request: "16", limit: "24" },
      memory: { request: "160Gi", limit: "160Gi" },
    },
    probes: { liveness: { kind: "http", path: "/metrics", port: 9100, periodSeconds: 30 } },
    securityContext: { runAsUser: 1000 },
    job: { ttlSecondsAfterFinished: 3600 },
  }),
  image: `registry.example.com/ml/train@${DIGEST}`,
  commit: "0123456789abcdef0123456789abcdef01234567",
  warnings: [],
};

/** examples/service/service.yaml as `pipeline deploy` resolves it (the pushed image's digest, the model pinned). */
export function exampleService(): ResolvedDeployment {
  const file = join(__dirname, "../../../examples/service/service.yaml");
  const parsed = parseDeploymentSpec(readFileSync(file, "utf8"), "examples/service/service.yaml");
  const image = `localhost:5000/examples/service@${DIGEST}`;
  const pinned: DeploymentSpec = {
    ...parsed,
    interpreter: { kind: "ContainerAtDigest", repository: "localhost:5000/examples/service", digest: DIGEST },
    models: parsed.models.map((m) => ({ ...m, id: `${m.id.replace(/:[^:/]+$/, "")}@${MODEL_DIGEST}` })),
  };
  return { spec: pinned, image, version: "latest", warnings: [] };
}
