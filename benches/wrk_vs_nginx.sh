#!/usr/bin/env bash
# wrk against sluice and nginx, side by side, same files, same connections, same run.
#
#   benches/wrk_vs_nginx.sh [--nginx-only] [--list] [SCENARIO...]
#
# Both servers are pinned to CPU SERVER_CPU (default 0) and wrk to CLIENT_CPU (default 1); each
# scenario runs wrk against nginx, then against sluice, for DURATION (default 10s) with one wrk
# thread. Prints one table row per scenario and writes the table to bench-results/wrk-<time>.md.
# See benches/README.md for the scenarios and the targets.
set -euo pipefail

# shellcheck source=benches/wrk/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/wrk/lib.sh"

DURATION="${DURATION:-10s}"
ALL_SCENARIOS=(small small-1000 pipelined 4k 1m 100m post post-1 post-1k post-15k post-100k)

# scenario NAME -> "CONNECTIONS|PATH|SCRIPT|WRK_TIMEOUT|DESCRIPTION"
scenario_spec() {
    case $1 in
        small)      echo "64|/small.html||5s|GET 600-byte HTML, 64 connections" ;;
        small-1000) echo "1000|/small.html||5s|GET 600-byte HTML, 1000 connections" ;;
        pipelined)  echo "64|/small.html|pipeline.lua|5s|GET 600-byte HTML, 16 requests per write, 64 connections" ;;
        4k)         echo "64|/4k.bin||5s|GET 4 KiB file, 64 connections" ;;
        1m)         echo "8|/1m.bin||10s|GET 1 MiB file, 8 connections" ;;
        100m)       echo "8|/100m.bin||60s|GET 100 MiB file, 8 connections" ;;
        post)       echo "64|POST|post.lua|5s|POST 207-byte body (sluice /devices/bench, nginx /post -> 204), 64 connections" ;;
        post-1)     echo "64|POST_MANY:1|post_many.lua|5s|POST 207-byte body to /devices/d0 (per-request Lua), 64 connections" ;;
        post-1k)    echo "64|POST_MANY:1000|post_many.lua|5s|POST 207-byte body cycling over 1,000 devices, 64 connections" ;;
        post-15k)   echo "64|POST_MANY:15000|post_many.lua|5s|POST 207-byte body cycling over 15,000 devices, 64 connections" ;;
        post-100k)  echo "64|POST_MANY:100000|post_many.lua|5s|POST 207-byte body cycling over 100,000 devices, 64 connections" ;;
        *) return 1 ;;
    esac
}

usage() {
    cat <<USAGE
usage: benches/wrk_vs_nginx.sh [--nginx-only] [--list] [SCENARIO...]

Scenarios (default: all, in this order):
USAGE
    local s
    for s in "${ALL_SCENARIOS[@]}"; do
        printf '  %-11s %s\n' "$s" "$(scenario_spec "$s" | cut -d'|' -f5)"
    done
    cat <<USAGE

Options:
  --nginx-only   do not build or start sluice
  --list         print the scenarios and exit
  -h, --help     this text

Environment: DURATION (wrk -d, default 10s), SERVER_CPU (0), CLIENT_CPU (1), SLUICE_BIN (use this
binary instead of cargo build --release), ROUNDS (runs per scenario, median ratio reported), SLUICE_ARGS (extra sluice flags, e.g. "--ack fsync"),
PIPELINE_DEPTH (16), KEEP_TMP=1, BENCH_TMPDIR, PEERS=1 (also measure h2o and lighttpd, one thread
or process each, on the GET scenarios), CEILING=1 (also measure the client's ceiling:
benches/wrk/canned.c replaying sluice's response bytes, for the GET scenarios).
USAGE
}

NGINX_ONLY=0
SCENARIOS=()
while [ $# -gt 0 ]; do
    case $1 in
        --nginx-only) NGINX_ONLY=1 ;;
        --list) for s in "${ALL_SCENARIOS[@]}"; do echo "$s"; done; exit 0 ;;
        -h|--help) usage; exit 0 ;;
        -*) usage >&2; die "unknown option $1" ;;
        *) scenario_spec "$1" >/dev/null || { usage >&2; die "unknown scenario '$1'"; }
           SCENARIOS+=("$1") ;;
    esac
    shift
