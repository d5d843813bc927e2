#!/usr/bin/env bash
# TLS benchmarks (issue 20): netreactor's TLS against nginx, redis-server
# and tokio + tokio-rustls, each server pinned to one core (CPU 0) and the
# client to the other (CPU 1), both at niceness -20, servers alternated
# within every repetition (A B C A B C ...), server CPU per unit from the
# server's threads' /proc/PID/task/*/schedstat (exact, ns) over a measured
# window, paired ratios (run i of netreactor against run i of the peer,
# which ran next to it) with their spread.
#
# INSTALLS what is missing, with apt-get: nginx, redis-server, redis-tools
# (redis-benchmark), wrk, openssl. Builds examples/http, echo and redis and
# the bench binaries peer-hyper-tls, peer-tokio-tls and tlsgen (release).
# Certificates: examples/tls-certs.sh (a throwaway CA and an ECDSA P-256
# server certificate for localhost and 127.0.0.1), the same for every server.
#
#   benches/tls.sh [all]       # every row below (~17 min)
#   benches/tls.sh http|redis|echo|handshake|mem    # one part
#   benches/tls.sh smoke       # every part once, 1 s runs, 500 idle conns:
#                              # does everything start and answer? (~3 min)
#
# Parts (servers in the order they alternate; the first is netreactor):
#   http       HTTPS GET /plaintext with wrk (keep-alive, TLS_HTTP_CONNS
#              connections, depth 1 and 16 via tests/http/pipeline.lua):
#              examples/http --tls-cert/--tls-key --loops 1 ("nr-http"),
#              nginx (Debian's, one worker, `return 200 "Hello, World!"`,
#              TLSv1.3 only, config written here into $OUT) and
#              bench peer-hyper-tls (hyper + tokio-rustls, one
#              current-thread runtime)
#   redis      redis-benchmark --tls --cacert, SET and GET, 50 clients,
#              -P 1 and -P 16: examples/redis --tls-port ("nr-redis")
#              against redis-server --tls-port with --port 0
#   echo       tlsgen --mode echo, 500 connections, 64 B and 16 KiB,
#              pipeline 1 and 16: examples/echo --tls-cert/--tls-key
#              ("nr-echo") against bench peer-tokio-tls
#   handshake  tlsgen --mode handshake (TLS 1.3, X25519, ECDSA P-256;
#              TLS_HS_THREADS client threads): full handshakes, then
#              resumed ones (session tickets), against nr-http, nginx and
#              peer-hyper-tls
#   mem        tlsgen --mode hold: RSS growth per idle TLS connection
#              after the handshake (TLS_MEM_CONNS connections) of nr-http,
#              nginx, peer-hyper-tls, nr-echo and peer-tokio-tls
#
# Environment (defaults in brackets):
#   TLS_REPS        repetitions [3]
#   TLS_DURATION    measured seconds per run (wrk, tlsgen) [5]
#   TLS_WARMUP      warm-up seconds before each window [1]
#   TLS_HTTP_CONNS  wrk connections [64]
#   TLS_REDIS_SCALE multiplies redis-benchmark's request counts
#                   (100,000 at -P 1, 1,000,000 at -P 16) [1]
#   TLS_HS_THREADS  handshake client threads [4]
#   TLS_MEM_CONNS   idle connections for the memory rows [10000]
#   TLS_SERVER_CPU / TLS_CLIENT_CPU   taskset cpu lists [0 / 1]
#   TLS_NICE        niceness of servers and clients [-20; 0 when not permitted]
#   TLS_PORT        the servers' port [18443]
#   TLS_OUT         output directory (results.tsv, logs, table.md)
#                   [target/tls-bench/<timestamp>]
#   TLS_BIN         a directory with prebuilt http, echo, redis, peer-hyper-tls,
#                   peer-tokio-tls, tlsgen instead of building
#
# Needs: cargo, taskset, python3.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

