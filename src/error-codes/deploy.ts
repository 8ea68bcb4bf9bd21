/** Error codes of deployment specs, secrets, models, git and Kubernetes. */
import type { ErrorDoc } from "./entry";

export const DEPLOY_ERRORS = {
  E_SPEC: {
    meaning: "The deployment spec has problems; every one is listed as FILE:LINE: PATH: problem (got VALUE).",
    next: "Fix each line; the spec's JSON Schema (`deploymentSpecJsonSchema()` of src/deploy/) lets an editor check the spec as you type.",
    example: "deploy.yaml:3: port: expected a port number (an integer 1-65535) (got 80800)",
  },
  E_DEPLOYMENT: {
    meaning: "A deployment built in code (ContainerAtTag(...), GitRepoBranch(...)) got a bad argument.",
    next: "Fix the argument named in the message.",
    example: 'ContainerAtDigest: digest: expected "sha256:<64 hex>" (got "latest")',
  },
  E_OFFLINE: {
    meaning: "--offline was given but the spec names tags or branches that need the network to pin.",
    next: "Pin them in the spec (image by digest, git by commit) or drop --offline.",
    example: "--offline: these references need the network:\ndeploy.yaml:1: image: r.example.com/team/app:v1",
  },
  E_SECRET_NAME: {
    meaning: "A secret name is not letters, digits, '.', '_' or '-'.",
    next: "Rename the secret.",
    example: "secret name \"my secret\" is not valid (letters, digits, '.', '_', '-')",
  },
  E_SECRET_NOT_FOUND: {
    meaning: "A secret the spec names (SECRET:name) is neither in the environment nor in the secrets directory.",
    next: "Set the variable or create the file the message names.",
    example:
      'secret "git-bot" not found: set PIPELINE_SECRET_GIT_BOT or create ~/.config/rules_pipeline/secrets/git-bot',
  },
  E_SECRET_READ: {
    meaning: "A secret's file cannot be read.",
    next: "Check the file's permissions.",
    example: 'secret "git-bot": cannot read ~/.config/rules_pipeline/secrets/git-bot (EACCES)',
  },
  E_SECRET_EMPTY: {
    meaning: "A secret's file is empty.",
    next: "Write the secret into the file.",
    example: 'secret "git-bot" in ~/.config/rules_pipeline/secrets/git-bot is empty',
  },
  E_SECRET_FORMAT: {
    meaning: "A registry credential secret is neither JSON {username, password} nor two lines.",
    next: "Write it as JSON or as two lines (user, then password).",
    example: 'secret "team-registry": expected JSON {"username","password"} or two lines (user, password)',
  },
  E_MODEL_ARTIFACT: {
    meaning: "A model artifact in the registry is not what rules_pipeline pushes (wrong media types, missing titles).",
    next: "Push the model with `pipeline model push`.",
    example: "model r.example.com/models/resnet:v1: layer 0 has no title annotation",
  },
  E_MODEL_UNSAFE: {
    meaning: "A model artifact names a file path that would leave the model directory.",
    next: "Do not use the artifact; push it again from a clean directory.",
    example: 'model r.example.com/models/resnet:v1: layer title "../x" is not allowed: it leaves the directory',
  },
  E_MODEL_INPUT: {
    meaning: "A model directory to push cannot be read or holds something a model cannot (links out, devices).",
    next: "Push a plain directory of files.",
    example: "model directory ./resnet: not a directory",
  },
  E_MODEL_OUTPUT: {
    meaning: "The directory to pull a model into cannot be used.",
    next: "Give a new or empty directory.",
    example: "model output ./out: exists and is not a directory",
  },
  E_MODEL_CACHE: {
    meaning: "A pulled model cannot be stored in the model cache.",
    next: "Check free space and permissions of the cache directory.",
    example: "model r.example.com/models/resnet@sha256:...: cannot write cache entry ...: ENOSPC",
  },
  E_GIT: {
    meaning: "A git operation (clone, fetch, checkout) failed.",
    next: "Read git's message quoted after the error.",
    example: "cannot clone https://git.example.com/team/app.git into /opt/repos/app: the directory is not empty",
  },
  E_GIT_AUTH: {
    meaning: "The git server wants a credential: none was given, or the one given was rejected.",
    next: "Give username and password: SECRET:name in the spec's repositories entry, or fix the secret.",
    example: "git authentication to https://git.example.com/team/app.git failed: the credential was rejected",
  },
  E_GIT_CREDENTIAL: {
    meaning: "The credential cannot be handed to git (the private FIFO or helper failed).",
    next: "Check that the temporary directory is writable; report it if it persists.",
    example: "cannot make the credential FIFO /tmp/pipeline-git-.../cred: mkfifo: Permission denied",
  },
  E_GIT_REF_NOT_FOUND: {
    meaning: "The branch, tag or commit is not in the remote repository.",
    next: "Check the ref's spelling and that it is pushed.",
    example: "branch mian not found in https://git.example.com/team/app.git (git ls-remote listed no refs/heads/mian)",
  },
  E_GIT_URL: {
    meaning: "A git URL is not a URL with a scheme git supports.",
    next: "Write it as https://host/path.git or ssh://host/path.git.",
    example: "not a URL with a scheme: git.example.com/team/app",
  },
  E_KUBECONFIG: {
    meaning: "The kubeconfig cannot be found or read.",
    next: "Pass --kubeconfig or set KUBECONFIG to an existing file.",
    example: "--kubeconfig: /home/me/.kube/config does not exist",
  },
  E_KUBE_CONTEXT: {
    meaning: "The kubeconfig has no such context (or no current one).",
    next: "Pick one of the contexts the message lists with --context.",
    example: '--context: no context "prod" in ~/.kube/config (contexts: dev, staging)',
  },
  E_K8S_UNREACHABLE: {
    meaning: "The Kubernetes API server cannot be reached.",
    next: "Check the cluster's address in the kubeconfig and your network.",
    example: "GET pods in default: cannot reach the Kubernetes API at https://10.0.0.1:6443: ECONNREFUSED",
  },
  E_K8S_API: {
    meaning: "The Kubernetes API refused a request (unauthorized, invalid, conflict).",
    next: "Read the API server's message quoted; refresh the kubeconfig's credentials for a 401.",
    example: "GET pods in default: 401 Unauthorized — the kubeconfig's credentials were rejected",
  },
  E_K8S_ADMISSION: {
    meaning:
      "An admission webhook of the cluster (sigstore policy-controller, Kyverno) refused an object: the image is not signed with the policy's key or lacks its provenance; or, at --apply, the engine never loaded the policy just applied (it reported an error, or did not mark it Ready in time), so the workload was not applied.",
    next: "Sign the image and attach its provenance (pipeline push --sign), or check the policy named and its key; for a policy not loaded, check that the engine runs on the cluster and read its status message quoted.",
    example:
      'apply Deployment default/app: the cluster\'s admission webhook "policy.sigstore.dev" refused it (policy rules-pipeline-app): validation failed: ... no signatures found',
  },
  E_K8S_FORBIDDEN: {
    meaning: "RBAC forbids the kubeconfig's user the operation (403).",
    next: "Ask for the verb on the resource and namespace named.",
    example:
      'create jobs in namespace "prod": 403 Forbidden — the kubeconfig\'s user may not create jobs in namespace "prod" (RBAC)',
  },
  E_K8S_NOT_FOUND: {
    meaning: "A Kubernetes object the command needs does not exist (404).",
    next: "Check the namespace and the name.",
    example: "GET deployments/app in prod: 404 Not Found",
  },
  E_K8S_NAME: {
    meaning: "A name is not a valid Kubernetes object name.",
    next: "Use a lower-case DNS label.",
    example:
      "name: Kubernetes needs a lower-case DNS label (a-z, 0-9, '-', starting with a letter, at most 63 characters), got \"My_App\"",
  },
  E_K8S_NAMESPACE: {
    meaning: "The namespace is not a lower-case DNS label.",
    next: "Fix --namespace.",
    example: '--namespace: expected a lower-case DNS label, got "Prod"',
  },
  E_K8S_SPEC: {
    meaning: "A field of the spec cannot be rendered for Kubernetes (e.g. a reserved mount path).",
    next: "Fix the field named.",
    example: 'models[0].path: is reserved for the init containers (got "/pipeline")',
  },
  E_K8S_UNSUPPORTED: {
    meaning: "The spec uses something the Kubernetes runner cannot run (no container image).",
    next: "Use an image (or interpreter ContainerAtTag/ContainerAtDigest) to run on a cluster.",
    example: "interpreter: the Kubernetes runner needs a container image, got ServerAvailableInterpreter",
  },
  E_K8S_UNRESOLVED: {
    meaning: "The manifests would name an image by tag (or a branch): Kubernetes needs them pinned.",
    next: "Let `pipeline deploy` resolve the spec (it needs the registry), or pin the image by digest.",
    example:
      'image: "r.example.com/team/app:v1" is a tag; Kubernetes manifests need the image by digest — resolve the spec first',
  },
  E_K8S_RUN_OPTION: {
    meaning: "A flag of `pipeline run --on kubernetes` has a bad value (exit code 2).",
    next: "Fix the flag named.",
    example: '--timeout: expected a duration, got "soon"',
  },
  E_K8S_POD_FAILED: {
    meaning: "The pod cannot start (image pull error, crash, unschedulable) or failed.",
    next: "Read the pod status in the message; `kubectl describe pod` tells more.",
    example: "pod app-run-x7k2 cannot start: ImagePullBackOff (r.example.com/team/app@sha256:...)",
  },
  E_K8S_POD_TIMEOUT: {
    meaning: "The pod did not start within --timeout.",
    next: "Raise --timeout, or look at why it stays pending (capacity, image pull).",
    example: "pod app-run-x7k2 did not start within 300s (--timeout): phase Pending",
  },
  E_K8S_JOB_FAILED: {
    meaning: "The Kubernetes Job failed.",
    next: "Read the Job's logs (printed above the message).",
    example: "Job app failed: 1",
  },
  E_K8S_ROLLOUT_FAILED: {
    meaning: "The Deployment's rollout failed.",
    next: "Read the pod states in the message; roll back if needed.",
    example: "Deployment app failed: ProgressDeadlineExceeded",
  },
  E_K8S_ROLLOUT_TIMEOUT: {
    meaning: "The Deployment was not ready within --timeout.",
    next: "Raise --timeout or look at the pods listed.",
    example: "Deployment app was not ready within 300s (--timeout); last status: 1 of 2 replicas ready",
  },
} satisfies Record<`E_${string}`, ErrorDoc>;
