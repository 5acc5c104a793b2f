#!/usr/bin/env bash
# Benchmark of one sweep shared by several workers on PostgreSQL (issue: scale out).
#
#   bench/workers.sh [ZONES] [WORKERS]
#
# Builds the lab with ZONES generated zones x 5 certified names (default 200000 ->
# 1,000,000 names), registers every name (`domains import`) in a fresh PostgreSQL schema
# (PECWATCH_BENCH_POSTGRES, default postgres://postgres@127.0.0.1:5432/test), then starts
# WORKERS (default 2) `pecwatch sweep` processes at once: they share the sweep through
# leases on the domains. Prints the wall time until the last one ends, names/s, and each
# worker's peak RSS and share of the checks. Targets on a 2-core machine: within 5
# minutes, at most 300 MB per worker. Only loopback addresses are queried.
set -euo pipefail
cd "$(dirname "$0")/.."
ZONES=${1:-200000}
WORKERS=${2:-2}
CONCURRENCY=${CONCURRENCY:-1000}
POSTGRES=${PECWATCH_BENCH_POSTGRES:-postgres://postgres@127.0.0.1:5432/test}
WORK=$(mktemp -d /tmp/pecwatch-workers-bench.XXXXXX)
SCHEMA=pecwatch_workers_$$
cleanup() {
    psql -q "$POSTGRES" -c "DROP SCHEMA IF EXISTS $SCHEMA CASCADE" >/dev/null 2>&1 || true
    rm -rf "$WORK"
}
trap cleanup EXIT

scripts/setup
command -v psql >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql-client >/dev/null
cargo build --release -q
START_LAB=$(date +%s)
lab/lab.sh up --bench "$ZONES"
echo "lab up with $ZONES bench zones in $(($(date +%s) - START_LAB)) s"
eval "$(lab/lab.sh env)"
NAMES=$PECWATCH_LAB_DIR/bench-names.txt
COUNT=$(wc -l <"$NAMES")
BIN=$PWD/target/release/pecwatch
export PECWATCH_DNS_RESOLVER=$PECWATCH_LAB_RESOLVER PECWATCH_DNS_ALLOW_PRIVATE=true
export PECWATCH_DNS_CONCURRENCY=$CONCURRENCY PECWATCH_DNS_IPV6=false PECWATCH_LOG=warn
unset PECWATCH_CONFIG PECWATCH_NOW

psql -q "$POSTGRES" -c "CREATE SCHEMA $SCHEMA" >/dev/null
SEP='?'; [[ $POSTGRES == *\?* ]] && SEP='&'
export PECWATCH_DATABASE_URL="$POSTGRES${SEP}options=-c%20search_path%3D$SCHEMA"
{
    echo "domain,holder_email"
    awk '{print $1 ",titolare@" $1}' "$NAMES"
} >"$WORK/domains.csv"
/usr/bin/time -f '%e' -o "$WORK/import.time" "$BIN" domains import "$WORK/domains.csv" >/dev/null
echo "== $COUNT names registered in $(cat "$WORK/import.time") s; $WORKERS workers, concurrency $CONCURRENCY each"
"$BIN" check --from <(head -n 20000 "$NAMES") --format json --no-progress >/dev/null || true # warm the resolver

START=$(date +%s.%N)
for i in $(seq 1 "$WORKERS"); do
    /usr/bin/time -f '%M %e' -o "$WORK/worker$i.time" \
        "$BIN" sweep --format json --no-progress >"$WORK/worker$i.out" 2>"$WORK/worker$i.err" &
done
status=0
wait || status=$?
END=$(date +%s.%N)
WALL=$(awk -v s="$START" -v e="$END" 'BEGIN {printf "%.2f", e - s}')
for i in $(seq 1 "$WORKERS"); do
    read -r rss_kb secs <"$WORK/worker$i.time"
    checked=$(grep -o '"checked":[0-9]*' "$WORK/worker$i.out" | head -n 1 | cut -d: -f2)
    printf 'worker %d: %7.2f s  peak RSS %4d MB  summary checked %s\n' "$i" "$secs" $((rss_kb / 1024)) "${checked:--}"
    [ -s "$WORK/worker$i.err" ] && sed 's/^/  stderr: /' "$WORK/worker$i.err" | head -n 5
done
per_worker=$(psql -qtA "$PECWATCH_DATABASE_URL" -c \
    "SELECT COUNT(*), COUNT(DISTINCT domain_id) FROM checks" 2>/dev/null || echo "?")
echo "checks recorded | distinct domains checked: $per_worker"
printf 'sweep of %d names by %d workers: %.2f s wall, %.0f names/s (target: within 300 s, at most 300 MB per worker)\n' \
    "$COUNT" "$WORKERS" "$WALL" "$(awk -v n="$COUNT" -v w="$WALL" 'BEGIN {print n / w}')"
exit "$status"
