#!/usr/bin/env bash
# lab/verify.sh: check that a running lab (lab/lab.sh up) serves every scenario as
# specified, through the resolver (recursive) and on each server directly (+norec).
# Prints one line per scenario; exit status 1 if any check fails.
# Only 127.53.0.0/16 is queried.
set -euo pipefail

R=127.53.0.53                       # resolver
ROOT=127.53.0.1 TLD=127.53.0.2
NS1=127.53.1.1 NS2=127.53.1.2 NS3=127.53.1.3
LAME=127.53.1.4 DEAD=127.53.1.5 SERVFAIL=127.53.1.6
DNS1=127.53.2.1 DNS2=127.53.2.2
FAILS=0

# ask SERVER NAME TYPE [kdig options]: sets RC (rcode or TIMEOUT), FLAGS, ANS (answer
# records "owner TYPE rdata" sorted, "; "-joined), AUTH (authority records, same format)
ask() {
    local server=$1 name=$2 type=$3 out
    shift 3
    out=$(kdig +noidn +timeout=2 +retry=0 "$@" "@$server" "$name" "$type" 2>&1) || true
    RC=$(sed -n 's/.*status: \([A-Z]*\);.*/\1/p' <<<"$out" | tail -n 1)
    [[ -n $RC ]] || RC=TIMEOUT
    FLAGS=$(sed -n 's/^;; Flags: \([^;]*\);.*/\1/p' <<<"$out" | tail -n 1)
    ANS=$(section ANSWER <<<"$out")
    AUTH=$(section AUTHORITY <<<"$out")
}

section() { # NAME: records of that section of the last message in kdig's output
    awk -v want=";; $1 SECTION:" '
        /^;; ->>HEADER<<-/ { n = 0; delete r }
        $0 == want { on = 1; next }
        /^;; [A-Z]+ SECTION:/ || /^$/ { on = 0 }
        on && NF >= 5 { line = $1 " " $4; for (i = 5; i <= NF; i++) line = line " " $i; r[++n] = tolower(line) }
        END { for (i = 1; i <= n; i++) print r[i] }' | sort | paste -sd ';' | sed 's/;/; /g'
}

aa() { [[ " $FLAGS " == *" aa "* ]]; }
nx_aa() { [[ $RC == NXDOMAIN ]] && aa; }
mx_count() { [[ $RC == NOERROR && $(grep -o "mx 10 mx-" <<<"$ANS" | wc -l) -eq $1 ]]; }
tc() { [[ " $FLAGS " == *" tc "* ]]; }

# begin SCENARIO; check WHAT COMMAND...; end: one output line per scenario
CUR="" CUR_OK=1 CUR_MSG=()
begin() { CUR=$1; CUR_OK=1; CUR_MSG=(); }
check() { # WHAT: evaluates the remaining args as a command; records failure
    local what=$1
    shift
    if "$@"; then CUR_MSG+=("$what"); else CUR_OK=0; CUR_MSG+=("FAILED[$what: rc=$RC flags=($FLAGS) ans=($ANS) auth=($AUTH)]"); fi
}
end() {
    local IFS=', '
    if ((CUR_OK)); then printf 'ok    %-22s %s\n' "$CUR" "${CUR_MSG[*]}"; else printf 'FAIL  %-22s %s\n' "$CUR" "${CUR_MSG[*]}"; FAILS=$((FAILS + 1)); fi
}

is() { [[ $1 == "$2" ]]; }
has() { [[ $1 == *"$2"* ]]; }

