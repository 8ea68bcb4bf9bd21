/**
 * Init containers that prepare a pod before the main container starts:
 *  - one per git repository (`repositories.repositories[i]`) and one for git code (`code:`), running the
 *    git image with /bin/sh: a shallow clone of the remote HEAD, or `fetch --depth 1 <ref>` + detached
 *    checkout when a ref is given. Credentials come only from the environment: the password through a
 *    `secretKeyRef`, handed to git by an inline credential helper set with GIT_CONFIG_COUNT/KEY/VALUE, so
 *    it is never in the URL, in argv or in the rendered manifest.
 *  - one per model, running the ORAS image: `oras pull <model id> -o <path>` (models are ORAS-convention
 *    artifacts). With a `containerRegistry` credential its dockerconfigjson Secret is mounted as the
 *    ORAS registry config (it holds an entry for the image's registry only).
 * Default images are pinned by digest (default-images.ts); `initImages:` in the spec or --git-image /
 * --oras-image replace them, e.g. with a mirror. Both use `terminationMessagePolicy: FallbackToLogsOnError`: when
 * one fails, the kubelet keeps its last log lines (git's or oras' error) in the pod's status, where
 * `deploy --apply` names them when the rollout times out (pod-status.ts).
 */
import type { V1Container, V1EnvVar, V1VolumeMount } from "@kubernetes/client-node";
import { digestHex } from "../oci/digest";
import { pinnedDigest } from "../oci/reference";
import { namedSecretObjectName, SECRET_KEY } from "./names";

export { DEFAULT_GIT_IMAGE, DEFAULT_ORAS_IMAGE } from "./default-images";
/** Where the registry docker config is mounted in ORAS init containers. */
export const REGISTRY_CONFIG_DIR = "/etc/rules-pipeline/registry";

/**
 * The clone script. It reads RP_GIT_URL, RP_GIT_DEST and optionally RP_GIT_REF; it empties RP_GIT_DEST first
 * so a restarted init container starts clean. It empties rather than removes: the code's RP_GIT_DEST is the
 * volume's mount point, which cannot be removed (EBUSY), and its parent is not writable by a non-root user.
 */
export const GIT_CLONE_SCRIPT = [
  "set -eu",
  'mkdir -p "$RP_GIT_DEST"',
  'rm -rf "$RP_GIT_DEST"/* "$RP_GIT_DEST"/.[!.]* "$RP_GIT_DEST"/..?*',
  'if [ -n "${RP_GIT_REF:-}" ]; then',
  '  git init -q "$RP_GIT_DEST"',
  '  git -C "$RP_GIT_DEST" remote add origin "$RP_GIT_URL"',
  '  git -C "$RP_GIT_DEST" fetch -q --depth 1 origin "$RP_GIT_REF"',
  '  git -C "$RP_GIT_DEST" checkout -q --detach FETCH_HEAD',
  "else",
  '  git clone -q --depth 1 "$RP_GIT_URL" "$RP_GIT_DEST"',
  "fi",
  'echo "cloned into $RP_GIT_DEST at $(git -C "$RP_GIT_DEST" rev-parse HEAD)"',
  "",
].join("\n");

/** A git credential helper that answers `get` from RP_GIT_USERNAME / RP_GIT_PASSWORD (no values inline). */
export const GIT_CREDENTIAL_HELPER =
  '!f() { test "$1" = get || exit 0; echo "username=$RP_GIT_USERNAME"; echo "password=$RP_GIT_PASSWORD"; }; f';

export interface GitCloneInput {
  /** Container name (a DNS label). */
  name: string;
  url: string;
  ref?: string;
  dest: string;
  username?: string;
  /** Name of the local secret holding the password or token. */
  passwordSecret?: string;
  mounts: V1VolumeMount[];
}

