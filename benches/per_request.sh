#!/usr/bin/env bash
# What one request costs sluice and nginx, in counts that do not move with the machine's load:
# user-space instructions per request (callgrind) and system calls per request (strace).
#
#   benches/per_request.sh [SCENARIO...]        scenarios: small pipelined 4k post (default: all)
#
# wrk's req/s on a shared 2-CPU machine moves by 30 % between runs; these counts move by about
# 1 %, so they show what a change did to the hot path even when the wrk table cannot. They do
# not replace the wrk comparison: kernel time (most of a small request's cost) is not in the
# instruction count, and a system call's cost depends on what it does.
#
# For each scenario and server: the server runs under `valgrind --tool=callgrind` with
# instrumentation switched on only while wrk runs for CG_DURATION (default 5s); the instructions
# counted are divided by the responses wrk got. Then the server runs natively with `strace -c -f`
# attached for STRACE_DURATION (default 3s) of wrk. The ten most expensive sluice functions of
# each scenario (self cost) are written next to the table.
#
# Environment: CG_DURATION, STRACE_DURATION, CONNECTIONS (64), SLUICE_BIN, SLUICE_ARGS, KEEP_TMP=1.
set -euo pipefail

# shellcheck source=benches/wrk/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/wrk/lib.sh"

CG_DURATION="${CG_DURATION:-5s}"
STRACE_DURATION="${STRACE_DURATION:-3s}"
CONNECTIONS="${CONNECTIONS:-64}"
ALL_SCENARIOS=(small pipelined 4k post)

# scenario NAME -> "SLUICE_PATH|NGINX_PATH|LUA_SCRIPT"
scenario_spec() {
    case $1 in
        small)     echo "/small.html|/small.html|" ;;
        pipelined) echo "/small.html|/small.html|pipeline.lua" ;;
        4k)        echo "/4k.bin|/4k.bin|" ;;
        post)      echo "/devices/bench|/post|post.lua" ;;
        *) return 1 ;;
    esac
}

SCENARIOS=()
for arg in "$@"; do
    case $arg in
        -h|--help) sed -n '2,18p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) scenario_spec "$arg" >/dev/null || die "unknown scenario '$arg' (${ALL_SCENARIOS[*]})"
           SCENARIOS+=("$arg") ;;
    esac
done
[ "${#SCENARIOS[@]}" -eq 0 ] && SCENARIOS=("${ALL_SCENARIOS[@]}")

ensure_tools wrk nginx taskset curl valgrind strace python3
raise_nofile
check_cpus
install_traps
setup_tmp
NEED_100M=0 make_docroot
build_sluice
[ -n "$SLUICE_SKIP" ] && die "$SLUICE_SKIP"
REAL_SLUICE=$SLUICE_BIN
REAL_NGINX=$NGINX_BIN
CG_DIR="$BENCH_TMP/callgrind"
mkdir -p "$CG_DIR"

# A wrapper that runs the real binary under callgrind, one output file per process.
make_wrapper() {
    local real=$1 wrapper=$2
    printf '#!/bin/sh\nexec valgrind -q --tool=callgrind --instr-atstart=no --callgrind-out-file=%s/callgrind.%%p "%s" "$@"\n' \
        "$CG_DIR" "$real" > "$wrapper"
    chmod +x "$wrapper"
}
make_wrapper "$REAL_SLUICE" "$BENCH_TMP/sluice-callgrind"
make_wrapper "$REAL_NGINX" "$BENCH_TMP/nginx-callgrind"

# wrk_run URL SCRIPT DURATION -> prints the number of responses
wrk_run() {
    local url=$1 script=$2 duration=$3
    local -a cmd=(wrk -t1 "-c$CONNECTIONS" "-d$duration" --timeout 30s)
    [ -n "$script" ] && cmd+=(-s "$WRK_DIR/$script")
    timeout 300 taskset -c "$CLIENT_CPU" "${cmd[@]}" "$url" </dev/null \
        | awk '/requests in/ { print $1 }'
}

# start SERVER [callgrind]: starts nginx or sluice (under callgrind when asked); sets PID and PORT.
start() {
    local server=$1 mode=${2:-native}
    if [ "$server" = nginx ]; then
        NGINX_BIN=$REAL_NGINX
        [ "$mode" = callgrind ] && NGINX_BIN="$BENCH_TMP/nginx-callgrind"
        start_nginx 60s >/dev/null
        PID=$NGINX_PID PORT=$NGINX_PORT
    else
        SLUICE_BIN=$REAL_SLUICE
        [ "$mode" = callgrind ] && SLUICE_BIN="$BENCH_TMP/sluice-callgrind"
        # shellcheck disable=SC2086 # SLUICE_ARGS is a list of flags
        start_sluice ${SLUICE_ARGS:-} >/dev/null
        [ -n "$SLUICE_SKIP" ] && die "$SLUICE_SKIP"
        PID=$SLUICE_PID PORT=$SLUICE_PORT
    fi
}