# direct SERVER NAME TYPE EXPECTED_ANS: authoritative NOERROR with exactly that answer
direct() {
    ask "$1" "$2" "$3" +norec
    [[ $RC == NOERROR ]] && aa && [[ $ANS == "$4" ]]
}
recursive() { # NAME TYPE EXPECTED_RC EXPECTED_ANS
    ask "$R" "$1" "$2" +timeout=12
    [[ $RC == "$3" && $ANS == "$4" ]]
}
nodata() { # SERVER NAME TYPE  (authoritative NOERROR, empty answer)
    ask "$1" "$2" "$3" +norec
    [[ $RC == NOERROR && -z $ANS ]] && aa
}
serial() { # SERVER ZONE SERIAL
    ask "$1" "$2" SOA +norec
    [[ $RC == NOERROR ]] && aa && [[ $(awk '{print $5}' <<<"$ANS") == "$3" ]]
}
parent_ns() { # ZONE EXPECTED_AUTH: the it. referral
    ask "$TLD" "$1" NS +norec
    [[ $RC == NOERROR ]] && ! aa && [[ $AUTH == "$2" ]]
}
zone_ns() { # SERVER ZONE EXPECTED_ANS
    direct "$1" "$2" NS "$3"
}

mx_ok() { printf 'pec.%s mx 10 mx.pec.aruba.it.' "$1"; }
NS12() { echo "$1 ns ns1.cliente.it.; $1 ns ns2.cliente.it."; }

# ------------------------------------------------------------------ infrastructure
begin "root/priming"
check "root . NS a.root.lab" direct "$ROOT" . NS ". ns a.root.lab."
check "a.root.lab A 127.53.0.1" direct "$ROOT" a.root.lab. A "a.root.lab. a 127.53.0.1"
check "it. NS via root" recursive it. NS NOERROR "it. ns a.nic.it."
check "mx.pec.aruba.it A" recursive mx.pec.aruba.it. A NOERROR "mx.pec.aruba.it. a 127.53.25.1"
check "no AAAA" recursive mx.pec.aruba.it. AAAA NOERROR ""
check "dns1 aa" direct "$DNS1" mx.pec.aruba.it. A "mx.pec.aruba.it. a 127.53.25.1"
check "dns2 aa" direct "$DNS2" mx.pec.aruba.it. A "mx.pec.aruba.it. a 127.53.25.1"
check "mx.cert.legalmail.it A" recursive mx.cert.legalmail.it. A NOERROR "mx.cert.legalmail.it. a 127.53.25.2"
check "lab. not delegated (empty non-terminal)" recursive lab. NS NOERROR ""
end

# ------------------------------------------------------------------ scenarios
begin pec.ok.it
check R recursive pec.ok.it. MX NOERROR "$(mx_ok ok.it.)"
check ns1 direct "$NS1" pec.ok.it. MX "$(mx_ok ok.it.)"
check ns2 direct "$NS2" pec.ok.it. MX "$(mx_ok ok.it.)"
check "parent ns1+ns2" parent_ns ok.it. "$(NS12 ok.it.)"
end

begin pec.own.it
check R recursive pec.own.it. MX NOERROR "$(mx_ok own.it.)"
check "own zone" recursive pec.own.it. SOA NOERROR "pec.own.it. soa ns1.cliente.it. hostmaster.cliente.it. 1 3600 600 86400 5"
check "own.it delegates" direct "$NS1" pec.own.it. NS "$(NS12 pec.own.it.)"
check ns1 direct "$NS1" pec.own.it. MX "$(mx_ok own.it.)"
check ns2 direct "$NS2" pec.own.it. MX "$(mx_ok own.it.)"
end

begin "pec.story.it (as loaded; the sweep tests change it at run time)"
check ns1 direct "$NS1" pec.story.it. MX "$(mx_ok story.it.)"
check ns2 direct "$NS2" pec.story.it. MX "$(mx_ok story.it.)"
check "parent ns1+ns2" parent_ns story.it. "$(NS12 story.it.)"
end

begin "*.many.it / *.manybad.it (wildcards)"
check "any.many.it MX" recursive d42.many.it. MX NOERROR "d42.many.it. mx 10 mx.pec.aruba.it."
check "ns2 direct" direct "$NS2" d7.many.it. MX "d7.many.it. mx 10 mx.pec.aruba.it."
check "any.manybad.it no MX" recursive d42.manybad.it. MX NOERROR ""
check "parent ns1+ns2" parent_ns manybad.it. "$(NS12 manybad.it.)"
end

