#!/usr/bin/env bash
# Makes a release archive of rules_pipeline: scripts/release.sh VERSION [--ref REF] [--out DIR] [--url-base URL]
#
#   dist/release/rules_pipeline-vX.Y.Z.tar.gz   `git archive` of REF (default HEAD) under rules_pipeline-vX.Y.Z/,
#                                               without the files .gitattributes marks export-ignore (tests,
#                                               examples, benchmarks, scripts), gzip -n: byte-identical every time
#                                               for the same commit (entries in tree order, mtime = commit time);
#                                               plus prebuilt/: the rules' own tools built from REF's sources (the
#                                               CLI's bundle, its loader, the launchers' preload, the TsCompile
#                                               runner and the compiler snapshot's builder, the runtime library,
#                                               the packages commands load lazily, one file each), which
#                                               the rules use instead of building them (bazel/private/bundle/prebuilt.bzl,
#                                               tools_repo.bzl): a consumer never fetches @rules_pipeline_tools_npm.
#   dist/release/rules_pipeline-vX.Y.Z.tar.gz.sha256
# and prints the snippets for WORKSPACE (http_archive) and MODULE.bazel (bazel_dep + archive_override).
#
# --url-base is where the archive will be downloaded from (default: file:// of --out, which works on this machine
# only: upload the archive and pass its release URL's directory). Only committed content is archived; REF's
# MODULE.bazel must already say `version = "X.Y.Z"`.
set -euo pipefail

usage() { echo "usage: scripts/release.sh VERSION [--ref REF] [--out DIR] [--url-base URL]" >&2; exit 2; }
[[ $# -ge 1 ]] || usage
version="${1#v}"
shift
ref=HEAD
out=""
url_base=""
while [[ $# -gt 0 ]]; do
  case "$1" in
    --ref) ref="${2:?--ref needs a value}"; shift 2 ;;
    --out) out="${2:?--out needs a value}"; shift 2 ;;
    --url-base) url_base="${2:?--url-base needs a value}"; shift 2 ;;
    *) usage ;;
  esac
done
if [[ ! "$version" =~ ^[0-9]+\.[0-9]+\.[0-9]+$ ]]; then
  echo "release.sh: VERSION must be X.Y.Z (or vX.Y.Z), got '$version'" >&2
  exit 2
fi

root="$(git -C "$(dirname "$0")" rev-parse --show-toplevel)"
cd "$root"
commit="$(git rev-parse --verify "$ref^{commit}" 2>/dev/null)" || { echo "release.sh: --ref '$ref' is not a commit" >&2; exit 2; }
module_version="$(git show "$commit:MODULE.bazel" | sed -n 's/^ *version = "\(.*\)",*$/\1/p' | head -n1)"
if [[ "$module_version" != "$version" ]]; then
  echo "release.sh: MODULE.bazel at $commit says version = \"$module_version\", not \"$version\": bump it (and package.json) and commit first" >&2
  exit 1
fi
if [[ -n "$(git status --porcelain --untracked-files=no)" && "$ref" == HEAD ]]; then
  echo "release.sh: note: uncommitted changes are not in the archive (it is made from $commit)" >&2
fi

name="rules_pipeline-v$version"
out="${out:-$root/dist/release}"
mkdir -p "$out"
out="$(cd "$out" && pwd)"
archive="$out/$name.tar.gz"
url_base="${url_base:-file://$out}"

# The tools, built from REF's files (not the working tree's) with this checkout's esbuild and TypeScript (the root
# package-lock.json pins the versions bazel/npm_tools/package-lock.json has), as BUILD.bazel's targets and
# bazel/private/repositories/tools_repo.bzl build them.
if [[ ! -f "$root/node_modules/esbuild/lib/main.js" || ! -f "$root/node_modules/typescript/lib/typescript.js" ]]; then
  echo "release.sh: $root/node_modules has no esbuild or typescript: run npm ci first (they build prebuilt/)" >&2
  exit 1
