/**
 * The pod a deployment runs: main container, init containers, volumes (models as image volumes: model-volumes.ts),
 * pull secret, node selector, and the placeholder Secrets it refers to. Shared by the Deployment and the Job renderers.
 */
import type { V1Container, V1EnvVar, V1PodSpec, V1Secret, V1Volume, V1VolumeMount } from "@kubernetes/client-node";
import type { ResolvedDeployment } from "../deploy/types";
import { formatLayoutReference } from "../deploy/layout-image";
import { mountPathProblem } from "../deploy/path-checks";
import { SECRET_NAME } from "../deploy/secrets";
import { PipelineError, quoteValue } from "../errors";
import { MODEL_ROOT_TITLE } from "../weights/artifact";
import { sha256 } from "../oci/digest";
import { parseReference } from "../oci/reference";
import { DEFAULT_GIT_IMAGE, DEFAULT_ORAS_IMAGE, gitCloneContainer, modelPullContainer } from "./init-containers";
import { modelImageVolumes } from "./model-volumes";
import { namedSecretObjectName, registrySecretObjectName, SECRET_KEY } from "./names";
import { deploymentEnv } from "../deploy/env";
import { containerResources, containerSecurityContext, podSecurityContext, probes, scheduling } from "./pod-settings";
import { namedSecretPlaceholder, registryHosts, registrySecretPlaceholder, secretRefName } from "./secret-objects";

export interface PodOptions {
  namespace: string;
  /** Image of the git init containers (default {@link DEFAULT_GIT_IMAGE}). */
  gitImage?: string;
  /** Image of the model init containers (default {@link DEFAULT_ORAS_IMAGE}). */
  orasImage?: string;
}

/** Where git code (`code: GitRepo...`) is cloned; the working directory unless the spec sets one. */
export const CODE_PATH = "/opt/code";
export { INSTANCE_TYPE_LABEL } from "./pod-settings";
/** The model cache volume (`modelCache:`, a PersistentVolumeClaim). */
export const MODEL_CACHE_VOLUME = "model-cache";

export interface RenderedPod {
  pod: V1PodSpec;
  /** Placeholder Secrets the pod refers to, sorted by name. */
  secrets: V1Secret[];
}

/** The image by digest; a tag-only image is refused (resolve first). */
export function pinnedImage(r: ResolvedDeployment): string {
  const it = r.spec.interpreter;
  if (it.kind === "ContainerInLayout") {
    const local = r.image ?? formatLayoutReference({ dir: it.layout, digest: it.digest });
    throw new PipelineError(
      "E_K8S_UNSUPPORTED",
      `image: ${JSON.stringify(local)} is an OCI layout on this machine, which a cluster cannot pull: push it (bazel run //pkg:NAME_push) and give HOST/REPO@sha256:...`,
    );
  }
  let image = r.image;
  if (!image && it.kind === "ContainerAtDigest") image = `${it.repository}@${it.digest}`;
  if (!image && it.kind === "ContainerAtTag") {
    throw new PipelineError(
      "E_K8S_UNRESOLVED",
      `image: ${JSON.stringify(`${it.repository}:${it.tag}`)} is a tag; Kubernetes manifests need the image by digest — resolve the spec first (pipeline deploy resolves tags when it can reach the registry)`,
    );
  }
  if (!image) {
    throw new PipelineError(
      "E_K8S_UNSUPPORTED",
      `interpreter: the Kubernetes runner needs a container image, got ${it.kind}`,
    );
  }
  const ref = parseReference(image, "image");
  if (!ref.digest) {
    throw new PipelineError(
      "E_K8S_UNRESOLVED",
      `image: ${JSON.stringify(image)} has no digest; resolve the spec first so every replica runs the same bytes`,
    );
  }
  return image;
}

function codeCommit(r: ResolvedDeployment): { url: string; commit: string } | undefined {
  const c = r.spec.code;
  switch (c.kind) {
    case "None":
      return undefined;
    case "GitRepoCommit":
      return { url: c.repoUrl, commit: r.commit ?? c.commit };
    case "GitRepoBranch":
      if (!r.commit) {
        throw new PipelineError(
          "E_K8S_UNRESOLVED",
          `code: branch ${JSON.stringify(c.branch)} of ${JSON.stringify(c.repoUrl)} is not pinned to a commit; resolve the spec first`,
        );
      }
      return { url: c.repoUrl, commit: r.commit };
    case "ServerAvailableFolder":
      throw new PipelineError(
        "E_K8S_UNSUPPORTED",
        `code: folders on this machine (${c.codePaths.join(", ")}) do not exist on a cluster; put the code in the image or a git repository`,
      );
  }
}

