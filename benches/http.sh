#!/usr/bin/env bash
# HTTP benchmark: examples/http (netreactor) against hyper 1.x and
# may_minihttp (bench/src/bin/peer-hyper.rs, peer-minihttp.rs), GET /plaintext
# with wrk over loopback, server pinned to one core and wrk to another.
#
#   benches/http.sh            # build, run every row, print the table
#
# Environment (defaults in brackets):
#   HTTP_DEPTHS     pipelining depths, one row each ["1 16"]
#   HTTP_CONNS      wrk connections [64]
#   HTTP_SERVERS    servers to alternate, in order ["nr hyper minihttp"]
#   HTTP_REPS       repetitions; each runs every server once (A B C A B C ...) [5]
#   HTTP_DURATION   measured seconds per run [5]
#   HTTP_WARMUP     warm-up seconds per run (a separate wrk run, not measured) [1]
#   HTTP_SERVER_CPU cpu for the server (taskset -c) [0]
#   HTTP_CLIENT_CPU cpu for wrk [1]
#   HTTP_PORT       first port; server i listens on HTTP_PORT+i [18080]
#   HTTP_NICE       niceness of servers and wrk; -20 keeps other work on a
#                   shared machine (compilers) from taking their cores [-20;
#                   0 when not permitted]
#   HTTP_OUT        directory for results.tsv, server logs and table.md
#                   [target/http-bench/<timestamp>]
#   HTTP_BIN        prebuilt binaries (http, peer-hyper, peer-minihttp) instead of building
#   HTTP_CALLGRIND  1: instead of the wrk runs, count user-space instructions
#                   per request with valgrind's callgrind (deterministic, see below) [0]
#
# Every server runs one thread of work (netreactor: --loops 1, plus its
# acceptor thread; hyper: a tokio current-thread runtime; may_minihttp: one
# may worker), all pinned to HTTP_SERVER_CPU. Server CPU per request is the
# server's CPU time over the measured wrk run (all threads:
# /proc/PID/task/*/schedstat, in ns; the user/kernel split in the proportion
# of utime to stime from /proc/PID/stat, whose 10 ms ticks are too coarse for
# the total) divided by the responses wrk counted. The table has medians (min-max) per row and
# server, ratios of the medians, and paired ratios: the median of
# nr_i / peer_i over the repetitions, each pair measured side by side.
#
# HTTP_CALLGRIND=1 runs each server under `valgrind --tool=callgrind` twice,
# driven by one connection that sends `depth` requests at a time and waits
# for their responses (a small Python client), once for 1,600 requests and
# once for 9,600; start-up and shutdown cancel out, so
#   instructions per request = (Ir_long - Ir_short) / 8000
# counted in user space only (the server, its runtime, libc), whatever else
# the machine does. Needs valgrind (apt-get install -y valgrind).
#
# Needs: cargo, wrk, taskset (util-linux), python3 (the table).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

DEPTHS=${HTTP_DEPTHS:-"1 16"}
CONNS=${HTTP_CONNS:-64}
SERVERS=${HTTP_SERVERS:-"nr hyper minihttp"}
REPS=${HTTP_REPS:-5}
DURATION=${HTTP_DURATION:-5}
WARMUP=${HTTP_WARMUP:-1}
SERVER_CPU=${HTTP_SERVER_CPU:-0}
CLIENT_CPU=${HTTP_CLIENT_CPU:-1}
PORT=${HTTP_PORT:-18080}
NICE=${HTTP_NICE:--20}
OUT=${HTTP_OUT:-"$ROOT/target/http-bench/$(date +%Y%m%d-%H%M%S)"}
PIPELINE_LUA="$ROOT/tests/http/pipeline.lua"
mkdir -p "$OUT"
RESULTS="$OUT/results.tsv"

log() { printf '[http %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

for tool in taskset python3; do
    command -v "$tool" >/dev/null || { log "$tool not found (apt-get install -y wrk util-linux python3)"; exit 1; }
done

if ! nice -n "$NICE" true 2>/dev/null; then
    log "cannot run at niceness $NICE; using 0"
    NICE=0
fi
# wrk: pinned, and at HTTP_NICE (the server is started the same way, inline,
# so that $! is its own pid: nice and taskset exec it).
on_client_cpu() { nice -n "$NICE" taskset -c "$CLIENT_CPU" "$@"; }

if [[ ${HTTP_CALLGRIND:-0} != 1 ]]; then
    command -v wrk >/dev/null || { log "wrk not found (apt-get install -y wrk)"; exit 1; }
fi

# ---- build -------------------------------------------------------------------
if [[ -n ${HTTP_BIN:-} ]]; then
    NR_BIN=$HTTP_BIN/http
    PEER_BIN=$HTTP_BIN
else
    log "building release binaries"
    cargo build --release --example http >&2
    cargo build --release -p netreactor-bench --bin peer-hyper --bin peer-minihttp >&2
    TARGET="${CARGO_TARGET_DIR:-$ROOT/target}/release"
    NR_BIN=$TARGET/examples/http
    PEER_BIN=$TARGET
fi

# server_cmd NAME PORT: the server's command line.
server_cmd() {
    case $1 in
        nr) echo "$NR_BIN --addr tcp://127.0.0.1:$2 --loops 1" ;;
        hyper) echo "$PEER_BIN/peer-hyper --addr 127.0.0.1:$2" ;;
        minihttp) echo "$PEER_BIN/peer-minihttp --addr 127.0.0.1:$2" ;;
        *) return 1 ;;
    esac
}