begin pec.delegato.it
check R recursive pec.delegato.it. MX NOERROR "$(mx_ok delegato.it.)"
check dns1 direct "$DNS1" pec.delegato.it. MX "$(mx_ok delegato.it.)"
check dns2 direct "$DNS2" pec.delegato.it. MX "$(mx_ok delegato.it.)"
ask "$NS1" pec.delegato.it. MX +norec
check "ns1 refers to dns1/dns2.aruba.it" is "$AUTH" "pec.delegato.it. ns dns1.aruba.it.; pec.delegato.it. ns dns2.aruba.it."
end

begin cert.infook.it
check R recursive cert.infook.it. MX NOERROR "cert.infook.it. mx 10 mx.cert.legalmail.it."
check ns1 direct "$NS1" cert.infook.it. MX "cert.infook.it. mx 10 mx.cert.legalmail.it."
check ns2 direct "$NS2" cert.infook.it. MX "cert.infook.it. mx 10 mx.cert.legalmail.it."
end

begin pec.nomx.it
check "R NODATA" recursive pec.nomx.it. MX NOERROR ""
check "TXT exists" recursive pec.nomx.it. TXT NOERROR 'pec.nomx.it. txt "no mx here"'
check "ns1 NODATA" nodata "$NS1" pec.nomx.it. MX
check "ns2 NODATA" nodata "$NS2" pec.nomx.it. MX
end

begin pec.nullmx.it
check "R MX 0 ." recursive pec.nullmx.it. MX NOERROR "pec.nullmx.it. mx 0 ."
check ns1 direct "$NS1" pec.nullmx.it. MX "pec.nullmx.it. mx 0 ."
check ns2 direct "$NS2" pec.nullmx.it. MX "pec.nullmx.it. mx 0 ."
end

begin pec.noa.it
check R recursive pec.noa.it. MX NOERROR "pec.noa.it. mx 10 mail.noa.it."
check "mail.noa.it NXDOMAIN" recursive mail.noa.it. A NXDOMAIN ""
ask "$NS1" mail.noa.it. A +norec
check "ns1 NXDOMAIN aa" nx_aa
end

begin pec.onlyaaaa.it
check R recursive pec.onlyaaaa.it. MX NOERROR "pec.onlyaaaa.it. mx 10 mail.onlyaaaa.it."
check "A NODATA" recursive mail.onlyaaaa.it. A NOERROR ""
check "AAAA 2001:db8::25" recursive mail.onlyaaaa.it. AAAA NOERROR "mail.onlyaaaa.it. aaaa 2001:db8::25"
check "ns1 A NODATA" nodata "$NS1" mail.onlyaaaa.it. A
end

begin pec.iplit.it
check "R MX 10 192.0.2.25." recursive pec.iplit.it. MX NOERROR "pec.iplit.it. mx 10 192.0.2.25."
check "192.0.2.25. NXDOMAIN (lab root)" recursive 192.0.2.25. A NXDOMAIN ""
check ns1 direct "$NS1" pec.iplit.it. MX "pec.iplit.it. mx 10 192.0.2.25."
end

begin pec.wronga.it
check R recursive pec.wronga.it. MX NOERROR "pec.wronga.it. mx 10 mail.wronga.it."
check "A 127.53.99.9" recursive mail.wronga.it. A NOERROR "mail.wronga.it. a 127.53.99.9"
check ns2 direct "$NS2" mail.wronga.it. A "mail.wronga.it. a 127.53.99.9"
end