/** The spec parser's check again (deploy/path-checks.ts), for deployments built in code. */
function checkMountPath(path: string, field: string): string {
  const problem = mountPathProblem(path);
  if (problem) throw new PipelineError("E_K8S_SPEC", `${field}: ${problem} (got ${quoteValue(path)})`);
  return path;
}

function checkSecretName(name: string, field: string): string {
  if (!SECRET_NAME.test(name)) {
    throw new PipelineError(
      "E_K8S_SPEC",
      `${field}: secret name ${JSON.stringify(name)} is not valid (letters, digits, '.', '_', '-')`,
    );
  }
  return name;
}

/**
 * The sub-directory of the model cache a model path is kept in: the path folded (`/opt/models` → `opt-models`),
 * then one directory per set of models at that path, named by their ids (`m-` and 16 hex digits of their sha256).
 * Another model (a new digest) at the same path gets a fresh directory: `oras pull` into the old one would leave
 * the old model's files beside the new ones (it overwrites, it does not remove), and pods still running the old
 * model (a rolling update) keep theirs.
 */
export function modelCacheSubPath(path: string, ids: readonly string[]): string {
  const folded = path.replace(/^\/+|\/+$/g, "").replace(/[^A-Za-z0-9._-]+/g, "-") || "root";
  const key = sha256([...new Set(ids)].sort().join("\n")).slice("sha256:".length, "sha256:".length + 16);
  return `${folded}/m-${key}`;
}

/**
 * Which probes a pod gets (pod-settings.ts, probes): `defaults` for a long-running pod (a Deployment: the spec's,
 * else TCP checks of the first port), `given` for a rendered Job (only the spec's), `none` for the Job of
 * `pipeline run --on kubernetes` (run-job.ts says why).
 */
export type PodProbes = "defaults" | "given" | "none";

