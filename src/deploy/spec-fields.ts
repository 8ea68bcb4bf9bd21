/**
 * The deployment spec's schema (the Gradient model): which fields exist, their types and the checks on
 * each value. Cross-field rules (exactly one of image/interpreter, duplicates, defaults) are in spec.ts.
 */
import { SECRET_NAME } from "./secrets";
import { endpointProblem, prefixProblem } from "./spec-artifacts";
import { bucketNameProblem } from "../runtime/s3";
import { CLUSTER_FIELDS } from "./spec-fields-cluster";
import {
  absolutePathProblem,
  branchProblem,
  commitProblem,
  digestProblem,
  gitUrlProblem,
  imageReferenceProblem,
  mountPathProblem,
  relativePathProblem,
  repositoryProblem,
  tagProblem,
} from "./constructors";
import {
  type Fields,
  type Infer,
  int,
  type JsonSchema,
  list,
  obj,
  str,
  tagged,
  type V,
  viewAt,
  withSchema,
} from "../schema/validators";
import type { SecretRef } from "./types";

export const SECRET_PREFIX = "SECRET:";
const DNS_LABEL = /^[a-z0-9](?:[-a-z0-9]{0,61}[a-z0-9])?$/;
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const DIR_NAME = /^[A-Za-z0-9._-]+$/;

export function dnsLabelProblem(s: string): string | undefined {
  return DNS_LABEL.test(s)
    ? undefined
    : "expected a DNS-1123 label: at most 63 characters, lowercase letters, digits and '-', starting and ending with a letter or digit";
}

function secretNameProblem(s: string): string | undefined {
  return SECRET_NAME.test(s) ? undefined : "expected the name of a credential (letters, digits, '.', '_', '-')";
}

function envNameProblem(s: string): string | undefined {
  return ENV_NAME.test(s) ? undefined : "expected an environment variable name [A-Za-z_][A-Za-z0-9_]*";
}

function dirNameProblem(s: string): string | undefined {
  return DIR_NAME.test(s) && s !== "." && s !== ".."
    ? undefined
    : "expected a directory name of letters, digits, '.', '_', '-' (not '.' or '..')";
}

function nonEmpty(s: string): string | undefined {
  return s === "" ? "must not be empty" : undefined;
}

function refProblem(s: string): string | undefined {
  return branchProblem(s) ? "expected a branch, tag or commit (a git ref name)" : undefined;
}

/**
 * `SECRET:name`. Anything else is refused as a plaintext value, and the value is never echoed: the message
 * says "a plaintext value" instead.
 */
export const secretRef: V<SecretRef> = withSchema<SecretRef>(
  (node, path, cx) => {
    const n = viewAt(cx, node, path);
    const line = n.line;
    const expected = `must be a secret reference "${SECRET_PREFIX}name" naming a secret, not a plaintext value`;
    const value = n.kind === "scalar" ? n.value : undefined;
    if (typeof value === "string" && value.startsWith(SECRET_PREFIX)) {
      const name = value.slice(SECRET_PREFIX.length);
      const problem = secretNameProblem(name);
      if (problem) {
        cx.report(path, line, `secret reference: ${problem}`, cx.describe(node));
        return undefined;
      }
      return { secret: name };
    }
    if (n.kind === "scalar" && (value === null || value === "")) cx.report(path, line, expected, cx.describe(node));
    else if (typeof value === "string" && /^secret:/i.test(value))
      cx.report(path, line, `${expected} (the prefix is upper-case: SECRET:)`, "a plaintext value");
    else if (n.kind === "scalar") cx.report(path, line, expected, "a plaintext value");
    else cx.report(path, line, expected, cx.describe(node));
    return undefined;
  },
  {
    type: "string",
    pattern: `^${SECRET_PREFIX}${SECRET_NAME.source.slice(1, -1)}$`,
    description: "SECRET:name, a named secret (never a plaintext value)",
  },
);

const port = int(1, 65535, "a port number (an integer 1-65535)");

export const INTERPRETER_TYPES = {
  ContainerAtTag: { repository: { v: str(repositoryProblem), required: true }, tag: { v: str(tagProblem) } },
  ContainerAtDigest: {
    repository: { v: str(repositoryProblem), required: true },
    digest: { v: str(digestProblem), required: true },
  },
  ServerAvailableInterpreter: { nodePath: { v: str(absolutePathProblem), required: true } },
  LockfileProject: { lockfile: { v: str(relativePathProblem) } },
} satisfies Record<string, Fields>;

export const CODE_TYPES = {
  GitRepoBranch: { repoUrl: { v: str(gitUrlProblem), required: true }, branch: { v: str(branchProblem) } },
  GitRepoCommit: {
    repoUrl: { v: str(gitUrlProblem), required: true },
    commit: { v: str(commitProblem), required: true },
  },
  ServerAvailableFolder: {
    codePaths: {
      v: list(str(absolutePathProblem), {
        nonEmpty: "expected at least one path (the first is the working directory)",
      }),
      required: true,
    },
  },
  None: {},
} satisfies Record<string, Fields>;

