#!/usr/bin/env bash
# End-to-end benchmark: netreactor against a raw epoll server and tokio, over
# loopback, server pinned to one core and the load generator to another.
#
#   benches/e2e.sh                 # build, run every row, print the table
#   E2E_MEM=1 benches/e2e.sh       # memory per idle connection instead (= benches/mem.sh)
#
# Environment (defaults in brackets):
#   E2E_ROWS       "CONNS:PIPELINE ..." rows to run ["100:1 100:16 1000:1 1000:16"]
#                  (add e.g. 5000:1 10000:1 for the many-connection rows)
#   E2E_SIZE       payload bytes per message [64]
#   E2E_MODE       echo | lf (4-byte big-endian length + payload) [echo]
#   E2E_SERVERS    servers to alternate, in order; see server_cmd below
#                  [echo: "nr epoll tokio-mt tokio-ct"; lf: "nr-lf epoll tokio-lf"]
#   E2E_REPS       repetitions; each runs every server once (A B C D A B C D ...) [3]
#   E2E_DURATION   measured seconds per run [5]
#   E2E_WARMUP     warm-up seconds per run, not measured [1]
#   E2E_RATE       open-loop total messages/s (0 = closed loop) [0]
#   E2E_SERVER_CPU cpu list for the server (taskset -c) [0]
#   E2E_CLIENT_CPU cpu list for the load generator [1]
#   E2E_LOOPS      event loops / threads per server [1]
#   E2E_CLIENT_THREADS  load generator threads [1]
#   E2E_NR_REUSEPORT    1: netreactor with SO_REUSEPORT listeners, no acceptor thread [0]
#   E2E_SYSCALLS   1: also count the server's system calls per message with
#                  perf stat -e raw_syscalls:sys_enter (skipped if perf cannot) [0]
#   E2E_OUT        directory for results.jsonl, server logs, table.md [target/e2e/<timestamp>]
#   E2E_BIN        use prebuilt binaries from this directory instead of building
#   E2E_MEM        1: instead of the load rows, measure memory per connection with
#                  conn-mem (E2E_MEM_CONNS idle connections, then one echo each),
#                  every server E2E_REPS times, alternating [0]
#   E2E_MEM_CONNS  idle connections for E2E_MEM=1 [10000]
#   E2E_CHART      1: finally render docs/img/echo-vs-connections.svg from this
#                  run's results.jsonl with e2e-chart (E2E_CHART_OUT to write elsewhere) [0]
#
# The table (e2e-report) has medians (min–max) per row and server, base/peer
# ratios of the medians, and paired ratios (base_i / peer_i of the runs taken
# side by side in each alternation). For instructions per message in user
# space, deterministic, see benches/callgrind.sh.
#
# Needs: cargo, taskset (util-linux). Optional: perf (E2E_SYSCALLS=1).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

ROWS=${E2E_ROWS:-"100:1 100:16 1000:1 1000:16"}
SIZE=${E2E_SIZE:-64}
MODE=${E2E_MODE:-echo}
REPS=${E2E_REPS:-3}
DURATION=${E2E_DURATION:-5}
WARMUP=${E2E_WARMUP:-1}
RATE=${E2E_RATE:-0}
SERVER_CPU=${E2E_SERVER_CPU:-0}
CLIENT_CPU=${E2E_CLIENT_CPU:-1}
LOOPS=${E2E_LOOPS:-1}
CLIENT_THREADS=${E2E_CLIENT_THREADS:-1}
NR_REUSEPORT=${E2E_NR_REUSEPORT:-0}
SYSCALLS=${E2E_SYSCALLS:-0}
MEM=${E2E_MEM:-0}
MEM_CONNS=${E2E_MEM_CONNS:-10000}
CHART=${E2E_CHART:-0}
CHART_OUT=${E2E_CHART_OUT:-"$ROOT/docs/img/echo-vs-connections.svg"}
if [[ $MODE == lf ]]; then
    SERVERS=${E2E_SERVERS:-"nr-lf epoll tokio-lf"}
    BASE=nr-lf
