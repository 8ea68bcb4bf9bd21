#!/usr/bin/env bash
# The admission engines (webhooks that verify signatures and attestations) on this machine's test cluster
# (scripts/k8s-cluster.sh), for `admission: {engine: ...}` in a deployment spec and the e2e tests: the sigstore
# policy-controller (ENGINE sigstore, the default) and Kyverno's admission controller (ENGINE kyverno).
#
#   scripts/admission-engine.sh build [ENGINE|all]
#                                                builds (once) the engine from its Go module (policy-controller's
#                                                cmd/webhook at $VERSION, Kyverno's cmd/kyverno at $KYVERNO_VERSION)
#                                                and keeps it with the module's manifests, cached outside the
#                                                repository in $PIPELINE_ADMISSION_ROOT (default
#                                                ~/.cache/rules_pipeline/ENGINE-VERSION); `all`: both, one after the other
#   scripts/admission-engine.sh up KUBECONFIG DIR [ENGINE]
#                                                installs it on the cluster as its admission webhook and runs it on this
#                                                host, where the API server reaches it through the bridge; logs in DIR
#   scripts/admission-engine.sh down DIR         stops what `up` started (by PID)
#   scripts/admission-engine.sh path [ENGINE]    prints the cache directory; exits 1 when build has not completed
#   scripts/admission-engine.sh schemas DIR      writes the CRD schemas the rendered policies are checked against
#                                                (src/k8s/admission.test.ts) from the engines' Go modules into DIR
#
# A module is fetched with `go mod download` (checked against sum.golang.org) and built as its own main module, so its
# replace directives apply. The build runs `nice -n 10`, in $ROOT.partial renamed to $ROOT when complete, under a lock.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
MODULE=github.com/sigstore/policy-controller
VERSION=v0.13.1
KYVERNO_MODULE=github.com/kyverno/kyverno
# Kyverno 1.19.1: verifies our key-signed Sigstore v0.3 bundles stored as OCI 1.1 referrers (or their fallback tag) in an
# ImageValidatingPolicy on the test cluster; kyverno #17363 reported 1.19.0 refusing them (1.18.1 accepted them).
KYVERNO_VERSION=v1.19.1
NAMESPACE=cosign-system
GATEWAY=10.244.77.1 # scripts/k8s-cluster.sh's host address on the pods' bridge

# engine_root ENGINE: the cache directory of ENGINE's build.
engine_root() {
  case "$1" in
    sigstore) echo "${PIPELINE_ADMISSION_ROOT:-$HOME/.cache/rules_pipeline}/policy-controller-$VERSION" ;;
    kyverno) echo "${PIPELINE_ADMISSION_ROOT:-$HOME/.cache/rules_pipeline}/kyverno-$KYVERNO_VERSION" ;;
    *) die "unknown engine ${1@Q}: sigstore or kyverno" ;;
  esac
}
ROOT="$(engine_root sigstore)"

