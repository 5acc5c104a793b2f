#!/usr/bin/env bash
# Benchmark of `pecwatch check` on the DNS lab (issue: checker speed).
#
#   bench/check.sh [ZONES] [SAMPLE]
#
# Builds a lab of ZONES generated zones x 5 certified names (default 20000 -> 100,000
# names) on two Knot DNS servers, measures the servers' query ceiling with dnsperf, runs
# `pecwatch check --from` over every name, and prints names/s, queries/s, the ratio to the
# ceiling and peak RSS. Then compares pecwatch's per-name speed with checkdmarc (PyPI) on
# SAMPLE of the same names (default 200) and with zonemaster-cli (Debian) on ZM_SAMPLE of
# their zones (default 5); the method is printed with the figures. RUNS (default 3) timed
# runs of each, the median is used. Only loopback addresses (127.53.x.y) are queried.
set -euo pipefail
cd "$(dirname "$0")/.."
ZONES=${1:-20000}
SAMPLE=${2:-200}
RUNS=${RUNS:-3}
ZM_SAMPLE=${ZM_SAMPLE:-5}
CONCURRENCY=${CONCURRENCY:-1000}
WORK=$(mktemp -d /tmp/pecwatch-bench.XXXXXX)
trap 'rm -rf "$WORK"' EXIT

scripts/setup
if ! command -v zonemaster-cli >/dev/null; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq zonemaster-cli >/dev/null
fi
if [ ! -x bench/venv/bin/checkdmarc ]; then
    python3 -m venv bench/venv
    bench/venv/bin/pip install -q checkdmarc
fi
cargo build --release -q
lab/lab.sh up --bench "$ZONES"
eval "$(lab/lab.sh env)"
NAMES=$PECWATCH_LAB_DIR/bench-names.txt
COUNT=$(wc -l <"$NAMES")
BIN=target/release/pecwatch

echo "== query ceiling (dnsperf, 10 s, MX queries to one bench server)"
awk '{print $1, "MX"}' "$NAMES" >"$WORK/dnsperf.txt"
dnsperf -s 127.53.3.1 -d "$WORK/dnsperf.txt" -l 10 -c 8 -T 2 -q 2000 >"$WORK/dnsperf.out" 2>&1 || true
CEILING=$(awk '/Queries per second/ {print $4}' "$WORK/dnsperf.out")
echo "ceiling: ${CEILING:-?} queries/s"

run_check() { # label, variable for names/s, extra args...
    local label=$1 var=$2
    shift 2
    /usr/bin/time -f '%M %e' -o "$WORK/time" "$BIN" check --from "$NAMES" \
        --resolver "$PECWATCH_LAB_RESOLVER" --allow-private --no-ipv6 --format json \
        --concurrency "$CONCURRENCY" --stats --lang en "$@" >"$WORK/out.jsonl" 2>"$WORK/stats" || true
    local rss_kb wall ok names_s queries qps
    read -r rss_kb wall <"$WORK/time"
    ok=$(grep -c '"ok":true' "$WORK/out.jsonl" || true)
    names_s=$(awk -v n="$COUNT" -v w="$wall" 'BEGIN {printf "%.0f", n / w}')
    queries=$(sed -n 's/.*, \([0-9]*\) DNS queries.*/\1/p' "$WORK/stats")
    qps=$(awk -v q="${queries:-0}" -v w="$wall" 'BEGIN {printf "%.0f", q / w}')
    echo "$label: $COUNT names in ${wall}s = $names_s names/s," \
        "$(awk -v q="${queries:-0}" -v n="$COUNT" 'BEGIN {printf "%.2f", q / n}') queries/name, $qps queries/s" \
        "($(awk -v q="$qps" -v c="${CEILING:-0}" 'BEGIN {if (c > 0) printf "%.2f", q / c; else print "?"}') of the ceiling)," \
        "peak RSS $((rss_kb / 1024)) MB, ok $ok/$COUNT"
    tail -1 "$WORK/stats"
    printf -v "$var" %s "$names_s"
}
echo "== pecwatch check --from (cold resolver cache, then warm)"
run_check "cold" PECWATCH_COLD
run_check "warm" PECWATCH_WARM