done
[ "${#SCENARIOS[@]}" -eq 0 ] && SCENARIOS=("${ALL_SCENARIOS[@]}")

# wrk's -d accepts 10, 10s, 2m, 1h; the watchdog around each wrk run needs seconds.
duration_seconds() {
    local d=$1
    case $d in
        *ms) echo 1 ;;
        *s) echo "${d%s}" ;;
        *m) echo $(( ${d%m} * 60 )) ;;
        *h) echo $(( ${d%h} * 3600 )) ;;
        *) echo "$d" ;;
    esac
}
DURATION_S=$(duration_seconds "$DURATION")
# ROUNDS > 1: each scenario runs that many times, nginx and sluice alternating, and a table of
# the median sluice/nginx ratios follows (one run on a shared machine can be off by 2x).
ROUNDS="${ROUNDS:-1}"
CEILING="${CEILING:-0}"
[[ "$CEILING" =~ ^[01]$ ]] || die "CEILING must be 0 or 1, not '$CEILING'"
PEERS="${PEERS:-0}"
[[ "$PEERS" =~ ^[01]$ ]] || die "PEERS must be 0 or 1, not '$PEERS'"
[[ "$ROUNDS" =~ ^[1-9][0-9]*$ ]] || die "ROUNDS must be a positive integer, not '$ROUNDS'"
MEDIANS=()
[[ "$DURATION_S" =~ ^[0-9]+$ ]] || die "DURATION=$DURATION is not a wrk duration (e.g. 10s, 1m)"

NEED_100M=0
for s in "${SCENARIOS[@]}"; do [ "$s" = 100m ] && NEED_100M=1; done

raise_nofile
check_cpus
ensure_tools nginx wrk curl python3 taskset
[ "$PEERS" = 1 ] && ensure_tools h2o lighttpd
install_traps
setup_tmp
say "temp dir $BENCH_TMP"
make_docroot

export PIPELINE_DEPTH="${PIPELINE_DEPTH:-16}"
for f in pipeline post post_many; do
    cat "$WRK_DIR/$f.lua" "$WRK_DIR/report.lua" > "$BENCH_TMP/$f.lua"
done
cp "$WRK_DIR/report.lua" "$BENCH_TMP/plain.lua"

start_nginx 60s
# PEERS=1: h2o and lighttpd beside nginx (GET scenarios only; they have no `return 204` for POST).
H2O_PID="" H2O_PORT="" LIGHTTPD_PID="" LIGHTTPD_PORT=""
if [ "$PEERS" = 1 ]; then
    start_peer h2o && H2O_PID=$PEER_PID H2O_PORT=$PEER_PORT
    start_peer lighttpd && LIGHTTPD_PID=$PEER_PID LIGHTTPD_PORT=$PEER_PORT
fi
if [ "$NGINX_ONLY" = 1 ]; then
    SLUICE_SKIP="--nginx-only"
else
    build_sluice
    # SLUICE_ARGS (word-split on purpose) measures a non-default mode, e.g. "--ack fsync".
    # shellcheck disable=SC2086
    start_sluice ${SLUICE_ARGS:-}
fi
say "wrk    $(wrk -v 2>&1 | head -n1 | awk '{print $2}'), CPU $CLIENT_CPU, 1 thread, $DURATION per run"

# CEILING=1: the client's ceiling per GET scenario. benches/wrk/canned.c answers every request head
# with the exact bytes sluice sent for that URL, parsing and reading nothing; the rate wrk reaches
# against it is the most this client can take, so sluice/ceiling near 1 means the client, not
# sluice, set the number.
CANNED_BIN="" CANNED_PID="" CANNED_PORT=""
if [ "$CEILING" = 1 ]; then
    ensure_tools gcc
    CANNED_BIN="$BENCH_TMP/canned"
    gcc -O2 -o "$CANNED_BIN" "$WRK_DIR/canned.c" || die "could not build $WRK_DIR/canned.c"
fi

