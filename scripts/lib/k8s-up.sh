# Sourced by scripts/k8s-cluster.sh: `up DIR` and `down DIR` (see that file's header). Uses its ROOT, NODE, BRIDGE,
# POD_SUBNET, GATEWAY, SERVICE_RANGE, OWNER, die and step.

COMPONENTS=(registry etcd apiserver containerd controller-manager scheduler kubelet) # start order; down reverses it
# Kernel settings the cluster changes (the kubelet sets its "kernel defaults", the CNI bridge turns on forwarding):
# `up` records them and `down` puts them back.
SYSCTLS=(net/ipv4/ip_forward vm/overcommit_memory vm/panic_on_oom kernel/panic kernel/panic_on_oops kernel/keys/root_maxkeys kernel/keys/root_maxbytes)

# Free TCP ports on 127.0.0.1, as many as asked (the kernel picks them; they are closed again before use).
free_ports() {
  node -e 'const net = require("net"); (async () => { const s = [];
    for (let i = 0; i < +process.argv[1]; i++) { const v = net.createServer(); await new Promise((r) => v.listen(0, "127.0.0.1", r)); s.push(v); }
    console.log(s.map((v) => v.address().port).join(" ")); s.forEach((v) => v.close()); })()' "$1"
}

# start NAME CMD...: runs CMD in its own session, output in logs/NAME.log, PID in run/NAME.pid.
start() {
  local name="$1"; shift
  setsid "$@" >"$D/logs/$name.log" 2>&1 </dev/null &
  echo $! >"$D/run/$name.pid"
}

# fail NAME WHY: names the component that failed, shows its log's last lines, stops everything started so far.
fail() {
  echo "k8s-cluster: $1 failed to start ($2); last lines of $D/logs/$1.log:" >&2
  tail -n 30 "$D/logs/$1.log" >&2 || true
  down "$D" >/dev/null 2>&1 || true
  exit 1
}

alive() { local pid; pid="$(cat "$D/run/$1.pid" 2>/dev/null)" && kill -0 "$pid" 2>/dev/null; }

# wait_for NAME SECONDS CHECK...: until CHECK succeeds; fails naming NAME when its process exits or time runs out.
wait_for() {
  local name="$1" limit="$2" deadline; shift 2
  deadline=$((SECONDS + limit))
  until "$@" >/dev/null 2>&1; do
    alive "$name" || fail "$name" "it exited"
    ((SECONDS < deadline)) || fail "$name" "not ready after $limit s"
    sleep 0.5
  done
}

# kubectl_as KUBECONFIG ARGS...: the cluster's kubectl, its discovery and HTTP caches in the cluster's directory
# (which `down` removes) rather than in ~/.kube/cache.
kubectl_as() { local config="$1"; shift; "$BIN/kubectl" --cache-dir "$D/kube-cache" --kubeconfig "$config" "$@"; }

# cert NAME CN O [SANS]: an ECDSA key and a certificate signed by the cluster's CA, for clients and servers.
cert() {
  local pki="$D/pki" name="$1" cn="$2" org="$3" sans="${4:-}" ext
  ext="extendedKeyUsage=serverAuth,clientAuth"$'\n'"keyUsage=critical,digitalSignature,keyEncipherment"
  [[ -n "$sans" ]] && ext+=$'\n'"subjectAltName=$sans"
  openssl ecparam -name prime256v1 -genkey -noout -out "$pki/$name.key" 2>/dev/null
  openssl req -new -key "$pki/$name.key" -subj "/CN=$cn${org:+/O=$org}" 2>/dev/null |
    openssl x509 -req -CA "$pki/ca.crt" -CAkey "$pki/ca.key" -CAcreateserial -days 30 -out "$pki/$name.crt" \
      -extfile <(echo "$ext") 2>/dev/null
}

# kubeconfig FILE CERT: a self-contained kubeconfig (certificates inline) for the API server.
kubeconfig() {
  local b64="base64 -w0"
  cat >"$1" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: $NODE
  cluster:
    server: https://127.0.0.1:$API_PORT
    certificate-authority-data: $($b64 <"$D/pki/ca.crt")
users:
- name: $2
  user:
    client-certificate-data: $($b64 <"$D/pki/$2.crt")
    client-key-data: $($b64 <"$D/pki/$2.key")
contexts:
- name: $NODE
  context: {cluster: $NODE, user: $2}
current-context: $NODE
EOF
  chmod 600 "$1"
}

running_here() {
  local name
  for name in "${COMPONENTS[@]}"; do alive "$name" || return 1; done
  kubectl_as "$D/kubeconfig" get node "$NODE" >/dev/null 2>&1
}