stop() {
    stop_pid "$PID"
}

# stop_counted: TERM, and up to 60 s for the process to exit, so that callgrind writes its counts
# (a process under valgrind can take longer than stop_pid's 5 s).
stop_counted() {
    kill -TERM "$PID" 2>/dev/null || true
    for _ in $(seq 600); do
        kill -0 "$PID" 2>/dev/null || break
        sleep 0.1
    done
    stop_pid "$PID"
}

# instructions SERVER SCENARIO -> sets INSTR (per request) and writes the top functions for sluice
instructions() {
    local server=$1 scenario=$2 spath npath script path
    IFS='|' read -r spath npath script < <(scenario_spec "$scenario")
    path=$spath
    [ "$server" = nginx ] && path=$npath
    start "$server" callgrind
    # Count only while wrk runs: start-up and shutdown are not instrumented.
    callgrind_control -i on "$PID" >/dev/null 2>&1
    local requests
    requests=$(wrk_run "http://127.0.0.1:$PORT$path" "$script" "$CG_DURATION")
    callgrind_control -i off "$PID" >/dev/null 2>&1
    stop_counted
    local dump="$CG_DIR/callgrind.$PID"
    [ -s "$dump" ] || die "callgrind wrote no $dump for $server"
    local total
    total=$(callgrind_annotate "$dump" 2>/dev/null | awk '/PROGRAM TOTALS/ { gsub(",", "", $1); print $1 }')
    INSTR=$(awk -v t="$total" -v n="$requests" 'BEGIN { if (n > 0) printf "%.0f", t / n; else print "-" }')
    if [ "$server" = sluice ]; then
        {
            printf '### %s: sluice, %s responses, %s instructions each\n\n```\n' "$scenario" "$requests" "$INSTR"
            # awk stops at ten lines itself: `head` would end the pipe early, and pipefail with it.
            callgrind_annotate "$dump" 2>/dev/null \
                | awk '/file:function/ { on = 1; getline; next } on && NF && n++ < 10 { print substr($0, 1, 150) }'
            printf '```\n\n'
        } >> "$TOP"
    fi
}

# syscalls SERVER SCENARIO -> sets SYS (per request) and SYS_MIX (the three most frequent)
syscalls() {
    local server=$1 scenario=$2 spath npath script path
    IFS='|' read -r spath npath script < <(scenario_spec "$scenario")
    path=$spath
    [ "$server" = nginx ] && path=$npath
    start "$server"
    local out="$BENCH_TMP/strace-$server-$scenario.txt"
    strace -c -f -p "$PID" -o "$out" 2>/dev/null &
    local strace_pid=$!
    sleep 0.5
    local requests
    requests=$(wrk_run "http://127.0.0.1:$PORT$path" "$script" "$STRACE_DURATION")
    kill -INT "$strace_pid" 2>/dev/null || true
    wait "$strace_pid" 2>/dev/null || true
    stop
    local total
    total=$(awk '$NF == "total" { print $4 }' "$out")
    SYS=$(awk -v t="$total" -v n="$requests" 'BEGIN { if (n > 0) printf "%.2f", t / n; else print "-" }')
    SYS_MIX=$(awk -v n="$requests" '/^-/ { sep++; next } sep == 1 && NF >= 5 && $NF != "total" {
                  printf "%s%s %.2f", (k++ ? ", " : ""), $NF, ($4 + 0) / n } ' "$out" \
              | cut -d, -f1-4)
}

OUT_DIR="$REPO_ROOT/bench-results"
mkdir -p "$OUT_DIR"
STAMP=$(date -u +%Y%m%dT%H%M%SZ)
TABLE="$OUT_DIR/per-request-$STAMP.md"
TOP="$OUT_DIR/per-request-$STAMP-top.md"
: > "$TOP"
{
    echo "| scenario | nginx instructions/req | sluice instructions/req | sluice/nginx | nginx syscalls/req | sluice syscalls/req | sluice's most frequent syscalls per request |"
    echo "|---|---:|---:|---:|---:|---:|---|"
} > "$TABLE"

for scenario in "${SCENARIOS[@]}"; do
    say "== $scenario"
    instructions nginx "$scenario"; n_instr=$INSTR
    instructions sluice "$scenario"; s_instr=$INSTR
    syscalls nginx "$scenario"; n_sys=$SYS
    syscalls sluice "$scenario"; s_sys=$SYS s_mix=$SYS_MIX
    ratio=$(awk -v a="$s_instr" -v b="$n_instr" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }')
    row="| $scenario | $n_instr | $s_instr | $ratio | $n_sys | $s_sys | $s_mix |"
    say "$row"
    echo "$row" >> "$TABLE"
done

echo
cat "$TABLE"
echo
say "table: $TABLE"
say "sluice's top functions per scenario: $TOP"
say "sluice $(git_description), $(host_description)"
