#!/usr/bin/env bash
# System calls per request of tower-mirror-proxy, without a shadow, with a fast HTTP/1.1
# shadow and with a fast HTTP/2 (h2c) shadow (`--shadow-http2`): `strace -c -f` attached to
# the proxy over a wrk run, the counts divided by the requests wrk completed.
#
#   bash benches/compare/syscalls.sh            # after run.sh has installed nginx and wrk
#
# Environment: DURATION (seconds of wrk, default 5), CONNECTIONS (default 50), PROXY_BIN
# (default target/release/tower-mirror-proxy, built if missing). strace slows every
# system call down, so the request rates here mean nothing; the counts per request do.
# Same backends as run.sh (benches/compare/nginx-backends.conf), proxy on core 1, the rest
# on core 0, loopback only; every process started is stopped by PID.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
HERE=$ROOT/benches/compare
DURATION=${DURATION:-5}
CONNECTIONS=${CONNECTIONS:-50}
PROXY_BIN=${PROXY_BIN:-$ROOT/target/release/tower-mirror-proxy}
WORK=$ROOT/target/syscalls
for tool in nginx wrk strace taskset python3; do
    command -v "$tool" >/dev/null || {
        echo "syscalls.sh: $tool not found" >&2
        exit 2
    }
done
[[ -x $PROXY_BIN ]] || (cd "$ROOT" && cargo build --release -p tower-mirror-proxy --quiet)

PIDS=()
cleanup() {
    local p
    for p in "${PIDS[@]+"${PIDS[@]}"}"; do kill -TERM "$p" 2>/dev/null || true; done
    for p in "${PIDS[@]+"${PIDS[@]}"}"; do wait "$p" 2>/dev/null || true; done
}
trap cleanup EXIT

free_ports() {
    python3 -c '
import socket, sys
socks = [socket.socket() for _ in range(int(sys.argv[1]))]
for s in socks:
    s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in socks))' "$1"
}

wait_port() {
    local i
    for ((i = 0; i < 100; i++)); do
        if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
        sleep 0.1
    done
    echo "syscalls.sh: nothing listens on $1" >&2
    return 1
}

# nginx DIR KEEP_TAG DROP_TAG PORTS...: one backend instance from run.sh's template.
nginx_backend() {
    local dir=$1 keep=$2 drop=$3
    mkdir -p "$dir"
    sed -e "s/^#$keep#//" -e "/^#$drop#/d" -e "s|@DIR@|$dir|g" -e "s|@PRIMARY_PORT@|$4|g" \
        -e "s|@FAST_PORT@|$5|g" -e "s|@FAST_H2_PORT@|$6|g" -e "s|@SLOW_PORT@|$7|g" \
        "$HERE/nginx-backends.conf" >"$dir/nginx.conf"
    taskset -c 0 nginx -e "$dir/error.log" -p "$dir/" -c "$dir/nginx.conf" &
    PIDS+=($!)
}

# measure MODE: none, h1 or h2.
measure() {
    local mode=$1 dir=$WORK/$1 listen primary fast fast_h2 slow
    rm -rf "$dir"
    mkdir -p "$dir"
    read -r listen primary fast fast_h2 slow <<<"$(free_ports 5)"
    nginx_backend "$dir/primary" PRIMARY SHADOW "$primary" "$fast" "$fast_h2" "$slow"
    nginx_backend "$dir/shadow" SHADOW PRIMARY "$primary" "$fast" "$fast_h2" "$slow"
    wait_port "$primary"
    wait_port "$fast_h2"
    local args=(--listen "127.0.0.1:$listen" --primary "http://127.0.0.1:$primary"
        --worker-threads 1)
    case $mode in
        h1) args+=(--shadow "http://127.0.0.1:$fast") ;;
        h2) args+=(--shadow "http://127.0.0.1:$fast_h2" --shadow-http2) ;;
    esac
    RUST_LOG=warn taskset -c 1 "$PROXY_BIN" "${args[@]}" >"$dir/proxy.out" 2>&1 &
    local proxy=$!
    PIDS+=("$proxy")
    wait_port "$listen"
    strace -c -f -p "$proxy" -o "$dir/strace.txt" 2>/dev/null &
    local tracer=$!
    sleep 0.3
    taskset -c 0 wrk -t1 "-c$CONNECTIONS" "-d${DURATION}s" "http://127.0.0.1:$listen/" >"$dir/wrk.txt"
    kill -INT "$tracer"
    wait "$tracer" || true
    local requests
    requests=$(awk '/requests in/ { print $1 }' "$dir/wrk.txt")
    awk -v mode="$mode" -v n="$requests" '
        $NF ~ /^(writev|sendmsg|sendto|write|recvfrom|read|recvmsg|epoll_wait|connect)$/ {
            c[$NF] = $4
        }
        END {
            printf "%-4s %7d requests: writev %.3f, recvfrom %.3f, epoll_wait %.3f, connect %.3f per request\n",
                mode, n, c["writev"] / n, c["recvfrom"] / n, c["epoll_wait"] / n, c["connect"] / n
        }' "$dir/strace.txt"
    local p
    for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
    for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
    PIDS=()
}

for mode in none h1 h2; do measure "$mode"; done
