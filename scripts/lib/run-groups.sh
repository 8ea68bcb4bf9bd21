# Sourced by scripts/test.sh: its long steps stop with it. Bash runs a trap only between foreground commands, and
# without a trap SIGTERM kills bash at once, so a step in the foreground (vitest, tsc, a Bazel client) kept running
# after `kill` or a CI time-out, with its Bazel servers and cluster.
#
#   in_group CMD...       runs CMD in a process group of its own, in the background with stdin from /dev/null, and
#                         waits for it (a trapped signal interrupts the wait); returns CMD's exit code
#   stop_on_signals       TERM, INT and HUP end the script (exit 128+N) through its EXIT trap
#   stop_groups           TERM to every group in_group or `background` started (RUN_GROUPS), KILL after 5 s to
#                         what is left; the EXIT trap calls it
#   stop_bazel_servers MARKER ROOT...
#                         for each output base under ROOT whose DO_NOT_BUILD_HERE is newer than MARKER (started by
#                         this run): stops its server (by the PID Bazel wrote) and removes the output base; with
#                         BAZEL_WORKSPACES_UNDER=DIR set, only those of the workspaces under DIR
#
# RUN_INTERRUPTED is 1 once a signal arrived (cleanup does more then: a finished run left nothing behind).
RUN_GROUPS=()
RUN_INTERRUPTED=0

in_group() {
  local pid rc=0
  set -m
  "$@" </dev/null & # no stdin: a background group that read the terminal would be stopped (SIGTTIN)
  pid=$!
  set +m
  RUN_GROUPS+=("$pid")
  wait "$pid" || rc=$?
  return "$rc"
}

stop_on_signals() {
  local sig n
  for sig in TERM:15 INT:2 HUP:1; do
    n="${sig#*:}"
    # shellcheck disable=SC2064 # the number is fixed when the trap is set
    trap "RUN_INTERRUPTED=1; trap - ${sig%:*}; echo \"\$0: SIG${sig%:*}: stopping the run\" >&2; exit $((128 + n))" "${sig%:*}"
  done
}

# The groups still alive, as negative PIDs for kill.
live_groups() {
  local p
  for p in "${RUN_GROUPS[@]}"; do kill -0 -- "-$p" 2>/dev/null && echo "-$p"; done
  return 0
}

stop_groups() {
  local live i
  mapfile -t live < <(live_groups)
  ((${#live[@]})) || return 0
  kill -TERM -- "${live[@]}" 2>/dev/null || true
  for ((i = 0; i < 50; i++)); do
    mapfile -t live < <(live_groups)
    ((${#live[@]})) || return 0
    sleep 0.1
  done
  kill -KILL -- "${live[@]}" 2>/dev/null || true
}

stop_bazel_servers() {
  local marker="$1" root base pid i
  shift
  for root in "$@"; do
    for base in "$root"/*/; do
      base="${base%/}"
      [[ -f "$base/DO_NOT_BUILD_HERE" && "$base/DO_NOT_BUILD_HERE" -nt "$marker" ]] || continue
      [[ -z "${BAZEL_WORKSPACES_UNDER:-}" || "$(cat "$base/DO_NOT_BUILD_HERE")" == "$BAZEL_WORKSPACES_UNDER"/* ]] || continue
      pid="$(cat "$base/server/server.pid.txt" 2>/dev/null || true)"
      # Only that server: a PID whose command line names this output base (a PID can be reused).
      if [[ "$pid" =~ ^[0-9]+$ ]] && tr '\0' '\n' <"/proc/$pid/cmdline" 2>/dev/null | grep -qxF -- "--output_base=$base" &&
        kill -TERM "$pid" 2>/dev/null; then
        for ((i = 0; i < 50; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$pid" 2>/dev/null || true
      fi
      echo "stopped the Bazel server of $(cat "$base/DO_NOT_BUILD_HERE" 2>/dev/null) and removed $base" >&2
      chmod -R u+w "$base" 2>/dev/null || true
      rm -rf --one-file-system "$base"
    done
  done
}