up() {
  mkdir -p "$1"
  D="$(cd "$1" && pwd -P)"
  BIN="$ROOT/sid/usr/bin"
  [[ -f "$ROOT/complete" ]] || build
  if [[ -f "$OWNER" && "$(cat "$OWNER")" != "$D" ]] && [[ -d "$(cat "$OWNER")/run" ]]; then
    local other; other="$(cat "$OWNER")"
    D="$other" running_here && die "a cluster from $other runs on this machine (one at a time): scripts/k8s-cluster.sh down $other"
    D="$other" down "$other" >/dev/null 2>&1 || true
  fi
  if [[ -f "$D/kubeconfig" ]] && running_here; then step "already running"; echo "$D/kubeconfig"; return; fi
  [[ -d "$D/run" ]] && { step "cleaning up an earlier cluster in $D"; down "$D" >/dev/null; }
  local sock="$D/run/containerd.sock" start=$SECONDS
  ((${#sock} < 100)) || die "DIR is too long for containerd's socket path ($sock): use a shorter DIR"
  rm -rf --one-file-system "$D"/{logs,pki,etcd,kubelet,registry,cni,containerd} # a fresh cluster every time
  mkdir -p "$D"/{logs/pods,run,pki,etcd,kubelet,registry,cni/net.d,cni/ipam,containerd/certs.d}
  echo "$D" >"$OWNER"
  local key
  for key in "${SYSCTLS[@]}"; do echo "$key $(cat "/proc/sys/$key")"; done >"$D/run/sysctl.before"
  kube_chains >"$D/run/kube-chains.before" # the kubelet adds its own (KUBE-FIREWALL, KUBE-IPTABLES-HINT, ...): down removes them
  [[ -e /run/containerd ]] || touch "$D/run/made-run-containerd"

  local ports
  read -r API_PORT ETCD_PORT ETCD_PEER REG_PORT KUBELET_PORT HEALTHZ_PORT <<<"$(free_ports 6)"
  NODE_IP="$(ip -4 route get 1.1.1.1 2>/dev/null | awk '{ for (i = 1; i < NF; i++) if ($i == "src") { print $(i + 1); exit } }')"
  [[ -n "$NODE_IP" ]] || NODE_IP="$(hostname -I | awk '{ print $1 }')"
  [[ -n "$NODE_IP" ]] || die "no IPv4 address for the node (the kubelet refuses loopback): none on a route nor from hostname -I"

  step "certificates and keys"
  openssl ecparam -name prime256v1 -genkey -noout -out "$D/pki/ca.key" 2>/dev/null
  openssl req -x509 -new -key "$D/pki/ca.key" -subj "/CN=rules-pipeline-test-ca" -days 30 -out "$D/pki/ca.crt" 2>/dev/null
  cert apiserver kube-apiserver "" "IP:127.0.0.1,IP:${SERVICE_RANGE%.*}.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc"
  cert admin admin system:masters
  cert apiserver-kubelet apiserver-kubelet-client system:masters
  cert kubelet "system:node:$NODE" system:nodes
  cert kubelet-serving "system:node:$NODE" system:nodes "IP:$NODE_IP,IP:127.0.0.1,DNS:$NODE"
  openssl ecparam -name prime256v1 -genkey -noout -out "$D/pki/sa.key" 2>/dev/null
  openssl ec -in "$D/pki/sa.key" -pubout -out "$D/pki/sa.pub" 2>/dev/null
  kubeconfig "$D/kubeconfig.admin" admin
  kubeconfig "$D/kubeconfig.kubelet" kubelet
  chmod 600 "$D"/pki/*.key

  step "registry on 127.0.0.1:$REG_PORT with the pause image"
  cat >"$D/registry/config.yml" <<EOF
version: 0.1
log: {level: warn}
storage: {filesystem: {rootdirectory: $D/registry/data}, delete: {enabled: true}}
http: {addr: 127.0.0.1:$REG_PORT}
EOF
  start registry docker-registry serve "$D/registry/config.yml"
  wait_for registry 20 curl -fsS "http://127.0.0.1:$REG_PORT/v2/"
  PAUSE="127.0.0.1:$REG_PORT/rules-pipeline/pause:1"
  skopeo copy -q --dest-tls-verify=false "oci:$ROOT/pause-oci:latest" "docker://$PAUSE" >>"$D/logs/registry.log" 2>&1 ||
    fail registry "pushing the pause image"

  step "etcd on 127.0.0.1:$ETCD_PORT"
  start etcd "$BIN/etcd" --name "$NODE" --data-dir "$D/etcd" --listen-client-urls "http://127.0.0.1:$ETCD_PORT" \
    --advertise-client-urls "http://127.0.0.1:$ETCD_PORT" --listen-peer-urls "http://127.0.0.1:$ETCD_PEER" \
    --initial-advertise-peer-urls "http://127.0.0.1:$ETCD_PEER" --initial-cluster "$NODE=http://127.0.0.1:$ETCD_PEER" \
    --listen-metrics-urls "" --quota-backend-bytes $((1024 * 1024 * 1024))
  wait_for etcd 30 curl -fsS "http://127.0.0.1:$ETCD_PORT/health"

  step "kube-apiserver on 127.0.0.1:$API_PORT"
  local pki="$D/pki"
  # --enable-aggregator-routing: the API server calls a webhook Service at its endpoints, not its ClusterIP (there is
  # no kube-proxy here): the admission engine runs on this host (scripts/admission-engine.sh up).
  start apiserver "$ROOT/bin/k8s-server" apiserver --etcd-servers "http://127.0.0.1:$ETCD_PORT" \
    --bind-address 127.0.0.1 --secure-port "$API_PORT" --advertise-address "$NODE_IP" --cert-dir "$pki/apiserver-generated" \
    --tls-cert-file "$pki/apiserver.crt" --tls-private-key-file "$pki/apiserver.key" --client-ca-file "$pki/ca.crt" \
    --service-account-key-file "$pki/sa.pub" --service-account-signing-key-file "$pki/sa.key" \
    --service-account-issuer https://kubernetes.default.svc --service-cluster-ip-range "$SERVICE_RANGE" \
    --authorization-mode Node,RBAC --enable-admission-plugins NodeRestriction,PodSecurity \
    --kubelet-client-certificate "$pki/apiserver-kubelet.crt" --kubelet-client-key "$pki/apiserver-kubelet.key" \
    --kubelet-certificate-authority "$pki/ca.crt" --kubelet-preferred-address-types InternalIP \
    --allow-privileged=true --profiling=false --enable-aggregator-routing=true
  wait_for apiserver 90 kubectl_as "$D/kubeconfig.admin" get --raw /readyz

  step "containerd ($sock)"
  mkdir -p "$D/containerd/certs.d/127.0.0.1:$REG_PORT"
  printf 'server = "http://127.0.0.1:%s"\n[host."http://127.0.0.1:%s"]\n  capabilities = ["pull", "resolve"]\n' \
    "$REG_PORT" "$REG_PORT" >"$D/containerd/certs.d/127.0.0.1:$REG_PORT/hosts.toml"
  cat >"$D/containerd/config.toml" <<EOF
version = 3
root = "$D/containerd/root"
state = "$D/containerd/state"
temp = "$D/containerd/tmp"
[grpc]
  address = "$sock"
[plugins.'io.containerd.nri.v1.nri']
  disable = true
[plugins.'io.containerd.internal.v1.opt']
  path = "$D/containerd/opt"
[plugins.'io.containerd.cri.v1.images']
  snapshotter = "overlayfs"
  [plugins.'io.containerd.cri.v1.images'.pinned_images]
    sandbox = "$PAUSE"
  [plugins.'io.containerd.cri.v1.images'.registry]
    config_path = "$D/containerd/certs.d"
[plugins.'io.containerd.cri.v1.runtime']
  netns_mounts_under_state_dir = true
  # No CAP_SYS_RESOURCE here: an oom_score_adj below containerd's own (the kubelet asks -998 for sandboxes) fails.
  restrict_oom_score_adj = true
  [plugins.'io.containerd.cri.v1.runtime'.cni]
    bin_dirs = ["$ROOT/sid/usr/lib/cni"]
    conf_dir = "$D/cni/net.d"
  [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc]
    runtime_type = "io.containerd.runc.v2"
    [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc.options]
      BinaryName = "$(command -v runc || echo /usr/sbin/runc)"
      Root = "$D/containerd/runc"
[plugins.'io.containerd.grpc.v1.cri']
  stream_server_address = "127.0.0.1"
EOF
  cat >"$D/cni/net.d/10-rules-pipeline.conflist" <<EOF
{"cniVersion": "1.0.0", "name": "rules-pipeline", "plugins": [
  {"type": "bridge", "bridge": "$BRIDGE", "isGateway": true, "ipMasq": false, "hairpinMode": true,
   "ipam": {"type": "host-local", "ranges": [[{"subnet": "$POD_SUBNET"}]], "routes": [{"dst": "0.0.0.0/0"}], "dataDir": "$D/cni/ipam"}}]}
EOF
  # The bridge and the host's address on it exist from the start (the bridge plugin would make them with the first
  # pod): a server on the host can bind $GATEWAY before any pod runs, and pods reach it there.
  ip link add "$BRIDGE" type bridge 2>/dev/null || true
  # A MAC address of its own (locally administered), as Docker's docker0 and flannel's cni0 have: a bridge without one
  # takes the lowest of its ports' (each pod's veth, random), so it changed as pods came and went, and every pod's
  # cached MAC of the gateway went stale: their packets to servers here (the registry, the S3 store, the API server)
  # were lost for seconds at a time, new and open connections alike (a map's pods waited 3-27 s on the store).
  ip link set "$BRIDGE" address 02:72:70:6b:38:73
  ip addr replace "$GATEWAY/${POD_SUBNET#*/}" dev "$BRIDGE"
  ip link set "$BRIDGE" up
  # What kube-proxy does for the one Service pods here need: the API server's ClusterIP (what pods find in
  # KUBERNETES_SERVICE_HOST: runMap inside a pod talks to it with its ServiceAccount) led to the API server, which
  # listens on 127.0.0.1 only. Pods on the bridge may be sent to loopback (route_localnet: a setting of the bridge,
  # gone with it); the chain is a KUBE-* chain, which `down` removes with the jump to it.
  echo 1 >"/proc/sys/net/ipv4/conf/$BRIDGE/route_localnet"
  iptables -t nat -N KUBE-RP-APISERVER 2>/dev/null || iptables -t nat -F KUBE-RP-APISERVER
  iptables -t nat -A KUBE-RP-APISERVER -d "${SERVICE_RANGE%.*}.1" -p tcp --dport 443 \
    -j DNAT --to-destination "127.0.0.1:$API_PORT"
  iptables -t nat -C PREROUTING -i "$BRIDGE" -j KUBE-RP-APISERVER 2>/dev/null ||
    iptables -t nat -A PREROUTING -i "$BRIDGE" -j KUBE-RP-APISERVER
  start containerd env PATH="$BIN:$PATH" "$BIN/containerd" --config "$D/containerd/config.toml"
  wait_for containerd 30 "$BIN/ctr" --address "$sock" version

  step "kube-controller-manager and kube-scheduler"
  start controller-manager "$ROOT/bin/k8s-server" controller-manager --kubeconfig "$D/kubeconfig.admin" \
    --service-account-private-key-file "$pki/sa.key" --root-ca-file "$pki/ca.crt" --use-service-account-credentials \
    --leader-elect=false --secure-port 0
  start scheduler "$ROOT/bin/k8s-server" scheduler --kubeconfig "$D/kubeconfig.admin" --leader-elect=false --secure-port 0

  step "kubelet on $NODE_IP:$KUBELET_PORT"
  cat >"$D/kubelet/config.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: $NODE_IP
port: $KUBELET_PORT
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: $HEALTHZ_PORT
authentication: {anonymous: {enabled: false}, webhook: {enabled: true}, x509: {clientCAFile: $pki/ca.crt}}
authorization: {mode: Webhook}
tlsCertFile: $pki/kubelet-serving.crt
tlsPrivateKeyFile: $pki/kubelet-serving.key
cgroupDriver: cgroupfs
failCgroupV1: false
failSwapOn: false
containerRuntimeEndpoint: unix://$sock
imageServiceEndpoint: unix://$sock
resolvConf: /etc/resolv.conf
serializeImagePulls: false
maxPods: 50
evictionHard: {memory.available: 100Mi, nodefs.available: 2%, imagefs.available: 2%, nodefs.inodesFree: 2%}
imageGCHighThresholdPercent: 99
imageGCLowThresholdPercent: 98
podLogsDir: $D/logs/pods
EOF
  start kubelet "$ROOT/bin/k8s-server" kubelet --config "$D/kubelet/config.yaml" --kubeconfig "$D/kubeconfig.kubelet" \
    --root-dir "$D/kubelet" --cert-dir "$pki/kubelet-generated" --hostname-override "$NODE" --node-ip "$NODE_IP"

  kubeconfig "$D/kubeconfig" admin
  wait_for kubelet 60 kubectl_as "$D/kubeconfig" wait --for=condition=Ready "node/$NODE" --timeout=2s
  alive controller-manager || fail controller-manager "it exited"
  alive scheduler || fail scheduler "it exited"
  wait_for controller-manager 30 kubectl_as "$D/kubeconfig" get serviceaccount default
  step "node $NODE Ready in $((SECONDS - start)) s (kubectl: $BIN/kubectl)"
  echo "$D/kubeconfig"
}

# Processes of DIR's containers: everything in the kubepods cgroups (the kubelet's, one cluster per machine).
pod_pids() { cat /sys/fs/cgroup/pids/kubepods/cgroup.procs /sys/fs/cgroup/pids/kubepods/*/cgroup.procs \
  /sys/fs/cgroup/pids/kubepods/*/*/cgroup.procs /sys/fs/cgroup/pids/kubepods/*/*/*/cgroup.procs 2>/dev/null || true; }

# stop PID...: SIGTERM, up to 10 s, then SIGKILL.
stop_pids() {
  local pid n=0
  (($# > 0)) || return 0
  kill -TERM "$@" 2>/dev/null || true
  while ((n < 20)); do
    for pid in "$@"; do kill -0 "$pid" 2>/dev/null && break; pid=""; done
    [[ -z "$pid" ]] && return 0
    sleep 0.5; n=$((n + 1))
  done
  kill -KILL "$@" 2>/dev/null || true
}

# The KUBE-* chains of the host's filter, nat and mangle tables, one "TOOL TABLE CHAIN" a line.
kube_chains() {
  local tool table
  for tool in iptables ip6tables; do
    for table in filter nat mangle; do
      "$tool" -t "$table" -S 2>/dev/null | awk -v p="$tool $table" '$1 == "-N" && $2 ~ /^KUBE-/ { print p, $2 }'
    done
  done
}

# Removes the KUBE-* chains that are not in FILE (what `up` found), first the rules of other chains that jump to them.
remove_new_kube_chains() {
  local tool table chain rule
  kube_chains | while read -r tool table chain; do
    grep -qxF "$tool $table $chain" "$1" 2>/dev/null && continue
    "$tool" -t "$table" -S 2>/dev/null | awk -v c="$chain" '$1 == "-A" && $2 != c { for (k = 3; k < NF; k++) if ($k == "-j" && $(k + 1) == c) { print; next } }' |
      while read -r rule; do eval "\"\$tool\" -t \"\$table\" -D ${rule#-A }" 2>/dev/null || true; done
    "$tool" -t "$table" -F "$chain" 2>/dev/null || true
    "$tool" -t "$table" -X "$chain" 2>/dev/null || true
  done
}

down() {
  D="$(cd "$1" 2>/dev/null && pwd -P)" || die "no such directory: $1"
  [[ -d "$D/run" ]] || { step "nothing started in $D"; return 0; }
  local i name pid mnt proc
  local -a pids
  for ((i = ${#COMPONENTS[@]} - 1; i >= 0; i--)); do
    name="${COMPONENTS[i]}"
    pid="$(cat "$D/run/$name.pid" 2>/dev/null)" || continue
    [[ "$name" == containerd ]] && { read -r -a pids <<<"$(pod_pids | tr '\n' ' ')"; stop_pids "${pids[@]}"; }
    stop_pids "$pid"
    [[ "$name" == containerd ]] && {
      # The shims of DIR's containerd (each names its socket on its command line) outlive it.
      pids=()
      for proc in /proc/[0-9]*; do grep -qsF -- "$D/run/containerd.sock" "$proc/cmdline" && pids+=("${proc#/proc/}"); done
      stop_pids "${pids[@]}"
    }
    rm -f "$D/run/$name.pid"
  done
  # Mounts under DIR (overlay rootfs, shm, netns, projected volumes), deepest first.
  awk '{ print $5 }' /proc/self/mountinfo | grep -F "$D/" | sort -r | while read -r mnt; do
    umount "$mnt" 2>/dev/null || umount -l "$mnt" 2>/dev/null || true
  done
  ip link del "$BRIDGE" 2>/dev/null || true
  # The kubelet links each container's log from /var/log/containers (a fixed path) into DIR.
  find /var/log/containers -maxdepth 1 -type l -lname "$D/*" -delete 2>/dev/null || true
  for mnt in /sys/fs/cgroup/*/kubepods; do
    [[ -d "$mnt" ]] && find "$mnt" -depth -type d -exec rmdir {} + 2>/dev/null || true
  done
  remove_new_kube_chains "$D/run/kube-chains.before"
  if [[ -f "$D/run/sysctl.before" ]]; then
    while read -r name i; do echo "$i" >"/proc/sys/$name" || true; done <"$D/run/sysctl.before"
  fi
  # containerd keeps its shims' sockets in /run/containerd/s whatever its state dir: gone with the shims.
  [[ -f "$D/run/made-run-containerd" ]] && rm -rf /run/containerd
  rm -rf "$D/run"
  [[ -f "$OWNER" && "$(cat "$OWNER")" == "$D" ]] && rm -f "$OWNER"
  step "stopped the cluster in $D"
}