# start_canned PATH: captures sluice's response to GET PATH and serves it from canned.
start_canned() {
    local path=$1 response="$BENCH_TMP/canned-response"
    [ -n "$CANNED_PID" ] && stop_pid "$CANNED_PID"
    CANNED_PID=""
    python3 "$WRK_DIR/capture_response.py" "$SLUICE_PORT" "$path" "$response" || return 1
    CANNED_PORT=$(free_port)
    taskset -c "$SERVER_CPU" "$CANNED_BIN" "$CANNED_PORT" "$response" </dev/null \
        >"$BENCH_TMP/canned.log" 2>&1 &
    CANNED_PID=$!
    STARTED_PIDS+=("$CANNED_PID")
    for _ in $(seq 50); do
        grep -q '^listening' "$BENCH_TMP/canned.log" 2>/dev/null && return 0
        sleep 0.1
    done
    return 1
}

WRK_PID=""
STARTED_AT=$(date -u +%Y-%m-%dT%H:%M:%SZ)
STAMP=$(date -u +%Y%m%dT%H%M%SZ)
ROWS=()
NOTES=()
RAW="$BENCH_TMP/raw.txt"
: > "$RAW"
P99_LINE=""

# run_wrk SERVER URL CONNS SCRIPT TIMEOUT: runs wrk pinned, under a watchdog; prints its output and
# leaves the BENCH line's fields in R_* (empty when wrk produced none).
# warm_devices PORT PATH CONNS SCRIPT: before the first measured run of a many-device scenario,
# posts until every device file exists in sluice's data directory (at most two minutes), so that
# the run measures appends to existing devices, not file creation (the first POST of each
# device). Not measured; the output is kept out of the report.
warm_devices() {
    local port=$1 path=$2 conns=$3 script=$4 waited=0 have=0
    say "warming up: posting until the ${POST_DEVICES} device files exist"
    taskset -c "$CLIENT_CPU" wrk -t1 "-c$conns" -d150s -s "$script" "http://127.0.0.1:$port$path" \
        </dev/null >/dev/null 2>&1 &
    local warm_pid=$!
    STARTED_PIDS+=("$warm_pid")
    while [ "$waited" -lt 120 ]; do
        sleep 2
        waited=$(( waited + 2 ))
        have=$( { find "$BENCH_TMP/sluice/data" -maxdepth 1 -type f -name '[!.]*' 2>/dev/null || true; } | wc -l)
        [ "$have" -ge "$POST_DEVICES" ] && break
    done
    kill "$warm_pid" 2>/dev/null || true
    wait "$warm_pid" 2>/dev/null || true
    say "warm-up: ${have} device files after ${waited}s"
}

