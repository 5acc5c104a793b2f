#!/usr/bin/env bash
# Benchmark of `pecwatch check` with DNSSEC validation (issue 17).
#
#   bench/dnssec.sh [ZONES]
#
# Builds a signed world of its own on 127.56.0.x (nobody else uses 127.56.0/24): a private
# root and `it.` signed by Knot DNS (automatic signing, ECDSA P-256, NSEC), ZONES signed
# zones s0.it … (default 10000, each with its DS in `it.`) and ZONES unsigned zones u0.it …
# (no DS), 5 certified names in each (pec1 … pec5, MX 10 mx.pecprov.it.), the provider's
# signed zone pecprov.it, and a plain Unbound resolver. Then runs `pecwatch check --from`
# with the world's root DS as trust anchor over
#   - the signed names (every name validated from the root: DS, DNSKEY, RRSIG),
#   - the unsigned names (each zone proven unsigned by the NSEC of `it.`),
#   - the unsigned names with a profile whose `dnssec = "off"` (no DNSSEC at all),
#   - the unsigned names with the built-in IANA anchors, which do not match this root,
# and prints names/s and peak RSS of each (the median of RUNS runs, default 3; the first
# run of each set warms the resolver's cache and is not timed). Only 127.56.0.x is queried.
set -euo pipefail
cd "$(dirname "$0")/.."
ZONES=${1:-10000}
RUNS=${RUNS:-3}
CONCURRENCY=${CONCURRENCY:-1000}
NET=127.56.0
WORK=$(mktemp -d /tmp/pecwatch-dnssec-bench.XXXXXX)
PIDS=()
cleanup() {
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT

# What this needs (Knot DNS, Unbound, kdig, jq) comes with scripts/setup.
for tool in knotd knotc unbound kdig jq; do
    command -v "$tool" >/dev/null || { scripts/setup; break; }
done
cargo build --release -q
BIN=target/release/pecwatch
echo "== load: $(uptime)"

soa() { printf '$TTL 300\n@ SOA %s hostmaster.%s 1 3600 600 86400 60\n' "$1" "$1"; }
mkdir -p "$WORK/zones"
# The customer zones (one file for all: names relative to each zone) and the provider's.
{ soa dns.it.; echo "@ NS dns.it."; for i in 1 2 3 4 5; do echo "pec$i MX 10 mx.pecprov.it."; done; } \
    >"$WORK/zones/member.zone"
{ soa dns.it.; echo "@ NS dns.it."; echo "mx A $NET.25"; } >"$WORK/zones/pecprov.it.zone"

# knot_conf NAME ADDR ZONES-CONF: a Knot instance; zones signed with template "signed".
knot_conf() {
    local dir=$WORK/$1
    mkdir -p "$dir/db"
    cat >"$dir/knot.conf" <<EOF
server:
    rundir: "$dir"
    listen: $2@53
    udp-workers: 2
    tcp-workers: 1
    background-workers: 2
log:
  - target: "$dir/knot.log"
    any: warning
database:
    storage: "$dir/db"
control:
    listen: "$dir/knot.sock"
policy:
  - id: bench
    algorithm: ecdsap256sha256
    single-type-signing: on
    cds-cdnskey-publish: always
    nsec3: off
template:
  - id: default
    storage: "$WORK/zones"
    file: "%s.zone"
    zonefile-sync: -1
    zonefile-load: whole
    journal-content: none
  - id: signed
    storage: "$WORK/zones"
    file: "%s.zone"
    zonefile-sync: -1
    zonefile-load: whole
    journal-content: none
    dnssec-signing: on
    dnssec-policy: bench
zone:
$3
EOF
}
start_knot() { # NAME
    knotd -c "$WORK/$1/knot.conf" >"$WORK/$1.out" 2>&1 &
    PIDS+=($!)
}
# wait_signed ADDR ZONE: until ZONE answers its DNSKEY at ADDR.
wait_signed() {
    for _ in $(seq 1200); do
        if kdig +norec +timeout=1 +retry=0 "@$1" "$2" DNSKEY 2>/dev/null | grep -q 'IN.*DNSKEY'; then
            return 0
        fi
        sleep 0.5
    done
    echo "no DNSKEY for $2 at $1" >&2
    exit 1
}
# ds_of NAME: the CDS records of every zone of a Knot instance, as DS lines.
ds_of() {
    knotc -s "$WORK/$1/knot.sock" zone-read -- @ CDS \
        | sed -n 's/^\[[^]]*\] \(\S*\) [0-9]* CDS /\1 300 DS /p'
}

echo "== signing $ZONES zones, then it., then the root (Knot automatic signing)"
start=$(date +%s)
{
    printf '  - domain: "pecprov.it."\n    template: signed\n'
    for ((i = 0; i < ZONES; i++)); do
        printf '  - domain: "s%d.it."\n    file: "member.zone"\n    template: signed\n' "$i"
        printf '  - domain: "u%d.it."\n    file: "member.zone"\n' "$i"
    done
} >"$WORK/auth-zones.conf"
knot_conf auth "$NET.3" "$(cat "$WORK/auth-zones.conf")"
start_knot auth
wait_signed "$NET.3" pecprov.it
wait_signed "$NET.3" "s$((ZONES - 1)).it"
# Every zone signed (background workers may finish out of order).
until [ "$(ds_of auth | wc -l)" -ge "$((ZONES + 1))" ]; do sleep 1; done
{
    soa a.nic.it.
    echo "@ NS a.nic.it."
    echo "a.nic.it. A $NET.2"
    echo "dns.it. A $NET.3"
    echo "pecprov.it. NS dns.it."
    for ((i = 0; i < ZONES; i++)); do echo "s$i.it. NS dns.it."; echo "u$i.it. NS dns.it."; done
    ds_of auth
} >"$WORK/zones/it.zone"
knot_conf tld "$NET.2" '  - domain: "it."
    template: signed'
start_knot tld
wait_signed "$NET.2" it
{
    soa a.root.lab.
    echo "@ NS a.root.lab."
    echo "a.root.lab. A $NET.1"
    echo "it. NS a.nic.it."
    echo "a.nic.it. A $NET.2"
    ds_of tld
} >"$WORK/zones/root.zone"
knot_conf root "$NET.1" '  - domain: "."
    file: "root.zone"
    template: signed'
start_knot root
wait_signed "$NET.1" .
ds_of root >"$WORK/anchor.ds"
echo "signed in $(($(date +%s) - start)) s; trust anchor: $(cat "$WORK/anchor.ds")"

printf '. 3600000 NS a.root.lab.\na.root.lab. 3600000 A %s\n' "$NET.1" >"$WORK/root.hints"
mkdir -p "$WORK/resolver"
cat >"$WORK/resolver/unbound.conf" <<EOF
server:
    verbosity: 0
    use-syslog: no
    logfile: ""
    directory: "$WORK/resolver"
    chroot: ""
    username: ""
    pidfile: ""
    do-daemonize: no
    interface: $NET.53
    outgoing-interface: $NET.53
    do-ip6: no
    access-control: 127.0.0.0/8 allow
    do-not-query-localhost: no
    root-hints: "$WORK/root.hints"
    module-config: "iterator"
    num-threads: 2
    msg-cache-size: 256m
    rrset-cache-size: 256m
remote-control:
    control-enable: no
EOF
unbound -d -c "$WORK/resolver/unbound.conf" >"$WORK/unbound.out" 2>&1 &
PIDS+=($!)
until kdig +timeout=1 +retry=0 "@$NET.53" dns.it A 2>/dev/null | grep -q NOERROR; do sleep 0.2; done

for policy in error off; do
    printf 'name = "pecprov"\nmx_host = "mx.pecprov.it"\nmail_addresses = ["%s.25"]\ndnssec = "%s"\n' \
        "$NET" "$policy" >"$WORK/profile-$policy.toml"
done
for kind in s u; do
    for ((i = 0; i < ZONES; i++)); do
        for n in 1 2 3 4 5; do echo "pec$n.$kind$i.it"; done
    done >"$WORK/names-$kind.txt"
done
COUNT=$(wc -l <"$WORK/names-s.txt")

median() { sort -g | awk '{v[NR] = $1} END {print v[int((NR + 1) / 2)]}'; }
run_set() { # label names-file policy [anchor]
    local label=$1 names=$2 policy=$3 anchor=${4:-$WORK/anchor.ds} rss_kb wall ok
    [ "$anchor" = none ] && anchor=""
    : >"$WORK/rates"
    : >"$WORK/rss"
    for run in $(seq 0 "$RUNS"); do
        /usr/bin/time -f '%M %e' -o "$WORK/time" "$BIN" check --from "$names" \
            --resolver "$NET.53" ${anchor:+--trust-anchor "$anchor"} \
            --profile "$WORK/profile-$policy.toml" --allow-private --no-ipv6 --format json \
            --concurrency "$CONCURRENCY" --lang en >"$WORK/out.jsonl" 2>"$WORK/err" || true
        read -r rss_kb wall <"$WORK/time"
        ok=$(grep -c '"ok":true' "$WORK/out.jsonl" || true)
        if [ "$ok" != "$COUNT" ]; then
            echo "$label: only $ok of $COUNT names ok:" >&2
            grep -v '"ok":true' "$WORK/out.jsonl" | head -3 >&2
            cat "$WORK/err" >&2
            exit 1
        fi
        ((run == 0)) && continue # warms the resolver's cache
        awk -v n="$COUNT" -v w="$wall" 'BEGIN {printf "%.0f\n", n / w}' >>"$WORK/rates"
        echo $((rss_kb / 1024)) >>"$WORK/rss"
    done
    jq -r '.dnssec[]? | select(.type == "MX") | .status' "$WORK/out.jsonl" >"$WORK/statuses"
    secure=$(grep -c '^secure$' "$WORK/statuses" || true)
    insecure=$(grep -c '^insecure$' "$WORK/statuses" || true)
    echo "$label: $COUNT names, median $(median <"$WORK/rates") names/s" \
        "(runs: $(paste -sd' ' "$WORK/rates")), peak RSS $(sort -g "$WORK/rss" | tail -1) MB," \
        "MX secure $secure, insecure $insecure, ok $ok/$COUNT"
}
echo "== pecwatch check --from ($COUNT names per set, concurrency $CONCURRENCY)"
run_set "signed zones, DNSSEC validated" "$WORK/names-s.txt" error
run_set "unsigned zones, DNSSEC validated (proven insecure)" "$WORK/names-u.txt" error
run_set "unsigned zones, dnssec = off" "$WORK/names-u.txt" off
# As on bench/check.sh's lab, whose private root is unsigned: the built-in IANA anchors do
# not match this root's keys, so nothing is judged after the root's one DNSKEY query.
run_set "unsigned zones, built-in anchors (not this root's)" "$WORK/names-u.txt" error none
echo "== load: $(uptime)"
