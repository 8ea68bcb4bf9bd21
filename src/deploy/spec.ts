/**
 * Deployment specs (YAML or JSON, the Gradient model) → a validated DeploymentSpec with every default filled in:
 *
 *   image: registry.example.com/team/pipeline@sha256:...   # or a tag; or `interpreter: {type: ..., ...}`
 *   containerRegistry: team-registry                       # name of a registry credential (secrets.ts)
 *   command: [node, /app/serve.js]
 *   port: 8080                                             # also `ports: [...]`
 *   env: [{name: MODEL_BASE_PATH, value: /opt/models}]
 *   models: [{id: registry.example.com/models/resnet@sha256:..., path: /opt/models}]
 *   repositories: {dataset: repo-cache, mountPath: /opt/repos, repositories: [{url, name, ref, username, password: "SECRET:git-bot"}]}
 *   resources: {replicas: 2, instanceType: C4}             # `machineType` is the newer name; cpu, memory, gpu
 *   probes: {readiness: {http: /ready}}                    # cluster fields: spec-fields-cluster.ts, spec-cluster.ts
 *   securityContext: {runAsUser: 1000}                     # also job, modelCache, initImages
 *
 * Every problem is reported, one per line, as `FILE:LINE: PATH: problem (got VALUE)` in one E_SPEC error
 * (SpecError, whose `issues` keeps them structured). Plaintext passwords are refused and never echoed.
 */
import { basename, posix } from "node:path";
import { LineCounter, parseAllDocuments } from "yaml";
import { readNamedFileSync } from "../named-file";
import { parseReference } from "../oci/reference";
import {
  containerFromReference,
  ContainerAtDigest,
  ContainerAtTag,
  GitRepoBranch,
  GitRepoCommit,
  LockfileProject,
  NoCode,
  ServerAvailableFolder,
  ServerAvailableInterpreter,
} from "./constructors";
import { artifactsEnv } from "./spec-artifacts";
import { addClusterFields, resourcesOf } from "./spec-cluster";
import { type CheckedSpec, DEPLOYMENT_SPEC } from "./spec-fields";
import { SchemaError, type SpecIssue } from "../schema/validators";
import { SpecContext } from "./spec-schema";
import type {
  CodeDeployment,
  DeploymentSpec,
  EnvVar,
  GitRepositorySpec,
  InterpreterDeployment,
  ModelSpec,
  RepositoriesSpec,
} from "./types";

export type { JsonSchema, SpecIssue } from "../schema/validators";
export { deploymentSpecJsonSchema } from "./spec-fields";

export const SPEC_ERROR = "E_SPEC";

/** A deployment spec refused (E_SPEC), with every problem found, one per line; `issues` keeps them structured. */
export class SpecError extends SchemaError {
  constructor(file: string, issues: SpecIssue[]) {
    super(file, issues, SPEC_ERROR);
  }
}

export const DEFAULT_MODEL_PATH = "/opt/models";
export const DEFAULT_REPOS_MOUNT = "/opt/repos";
const MAX_SPEC_BYTES = 1024 * 1024;

export interface ParseSpecOptions {
  /** Told about things that are allowed but probably not meant (an image with both a tag and a digest). */
  warn?: (line: string) => void;
}