begin pec.hybrid.it
check "R 2 MX" recursive pec.hybrid.it. MX NOERROR "pec.hybrid.it. mx 10 mx.pec.aruba.it.; pec.hybrid.it. mx 20 mail.hybrid.it."
check "mail A 127.53.99.10" recursive mail.hybrid.it. A NOERROR "mail.hybrid.it. a 127.53.99.10"
check ns1 direct "$NS1" pec.hybrid.it. MX "pec.hybrid.it. mx 10 mx.pec.aruba.it.; pec.hybrid.it. mx 20 mail.hybrid.it."
end

begin pec.multi.it
check R recursive pec.multi.it. MX NOERROR "pec.multi.it. mx 10 mx.multi.it."
check "2 A" recursive mx.multi.it. A NOERROR "mx.multi.it. a 127.53.25.1; mx.multi.it. a 127.53.99.11"
check ns2 direct "$NS2" mx.multi.it. A "mx.multi.it. a 127.53.25.1; mx.multi.it. a 127.53.99.11"
end

begin pec.cname.it
check R recursive pec.cname.it. MX NOERROR "pec.cname.it. mx 10 alias.cname.it."
check "alias CNAME -> A" recursive alias.cname.it. A NOERROR "alias.cname.it. cname mx.pec.aruba.it.; mx.pec.aruba.it. a 127.53.25.1"
check "ns1 CNAME" direct "$NS1" alias.cname.it. CNAME "alias.cname.it. cname mx.pec.aruba.it."
end

begin pec.aaaa.it
check R recursive pec.aaaa.it. MX NOERROR "pec.aaaa.it. mx 10 mail.aaaa.it."
check "A 127.53.25.1" recursive mail.aaaa.it. A NOERROR "mail.aaaa.it. a 127.53.25.1"
check "AAAA 2001:db8::1" recursive mail.aaaa.it. AAAA NOERROR "mail.aaaa.it. aaaa 2001:db8::1"
end

begin pec.prio.it
check "R MX 20" recursive pec.prio.it. MX NOERROR "pec.prio.it. mx 20 mx.pec.aruba.it."
check ns1 direct "$NS1" pec.prio.it. MX "pec.prio.it. mx 20 mx.pec.aruba.it."
end

begin pec.single.it
check R recursive pec.single.it. MX NOERROR "$(mx_ok single.it.)"
check "parent NS ns1 only" parent_ns single.it. "single.it. ns ns1.cliente.it."
check "zone NS ns1 only" zone_ns "$NS1" single.it. "single.it. ns ns1.cliente.it."
end

begin pec.incoerente.it
check R recursive pec.incoerente.it. MX NOERROR "$(mx_ok incoerente.it.)"
check "parent NS ns1+ns2" parent_ns incoerente.it. "$(NS12 incoerente.it.)"
check "zone NS ns1 only (ns1)" zone_ns "$NS1" incoerente.it. "incoerente.it. ns ns1.cliente.it."
check "zone NS ns1 only (ns2)" zone_ns "$NS2" incoerente.it. "incoerente.it. ns ns1.cliente.it."
check "ns2 serves MX" direct "$NS2" pec.incoerente.it. MX "$(mx_ok incoerente.it.)"
end

NS123() { echo "$1 ns ns1.cliente.it.; $1 ns ns2.cliente.it.; $1 ns ns3.cliente.it."; }
begin pec.serial.it
check "parent NS ns1+ns2+ns3" parent_ns serial.it. "$(NS123 serial.it.)"
check "ns1 serial 2" serial "$NS1" serial.it. 2
check "ns2 serial 2" serial "$NS2" serial.it. 2
check "ns3 serial 1" serial "$NS3" serial.it. 1
check "ns1 MX" direct "$NS1" pec.serial.it. MX "$(mx_ok serial.it.)"
check "ns3 MX" direct "$NS3" pec.serial.it. MX "$(mx_ok serial.it.)"
check "ns3 NS" zone_ns "$NS3" serial.it. "$(NS123 serial.it.)"
end

