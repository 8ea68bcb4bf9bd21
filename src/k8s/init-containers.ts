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
 * Default images are pinned tags, placeholders to mirror into a registry you control (and pin by digest).
 */
import type { V1Container, V1EnvVar, V1VolumeMount } from "@kubernetes/client-node";
import { namedSecretObjectName, SECRET_KEY } from "./names";

export { DEFAULT_GIT_IMAGE, DEFAULT_ORAS_IMAGE } from "./default-images";
/** Where the registry docker config is mounted in ORAS init containers. */
export const REGISTRY_CONFIG_DIR = "/etc/rules-pipeline/registry";

/**
 * The clone script. It reads RP_GIT_URL, RP_GIT_DEST and optionally RP_GIT_REF; it removes RP_GIT_DEST first
 * so a restarted init container starts clean.
 */
export const GIT_CLONE_SCRIPT = [
  "set -eu",
  'rm -rf "$RP_GIT_DEST"',
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
export const GIT_CREDENTIAL_HELPER = '!f() { test "$1" = get || exit 0; echo "username=$RP_GIT_USERNAME"; echo "password=$RP_GIT_PASSWORD"; }; f';

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
  if (g.passwordSecret) {
    env.push(
      // Any user name works with a token on the common hosts; "git" is used when the spec names none.
      { name: "RP_GIT_USERNAME", value: g.username ?? "git" },
      { name: "RP_GIT_PASSWORD", valueFrom: { secretKeyRef: { name: namedSecretObjectName(g.passwordSecret), key: SECRET_KEY } } },
      { name: "GIT_CONFIG_COUNT", value: "1" },
      { name: "GIT_CONFIG_KEY_0", value: "credential.helper" },
      { name: "GIT_CONFIG_VALUE_0", value: GIT_CREDENTIAL_HELPER },
    );
  }
  return {
    name: g.name,
    image,
    imagePullPolicy: "IfNotPresent",
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
}

export function modelPullContainer(image: string, m: ModelPullInput): V1Container {
  const args = ["pull", m.id, "-o", m.path];
  const mounts = [...m.mounts];
  if (m.registryConfigVolume) {
    args.push("--registry-config", `${REGISTRY_CONFIG_DIR}/config.json`);
    mounts.push({ name: m.registryConfigVolume, mountPath: REGISTRY_CONFIG_DIR, readOnly: true });
  }
  return { name: m.name, image, imagePullPolicy: "IfNotPresent", command: ["oras"], args, volumeMounts: mounts };
}
