#!/usr/bin/env bash
# User-space instructions per message, counted by valgrind's callgrind: a
# deterministic complement to benches/e2e.sh, whose CPU times move with
# whatever else the machine does.
#
#   benches/callgrind.sh                       # nr, epoll, tokio-mt; 1 conn x pipeline 1
#   CG_SERVERS="nr epoll" CG_LONG=10 benches/callgrind.sh
#
# For every server it runs the server twice under
# `valgrind --tool=callgrind`, once driven by loadgen for CG_SHORT seconds and
# once for CG_LONG seconds (no warm-up), each time stopping it with SIGTERM
# after loadgen is done and waiting for valgrind to write its output file.
# Start-up, connection set-up and shutdown cost the same in both runs, so
#
#   instructions per message = (Ir_long - Ir_short) / (msgs_long - msgs_short)
#
# where Ir is the total instruction count of the output file (all threads;
# valgrind serialises them, which does not change what is counted) and msgs
# is loadgen's "msgs". Only user-space instructions are counted (the server's
# code, the runtime, libc); the kernel's work in system calls is not. Work
# that happens per second rather than per message (timers, idle wake-ups)
# does not cancel, but at a busy server it is small next to the per-message
# work. The load is fixed and small (one connection, one message in flight by
# default) so that every server handles one message per event and batching
# cannot differ between them. Under valgrind the server runs some 20-50x
# slower, which only lowers the message counts.
#
# Environment (defaults in brackets):
#   CG_SERVERS   servers, in order (names as in benches/e2e.sh) ["nr epoll tokio-mt"]
#   CG_BASE      server the ratios are taken against [nr]
#   CG_CONNS     loadgen connections [1]
#   CG_PIPELINE  messages in flight per connection [1]
#   CG_SIZE      payload bytes per message [64]
#   CG_MODE      loadgen --mode: echo, or lf for nr-lf and tokio-lf [echo]
#   CG_SHORT     seconds of load in the short run [2]
#   CG_LONG      seconds of load in the long run [6]
#   CG_SERVER_CPU  cpu list for the server (taskset -c) [0]
#   CG_CLIENT_CPU  cpu list for loadgen [1]
#   CG_VALGRIND_ARGS  more valgrind options, e.g. --dump-instr=yes for a
#                profile per instruction (callgrind_annotate, objdump) []
#   CG_OUT       directory for callgrind files, logs, results.tsv, table.md
#                [target/callgrind/<timestamp>]
#   CG_BIN       use prebuilt binaries from this directory instead of building
#
# The output files stay in CG_OUT; `callgrind_annotate FILE` breaks one down
# by function.
#
# Needs: valgrind, taskset (util-linux), cargo (unless CG_BIN).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CALLER_PWD=$PWD
# abs PATH: PATH made absolute against the caller's directory.
abs() { if [[ $1 == /* ]]; then echo "$1"; else echo "$CALLER_PWD/$1"; fi; }
cd "$ROOT"

SERVERS=${CG_SERVERS:-"nr epoll tokio-mt"}
BASE=${CG_BASE:-nr}
CONNS=${CG_CONNS:-1}
PIPELINE=${CG_PIPELINE:-1}
VALGRIND_ARGS=${CG_VALGRIND_ARGS:-}
SIZE=${CG_SIZE:-64}
MODE=${CG_MODE:-echo}
SHORT=${CG_SHORT:-2}
LONG=${CG_LONG:-6}
SERVER_CPU=${CG_SERVER_CPU:-0}
CLIENT_CPU=${CG_CLIENT_CPU:-1}
OUT=$(abs "${CG_OUT:-"$ROOT/target/callgrind/$(date +%Y%m%d-%H%M%S)"}")

log() { printf '[callgrind %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

command -v valgrind >/dev/null || {
    log "valgrind not found (apt-get install -y valgrind); it is what counts the instructions"
    exit 1
}
command -v taskset >/dev/null || { log "taskset not found (util-linux)"; exit 1; }
awk -v s="$SHORT" -v l="$LONG" 'BEGIN { exit !(s > 0 && l > s) }' || {
    log "CG_LONG ($LONG) must be longer than CG_SHORT ($SHORT) > 0"
    exit 1
}

# ---- build -----------------------------------------------------------------------
if [[ -n ${CG_BIN:-} ]]; then
    BIN=$(abs "$CG_BIN")
else
    log "building release binaries (cargo build --release -p netreactor-bench)"
    cargo build --release -p netreactor-bench --bins >&2
    BIN="${CARGO_TARGET_DIR:-$ROOT/target}/release"
fi
[[ -x $BIN/loadgen ]] || { log "missing $BIN/loadgen"; exit 1; }
mkdir -p "$OUT"

# ---- servers ---------------------------------------------------------------------
# The same names as benches/e2e.sh, with one loop/thread each.
LOOPS=1
NR_REUSEPORT=0
# shellcheck source=benches/servers.sh
source "$ROOT/benches/servers.sh"

SPID=""
SADDR=""
# stop_server: SIGTERM, then wait (deadline) for valgrind to write its file
# and exit. Returns 1 if it had to be killed (its output is then incomplete).
stop_server() {
    [[ -n $SPID ]] || return 0
    local rc=0
    kill -TERM "$SPID" 2>/dev/null || true
    local deadline=$((SECONDS + 60))
    while kill -0 "$SPID" 2>/dev/null && ((SECONDS < deadline)); do sleep 0.05; done
    if kill -0 "$SPID" 2>/dev/null; then
        log "server $SPID did not exit within 60 s of SIGTERM; killing it"
        kill -KILL "$SPID" 2>/dev/null || true
        rc=1
    fi
    wait "$SPID" 2>/dev/null || true
    SPID=""
    return $rc
}
trap 'stop_server || true' EXIT
trap 'exit 130' INT TERM

# start_server NAME CGFILE LOGFILE: sets SPID and SADDR, or returns 1.
start_server() {
    local name=$1 cgf=$2 logf=$3 cmd
    cmd=$(server_cmd "$name") || { log "unknown server $name"; return 1; }
    [[ -x ${cmd%% *} ]] || { log "missing ${cmd%% *}"; return 1; }
    rm -f "$cgf"
    # valgrind writes its own lines ("==PID== ...") to stderr; the server's
    # ready line goes to stdout. The pid it prints is valgrind's too.
    # shellcheck disable=SC2086 # word splitting of the command line is intended
    taskset -c "$SERVER_CPU" valgrind --tool=callgrind --callgrind-out-file="$cgf" $VALGRIND_ARGS \
        $cmd >"$logf" 2>&1 &
    SPID=$!
    if ! wait_ready "$logf" 120; then
        log "server $name did not come up under valgrind; log:"
        sed 's/^/    /' "$logf" >&2
        stop_server || true
        return 1
    fi
    return 0
}

# total_ir FILE: the instruction total of a callgrind output file.
total_ir() {
    awk '/^(summary|totals):/ { v = $2 } END { if (v == "") exit 1; print v }' "$1"
}

# ---- runs --------------------------------------------------------------------------
{
    echo "date: $(date -Is)"
    echo "commit: $(git rev-parse --short HEAD 2>/dev/null || echo '?')$(git diff --quiet HEAD -- src 2>/dev/null || echo ' (src/ has uncommitted changes)')"
    echo "kernel: $(uname -r)"
    echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //') x $(nproc)"
    echo "$(valgrind --version); servers: $SERVERS (cpu $SERVER_CPU); loadgen cpu $CLIENT_CPU"
    echo "load: $CONNS conns x pipeline $PIPELINE, $SIZE B, mode $MODE; short ${SHORT}s, long ${LONG}s, no warm-up"
} | tee "$OUT/meta.txt" >&2

RESULTS="$OUT/results.tsv"
printf 'server\tmsgs_short\tmsgs_long\tir_short\tir_long\tir_per_msg\n' >"$RESULTS"
failed=0
for name in $SERVERS; do
    declare -A msgs=() ir=()
    ok=1
    for phase in short long; do
        secs=$SHORT
        [[ $phase == long ]] && secs=$LONG
        cgf="$OUT/$name-$phase.callgrind.out"
        logf="$OUT/$name-$phase.log"
        if ! start_server "$name" "$cgf" "$logf"; then
            ok=0
            break
        fi
        log "$name $phase: ${secs}s, $CONNS conns x $PIPELINE (pid $SPID, $SADDR)"
        out=""
        if ! out=$(taskset -c "$CLIENT_CPU" "$BIN/loadgen" --addr "$SADDR" --conns "$CONNS" \
            --pipeline "$PIPELINE" --size "$SIZE" --mode "$MODE" --warmup 0 --duration "$secs" \
            --label "$name" --json 2>>"$logf"); then
            log "  loadgen reported errors (see $logf)"
            ok=0
        fi
        echo "$out" >>"$OUT/loadgen.jsonl"
        if ! stop_server; then
            ok=0
        fi
        grep -q 'unhandled syscall' "$logf" && log "  valgrind: unhandled system call (see $logf)"
        m=$(sed -nE 's/.*"msgs":([0-9]+).*/\1/p' <<<"$out")
        i=$(total_ir "$cgf" 2>/dev/null || true)
        if [[ -z $m || -z $i ]]; then
            log "  no message count or no callgrind total (see $logf)"
            ok=0
        fi
        ((ok)) || break
        msgs[$phase]=$m
        ir[$phase]=$i
        log "  $m msgs, $i instructions"
    done
    if ((ok)); then
        per=$(awk -v a="${ir[short]}" -v b="${ir[long]}" -v m="${msgs[short]}" -v n="${msgs[long]}" \
            'BEGIN { if (n > m) printf "%.1f", (b - a) / (n - m); else print "n/a" }')
        printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$name" "${msgs[short]}" "${msgs[long]}" \
            "${ir[short]}" "${ir[long]}" "$per" >>"$RESULTS"
    else
        failed=1
        printf '%s\t\t\t\t\tn/a\n' "$name" >>"$RESULTS"
    fi
    unset msgs ir
done

# ---- table ---------------------------------------------------------------------------
awk -F'\t' -v base="$BASE" '
    function human(x) {
        if (x == "") return "n/a"
        if (x >= 1e9) return sprintf("%.3fG", x / 1e9)
        if (x >= 1e6) return sprintf("%.1fM", x / 1e6)
        if (x >= 1e3) return sprintf("%.1fk", x / 1e3)
        return x
    }
    NR == 1 { next }
    { n++; name[n] = $1; ms[n] = $2; ml[n] = $3; is[n] = $4; il[n] = $5; per[n] = $6
      if ($1 == base && $6 != "n/a") b = $6 }
    END {
        printf "| server | msgs short / long | Ir short / long | instructions/msg | %s/peer |\n", base
        print "|---|---:|---:|---:|---:|"
        for (k = 1; k <= n; k++) {
            r = (b != "" && per[k] != "n/a" && per[k] > 0) ? sprintf("%.2f", b / per[k]) : "n/a"
            printf "| %s | %s / %s | %s / %s | %s | %s |\n", name[k], ms[k], ml[k],
                human(is[k]), human(il[k]), per[k], r
        }
    }' "$RESULTS" | tee "$OUT/table.md"
log "results: $RESULTS; table: $OUT/table.md; callgrind files and logs in $OUT"
exit $failed