die() { echo "admission-engine: $*" >&2; exit 2; }
usage() { sed -n '6,20p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2; exit 2; }
step() { printf 'admission-engine: %s\n' "$*" >&2; }
# shellcheck source=lib/setup-steps.sh
source "$REPO/scripts/lib/setup-steps.sh"
logged() { logged_to "$ROOT.build.log" "admission-engine: build" "$@"; }

# build ENGINE: the engine's binary and manifests in its cache directory (see the header).
build() {
  local engine="$1" module version cmd bin ldflags
  ROOT="$(engine_root "$engine")"
  case "$engine" in
    sigstore) module=$MODULE version=$VERSION cmd=webhook bin=policy-webhook
      ldflags="-X sigs.k8s.io/release-utils/version.gitVersion=$VERSION" ;;
    kyverno) module=$KYVERNO_MODULE version=$KYVERNO_VERSION cmd=kyverno bin=kyverno
      ldflags="-X github.com/kyverno/kyverno/pkg/version.BuildVersion=$KYVERNO_VERSION" ;;
  esac
  mkdir -p "$(dirname "$ROOT")"
  exec 9>"$ROOT.lock"
  flock -n 9 || { step "waiting for another build of $ROOT to finish"; flock 9; }
  if [[ -f "$ROOT/complete" ]]; then step "cached: $ROOT ($(cat "$ROOT/complete"))"; exec 9>&-; return; fi
  command -v go >/dev/null || die "build needs Go (the go command) to build $module"
  local start=$SECONDS partial="$ROOT.partial" src
  [[ -e "$partial" ]] && { step "removing an interrupted build's $partial"; rm -rf --one-file-system "$partial"; }
  mkdir -p "$partial/bin"
  : >"$ROOT.build.log"
  step "go mod download $module@$version"
  logged "go mod download" env -C "$partial" go mod download -json "$module@$version"
  src="$(env -C "$partial" go mod download -json "$module@$version" | sed -n 's/^\t"Dir": "\(.*\)",$/\1/p')"
  [[ -d "$src/cmd/$cmd" ]] || die "no cmd/$cmd in $src (see $ROOT.build.log)"
  step "go build $module/cmd/$cmd $version (nice -n 10; cold: policy-controller ~230 modules, ~4 CPU-minutes; Kyverno ~410 modules, ~20 wall-minutes here)"
  # Built inside the module's own directory (read-only in the module cache; -o writes elsewhere): its go.mod's
  # replace directives (policy-controller: glog, code-generator, kube-openapi; Kyverno: pod-security-admission) only
  # apply to the main module. -dwarf=false -l as in scripts/k8s-cluster.sh: a smaller compile for a binary that the
  # tests run briefly.
  logged "go build $cmd" env -C "$src" "${GO_BUILD_ENV[@]}" CGO_ENABLED=0 GOFLAGS="-mod=readonly -buildvcs=false" nice -n 10 \
    go build -trimpath "-gcflags=all=-dwarf=false -l" -ldflags "-s -w $ldflags" -o "$partial/bin/$bin" "./cmd/$cmd"
  mkdir -p "$partial/config"
  if [[ "$engine" == sigstore ]]; then
    cp "$src"/config/*.yaml "$partial/config/"
  else
    # The release manifest's objects but its Deployments (the controllers): namespace, CRDs, config maps, RBAC.
    logged "manifest" node -e '
      const { readFileSync, writeFileSync } = require("node:fs");
      const { parseAllDocuments } = require(process.argv[1] + "/node_modules/yaml");
      const docs = parseAllDocuments(readFileSync(process.argv[2], "utf8")).map((d) => d.toJSON()).filter(Boolean);
      writeFileSync(process.argv[3], docs.filter((d) => d.kind !== "Deployment").map((d) => JSON.stringify(d)).join("\n---\n") + "\n");
    ' "$REPO" "$src/config/install-latest-testing.yaml" "$partial/config/install.yaml"
  fi
  chmod -R u+w "$partial/config"
  echo "$module $version, made $(date -u +%FT%TZ) in $((SECONDS - start)) s" >"$partial/complete"
  mv "$partial" "$ROOT"
  step "done in $((SECONDS - start)) s: $ROOT ($(du -sh "$ROOT" | cut -f1))"
  exec 9>&-
}

# certs DIR: a CA and the webhook's serving certificate for its Service's names (1 year; knative's certificate
# controller keeps a certificate that is valid for more than a day, so these are the ones the webhook serves).
certs() {
  local d="$1" svc="webhook.$NAMESPACE.svc"
  mkdir -p "$d"
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 365 -subj "/CN=rules_pipeline admission CA" \
    -keyout "$d/ca-key.pem" -out "$d/ca-cert.pem" 2>/dev/null
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=$svc" \
    -keyout "$d/server-key.pem" -out "$d/server.csr" 2>/dev/null
  printf 'subjectAltName=DNS:%s,DNS:%s.cluster.local,DNS:webhook.%s,IP:%s\nextendedKeyUsage=serverAuth\n' \
    "$svc" "$svc" "$NAMESPACE" "$GATEWAY" >"$d/server.ext"
  openssl x509 -req -in "$d/server.csr" -CA "$d/ca-cert.pem" -CAkey "$d/ca-key.pem" -CAcreateserial -days 365 \
    -extfile "$d/server.ext" -out "$d/server-cert.pem" 2>/dev/null
  rm -f "$d/server.csr" "$d/server.ext" "$d/ca-cert.srl" "$d/ca-key.pem"
  chmod 600 "$d/server-key.pem"
}

# The webhook serves on 8443 and its probes on 8080 whatever it is told: policy-controller v0.13.1 hands knative its
# options before parsing --secure-port, and knative reads WEBHOOK_PORT only when no port is set.
PORT=8443
ports_free() {
  local p
  for p in 8443 8080; do
    if ss -Hltn "sport = :$p" | grep -q .; then die "port $p is in use: the policy-controller webhook needs it"; fi
  done
}

up_sigstore() {
  local kubeconfig="$1" d="$2" port kubectl
  ROOT="$(engine_root sigstore)"
  [[ -f "$ROOT/complete" ]] || die "not built: run scripts/admission-engine.sh build sigstore first"
  [[ -f "$kubeconfig" ]] || die "no kubeconfig at $kubeconfig"
  kubectl="$(bash "$REPO/scripts/k8s-cluster.sh" path)/sid/usr/bin/kubectl"
  k() { "$kubectl" --kubeconfig "$kubeconfig" --cache-dir "$d/kubectl-cache" "$@"; }
  mkdir -p "$d/logs"
  certs "$d/certs"
  ports_free
  port=$PORT
  step "installing the policy-controller on the cluster (namespace $NAMESPACE, webhook on $GATEWAY:$port)"
  {
    for f in 100-namespace 300-clusterimagepolicy 300-trustroot config-observability config-logging \
      config-leader-election config-image-policies config-sigstore-keys config-policy-controller; do
      printf '\n---\n'
      cat "$ROOT/config/$f.yaml"
    done
    # The webhook runs on this host: a Service without a selector whose Endpoints name the host on the bridge (the API
    # server routes to a webhook Service's endpoints: scripts/lib/k8s-up.sh passes --enable-aggregator-routing).
    cat <<EOF

---
apiVersion: v1
kind: Service
metadata: {name: webhook, namespace: $NAMESPACE}
spec: {ports: [{name: https, port: 443, targetPort: $port}]}
---
apiVersion: v1
kind: Endpoints
metadata: {name: webhook, namespace: $NAMESPACE}
subsets: [{addresses: [{ip: $GATEWAY}], ports: [{name: https, port: $port}]}]
EOF
  } >"$d/install.yaml"
  k apply --server-side --force-conflicts -f "$d/install.yaml" >>"$d/logs/install.log" 2>&1 || { tail -20 "$d/logs/install.log" >&2; die "install failed"; }
  # The configurations (they hold an empty webhook-certs Secret), then that Secret with our certificates.
  k apply --server-side --force-conflicts -f "$ROOT/config/500-webhook-configuration.yaml" \
    -f "$ROOT/config/501-policy-webhook-configurations.yaml" >>"$d/logs/install.log" 2>&1 ||
    { tail -20 "$d/logs/install.log" >&2; die "webhook configurations failed"; }
  k -n "$NAMESPACE" create secret generic webhook-certs --from-file="$d/certs/ca-cert.pem" \
    --from-file="$d/certs/server-cert.pem" --from-file="$d/certs/server-key.pem" --dry-run=client -o yaml |
    k apply --server-side --force-conflicts -f - >>"$d/logs/install.log" 2>&1 ||
    die "the webhook's certificate secret failed (see $d/logs/install.log)"
  step "starting the webhook"
  env -i PATH="$PATH" HOME="$d" KUBECONFIG="$kubeconfig" SYSTEM_NAMESPACE="$NAMESPACE" CONFIG_LOGGING_NAME=config-logging \
    METRICS_DOMAIN=sigstore.dev/policy WEBHOOK_NAME=webhook KUBERNETES_MIN_VERSION=1.21.0 POD_NAME=policy-webhook-host \
    setsid "$ROOT/bin/policy-webhook" --disable-tuf >"$d/logs/policy-webhook.log" 2>&1 &
  echo $! >"$d/engine.pid"
  # Ready when the webhook has put its CA into the validating configuration (knative's reconciler) and serves TLS.
  sigstore_ready() {
    local ca
    ca="$(k get validatingwebhookconfiguration policy.sigstore.dev -o jsonpath='{.webhooks[0].clientConfig.caBundle}' 2>/dev/null || true)"
    [[ -n "$ca" ]] && curl -fsS --cacert "$d/certs/ca-cert.pem" --resolve "webhook.$NAMESPACE.svc:$port:$GATEWAY" \
      -A kube-probe/1.36 -o /dev/null "https://webhook.$NAMESPACE.svc:$port/" 2>/dev/null
  }
  wait_ready "$d" "$d/logs/policy-webhook.log" "the webhook" 120 sigstore_ready
}

# wait_ready DIR LOG WHAT TRIES CMD...: runs CMD every 0.5 s until it succeeds, while the engine (DIR/engine.pid) runs;
# a gone engine or TRIES failures end the script, with LOG's last lines.
wait_ready() {
  local d="$1" log="$2" what="$3" tries="$4" i
  shift 4
  for ((i = 0; i < tries; i++)); do
    if "$@"; then step "ready in ~$((i / 2)) s"; return; fi
    kill -0 "$(cat "$d/engine.pid")" 2>/dev/null || { tail -20 "$log" >&2; die "$what exited"; }
    sleep 0.5
  done
  tail -20 "$log" >&2
  die "$what was not ready in $((tries / 2)) s"
}

# Kyverno's webhook server port on this host (its serving certificate names $GATEWAY: --serverIP).
KYVERNO_PORT=9443

up_kyverno() {
  local kubeconfig="$1" d="$2" kubectl
  ROOT="$(engine_root kyverno)"
  [[ -f "$ROOT/complete" ]] || die "not built: run scripts/admission-engine.sh build kyverno first"
  [[ -f "$kubeconfig" ]] || die "no kubeconfig at $kubeconfig"
  kubectl="$(bash "$REPO/scripts/k8s-cluster.sh" path)/sid/usr/bin/kubectl"
  k() { "$kubectl" --kubeconfig "$kubeconfig" --cache-dir "$d/kubectl-cache" "$@"; }
  mkdir -p "$d/logs" "$d/home"
  if ss -Hltn "sport = :$KYVERNO_PORT" | grep -q .; then die "port $KYVERNO_PORT is in use: Kyverno's webhook needs it"; fi
  step "installing Kyverno $KYVERNO_VERSION on the cluster (namespace kyverno, webhook on $GATEWAY:$KYVERNO_PORT)"
  k apply --server-side --force-conflicts -f "$ROOT/config/install.yaml" >>"$d/logs/install.log" 2>&1 ||
    { tail -20 "$d/logs/install.log" >&2; die "install failed"; }
  step "starting the admission controller"
  # Out of the cluster, as Kyverno's DEVELOPMENT.md runs it: --serverIP makes it register its webhooks by URL on this
  # host and put the address in the serving certificate it makes (its CA and pair are Secrets in its namespace). Its
  # metrics servers are off (the controller-runtime one would take :8080, which policy-controller's probes use).
  env -i PATH="$PATH" HOME="$d/home" INIT_CONFIG=kyverno METRICS_CONFIG=kyverno-metrics KYVERNO_NAMESPACE=kyverno \
    KYVERNO_POD_NAME=kyverno-host KYVERNO_SERVICEACCOUNT_NAME=kyverno-admission-controller \
    KYVERNO_ROLE_NAME=kyverno:admission-controller KYVERNO_SVC=kyverno-svc KYVERNO_DEPLOYMENT=kyverno-admission-controller \
    TUF_ROOT="$d/home/sigstore" setsid "$ROOT/bin/kyverno" --kubeconfig="$kubeconfig" \
    --serverIP="$GATEWAY:$KYVERNO_PORT" --webhookServerPort="$KYVERNO_PORT" \
    --caSecretName=kyverno-svc.kyverno.svc.kyverno-tls-ca --tlsSecretName=kyverno-svc.kyverno.svc.kyverno-tls-pair \
    --backgroundServiceAccountName=system:serviceaccount:kyverno:kyverno-background-controller \
    --reportsServiceAccountName=system:serviceaccount:kyverno:kyverno-reports-controller \
    --disableMetrics=true --controllerRuntimeMetricsAddress=0 --metricsPort=0 --admissionReports=false \
    --autoUpdateWebhooks=true --crdWatcher=false --generateValidatingAdmissionPolicy=false \
    --enablePolicyException=false --loggingFormat=text --v=2 \
    >"$d/logs/kyverno.log" 2>&1 &
  echo $! >"$d/engine.pid"
  # Ready when it has registered its resource webhooks' configuration and serves TLS on the bridge.
  kyverno_ready() {
    k get validatingwebhookconfiguration kyverno-resource-validating-webhook-cfg >/dev/null 2>&1 &&
      curl -fsSk -o /dev/null "https://$GATEWAY:$KYVERNO_PORT/health/liveness" 2>/dev/null
  }
  wait_ready "$d" "$d/logs/kyverno.log" "Kyverno" 240 kyverno_ready
}

down() {
  local d="$1" pid
  [[ -f "$d/engine.pid" ]] || return 0
  pid="$(cat "$d/engine.pid")"
  kill "$pid" 2>/dev/null || true
  for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -9 "$pid" 2>/dev/null || true
  rm -f "$d/engine.pid"
}

# schemas DIR: each engine's policy CRD schema (the served version we render), descriptions dropped, as JSON with its
# source: test/fixtures/admission-crds/ is made with `schemas test/fixtures/admission-crds`.
schemas() {
  local out="$1" tmp pc ky
  tmp="$(mktemp -d)"
  pc="$(env -C "$tmp" go mod download -json "$MODULE@$VERSION" | sed -n 's/^\t"Dir": "\(.*\)",$/\1/p')"
  ky="$(env -C "$tmp" go mod download -json "$KYVERNO_MODULE@$KYVERNO_VERSION" | sed -n 's/^\t"Dir": "\(.*\)",$/\1/p')"
  rm -rf "$tmp"
  [[ -n "$pc" && -n "$ky" ]] || die "go mod download failed for $MODULE@$VERSION or $KYVERNO_MODULE@$KYVERNO_VERSION"
  mkdir -p "$out"
  node -e '
    const { readFileSync, writeFileSync } = require("node:fs");
    const { parse } = require(process.argv[1] + "/node_modules/yaml");
    const strip = (s) => Array.isArray(s) ? s.map(strip) : s && typeof s === "object"
      ? Object.fromEntries(Object.entries(s).filter(([k]) => k !== "description").map(([k, v]) => [k, strip(v)])) : s;
    for (const [file, version, source, out] of [
      [process.argv[2] + "/config/300-clusterimagepolicy.yaml", "v1beta1", process.argv[3], "sigstore-clusterimagepolicy.json"],
      [process.argv[4] + "/config/crds/kyverno/kyverno.io_clusterpolicies.yaml", "v1", process.argv[5], "kyverno-clusterpolicy.json"],
      [process.argv[4] + "/config/crds/policies.kyverno.io/policies.kyverno.io_imagevalidatingpolicies.yaml", "v1", process.argv[5], "kyverno-imagevalidatingpolicy.json"],
    ]) {
      const crd = parse(readFileSync(file, "utf8"));
      const v = crd.spec.versions.find((x) => x.name === version);
      const doc = { source: source + " " + file.split("@")[1].replace(/^[^/]*\//, ""), group: crd.spec.group,
        kind: crd.spec.names.kind, version, schema: strip(v.schema.openAPIV3Schema) };
      writeFileSync(process.argv[6] + "/" + out, JSON.stringify(doc) + "\n");
    }' "$REPO" "$pc" "$MODULE@$VERSION" "$ky" "$KYVERNO_MODULE@$KYVERNO_VERSION" "$out"
  step "wrote $out/sigstore-clusterimagepolicy.json, $out/kyverno-clusterpolicy.json, $out/kyverno-imagevalidatingpolicy.json"
}

case "${1:-}" in
  schemas) [[ $# -eq 2 ]] || usage; schemas "$2" ;;
  build)
    case "${2:-sigstore}" in
      all) build sigstore; build kyverno ;;
      *) build "${2:-sigstore}" ;;
    esac ;;
  up) [[ $# -eq 3 || $# -eq 4 ]] || usage
    case "${4:-sigstore}" in
      sigstore) up_sigstore "$2" "$3" ;;
      kyverno) up_kyverno "$2" "$3" ;;
      *) die "unknown engine ${4@Q}: sigstore or kyverno" ;;
    esac ;;
  down) [[ $# -eq 2 ]] || usage; down "$2" ;;
  path) root="$(engine_root "${2:-sigstore}")"; [[ -f "$root/complete" ]] && echo "$root" ;;
  *) usage ;;
esac