fi
stage="$(mktemp -d "${TMPDIR:-/tmp}/rules_pipeline-release.XXXXXX")"
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage/tree" "$stage/prebuilt/runtime"
git archive --format=tar "$commit" | tar -x -C "$stage/tree"
ln -s "$root/node_modules" "$stage/tree/node_modules"
# The commit's bazel/private/repositories/tools_repo.bzl's one-line list NAME, one string per line: the archive's tools are built
# as that rule builds them in a checkout.
tools_repo_list() {
  sed -n "s/^$1 = \\[\\(.*\\)\\]\$/\\1/p" "$stage/tree/bazel/private/repositories/tools_repo.bzl" | tr ',' '\n' | tr -d '" '
}
# Left out of the bundles (_EXTERNAL), and the packages commands load lazily (_LAZY_PACKAGES), one file each, so that
# the archive's @rules_pipeline_tools has every file it links.
mapfile -t external_packages < <(tools_repo_list _EXTERNAL)
mapfile -t lazy_packages < <(tools_repo_list _LAZY_PACKAGES)
if ((${#external_packages[@]} == 0 || ${#lazy_packages[@]} == 0)); then
  echo "release.sh: bazel/private/repositories/tools_repo.bzl at $commit lacks a one-line _EXTERNAL = [...] or _LAZY_PACKAGES = [...]" >&2
  exit 1
fi
external=()
for pkg in "${external_packages[@]}"; do external+=(--external "$pkg"); done
modules=()
module_files=()
mkdir -p "$stage/tree/entries"
for pkg in "${lazy_packages[@]}"; do
  entry="entries/${pkg//\//__}.js"
  printf 'module.exports = require("%s");\n' "$pkg" >"$stage/tree/$entry"
  mkdir -p "$stage/prebuilt/modules/$pkg"
  modules+=(--bundle "$entry" "$stage/prebuilt/modules/$pkg/index.js")
  module_files+=(--prefix="$name/prebuilt/modules/$pkg/" --add-file="$stage/prebuilt/modules/$pkg/index.js")
done
(
  cd "$stage/tree"
  node bootstrap/esbuild_bundle.js node_modules/esbuild/lib/main.js node_modules \
    --bundle tools/pipeline.ts "$stage/prebuilt/pipeline_cli.js" --lazy "$stage/prebuilt/pipeline_cli.lazy.js" src/cli/lazy-bundle.ts "${external[@]}" \
    --bundle tools/bundle-loader.ts "$stage/prebuilt/pipeline_loader.js" "${external[@]}" \
    --bundle tools/preload.ts "$stage/prebuilt/pipeline_preload.js" "${external[@]}" \
    --bundle tools/tsc-worker.ts "$stage/prebuilt/tsc_worker.js" \
    --bundle tools/tsc-snapshot.ts "$stage/prebuilt/tsc_snapshot.js" \
    --bundle tools/ts-transpile.ts "$stage/ts_transpile.js" \
    "${modules[@]}" \
    --input-dir src --input-dir tools --input-dir entries --input-dir node_modules --input bootstrap/npm_guard.js
  # Every file of the runtime library (index.ts, the map worker's), one run for all (BUILD.bazel: index.ts in one action, the others together in a second).
  runtime_args=()
  for src in src/runtime/*.ts; do
    [[ "$src" == *.test.ts ]] && continue
    stem="$(basename "$src" .ts)"
    runtime_args+=("$src" "$stage/prebuilt/runtime/$stem.js" "$stage/prebuilt/runtime/$stem.d.ts")
  done
  # The runtime library's transpiler (`//:ts_transpiler`), bundled above; the archive holds the library, not it.
  node "$stage/ts_transpile.js" node_modules/typescript/lib/typescript.js "${runtime_args[@]}"
)
runtime_files=()
for f in "$stage/prebuilt/runtime/"*; do runtime_files+=(--add-file="$f"); done

# tar.umask pins the modes (0644/0755) whatever the local umask; gzip -n leaves out the name and time stamp. Added
# files get the commit's time too (git archive --add-file: the last --prefix before each names its directory).
git -c tar.umask=0022 archive --format=tar \
  --prefix="$name/prebuilt/" \
  --add-file="$stage/prebuilt/pipeline_cli.js" --add-file="$stage/prebuilt/pipeline_cli.lazy.js" \
  --add-file="$stage/prebuilt/pipeline_loader.js" --add-file="$stage/prebuilt/pipeline_preload.js" \
  --add-file="$stage/prebuilt/tsc_worker.js" --add-file="$stage/prebuilt/tsc_snapshot.js" \
  --prefix="$name/prebuilt/src/runtime/" \
  "${runtime_files[@]}" \
  "${module_files[@]}" \
  --prefix="$name/" "$commit" | gzip -n -9 > "$archive.tmp"
mv "$archive.tmp" "$archive"
sha256="$(sha256sum "$archive" | cut -d' ' -f1)"
echo "$sha256  $name.tar.gz" > "$archive.sha256"
# Subresource-integrity form of the same digest, for archive_override(integrity = ...).
integrity="sha256-$(node -e 'process.stdout.write(Buffer.from(process.argv[1], "hex").toString("base64"))' "$sha256")"

echo "release.sh: $archive ($(wc -c < "$archive") bytes) from $commit" >&2
cat <<SNIPPETS
# $name.tar.gz
# sha256: $sha256

# MODULE.bazel (Bazel >= 6)
bazel_dep(name = "rules_pipeline", version = "$version")
archive_override(
    module_name = "rules_pipeline",
    integrity = "$integrity",
    strip_prefix = "$name",
    urls = ["$url_base/$name.tar.gz"],
)

# WORKSPACE
load("@bazel_tools//tools/build_defs/repo:http.bzl", "http_archive")

http_archive(
    name = "rules_pipeline",
    sha256 = "$sha256",
    strip_prefix = "$name",
    urls = ["$url_base/$name.tar.gz"],
)
SNIPPETS
