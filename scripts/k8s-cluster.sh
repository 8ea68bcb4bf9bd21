#!/usr/bin/env bash
# A real single-node Kubernetes cluster on this machine, for trying `--on kubernetes` and `deploy --apply` locally
# and for the e2e tests. Needs root (containerd, kubelet, mounts, a bridge).
#
#   scripts/k8s-cluster.sh build      builds (once) the server binaries from Go modules and fetches etcd, containerd,
#                                     the CNI plugins and kubectl from Debian sid, cached outside the repository in
#                                     $PIPELINE_K8S_ROOT (default ~/.cache/rules_pipeline/k8s-VERSION)
#   scripts/k8s-cluster.sh up DIR     starts etcd, the control plane, containerd, a CNI bridge and the kubelet, waits
#                                     for the node to be Ready; logs under DIR/logs; prints DIR/kubeconfig last
#   scripts/k8s-cluster.sh down DIR   stops what `up` started (by PID), unmounts, removes the bridge and cgroups
#   scripts/k8s-cluster.sh path       prints the cache directory; exits 1 when build has not completed
#
# One cluster per machine at a time (the kubelet owns the host's /kubepods cgroups): `up` refuses while another DIR's
# cluster runs. `up` on a DIR whose cluster runs prints its kubeconfig again; on a DIR left half-started it cleans up
# first. The build runs `nice -n 19`, in $ROOT.partial renamed to $ROOT when complete, under a lock: interrupting it
# loses only the partial directory (and none of Go's build cache).
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
MODULE="$REPO/scripts/k8s"
# The release: the k8s.io/kubernetes line of the module's require block.
VERSION="$(awk '{ for (i = 1; i < NF; i++) if ($i == "k8s.io/kubernetes" && $(i + 1) ~ /^v[0-9]/) { print $(i + 1); exit } }' "$MODULE/go.mod")"
[[ -n "$VERSION" ]] || { echo "k8s-cluster: no k8s.io/kubernetes version in $MODULE/go.mod" >&2; exit 2; }
ROOT="${PIPELINE_K8S_ROOT:-$HOME/.cache/rules_pipeline/k8s-$VERSION}"
SID_PACKAGES=(etcd-server containerd containernetworking-plugins kubectl)
NODE=rules-pipeline
BRIDGE=rpk8s0
POD_SUBNET=10.244.77.0/24
GATEWAY=10.244.77.1 # the host on the bridge: pods reach a server bound here (a registry, a git server)
SERVICE_RANGE=10.96.77.0/24
OWNER=/run/rules_pipeline-k8s.owner # the DIR of the cluster that runs on this machine

