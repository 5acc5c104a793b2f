# Helpers shared by bench/sweep.sh and bench/workers.sh (sourced, not run).
#
# Wall time on a shared machine is noisy, so every measurement also prints what it cost:
# the CPU time of pecwatch (user + system), the CPU time of the PostgreSQL backends that
# served it (their sessions are named by `application_name`), and the machine's load
# average when it ended.

# load: the 1-minute load average and the number of cores, e.g. "load 1.42/2".
load() {
    printf 'load %s/%s' "$(cut -d' ' -f1 /proc/loadavg)" "$(nproc)"
}

# pg_cpu_watch URL APP FILE: until killed, samples every 0.3 s the CPU time (user +
# system, in seconds) of the PostgreSQL backends whose application_name is APP, and
# keeps their sum in FILE (a backend's last sample before it ends counts). Needs to read
# /proc of the server's processes (same machine, root or the postgres user).
pg_cpu_watch() {
    local url=$1 app=$2 file=$3 pid ticks
    local -A seen=()
    ticks=$(getconf CLK_TCK)
    echo 0 >"$file"
    while :; do
        for pid in $(psql -qtA "$url" -c \
            "SELECT pid FROM pg_stat_activity WHERE application_name = '$app'" 2>/dev/null); do
            [ -r "/proc/$pid/stat" ] || continue
            # utime and stime: fields 14 and 15 (the command, field 2, has no spaces here)
            seen[$pid]=$(awk '{print $14 + $15}' "/proc/$pid/stat" 2>/dev/null || echo "${seen[$pid]:-0}")
        done
        local sum=0 v
        for v in "${seen[@]}"; do sum=$((sum + v)); done
        awk -v s="$sum" -v t="$ticks" 'BEGIN {printf "%.2f\n", s / t}' >"$file"
        sleep 0.3
    done
}

# with_app URL APP: URL with application_name=APP added.
with_app() {
    local sep='?'
    [[ $1 == *\?* ]] && sep='&'
    printf '%s%sapplication_name=%s' "$1" "$sep" "$2"
}
