#!/usr/bin/env bash
# pecwatch DNS lab: Knot DNS authoritative servers and an Unbound resolver on
# 127.53.x.y:53 with a private root, for integration tests and benchmarks.
#
#   lab/lab.sh up [--bench N]   start (idempotent; restarts if unhealthy or changed)
#   lab/lab.sh down             stop every process the lab started
#   lab/lab.sh status           show instances; exit 0 only if up and healthy
#   lab/lab.sh env              print the export lines for the tests
#
# Layout and scenarios: tests/fixtures/lab/instances.txt, tests/fixtures/lab/zones/,
# lab/README.md. Runtime state: ${PECWATCH_LAB_DIR:-<repo>/lab/run}.
# Only 127.53.0.0/16 is ever queried.
set -euo pipefail

LAB_HOME=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd -- "$LAB_HOME/.." && pwd)
FIXTURES=$REPO/tests/fixtures/lab
RUN=$(realpath -m -- "${PECWATCH_LAB_DIR:-$REPO/lab/run}")
RESOLVER_ADDR=127.53.0.53
START_TIMEOUT=${PECWATCH_LAB_START_TIMEOUT:-30}
STOP_TIMEOUT=${PECWATCH_LAB_STOP_TIMEOUT:-60}
LOCK_TIMEOUT=${PECWATCH_LAB_LOCK_TIMEOUT:-1800}

log() { printf 'lab: %s\n' "$*" >&2; }
die() { printf 'lab: error: %s\n' "$*" >&2; exit 1; }

usage() {
    cat >&2 <<'EOF'
usage: lab/lab.sh up [--bench N] | down | status | env
  up [--bench N]  start the lab (N extra zones bench000001.it..., 5 names each);
                  without --bench, a lab already up with bench zones is kept
  down            stop the lab
  status          print the instances; exit 0 if the lab is up and healthy
  env             print PECWATCH_LAB_* export lines (eval "$(lab/lab.sh env)")
environment: PECWATCH_LAB_DIR (run dir), PECWATCH_LAB_START_TIMEOUT (s, default 30),
             PECWATCH_LAB_STOP_TIMEOUT (s, 60), PECWATCH_LAB_LOCK_TIMEOUT (s, 1800)
EOF
}

# ---------------------------------------------------------------- instances

I_NAME=() I_ADDR=() I_KIND=() I_ZDIR=() I_EXPECT=()

add_instance() {
    I_NAME+=("$1") I_ADDR+=("$2") I_KIND+=("$3") I_ZDIR+=("$4") I_EXPECT+=("$5")
}

# load_instances BENCH: the table of tests/fixtures/lab/instances.txt (+ bench servers)
load_instances() {
    local bench=$1 name addr kind zdir expect rest
    I_NAME=() I_ADDR=() I_KIND=() I_ZDIR=() I_EXPECT=()
    while read -r name addr kind zdir expect rest; do
        [[ -z $name || $name == \#* ]] && continue
        [[ $addr == 127.53.* ]] || die "instances.txt: $name: address $addr not in 127.53.0.0/16"
        case $kind in knot | knot-primary | knot-secondary | blackhole | unbound) ;; *) die "instances.txt: $name: bad kind $kind" ;; esac
        add_instance "$name" "$addr" "$kind" "$zdir" "$expect"
    done <"$FIXTURES/instances.txt"
    if ((bench > 0)); then
        add_instance bench1 127.53.3.1 knot bench NOERROR
        add_instance bench2 127.53.3.2 knot bench NOERROR
    fi
}

