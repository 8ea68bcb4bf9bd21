/** Error codes of registries, credentials, signatures and SBOMs, and of the development registry. */
import type { ErrorDoc } from "./entry";

export const REGISTRY_ERRORS = {
  E_REGISTRY: {
    meaning: "A registry answered something unexpected (an error status, a malformed manifest or index).",
    next: "Read the registry's answer quoted in the message; check the registry's logs or try another registry.",
    example: "push app: registry localhost:5000 answered HTTP 500 (PUT /v2/app/manifests/v1)",
  },
  E_REGISTRY_UNREACHABLE: {
    meaning:
      "The registry cannot be reached (connection refused, DNS, TLS), or a connection to it ended before its answer did.",
    next: "Check the registry's address and that it is up; for a plain-HTTP registry, mark it insecure.",
    example:
      "push app: registry localhost:5000 is unreachable (HEAD http://localhost:5000/v2/: ECONNREFUSED after 3 attempts)",
  },
  E_REGISTRY_BUSY: {
    meaning: "The registry asked to retry later than the client is willing to wait.",
    next: "Try again later.",
    example:
      'push app: registry r.example.com answered HTTP 429 and asks to retry after 600 s (Retry-After: "600"), longer than the 60 s we wait; try again later',
  },
  E_REGISTRY_TOO_SLOW: {
    meaning:
      "A transfer from or to a server we read from (a registry, a redirect target, a Bazel HTTP remote cache) ran below the minimum transfer rate, or its answer's headers came too late.",
    next: "Lower the limit with --min-transfer-rate or $PIPELINE_MIN_TRANSFER_RATE (0 turns it off), or fix the link.",
    example:
      "pull base: registry r.example.com sent it at 2 KB/s (40960 bytes in 20.0 s of reading), below the minimum transfer rate of 10 KB/s",
  },
  E_UNAUTHORIZED: {
    meaning: "The registry refused the credentials sent, or wants some and none were found (401).",
    next: "Log in (docker login, a credential helper, `pipeline credentials`) for the registry named; the message says which credential was used.",
    example:
      "push app: registry r.example.com refused access to repository team/app (401 Unauthorized); credentials: none",
  },
  E_DENIED: {
    meaning: "The registry accepted the credentials but denies the operation (403).",
    next: "Ask for push or pull rights on the repository named, or use another credential.",
    example:
      "push app: registry r.example.com denied access to repository team/app (403 Forbidden: DENIED); credentials: docker config",
  },
  E_NOT_FOUND: {
    meaning: "The registry has no such repository, tag, manifest or blob (404).",
    next: "Check the reference; push the image first if it was never pushed.",
    example: "r.example.com/team/app:v2: manifest not found in r.example.com/team/app",
  },
  E_BASE_LAYER_MISSING: {
    meaning:
      'A layer of a shallow base (pipeline_base_image(layer_handling = "shallow")) is needed and could not be had: the layout holds only its descriptor, and none of the places it records (registry, repository, base digest) serves it.',
    next: 'Check that the base\'s registry is up and its repository still holds the base (and your credentials for it), or build on a materialised base (layer_handling = "eager").',
    example:
      "push app: layer sha256:ab12... of base 127.0.0.1:5000/bases/node@sha256:cd34... is not in 127.0.0.1:5000/bases/node (HTTP 404); nothing was tagged",
  },
  E_BAZEL_CACHE: {
    meaning:
      "A layer the push reads from the Bazel remote cache (`--@rules_pipeline//bazel:remote_cache`: the push layout holds manifests and configs, not layers) could not be had there: the cache is unreachable, refused the request, or does not hold it; or the flag's URL is not one the push reads (an http(s) URL without credentials).",
    next: "Give the flag the same HTTP cache as `--remote_cache`, build with that cache (so the layers are uploaded), or leave the flag unset to push from the local layout.",
    example:
      "push app: layer sha256:ab12... (built by Bazel, pushed from its remote cache) could not be had: asked http://cache:8080/cas/ab12... (not found)",
  },
  E_INSECURE_AUTH: {
    meaning: "Credentials would be sent over plain HTTP to a registry that is not marked insecure.",
    next: "Use HTTPS, or mark the registry insecure if you really mean it.",
    example:
      "push app: refusing to send credentials (docker config) over plain HTTP to r.example.com; use HTTPS, or mark the registry insecure if you really mean it",
  },
  E_TOO_MANY_PAGES: {
    meaning: "A registry's referrers listing names more pages than the client reads.",
    next: "Prune the image's referrers (old signatures, SBOMs) or report the registry's behaviour.",
    example:
      'referrers of sha256:...: registry r.example.com names more than 100 pages of referrers (Link: rel="next")',
  },
  E_BLOB_READ: {
    meaning: "Content to upload cannot be read from disk.",
    next: "Check the layout or file named; rebuild the image.",
    example: "push app: cannot read the content to send: ENOENT",
  },
  E_AUTH_JSON: {
    meaning: "A containers auth.json file (podman, skopeo) is malformed.",
    next: "Fix or remove the file named in the message.",
    example: "auth.json /run/user/0/containers/auth.json: not JSON",
  },
  E_DOCKER_CONFIG: {
    meaning: "The docker config file (~/.docker/config.json) is malformed or has a bad entry.",
    next: "Fix the entry named (e.g. an `auth` that is not base64 user:password) or log in again.",
    example: '~/.docker/config.json: auths["r.example.com"].auth: not base64 of "user:password"',
  },
  E_CRED_HELPER: {
    meaning: "A docker credential helper failed, is missing, or answered something unreadable.",
    next: "Install the helper named (docker-credential-NAME on PATH) or fix its configuration.",
    example:
      "credential helper docker-credential-ecr-login (for 123.dkr.ecr.eu-west-1.amazonaws.com): not found on PATH",
  },
  E_CREDENTIALS_CONFIG: {
    meaning: "rules_pipeline's own credentials file is malformed.",
    next: "Fix the field named in the message (FILE:LINE: field: problem).",
    example: 'credentials.yaml:4: registries[0].secret: unknown source (did you mean "env"?)',
  },
  E_CREDENTIAL_SOURCE: {
    meaning: "A secret source (a file, an environment variable, AWS Secrets Manager) cannot give its secret.",
    next: "Check the source named: the file exists and is private, the variable is set, the secret exists.",
    example: "secret file /run/secrets/registry: cannot read it (ENOENT)",
  },
  E_CREDENTIAL_NOT_FOUND: {
    meaning: "`pipeline credentials test` found no credential for the registry or git server.",
    next: "Add one (docker login, a credential helper, or rules_pipeline's credentials file); the message lists where it looked.",
    example:
      "no docker credential for r.example.com; looked in docker config ~/.docker/config.json, containers auth.json",
  },
  E_CREDENTIAL_REJECTED: {
    meaning: "`pipeline credentials test` found a credential, and the registry or git server rejected it.",
    next: "Renew the credential (log in again, rotate the token) at the source the message names.",
    example: "r.example.com rejected the credential from docker config ~/.docker/config.json (401 Unauthorized)",
  },
  E_BAD_URL: {
    meaning: "A URL (a registry, a secret source) is malformed or uses an unsupported scheme.",
    next: "Write the URL in full, e.g. https://host/path.",
    example: 'url: expected an https:// URL, got "ftp://example.com"',
  },
  E_SIGNING_KEY: {
    meaning: "A cosign key cannot be read or decrypted.",
    next: "Check the key file and its password ($COSIGN_PASSWORD).",
    example: "signing key cosign.key: cannot read it (ENOENT)",
  },
  E_SIGNING: {
    meaning: "The image was pushed but attaching its signature, provenance or SBOM failed.",
    next: "Fix the cause in the message and push again; the image itself is in the registry.",
    example:
      "signature step: r.example.com/team/app@sha256:... is pushed, but attaching its signature failed (E_DENIED)",
  },
  E_SIGNATURE: {
    meaning: "A signature does not verify, is malformed, or none was found where one is required.",
    next: "Sign the image with the key that matches requireSignature / --require-signature, or check the key.",
    example: 'signature of r.example.com/team/app@sha256:...: not a Sigstore bundle (mediaType "application/json")',
  },
  E_NO_SBOM: {
    meaning: "The image has no SBOM attached as a referrer.",
    next: "Push the image with the rules (they attach the SPDX SBOM) or attach one.",
    example:
      "r.example.com/team/app:v1: no SBOM (an application/spdx+json referrer of sha256:...) found; looked at referrers API",
  },
  E_BAD_SBOM: {
    meaning: "The SBOM attached to the image is not valid JSON.",
    next: "Attach a valid SPDX SBOM again.",
    example: "r.example.com/team/app:v1: the SBOM sha256:... is not JSON (Unexpected token)",
  },
  E_ADDR_IN_USE: {
    meaning: "`pipeline registry serve` cannot listen: the address is in use.",
    next: "Pass another --port, or --port 0 to pick a free one.",
    example: "--port 5000: 127.0.0.1:5000 is already in use (pass --port 0 to pick a free port)",
  },
  E_ADDR_ACCESS: {
    meaning: "`pipeline registry serve` is not permitted to listen on the address (e.g. a port below 1024).",
    next: "Use a port of 1024 or above.",
    example: "--port 80: not permitted to listen on 127.0.0.1:80",
  },
  E_LISTEN: {
    meaning: "`pipeline registry serve` cannot listen for another reason (a bad host address).",
    next: "Check --host and --port.",
    example: "--host 10.9.9.9 --port 5000: cannot listen on 10.9.9.9:5000 (EADDRNOTAVAIL)",
  },
  E_REGISTRY_ROOT: {
    meaning: "The development registry's storage directory is not a writable directory.",
    next: "Pass a writable directory as --root.",
    example: '--root "/srv/registry": not a writable directory (EACCES)',
  },
  E_PASSWORD_FILE: {
    meaning: "The development registry's password file cannot be read.",
    next: "Check the path given to --password-file.",
    example: '--password-file "pw.txt": cannot read it (ENOENT)',
  },
} satisfies Record<`E_${string}`, ErrorDoc>;
