#!/usr/bin/env bash
# Benchmark of `pecwatch check` on the DNS lab (issue: checker speed).
#
#   bench/check.sh [ZONES] [SAMPLE]
#
# Builds a lab of ZONES generated zones x 5 certified names (default 20000 -> 100,000
# names) on two Knot DNS servers, measures the servers' query ceiling with dnsperf, runs
# `pecwatch check --from` over every name, and prints names/s, queries/s, the ratio to the
# ceiling and peak RSS. Then runs checkdmarc (PyPI) and zonemaster-cli (Debian) over SAMPLE
# names (default 40 and 5) and prints pecwatch's per-name speed against theirs.
# Only loopback addresses (127.53.x.y) are queried.
set -euo pipefail
cd "$(dirname "$0")/.."
ZONES=${1:-20000}
SAMPLE=${2:-40}
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

run_check() { # label, extra args...
    local label=$1
    shift
    /usr/bin/time -f '%M %e' -o "$WORK/time" "$BIN" check --from "$NAMES" \
        --resolver "$PECWATCH_LAB_RESOLVER" --allow-private --no-ipv6 --format json \
        --concurrency "$CONCURRENCY" --stats --lang en "$@" >"$WORK/out.jsonl" 2>"$WORK/stats" || true
    local rss_kb wall ok names_s qps
    read -r rss_kb wall <"$WORK/time"
    ok=$(grep -c '"ok":true' "$WORK/out.jsonl" || true)
    names_s=$(awk -v n="$COUNT" -v w="$wall" 'BEGIN {printf "%.0f", n / w}')
    qps=$(sed -n 's/.*, \([0-9]*\) DNS queries.*/\1/p' "$WORK/stats")
    qps=$(awk -v q="${qps:-0}" -v w="$wall" 'BEGIN {printf "%.0f", q / w}')
    echo "$label: $COUNT names in ${wall}s = $names_s names/s, $qps queries/s" \
        "($(awk -v q="$qps" -v c="${CEILING:-0}" 'BEGIN {if (c > 0) printf "%.2f", q / c; else print "?"}') of the ceiling)," \
        "peak RSS $((rss_kb / 1024)) MB, ok $ok/$COUNT"
    tail -1 "$WORK/stats"
    PECWATCH_NAMES_S=$names_s
}
echo "== pecwatch check --from (cold resolver cache, then warm)"
run_check "cold"
run_check "warm"

echo "== comparison on $SAMPLE names"
shuf -n "$SAMPLE" --random-source=<(yes) "$NAMES" >"$WORK/sample.txt"
start=$(date +%s.%N)
while read -r name; do
    bench/venv/bin/checkdmarc --skip-tls -t 2 -n "$PECWATCH_LAB_RESOLVER" "$name" >/dev/null 2>&1 || true
done <"$WORK/sample.txt"
end=$(date +%s.%N)
CD_PER=$(awk -v s="$start" -v e="$end" -v n="$SAMPLE" 'BEGIN {printf "%.4f", (e - s) / n}')
start=$(date +%s.%N)
bench/venv/bin/checkdmarc --skip-tls -t 2 -n "$PECWATCH_LAB_RESOLVER" $(cat "$WORK/sample.txt") >/dev/null 2>&1 || true
end=$(date +%s.%N)
CD_BATCH=$(awk -v s="$start" -v e="$end" -v n="$SAMPLE" 'BEGIN {printf "%.4f", (e - s) / n}')
head -n "$ZM_SAMPLE" "$WORK/sample.txt" >"$WORK/zm.txt"
start=$(date +%s.%N)
while read -r name; do
    zonemaster-cli --hints "$PECWATCH_LAB_ROOT_HINTS" --no-ipv6 --level ERROR "$name" >/dev/null 2>&1 || true
done <"$WORK/zm.txt"
end=$(date +%s.%N)
ZM_PER=$(awk -v s="$start" -v e="$end" -v n="$ZM_SAMPLE" 'BEGIN {printf "%.3f", (e - s) / n}')
PW_PER=$(awk -v r="$PECWATCH_NAMES_S" 'BEGIN {printf "%.6f", 1 / r}')
echo "per name: pecwatch ${PW_PER}s, checkdmarc ${CD_PER}s (one process per name), ${CD_BATCH}s (one process for all), zonemaster-cli ${ZM_PER}s"
awk -v p="$PW_PER" -v c="$CD_PER" -v b="$CD_BATCH" -v z="$ZM_PER" 'BEGIN {
    printf "pecwatch is %.0fx checkdmarc (per process), %.0fx checkdmarc (batch), %.0fx zonemaster-cli\n", c / p, b / p, z / p }'