const envVar = obj(
  {
    name: { v: str(envNameProblem, { pattern: ENV_NAME.source }), required: true },
    value: { v: str(), required: true },
  },
  "a mapping {name, value}",
);

const model = obj(
  {
    id: { v: str(imageReferenceProblem), required: true },
    path: { v: str(mountPathProblem), doc: "where the model is mounted; default /opt/models" },
  },
  "a mapping {id, path}",
);

const gitRepository = obj(
  {
    url: { v: str(gitUrlProblem), required: true },
    name: { v: str(dirNameProblem, { pattern: DIR_NAME.source }), required: true, doc: "directory under mountPath" },
    ref: { v: str(refProblem), doc: "branch, tag or commit to check out (default: the remote's HEAD)" },
    username: { v: str(nonEmpty) },
    password: { v: secretRef },
  },
  "a mapping {url, name, ref, username, password}",
);

/** `artifacts` (spec-artifacts.ts: what it becomes). */
const ARTIFACTS_FIELD = {
  v: obj({
    s3: {
      v: obj({
        bucket: { v: str(bucketNameProblem), required: true, doc: "the bucket" },
        prefix: { v: str(prefixProblem), doc: "key prefix in the bucket (default: none)" },
        endpoint: { v: str(endpointProblem), doc: "an S3-compatible server's URL (default: AWS)" },
        region: { v: str((s) => (s ? undefined : "must not be empty")), doc: "default us-east-1" },
        accessKeyId: { v: secretRef, doc: "SECRET:name of the access key id (with secretAccessKey)" },
        secretAccessKey: { v: secretRef, doc: "SECRET:name of the secret access key (with accessKeyId)" },
      }),
      required: true,
    },
  }),
  doc: "where the pipeline's maps keep items and results (docs/scale-out.md): {s3: {bucket, prefix, endpoint, region, accessKeyId, secretAccessKey}}",
};

export const SPEC_FIELDS = {
  name: {
    v: str(dnsLabelProblem, { pattern: DNS_LABEL.source }),
    doc: "DNS-1123 label; default: the image repository's last path part",
  },
  image: {
    v: str(imageReferenceProblem),
    doc: "HOST/REPOSITORY:TAG (resolved to a digest once per run) or HOST/REPOSITORY@sha256:...",
  },
  interpreter: { v: tagged(INTERPRETER_TYPES), doc: "instead of image: what the code runs with" },
  code: { v: tagged(CODE_TYPES), doc: "what code is added (default: none)" },
  containerRegistry: {
    v: str(secretNameProblem, { pattern: SECRET_NAME.source }),
    doc: "name of the registry credential used to pull the image",
  },
  command: {
    v: list(str(nonEmpty), { nonEmpty: "expected at least one element (the program to run)" }),
    doc: "replaces the image's entrypoint and cmd",
  },
  args: { v: list(str()), doc: "arguments appended to the command" },
  workingDir: { v: str(absolutePathProblem), doc: "working directory in the container" },
  port: { v: port },
  ports: { v: list(port) },
  env: { v: list(envVar) },
  models: { v: list(model), doc: "model artifacts; path defaults to /opt/models" },
  repositories: {
    v: obj({
      dataset: {
        v: str(dirNameProblem, { pattern: DIR_NAME.source }),
        required: true,
        doc: "where clones are kept between runs",
      },
      mountPath: {
        v: str(mountPathProblem),
        doc: "where the repositories are mounted, each at mountPath/name; default /opt/repos",
      },
      repositories: { v: list(gitRepository, { nonEmpty: "expected at least one repository" }), required: true },
    }),
  },
  requireSignature: {
    v: str(nonEmpty),
    doc: "PEM public key (cosign.pub), relative to the spec's directory: run or deploy only an image whose signature verifies with it",
  },
  artifacts: ARTIFACTS_FIELD,
  ...CLUSTER_FIELDS,
} satisfies Fields;

/** The deployment spec's top-level mapping; `CheckedSpec` is what it gives, the type spec.ts builds a DeploymentSpec from. */
export const DEPLOYMENT_SPEC = obj(SPEC_FIELDS, "a mapping of deployment fields (image, command, port, ...)");
export type CheckedSpec = Infer<typeof DEPLOYMENT_SPEC>;

/** The spec as a JSON Schema (draft 2020-12), e.g. for yaml-language-server; parseDeploymentSpec is the authority. */
export function deploymentSpecJsonSchema(): JsonSchema {
  const top = obj(SPEC_FIELDS).schema;
  return {
    $schema: "https://json-schema.org/draft/2020-12/schema",
    title: "rules_pipeline deployment spec",
    ...top,
    oneOf: [{ required: ["image"] }, { required: ["interpreter"] }],
  };
}