else
    SERVERS=${E2E_SERVERS:-"nr epoll tokio-mt tokio-ct"}
    BASE=nr
fi
OUT=${E2E_OUT:-"$ROOT/target/e2e/$(date +%Y%m%d-%H%M%S)"}
mkdir -p "$OUT"
RESULTS="$OUT/results.jsonl"

log() { printf '[e2e %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
# field NAME: the value of NAME in the JSON line in $out ("?" if absent).
field() {
    local v
    v=$(sed -nE "s/.*\"$1\":(\"[^\"]*\"|[^,}]+).*/\1/p" <<<"$out")
    echo "${v:-?}"
}

# ---- build -----------------------------------------------------------------
if [[ -n ${E2E_BIN:-} ]]; then
    BIN=$E2E_BIN
else
    log "building release binaries (cargo build --release -p netreactor-bench)"
    cargo build --release -p netreactor-bench --bins >&2
    BIN="${CARGO_TARGET_DIR:-$ROOT/target}/release"
fi
need=(loadgen e2e-report)
((MEM)) && need+=(conn-mem)
((CHART)) && need+=(e2e-chart)
for b in "${need[@]}"; do
    [[ -x $BIN/$b ]] || { log "missing $BIN/$b"; exit 1; }
done
command -v taskset >/dev/null || { log "taskset not found (util-linux)"; exit 1; }

# ---- servers -----------------------------------------------------------------
# shellcheck source=benches/servers.sh
source "$ROOT/benches/servers.sh"

SPID=""
SADDR=""
stop_server() {
    [[ -n $SPID ]] || return 0
    kill -TERM "$SPID" 2>/dev/null || true
    local deadline=$((SECONDS + 5))
    while kill -0 "$SPID" 2>/dev/null && ((SECONDS < deadline)); do sleep 0.05; done
    if kill -0 "$SPID" 2>/dev/null; then
        log "server $SPID ignored SIGTERM; killing it"
        kill -KILL "$SPID" 2>/dev/null || true
    fi
    wait "$SPID" 2>/dev/null || true
    SPID=""
}
trap 'stop_server' EXIT
trap 'exit 130' INT TERM

# start_server NAME LOGFILE: sets SPID and SADDR, or returns 1.
start_server() {
    local name=$1 logf=$2 cmd
    cmd=$(server_cmd "$name") || { log "unknown server $name"; return 1; }
    [[ -n $cmd ]] || { log "server $name not available; skipped"; return 1; }
    # shellcheck disable=SC2086 # word splitting of the command line is intended
    taskset -c "$SERVER_CPU" $cmd >"$logf" 2>&1 &
    SPID=$!
    if ! wait_ready "$logf" 15; then
        log "server $name did not come up; log:"
        sed 's/^/    /' "$logf" >&2
        stop_server
        return 1
    fi
    # Listening was announced after listen(); confirm the port accepts anyway.
    local deadline=$((SECONDS + 15))
    while ((SECONDS < deadline)); do
        (exec 3<>"/dev/tcp/${SADDR%:*}/${SADDR##*:}") 2>/dev/null && return 0
        sleep 0.02
    done
    log "server $name at $SADDR does not accept connections"
    stop_server
    return 1
}

# ---- syscall counting ----------------------------------------------------------
PERF_OK=0
if [[ $SYSCALLS == 1 ]]; then
    if ! command -v perf >/dev/null; then
        log "perf not found; trying apt-get install -y linux-perf"
        (apt-get install -y linux-perf || apt-get install -y linux-tools-common) >/dev/null 2>&1 || true
    fi
    if command -v perf >/dev/null; then
        if ! perf stat -e raw_syscalls:sys_enter -- true >/dev/null 2>&1; then
            mountpoint -q /sys/kernel/tracing || mount -t tracefs nodev /sys/kernel/tracing 2>/dev/null || true
        fi
        if perf stat -e raw_syscalls:sys_enter -- true >/dev/null 2>&1; then
            PERF_OK=1
        fi
    fi
    ((PERF_OK)) || log "perf cannot count raw_syscalls:sys_enter here; syscall counts skipped"
fi

# ---- runs --------------------------------------------------------------------------
{
    echo "date: $(date -Is)"
    echo "commit: $(git rev-parse --short HEAD 2>/dev/null || echo '?')$(git diff --quiet HEAD -- src 2>/dev/null || echo ' (src/ has uncommitted changes)')"
    echo "kernel: $(uname -r)"
    echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //') x $(nproc)"
    if ((MEM)); then
        echo "memory per connection: $MEM_CONNS idle connections, then one $SIZE-byte echo each; reps $REPS"
    else
        echo "rows: $ROWS; size $SIZE; mode $MODE; reps $REPS; ${DURATION}s + ${WARMUP}s warm-up; rate $RATE"
    fi
    echo "servers: $SERVERS (loops/threads $LOOPS, cpu $SERVER_CPU); client cpu $CLIENT_CPU, threads $CLIENT_THREADS"
} | tee "$OUT/meta.txt" >&2

: >"$RESULTS"

if ((MEM)); then
    for rep in $(seq 1 "$REPS"); do
        for name in $SERVERS; do
            logf="$OUT/mem-$name-$rep.log"
            start_server "$name" "$logf" || continue
            log "$name memory, $MEM_CONNS connections, rep=$rep (pid $SPID, $SADDR)"
            if out=$(taskset -c "$CLIENT_CPU" "$BIN/conn-mem" --addr "$SADDR" --server-pid "$SPID" \
                --conns "$MEM_CONNS" --size "$SIZE" --label "$name" --json 2>>"$logf"); then
                echo "$out" >>"$RESULTS"
                log "  $(tail -n1 "$logf")"
            else
                log "  conn-mem failed (see $logf)"
            fi
            stop_server
        done
    done
    "$BIN/e2e-report" --base "$BASE" --file "$RESULTS" | tee "$OUT/table.md"
    log "results: $RESULTS; table: $OUT/table.md"
    exit 0
fi

n=0
for row in $ROWS; do
    conns=${row%%:*}
    pipeline=${row##*:}
    for rep in $(seq 1 "$REPS"); do
        for name in $SERVERS; do
            n=$((n + 1))
            logf="$OUT/$name-$conns-$pipeline-$rep.log"
            start_server "$name" "$logf" || continue
            extra=()
            ((PERF_OK)) && extra+=(--syscalls)
            log "$name conns=$conns pipeline=$pipeline rep=$rep (pid $SPID, $SADDR)"
            if out=$(taskset -c "$CLIENT_CPU" "$BIN/loadgen" --addr "$SADDR" --conns "$conns" \
                --size "$SIZE" --pipeline "$pipeline" --duration "$DURATION" --warmup "$WARMUP" \
                --threads "$CLIENT_THREADS" --mode "$MODE" --rate "$RATE" --server-pid "$SPID" \
                --label "$name" --json "${extra[@]}" 2>>"$logf"); then
                :
            else
                log "  loadgen reported errors (see $logf)"
            fi
            if [[ $out == "{"* ]]; then
                echo "$out" >>"$RESULTS"
                log "  $(field msgs_per_s) msg/s, p99 $(field p99_us) µs, server $(field server_cpu_us_per_msg) µs/msg" \
                    "(user $(field server_user_us_per_msg), kernel $(field server_sys_us_per_msg))"
            fi
            stop_server
        done
    done
done

"$BIN/e2e-report" --base "$BASE" --file "$RESULTS" | tee "$OUT/table.md"
log "results: $RESULTS; table: $OUT/table.md"
if ((CHART)); then
    "$BIN/e2e-chart" --out "$CHART_OUT" "$RESULTS" >&2
    log "chart: $CHART_OUT"
fi