PART=${1:-all}
REPS=${TLS_REPS:-3}
DURATION=${TLS_DURATION:-5}
WARMUP=${TLS_WARMUP:-1}
HTTP_CONNS=${TLS_HTTP_CONNS:-64}
REDIS_SCALE=${TLS_REDIS_SCALE:-1}
HS_THREADS=${TLS_HS_THREADS:-4}
MEM_CONNS=${TLS_MEM_CONNS:-10000}
SERVER_CPU=${TLS_SERVER_CPU:-0}
CLIENT_CPU=${TLS_CLIENT_CPU:-1}
NICE=${TLS_NICE:--20}
PORT=${TLS_PORT:-18443}
case $PART in
    all) PARTS="http redis echo handshake mem" ;;
    smoke)
        PARTS="http redis echo handshake mem"
        REPS=1 DURATION=1 WARMUP=1 REDIS_SCALE=0.05 MEM_CONNS=500
        ;;
    http | redis | echo | handshake | mem) PARTS=$PART ;;
    *)
        sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'
        exit 2
        ;;
esac
OUT=${TLS_OUT:-"$ROOT/target/tls-bench/$(date +%Y%m%d-%H%M%S)"}
mkdir -p "$OUT"
RESULTS="$OUT/results.tsv"
printf 'row\tserver\trep\tn\tsecs\tcost\tunit\n' >"$RESULTS"