# ---- servers -------------------------------------------------------------------
SPID=""
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

# start_server NAME PORT LOGFILE: sets SPID once the port accepts connections.
start_server() {
    local cmd
    cmd=$(server_cmd "$1" "$2") || { log "unknown server $1"; return 1; }
    # shellcheck disable=SC2086 # word splitting of the command line is intended
    nice -n "$NICE" taskset -c "$SERVER_CPU" $cmd >"$3" 2>&1 &
    SPID=$!
    local deadline=$((SECONDS + 15))
    while ((SECONDS < deadline)); do
        kill -0 "$SPID" 2>/dev/null || break
        (exec 3<>"/dev/tcp/127.0.0.1/$2") 2>/dev/null && return 0
        sleep 0.02
    done
    log "server $1 did not come up on port $2; log:"
    sed 's/^/    /' "$3" >&2
    stop_server
    return 1
}

# cpu_sample PID: "on_cpu_ns utime stime". on_cpu_ns sums the first field of
# every thread's /proc/PID/task/TID/schedstat (time on a CPU, exact to the
# ns); utime and stime (clock ticks, 10 ms each) from /proc/PID/stat give the
# user/kernel split.
cpu_sample() {
    local ns
    ns=$(cat /proc/"$1"/task/*/schedstat 2>/dev/null | awk '{s += $1} END {printf "%.0f", s}')
    # Fields after the parenthesised command name: state is field 3, utime 14, stime 15.
    echo "$ns $(sed -E 's/^.*\) //' "/proc/$1/stat" | awk '{print $12, $13}')"
}

# ---- callgrind ---------------------------------------------------------------------
if [[ ${HTTP_CALLGRIND:-0} == 1 ]]; then
    command -v valgrind >/dev/null || { log "valgrind not found (apt-get install -y valgrind)"; exit 1; }
    # cg_run NAME PORT DEPTH REQUESTS: prints the run's total instruction count.
    cg_run() {
        local out="$OUT/callgrind.$1.d$3.$4" cmd
        cmd=$(server_cmd "$1" "$2")
        # shellcheck disable=SC2086 # word splitting of the command line is intended
        valgrind --tool=callgrind --callgrind-out-file="$out" $cmd >"$out.log" 2>&1 &
        SPID=$!
        local deadline=$((SECONDS + 60))
        until (exec 3<>"/dev/tcp/127.0.0.1/$2") 2>/dev/null; do
            ((SECONDS < deadline)) && kill -0 "$SPID" 2>/dev/null || { log "$1 did not come up under valgrind"; return 1; }
            sleep 0.1
        done
        python3 - "$2" "$3" "$(($4 / $3))" <<'PY'
import socket, sys
port, depth, batches = (int(a) for a in sys.argv[1:])
s = socket.create_connection(("127.0.0.1", port))
s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
batch = b"GET /plaintext HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n" * depth
for _ in range(batches):
    s.sendall(batch)
    got = b""
    while got.count(b"Hello, World!") < depth:
        chunk = s.recv(65536)
        if not chunk:
            sys.exit("the server closed the connection")
        got += chunk
PY
        stop_server
        awk '/^(summary|totals):/ {print $2; exit}' "$out"
    }
    printf 'depth\tserver\tinstructions_per_request\n' >"$OUT/callgrind.tsv"
    for depth in $DEPTHS; do
        i=0
        for name in $SERVERS; do
            port=$((PORT + i))
            i=$((i + 1))
            short=$(cg_run "$name" "$port" "$depth" 1600) || continue
            long=$(cg_run "$name" "$port" "$depth" 9600) || continue
            per=$(((long - short) / 8000))
            printf '%s\t%s\t%s\n' "$depth" "$name" "$per" >>"$OUT/callgrind.tsv"
            log "$name depth=$depth: $per user-space instructions per request"
        done
    done
    column -t "$OUT/callgrind.tsv" | tee "$OUT/callgrind.md"
    exit 0
fi

# ---- runs ----------------------------------------------------------------------
{
    echo "date: $(date -Is)"
    echo "commit: $(git rev-parse --short HEAD 2>/dev/null || echo '?')"
    echo "kernel: $(uname -r)"
    echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //') x $(nproc)"
    echo "wrk: $(wrk -v 2>&1 | head -n1)"
    echo "rows: depths $DEPTHS; $CONNS connections; reps $REPS; ${DURATION}s + ${WARMUP}s warm-up"
    echo "servers: $SERVERS (cpu $SERVER_CPU); wrk -t1 on cpu $CLIENT_CPU; niceness $NICE"
} | tee "$OUT/meta.txt" >&2

TICK_US=$((1000000 / $(getconf CLK_TCK)))
printf 'depth\tserver\trep\trequests\tseconds\tcpu_us\tuser_us\tsys_us\n' >"$RESULTS"
for depth in $DEPTHS; do
    for rep in $(seq 1 "$REPS"); do
        i=0
        for name in $SERVERS; do
            port=$((PORT + i))
            i=$((i + 1))
            logf="$OUT/$name-d$depth-$rep.log"
            start_server "$name" "$port" "$logf" || continue
            url="http://127.0.0.1:$port/plaintext"
            wrk_args=(-t1 "-c$CONNS" -s "$PIPELINE_LUA" "$url" -- "$depth")
            on_client_cpu wrk "-d${WARMUP}s" "${wrk_args[@]}" >/dev/null
            read -r c0 u0 s0 < <(cpu_sample "$SPID")
            out=$(on_client_cpu wrk "-d${DURATION}s" "${wrk_args[@]}")
            read -r c1 u1 s1 < <(cpu_sample "$SPID")
            echo "$out" >>"$logf"
            stop_server
            if grep -qE 'Non-2xx|Socket errors' <<<"$out"; then
                log "$name depth $depth rep $rep: wrk reported errors (see $logf)"
                continue
            fi
            # "123456 requests in 5.00s, 15.70MB read"
            read -r reqs secs < <(sed -nE 's/^ *([0-9]+) requests in ([0-9.]+)(m?s).*/\1 \2\3/p' <<<"$out")
            [[ $secs == *ms ]] && secs=$(awk -v v="${secs%ms}" 'BEGIN{print v/1000}') || secs=${secs%s}
            cpu_us=$(((c1 - c0) / 1000))
            user_us=$(((u1 - u0) * TICK_US))
            sys_us=$(((s1 - s0) * TICK_US))
            printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$depth" "$name" "$rep" "$reqs" "$secs" "$cpu_us" "$user_us" "$sys_us" >>"$RESULTS"
            log "$name depth=$depth rep=$rep: $reqs requests in ${secs}s," \
                "server $(awk -v c="$cpu_us" -v r="$reqs" 'BEGIN{printf "%.3f", c/r}') µs/request"
        done
    done
done

# ---- table ----------------------------------------------------------------------
python3 - "$RESULTS" "$SERVERS" >"$OUT/table.md" <<'EOF'
import csv, statistics, sys
rows = list(csv.DictReader(open(sys.argv[1]), delimiter="\t"))
servers = sys.argv[2].split()
base, peers = servers[0], servers[1:]
def runs(depth, server):
    out = {}
    for r in rows:
        if r["depth"] == depth and r["server"] == server:
            n, secs = int(r["requests"]), float(r["seconds"])
            cpu = int(r["cpu_us"])
            ticks = int(r["user_us"]) + int(r["sys_us"])
            user_share = int(r["user_us"]) / ticks if ticks else 0
            out[r["rep"]] = {"rps": n / secs, "cpu": cpu / n, "user": user_share * cpu / n,
                             "sys": (1 - user_share) * cpu / n, "util": cpu / 1e6 / secs}
    return out
def spread(vals, fmt):
    return f"{fmt.format(statistics.median(vals))} ({fmt.format(min(vals))}–{fmt.format(max(vals))})"
print("| depth | server | requests/s | server CPU µs/request | user | kernel | server CPU util | n |")
print("|---|---|---|---|---|---|---|---|")
depths = sorted({r["depth"] for r in rows}, key=int)
for d in depths:
    for s in servers:
        rs = list(runs(d, s).values())
        if not rs:
            continue
        col = lambda k: [x[k] for x in rs]
        print(f"| {d} | {s} | {spread(col('rps'), '{:,.0f}')} | {spread(col('cpu'), '{:.3f}')} | "
              f"{statistics.median(col('user')):.3f} | {statistics.median(col('sys')):.3f} | "
              f"{statistics.median(col('util')):.2f} | {len(rs)} |")
print()
print(f"| depth | {base} / peer | CPU per request, ratio of medians | paired (min–max) | requests/s, ratio of medians | paired (min–max) |")
print("|---|---|---|---|---|---|")
for d in depths:
    b = runs(d, base)
    for p in peers:
        q = runs(d, p)
        reps = sorted(set(b) & set(q), key=int)
        if not reps:
            continue
        cells = []
        for k in ("cpu", "rps"):
            med = statistics.median(b[r][k] for r in reps) / statistics.median(q[r][k] for r in reps)
            paired = [b[r][k] / q[r][k] for r in reps]
            cells += [f"{med:.2f}", spread(paired, "{:.2f}")]
        print(f"| {d} | {base} / {p} | " + " | ".join(cells) + " |")
EOF
cat "$OUT/table.md"
log "results: $RESULTS; table: $OUT/table.md"
