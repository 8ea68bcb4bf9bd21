# Sourced by scripts/bazel7.sh and scripts/k8s-cluster.sh: what their one-time setups share. Debian sid packages on a
# bookworm host without installing sid, and logged steps. Callers define die() (prints a message and exits).

# The Go garbage collector's settings for the set-up's cold Go builds (the compiler and linker are Go programs): GOGC=400
# collects a quarter as often. Measured here (2026-11-28, empty build cache, client-go and its dependencies with the
# flags of these builds): 91 → 81 CPU-s (-11%), each compile's peak RSS 0.31 → 0.43-0.53 GB; GOGC=off gained nothing
# more. GOMEMLIMIT caps a process's heap where that would matter (the link of a large binary): the collector runs more
# often as it comes near 6 GiB, so memory stays bounded on a machine running the tests beside the build.
GO_BUILD_ENV=(GOGC=400 GOMEMLIMIT=6GiB)

# logged_to LOG PREFIX WHAT CMD...: runs CMD with stdout+stderr appended to LOG; on failure prints LOG's last lines,
# naming the step, and exits 1.
logged_to() {
  local log="$1" prefix="$2" what="$3"; shift 3
  echo "== $what: $*" >>"$log"
  if ! "$@" >>"$log" 2>&1; then
    echo "$prefix: $what failed; last lines of $log:" >&2
    tail -n 25 "$log" >&2
    exit 1
  fi
}

# The Debian mirror the host's own apt sources name ($PIPELINE_DEBIAN_MIRROR, or the older $PIPELINE_BAZEL7_MIRROR,
# wins): the first archive URI that is not the security archive, from deb822 .sources files or one-line .list files.
host_mirror() {
  local override="${PIPELINE_DEBIAN_MIRROR:-${PIPELINE_BAZEL7_MIRROR:-}}"
  if [[ -n "$override" ]]; then echo "$override"; return; fi
  local f uri
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
  die "no Debian mirror found in /etc/apt/sources.list*; set PIPELINE_DEBIAN_MIRROR=http://…/debian"
}

# sid_unpack STATE DEST PKG...: downloads the named packages (no dependencies) from sid on the host's mirror with an
# apt run whose state (lists, archives, sources) lives in STATE, and unpacks each with `dpkg-deb -x` into DEST.
# Nothing is installed; the host's apt state is not touched. sid's Release file on a mirror may be expired, hence
# Check-Valid-Until=false.
sid_unpack() { suite_unpack sid "$@"; }

# suite_unpack SUITE STATE DEST PKG...: sid_unpack from another suite of the host's mirror (e.g. the host's own,
# `host_suite`, for a binary that must run on the host's libc).
suite_unpack() {
  local suite="$1" state="$2" dest="$3" deb; shift 3
  mkdir -p "$state/lists/partial" "$state/archives/partial" "$state/debs" "$dest"
  echo "deb [trusted=yes] $(host_mirror) $suite main" >"$state/sources.list"
  local -a opts=(-o "Dir::Etc::SourceList=$state/sources.list" -o Dir::Etc::SourceParts=/dev/null
    -o "Dir::State::Lists=$state/lists" -o "Dir::Cache=$state" -o "Dir::Cache::Archives=$state/archives"
    -o Dir::State::status=/dev/null -o Acquire::Check-Valid-Until=false -o APT::Sandbox::User=root -q)
  apt-get "${opts[@]}" update || return 1
  (cd "$state/debs" && apt-get "${opts[@]}" download "$@") || return 1
  for deb in "$state/debs"/*.deb; do dpkg-deb -x "$deb" "$dest" || return 1; done
}

# The host's Debian/Ubuntu suite (VERSION_CODENAME of /etc/os-release, e.g. bookworm).
host_suite() {
  local codename
  codename="$(. /etc/os-release && echo "${VERSION_CODENAME:-}")"
  [[ -n "$codename" ]] || die "no VERSION_CODENAME in /etc/os-release: cannot tell the host's suite"
  echo "$codename"
}
