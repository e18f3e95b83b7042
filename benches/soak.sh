#!/usr/bin/env bash
# Soak test (not run in CI): does tower-mirror-proxy keep a flat memory footprint
# while its shadow hangs under full load? (Guarantee 7: bounded memory.)
#
#   SECONDS_TOTAL=60 benches/soak.sh
#
# Starts, all on 127.0.0.1 with ports picked free at run time:
#   - a primary: a tiny Python asyncio responder ("200 OK", body "ok", keep-alive);
#   - a hung shadow: Python asyncio, accepts and reads, never answers;
#   - tower-mirror-proxy (release) in front of the primary, mirroring to the shadow;
# drives the proxy with wrk for SECONDS_TOTAL seconds, samples the proxy's RSS from
# /proc/PID/status every second, and writes the curve and its spread after warm-up into
# BENCHMARKS.md between <!-- soak:start --> and <!-- soak:end -->.
#
# Environment:
#   SECONDS_TOTAL  load duration in seconds (default 60)
#   WARMUP_SECONDS seconds left out of the verdict (default 120: under a hung shadow RSS
#                  climbs for about two minutes before it levels off; at most the run
#                  less 30 s). WARMUP is the older name, still read.
#   CONNECTIONS    wrk connections (default 32)
#   THREADS        wrk threads (default 1)
#   TIMEOUT_MS     the mirror's per-copy timeout (default 5000, the proxy's default)
#   BREAKER=1      keep the proxy's circuit breaker on (default off: every copy is sent
#                  to the hung shadow and held until its timeout, the worst case for memory)
#   WORKERS        proxy worker threads (default 2)
#   CARGO_TARGET_DIR  where cargo builds (default ./target)
#
# Needs: cargo, python3, wrk (apt-get install -y wrk). Every process it starts is killed
# by PID on exit.

set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$PWD
SECONDS_TOTAL=${SECONDS_TOTAL:-60}
CONNECTIONS=${CONNECTIONS:-32}
THREADS=${THREADS:-1}
TIMEOUT_MS=${TIMEOUT_MS:-5000}
WARMUP=${WARMUP_SECONDS:-${WARMUP:-120}}
# A short run still keeps its last 30 s (or its second half) to judge.
LAST=$((SECONDS_TOTAL / 2 < 30 ? SECONDS_TOTAL / 2 : 30))
WARMUP=$((WARMUP > SECONDS_TOTAL - LAST ? SECONDS_TOTAL - LAST : WARMUP))
WORKERS=${WORKERS:-2}
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
OUT=$ROOT/BENCHMARKS.md

for tool in cargo python3 wrk; do
    if ! command -v "$tool" >/dev/null; then
        echo "soak.sh: $tool not found${tool/wrk/ (apt-get install -y wrk)}" >&2
        exit 2
    fi
done