/** Parses and validates a spec; `file` names it in messages. Throws SpecError (E_SPEC) listing every problem. */
export function parseDeploymentSpec(text: string, file: string, opts: ParseSpecOptions = {}): DeploymentSpec {
  const lineCounter = new LineCounter();
  const docs = parseAllDocuments(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  const fail = (issues: SpecIssue[]): never => {
    throw new SpecError(file, issues);
  };
  const lineOf = (offset: number) => lineCounter.linePos(offset).line;
  if (docs.length > 1) {
    return fail([
      {
        path: "",
        line: lineOf(docs[1].range[0]),
        problem: "multiple YAML documents: a spec file holds one deployment",
        got: `${docs.length} documents`,
      },
    ]);
  }
  const doc = docs[0];
  if (!doc || (doc.contents === null && doc.errors.length === 0)) {
    return fail([{ path: "", problem: "empty document: expected a deployment spec (a mapping of fields)" }]);
  }
  const syntaxIssues = [...doc.errors, ...doc.warnings].map((e) => ({
    path: "",
    line: lineOf(e.pos[0]),
    problem: `YAML ${e.name === "YAMLWarning" ? "problem" : "syntax error"}: ${e.message.split("\n")[0]}`,
  }));
  if (syntaxIssues.length) return fail(syntaxIssues);

  const cx = new SpecContext(text, lineCounter, doc);
  const checked = DEPLOYMENT_SPEC(doc.contents, "", cx);
  const spec = checked ? build(checked, cx, file, opts) : undefined;
  if (cx.issues.length || !spec) return fail([...cx.issues].sort((a, b) => (a.line ?? 0) - (b.line ?? 0)));
  const where = (path: string) => {
    if (!cx.marked(path)) return undefined;
    const line = cx.where(path);
    return line !== undefined ? `${file}:${line}` : file;
  };
  LOCATIONS.set(spec, where);
  return spec;
}

const LOCATIONS = new WeakMap<DeploymentSpec, (path: string) => string | undefined>();

/** `FILE:LINE` of a field of a spec read by parseDeploymentSpec (e.g. `models[0].id`); undefined for specs built in code and absent fields. */
export function specFieldLocation(spec: DeploymentSpec, path: string): string | undefined {
  return LOCATIONS.get(spec)?.(path);
}

/** Reads and parses a spec file (YAML or JSON; at most 1 MiB). */
export function loadDeploymentSpec(path: string, opts: ParseSpecOptions = {}): DeploymentSpec {
  // The one reader of files a flag names (src/named-file.ts): a regular file of at most 1 MiB, a FIFO refused unopened.
  const text = readNamedFileSync(path, { what: "deployment spec", bound: MAX_SPEC_BYTES, code: "E_SPEC" }).toString(
    "utf8",
  );
  return parseDeploymentSpec(text, path, opts);
}

type Interpreter = NonNullable<CheckedSpec["interpreter"]>;
type Code = NonNullable<CheckedSpec["code"]>;
type Repositories = NonNullable<CheckedSpec["repositories"]>;

/** Applies defaults and cross-field rules to the checked fields; undefined when something is missing. */
function build(c: CheckedSpec, cx: SpecContext, file: string, opts: ParseSpecOptions): DeploymentSpec | undefined {
  const interpreter = interpreterOf(c, cx, opts);
  const code = codeOf(c.code, cx);
  if (c.resources?.instanceType !== undefined && c.resources.machineType !== undefined) {
    cx.report(
      "resources.machineType",
      cx.where("resources.machineType"),
      'give "instanceType" or its newer name "machineType", not both',
      JSON.stringify(c.resources.machineType),
    );
  }
  const noCode = c.code ? c.code.__valid && c.code.type === "None" : !c.__keys.includes("code");
  if (interpreter?.kind === "LockfileProject" && noCode) {
    cx.report(
      "code",
      cx.where(c.code ? "code" : "interpreter"),
      'LockfileProject needs a code deployment ("code:") holding package.json and the lockfile',
    );
  }
  const ports = portsOf(c, cx);
  const env = (c.env ?? []).map((e): EnvVar => ({ name: e.name, value: e.value }));
  duplicates(
    env.map((e) => e.name),
    "env",
    (i) => `env[${i}].name`,
    "duplicate environment variable",
    cx,
  );
  const fromArtifacts = artifactsEnv(c.artifacts, env, cx);
  env.push(...fromArtifacts);
  const models = modelsOf(c.models ?? [], cx);
  const repositories = repositoriesOf(c.repositories, cx);
  const name = c.name ?? defaultName(interpreter, code);
  if (name === undefined && interpreter) {
    cx.report(
      "name",
      cx.where(""),
      `missing required field "name" (it defaults to the image repository's last path part, and ${file} names no image)`,
    );
  }
  if (!interpreter || !c.__valid || name === undefined) return undefined;
  const spec: DeploymentSpec = { name, interpreter, code, ports, env, models, resources: resourcesOf(c.resources) };
  const before = cx.issues.length;
  addClusterFields(spec, c, cx);
  if (cx.issues.length !== before) return undefined;
  if (c.containerRegistry !== undefined) spec.containerRegistry = c.containerRegistry;
  if (c.command !== undefined) spec.command = c.command;
  if (c.args !== undefined) spec.args = c.args;
  if (c.workingDir !== undefined) spec.workingDir = c.workingDir;
  if (c.requireSignature !== undefined) spec.requireSignature = c.requireSignature;
  if (spec.admission && spec.requireSignature === undefined) {
    cx.report(
      "admission",
      cx.where("admission"),
      'an admission policy needs "requireSignature" (the public key it admits images signed with)',
    );
    return undefined;
  }
  if (repositories) spec.repositories = repositories;
  const artifacts = fromArtifacts.find((e) => e.name === "PIPELINE_ARTIFACTS");
  if (artifacts) spec.artifacts = artifacts.value;
  return spec;
}

function interpreterOf(c: CheckedSpec, cx: SpecContext, opts: ParseSpecOptions): InterpreterDeployment | undefined {
  const hasImage = c.__keys.includes("image");
  const hasInterpreter = c.__keys.includes("interpreter");
  if (hasImage && hasInterpreter) {
    cx.report("interpreter", cx.where("interpreter"), 'give either "image" or "interpreter", not both');
    return undefined;
  }
  if (!hasImage && !hasInterpreter) {
    cx.report("image", cx.where(""), 'missing required field "image" (or "interpreter")');
    return undefined;
  }
  if (c.image !== undefined) {
    const ref = parseReference(c.image);
    if (ref.digest && ref.tag)
      opts.warn?.(`image ${c.image}: has both a tag and a digest; the digest is used, the tag "${ref.tag}" is ignored`);
    return containerFromReference(c.image);
  }
  const i: Interpreter | undefined = c.interpreter;
  if (!i?.__valid) return undefined;
  switch (i.type) {
    case "ContainerAtTag":
      return ContainerAtTag(i.repository, i.tag ?? "latest");
    case "ContainerAtDigest":
      return ContainerAtDigest(i.repository, i.digest);
    case "ServerAvailableInterpreter":
      return ServerAvailableInterpreter(i.nodePath);
    case "LockfileProject":
      return LockfileProject(i.lockfile ?? "package-lock.json");
  }
}

function codeOf(c: Code | undefined, cx: SpecContext): CodeDeployment {
  if (!c?.__valid) return NoCode();
  switch (c.type) {
    case "GitRepoBranch":
      return GitRepoBranch(c.repoUrl, c.branch ?? "main");
    case "GitRepoCommit":
      return GitRepoCommit(c.repoUrl, c.commit);
    case "ServerAvailableFolder": {
      const before = cx.issues.length;
      duplicates(c.codePaths.map(normalizePath), "code.codePaths", (i) => `code.codePaths[${i}]`, "duplicate path", cx);
      return cx.issues.length === before ? ServerAvailableFolder(c.codePaths) : NoCode();
    }
    case "None":
      return NoCode();
  }
}

/** `port` then `ports`, in order; a port listed twice in `ports` is an error, `port` repeated in `ports` is merged. */
function portsOf(c: CheckedSpec, cx: SpecContext): number[] {
  const list = c.ports ?? [];
  duplicates(list, "ports", (i) => `ports[${i}]`, "duplicate port", cx);
  const out: number[] = [];
  for (const p of [...(c.port !== undefined ? [c.port] : []), ...list]) if (!out.includes(p)) out.push(p);
  return out;
}

/**
 * Each model with its path (default /opt/models, normalized). A path given but invalid stays undefined (reported
 * already, so the spec is refused), so it is neither taken for the default nor compared; that model is left out.
 */
function modelsOf(list: NonNullable<CheckedSpec["models"]>, cx: SpecContext): ModelSpec[] {
  const paths = list.map((m) => (m.__keys.includes("path") ? m.path && normalizePath(m.path) : DEFAULT_MODEL_PATH));
  duplicates(paths, "models", (i) => `models[${i}].path`, "path already used by another model", cx);
  return list.flatMap((m, i) => {
    const path = paths[i];
    return path === undefined ? [] : [{ id: m.id, path }];
  });
}

function repositoriesOf(r: Repositories | undefined, cx: SpecContext): RepositoriesSpec | undefined {
  if (!r?.repositories) return undefined;
  const repos = r.repositories.map((e): GitRepositorySpec => {
    const out: GitRepositorySpec = { url: e.url, name: e.name };
    if (e.ref !== undefined) out.ref = e.ref;
    if (e.username !== undefined) out.username = e.username;
    if (e.password !== undefined) out.password = e.password;
    return out;
  });
  duplicates(
    repos.map((e) => e.name),
    "repositories.repositories",
    (i) => `repositories.repositories[${i}].name`,
    "duplicate repository name (each is cloned to mountPath/name)",
    cx,
  );
  return { dataset: r.dataset, mountPath: normalizePath(r.mountPath ?? DEFAULT_REPOS_MOUNT), repositories: repos };
}

/** Reports each value seen before, at its own path, naming the first occurrence. */
function duplicates<T extends string | number>(
  values: (T | undefined)[],
  listPath: string,
  pathOf: (i: number) => string,
  problem: string,
  cx: SpecContext,
): void {
  const first = new Map<T, number>();
  values.forEach((v, i) => {
    if (v === undefined) return; // invalid, reported already
    const j = first.get(v);
    if (j === undefined) first.set(v, i);
    else
      cx.report(
        pathOf(i),
        cx.where(pathOf(i)),
        `${problem} (already at ${listPath}[${j}])`,
        typeof v === "string" ? JSON.stringify(v) : String(v),
      );
  });
}

function normalizePath(p: string): string {
  const n = posix.normalize(p);
  return n.length > 1 ? n.replace(/\/+$/, "") : n;
}

/** A DNS-1123 label from a name: lowercase, other characters → '-', at most 63. */
export function toDnsLabel(s: string): string | undefined {
  const label = s
    .toLowerCase()
    .replace(/[^a-z0-9-]+/g, "-")
    .replace(/-+/g, "-")
    .replace(/^-+/, "")
    .slice(0, 63)
    .replace(/-+$/, "");
  return label || undefined;
}

/** The image repository's last path part; for other interpreters the git repository's or folder's name. */
export function defaultName(interpreter: InterpreterDeployment | undefined, code: CodeDeployment): string | undefined {
  if (interpreter && (interpreter.kind === "ContainerAtTag" || interpreter.kind === "ContainerAtDigest")) {
    return toDnsLabel(interpreter.repository.slice(interpreter.repository.lastIndexOf("/") + 1));
  }
  if (code.kind === "GitRepoBranch" || code.kind === "GitRepoCommit") {
    return toDnsLabel(basename(code.repoUrl.replace(/[?#].*$/, "").replace(/\/+$/, "")).replace(/\.git$/, ""));
  }
  if (code.kind === "ServerAvailableFolder") return toDnsLabel(basename(code.codePaths[0]));
  return undefined;
}