begin pec.stale.it
check "parent NS ns1+ns2+ns3" parent_ns stale.it. "$(NS123 stale.it.)"
check "ns1 serial 2" serial "$NS1" stale.it. 2
check "ns3 serial 1" serial "$NS3" stale.it. 1
check "ns1 MX" direct "$NS1" pec.stale.it. MX "$(mx_ok stale.it.)"
check "ns2 MX" direct "$NS2" pec.stale.it. MX "$(mx_ok stale.it.)"
check "ns3 MX NODATA" nodata "$NS3" pec.stale.it. MX
check "ns3 TXT" direct "$NS3" pec.stale.it. TXT 'pec.stale.it. txt "mx not yet propagated"'
end

begin pec.lame.it
check "parent NS ns1+lame" parent_ns lame.it. "lame.it. ns lame.cliente.it.; lame.it. ns ns1.cliente.it."
check ns1 direct "$NS1" pec.lame.it. MX "$(mx_ok lame.it.)"
ask "$LAME" pec.lame.it. MX +norec
check "lame REFUSED" is "$RC" REFUSED
ask "$LAME" pec.lame.it. MX +norec +tcp
check "lame REFUSED (tcp)" is "$RC" REFUSED
check R recursive pec.lame.it. MX NOERROR "$(mx_ok lame.it.)"
end

begin pec.dead.it
check "parent NS ns1+dead" parent_ns dead.it. "dead.it. ns dead.cliente.it.; dead.it. ns ns1.cliente.it."
check ns1 direct "$NS1" pec.dead.it. MX "$(mx_ok dead.it.)"
ask "$DEAD" pec.dead.it. MX +norec
check "dead timeout (udp)" is "$RC" TIMEOUT
ask "$DEAD" pec.dead.it. MX +norec +tcp
check "dead timeout (tcp)" is "$RC" TIMEOUT
check R recursive pec.dead.it. MX NOERROR "$(mx_ok dead.it.)"
end

begin pec.alldead.it
check "parent NS dead only" parent_ns alldead.it. "alldead.it. ns dead.cliente.it."
ask "$DEAD" pec.alldead.it. MX +norec
check "dead timeout" is "$RC" TIMEOUT
check "R SERVFAIL" recursive pec.alldead.it. MX SERVFAIL ""
end

begin pec.servfail.it
check "parent NS servfail only" parent_ns servfail.it. "servfail.it. ns servfail.cliente.it."
ask "$SERVFAIL" pec.servfail.it. MX +norec
check "direct SERVFAIL" is "$RC" SERVFAIL
ask "$SERVFAIL" servfail.it. SOA +norec +tcp
check "direct SERVFAIL (tcp, SOA)" is "$RC" SERVFAIL
check "R SERVFAIL" recursive pec.servfail.it. MX SERVFAIL ""
end

begin pec.nxparent.it
check "R NXDOMAIN" recursive pec.nxparent.it. MX NXDOMAIN ""
ask "$TLD" pec.nxparent.it. MX +norec
check "it. NXDOMAIN aa" nx_aa
ask "$NS1" nxparent.it. SOA +norec
check "ns1 REFUSED" is "$RC" REFUSED
end

begin pec.nodeleg.it
check "R NXDOMAIN" recursive pec.nodeleg.it. MX NXDOMAIN ""
ask "$TLD" nodeleg.it. NS +norec
check "it. NXDOMAIN aa" nx_aa
check "ns1 has it" direct "$NS1" pec.nodeleg.it. MX "$(mx_ok nodeleg.it.)"
check "ns2 has it" direct "$NS2" pec.nodeleg.it. MX "$(mx_ok nodeleg.it.)"
end

