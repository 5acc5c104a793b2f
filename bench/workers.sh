#!/usr/bin/env bash
# Benchmark of one sweep shared by several workers on PostgreSQL (issue: scale out).
#
#   bench/workers.sh [ZONES] [WORKERS]
#
# Builds the lab with ZONES generated zones x 5 certified names (default 200000 ->
# 1,000,000 names), registers every name (`domains import`) in a fresh PostgreSQL schema
# (PECWATCH_BENCH_POSTGRES, default postgres://postgres@127.0.0.1:5432/test), then starts
# WORKERS (default 2) `pecwatch sweep` processes at once: they share the sweep through
# leases on the domains. Prints the wall time until the last one ends, names/s, each
# worker's CPU time, peak RSS and share of the checks, the CPU time of their PostgreSQL
# backends, and the load average. Targets on a 2-core machine: 1,000,000 domains within
# 90 s, at most 200 MB per worker, every domain checked once. With ZONES=20000 (the
# 100,000 names of bench/sweep.sh) and WORKERS 1 then 2 it shows whether two workers on
# one machine are slower than one. PECWATCH_BENCH_BIN: another pecwatch binary (not built
# then). Only loopback addresses are queried.
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
ZONES=${1:-200000}
WORKERS=${2:-2}
CONCURRENCY=${CONCURRENCY:-1000}
POSTGRES=${PECWATCH_BENCH_POSTGRES:-postgres://postgres@127.0.0.1:5432/test}
WORK=$(mktemp -d /tmp/pecwatch-workers-bench.XXXXXX)
SCHEMA=pecwatch_workers_$$
APP=pecwatch_workers_$$
cleanup() {
    [ -n "${WATCH:-}" ] && kill "$WATCH" 2>/dev/null
    psql -q "$POSTGRES" -c "DROP SCHEMA IF EXISTS $SCHEMA CASCADE" >/dev/null 2>&1 || true
    rm -rf "$WORK"
}
trap cleanup EXIT

scripts/setup
command -v psql >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql-client >/dev/null
[ -n "${PECWATCH_BENCH_BIN:-}" ] || cargo build --release -q
START_LAB=$(date +%s)
lab/lab.sh up --bench "$ZONES"
echo "lab up with $ZONES bench zones in $(($(date +%s) - START_LAB)) s"
eval "$(lab/lab.sh env)"
NAMES=$PECWATCH_LAB_DIR/bench-names.txt
COUNT=$(wc -l <"$NAMES")
BIN=${PECWATCH_BENCH_BIN:-$PWD/target/release/pecwatch}
export PECWATCH_DNS_RESOLVER=$PECWATCH_LAB_RESOLVER PECWATCH_DNS_ALLOW_PRIVATE=true
export PECWATCH_DNS_CONCURRENCY=$CONCURRENCY PECWATCH_DNS_IPV6=false PECWATCH_LOG=warn
unset PECWATCH_CONFIG PECWATCH_NOW

psql -q "$POSTGRES" -c "CREATE SCHEMA $SCHEMA" >/dev/null
SEP='?'; [[ $POSTGRES == *\?* ]] && SEP='&'
export PECWATCH_DATABASE_URL=$(with_app "$POSTGRES${SEP}options=-c%20search_path%3D$SCHEMA" "$APP")
{
    echo "domain,holder_email"
    awk '{print $1 ",titolare@" $1}' "$NAMES"
} >"$WORK/domains.csv"
/usr/bin/time -f '%e' -o "$WORK/import.time" "$BIN" domains import "$WORK/domains.csv" >/dev/null
echo "== $COUNT names registered in $(cat "$WORK/import.time") s; $WORKERS workers, concurrency $CONCURRENCY each; $(load)"
"$BIN" check --from <(head -n 20000 "$NAMES") --format json --no-progress >/dev/null || true # warm the resolver

pg_cpu_watch "$POSTGRES" "$APP" "$WORK/pgcpu" & WATCH=$!
START=$(date +%s.%N)
PIDS=()
for i in $(seq 1 "$WORKERS"); do
    /usr/bin/time -f '%M %e %U %S' -o "$WORK/worker$i.time" \
        "$BIN" sweep --format json --no-progress >"$WORK/worker$i.out" 2>"$WORK/worker$i.err" &
    PIDS+=($!)
done
status=0
for pid in "${PIDS[@]}"; do
    wait "$pid" || status=$?
done
END=$(date +%s.%N)
LOAD=$(load)
kill "$WATCH" 2>/dev/null; wait "$WATCH" 2>/dev/null || true; WATCH=""
WALL=$(awk -v s="$START" -v e="$END" 'BEGIN {printf "%.2f", e - s}')
for i in $(seq 1 "$WORKERS"); do
    read -r rss_kb secs user sys <"$WORK/worker$i.time"
    checked=$(grep -o '"checked":[0-9]*' "$WORK/worker$i.out" | head -n 1 | cut -d: -f2)
    printf 'worker %d: %7.2f s  CPU %6.2f s  peak RSS %4d MB  summary checked %s\n' "$i" "$secs" \
        "$(awk -v u="$user" -v s="$sys" 'BEGIN {print u + s}')" $((rss_kb / 1024)) "${checked:--}"
    [ -s "$WORK/worker$i.err" ] && sed 's/^/  stderr: /' "$WORK/worker$i.err" | head -n 5
done
per_worker=$(psql -qtA "$PECWATCH_DATABASE_URL" -c \
    "SELECT COUNT(*), COUNT(DISTINCT domain_id) FROM checks" 2>/dev/null || echo "?")
echo "checks recorded | distinct domains checked: $per_worker"
echo "postgres backends: CPU $(cat "$WORK/pgcpu") s"
printf 'sweep of %d names by %d workers: %.2f s wall, %.0f names/s, %s (target for 1,000,000: within 90 s, at most 200 MB per worker)\n' \
    "$COUNT" "$WORKERS" "$WALL" "$(awk -v n="$COUNT" -v w="$WALL" 'BEGIN {print n / w}')" "$LOAD"
exit "$status"
