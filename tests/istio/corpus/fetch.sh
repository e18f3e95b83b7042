#!/usr/bin/env bash
# Downloads the real Istio files that `expected.json` describes into DIR (default
# target/istio-corpus), from the repositories and commits listed in README.md, so that
#   TOWER_MIRROR_ISTIO_CORPUS=DIR cargo test --all-features --test istio corpus -- --ignored
# holds tower-mirror against them. The files are Istio's (Apache-2.0) and are not kept in
# this repository. Rows marked *extracted* are one YAML block of a documentation page: the
# script prints where to find them; save the block under the listed name.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
dir="${1:-$here/../../../target/istio-corpus}"
mkdir -p "$dir"
head_istio=86c9f01fd735fb01d8192f5bcaf0d424afb7f14c
commit_of() {
  case "$1" in
    HEAD) echo "$head_istio" ;;
    0.5.0) echo c9debceacb63a14a9ae24df433e2ec3ce1f16fc7 ;;
    1.10.0) echo d26cba7e341587453ffeb978f5cf6fbc32f346f8 ;;
    1.15.0) echo e3364ab424b70ca8ee1ca76cb0b3afb73476aaac ;;
    *) echo "$1" ;;
  esac
}
missing=0
# Table rows: | `file` | repo | `path` | commit | notes |
grep -E '^\| `[^`]+` \| istio/' "$here/README.md" | while IFS='|' read -r _ file repo path commit notes _; do
  file=$(echo "$file" | tr -d ' `'); repo=$(echo "$repo" | tr -d ' ')
  path=$(echo "$path" | tr -d ' `'); commit=$(commit_of "$(echo "$commit" | tr -d ' `')")
  if [[ "$notes" == *extracted* ]]; then
    echo "by hand: $file <- https://github.com/$repo/blob/$commit/$path ($notes)" >&2
    continue
  fi
  [ -s "$dir/$file" ] && continue
  curl -fsSL --max-time 30 -o "$dir/$file" "https://raw.githubusercontent.com/$repo/$commit/$path" \
    || { echo "failed: $file" >&2; missing=1; }
done
echo "corpus in $dir"
exit "$missing"