begin pec.nxname.it
check "R NXDOMAIN" recursive pec.nxname.it. MX NXDOMAIN ""
ask "$NS1" pec.nxname.it. MX +norec
check "ns1 NXDOMAIN aa" nx_aa
ask "$NS2" pec.nxname.it. MX +norec
check "ns2 NXDOMAIN aa" nx_aa
check "zone exists" recursive nxname.it. SOA NOERROR "nxname.it. soa ns1.cliente.it. hostmaster.cliente.it. 1 3600 600 86400 5"
end

begin pec.upper.it
check R recursive pec.upper.it. MX NOERROR "$(mx_ok upper.it.)"
check ns1 direct "$NS1" pec.upper.it. MX "$(mx_ok upper.it.)"
check "ns1 (upper-case query)" direct "$NS1" PEC.UPPER.IT. MX "$(mx_ok upper.it.)"
end

begin "pec.caffè.it"
check "R pec.xn--caff-8oa.it" recursive pec.xn--caff-8oa.it. MX NOERROR "$(mx_ok xn--caff-8oa.it.)"
check ns1 direct "$NS1" pec.xn--caff-8oa.it. MX "$(mx_ok xn--caff-8oa.it.)"
out=$(kdig +timeout=2 "@$R" pec.caffè.it MX 2>&1 || true)
check "kdig IDN input" has "$out" "status: NOERROR"
end

begin pec.bigmx.it
ask "$NS1" pec.bigmx.it. MX +norec +bufsize=1232 +ignore
check "ns1 UDP 1232: TC" tc
ask "$NS1" pec.bigmx.it. MX +norec +tcp
check "ns1 TCP: 60 MX" mx_count 60
check "ns1 TCP: aa" aa
ask "$NS2" pec.bigmx.it. MX +norec +bufsize=1232 +ignore
check "ns2 UDP 1232: TC" tc
ask "$R" pec.bigmx.it. MX +timeout=5
check "R: 60 MX" mx_count 60
check "target A" recursive mx-60-long-label-padding-padding.bigmx.it. A NOERROR "mx-60-long-label-padding-padding.bigmx.it. a 127.53.25.1"
end

# ------------------------------------------------------- the provider's primary and catalog
DYN=127.53.1.7
FIX=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd)/tests/fixtures/lab
keyarg() { # FILE: the -y argument of a Knot key file
    local id alg secret
    id=$(sed -n 's/^[[:space:]]*-[[:space:]]*id:[[:space:]]*//p' "$1")
    alg=$(sed -n 's/^[[:space:]]*algorithm:[[:space:]]*//p' "$1")
    secret=$(sed -n 's/^[[:space:]]*secret:[[:space:]]*//p' "$1")
    printf '%s:%s:%s' "$alg" "$id" "$secret"
}
LABKEY=$(keyarg "$FIX/tsig/dns1/pecwatch-lab-test-only.key")
nsupdate_rc() { # SERVER ZONE [knsupdate options]: the status of an UPDATE deleting a TXT
    local server=$1 zone=$2 out
    shift 2
    out=$(printf 'server %s\nzone %s\nupdate delete verify-lab.%s TXT\nsend\nanswer\n' \
        "$server" "$zone" "$zone" | knsupdate -t 2 -r 0 "$@" 2>&1) || true
    sed -n 's/.*status: \([A-Z]*\);.*/\1/p' <<<"$out" | tail -n 1
}
same_serial() { # ZONE: dns1 and dns2 report the same serial
    ask "$DNS1" "$1" SOA +norec
    local a=$ANS
    ask "$DNS2" "$1" SOA +norec
    [[ -n $a && $a == "$ANS" ]]
}