log() { printf '[tls %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

# ---- tools -------------------------------------------------------------------------
missing=()
for t in nginx:nginx redis-server:redis-server redis-benchmark:redis-tools wrk:wrk openssl:openssl; do
    command -v "${t%%:*}" >/dev/null || missing+=("${t#*:}")
done
if ((${#missing[@]})); then
    log "installing ${missing[*]} (apt-get)"
    apt-get update -qq && apt-get install -y -qq "${missing[@]}" >/dev/null
fi
for t in taskset python3; do
    command -v "$t" >/dev/null || { log "$t not found"; exit 1; }
done
if ! nice -n "$NICE" true 2>/dev/null; then
    log "cannot run at niceness $NICE; using 0"
    NICE=0
fi
on_client_cpu() { nice -n "$NICE" taskset -c "$CLIENT_CPU" "$@"; }

# ---- build ---------------------------------------------------------------------------
if [[ -n ${TLS_BIN:-} ]]; then
    EX=$TLS_BIN BIN=$TLS_BIN
else
    log "building release binaries"
    cargo build --release --example http --example echo --example redis >&2
    cargo build --release -p netreactor-bench --bin peer-hyper-tls --bin peer-tokio-tls --bin tlsgen >&2
    TARGET="${CARGO_TARGET_DIR:-$ROOT/target}/release"
    EX=$TARGET/examples BIN=$TARGET
fi

CERTS=$OUT/certs
examples/tls-certs.sh "$CERTS" >/dev/null
CA=$CERTS/ca.pem CERT=$CERTS/cert.pem KEY=$CERTS/key.pem

{
    echo "date: $(date -Is)"
    echo "commit: $(git rev-parse --short HEAD 2>/dev/null || echo '?')$(git diff --quiet HEAD 2>/dev/null || echo ' (with uncommitted changes)')"
    echo "kernel: $(uname -r)"
    echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //') x $(nproc)"
    echo "nginx: $(nginx -v 2>&1 | sed 's/^nginx version: //'); $(openssl version)"
    echo "redis-server: $(redis-server --version | grep -o 'v=[^ ]*')"
    echo "wrk: $(wrk -v 2>&1 | head -n1)"
    echo "parts: $PARTS; reps $REPS; ${DURATION}s windows + ${WARMUP}s warm-up"
    echo "servers on cpu $SERVER_CPU, clients on cpu $CLIENT_CPU, niceness $NICE"
} | tee "$OUT/meta.txt" >&2

# ---- servers ---------------------------------------------------------------------------
# nginx_conf PORT: Debian's nginx as the current user, one worker, the pid,
# logs and temp files in $OUT/nginx.
nginx_conf() {
    local dir=$OUT/nginx user=""
    mkdir -p "$dir"
    # As root nginx would switch its worker to "nobody"; keep it ours.
    [[ $(id -u) == 0 ]] && user="user root;"
    cat >"$dir/nginx.conf" <<EOF
$user
daemon off;
master_process on;
worker_processes 1;
worker_rlimit_nofile $(ulimit -Hn);
pid $dir/nginx.pid;
error_log $dir/error.log warn;
events { worker_connections 16384; }
http {
    access_log off;
    default_type text/plain;
    client_body_temp_path $dir/body;
    proxy_temp_path $dir/proxy;
    fastcgi_temp_path $dir/fastcgi;
    uwsgi_temp_path $dir/uwsgi;
    scgi_temp_path $dir/scgi;
    keepalive_requests 1000000000;
    keepalive_timeout 300s;
    server {
        listen 127.0.0.1:$1 ssl;
        ssl_certificate $CERT;
        ssl_certificate_key $KEY;
        ssl_protocols TLSv1.3;
        location / { return 200 "Hello, World!"; }
    }
}
EOF
    echo "$dir"
}

SPID="" PIDS=""
stop_server() {
    [[ -n $SPID ]] || return 0
    kill -TERM "$SPID" 2>/dev/null || true
    local deadline=$((SECONDS + 10))
    while kill -0 "$SPID" 2>/dev/null && ((SECONDS < deadline)); do sleep 0.05; done
    if kill -0 "$SPID" 2>/dev/null; then
        log "server $SPID ignored SIGTERM; killing it"
        kill -KILL "$SPID" 2>/dev/null || true
    fi
    wait "$SPID" 2>/dev/null || true
    SPID="" PIDS=""
}
trap 'stop_server' EXIT
trap 'exit 130' INT TERM

# start_server NAME LOGFILE: starts NAME on $PORT pinned to $SERVER_CPU;
# sets SPID and PIDS (the comma-separated processes to measure) once the
# port accepts connections.
start_server() {
    local name=$1 logf=$2 dir
    local tls_flags=(--tls-cert "$CERT" --tls-key "$KEY")
    local srv=(nice -n "$NICE" taskset -c "$SERVER_CPU")
    case $name in
        nr-http) "${srv[@]}" "$EX/http" --addr "tcp://127.0.0.1:$PORT" --loops 1 "${tls_flags[@]}" >"$logf" 2>&1 & ;;
        nr-echo) "${srv[@]}" "$EX/echo" --addr "tcp://127.0.0.1:$PORT" --loops 1 "${tls_flags[@]}" >"$logf" 2>&1 & ;;
        hyper-tls) "${srv[@]}" "$BIN/peer-hyper-tls" --addr "127.0.0.1:$PORT" "${tls_flags[@]}" >"$logf" 2>&1 & ;;
        tokio-tls) "${srv[@]}" "$BIN/peer-tokio-tls" --addr "127.0.0.1:$PORT" "${tls_flags[@]}" >"$logf" 2>&1 & ;;
        nginx)
            dir=$(nginx_conf "$PORT")
            "${srv[@]}" nginx -p "$dir" -c "$dir/nginx.conf" -e "$dir/error.log" >"$logf" 2>&1 &
            ;;
        nr-redis)
            # Its plain listener on the next port; only the TLS one is used.
            "${srv[@]}" "$EX/redis" --addr "tcp://127.0.0.1:$((PORT + 1))" --loops 1 --tls-port "$PORT" \
                --tls-cert-file "$CERT" --tls-key-file "$KEY" >"$logf" 2>&1 &
            ;;
        redis)
            "${srv[@]}" redis-server --port 0 --tls-port "$PORT" --bind 127.0.0.1 --tls-cert-file "$CERT" \
                --tls-key-file "$KEY" --tls-ca-cert-file "$CA" --tls-auth-clients no --save "" --appendonly no \
                --daemonize no --logfile "$logf" >/dev/null 2>&1 &
            ;;
        *) log "unknown server $name"; return 1 ;;
    esac
    SPID=$! PIDS=$!
    local deadline=$((SECONDS + 20))
    while ((SECONDS < deadline)); do
        kill -0 "$SPID" 2>/dev/null || break
        if (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; then
            if [[ $name == nginx ]]; then
                # The master and its one worker.
                local workers
                workers=$(pgrep -P "$SPID" | paste -sd, -)
                [[ -n $workers ]] || { sleep 0.02; continue; }
                PIDS="$SPID,$workers"
            fi
            return 0
        fi
        sleep 0.02
    done
    log "server $name did not come up on port $PORT; log:"
    sed 's/^/    /' "$logf" >&2
    stop_server
    return 1
}