die() { echo "k8s-cluster: $*" >&2; exit 2; }
usage() { sed -n '5,12p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2; exit 2; }
need_root() { [[ "$(id -u)" == 0 ]] || die "$1 needs root (containerd, kubelet, mounts, a bridge); run it with sudo"; }
step() { if [[ -t 2 ]]; then printf '\033[1mk8s-cluster: %s\033[0m\n' "$*" >&2; else printf 'k8s-cluster: %s\n' "$*" >&2; fi; }
# shellcheck source=lib/setup-steps.sh
source "$REPO/scripts/lib/setup-steps.sh"

# --- build -------------------------------------------------------------------------------------------------------

# Runs "$@" with its output in the build log; on failure names the step and prints the log's last lines.
logged() { logged_to "$ROOT.build.log" "k8s-cluster: build" "$@"; }

# An OCI image layout holding the pause binary (deterministic: fixed mtimes, owners and order).
pause_layout() {
  local bin="$1" out="$2" stage layer diffid config manifest
  stage="$(mktemp -d)"
  install -m 0755 "$bin" "$stage/pause"
  mkdir -p "$out/blobs/sha256"
  tar --sort=name --owner=0 --group=0 --numeric-owner --mtime=@0 -C "$stage" -cf "$stage/layer.tar" pause
  diffid="$(sha256sum "$stage/layer.tar" | cut -d' ' -f1)"
  gzip -n -c "$stage/layer.tar" >"$stage/layer.tgz"
  layer="$(sha256sum "$stage/layer.tgz" | cut -d' ' -f1)"
  mv "$stage/layer.tgz" "$out/blobs/sha256/$layer"
  printf '{"architecture":"amd64","os":"linux","config":{"Entrypoint":["/pause"],"User":"65535:65535"},"rootfs":{"type":"layers","diff_ids":["sha256:%s"]}}' "$diffid" >"$stage/config"
  config="$(sha256sum "$stage/config" | cut -d' ' -f1)"
  printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:%s","size":%d},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"sha256:%s","size":%d}]}' \
    "$config" "$(stat -c %s "$stage/config")" "$layer" "$(stat -c %s "$out/blobs/sha256/$layer")" >"$stage/manifest"
  manifest="$(sha256sum "$stage/manifest" | cut -d' ' -f1)"
  mv "$stage/config" "$out/blobs/sha256/$config"
  printf '{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:%s","size":%d,"annotations":{"org.opencontainers.image.ref.name":"latest"}}]}' \
    "$manifest" "$(stat -c %s "$stage/manifest")" >"$out/index.json"
  mv "$stage/manifest" "$out/blobs/sha256/$manifest"
  echo '{"imageLayoutVersion":"1.0.0"}' >"$out/oci-layout"
  rm -rf "$stage"
}

build() {
  mkdir -p "$(dirname "$ROOT")"
  exec 9>"$ROOT.lock"
  flock -n 9 || { step "waiting for another build of $ROOT to finish"; flock 9; }
  if [[ -f "$ROOT/complete" ]]; then step "cached: $ROOT ($(cat "$ROOT/complete"))"; exec 9>&-; return; fi
  command -v go >/dev/null || die "build needs Go (the go command) to build the Kubernetes server components"
  local start=$SECONDS partial="$ROOT.partial" t ldflags="-s -w" pkg
  [[ -e "$partial" ]] && { step "removing an interrupted build's $partial"; rm -rf --one-file-system "$partial"; }
  mkdir -p "$partial/bin"
  : >"$ROOT.build.log"

  t=$SECONDS
  step "fetching ${SID_PACKAGES[*]} from Debian sid (apt-get download + dpkg-deb -x, ~70 MB)"
  logged "fetch from sid" sid_unpack "$partial/apt" "$partial/sid" "${SID_PACKAGES[@]}"
  rm -rf "$partial/apt"
  step "fetched in $((SECONDS - t)) s: $(cd "$partial/sid/usr/bin" && ./etcd --version | head -1), $(cd "$partial/sid/usr/bin" && ./containerd --version | cut -d' ' -f3), kubectl $(cd "$partial/sid/usr/bin" && ./kubectl version --client | head -1 | cut -d' ' -f3)"

  t=$SECONDS
  step "building the pause image"
  logged "go build pause" env -C "$MODULE" "${GO_BUILD_ENV[@]}" CGO_ENABLED=0 GOFLAGS="-mod=readonly -buildvcs=false" nice -n 19 go build -trimpath -ldflags "-s -w" -o "$partial/bin/pause" ./pause
  pause_layout "$partial/bin/pause" "$partial/pause-oci"

  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ldflags+=" -X $pkg.gitVersion=$VERSION -X $pkg.gitMajor=$(echo "$VERSION" | cut -d. -f1 | tr -d v)"
    ldflags+=" -X $pkg.gitMinor=$(echo "$VERSION" | cut -d. -f2) -X $pkg.gitTreeState=clean -X $pkg.buildDate=1970-01-01T00:00:00Z"
  done
  t=$SECONDS
  step "go build k8s-server $VERSION: apiserver, controller-manager, scheduler, kubelet (nice -n 19; cold: ~6 CPU-minutes)"
  # -dwarf=false: the linker strips the debug information anyway (-w); not generating it saves ~15% of the compile's
  # CPU (k8s.io/api/... and client-go cold: 116 → 99 s of CPU). -l (no inlining): the whole build with an empty Go
  # cache, 441 → 356 s of CPU (-19%; -N besides gained nothing more: 362 s). The test cluster's four components use
  # ~17 s of CPU in a whole test run, so slower code costs them a few seconds where the build saves 85.
  logged "go build k8s-server" env -C "$MODULE" "${GO_BUILD_ENV[@]}" GOFLAGS="-mod=readonly -buildvcs=false" nice -n 19 go build -trimpath "-gcflags=all=-dwarf=false -l" -ldflags "$ldflags" -o "$partial/bin/k8s-server" .
  step "built in $((SECONDS - t)) s"
  logged "k8s-server runs" "$partial/bin/k8s-server" apiserver --version

  echo "$VERSION, $(cd "$partial/sid/usr/bin" && ./etcd --version | head -1), made $(date -u +%FT%TZ) in $((SECONDS - start)) s" >"$partial/complete"
  mv "$partial" "$ROOT"
  step "done in $((SECONDS - start)) s: $ROOT ($(du -sh "$ROOT" | cut -f1))"
  exec 9>&- # the lock: the daemons `up` starts next must not inherit it
}

source "$REPO/scripts/lib/k8s-up.sh"

case "${1:-}" in
  build) build ;;
  up) need_root up; [[ $# -eq 2 ]] || usage; up "$2" ;;
  down) need_root down; [[ $# -eq 2 ]] || usage; down "$2" ;;
  path) [[ -f "$ROOT/complete" ]] && echo "$ROOT" ;;
  *) usage ;;
esac
