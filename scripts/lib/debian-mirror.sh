# Sourced by scripts/bazel7.sh and scripts/sid-tools.sh (not executable on its own).
#
# host_mirror OVERRIDE_VAR: the Debian mirror the host's own apt sources name (the variable named OVERRIDE_VAR, when
# set, wins): the first archive URI that is not the security archive, from deb822 .sources files or one-line .list
# files. Prints nothing and returns 1 when there is none.
host_mirror() {
  local override="${!1:-}" f uri
  if [[ -n "$override" ]]; then echo "$override"; return; fi
  for f in /etc/apt/sources.list.d/*.sources; do
    [[ -f "$f" ]] || continue
    uri="$(awk '/^URIs:/ { for (i = 2; i <= NF; i++) if ($i !~ /security/) { print $i; exit } }' "$f")"
    [[ -n "$uri" ]] && { echo "$uri"; return; }
  done
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [[ -f "$f" ]] || continue
    uri="$(awk '$1 == "deb" { for (i = 2; i <= NF; i++) if ($i ~ /^(https?|file):/ && $i !~ /security/) { print $i; exit } }' "$f")"
    [[ -n "$uri" ]] && { echo "$uri"; return; }
  done
  return 1
}
