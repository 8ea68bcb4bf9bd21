#!/usr/bin/env bash
# Installs what rules_pipeline's demo and tests need on a Debian/Ubuntu machine, skipping what is present:
#   Bazel (Debian's bazel-bootstrap 4.2 where no bazel is on PATH; machines with the network may use bazelisk),
#   the CNCF distribution registry, skopeo, umoci, runc, podman (the runner's --runtime podman), buildah, htpasswd, zsh (the
#   completion script's test), strace, libatomic1; and the npm packages (npm ci).
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v bazel >/dev/null 2>&1 || need+=(bazel-bootstrap)
command -v docker-registry >/dev/null 2>&1 || need+=(docker-registry)
command -v skopeo >/dev/null 2>&1 || need+=(skopeo)
command -v umoci >/dev/null 2>&1 || need+=(umoci)
command -v runc >/dev/null 2>&1 || need+=(runc)
command -v podman >/dev/null 2>&1 || need+=(podman)
command -v buildah >/dev/null 2>&1 || need+=(buildah) # the bench's cold-build peer (P13)
command -v pigz >/dev/null 2>&1 || need+=(pigz) # the bench's parallel-gzip peer (P4)
command -v htpasswd >/dev/null 2>&1 || need+=(apache2-utils)
command -v zsh >/dev/null 2>&1 || need+=(zsh)
command -v strace >/dev/null 2>&1 || need+=(strace) # a test counts the processes a launcher starts
# Node 26's official binary needs libatomic.so.1: test/e2e/bazel-node-base.test.ts gives a base the host's copy.
[[ -e "/usr/lib/$(uname -m)-linux-gnu/libatomic.so.1" ]] || need+=(libatomic1)
if ((${#need[@]})); then
  echo "install-deps: installing ${need[*]}" >&2
  SUDO=""
  [[ "$(id -u)" == 0 ]] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

# A node_modules that is a link (a git worktree sharing another checkout's packages) is that checkout's to install:
# npm ci would empty it through the link.
if [[ -L node_modules ]]; then
  echo "install-deps: node_modules is a link ($(readlink node_modules)): not installing through it" >&2
elif [[ ! -d node_modules || package-lock.json -nt node_modules/.package-lock.json ]]; then
  echo "install-deps: npm ci" >&2
  # npm ci refuses a lockfile out of step with package.json (one written where some platform's optional binaries,
  # rollup's, were not resolved is the usual case). CI fails then: a fresh clone must install exactly the lockfile.
  # Elsewhere, fall back to npm install --no-save, which installs the lockfile's versions and leaves the checkout as
  # cloned, and say why.
  ci_log="$(mktemp)"
  npm ci --no-audit --no-fund --loglevel=error 2>"$ci_log" || {
    echo "install-deps: npm ci refused the lockfile. npm ci said:" >&2
    # One awk, no pipe: with pipefail, `grep | head` fails this script when head closes the pipe early (exit 141).
    awk '/^npm error ./ && n < 6 { print "  " $0; n++ }' "$ci_log" >&2
    if [[ -n "${CI:-}" ]]; then
      echo "install-deps: CI is set, so this is an error: run npm install and commit package-lock.json" >&2
      exit 1
    fi
    echo "install-deps: installing the lockfile's versions with npm install --no-save instead" >&2
    npm install --no-save --no-audit --no-fund --loglevel=error # the checkout stays as cloned
  }
  rm -f "$ci_log"
fi

# The other TypeScript majors the tests compile with (test/compilers: 6.x, and 7.x with its native compiler for this
# platform), in a package of their own: their `tsc` commands would take the root's node_modules/.bin/tsc.
if [[ -L test/compilers/node_modules ]]; then
  echo "install-deps: test/compilers/node_modules is a link: not installing through it" >&2
elif [[ ! -d test/compilers/node_modules || test/compilers/package-lock.json -nt test/compilers/node_modules/.package-lock.json ]]; then
  echo "install-deps: npm ci (test/compilers)" >&2
  npm ci --prefix test/compilers --no-audit --no-fund --loglevel=error
fi
