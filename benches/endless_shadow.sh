#!/usr/bin/env bash
# Does a shadow answering with an endless body tax the primary? (Guarantees 2 and 8.)
#
#   benches/endless_shadow.sh [PROXY_BINARY]
#
# Starts, all on 127.0.0.1 with ports picked free at run time:
#   - a primary: a tiny Python asyncio responder ("200 OK", body "ok", keep-alive);
#   - a shadow that answers every request 200 with a chunked body that never ends;
#   - tower-mirror-proxy (release, or PROXY_BINARY) in front of the primary;
# and drives the proxy with wrk (1 thread, 32 connections) for SECONDS_EACH seconds in
# three runs: without mirroring (`--percent 0`), mirroring with the circuit breaker on
# (the proxy's default), and mirroring with it off. Per run it prints the client's rate
# and latency, the proxy's CPU time per request (from /proc/PID/stat), its peak RSS
# (VmHWM) and its mirror stats.
#
# Environment: SECONDS_EACH (default 20). Needs: cargo, python3, wrk. Every process it
# starts is killed by PID on exit.

set -euo pipefail

cd "$(dirname "$0")/.."
SECONDS_EACH=${SECONDS_EACH:-20}
PROXY_BIN=${1:-}

for tool in python3 wrk; do
    if ! command -v "$tool" >/dev/null; then
        echo "endless_shadow.sh: $tool not found" >&2
        exit 2
    fi
done
if [[ -z $PROXY_BIN ]]; then
    echo "building tower-mirror-proxy (release)..." >&2
    cargo build --release -p tower-mirror-proxy -q
    PROXY_BIN=${CARGO_TARGET_DIR:-target}/release/tower-mirror-proxy
fi

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
import asyncio

RESPONSE = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"

class Responder(asyncio.Protocol):
    def connection_made(self, transport):
        self.transport = transport
        self.buf = b""

    def data_received(self, data):
        self.buf += data
        while (end := self.buf.find(b"\r\n\r\n")) >= 0:
            self.buf = self.buf[end + 4:]
            self.transport.write(RESPONSE)

async def main():
    server = await asyncio.get_running_loop().create_server(Responder, "127.0.0.1", 0, backlog=1024)
    print(server.sockets[0].getsockname()[1], flush=True)
    await server.serve_forever()

asyncio.run(main())
PY

cat >"$WORK/endless.py" <<'PY'
# Answers every request 200 with a chunked body of 16 KiB chunks that never ends.
import asyncio

CHUNK = b"4000\r\n" + b"x" * 0x4000 + b"\r\n"

async def handle(reader, writer):
    try:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
        while True:
            writer.write(CHUNK)
            await writer.drain()
    except Exception:
        pass
    finally:
        writer.close()

async def main():
    server = await asyncio.start_server(handle, "127.0.0.1", 0, backlog=1024)
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
    echo "endless_shadow.sh: no line matching '$2' in $1" >&2
    return 1
}

python3 -u "$WORK/primary.py" >"$WORK/primary.port" &
PIDS+=($!)
python3 -u "$WORK/endless.py" >"$WORK/shadow.port" &
PIDS+=($!)
PRIMARY_PORT=$(wait_line "$WORK/primary.port" '^[0-9]+$')
SHADOW_PORT=$(wait_line "$WORK/shadow.port" '^[0-9]+$')
TICKS=$(getconf CLK_TCK)

run() {
    local label=$1 out=$WORK/proxy.$1.out
    shift
    RUST_LOG=warn "$PROXY_BIN" --listen 127.0.0.1:0 --primary "http://127.0.0.1:$PRIMARY_PORT" \
        --shadow "http://127.0.0.1:$SHADOW_PORT" --worker-threads 2 "$@" >"$out" 2>/dev/null &
    local pid=$!
    PIDS+=("$pid")
    local url
    url=$(wait_line "$out" '^listening on ' | sed 's/^listening on //')
    local before after
    before=$(awk '{ print $14 + $15 }' "/proc/$pid/stat")
    wrk -t1 -c32 -d"${SECONDS_EACH}s" --latency "$url/" >"$WORK/wrk.out" 2>&1
    after=$(awk '{ print $14 + $15 }' "/proc/$pid/stat")
    local peak
    peak=$(awk '/^VmHWM:/ { print $2 }' "/proc/$pid/status")
    kill -TERM "$pid"
    wait "$pid" || true
    local requests rate p50 p99 cpu
    requests=$(awk '/requests in/ { print $1 }' "$WORK/wrk.out")
    rate=$(awk '/^Requests\/sec/ { print $2 }' "$WORK/wrk.out")
    p50=$(awk '$1 == "50%" { print $2 }' "$WORK/wrk.out")
    p99=$(awk '$1 == "99%" { print $2 }' "$WORK/wrk.out")
    cpu=$(awk -v a="$before" -v b="$after" -v n="$requests" -v hz="$TICKS" \
        'BEGIN { printf "%.0f", (b - a) / hz * 1e6 / n }')
    echo "$label: $rate req/s, p50 $p50, p99 $p99, proxy CPU $cpu µs/request, peak RSS $((peak / 1024)) MiB;" \
        "$(grep -oE 'mirrored=[0-9]+ completed=[0-9]+ failed=[0-9]+ timed_out=[0-9]+ dropped_overload=[0-9]+' "$out" | head -1)"
}

run "no mirroring" --percent 0
run "mirroring, breaker on"
run "mirroring, breaker off" --no-circuit-breaker
