/** Error codes of building images: inputs, layers, layouts, base images, lockfile builds. */
import type { ErrorDoc } from "./entry";

export const BUILD_ERRORS = {
  E_BAD_INPUT: {
    meaning: "An input file (a lockfile, a JSON file the rules wrote) cannot be read or is not what it should be.",
    next: "Check that the named file exists and is readable; if Bazel wrote it, rebuild the target.",
    example: "lockfile package-lock.json: cannot read it (ENOENT)",
  },
  E_BAD_DIGEST: {
    meaning: 'A value that should be a digest is not "sha256:" followed by 64 lower-case hex digits.',
    next: "Fix the named value; copy digests from `pipeline` output or a `.digest` file, not by hand.",
    example: 'image: expected a digest "sha256:<64 hex>", got "sha256:abc"',
  },
  E_BAD_DESCRIPTOR: {
    meaning:
      "A descriptor in a manifest, an index or a layout's index.json has no valid size (a non-negative integer) or media type (type/subtype), or a `urls` that is not a list of strings.",
    next: "The image was written wrong: rebuild or re-push it with a conforming tool; the message names the descriptor and the value.",
    example:
      'manifest sha256:... of localhost:5000/team/app:v1: layers[0].size: expected a size in bytes (a non-negative integer), got "12"',
  },
  E_BAD_REFERENCE: {
    meaning: "An image reference (HOST/REPOSITORY[:TAG][@DIGEST]) or a repository override does not parse.",
    next: "Write the reference as HOST/REPOSITORY:TAG or HOST/REPOSITORY@sha256:...; the message names the field.",
    example: '--repository: expected HOST/REPOSITORY (e.g. localhost:5000/team/app), got "app"',
  },
  E_BAD_PLATFORM: {
    meaning: "A platform is not written as OS/ARCH[/VARIANT].",
    next: "Use a platform such as linux/amd64 or linux/arm64/v8.",
    example: '--platform: expected OS/ARCH[/VARIANT], got "amd64"',
  },
  E_PLATFORM: {
    meaning: "No image matches the requested platform (or an index would be empty).",
    next: "Pick a platform the image provides (the message lists them) or build the image for yours.",
    example: "base: no manifest for linux/arm64 in index sha256:... (has: linux/amd64)",
  },
  E_BAD_ENV: {
    meaning: "An environment variable of the image config has an invalid name.",
    next: "Use names of letters, digits and '_' without '='.",
    example: 'env: invalid variable name "A=B"',
  },
  E_BAD_PORT: {
    meaning: "An exposed port is not written as PORT or PORT/PROTOCOL.",
    next: 'Write ports as "8080" or "8080/tcp".',
    example: 'exposed_ports: expected "8080" or "8080/tcp", got "http"',
  },
  E_BAD_VOLUME: {
    meaning: "A volume of the image config is not an absolute path.",
    next: "Give volumes as absolute paths in the container.",
    example: 'volumes: expected an absolute path, got "data"',
  },
  E_MTIME: {
    meaning: "The modification time given for layer entries is not a non-negative whole number of seconds.",
    next: "Give mtime as seconds since 1970-01-01 (0 for reproducible layers).",
    example: "mtime must be a non-negative integer number of seconds, got -1",
  },
  E_SOURCE_DATE_EPOCH: {
    meaning: "$SOURCE_DATE_EPOCH is set but is not a non-negative whole number of seconds.",
    next: "Unset it or set it to seconds since 1970-01-01.",
    example: 'SOURCE_DATE_EPOCH must be a non-negative integer (seconds since 1970-01-01), got "yesterday"',
  },
  E_LAYER_INPUT: {
    meaning: "A file that should go into a layer cannot be read or is of a kind a layer cannot hold.",
    next: "Check the named file; sockets and devices cannot go into layers.",
    example: "cannot read layer input bazel-out/k8-fastbuild/bin/app/main.js: EACCES",
  },
  E_LAYER_DEST: {
    meaning: "A destination path inside a layer is not allowed (absolute escape, '..', empty segments).",
    next: "Use a normalized path inside the image, such as app/main.js.",
    example: 'layer destination "../etc/passwd" is not allowed: it leaves the image root',
  },
  E_LAYER_CONFLICT: {
    meaning: "Two inputs would write the same path of a layer.",
    next: "Keep one of the two named origins, or give them different destinations.",
    example: 'layer destination "app/index.js" is given twice with different contents: //app:lib and //app:gen',
  },
  E_LAYER_WRITE: {
    meaning: "A layer cannot be written to disk.",
    next: "Check free space and permissions of the output directory.",
    example: "cannot write layer bazel-out/.../layer.tar.gz: ENOSPC",
  },
  E_LAYER_UNSAFE: {
    meaning: "A layer holds an entry the safe unpacker refuses (a path leaving the root, a link out of it, a device).",
    next: "Rebuild the image from trusted inputs; do not use a layer that escapes its root.",
    example: 'layer sha256:...: entry "../../etc/shadow": path leaves the root',
  },
  E_LAYER_TOO_LARGE: {
    meaning: "A layer (or a model directory) is larger than the limit.",
    next: "Raise the limit named in the message or make the layer smaller.",
    example: "layer sha256:... unpacks to more than 20 GiB (--max-layer-size)",
  },
  E_NO_SPACE: {
    meaning: "Unpacking would leave less free space than the reserve on the target file system.",
    next: "Free disk space or unpack somewhere else.",
    example: "unpacking needs 2.1 GiB but /var/cache has 1.0 GiB free beyond the 1 GiB reserve",
  },
  E_TAR: {
    meaning: "A tar stream cannot be written (an entry too long or of an unsupported kind).",
    next: "Shorten the named path or leave the entry out.",
    example: 'tar entry "a/very/long/path...": name longer than the 8 KiB limit',
  },
  E_TAR_READ: {
    meaning: "A tar stream (a layer) is truncated or malformed.",
    next: "Pull or build the layer again; a registry or cache may hold a damaged copy.",
    example: "layer sha256:... of the Node image: not a valid gzip stream (unexpected end of file)",
  },
  E_GZIP: {
    meaning: "Compressing a layer failed.",
    next: "Retry; if it persists, report it with the message.",
    example: "deflate failed: out of memory",
  },
  E_UNPACK: {
    meaning: "A layer cannot be read while unpacking it.",
    next: "Check the layer file named in the message; pull or build it again.",
    example: "layer sha256:...: cannot read it: ENOENT",
  },
  E_DIGEST_MISMATCH: {
    meaning: "Content does not have the digest or size it was announced with.",
    next: "Pull or build again; if a registry keeps serving it, the registry holds damaged content.",
    example: "blob sha256:...: content is longer than the 1024 bytes expected",
  },
  E_LAYOUT: {
    meaning: "An OCI image layout directory is missing, unreadable or malformed.",
    next: "Point at a directory with oci-layout and index.json (what `bazel build //pkg:NAME_image` writes).",
    example: "OCI layout dist/app: cannot read index.json: ENOENT",
  },
  E_LAYOUT_WRITE: {
    meaning: "An OCI image layout cannot be written.",
    next: "Check free space and permissions of the output directory.",
    example: "write made no progress",
  },
  E_TARBALL: {
    meaning: "A docker-archive tarball cannot be written.",
    next: "Check free space and permissions of the output path.",
    example: "docker archive bazel-bin/app/app_load.tar: ENOSPC",
  },
  E_VERIFY: {
    meaning: "verify-image cannot read the image it is asked to check.",
    next: "Check the layout or tarball path; rebuild the image.",
    example: "layer sha256:...: cannot read it: ENOENT",
  },
  E_NOT_ELF: {
    meaning: "A file that should be a Linux executable (e.g. the host's node) is not an ELF binary.",
    next: "Point at the real binary, not a wrapper script.",
    example: "/usr/local/bin/node is not a Linux (ELF) executable",
  },
  E_BASE: {
    meaning: "A base image cannot be made (Node cannot be extracted from its image or added to a base).",
    next: "Check the base image and the Node image named in the message.",
    example: "cannot extract /usr/local/bin/node from layer sha256:... to /tmp/...: ENOENT",
  },
  E_HOST_NODE: {
    meaning: "A base image from the host's Node cannot be made (node or its libraries not found).",
    next: "Make sure `node` is on PATH and `ldd $(which node)` lists its libraries.",
    example: "node not found on PATH: the host_node base needs it",
  },
  E_NPM: {
    meaning: "npm is missing or `npm ci` failed in a --lockfile build.",
    next: "Install npm; fix the lockfile so `npm ci` passes in the project directory.",
    example: "npm is not on PATH: a --lockfile build runs `npm ci` to install the project's dependencies",
  },
  E_NPM_NETWORK: {
    meaning: "`npm ci` could not reach the npm registry.",
    next: "Restore network access to the registry or warm the npm cache first.",
    example:
      "npm ci could not reach the npm registry (https://registry.npmjs.org/): a --lockfile build needs it, or a warm npm cache.",
  },
  E_INSTALL_SCRIPTS: {
    meaning: "A package named to run its install scripts is not one the lockfile installs.",
    next: "Name packages that are in the lockfile.",
    example: '--allow-install-scripts "esbuil": not a package package-lock.json installs',
  },
  E_LOCKFILE_VERSION: {
    meaning:
      "A lockfile's kind or version is not one rules_pipeline installs (pnpm-lock.yaml v9, yarn.lock classic or berry, package-lock.json v2/v3).",
    next: "Regenerate the lockfile with a supported package manager version, or name a supported lockfile.",
    example:
      "pnpm-lock.yaml: lockfileVersion '6.0' is not supported: regenerate it with pnpm 9 (lockfileVersion '9.0')",
  },
  E_INTEGRITY: {
    meaning: "A package manager downloaded to install a lockfile does not have the integrity rules_pipeline pins.",
    next: "Check the npm registry or proxy in use (it served other bytes); clear the tools cache (lockfile/tools) and retry.",
    example:
      "https://registry.npmjs.org/pnpm/-/pnpm-9.15.9.tgz: integrity sha512-… is not the pinned sha512-…; not using it",
  },
  E_RUNTIME_LIB: {
    meaning: "The runtime library (@rules_pipeline/runtime) cannot be provided to a lockfile build.",
    next: "Reinstall the CLI package; it ships the compiled runtime library.",
    example: "the runtime library is only available as index.ts, and esbuild is missing",
  },
  E_CACHE: {
    meaning: "The local cache cannot store an entry.",
    next: "Check free space and permissions of the cache directory.",
    example: "cannot store the node_modules layer in ~/.cache/rules_pipeline/...: EACCES",
  },
  E_CACHE_LOCKED: {
    meaning: "The cache directory is being pruned by another process.",
    next: "Wait for that process to finish, then retry.",
    example: "cache directory ~/.cache/rules_pipeline is being pruned by pid 4242 (...)",
  },
  E_STAMP: {
    meaning: "A workspace status file (stamping) cannot be read.",
    next: "Rebuild with --stamp; check --workspace_status_command.",
    example: "stable status bazel-out/stable-status.txt: cannot read the workspace status file (ENOENT)",
  },
} satisfies Record<`E_${string}`, ErrorDoc>;