begin "dns1 primary, dns2 secondary"
check "dns1 ospitato.it" direct "$DNS1" www.ospitato.it. A "www.ospitato.it. a 127.53.99.20"
check "dns2 ospitato.it" direct "$DNS2" www.ospitato.it. A "www.ospitato.it. a 127.53.99.20"
check "same serial aruba.it" same_serial aruba.it.
check "same serial ospitato.it" same_serial ospitato.it.
ask "$DNS1" catalog.aruba.invalid. SOA +norec
check "catalog not served to queries" is "$RC" REFUSED
out=$(kdig +timeout=2 +retry=0 +norec -y "$LABKEY" "@$DNS1" aruba.it. SOA 2>&1 || true)
check "signed query, signed answer" eval '[[ $out == *"status: NOERROR"* && $out != *WARNING* ]]'
check "unsigned UPDATE: NOTAUTH" is "$(nsupdate_rc "$DNS1" aruba.it.)" NOTAUTH
check "UPDATE with the lab key" is "$(nsupdate_rc "$DNS1" aruba.it. -y "$LABKEY")" NOERROR
check "wrong secret: BADSIG" is "$(nsupdate_rc "$DNS1" aruba.it. -y "hmac-sha256:pecwatch-lab-test-only:toM9pC8eVI/ssiDOXCxJfGrenK8OSzuMcDJrIAiR1kA=")" BADSIG
check "catalog interpreted on dns2" eval '[[ $(knotc -s "${PECWATCH_LAB_DIR:-$FIX/../../../lab/run}/dns2/knot.sock" zone-status catalog.aruba.invalid. 2>&1) == *"catalog: interpret"* ]]'
end

begin "activation scenarios"
check "pec.nuovo.it NXDOMAIN" recursive pec.nuovo.it. MX NXDOMAIN ""
check "nuovo.it exists" direct "$NS1" www.nuovo.it. A "www.nuovo.it. a 127.53.99.22"
check "pec.propria.it own zone" recursive pec.propria.it. SOA NOERROR "pec.propria.it. soa ns1.cliente.it. hostmaster.cliente.it. 1 3600 600 86400 5"
check "pec.propria.it no MX" nodata "$NS2" pec.propria.it. MX
ask "$NS1" pec.attesa.it. MX +norec
check "attesa.it delegates to dns1/dns2" is "$AUTH" "pec.attesa.it. ns dns1.aruba.it.; pec.attesa.it. ns dns2.aruba.it."
ask "$DNS1" pec.attesa.it. SOA +norec
check "dns1 does not serve pec.attesa.it" is "$RC" REFUSED
check "pec.conflitto.it CNAME" direct "$NS1" pec.conflitto.it. CNAME "pec.conflitto.it. cname www.conflitto.it."
check "ospitato.it on the provider" parent_ns ospitato.it. "ospitato.it. ns dns1.aruba.it.; ospitato.it. ns dns2.aruba.it."
check "delega.it on dyn" direct "$DYN" www.delega.it. A "www.delega.it. a 127.53.99.21"
check "R www.delega.it" recursive www.delega.it. A NOERROR "www.delega.it. a 127.53.99.21"
check "UPDATE delega.it, customer key" is "$(nsupdate_rc "$DYN" delega.it. -y "$(keyarg "$FIX/tsig/dyn/cliente-lab-test-only.key")")" NOERROR
end

if [[ -n ${PECWATCH_LAB_DIR:-} && -s $PECWATCH_LAB_DIR/bench-names.txt ]]; then
    begin bench
    first=$(head -n 1 "$PECWATCH_LAB_DIR/bench-names.txt")
    last=$(tail -n 1 "$PECWATCH_LAB_DIR/bench-names.txt")
    check "R $first" recursive "$first." MX NOERROR "$first. mx 10 mx.pec.aruba.it."
    check "R $last" recursive "$last." MX NOERROR "$last. mx 10 mx.pec.aruba.it."
    check "bench1 $last" direct 127.53.3.1 "$last." MX "$last. mx 10 mx.pec.aruba.it."
    check "bench2 $first" direct 127.53.3.2 "$first." MX "$first. mx 10 mx.pec.aruba.it."
    end
fi

if ((FAILS > 0)); then
    echo "verify: $FAILS scenario(s) FAILED" >&2
    exit 1
fi
echo "verify: all scenarios as specified" >&2
