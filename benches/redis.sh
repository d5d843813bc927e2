#!/usr/bin/env bash
# examples/redis against Debian's redis-server, measured with redis-benchmark:
# server pinned to CPU 0, redis-benchmark to CPU 1 (both at niceness -20, so
# compilers sharing the machine rarely take their cores), servers alternated,
# every row repeated; server CPU per request from the server's threads'
# /proc/PID/task/*/schedstat (exact, ns), split into user and kernel time in
# the proportion of utime to stime in /proc/PID/stat (10 ms ticks);
# throughput and p99 from redis-benchmark's CSV; then memory per idle
# connection with 10,000 connections. Prints a markdown table of medians with
# ratios of the medians and paired ratios (run i of one server against run i
# of the other, which ran next to it).
#
#   benches/redis.sh                        # the full run: 5 repetitions (~15 min)
#   REDIS_BENCH_REPS=1 REDIS_BENCH_SCALE=0.1 benches/redis.sh    # a quick look
#
# Environment (defaults in brackets):
#   REDIS_BENCH_REPS     repetitions, each running every server once [5]
#   REDIS_BENCH_SCALE    multiplies every row's request count [1]
#   REDIS_BENCH_ROWS     "TEST:CLIENTS:PIPELINE ..." rows [the issue's table]
#   REDIS_BENCH_SERVERS  servers to alternate, in order [nr redis]
#   REDIS_BENCH_MEM      1: also measure memory per idle connection [1]
#   REDIS_BENCH_CONNS    idle connections for the memory rows [10000]
#   REDIS_BENCH_OUT      output directory [target/redis-bench/<timestamp>]
#   REDIS_BENCH_SERVER_CPU / REDIS_BENCH_CLIENT_CPU   taskset cpu lists [0 / 1]
#   REDIS_BENCH_NICE     niceness of the servers and redis-benchmark [-20]
#
# Needs: cargo, taskset, python3; installs redis-server and redis-tools with
# apt-get if they are missing.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

REPS=${REDIS_BENCH_REPS:-5}
SCALE=${REDIS_BENCH_SCALE:-1}
SERVERS=${REDIS_BENCH_SERVERS:-"nr redis"}
MEM=${REDIS_BENCH_MEM:-1}
CONNS=${REDIS_BENCH_CONNS:-10000}
SERVER_CPU=${REDIS_BENCH_SERVER_CPU:-0}
CLIENT_CPU=${REDIS_BENCH_CLIENT_CPU:-1}
NICE=${REDIS_BENCH_NICE:--20}
OUT=${REDIS_BENCH_OUT:-"$ROOT/target/redis-bench/$(date +%Y%m%d-%H%M%S)"}
DEFAULT_ROWS=""
for t in ping_inline ping_mbulk set get incr lpush rpush lpop rpop hset mset; do
    DEFAULT_ROWS+="$t:50:1 $t:50:16 "
done
DEFAULT_ROWS+="set:1000:1 get:1000:1 set:1000:16 get:1000:16"
ROWS=${REDIS_BENCH_ROWS:-$DEFAULT_ROWS}
mkdir -p "$OUT"
RESULTS="$OUT/results.tsv"
: >"$RESULTS"