export function renderPod(r: ResolvedDeployment, opts: PodOptions, withProbes: PodProbes = "defaults"): RenderedPod {
  const s = r.spec;
  const image = pinnedImage(r);
  const gitImage = opts.gitImage ?? s.initImages?.git ?? DEFAULT_GIT_IMAGE;
  const orasImage = opts.orasImage ?? s.initImages?.oras ?? DEFAULT_ORAS_IMAGE;
  const secretNames = new Set<string>();
  const volumes: V1Volume[] = [];
  const mounts: V1VolumeMount[] = [];
  /** The spec field each mount comes from, for messages. */
  const mountFields: string[] = [];
  const init: V1Container[] = [];

  const code = codeCommit(r);
  if (code) {
    volumes.push({ name: "code", emptyDir: {} });
    mounts.push({ name: "code", mountPath: CODE_PATH });
    mountFields.push(`code (cloned to ${CODE_PATH})`);
    init.push(
      gitCloneContainer(gitImage, {
        name: "code",
        url: code.url,
        ref: code.commit,
        dest: CODE_PATH,
        mounts: [{ name: "code", mountPath: CODE_PATH }],
      }),
    );
  }

  if (s.repositories?.repositories.length) {
    const at = checkMountPath(s.repositories.mountPath, "repositories.mountPath");
    const mount = { name: "repos", mountPath: at };
    volumes.push({ name: "repos", emptyDir: {} });
    mounts.push(mount);
    mountFields.push("repositories.mountPath");
    s.repositories.repositories.forEach((g, i) => {
      if (!/^[A-Za-z0-9._-]+$/.test(g.name) || g.name === "." || g.name === "..") {
        throw new PipelineError(
          "E_K8S_SPEC",
          `repositories.repositories[${i}].name: expected [A-Za-z0-9._-]+, got ${JSON.stringify(g.name)}`,
        );
      }
      if (g.password) secretNames.add(checkSecretName(g.password.secret, `repositories.repositories[${i}].password`));
      init.push(
        gitCloneContainer(gitImage, {
          name: `clone-${i}`,
          url: g.url,
          ref: g.ref,
          dest: `${at.replace(/\/+$/, "")}/${g.name}`,
          username: g.username,
          passwordSecret: g.password?.secret,
          mounts: [mount],
        }),
      );
    });
  }

  const registryVolume = s.containerRegistry ? "registry-config" : undefined;
  s.models.forEach((m, i) => {
    checkMountPath(m.path, `models[${i}].path`);
  });
  const imageVolumes = s.modelDelivery === "imageVolume" && s.models.length ? modelImageVolumes(s.models) : undefined;
  if (imageVolumes) {
    volumes.push(...imageVolumes.volumes);
    mounts.push(...imageVolumes.mounts);
    mountFields.push(...imageVolumes.fields);
  } else if (s.models.length) {
    const paths = [...new Set(s.models.map((m) => m.path))];
    const cache = s.modelCache;
    const mountOf = (p: string): V1VolumeMount =>
      cache
        ? {
            name: MODEL_CACHE_VOLUME,
            mountPath: p,
            subPath: modelCacheSubPath(
              p,
              s.models.filter((m) => m.path === p).map((m) => m.id),
            ),
          }
        : { name: `models-${paths.indexOf(p)}`, mountPath: p };
    // `oras pull ID -o PATH` writes a model to PATH/model (its directory layer's title): the main container mounts
    // that directory at PATH, so it finds the model's files there, as under `pipeline run`.
    const modelDirOf = (p: string): V1VolumeMount => {
      const m = mountOf(p);
      return { ...m, subPath: m.subPath ? `${m.subPath}/${MODEL_ROOT_TITLE}` : MODEL_ROOT_TITLE };
    };
    if (cache) volumes.push({ name: MODEL_CACHE_VOLUME, persistentVolumeClaim: { claimName: cache } });
    paths.forEach((p, j) => {
      if (!cache) volumes.push({ name: `models-${j}`, emptyDir: {} });
      mounts.push(modelDirOf(p));
      mountFields.push(`models[${s.models.findIndex((m) => m.path === p)}].path`);
    });
    s.models.forEach((m, i) => {
      parseReference(m.id, `models[${i}].id`);
      init.push(
        modelPullContainer(orasImage, {
          name: `model-${i}`,
          id: m.id,
          path: m.path,
          mounts: [mountOf(m.path)],
          registryConfigVolume: registryVolume,
          cached: Boolean(cache),
        }),
      );
    });
    if (registryVolume && s.containerRegistry) {
      volumes.push({
        name: registryVolume,
        secret: {
          secretName: registrySecretObjectName(s.containerRegistry),
          items: [{ key: ".dockerconfigjson", path: "config.json" }],
        },
      });
    }
  }

  const env: V1EnvVar[] = deploymentEnv(s).map((e, i) => {
    const secret = secretRefName(e.value);
    if (secret === undefined) return { name: e.name, value: e.value };
    secretNames.add(checkSecretName(secret, `env[${i}].value`));
    return { name: e.name, valueFrom: { secretKeyRef: { name: namedSecretObjectName(secret), key: SECRET_KEY } } };
  });

  const seen = new Map<string, string>();
  mounts.forEach((m, i) => {
    const other = seen.get(m.mountPath);
    if (other)
      throw new PipelineError(
        "E_K8S_SPEC",
        `mount path ${JSON.stringify(m.mountPath)} is used by both ${other} and ${mountFields[i]}; give them different paths`,
      );
    seen.set(m.mountPath, mountFields[i]);
  });
  if (s.containerRegistry) checkSecretName(s.containerRegistry, "containerRegistry");

  const main: V1Container = { name: s.name, image, imagePullPolicy: "IfNotPresent" };
  if (s.command?.length) main.command = s.command;
  if (s.args?.length) main.args = s.args;
  const workingDir = s.workingDir ?? (code ? CODE_PATH : undefined);
  if (workingDir) main.workingDir = workingDir;
  if (env.length) main.env = env;
  if (s.ports.length) main.ports = s.ports.map((p) => ({ containerPort: p, protocol: "TCP" }));
  if (mounts.length) main.volumeMounts = mounts;
  if (withProbes !== "none") Object.assign(main, probes(s, withProbes === "defaults"));
  const resources = containerResources(s.resources);
  if (resources) main.resources = resources;
  const containerSc = containerSecurityContext(s);
  if (containerSc) {
    main.securityContext = containerSc;
    for (const c of init) {
      c.securityContext = containerSc;
      // git and oras write to $HOME; the image's HOME (/root) is not writable by a non-root user.
      c.env = [...(c.env ?? []), { name: "HOME", value: "/tmp" }];
    }
  }

  const pod: V1PodSpec = { containers: [main] };
  if (init.length) pod.initContainers = init;
  if (volumes.length) pod.volumes = volumes;
  if (s.containerRegistry) pod.imagePullSecrets = [{ name: registrySecretObjectName(s.containerRegistry) }];
  const podSc = podSecurityContext(r);
  if (podSc) pod.securityContext = podSc;
  Object.assign(pod, scheduling(s.resources));

  const secrets: V1Secret[] = [...secretNames].sort().map((n) => namedSecretPlaceholder(n, opts.namespace, s.name));
  if (s.containerRegistry)
    secrets.push(
      registrySecretPlaceholder(
        s.containerRegistry,
        // The kubelet pulls model volumes with the pod's pull secret: it must name their registries too.
        [...new Set([...registryHosts(image), ...(imageVolumes?.hosts ?? [])])],
        opts.namespace,
        s.name,
      ),
    );
  secrets.sort((a, b) => (a.metadata?.name ?? "").localeCompare(b.metadata?.name ?? ""));
  return { pod, secrets };
}