run_wrk() {
    local server=$1 url=$2 conns=$3 script=$4 timeout=$5
    local out="$BENCH_TMP/wrk-$server.out"
    local -a cmd=(wrk -t1 "-c$conns" "-d$DURATION" --latency --timeout "$timeout" -s "$script" "$url")
    printf '\n$ taskset -c %s %s\n' "$CLIENT_CPU" "${cmd[*]}"
    timeout --kill-after=10s $(( DURATION_S + 60 )) taskset -c "$CLIENT_CPU" "${cmd[@]}" \
        </dev/null >"$out" 2>&1 &
    WRK_PID=$!
    STARTED_PIDS+=("$WRK_PID")
    local rc=0
    wait "$WRK_PID" || rc=$?
    WRK_PID=""
    sed 's/^/    /' "$out"
    { printf '### %s, %s\n\n```\n$ %s\n' "$CURRENT_SCENARIO" "$server" "${cmd[*]}"; cat "$out"; printf '```\n\n'; } >> "$RAW"
    # shellcheck disable=SC2034 # R_p50_us is kept for symmetry with the BENCH line
    R_requests="" R_duration_us="" R_bytes="" R_connect="" R_read="" R_write="" R_timeout="" R_status="" R_p50_us="" R_p99_us=""
    local line kv
    line=$(grep -m1 '^BENCH ' "$out" || true)
    if [ -z "$line" ]; then
        NOTES+=("$CURRENT_SCENARIO: wrk against $server produced no result (exit $rc)")
        return
    fi
    for kv in ${line#BENCH }; do
        printf -v "R_${kv%%=*}" '%s' "${kv#*=}"
    done
    [ "$rc" -ne 0 ] && NOTES+=("$CURRENT_SCENARIO: wrk against $server exited with status $rc")
    return 0
}

# cell values from R_*: req/s, MB/s (10^6 bytes, heads included), p99 ms, "non-2xx / socket errors"
rps_of()  { awk -v n="$R_requests" -v us="$R_duration_us" 'BEGIN { if (us > 0) printf "%.0f", n * 1e6 / us }'; }
mbps_of() { awk -v b="$R_bytes" -v us="$R_duration_us" 'BEGIN { if (us > 0) printf "%.1f", b / us }'; }
# wrk 4.1 sometimes reports a p99 of 0 for pipelined runs; show that as n/a, not as a perfect latency.
p99_of()  { awk -v p="$R_p99_us" 'BEGIN { if (p > 0) printf "%.2f", p / 1000; else printf "n/a" }'; }
errs_of() { echo "$R_status / $(( R_connect + R_read + R_write + R_timeout ))"; }

# cpu_ticks PID: utime + stime of the process (all its threads), in clock ticks. The fields are
# counted after the ")" that ends the command name, which may contain spaces.
cpu_ticks() {
    sed 's/^.*) //' "/proc/$1/stat" 2>/dev/null | awk '{ print $12 + $13 }'
}
CLK_TCK=$(getconf CLK_TCK)
# server CPU time per request in microseconds, from ticks before and after a run
cpu_us_of() {
    awk -v a="$1" -v b="$2" -v n="$R_requests" -v hz="$CLK_TCK" \
        'BEGIN { if (a != "" && b != "" && n > 0) printf "%.1f", (b - a) * 1e6 / hz / n; else printf "-" }'
}

# cpu_times CPU: "total steal" clock ticks of one CPU from /proc/stat. Steal is time the hypervisor
# gave this virtual CPU to another guest: a run that lost a lot of it measured the host, not us.
cpu_times() {
    awk -v c="cpu$1" '$1 == c { t = 0; for (i = 2; i <= NF; i++) t += $i; print t, $9 }' /proc/stat
}
# steal_pct "TOTAL STEAL" "TOTAL STEAL": percent of the interval stolen from that CPU
steal_pct() {
    awk -v a="$1" -v b="$2" 'BEGIN { split(a, x, " "); split(b, y, " "); t = y[1] - x[1];
        if (t > 0) printf "%.0f", 100 * (y[2] - x[2]) / t; else printf "-" }'
}
# Above this share of stolen time on either CPU a run is flagged in the notes.
STEAL_WARN_PCT=5

# measure SERVER NAME PATH CONNS SCRIPT TIMEOUT [PID] -> sets M_rps M_mbps M_p99 M_errs M_cpu
# M_steal (or a reason in M_rps). PID (for servers other than nginx and sluice) is whose CPU time
# is counted.
measure() {
    local server=$1 port=$2 path=$3 conns=$4 script=$5 timeout=$6
    M_rps="" M_mbps="" M_p99="" M_errs="" M_cpu="" M_steal=""
    local pid ticks_before ticks_after
    case $server in
        nginx) pid=$NGINX_PID ;;
        sluice) pid=$SLUICE_PID ;;
        *) pid=$7 ;;
    esac
    if [ -z "$pid" ] || ! kill -0 "$pid" 2>/dev/null; then
        M_rps="($server not running)"
        return
    fi
    local srv_before cli_before srv_steal cli_steal
    srv_before=$(cpu_times "$SERVER_CPU") cli_before=$(cpu_times "$CLIENT_CPU")
    ticks_before=$(cpu_ticks "$pid")
    run_wrk "$server" "http://127.0.0.1:$port$path" "$conns" "$script" "$timeout"
    ticks_after=$(cpu_ticks "$pid")
    srv_steal=$(steal_pct "$srv_before" "$(cpu_times "$SERVER_CPU")")
    cli_steal=$(steal_pct "$cli_before" "$(cpu_times "$CLIENT_CPU")")
    M_steal="$srv_steal/$cli_steal"
    if [ "${srv_steal/-/0}" -gt "$STEAL_WARN_PCT" ] || [ "${cli_steal/-/0}" -gt "$STEAL_WARN_PCT" ]; then
        NOTES+=("$CURRENT_SCENARIO: during the $server run the hypervisor took ${srv_steal}% of the server CPU and ${cli_steal}% of the client CPU (steal); treat that round as noise")
    fi
    if [ -n "$R_requests" ]; then
        M_rps=$(rps_of) M_mbps=$(mbps_of) M_p99=$(p99_of) M_errs=$(errs_of)
        M_cpu=$(cpu_us_of "$ticks_before" "$ticks_after")
        local socket=$(( R_connect + R_read + R_write + R_timeout ))
        if [ "$R_status" -gt 0 ] || [ "$socket" -gt 0 ]; then
            NOTES+=("$CURRENT_SCENARIO: $server had $R_status non-2xx/3xx responses and $socket socket errors (connect $R_connect, read $R_read, write $R_write, timeout $R_timeout)")
        fi
    else
        M_rps="(no result)"
    fi
    if ! kill -0 "$pid" 2>/dev/null; then
        NOTES+=("$CURRENT_SCENARIO: $server DIED during the run")
        if [ "$server" = sluice ]; then
            say "sluice stderr (last lines):"
            tail -n 20 "$BENCH_TMP/sluice/stderr.log" | sed 's/^/    /'
        fi
    fi
}

