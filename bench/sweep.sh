#!/usr/bin/env bash
# Benchmark of `pecwatch sweep` on the DNS lab (issue: the registry and the daily sweep).
#
#   bench/sweep.sh [ZONES]
#
# Builds the lab with ZONES generated zones x 5 certified names (default 20000 -> 100,000
# names; a lab already up with them is kept), times `pecwatch check --from` over every
# name (the baseline), then registers every name (`domains import`) in a fresh SQLite
# file and a fresh PostgreSQL schema (PECWATCH_BENCH_POSTGRES, default
# postgres://postgres@127.0.0.1:5432/test) and times on each one `pecwatch sweep` over
# all of them (the first check of every domain) and a second one a day later (every
# domain checked again: the daily case). Each line gives the wall time, names/s, the CPU
# time of pecwatch (user + system), for PostgreSQL the CPU time of its backends, the peak
# RSS and the load average at the end; then the ratio of the sweep to the baseline
# (target: at most 1.3), in wall time and in CPU time. BACKENDS ("sqlite postgres")
# chooses the databases, PECWATCH_BENCH_BIN another pecwatch binary (not built then).
# Only loopback addresses are queried.
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
ZONES=${1:-20000}
CONCURRENCY=${CONCURRENCY:-1000}
BACKENDS=${BACKENDS:-sqlite postgres}
POSTGRES=${PECWATCH_BENCH_POSTGRES:-postgres://postgres@127.0.0.1:5432/test}
WORK=$(mktemp -d /tmp/pecwatch-sweep-bench.XXXXXX)
SCHEMA=pecwatch_bench_$$
APP=pecwatch_bench_$$
cleanup() {
    [ -n "${WATCH:-}" ] && kill "$WATCH" 2>/dev/null
    psql -q "$POSTGRES" -c "DROP SCHEMA IF EXISTS $SCHEMA CASCADE" >/dev/null 2>&1 || true
    rm -rf "$WORK"
}
trap cleanup EXIT

scripts/setup
command -v psql >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql-client >/dev/null
[ -n "${PECWATCH_BENCH_BIN:-}" ] || cargo build --release -q
lab/lab.sh up --bench "$ZONES"
eval "$(lab/lab.sh env)"
NAMES=$PECWATCH_LAB_DIR/bench-names.txt
COUNT=$(wc -l <"$NAMES")
BIN=${PECWATCH_BENCH_BIN:-$PWD/target/release/pecwatch}
export PECWATCH_DNS_RESOLVER=$PECWATCH_LAB_RESOLVER PECWATCH_DNS_ALLOW_PRIVATE=true
export PECWATCH_DNS_CONCURRENCY=$CONCURRENCY PECWATCH_DNS_IPV6=false PECWATCH_LOG=warn
unset PECWATCH_CONFIG PECWATCH_NOW
# The sweeps run at 03:00 UTC of the next two days (fixed clocks: both sweeps find every
# domain due).
DAY1=$(date -u -d 'tomorrow 03:00' +%Y-%m-%dT%H:%M:%SZ)
DAY2=$(date -u -d '2 days 03:00' +%Y-%m-%dT%H:%M:%SZ)

# timed LABEL COMMAND...: runs it and prints wall time, names/s, CPU time of pecwatch,
# of its PostgreSQL backends (when PECWATCH_DATABASE_URL names one), peak RSS and load;
# sets WALL and CPU (pecwatch + backends).
timed() {
    local label=$1 rss_kb user sys pg=0 pg_text=""
    shift
    WATCH=""
    if [[ ${PECWATCH_DATABASE_URL:-} == postgres* ]]; then
        pg_cpu_watch "$POSTGRES" "$APP" "$WORK/pgcpu" & WATCH=$!
    fi
    /usr/bin/time -f '%M %e %U %S' -o "$WORK/time" "$@" >"$WORK/out" 2>"$WORK/err" || {
        echo "$label failed:"; cat "$WORK/err"; exit 1
    }
    if [ -n "$WATCH" ]; then
        kill "$WATCH" 2>/dev/null; wait "$WATCH" 2>/dev/null || true; WATCH=""
        pg=$(cat "$WORK/pgcpu")
        pg_text=$(printf '  postgres CPU %6.2f s' "$pg")
    fi
    read -r rss_kb WALL user sys <"$WORK/time"
    CPU=$(awk -v u="$user" -v s="$sys" -v p="$pg" 'BEGIN {printf "%.2f", u + s + p}')
    printf '%-26s %7.2f s %7.0f names/s  CPU %6.2f s%s  peak RSS %4d MB  %s\n' "$label" "$WALL" \
        "$(awk -v n="$COUNT" -v w="$WALL" 'BEGIN {print n / w}')" \
        "$(awk -v u="$user" -v s="$sys" 'BEGIN {print u + s}')" "$pg_text" \
        $((rss_kb / 1024)) "$(load)"
}

echo "== $COUNT names, concurrency $CONCURRENCY, $(load)"
"$BIN" check --from "$NAMES" --format json --no-progress >/dev/null || true # warm the resolver
timed "check --from (baseline)" "$BIN" check --from "$NAMES" --format json --no-progress
BASELINE=$WALL BASELINE_CPU=$CPU
{
    echo "domain,holder_email"
    awk '{print $1 ",titolare@" $1}' "$NAMES"
} >"$WORK/domains.csv"

psql -q "$POSTGRES" -c "CREATE SCHEMA $SCHEMA" >/dev/null
SEP='?'; [[ $POSTGRES == *\?* ]] && SEP='&'
for backend in $BACKENDS; do
    case $backend in
    sqlite) db="sqlite://$WORK/bench.db" ;;
    postgres) db=$(with_app "$POSTGRES${SEP}options=-c%20search_path%3D$SCHEMA" "$APP") ;;
    *) echo "unknown backend $backend"; exit 2 ;;
    esac
    echo "== $backend"
    export PECWATCH_DATABASE_URL=$db
    timed "domains import" "$BIN" domains import "$WORK/domains.csv"
    for day in 1 2; do
        if ((day == 1)); then now=$DAY1; else now=$DAY2; fi
        timed "sweep, day $day" env PECWATCH_NOW="$now" "$BIN" sweep --format json --no-progress
        sed 's/,"canaries".*//' "$WORK/out" | cut -c1-160
        awk -v s="$WALL" -v b="$BASELINE" -v c="$CPU" -v bc="$BASELINE_CPU" 'BEGIN {
            printf "sweep / check = %.2f in wall time, %.2f in CPU time (target at most 1.3)\n",
                s / b, c / bc }'
    done
done