# zones_of ZDIR: the zone names an instance with that zone directory loads
# (bench: only bench.it; the members are checked through knotc)
zones_of() {
    local zdir=$1 f z
    [[ $zdir == - ]] && return 0
    if [[ $zdir == bench ]]; then
        echo bench.it.
        return 0
    fi
    for f in "$RUN/zones/$zdir"/*.zone; do
        [[ -e $f ]] || continue
        z=$(basename -- "$f" .zone)
        if [[ $z == root ]]; then echo .; else echo "$z."; fi
    done
}

# served_zones ZDIR: the zones of ZDIR that answer queries (Knot answers REFUSED to
# queries for a catalog zone: it is configuration, transferred but not served)
served_zones() {
    local z
    while read -r z; do
        is_catalog "$z" || echo "$z"
    done < <(zones_of "$1")
}

# ---------------------------------------------------------------- processes

# owned PID DIR: PID is alive and is a process of this lab instance (its command
# line names a file in DIR); zombies and recycled PIDs do not count.
owned() {
    local pid=$1 dir=$2 cmd
    [[ $pid =~ ^[0-9]+$ ]] || return 1
    cmd=$(tr '\0' ' ' 2>/dev/null <"/proc/$pid/cmdline") || return 1
    [[ $cmd == *"$dir/"* ]]
}

# instance_pid NAME: print the PID of a running instance, fail if not running
instance_pid() {
    local d=$RUN/$1 pid
    [[ -s $d/pid ]] || return 1
    pid=$(<"$d/pid")
    pid=${pid//[[:space:]]/}
    owned "$pid" "$d" || return 1
    echo "$pid"
}

# stop_all: stop every process named by a pid file in the run dir (only if it
# really is ours), then wait for them to exit.
stop_all() {
    local pidf d pid pids=() dirs=() i deadline
    for pidf in "$RUN"/*/pid; do
        [[ -e $pidf ]] || continue
        d=${pidf%/pid}
        pid=$(<"$pidf")
        pid=${pid//[[:space:]]/}
        if owned "$pid" "$d"; then
            kill -TERM "$pid" 2>/dev/null || true
            pids+=("$pid") dirs+=("$d")
        else
            rm -f -- "$pidf"
        fi
    done
    ((${#pids[@]} > 0)) || return 0
    log "stopping ${#pids[@]} processes"
    deadline=$((SECONDS + STOP_TIMEOUT))
    for i in "${!pids[@]}"; do
        while owned "${pids[i]}" "${dirs[i]}"; do
            if ((SECONDS >= deadline)); then
                log "${dirs[i]##*/} (pid ${pids[i]}) did not stop in ${STOP_TIMEOUT}s, killing it"
                kill -KILL "${pids[i]}" 2>/dev/null || true
                sleep 0.2
                break
            fi
            sleep 0.1
        done
        rm -f -- "${dirs[i]}/pid"
    done
}

# foreign_listeners: lines of sockets bound to a lab address on port 53 (run after stop_all:
# anything left is not ours, e.g. a lab of another run dir or a system resolver)
foreign_listeners() {
    command -v ss >/dev/null || return 0
    {
        ss -Hlnu 2>/dev/null | awk '$4 ~ /^127\.53\.[0-9]+\.[0-9]+:53$/ {print "udp " $4}'
        ss -Hlnt 2>/dev/null | awk '$4 ~ /^127\.53\.[0-9]+\.[0-9]+:53$/ {print "tcp " $4}'
    } | sort -u
}

log_tail() {
    local name=$1 f
    for f in "$RUN/$name"/*.log "$RUN/$name"/*.out; do
        [[ -s $f ]] || continue
        if grep -qiE 'error|warning|fatal' -- "$f"; then
            printf -- '---- errors and warnings in %s\n' "$f" >&2
            grep -iE 'error|warning|fatal' -- "$f" | tail -n 10 >&2
        fi
        printf -- '---- tail of %s\n' "$f" >&2
        tail -n 5 -- "$f" >&2
    done
}

# probe_report I: which of the instance's probes fail (after a timeout)
probe_report() {
    local i=$1 z out rc
    is_knot "${I_KIND[i]}" || return 0
    while read -r z; do
        out=$(kdig +norec +timeout=1 +retry=0 "@${I_ADDR[i]}" "$z" SOA 2>&1) || true
        rc=$(sed -n 's/.*status: \([A-Z]*\);.*/\1/p' <<<"$out")
        if [[ $rc != "${I_EXPECT[i]}" ]]; then
            log "  ${I_NAME[i]}: $z SOA answered ${rc:-nothing}, expected ${I_EXPECT[i]}"
        fi
    done < <(served_zones "${I_ZDIR[i]}")
}

# ---------------------------------------------------------------- generation

# is_knot KIND: a knotd instance, whatever its role
is_knot() { [[ $1 == knot || $1 == knot-primary || $1 == knot-secondary ]]; }

# primary_of ZDIR: the index of the knot-primary instance of ZDIR (for its secondaries)
primary_of() {
    local zdir=$1 i
    for i in "${!I_NAME[@]}"; do
        if [[ ${I_KIND[i]} == knot-primary && ${I_ZDIR[i]} == "$zdir" ]]; then
            echo "$i"
            return 0
        fi
    done
    return 1
}

# secondaries_of ZDIR: the indexes of the knot-secondary instances of ZDIR
secondaries_of() {
    local zdir=$1 i
    for i in "${!I_NAME[@]}"; do
        if [[ ${I_KIND[i]} == knot-secondary && ${I_ZDIR[i]} == "$zdir" ]]; then echo "$i"; fi
    done
    return 0
}

# is_catalog ZONE: a zone whose first label is "catalog" is an RFC 9432 catalog zone
is_catalog() { [[ $1 == catalog.* ]]; }

# keys_of NAME: the TSIG key files (Knot format) a primary accepts updates signed with:
# tests/fixtures/lab/tsig/NAME/*.key
keys_of() {
    local f
    for f in "$FIXTURES/tsig/$1"/*.key; do
        if [[ -e $f ]]; then echo "$f"; fi
    done
    return 0
}

# key_id FILE: the id of the key of a Knot key file
key_id() { sed -n 's/^[[:space:]]*-[[:space:]]*id:[[:space:]]*//p' -- "$1" | head -n 1; }

# join_comma ITEM...: "a, b, c"
join_comma() {
    local out='' item
    for item in "$@"; do out+="${out:+, }$item"; done
    printf '%s' "$out"
}

# write_knot_conf NAME ADDR ZDIR KIND
#   knot            loads every zone file of ZDIR (a static copy: no updates, no transfers)
#   knot-primary    the same, plus: accepts TSIG-signed updates (keys in tsig/NAME/), keeps
#                   a journal, serves AXFR/IXFR to its knot-secondary instances and NOTIFYs
#                   them; interprets its catalog zones, loading each member from the file
#                   NAME/members/<zone>.zone (written by the provisioning before it adds
#                   the member) and writing later updates back to it
#   knot-secondary  transfers every zone of ZDIR, and the catalogs' members, from the
#                   knot-primary of ZDIR (AXFR/IXFR on NOTIFY)
write_knot_conf() {
    local name=$1 addr=$2 zdir=$3 kind=${4:-knot} d=$RUN/$1 z level=info file='%s.zone'
    local storage=$RUN/zones/$zdir journal=none p='' s k role=''
    local ids=() secs=() secnames=() acl=() keyfiles=()
    if [[ $zdir == - ]]; then storage=$d; fi
    if [[ $zdir == bench ]]; then
        level=warning      # not 2 x N "loaded" lines
        file=member.zone   # one file shared by every bench zone
    fi
    mkdir -p -- "$d/db"
    case $kind in
    knot-primary)
        journal=changes
        mapfile -t secs < <(secondaries_of "$zdir")
        for s in "${secs[@]}"; do secnames+=("${I_NAME[s]}"); done
        mapfile -t keyfiles < <(keys_of "$name")
        for k in "${keyfiles[@]}"; do ids+=("$(key_id "$k")"); done
        for s in "${secnames[@]}"; do acl+=("xfr-$s"); done
        if ((${#ids[@]} > 0)); then acl+=(update); fi
        if ((${#secnames[@]} > 0)); then role+="    notify: [$(join_comma "${secnames[@]}")]"$'\n'; fi
        if ((${#acl[@]} > 0)); then role+="    acl: [$(join_comma "${acl[@]}")]"$'\n'; fi
        mkdir -p -- "$d/members"
        ;;
    knot-secondary)
        journal=changes
        storage=$d/zones   # its own copies, transferred from the primary
        p=$(primary_of "$zdir") || die "instances.txt: $name: no knot-primary serves zones/$zdir"
        role+="    master: ${I_NAME[p]}"$'\n'"    acl: [notify-${I_NAME[p]}]"$'\n'
        mkdir -p -- "$d/zones" "$d/members"
        ;;
    esac
    {
        cat <<EOF
# generated by lab/lab.sh: instance $name ($addr, $kind), zones from ${zdir}
server:
    identity: "$name"
    nsid: "$name"
    rundir: "$d"
    listen: $addr@53
    udp-workers: 2
    tcp-workers: 2
    background-workers: 1

log:
  - target: "$d/knot.log"
    any: $level

database:
    storage: "$d/db"

control:
    listen: "$d/knot.sock"
EOF
        case $kind in
        knot-primary)
            if ((${#keyfiles[@]} > 0)); then
                printf '\n'
                grep -hv '^[[:space:]]*#' -- "${keyfiles[@]}"
            fi
            if ((${#secs[@]} > 0)); then
                printf '\nremote:\n'
                for s in "${secs[@]}"; do
                    printf '  - id: %s\n    address: %s@53\n    via: %s\n' "${I_NAME[s]}" "${I_ADDR[s]}" "$addr"
                done
            fi
            if ((${#acl[@]} > 0)); then
                printf '\nacl:\n'
                for s in "${secnames[@]}"; do
                    printf '  - id: xfr-%s\n    remote: %s\n    action: transfer\n' "$s" "$s"
                done
                if ((${#ids[@]} > 0)); then
                    printf '  - id: update\n    key: [%s]\n    action: update\n' "$(join_comma "${ids[@]}")"
                fi
            fi
            ;;
        knot-secondary)
            printf '\nremote:\n  - id: %s\n    address: %s@53\n    via: %s\n' "${I_NAME[p]}" "${I_ADDR[p]}" "$addr"
            printf '\nacl:\n  - id: notify-%s\n    remote: %s\n    action: notify\n' "${I_NAME[p]}" "${I_NAME[p]}"
            ;;
        esac
        cat <<EOF

template:
  - id: default
    storage: "$storage"
    file: "$file"
    zonefile-sync: -1
    zonefile-load: whole
    journal-content: $journal
EOF
        case $kind in
        knot-primary)
            printf '  - id: member\n    storage: "%s"\n    file: "%%s.zone"\n' "$d/members"
            printf '    zonefile-sync: 0\n    zonefile-load: whole\n    journal-content: changes\n%s' "$role"
            ;;
        knot-secondary)
            printf '  - id: member\n    storage: "%s"\n    file: "%%s.zone"\n' "$d/members"
            printf '    zonefile-sync: -1\n    journal-content: changes\n%s' "$role"
            ;;
        esac
        if [[ $zdir != - ]]; then
            printf '\nzone:\n'
            if [[ $zdir == bench ]]; then
                printf '  - domain: "bench.it."\n    file: "bench.it.zone"\n'
                cat -- "$RUN/zones/bench/zones.conf"
            else
                while read -r z; do
                    printf '  - domain: "%s"\n' "$z"
                    if [[ $z == . ]]; then printf '    file: "root.zone"\n'; fi
                    printf '%s' "$role"
                    if [[ $kind != knot ]] && is_catalog "$z"; then
                        printf '    catalog-role: interpret\n    catalog-template: member\n'
                    fi
                done < <(zones_of "$zdir")
            fi
        fi
    } >"$d/knot.conf"
}

write_unbound_conf() {
    local name=$1 addr=$2 d=$RUN/$1
    mkdir -p -- "$d"
    cat >"$d/unbound.conf" <<EOF
# generated by lab/lab.sh: the lab's recursive resolver
server:
    verbosity: 1
    use-syslog: no
    logfile: "$d/unbound.log"
    log-time-ascii: yes
    directory: "$d"
    chroot: ""
    username: ""
    pidfile: "$d/pid"
    do-daemonize: yes

    interface: $addr
    port: 53
    outgoing-interface: $addr
    do-ip4: yes
    do-ip6: no
    do-udp: yes
    do-tcp: yes
    access-control: 127.0.0.0/8 allow
    do-not-query-localhost: no
    root-hints: "$RUN/root.hints"
    module-config: "iterator"

    cache-max-ttl: 30
    cache-max-negative-ttl: 5
    prefetch: no
    # a server that never answers (dead.cliente.it) gives SERVFAIL within seconds,
    # not after unbound's default 120 s backoff
    infra-cache-max-rtt: 2000
    infra-host-ttl: 60
    # Debian's unbound 1.17.1 carries the backported DNSBomb mitigations: the default
    # discard-timeout (1900 ms) drops the late SERVFAIL for such a query, so the client
    # only ever sees a timeout; wait-limit (1000) would throttle a benchmark client
    discard-timeout: 0
    wait-limit: 0
    minimal-responses: yes
    hide-identity: yes
    hide-version: yes
    edns-buffer-size: 1232

    num-threads: 2
    so-reuseport: yes
    so-rcvbuf: 4m
    so-sndbuf: 4m
    outgoing-range: 4096
    num-queries-per-thread: 4096
    msg-cache-size: 256m
    rrset-cache-size: 256m
    msg-cache-slabs: 2
    rrset-cache-slabs: 2
    infra-cache-slabs: 2
    key-cache-slabs: 2

remote-control:
    control-enable: no
EOF
}

write_blackhole() {
    local d=$RUN/$1
    mkdir -p -- "$d"
    cat >"$d/blackhole.pl" <<'EOF'
# generated by lab/lab.sh: binds ADDR:53 (UDP and TCP) and never answers, so that
# queries time out (with nothing bound, UDP would get an ICMP port unreachable).
use strict;
use warnings;
use IO::Socket::INET;
my ($addr, $pidfile) = @ARGV;
my $udp = IO::Socket::INET->new(LocalAddr => $addr, LocalPort => 53, Proto => 'udp',
    ReuseAddr => 1) or die "blackhole: cannot bind udp $addr:53: $!\n";
my $tcp = IO::Socket::INET->new(LocalAddr => $addr, LocalPort => 53, Proto => 'tcp',
    Listen => 1024, ReuseAddr => 1) or die "blackhole: cannot bind tcp $addr:53: $!\n";
open(my $fh, '>', "$pidfile.tmp") or die "blackhole: $pidfile.tmp: $!\n";
print $fh "$$\n";
close($fh);
rename("$pidfile.tmp", $pidfile) or die "blackhole: $pidfile: $!\n";
print STDERR "blackhole: listening on $addr:53 (udp, tcp), pid $$\n";
# drop every UDP query; TCP connections are never accepted (the kernel completes
# the handshake, the query is never read)
my $buf;
while (1) { $udp->recv($buf, 65535); }
EOF
}

# generate BENCH: the whole run dir content (zones, configs, root hints)
generate() {
    local bench=$1 i
    rm -rf -- "$RUN/zones" "$RUN/root.hints" "$RUN/bench-names.txt" "$RUN/bench-queries.txt"
    for i in "${!I_NAME[@]}"; do rm -rf -- "${RUN:?}/${I_NAME[i]}"; done
    rm -rf -- "$RUN/bench1" "$RUN/bench2"
    mkdir -p -- "$RUN/zones"
    cp -R -- "$FIXTURES/zones/." "$RUN/zones/"

    cat >"$RUN/root.hints" <<'EOF'
; pecwatch lab root hints (the lab's private root)
.                        3600000  NS  a.root.lab.
a.root.lab.              3600000  A   127.53.0.1
EOF

    if ((bench > 0)); then
        mkdir -p -- "$RUN/zones/bench"
        cp -- "$FIXTURES/bench/bench.it.zone" "$FIXTURES/bench/member.zone" "$RUN/zones/bench/"
        awk -v n="$bench" -v tld="$RUN/zones/tld/it.zone" -v zones="$RUN/zones/bench/zones.conf" \
            -v names="$RUN/bench-names.txt" -v queries="$RUN/bench-queries.txt" 'BEGIN {
            printf "\n; ---- bench: lab.sh up --bench %d ----\n", n >> tld
            print "bench.it.           NS    ns1.bench.it." >> tld
            print "bench.it.           NS    ns2.bench.it." >> tld
            print "ns1.bench.it.       A     127.53.3.1" >> tld
            print "ns2.bench.it.       A     127.53.3.2" >> tld
            for (i = 1; i <= n; i++) {
                z = sprintf("bench%06d.it", i)
                printf "  - domain: \"%s.\"\n", z > zones
                printf "%s. NS ns1.bench.it.\n%s. NS ns2.bench.it.\n", z, z >> tld
                for (j = 1; j <= 5; j++) {
                    printf "pec%d.%s\n", j, z > names
                    printf "pec%d.%s MX\n", j, z > queries
                }
            }
        }'
    fi

    for i in "${!I_NAME[@]}"; do
        case ${I_KIND[i]} in
        knot | knot-primary | knot-secondary)
            write_knot_conf "${I_NAME[i]}" "${I_ADDR[i]}" "${I_ZDIR[i]}" "${I_KIND[i]}"
            ;;
        unbound) write_unbound_conf "${I_NAME[i]}" "${I_ADDR[i]}" ;;
        blackhole) write_blackhole "${I_NAME[i]}" ;;
        esac
    done
}

# ---------------------------------------------------------------- start and probes

start_instance() {
    local i=$1 name=${I_NAME[$1]} d=$RUN/${I_NAME[$1]} rc=0
    case ${I_KIND[i]} in
    knot | knot-primary | knot-secondary)
        # not "knotd -d": that returns only after the initial load (slow with many
        # zones) and would serialise the starts; the lab writes the pid file itself
        setsid knotd -c "$d/knot.conf" </dev/null >>"$d/knotd.out" 2>&1 9>&- &
        echo "$!" >"$d/pid"
        ;;
    unbound)
        unbound -c "$d/unbound.conf" </dev/null >>"$d/unbound.out" 2>&1 9>&- || rc=$?
        ;;
    blackhole)
        setsid perl "$d/blackhole.pl" "${I_ADDR[i]}" "$d/pid" </dev/null >>"$d/blackhole.log" 2>&1 9>&- &
        ;;
    esac
    if ((rc != 0)); then
        log "$name: ${I_KIND[i]} exited with status $rc"
        log_tail "$name"
        return 1
    fi
    # unbound daemonizes, the blackhole binds: wait for the pid file
    local deadline=$((SECONDS + 10))
    until instance_pid "$name" >/dev/null; do
        if ((SECONDS >= deadline)); then
            log "$name (${I_ADDR[i]}) did not start"
            log_tail "$name"
            return 1
        fi
        sleep 0.05
    done
}

# probe ADDR EXPECT ZONE...: every "ZONE SOA" (recursion off) answers EXPECT
# (with AA for NOERROR)
probe() {
    local addr=$1 expect=$2 z out n
    shift 2
    local args=()
    for z in "$@"; do args+=("$z" SOA); done
    n=$#
    out=$(kdig +norec +timeout=1 +retry=0 "@$addr" "${args[@]}" 2>&1) || true
    [[ $(grep -c -- "status: $expect;" <<<"$out") -eq $n ]] || return 1
    if [[ $expect == NOERROR ]]; then
        [[ $(grep -c -- '^;; Flags: qr aa' <<<"$out") -eq $n ]] || return 1
    fi
}

# ready I [quick]: instance I is running and answers as expected
ready() {
    local i=$1 quick=${2:-} name=${I_NAME[$1]} addr=${I_ADDR[$1]} zones out
    instance_pid "$name" >/dev/null || return 1
    case ${I_KIND[i]} in
    knot | knot-primary | knot-secondary)
        mapfile -t zones < <(served_zones "${I_ZDIR[i]}")
        ((${#zones[@]} > 0)) || zones=(lame.it.)
        probe "$addr" "${I_EXPECT[i]}" "${zones[@]}" || return 1
        if [[ ${I_ZDIR[i]} == bench && -z $quick ]]; then
            # every bench zone loaded (serial "-" = not loaded yet)
            out=$(knotc -t 60 -s "$RUN/$name/knot.sock" zone-status 2>&1) || return 1
            ! grep -q -- 'serial: -' <<<"$out" || return 1
        fi
        ;;
    unbound)
        out=$(kdig +timeout=2 +retry=0 "@$addr" ns1.cliente.it. A 2>&1) || return 1
        grep -q -- 'status: NOERROR;' <<<"$out" || return 1
        grep -q -- '127\.53\.1\.1' <<<"$out" || return 1
        ;;
    blackhole) ;;
    esac
}

# wait_ready DEADLINE_SECONDS I...: wait until all the instances are ready
wait_ready() {
    local timeout=$1 deadline i pending=()
    shift
    deadline=$((SECONDS + timeout))
    pending=("$@")
    while ((${#pending[@]} > 0)); do
        local still=() bench_pending=0
        for i in "${pending[@]}"; do
            if ! instance_pid "${I_NAME[i]}" >/dev/null; then
                log "${I_NAME[i]} (${I_ADDR[i]}) is not running"
                log_tail "${I_NAME[i]}"
                return 1
            fi
            if ! ready "$i"; then
                still+=("$i")
                if [[ ${I_ZDIR[i]} == bench ]]; then bench_pending=1; fi
            fi
        done
        pending=("${still[@]+"${still[@]}"}")
        ((${#pending[@]} > 0)) || break
        if ((SECONDS >= deadline)); then
            for i in "${pending[@]}"; do
                log "${I_NAME[i]} (${I_ADDR[i]}) did not answer as expected (${I_EXPECT[i]}) within ${timeout}s"
                probe_report "$i"
                log_tail "${I_NAME[i]}"
            done
            return 1
        fi
        if ((bench_pending)); then sleep 1; else sleep 0.2; fi
    done
}

fingerprint() {
    {
        sha256sum -- "$LAB_HOME/lab.sh"
        (cd -- "$FIXTURES" && find . -type f -print0 | sort -z | xargs -0 sha256sum --)
        echo "bench=$1"
    } | sha256sum | cut -d' ' -f1
}

state_get() { # KEY
    [[ -f $RUN/state ]] || return 1
    sed -n "s/^$1=//p" "$RUN/state"
}

# healthy BENCH: the lab is up with this configuration and every instance answers
healthy() {
    local bench=$1 i
    [[ $(state_get fingerprint 2>/dev/null) == "$(fingerprint "$bench")" ]] || return 1
    for i in "${!I_NAME[@]}"; do
        ready "$i" quick || return 1
    done
}

lock() { # shared|exclusive
    mkdir -p -- "$RUN"
    exec 9>>"$RUN/lab.lock"
    local mode=-x
    if [[ $1 == shared ]]; then mode=-s; fi
    flock "$mode" -w "$LOCK_TIMEOUT" 9 || die "could not lock $RUN/lab.lock within ${LOCK_TIMEOUT}s"
}

# ---------------------------------------------------------------- commands

cmd_up() {
    local bench=0 bench_given=0 t0=$SECONDS i knots=() primaries=() others=() foreign timeout
    while (($# > 0)); do
        case $1 in
        --bench)
            (($# >= 2)) || die "--bench needs a number"
            bench=$2 bench_given=1
            shift 2
            ;;
        --bench=*)
            bench=${1#--bench=} bench_given=1
            shift
            ;;
        *) usage; exit 2 ;;
        esac
    done
    if ! [[ $bench =~ ^[0-9]{1,6}$ ]]; then die "--bench N: N must be 0..999999"; fi
    bench=$((10#$bench))
    for i in knotd knotc kdig unbound perl awk flock; do
        command -v "$i" >/dev/null || die "$i not found (apt-get install knot knot-dnsutils unbound)"
    done
    ((${#RUN} <= 90)) || die "run dir path too long for the knot control sockets: $RUN"

    lock exclusive
    if ((!bench_given)); then
        # no --bench: a lab that is up with bench zones is fine too (they only add
        # zones), so that tests do not restart a benchmark's lab
        local running
        running=$(state_get bench 2>/dev/null) || running=0
        if [[ $running =~ ^[0-9]+$ ]]; then bench=$running; fi
    fi
    load_instances "$bench"
    if healthy "$bench"; then
        log "already up ($RUN, bench $bench)"
        return 0
    fi
    if ((!bench_given)); then
        bench=0
        load_instances 0
    fi

    stop_all
    rm -f -- "$RUN/state"
    foreign=$(foreign_listeners)
    [[ -z $foreign ]] || die "lab addresses already in use by processes this lab did not start:
$foreign"

    log "generating in $RUN (bench $bench)"
    local t_gen=$EPOCHREALTIME t_srv t_res t_end
    generate "$bench"
    t_srv=$EPOCHREALTIME
    for i in "${!I_NAME[@]}"; do
        case ${I_KIND[i]} in
        unbound) others+=("$i") ;;
        knot-primary) primaries+=("$i") ;;
        *) knots+=("$i") ;;
        esac
    done
    timeout=$((START_TIMEOUT + bench / 100))
    # the primaries first, so that their secondaries' first transfers find them up
    # (a failed bootstrap is retried only after a back-off)
    for i in "${primaries[@]}"; do
        start_instance "$i" || { stop_all; die "could not start ${I_NAME[i]}"; }
    done
    wait_ready "$timeout" "${primaries[@]}" || { stop_all; die "lab did not come up"; }
    for i in "${knots[@]}"; do
        start_instance "$i" || { stop_all; die "could not start ${I_NAME[i]}"; }
    done
    wait_ready "$timeout" "${knots[@]}" || { stop_all; die "lab did not come up"; }
    t_res=$EPOCHREALTIME
    # the resolver last, so that it never caches an answer of a server still loading
    for i in "${others[@]}"; do
        start_instance "$i" || { stop_all; die "could not start ${I_NAME[i]}"; }
    done
    wait_ready "$START_TIMEOUT" "${others[@]}" || { stop_all; die "lab did not come up"; }

    printf 'bench=%s\nfingerprint=%s\nstarted=%s\n' "$bench" "$(fingerprint "$bench")" \
        "$(date -u +%Y-%m-%dT%H:%M:%SZ)" >"$RUN/state"
    t_end=$EPOCHREALTIME
    log "up in $((SECONDS - t0))s: ${#I_NAME[@]} instances, bench $bench, run dir $RUN"
    log "$(awk -v g="$t_gen" -v s="$t_srv" -v r="$t_res" -v e="$t_end" 'BEGIN {
        printf "timings: generate %.1fs, authoritative servers ready %.1fs, resolver ready %.1fs", s - g, r - s, e - r }')"
}

cmd_down() {
    [[ -d $RUN ]] || { log "down (no run dir)"; return 0; }
    lock exclusive
    stop_all
    rm -f -- "$RUN/state"
    log "down"
}

cmd_status() {
    local bench i pid st rc=0
    if [[ ! -d $RUN ]]; then
        echo "lab: down ($RUN does not exist)"
        return 1
    fi
    lock shared
    bench=$(state_get bench 2>/dev/null) || bench=0
    [[ $bench =~ ^[0-9]+$ ]] || bench=0
    load_instances "$bench"
    if [[ -f $RUN/state ]]; then
        echo "lab: run dir $RUN, bench $bench, started $(state_get started)"
    else
        echo "lab: down (run dir $RUN)"
        rc=1
    fi
    printf '%-10s %-13s %-10s %-8s %s\n' NAME ADDRESS KIND PID STATE
    for i in "${!I_NAME[@]}"; do
        pid=$(instance_pid "${I_NAME[i]}") || pid=-
        if [[ $pid == - ]]; then
            st=stopped
            if [[ -f $RUN/state ]]; then rc=1; fi
        elif ready "$i" quick; then
            st="ok (${I_EXPECT[i]})"
        else
            st="NOT ANSWERING as expected (${I_EXPECT[i]})"
            rc=1
        fi
        printf '%-10s %-13s %-10s %-8s %s\n' "${I_NAME[i]}" "${I_ADDR[i]}" "${I_KIND[i]}" "$pid" "$st"
    done
    return "$rc"
}

cmd_env() {
    printf 'export PECWATCH_LAB_RESOLVER=%q\n' "$RESOLVER_ADDR"
    printf 'export PECWATCH_LAB_ROOT_HINTS=%q\n' "$RUN/root.hints"
    printf 'export PECWATCH_LAB_DIR=%q\n' "$RUN"
}

main() {
    (($# > 0)) || { usage; exit 2; }
    local cmd=$1
    shift
    case $cmd in
    up) cmd_up "$@" ;;
    down) cmd_down ;;
    status) cmd_status ;;
    env) cmd_env ;;
    -h | --help | help) usage ;;
    *) usage; exit 2 ;;
    esac
}

main "$@"
