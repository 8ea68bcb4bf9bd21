/** Error codes of the command line, the launchers, the runtime library and the local container runner. */
import type { ErrorDoc } from "./entry";

export const RUN_ERRORS = {
  E_USAGE: {
    meaning: "The command line is wrong: an unknown flag, a missing argument, a value of the wrong form (exit code 2).",
    next: "Read `pipeline COMMAND --help`; the message names the flag and the value received.",
    example: '--max-age: expected a duration like 90s, 30m, 12h, 7d or 2w, got "soon"',
  },
  E_BAD_OPTION: {
    meaning: "A library call got a bad option value (the CLI reports it as a usage error naming the flag).",
    next: "Fix the option named in the message.",
    example: 'runOnKubernetes: give "instanceType" or its newer name "machineType", not both',
  },
  E_ABORTED: {
    meaning: "The operation was interrupted (Ctrl-C, SIGTERM, or a caller's abort).",
    next: "Nothing, unless it was not you: then look for what sent the signal.",
    example: "interrupted",
  },
  E_LAUNCH: {
    meaning: "The launch script of a target cannot be started.",
    next: "Rebuild the target; check that Node is available to it.",
    example: "cannot start the launch script: spawn node ENOENT",
  },
  E_LAUNCH_CONFIG: {
    meaning: "The launch config a Bazel launcher reads is missing or malformed.",
    next: "Rebuild the target (the rules write this file); do not edit it.",
    example:
      'launch config bazel-bin/app/app.launch.json (malformed: rebuild the target): mode: expected one of "push", "run", "binary", "local" (got "ship")',
  },
  E_RUNFILES: {
    meaning: "A launcher's runfiles (the built files it needs) cannot be found.",
    next: "Run the target with `bazel run` or its launcher in bazel-bin, not a copied script.",
    example: "PIPELINE_RUNFILES_DIR is not set: run this target with `bazel run` or its launcher",
  },
  E_BAD_IMAGE_URIS: {
    meaning:
      "The image variables the launcher hands to the launch script ($PIPELINE_CONTAINER_IMAGE_URIS) are malformed.",
    next: "Do not set these variables by hand; run the target through Bazel.",
    example: 'PIPELINE_CONTAINER_IMAGE_URIS: expected a JSON object, got "[]"',
  },
  E_BAD_TARGET: {
    meaning: "$PIPELINE_TARGET names no known run target.",
    next: "Set it to one of the values the message lists, or unset it.",
    example: 'PIPELINE_TARGET: expected one of local, container, kubernetes, got "cloud"',
  },
  E_NO_CONTAINER_IMAGE: {
    meaning: "A launch script asked for a container image this run does not have (e.g. under NAME_local).",
    next: "Run the target that builds images (NAME or NAME_binary), or guard with hasContainerImage().",
    example: 'no container image named "worker"; this run has: "app"',
  },
  E_IMAGE_NOT_PUSHED: {
    meaning: "A launch script asked to run an image on a cluster, but the image was built and not pushed.",
    next: "Run `bazel run //pkg:NAME`, which pushes the image first.",
    example:
      'image "app" was built but not pushed (`:NAME_binary`): a cluster cannot pull it; run `bazel run //pkg:NAME`, which pushes it first',
  },
  E_RUN_CONTAINER: {
    meaning: "runInContainer cannot start the `pipeline run` it runs the image with.",
    next: "Check that the CLI is installed beside the runtime library (the launchers set it up; library users install it).",
    example: "cannot start `pipeline run`: spawn pipeline ENOENT",
  },
  E_RUN_KUBERNETES: {
    meaning: "runOnKubernetes cannot start the `pipeline run --on kubernetes` it runs the image with.",
    next: "Check that the CLI is installed beside the runtime library (the launchers set it up; library users install it).",
    example: "cannot start `pipeline run`: spawn pipeline ENOENT",
  },
  E_MAP_TASK: {
    meaning:
      "An item of a map failed for good: its task threw, timed out or crashed on every attempt (--retries). The message names the item's index and line, the task's error and the last lines of its log.",
    next: "Fix the task or the item; the items whose results were stored are not run again when you run the map again.",
    example:
      'task pkg/score.js#score: item 17 (line 18 of items.jsonl) failed after 3 attempts: score: "abc" is not a number',
  },
  E_MAP_ITEM: {
    meaning:
      "An item or a result of a map cannot be stored: an items line is not JSON (or too long), or the task returned something that is not a JSON value or bytes (a function, a BigInt, a cycle, a Date).",
    next: "Fix the line or the value named in the message: items and results are JSON values or byte buffers.",
    example: 'items.jsonl:4: not JSON (Unexpected token \'x\', "x" is not valid JSON): "x"',
  },
  E_MAP_TASK_NOT_FOUND: {
    meaning:
      "A map's task is not part of the pipeline's code: the module is missing, does not load, or has no such exported function.",
    next: "Name a module of the pipeline (--task FILE#EXPORT, or runMap's task.module) and a function it exports.",
    example: 'task pkg/score.js#scor: the module exports no "scor"',
  },
  E_MAP_TARGET: {
    meaning:
      "A map cannot run where it was asked to: an unknown target, a store the target cannot reach (a directory for pods), more indexes than a Job takes, or an image without the map worker.",
    next: "Do what the message names: another target, --artifacts s3://BUCKET/PREFIX, a larger --chunk-size, or a rebuilt image.",
    example:
      "--on kubernetes: the store /home/me/.cache/rules_pipeline/maps/ is a directory on this machine, which the pods cannot reach: give --artifacts s3://BUCKET/PREFIX",
  },
  E_MAP_STORE: {
    meaning:
      "The object store of a map (an S3-compatible bucket, or a directory) cannot be read or written: it does not exist, does not answer, or refused the credential.",
    next: "Check the bucket, endpoint and region named in the message, and the AWS credential the chain gives (AWS_PROFILE, AWS_ACCESS_KEY_ID).",
    example: "s3://maps/runs/: the bucket refused the credential (HTTP 403 SignatureDoesNotMatch)",
  },
  E_MAP_STORE_TOO_LARGE: {
    meaning: "An object read from a map's store is larger than the bound the reader holds in memory.",
    next: "Raise the bound named in the message (--max-item-size), or pass large inputs by reference (a key or a URL) instead of by value.",
    example: "s3://maps/runs/blobs/sha256/3f2a…: 80000000 bytes, above the limit of 67108864",
  },
  E_RUN_MAP: {
    meaning: "runMap cannot start the `pipeline map` it runs the map with, or it ended without saying why.",
    next: "Check that the CLI is installed beside the runtime library (the launchers set it up; library users install it).",
    example: "cannot start `pipeline map`: spawn pipeline ENOENT",
  },
  E_RUN_HOST: {
    meaning: "A process on the host (ServerAvailableInterpreter) cannot be started.",
    next: "Check the nodePath of the spec.",
    example: "cannot start /usr/bin/node: spawn /usr/bin/node ENOENT",
  },
  E_RUN_NO_COMMAND: {
    meaning: "There is nothing to run: the image has no Entrypoint or Cmd and no command was given.",
    next: "Give `command` in the spec or arguments on the command line.",
    example: "nothing to run: the image has no Entrypoint or Cmd and no command or arguments were given",
  },
  E_RUN_UNRESOLVED: {
    meaning: "The local runner got an image by tag (or a branch) that was not pinned first.",
    next: "Resolve the deployment first (the CLI does it; library users call resolveDeployment).",
    example: "image r.example.com/team/app:v1 is not pinned: resolve the deployment first (resolveDeployment)",
  },
  E_RUN_UNSUPPORTED: {
    meaning: "The local runner cannot run this combination of interpreter and code.",
    next: "Change the spec as the message says.",
    example:
      "interpreter LockfileProject (package-lock.json) needs a code deployment holding it (code: GitRepoBranch, GitRepoCommit or ServerAvailableFolder)",
  },
  E_RUNTIME: {
    meaning: "No container engine works here (runc, podman, docker), or the one chosen failed.",
    next: "Install runc or podman (docker or podman for `_load`), or pick one with --runtime / --loader.",
    example:
      "no image loader works here (install docker or podman):\n  docker: not found on PATH\n  podman: not found on PATH",
  },
  E_ROOTFS: {
    meaning: "The container's root file system cannot be prepared (unpacking or an overlay mount failed).",
    next: "Check free space; run as root or use podman (rootless) if overlay mounts are not allowed.",
    example: "cannot mount an overlay root at /tmp/pipeline-run-.../rootfs: permission denied",
  },
  E_BAD_MOUNT: {
    meaning: "A path to mount into the container is not an absolute, normalized path, or is reserved.",
    next: "Use an absolute path such as /opt/models that is not a system directory.",
    example: 'models[0].path: expected an absolute path (got "models")',
  },
  E_BAD_WORKDIR: {
    meaning: "The working directory is not an absolute path in the container.",
    next: "Give workingDir as an absolute path.",
    example: 'working directory must be an absolute path in the container, got "app"',
  },
  E_IMAGE_USER: {
    meaning: "The image's User cannot be resolved to numeric ids (unknown name, or no /etc/passwd).",
    next: "Use a numeric User (e.g. 1000:1000) in the image, or set securityContext.runAsUser.",
    example: 'the image\'s User "app": no such user in /etc/passwd',
  },
  E_HOST_PATH: {
    meaning: "A host folder to mount is refused (missing, not a directory, or a system path).",
    next: "Point at an existing directory of your own.",
    example: 'code.codePaths[0]: host path "/etc" is a system directory',
  },
} satisfies Record<`E_${string}`, ErrorDoc>;
