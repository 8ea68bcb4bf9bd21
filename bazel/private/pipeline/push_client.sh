# The push launcher's client of the resident push daemon (src/cli/push-daemon/, docs/bazel.md#the-push-daemon), sourced by
# `bazel run //pkg:NAME_push`'s launcher (launcher.bzl cli_exec) and by test/unit/push-client.test.ts.
#
# `_push_daemon ARGS...` asks the daemon of the bundle $PIPELINE_CLI to run `pipeline bazel-push --config $_config
# ARGS...` in this environment and directory, without a Node of its own; it returns 0 with `_pd_code` set to the
# push's exit code when the daemon ran it, and 1 when there is no daemon, it declined (busy, another Node set-up,
# --password-stdin) or it ended before the push did: the launcher then execs Node as before (a push is idempotent).
# `_ca` holds the Node flags the launcher would run with (launcher.bzl ca_swap).
#
# The wire format is src/cli/push-daemon/protocol.ts's. Only bash builtins run (no subshell, no other program), except
# `stty` when standard error is a terminal.

# The state file's name: protocol.ts daemonKey, byte by byte (LC_ALL=C, in a function of its own).
_pd_key() {
  local LC_ALL=C
  _pd_k="${PIPELINE_CLI//[^A-Za-z0-9]/_}"
  if ((${#_pd_k} > 200)); then _pd_k="${_pd_k: -200}"; fi
}

_push_daemon() {
  [[ "${PIPELINE_PUSH_DAEMON:-}" != 0 && -n "${PIPELINE_CLI:-}" ]] || return 1
  local _pd_root _pd_state _pd_port _pd_ss _pd_cs _pd_line _pd_tty=0 _pd_cols='' _pd_n _pd_f
  # The cache root, as src/cache/layout.ts cacheRoot computes it.
  if [[ -n "${PIPELINE_CACHE_DIR:-}" ]]; then
    if [[ "$PIPELINE_CACHE_DIR" == /* ]]; then _pd_root="$PIPELINE_CACHE_DIR"; else _pd_root="$PWD/$PIPELINE_CACHE_DIR"; fi
  elif [[ "${XDG_CACHE_HOME:-}" == /* ]]; then
    _pd_root="$XDG_CACHE_HOME/rules_pipeline"
  elif [[ -n "${HOME:-}" ]]; then
    _pd_root="$HOME/.cache/rules_pipeline"
  else
    return 1
  fi
  _pd_key
  _pd_state="$_pd_root/push-daemon/$_pd_k"
  # The directory and the file must be the user's own: the secrets are there, and a port anyone else named is not
  # one to send this environment to.
  [[ -O "$_pd_root/push-daemon" && ! -L "$_pd_root/push-daemon" && -O "$_pd_state" && ! -L "$_pd_state" ]] || return 1
  read -r _pd_port _pd_ss _pd_cs _ <"$_pd_state" 2>/dev/null || return 1
  [[ "$_pd_port" =~ ^[0-9]{1,5}$ && -n "$_pd_ss" && -n "$_pd_cs" ]] || return 1
  { exec 3<>"/dev/tcp/127.0.0.1/$_pd_port"; } 2>/dev/null || return 1
  # The daemon proves itself first: nothing is sent to a port someone else listens on.
  if ! IFS= read -r -t 5 _pd_line <&3 || [[ "$_pd_line" != "$_pd_ss" ]]; then
    exec 3<&-
    return 1
  fi
  if [[ -t 2 ]]; then
    _pd_tty=1
    read -r _ _pd_cols < <(stty size <&2 2>/dev/null) || _pd_cols=''
  fi
  local -a _pd_req=("S$_pd_cs" "V1" "D$PWD" "T$_pd_tty" "W$_pd_cols")
  for _pd_f in ${_ca[@]+"${_ca[@]}"}; do _pd_req+=("F$_pd_f"); done
  _pd_req+=("A--config" "A$_config")
  for _pd_f in "$@"; do _pd_req+=("A$_pd_f"); done
  # The exported variables, found without a subshell: every name by its first character, kept when exported.
  for _pd_n in ${!A*} ${!B*} ${!C*} ${!D*} ${!E*} ${!F*} ${!G*} ${!H*} ${!I*} ${!J*} ${!K*} ${!L*} ${!M*} \
    ${!N*} ${!O*} ${!P*} ${!Q*} ${!R*} ${!S*} ${!T*} ${!U*} ${!V*} ${!W*} ${!X*} ${!Y*} ${!Z*} ${!_*} \
    ${!a*} ${!b*} ${!c*} ${!d*} ${!e*} ${!f*} ${!g*} ${!h*} ${!i*} ${!j*} ${!k*} ${!l*} ${!m*} \
    ${!n*} ${!o*} ${!p*} ${!q*} ${!r*} ${!s*} ${!t*} ${!u*} ${!v*} ${!w*} ${!x*} ${!y*} ${!z*}; do
    if [[ -v "$_pd_n" && "${!_pd_n@a}" == *x* ]]; then _pd_req+=("E$_pd_n=${!_pd_n}"); fi
  done
  _pd_req+=(Z)
  if ! printf '%s\0' "${_pd_req[@]}" >&3 2>/dev/null || ! IFS= read -r -t 60 _pd_line <&3 || [[ "$_pd_line" != y ]]; then
    exec 3<&-
    return 1
  fi
  # Served: the push's output, then its exit code.
  while IFS= read -r _pd_line <&3; do
    case "$_pd_line" in
      o*) printf '%b' "${_pd_line:1}" ;;
      e*) printf '%b' "${_pd_line:1}" >&2 ;;
      x*)
        exec 3<&-
        _pd_code="${_pd_line:1}"
        [[ "$_pd_code" =~ ^[0-9]{1,3}$ ]] || _pd_code=1
        return 0
        ;;
    esac
  done
  exec 3<&-
  echo "rules_pipeline: the push daemon ended before the push did; pushing without it" >&2
  return 1
}