export function gitCloneContainer(image: string, g: GitCloneInput): V1Container {
  const env: V1EnvVar[] = [
    { name: "RP_GIT_URL", value: g.url },
    { name: "RP_GIT_DEST", value: g.dest },
  ];
  if (g.ref) env.push({ name: "RP_GIT_REF", value: g.ref });
  env.push({ name: "GIT_TERMINAL_PROMPT", value: "0" });
  // Command-scope config (GIT_CONFIG_COUNT/KEY/VALUE): safe.directory, since a volume's mount point is owned by
  // root while the restricted pod runs git as another user ("dubious ownership"); the credential helper.
  const config: [string, string][] = [["safe.directory", g.dest]];
  if (g.passwordSecret) {
    env.push(
      // Any user name works with a token on the common hosts; "git" is used when the spec names none.
      { name: "RP_GIT_USERNAME", value: g.username ?? "git" },
      {
        name: "RP_GIT_PASSWORD",
        valueFrom: { secretKeyRef: { name: namedSecretObjectName(g.passwordSecret), key: SECRET_KEY } },
      },
    );
    config.push(["credential.helper", GIT_CREDENTIAL_HELPER]);
  }
  env.push({ name: "GIT_CONFIG_COUNT", value: String(config.length) });
  config.forEach(([k, v], i) => {
    env.push({ name: `GIT_CONFIG_KEY_${i}`, value: k }, { name: `GIT_CONFIG_VALUE_${i}`, value: v });
  });
  return {
    name: g.name,
    image,
    imagePullPolicy: "IfNotPresent",
    terminationMessagePolicy: "FallbackToLogsOnError",
    command: ["/bin/sh", "-c", GIT_CLONE_SCRIPT],
    env,
    volumeMounts: g.mounts,
  };
}

export interface ModelPullInput {
  name: string;
  id: string;
  path: string;
  mounts: V1VolumeMount[];
  /** Volume holding `config.json` (the dockerconfigjson Secret), when there is a registry credential. */
  registryConfigVolume?: string;
  /** The path is on the model cache (a PVC): skip the pull when this model's digest is already there. */
  cached?: boolean;
}

/** The marker a cached model leaves beside its files: `.rules-pipeline-model-<hex of its digest>`. */
export function modelMarker(id: string): string | undefined {
  const digest = pinnedDigest(id);
  return digest ? `.rules-pipeline-model-${digestHex(digest)}` : undefined;
}

/**
 * The cache script: run by /bin/sh in the ORAS image with `oras pull ...` as its arguments. The marker is
 * written only after a pull succeeds, so an interrupted pull is redone.
 */
export const MODEL_CACHE_SCRIPT = [
  "set -eu",
  'if [ -f "$RP_MODEL_DIR/$RP_MODEL_MARKER" ]; then echo "model $RP_MODEL_ID already in the cache at $RP_MODEL_DIR"; exit 0; fi',
  '"$@"',
  'touch "$RP_MODEL_DIR/$RP_MODEL_MARKER"',
  "",
].join("\n");

export function modelPullContainer(image: string, m: ModelPullInput): V1Container {
  const args = ["pull", m.id, "-o", m.path];
  const mounts = [...m.mounts];
  if (m.registryConfigVolume) {
    args.push("--registry-config", `${REGISTRY_CONFIG_DIR}/config.json`);
    mounts.push({ name: m.registryConfigVolume, mountPath: REGISTRY_CONFIG_DIR, readOnly: true });
  }
  const marker = m.cached ? modelMarker(m.id) : undefined;
  const common = {
    name: m.name,
    image,
    imagePullPolicy: "IfNotPresent",
    terminationMessagePolicy: "FallbackToLogsOnError",
  };
  if (!marker) return { ...common, command: ["oras"], args, volumeMounts: mounts };
  const env: V1EnvVar[] = [
    { name: "RP_MODEL_ID", value: m.id },
    { name: "RP_MODEL_DIR", value: m.path },
    { name: "RP_MODEL_MARKER", value: marker },
  ];
  return {
    ...common,
    command: ["/bin/sh", "-c", MODEL_CACHE_SCRIPT, "model-cache", "oras", ...args],
    env,
    volumeMounts: mounts,
  };
}