# cpu_ns PIDS: time on a CPU of every thread of the processes, in ns.
cpu_ns() {
    local p files=()
    for p in ${1//,/ }; do files+=(/proc/"$p"/task/*/schedstat); done
    # %.0f: mawk's %d stops at 2^31 (2.1 s).
    cat "${files[@]}" 2>/dev/null | awk '{s += $1} END {printf "%.0f", s}'
}

record() { printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$@" >>"$RESULTS"; }

# ---- parts ---------------------------------------------------------------------------
part_http() {
    local depth rep name logf out reqs secs c0 c1
    for depth in 1 16; do
        for rep in $(seq 1 "$REPS"); do
            for name in nr-http nginx hyper-tls; do
                logf="$OUT/http-$name-d$depth-$rep.log"
                start_server "$name" "$logf" || exit 1
                local args=(-t1 "-c$HTTP_CONNS" -s "$ROOT/tests/http/pipeline.lua" "https://127.0.0.1:$PORT/plaintext" -- "$depth")
                on_client_cpu wrk "-d${WARMUP}s" "${args[@]}" >/dev/null
                c0=$(cpu_ns "$PIDS")
                out=$(on_client_cpu wrk "-d${DURATION}s" "${args[@]}")
                c1=$(cpu_ns "$PIDS")
                echo "$out" >>"$logf"
                stop_server
                if grep -qE 'Non-2xx|Socket errors' <<<"$out"; then
                    log "$name depth $depth rep $rep: wrk reported errors (see $logf)"
                    exit 1
                fi
                read -r reqs secs < <(sed -nE 's/^ *([0-9]+) requests in ([0-9.]+)(m?s).*/\1 \2\3/p' <<<"$out")
                [[ $secs == *ms ]] && secs=$(awk -v v="${secs%ms}" 'BEGIN{print v/1000}') || secs=${secs%s}
                record "https d$depth" "$name" "$rep" "$reqs" "$secs" "$(((c1 - c0) / 1000))" cpu_us
                log "https d$depth $name rep $rep: $reqs requests in ${secs}s, $(awk -v c="$(((c1 - c0) / 1000))" -v r="$reqs" 'BEGIN{printf "%.2f", c/r}') µs CPU/request"
            done
        done
    done
}

part_redis() {
    local rep name logf p t n csv rps c0 c1
    for rep in $(seq 1 "$REPS"); do
        for name in nr-redis redis; do
            logf="$OUT/redis-$name-$rep.log"
            start_server "$name" "$logf" || exit 1
            for p in 1 16; do
                for t in set get; do
                    n=$(python3 -c "print(max(1000, int((1000000 if $p > 1 else 100000) * $REDIS_SCALE)))")
                    c0=$(cpu_ns "$PIDS")
                    csv=$(on_client_cpu redis-benchmark --tls --cacert "$CA" -h 127.0.0.1 -p "$PORT" -t "$t" -c 50 -P "$p" -n "$n" --csv 2>>"$logf") || {
                        log "redis-benchmark failed against $name (see $logf)"
                        exit 1
                    }
                    c1=$(cpu_ns "$PIDS")
                    rps=$(tail -1 <<<"$csv" | tr -d '"' | cut -d, -f2)
                    record "redis $t P$p" "$name" "$rep" "$n" "$(awk -v n="$n" -v r="$rps" 'BEGIN{printf "%.3f", n/r}')" "$(((c1 - c0) / 1000))" cpu_us
                    log "redis $t -P $p $name rep $rep: $rps requests/s, $(awk -v c="$(((c1 - c0) / 1000))" -v r="$n" 'BEGIN{printf "%.2f", c/r}') µs CPU/request"
                done
            done
            stop_server
        done
    done
}

# tlsgen_row ROW NAME REP ARGS...: one tlsgen run against a fresh NAME.
tlsgen_row() {
    local row=$1 name=$2 rep=$3 logf out n secs cost unit
    shift 3
    logf="$OUT/${row// /-}-$name-$rep.log"
    start_server "$name" "$logf" || exit 1
    out=$(on_client_cpu "$BIN/tlsgen" --addr "127.0.0.1:$PORT" --ca "$CA" --server-pid "$PIDS" \
        --warmup "$WARMUP" --duration "$DURATION" "$@" 2>"$logf.tlsgen") || {
        log "tlsgen failed against $name: $(tail -3 "$logf.tlsgen")"
        exit 1
    }
    stop_server
    read -r n secs cost unit < <(sed -E 's/n=([^ ]*) secs=([^ ]*) cost=([^ ]*) unit=([^ ]*).*/\1 \2 \3 \4/' <<<"$out")
    record "$row" "$name" "$rep" "$n" "$secs" "$cost" "$unit"
    log "$row $name rep $rep: $(tail -1 "$logf.tlsgen")"
}

part_echo() {
    local size p rep name
    for size in 64 16384; do
        for p in 1 16; do
            for rep in $(seq 1 "$REPS"); do
                for name in nr-echo tokio-tls; do
                    tlsgen_row "echo ${size}B P$p" "$name" "$rep" --mode echo --conns 500 --size "$size" --pipeline "$p"
                done
            done
        done
    done
}

part_handshake() {
    local kind rep name
    for kind in full resumed; do
        for rep in $(seq 1 "$REPS"); do
            for name in nr-http nginx hyper-tls; do
                if [[ $kind == full ]]; then
                    tlsgen_row "handshake full" "$name" "$rep" --mode handshake --threads "$HS_THREADS"
                else
                    tlsgen_row "handshake resumed" "$name" "$rep" --mode handshake --threads "$HS_THREADS" --resume
                fi
            done
        done
    done
}

part_mem() {
    local rep name
    for rep in $(seq 1 "$REPS"); do
        for name in nr-http nginx hyper-tls; do
            tlsgen_row "idle https conn" "$name" "$rep" --mode hold --conns "$MEM_CONNS" --threads "$HS_THREADS"
        done
        for name in nr-echo tokio-tls; do
            tlsgen_row "idle echo conn" "$name" "$rep" --mode hold --conns "$MEM_CONNS" --threads "$HS_THREADS"
        done
    done
}

for part in $PARTS; do
    log "part $part"
    "part_$part"
done

# ---- table ---------------------------------------------------------------------------
# Per row: each server's median (min–max) cost per unit and rate, then
# netreactor (the row's first server) over each peer: the ratio of the
# medians and the paired ratios' median (min–max).
python3 - "$RESULTS" >"$OUT/table.md" <<'EOF'
import csv, statistics, sys
rows = list(csv.DictReader(open(sys.argv[1]), delimiter="\t"))
order, servers, runs, units = [], {}, {}, {}
for r in rows:
    row, s = r["row"], r["server"]
    if row not in order:
        order.append(row)
    if s not in servers.setdefault(row, []):
        servers[row].append(s)
    n, secs, cost = int(r["n"]), float(r["secs"]), float(r["cost"])
    units[row] = r["unit"]
    runs.setdefault((row, s), {})[r["rep"]] = (cost / n, n / secs if secs else 0.0)
def spread(v, f):
    return f"{f.format(statistics.median(v))} ({f.format(min(v))}–{f.format(max(v))})"
print("| row | server | server cost per unit | rate /s | runs |")
print("|---|---|---|---|---|")
for row in order:
    cpu = units[row] == "cpu_us"
    for s in servers[row]:
        v = list(runs[(row, s)].values())
        cost = spread([x[0] for x in v], "{:.2f}") + " µs CPU" if cpu else spread([x[0] for x in v], "{:,.0f}") + " B"
        rate = spread([x[1] for x in v], "{:,.0f}") if cpu else "–"
        print(f"| {row} | {s} | {cost} | {rate} | {len(v)} |")
print()
print("| row | netreactor / peer | cost, ratio of medians | paired (min–max) | rate, paired (min–max) |")
print("|---|---|---|---|---|")
for row in order:
    base = servers[row][0]
    for p in servers[row][1:]:
        b, q = runs[(row, base)], runs[(row, p)]
        reps = sorted(set(b) & set(q), key=int)
        if not reps:
            continue
        med = statistics.median(b[r][0] for r in reps) / statistics.median(q[r][0] for r in reps)
        paired = spread([b[r][0] / q[r][0] for r in reps], "{:.2f}")
        rate = spread([b[r][1] / q[r][1] for r in reps], "{:.2f}") if units[row] == "cpu_us" else "–"
        print(f"| {row} | {base} / {p} | {med:.2f} | {paired} | {rate} |")
EOF
cat "$OUT/table.md"
log "results: $RESULTS; table: $OUT/table.md"