# preflight SERVER PORT PATH [curl args]: one request with curl; a wrong answer becomes a note.
preflight() {
    local server=$1 port=$2 path=$3; shift 3
    PRE=$(http_probe "http://127.0.0.1:$port$path" "$@")
    say "preflight $server $path: HTTP ${PRE%% *}, ${PRE##* } body bytes"
}

# median VALUE...: the median of the numeric values ("-" when there are none).
median() {
    printf '%s\n' "$@" | grep -E '^[0-9.]+$' | sort -n \
        | awk '{ v[NR] = $1 } END { if (NR == 0) print "-"; else if (NR % 2) print v[(NR + 1) / 2]; else printf "%.2f", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

ratio() {
    awk -v s="$1" -v n="$2" 'BEGIN { if (s ~ /^[0-9.]+$/ && n ~ /^[0-9.]+$/ && n > 0) printf "%.2f", s / n; else printf "-" }'
}

POST_BODY="$BENCH_TMP/post-body"
# the same 207 bytes the Lua script sends, for the preflight
awk 'BEGIN { p = "{\"device\":\"bench\",\"seq\":4711,\"t\":\"2024-01-01T00:00:00Z\",\"temp_c\":21.53,\"rh\":40.2,\"hpa\":1013.25,\"pad\":\""; s = "\"}\n"; printf "%s", p; for (i = 0; i < 207 - length(p) - length(s); i++) printf "x"; printf "%s", s }' > "$POST_BODY"
[ "$(stat -c %s "$POST_BODY")" = 207 ] || die "internal: POST body is not 207 bytes"

HEADER='| scenario | conns | nginx req/s | sluice req/s | sluice/nginx | nginx MB/s | sluice MB/s | nginx p99 ms | sluice p99 ms | nginx non-2xx / sock err | sluice non-2xx / sock err | nginx µs CPU/req | sluice µs CPU/req | steal % srv/cli, nginx run | steal % srv/cli, sluice run |'
RULE='|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|'
if [ "$PEERS" = 1 ]; then
    HEADER="$HEADER h2o req/s | sluice/h2o | lighttpd req/s | sluice/lighttpd |"
    RULE="$RULE---:|---:|---:|---:|"
fi
if [ "$CEILING" = 1 ]; then
    HEADER="$HEADER ceiling req/s | sluice/ceiling |"
    RULE="$RULE---:|---:|"
fi
LOAD_AT_START=$(cut -d' ' -f1-3 /proc/loadavg)

for CURRENT_SCENARIO in "${SCENARIOS[@]}"; do
    IFS='|' read -r conns path script wrk_timeout desc < <(scenario_spec "$CURRENT_SCENARIO")
    banner "$CURRENT_SCENARIO: $desc"
    script_file="$BENCH_TMP/plain.lua"
    [ -n "$script" ] && script_file="$BENCH_TMP/${script%.lua}.lua"
    nginx_path=$path sluice_path=$path
    if [ "$path" = POST ]; then
        nginx_path=/post sluice_path=/devices/bench
    elif [ "${path%%:*}" = POST_MANY ]; then
        # post_many.lua cycles the trailing number of the path over POST_DEVICES devices.
        export POST_DEVICES=${path#POST_MANY:}
        path=POST nginx_path=/devices/d0 sluice_path=/devices/d0
    fi
    curl_args=()
    [ "$path" = POST ] && curl_args=(-X POST -H 'Content-Type: application/json' --data-binary "@$POST_BODY")

    round_ratios=()
    for round in $(seq "$ROUNDS"); do
        label=$CURRENT_SCENARIO
        [ "$ROUNDS" -gt 1 ] && label="$CURRENT_SCENARIO #$round"
        # nginx
        preflight nginx "$NGINX_PORT" "$nginx_path" "${curl_args[@]+"${curl_args[@]}"}"
        measure nginx "$NGINX_PORT" "$nginx_path" "$conns" "$script_file" "$wrk_timeout"
        n_rps=$M_rps n_mbps=$M_mbps n_p99=$M_p99 n_errs=$M_errs n_cpu=$M_cpu n_steal=$M_steal

        # sluice
        s_rps="" s_mbps="" s_p99="" s_errs="" s_cpu="" s_steal=""
        if [ -n "$SLUICE_SKIP" ]; then
            s_rps="skipped"
        elif ! alive sluice; then
            s_rps="(sluice not running)"
        else
            preflight sluice "$SLUICE_PORT" "$sluice_path" "${curl_args[@]+"${curl_args[@]}"}"
            code=${PRE%% *}
            if [ "$path" = POST ] && { [ "$code" = 404 ] || [ "$code" = 405 ]; }; then
                s_rps="skipped"
                NOTES+=("post: sluice answered POST $sluice_path with $code (ingest route not there yet); its side was skipped")
                say "sluice answered $code: ingest route not there yet, skipping the sluice side"
            else
                if [ "$path" != POST ] && [ "$PRE" != "$(http_probe "http://127.0.0.1:$NGINX_PORT$nginx_path")" ]; then
                    NOTES+=("$CURRENT_SCENARIO: sluice answered GET $sluice_path with '$PRE' (HTTP code, bytes), nginx with '$(http_probe "http://127.0.0.1:$NGINX_PORT$nginx_path")'")
                fi
                if [ "$round" = 1 ] && [ "${POST_DEVICES:-1}" -gt 1 ] && [ "${path}" = POST ]; then
                    warm_devices "$SLUICE_PORT" "$sluice_path" "$conns" "$script_file"
                fi
                measure sluice "$SLUICE_PORT" "$sluice_path" "$conns" "$script_file" "$wrk_timeout"
                s_rps=$M_rps s_mbps=$M_mbps s_p99=$M_p99 s_errs=$M_errs s_cpu=$M_cpu s_steal=$M_steal
            fi
        fi

        row="| $label | $conns | ${n_rps:--} | ${s_rps:--} | $(ratio "$s_rps" "$n_rps") | ${n_mbps:--} | ${s_mbps:--} | ${n_p99:--} | ${s_p99:--} | ${n_errs:--} | ${s_errs:--} | ${n_cpu:--} | ${s_cpu:--} | ${n_steal:--} | ${s_steal:--} |"
        if [ "$PEERS" = 1 ]; then
            h_rps="n/a" l_rps="n/a"
            if [ "$path" != POST ]; then
                measure h2o "${H2O_PORT:-0}" "$sluice_path" "$conns" "$script_file" "$wrk_timeout" "$H2O_PID"
                h_rps=$M_rps
                measure lighttpd "${LIGHTTPD_PORT:-0}" "$sluice_path" "$conns" "$script_file" "$wrk_timeout" "$LIGHTTPD_PID"
                l_rps=$M_rps
            fi
            row="$row ${h_rps:--} | $(ratio "$s_rps" "$h_rps") | ${l_rps:--} | $(ratio "$s_rps" "$l_rps") |"
        fi
        if [ "$CEILING" = 1 ]; then
            c_rps="-"
            if [ "$path" = POST ] || [ -n "$SLUICE_SKIP" ]; then
                c_rps="n/a"
            elif [ "$round" = 1 ] && ! start_canned "$sluice_path"; then
                NOTES+=("$CURRENT_SCENARIO: the canned ceiling server did not start")
            elif [ -n "$CANNED_PID" ]; then
                measure canned "$CANNED_PORT" "$sluice_path" "$conns" "$script_file" "$wrk_timeout" "$CANNED_PID"
                c_rps=$M_rps
            fi
            row="$row ${c_rps:--} | $(ratio "$s_rps" "$c_rps") |"
        fi
        ROWS+=("$row")
        round_ratios+=("$(ratio "$s_rps" "$n_rps")")
        printf '\n%s\n%s\n%s\n' "$HEADER" "$RULE" "$row"
        if [ "$CURRENT_SCENARIO" = small ]; then
            P99_LINE="p99 latency, small file at 64 connections: nginx ${n_p99:--} ms, sluice ${s_p99:--} ms (target: sluice no worse than nginx)"
        fi
    done
    if [ "$ROUNDS" -gt 1 ]; then
        MEDIANS+=("| $CURRENT_SCENARIO | ${round_ratios[*]} | $(median "${round_ratios[@]}") |")
    fi
done

# ------------------------------------------------------------------------------------------------
mkdir -p "$REPO_ROOT/bench-results"
RESULT="$REPO_ROOT/bench-results/wrk-$STAMP.md"
{
    echo "# wrk: sluice vs nginx, $STARTED_AT"
    echo
    echo "- sluice: $(git_description)${SLUICE_ARGS:+, flags: $SLUICE_ARGS}${SLUICE_SKIP:+ (not measured: $SLUICE_SKIP)}"
    echo "- nginx: $("$NGINX_BIN" -v 2>&1 | sed 's/^nginx version: //'), one process, sendfile, open_file_cache"
    [ "$PEERS" = 1 ] && echo "- h2o: $(h2o --version 2>&1 | head -n1 | awk '{print $3}'), one thread; lighttpd: $(lighttpd -v 2>&1 | head -n1 | awk '{print $1}'), one process, sendfile"
    echo "- wrk: $(wrk -v 2>&1 | head -n1 | awk '{print $2}'), 1 thread, $DURATION per run, pipeline depth $PIPELINE_DEPTH"
    echo "- pinning: servers on CPU $SERVER_CPU, wrk on CPU $CLIENT_CPU"
    echo "- host: $(host_description)"
    echo "- load average (1, 5, 15 min): $LOAD_AT_START at the start, $(cut -d' ' -f1-3 /proc/loadavg) at the end"
    echo
    echo "$HEADER"
    echo "$RULE"
    printf '%s\n' "${ROWS[@]}"
    echo
    if [ "${#MEDIANS[@]}" -gt 0 ]; then
        echo "| scenario | sluice/nginx per round | median |"
        echo "|---|---|---:|"
        printf '%s\n' "${MEDIANS[@]}"
        echo
    fi
    echo "MB/s is 10^6 bytes per second read by wrk, response heads included. Errors: responses with"
    echo "status >= 400 counted by wrk / socket errors (connect + read + write + timeout). µs CPU/req:"
    echo "the server's utime + stime (all threads, /proc/PID/stat) over the wrk run / requests. Steal:"
    echo "share of the server's and the client's CPU the hypervisor gave to other guests during the run."
    [ "$CEILING" = 1 ] && echo "Ceiling: req/s of benches/wrk/canned.c, which replays sluice's response bytes and parses nothing."
    echo
    [ -n "$P99_LINE" ] && { echo "$P99_LINE"; echo; }
    if [ "${#NOTES[@]}" -gt 0 ]; then
        echo "## Notes"
        echo
        printf -- '- %s\n' "${NOTES[@]}"
        echo
    fi
    echo "<details><summary>raw wrk output</summary>"
    echo
    cat "$RAW"
    echo "</details>"
} > "$RESULT"

banner "results ($DURATION per run; servers on CPU $SERVER_CPU, wrk on CPU $CLIENT_CPU; load $LOAD_AT_START -> $(cut -d' ' -f1-3 /proc/loadavg))"
echo "$HEADER"
echo "$RULE"
printf '%s\n' "${ROWS[@]}"
echo
if [ "${#MEDIANS[@]}" -gt 0 ]; then
    echo "| scenario | sluice/nginx per round | median |"
    echo "|---|---|---:|"
    printf '%s\n' "${MEDIANS[@]}"
    echo
fi
[ -n "$P99_LINE" ] && echo "$P99_LINE"
if [ "${#NOTES[@]}" -gt 0 ]; then
    echo
    echo "NOTES:"
    printf -- '- %s\n' "${NOTES[@]}"
fi
[ -n "$SLUICE_SKIP" ] && printf '\nsluice was not measured: %s\n' "$SLUICE_SKIP"
echo
echo "written to ${RESULT#"$REPO_ROOT"/}"
