#!/usr/bin/env bash
# Runs each fuzz target for a bounded time (default 60 s each; not part of CI).
#
#   fuzz/run.sh                 # both targets, 60 s each
#   MAX_TOTAL_TIME=300 fuzz/run.sh labels_from_str
#
# Needs cargo-fuzz (`cargo install cargo-fuzz`) and a nightly toolchain (cargo-fuzz builds
# with sanitizer flags that stable rustc refuses), e.g. `rustup toolchain install nightly`;
# TOOLCHAIN picks it (default: nightly). The seed corpus is the httpbin mirroring rule's YAML and a few label
# strings, so the fuzzer starts from valid input. Crashes land in fuzz/artifacts/TARGET/.

set -euo pipefail
cd "$(dirname "$0")"

MAX_TOTAL_TIME=${MAX_TOTAL_TIME:-60}
TOOLCHAIN=${TOOLCHAIN:-nightly}
TARGETS=("$@")
if [[ ${#TARGETS[@]} -eq 0 ]]; then
    TARGETS=(labels_from_str istio_config)
fi

seed() {
    mkdir -p corpus/labels_from_str corpus/istio_config
    printf 'version=v1' >corpus/labels_from_str/one
    printf 'version=v1,zone=a' >corpus/labels_from_str/two
    printf ' app = httpbin , version=v2 ' >corpus/labels_from_str/spaces
    printf 'a=b=c' >corpus/labels_from_str/equals_in_value
    cat >corpus/istio_config/seed.yaml <<'YAML'
apiVersion: config.istio.io/v1alpha2
kind: RouteRule
metadata:
  name: mirror-traffic-to-httbin-v2
spec:
  destination:
    name: httpbin
  precedence: 11
  route:
  - labels:
      version: v1
    weight: 100
  - labels:
      version: v2
    weight: 0
  mirror:
    name: httpbin
    labels:
      version: v2
YAML
}

seed
for target in "${TARGETS[@]}"; do
    features=()
    if [[ $target == istio_config ]]; then
        features=(--features istio)
    fi
    echo "== $target: ${MAX_TOTAL_TIME} s" >&2
    cargo "+$TOOLCHAIN" fuzz run "${features[@]}" "$target" "corpus/$target" -- \
        -max_total_time="$MAX_TOTAL_TIME"
done