median() { sort -g | awk '{v[NR] = $1} END {print v[int((NR + 1) / 2)]}'; }
elapsed() { # command...: prints the wall time in seconds
    local start end
    start=$(date +%s.%N)
    "$@" >"$WORK/tool.out" 2>&1 || true
    end=$(date +%s.%N)
    awk -v s="$start" -v e="$end" 'BEGIN {printf "%.4f\n", e - s}'
}

echo "== checkdmarc $(bench/venv/bin/checkdmarc --version 2>&1 | tail -1) on $SAMPLE of the same names"
# One process checks the sample in a row (its batch mode); the names go before -n, which
# takes several values. Its per-name cost is the marginal one: (median time for SAMPLE
# names - median time for 1 name) / (SAMPLE - 1), so its start-up (~0.3 s of Python
# imports) is not counted against it. A first run over the sample warms the resolver cache
# and is not timed, as pecwatch's warm run follows a cold one.
shuf -n "$SAMPLE" --random-source=<(yes) "$NAMES" >"$WORK/sample.txt"
mapfile -t sample <"$WORK/sample.txt"
checkdmarc() { bench/venv/bin/checkdmarc "$@" -n "$PECWATCH_LAB_RESOLVER" -t 2; }
elapsed checkdmarc "${sample[@]}" >/dev/null
checked=$(grep -c '"domain":' "$WORK/tool.out" || true)
if [ "$checked" != "$SAMPLE" ]; then
    echo "checkdmarc checked $checked of $SAMPLE names:" >&2
    head -5 "$WORK/tool.out" >&2
    exit 1
fi
for _ in $(seq "$RUNS"); do elapsed checkdmarc "${sample[@]}"; done >"$WORK/cd-batch"
for _ in $(seq "$RUNS"); do elapsed checkdmarc "${sample[0]}"; done >"$WORK/cd-one"
CD_BATCH=$(median <"$WORK/cd-batch")
CD_ONE=$(median <"$WORK/cd-one")
CD_PER=$(awk -v b="$CD_BATCH" -v o="$CD_ONE" -v n="$SAMPLE" 'BEGIN {printf "%.4f", (b - o) / (n - 1)}')
echo "checkdmarc: $SAMPLE names in ${CD_BATCH}s, 1 name in ${CD_ONE}s (medians of $RUNS runs):" \
    "${CD_PER}s per name"

echo "== zonemaster-cli on the zones of $ZM_SAMPLE names"
# zonemaster-cli tests zones, one per process (no batch mode): given a name that is not a
# zone it stops at once ("Not enough data"), so it is given the zone holding each name.
# Iterative from the lab's root hints; its per-name cost is the median time per zone.
head -n "$ZM_SAMPLE" "$WORK/sample.txt" | cut -d. -f2- >"$WORK/zm.txt"
while read -r zone; do
    elapsed zonemaster-cli --hints "$PECWATCH_LAB_ROOT_HINTS" --no-ipv6 --level ERROR "$zone"
    if grep -q 'Not enough data' "$WORK/tool.out"; then
        echo "zonemaster-cli could not test $zone:" >&2
        cat "$WORK/tool.out" >&2
        exit 1
    fi
done <"$WORK/zm.txt" >"$WORK/zm-times"
ZM_PER=$(median <"$WORK/zm-times")
echo "zonemaster-cli: median ${ZM_PER}s per zone"

echo "== per name"
PW_COLD=$(awk -v r="$PECWATCH_COLD" 'BEGIN {printf "%.6f", 1 / r}')
PW_WARM=$(awk -v r="$PECWATCH_WARM" 'BEGIN {printf "%.6f", 1 / r}')
echo "pecwatch ${PW_COLD}s cold, ${PW_WARM}s warm; checkdmarc ${CD_PER}s; zonemaster-cli ${ZM_PER}s"
awk -v c="$PW_COLD" -v w="$PW_WARM" -v d="$CD_PER" -v z="$ZM_PER" 'BEGIN {
    printf "pecwatch is %.0fx checkdmarc (cold), %.0fx (warm); %.0fx zonemaster-cli (cold)\n",
        d / c, d / w, z / c }'
