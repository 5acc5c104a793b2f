#!/usr/bin/env bash
# Benchmark of `pecwatch sweep` on the DNS lab (issue: the registry and the daily sweep).
#
#   bench/sweep.sh [ZONES]
#
# Builds the lab with ZONES generated zones x 5 certified names (default 20000 -> 100,000
# names), times `pecwatch check --from` over every name (the baseline), then registers
# every name (`domains import`) in a fresh SQLite file and a fresh PostgreSQL schema
# (PECWATCH_BENCH_POSTGRES, default postgres://postgres@127.0.0.1:5432/test) and times
# one `pecwatch sweep` over all of them on each: wall time, names/s, the ratio to the
# baseline (target: at most 1.5) and peak RSS. Only loopback addresses are queried.
set -euo pipefail
cd "$(dirname "$0")/.."
ZONES=${1:-20000}
CONCURRENCY=${CONCURRENCY:-1000}
POSTGRES=${PECWATCH_BENCH_POSTGRES:-postgres://postgres@127.0.0.1:5432/test}
WORK=$(mktemp -d /tmp/pecwatch-sweep-bench.XXXXXX)
SCHEMA=pecwatch_bench_$$
cleanup() {
    psql -q "$POSTGRES" -c "DROP SCHEMA IF EXISTS $SCHEMA CASCADE" >/dev/null 2>&1 || true
    rm -rf "$WORK"
}
trap cleanup EXIT

scripts/setup
command -v psql >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql-client >/dev/null
cargo build --release -q
lab/lab.sh up --bench "$ZONES"
eval "$(lab/lab.sh env)"
NAMES=$PECWATCH_LAB_DIR/bench-names.txt
COUNT=$(wc -l <"$NAMES")
BIN=$PWD/target/release/pecwatch
export PECWATCH_DNS_RESOLVER=$PECWATCH_LAB_RESOLVER PECWATCH_DNS_ALLOW_PRIVATE=true
export PECWATCH_DNS_CONCURRENCY=$CONCURRENCY PECWATCH_DNS_IPV6=false PECWATCH_LOG=warn
unset PECWATCH_CONFIG PECWATCH_NOW

# timed LABEL COMMAND...: runs it, prints wall time and peak RSS, sets WALL.
timed() {
    local label=$1 rss_kb
    shift
    /usr/bin/time -f '%M %e' -o "$WORK/time" "$@" >"$WORK/out" 2>"$WORK/err" || {
        echo "$label failed:"; cat "$WORK/err"; exit 1
    }
    read -r rss_kb WALL <"$WORK/time"
    printf '%-28s %8.2f s  %7.0f names/s  peak RSS %4d MB\n' "$label" "$WALL" \
        "$(awk -v n="$COUNT" -v w="$WALL" 'BEGIN {print n / w}')" $((rss_kb / 1024))
}

echo "== $COUNT names, concurrency $CONCURRENCY"
"$BIN" check --from "$NAMES" --format json --no-progress >/dev/null || true # warm the resolver
timed "check --from (baseline)" "$BIN" check --from "$NAMES" --format json --no-progress
BASELINE=$WALL
{
    echo "domain,holder_email"
    awk '{print $1 ",titolare@" $1}' "$NAMES"
} >"$WORK/domains.csv"

psql -q "$POSTGRES" -c "CREATE SCHEMA $SCHEMA" >/dev/null
SEP='?'; [[ $POSTGRES == *\?* ]] && SEP='&'
for db in "sqlite://$WORK/bench.db" "$POSTGRES${SEP}options=-c%20search_path%3D$SCHEMA"; do
    backend=${db%%:*}
    echo "== $backend"
    export PECWATCH_DATABASE_URL=$db
    timed "domains import" "$BIN" domains import "$WORK/domains.csv"
    timed "sweep" "$BIN" sweep --format json --no-progress
    sed 's/,"canaries".*//' "$WORK/out" | cut -c1-160
    awk -v s="$WALL" -v b="$BASELINE" 'BEGIN {printf "sweep / check = %.2f (target at most 1.5)\n", s / b}'
done
