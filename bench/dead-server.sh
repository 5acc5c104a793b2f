#!/usr/bin/env bash
# What a dead authoritative server costs the checker (issue 14: patient re-asking).
#
#   bench/dead-server.sh [NAMES] [BINARY...]
#
# On the bench lab (`lab/lab.sh up --bench N`, which this script expects up), runs
# `pecwatch check --from` over the first NAMES bench names (default all: 100,000 with
# `--bench 20000`) with both bench servers answering, twice per binary (the first run of
# all meets a cold resolver cache), then over the first DEAD_NAMES (default 10000, 5 per
# zone) with the second server stopped (SIGSTOP: every zone has one dead server, whose
# queries each wait for their timeouts, 128 at a time), for each BINARY (default
# target/release/pecwatch; give an older build too, to compare), and prints names/s, DNS
# queries and patient re-queries of each run. The server is resumed (SIGCONT) at the end,
# whatever happens. Only loopback addresses (127.53.x.y) are queried. Meanwhile the lab's
# other users see bench2 dead (a `lab/lab.sh up` then restarts the lab).
set -euo pipefail
cd "$(dirname "$0")/.."
NAMES=${1:-1000000000}
DEAD_NAMES=${DEAD_NAMES:-10000}
shift || true
BINARIES=("$@")
[ ${#BINARIES[@]} -gt 0 ] || BINARIES=(target/release/pecwatch)
CONCURRENCY=${CONCURRENCY:-1000}
eval "$(lab/lab.sh env)"
PID=$(tr -d '[:space:]' <"$PECWATCH_LAB_DIR/bench2/pid")
WORK=$(mktemp -d /tmp/pecwatch-dead.XXXXXX)
trap 'kill -CONT "$PID" 2>/dev/null || true; rm -rf "$WORK"' EXIT

run() { # label binary names
    local label=$1 bin=$2 wall ok
    head -n "$3" "$PECWATCH_LAB_DIR/bench-names.txt" >"$WORK/names.txt"
    COUNT=$(wc -l <"$WORK/names.txt")
    /usr/bin/time -f '%e' -o "$WORK/time" "$bin" check --from "$WORK/names.txt" \
        --resolver "$PECWATCH_LAB_RESOLVER" --allow-private --no-ipv6 --format json \
        --concurrency "$CONCURRENCY" --stats --lang en >"$WORK/out.jsonl" 2>"$WORK/stats" || true
    wall=$(tail -1 "$WORK/time") # after "Command exited with non-zero status 1"
    ok=$(grep -c '"ok":true' "$WORK/out.jsonl" || true)
    echo "$label ($bin): $COUNT names in ${wall}s = $(awk -v n="$COUNT" -v w="$wall" \
        'BEGIN {printf "%.0f", n / w}') names/s, ok $ok/$COUNT; $(tail -1 "$WORK/stats")"
}
echo "== uptime: $(uptime)"
for bin in "${BINARIES[@]}"; do
    run "every server answers, run 1" "$bin" "$NAMES"
    run "every server answers, run 2" "$bin" "$NAMES"
done
kill -STOP "$PID"
for bin in "${BINARIES[@]}"; do run "bench2 (127.53.3.2) stopped" "$bin" "$DEAD_NAMES"; done
kill -CONT "$PID"
echo "== uptime: $(uptime)"
