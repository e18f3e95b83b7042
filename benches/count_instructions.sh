#!/usr/bin/env bash
# Instructions per request, baseline vs variant, for each case of `benches/ratios.rs`,
# counted with callgrind: deterministic, so unlike the clock it is not disturbed by other
# load on the machine. Each side is run at two sizes and the difference is divided by the
# difference in requests, which cancels start-up and runtime construction. The spawned
# copies (polled in tokio's `run_task`) are not counted: like the clock in ratios.rs, this
# is the primary path only. A 64 KiB memcpy counts as ~65k instructions here (callgrind
# counts each `rep movsb` step), far more than its share of the time.
#
#   benches/count_instructions.sh [case...]    (default: sampling get tee tee_walk)
#
# Needs valgrind. Uses the `ratios` bench binary built by `cargo bench --no-run`.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=$(cargo bench --bench ratios --no-run 2>&1 | sed -n 's/.*Executable .*(\(.*\)).*/\1/p' | tail -1)
[ -x "$bin" ] || { echo "ratios bench binary not found" >&2; exit 1; }
cases=("$@")
[ ${#cases[@]} -gt 0 ] || cases=(sampling get tee tee_walk)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# Requests per round at a scale, as computed in ratios.rs; each side runs 6 rounds
# (a warm-up and 5 measured).
per_round() { # case scale
  case $1 in
    tee*) awk -v s="$2" 'BEGIN { n = int(20000 * s); print (n < 500 ? 500 : n) }' ;;
    *) awk -v s="$2" 'BEGIN { n = int(200000 * s); print (n < 500 ? 500 : n) }' ;;
  esac
}

count() { # case side scale
  RATIOS_ONLY=$1 RATIOS_SIDE=$2 RATIOS_SCALE=$3 valgrind --tool=callgrind \
    --callgrind-out-file="$tmp/out" "$bin" --bench >/dev/null 2>"$tmp/err"
  local total tasks
  total=$(sed -n 's/.*Collected : \([0-9]*\).*/\1/p' "$tmp/err")
  tasks=$(callgrind_annotate --inclusive=yes --threshold=100 "$tmp/out" |
    sed -n 's/^ *\([0-9,]*\) .*current_thread::Context::run_task \[.*/\1/p' | tr -d , | head -1)
  echo $((total - ${tasks:-0}))
}

printf '| case | baseline instr/req | variant instr/req | ratio | added |\n|---|---|---|---|---|\n'
for c in "${cases[@]}"; do
  case $c in tee*) small=0.05 big=0.1 ;; *) small=0.02 big=0.04 ;; esac
  n1=$(per_round "$c" $small) n2=$(per_round "$c" $big)
  declare -A per
  for side in baseline variant; do
    i1=$(count "$c" $side $small) i2=$(count "$c" $side $big)
    per[$side]=$(awk -v a="$i1" -v b="$i2" -v n1="$n1" -v n2="$n2" \
      'BEGIN { printf "%.0f", (b - a) / (6 * (n2 - n1)) }')
  done
  awk -v c="$c" -v b="${per[baseline]}" -v v="${per[variant]}" \
    'BEGIN { printf "| `%s` | %d | %d | %.2fx | %+d |\n", c, b, v, v / b, v - b }'
done