log() { printf '[redis-bench %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

# prepare_servers, start_server NAME, stop_server: benches/redis-servers.sh
# (one loop here).
NR_LOOPS=1
# shellcheck source=benches/redis-servers.sh
source "$ROOT/benches/redis-servers.sh"
prepare_servers redis-benchmark

# Requests per row: enough for ~1 s of server CPU at either depth, so the
# 10 ms resolution of /proc/PID/stat stays under 1%.
requests() {
    local clients=$2 pipeline=$3 n
    if ((pipeline > 1)); then n=1000000; else n=100000; fi
    if [[ $1 == mset ]]; then n=$((n / 4)); fi
    python3 -c "print(max(1000, int($n * $SCALE)))"
}

# cpu_ticks PID: "utime stime" in clock ticks, then the time on CPU of all
# its threads in ns.
cpu_ticks() {
    local ns
    ns=$(cat /proc/"$1"/task/*/schedstat 2>/dev/null | awk '{ s += $1 } END { printf "%.0f", s }')
    echo "$(awk '{ sub(/.*\) /, ""); print $12, $13 }' "/proc/$1/stat") $ns"
}

# run_row SERVER REP TEST CLIENTS PIPELINE: one redis-benchmark run; appends a result line.
run_row() {
    local server=$1 rep=$2 test=$3 clients=$4 pipeline=$5 n before after csv
    n=$(requests "$test" "$clients" "$pipeline")
    redis-cli -p "$PORT" flushall >/dev/null
    before=$(cpu_ticks "$SPID")
    csv=$(nice -n "$NICE" taskset -c "$CLIENT_CPU" redis-benchmark -p "$PORT" -t "$test" -c "$clients" -P "$pipeline" -n "$n" --csv 2>"$OUT/bench-stderr.txt") || {
        log "redis-benchmark failed against $server: $(tail -3 "$OUT/bench-stderr.txt")"
        exit 1
    }
    after=$(cpu_ticks "$SPID")
    # CSV: "test","rps","avg","min","p50","p95","p99","max" (ms)
    local line
    line=$(tail -1 <<<"$csv" | tr -d '"')
    IFS=, read -r _ rps _ _ p50 _ p99 _ <<<"$line"
    read -r u0 s0 ns0 <<<"$before"
    read -r u1 s1 ns1 <<<"$after"
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$server" "$rep" "$test" "$clients" "$pipeline" "$n" \
        "$rps" "$p50" "$p99" "$((u1 - u0))" "$((s1 - s0))" "$((ns1 - ns0))" >>"$RESULTS"
    log "$server rep $rep $test c=$clients P=$pipeline: $rps req/s, p99 $p99 ms, $(((ns1 - ns0) / n)) ns CPU/req"
}

# conn_mem LABEL REP: memory per connection of server $SPID on $PORT, opening
# $CONNS idle connections, then one PING on each. Prints
# "label rep conns bytes_per_idle_conn bytes_per_conn_after_ping".
conn_mem() {
    python3 - "$PORT" "$SPID" "$CONNS" "$1" "$2" <<'PY'
import os, resource, socket, sys, time
port, pid, conns, label, rep = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5]
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, conns + 1024), hard))

def rss_kib():
    # smaps_rollup is a page-table walk: exact, unlike the status counters.
    with open(f"/proc/{pid}/smaps_rollup") as f:
        for line in f:
            if line.startswith("Rss:"):
                return int(line.split()[1])

def settled(timeout=60):
    deadline, last, since = time.time() + timeout, None, time.time()
    while time.time() < deadline:
        now = rss_kib()
        if now != last:
            last, since = now, time.time()
        elif time.time() - since >= 0.5:
            return now
        time.sleep(0.05)
    print("memory did not settle", file=sys.stderr)
    return last

def fds():
    return len(os.listdir(f"/proc/{pid}/fd"))

base_fds, base = fds(), settled()
socks = [socket.create_connection(("127.0.0.1", port)) for _ in range(conns)]
deadline = time.time() + 60
while fds() < base_fds + conns:
    if time.time() > deadline:
        sys.exit("the server did not accept every connection")
    time.sleep(0.05)
idle = settled()
for s in socks:
    s.sendall(b"PING\r\n")
for s in socks:
    got = b""
    while not got.endswith(b"\r\n"):
        got += s.recv(16)
    assert got == b"+PONG\r\n", got
used = settled()
print(f"{label}\t{rep}\t{conns}\t{(idle - base) * 1024 / conns:.0f}\t{(used - base) * 1024 / conns:.0f}")
PY
}

# report RESULTS MEMORY: the markdown table.
report() {
    python3 - "$1" "$2" "$SERVERS" <<'PY'
import statistics as st, sys
rows, mem_file, servers = sys.argv[1], sys.argv[2], sys.argv[3].split()
base, peer = servers[0], servers[-1]
runs = {}
for line in open(rows):
    server, rep, test, c, p, n, rps, p50, p99, ut, stt, ns = line.rstrip("\n").split("\t")
    cpu_us = int(ns) / 1000 / int(n)
    kernel = int(stt) / max(1, int(ut) + int(stt))
    runs.setdefault((test, int(c), int(p)), {}).setdefault(server, []).append(
        (int(rep), cpu_us, float(rps), float(p99), kernel))
med = lambda xs: st.median(xs)
def paired(a, b, i):
    by_rep = {r[0]: r[i] for r in b}
    ratios = sorted(x[i] / by_rep[x[0]] for x in a if x[0] in by_rep and by_rep[x[0]] > 0)
    return f"{med(ratios):.2f} ({ratios[0]:.2f}–{ratios[-1]:.2f})" if ratios else "–"
print(f"| test | clients | pipeline | server CPU µs/req {base} | {peer} | ratio | paired ratio (min–max) "
      f"| kernel share {base} / {peer} | p99 ms {base} / {peer} | p99 ratio | p99 paired ratio (min–max) "
      f"| req/s {base} / {peer} |")
print("|---|---|---|---|---|---|---|---|---|---|---|---|")
for (test, c, p), by in runs.items():
    a, b = by.get(base, []), by.get(peer, [])
    if not a or not b:
        continue
    ca, cb = med([x[1] for x in a]), med([x[1] for x in b])
    pa, pb = med([x[3] for x in a]), med([x[3] for x in b])
    print(f"| {test} | {c} | {p} | {ca:.2f} | {cb:.2f} | {ca / cb:.2f} | {paired(a, b, 1)} "
          f"| {med([x[4] for x in a]):.0%} / {med([x[4] for x in b]):.0%} | {pa:.3f} / {pb:.3f} | {pa / pb:.2f} "
          f"| {paired(a, b, 3)} | {med([x[2] for x in a]):,.0f} / {med([x[2] for x in b]):,.0f} |")
try:
    mem, nconns = {}, 0
    for line in open(mem_file):
        label, rep, conns, idle, used = line.split()
        nconns = int(conns)
        mem.setdefault(label, []).append((int(rep), float(idle), float(used)))
    if base in mem and peer in mem:
        a, b = mem[base], mem[peer]
        print()
        print(f"| memory per connection ({nconns:,} connections) | {base} | {peer} | ratio | paired ratio |")
        print("|---|---|---|---|---|")
        for i, name in [(1, "idle (never used)"), (2, "idle after one PING")]:
            ma, mb = med([x[i] for x in a]), med([x[i] for x in b])
            print(f"| {name} | {ma:,.0f} B | {mb:,.0f} B | {ma / mb:.2f} | {paired(a, b, i)} |")
except FileNotFoundError:
    pass
PY
}

for rep in $(seq 1 "$REPS"); do
    for server in $SERVERS; do
        start_server "$server"
        for row in $ROWS; do
            IFS=: read -r test clients pipeline <<<"$row"
            run_row "$server" "$rep" "$test" "$clients" "$pipeline"
        done
        stop_server
    done
done

if [[ $MEM == 1 ]]; then
    for rep in $(seq 1 "$REPS"); do
        for server in $SERVERS; do
            start_server "$server"
            conn_mem "$server" "$rep" >>"$OUT/memory.tsv"
            tail -1 "$OUT/memory.tsv" >&2
            stop_server
        done
    done
fi

report "$RESULTS" "$OUT/memory.tsv" | tee "$OUT/table.md"
log "results in $OUT"