WORK=$(mktemp -d)
PIDS=()
cleanup() {
    local pid
    for pid in "${PIDS[@]}"; do
        kill "$pid" 2>/dev/null || true
    done
    for pid in "${PIDS[@]}"; do
        wait "$pid" 2>/dev/null || true
    done
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

cat >"$WORK/primary.py" <<'PY'
# Answers every request with a 2-byte body, keeping the connection open. Reads request
# heads (and Content-Length bodies) so pipelined or bodied requests stay in step.
import asyncio, sys

RESPONSE = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"

class Responder(asyncio.Protocol):
    def connection_made(self, transport):
        self.transport = transport
        self.buf = b""
        self.body_left = 0

    def data_received(self, data):
        self.buf += data
        while True:
            if self.body_left:
                take = min(self.body_left, len(self.buf))
                self.buf = self.buf[take:]
                self.body_left -= take
                if self.body_left:
                    return
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                return
            head, self.buf = self.buf[:end].lower(), self.buf[end + 4:]
            for line in head.split(b"\r\n"):
                if line.startswith(b"content-length:"):
                    self.body_left = int(line.split(b":", 1)[1])
            self.transport.write(RESPONSE)

async def main():
    server = await asyncio.get_running_loop().create_server(Responder, "127.0.0.1", 0, backlog=1024)
    print(server.sockets[0].getsockname()[1], flush=True)
    await server.serve_forever()

asyncio.run(main())
PY

cat >"$WORK/hung.py" <<'PY'
# Accepts connections and reads whatever comes, never answering.
import asyncio

class Hung(asyncio.Protocol):
    def data_received(self, data):
        pass

async def main():
    server = await asyncio.get_running_loop().create_server(Hung, "127.0.0.1", 0, backlog=1024)
    print(server.sockets[0].getsockname()[1], flush=True)
    await server.serve_forever()

asyncio.run(main())
PY

# Waits (up to 10 s) for a line matching $2 in file $1 and prints it.
wait_line() {
    local i
    for i in $(seq 100); do
        if grep -m1 -E "$2" "$1" 2>/dev/null; then
            return 0
        fi
        sleep 0.1
    done
    echo "soak.sh: no line matching '$2' in $1:" >&2
    cat "$1" >&2
    return 1
}

echo "building tower-mirror-proxy (release)..." >&2
CARGO_TARGET_DIR=$TARGET_DIR cargo build --release -p tower-mirror-proxy -q
PROXY_BIN=$TARGET_DIR/release/tower-mirror-proxy

python3 -u "$WORK/primary.py" >"$WORK/primary.port" 2>"$WORK/primary.err" &
PIDS+=($!)
python3 -u "$WORK/hung.py" >"$WORK/hung.port" 2>"$WORK/hung.err" &
PIDS+=($!)
PRIMARY_PORT=$(wait_line "$WORK/primary.port" '^[0-9]+$')
SHADOW_PORT=$(wait_line "$WORK/hung.port" '^[0-9]+$')

PROXY_ARGS=(--listen 127.0.0.1:0 --primary "http://127.0.0.1:$PRIMARY_PORT"
    --shadow "http://127.0.0.1:$SHADOW_PORT" --timeout "${TIMEOUT_MS}ms"
    --worker-threads "$WORKERS")
if [[ ${BREAKER:-0} != 1 ]]; then
    PROXY_ARGS+=(--no-circuit-breaker)
fi
RUST_LOG=warn "$PROXY_BIN" "${PROXY_ARGS[@]}" >"$WORK/proxy.out" 2>"$WORK/proxy.err" &
PROXY_PID=$!
PIDS+=("$PROXY_PID")
PROXY_URL=$(wait_line "$WORK/proxy.out" '^listening on ' | sed 's/^listening on //')
echo "primary :$PRIMARY_PORT, hung shadow :$SHADOW_PORT, proxy $PROXY_URL (pid $PROXY_PID)" >&2

rss_kib() {
    awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"
}

# Open file descriptors (sockets mostly): a connection leak shows here before in RSS.
fds() {
    find "/proc/$1/fd" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l
}

# Connections from the proxy to the shadow: each hung copy holds one (up to the proxy's
# --upstream-max-connections), with its buffers.
shadow_conns() {
    ss -Htn state established "( dport = :$SHADOW_PORT )" 2>/dev/null | wc -l
}

echo "0 $(rss_kib "$PROXY_PID") $(fds "$PROXY_PID") $(shadow_conns)" >"$WORK/rss"
wrk -t"$THREADS" -c"$CONNECTIONS" -d"${SECONDS_TOTAL}s" --latency "$PROXY_URL/" >"$WORK/wrk.out" 2>&1 &
WRK_PID=$!
PIDS+=("$WRK_PID")
START=$(date +%s.%N)
for t in $(seq 1 "$SECONDS_TOTAL"); do
    # Sample on the second, whatever the sampling itself costs.
    sleep "$(awk -v s="$START" -v t="$t" -v now="$(date +%s.%N)" 'BEGIN { d = s + t - now; print (d > 0 ? d : 0) }')"
    echo "$t $(rss_kib "$PROXY_PID") $(fds "$PROXY_PID") $(shadow_conns)" >>"$WORK/rss"
done
wait "$WRK_PID" || true

# Graceful stop: the proxy prints its mirror's stats (with how many copies it cut) on SIGTERM.
kill -TERM "$PROXY_PID"
wait "$PROXY_PID" || true

SUMMARY=$(awk -v warm="$WARMUP" '
    { t[NR] = $1; r[NR] = $2 }
    $1 >= warm { n++; v[n] = $2; sum += $2; sx += $1; sy += $2; sxx += $1 * $1; sxy += $1 * $2 }
    END {
        # Median of the samples after warm-up (insertion sort: a few hundred values at most).
        for (i = 2; i <= n; i++) { x = v[i]; j = i - 1; while (j > 0 && v[j] > x) { v[j + 1] = v[j]; j-- } v[j + 1] = x }
        med = (n % 2) ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2
        lo = v[1]; hi = v[n]
        dev = (hi - med > med - lo ? hi - med : med - lo) / med * 100
        printf "after %d s of warm-up (%d samples): min %d KiB, max %d KiB, median %d KiB, ", warm, n, lo, hi, med
        # Least-squares slope: a leak climbs steadily, fragmentation levels off.
        slope = (n * sxx - sx * sx) ? (n * sxy - sx * sy) / (n * sxx - sx * sx) * 60 : 0
        printf "mean %d KiB, trend %+d KiB/min; max deviation from the median: ±%.1f%% (target ±10%%: %s)\n", sum / n, slope, dev, (dev <= 10 ? "met" : "NOT met")
    }' "$WORK/rss")
REQS=$(grep -E '^Requests/sec' "$WORK/wrk.out" | awk '{ print $2 }')
TOTAL=$(grep -E 'requests in' "$WORK/wrk.out" | awk '{ print $1 }')
LAT=$(grep -E '^\s+(50|99)%' "$WORK/wrk.out" | awk '{ printf "p%s %s  ", $1, $2 }' | sed 's/%//g')
ERRORS=$(grep -E 'Non-2xx|Socket errors' "$WORK/wrk.out" | tr -s ' ' || true)
STATS=$(grep -E '^mirror ' "$WORK/proxy.out" || true)

{
    echo "<!-- soak:start -->"
    echo "### Soak: memory under a hung shadow"
    echo
    echo "\`SECONDS_TOTAL=$SECONDS_TOTAL benches/soak.sh\`, run $(date -u +%Y-%m-%dT%H:%MZ) on $(nproc) cores:"
    echo "tower-mirror-proxy (release, $WORKERS workers, timeout ${TIMEOUT_MS} ms, circuit breaker"
    echo "$([[ ${BREAKER:-0} == 1 ]] && echo on || echo off), max in flight 256, the default) in front of a Python asyncio"
    echo "responder, mirroring every request to a shadow that accepts and never answers;"
    echo "wrk -t$THREADS -c$CONNECTIONS for $SECONDS_TOTAL s."
    echo
    echo "- load: ${TOTAL:-?} requests, ${REQS:-?} req/s, latency ${LAT:-?}${ERRORS:+ — $ERRORS}"
    echo "- proxy RSS $SUMMARY"
    if [[ -n $STATS ]]; then
        echo "- at exit: $(echo "$STATS" | paste -sd ';' | sed 's/;/; /')"
    fi
    echo "- RSS also counts what the allocator keeps after frees: a flat fd count, and dropped"
    echo "  copies allocating nothing (\`tests/mirror_churn.rs\` counts allocations),"
    echo "  tell fragmentation from a leak; \`MALLOC_ARENA_MAX=1\` lowers the level."
    echo
    echo "Every 10th second (the first five all):"
    echo
    echo "| t (s) | RSS (KiB) | open fds | connections to the shadow |"
    echo "|---:|---:|---:|---:|"
    awk '$1 < 5 || $1 % 10 == 0 { printf "| %d | %d | %d | %d |\n", $1, $2, $3, $4 }' "$WORK/rss"
    echo "<!-- soak:end -->"
} >"$WORK/section.md"

if [[ ! -f $OUT ]]; then
    printf '# Benchmarks\n' >"$OUT"
fi
if grep -q '<!-- soak:start -->' "$OUT" && grep -q '<!-- soak:end -->' "$OUT"; then
    awk -v section="$WORK/section.md" '
        /<!-- soak:start -->/ { while ((getline line < section) > 0) print line; skip = 1; next }
        /<!-- soak:end -->/ { skip = 0; next }
        !skip { print }' "$OUT" >"$WORK/out.md"
    cat "$WORK/out.md" >"$OUT"
else
    { echo; cat "$WORK/section.md"; } >>"$OUT"
fi

echo "proxy RSS $SUMMARY"
echo "load: ${TOTAL:-?} requests, ${REQS:-?} req/s"
[[ -n $STATS ]] && echo "$STATS"
echo "written to $OUT"
