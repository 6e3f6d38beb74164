#!/usr/bin/env bash
# Memory per idle connection: N connections (default 10000) each holding a half-sent request head
# ("GET / HTTP/1.1\r\nHost: x\r\n" and no blank line), against nginx and sluice started the same way
# as in wrk_vs_nginx.sh. Reads VmRSS of the server process before and while they are held.
#
#   benches/idle_memory.sh [--nginx-only] [N]
#
# Target for sluice: at most 1 KiB of RSS per connection at N = 10000.
set -euo pipefail

# shellcheck source=benches/wrk/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/wrk/lib.sh"

N=10000
NGINX_ONLY=0
while [ $# -gt 0 ]; do
    case $1 in
        --nginx-only) NGINX_ONLY=1 ;;
        -h|--help) sed -n '2,8p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
        -*) die "unknown option $1" ;;
        *) [[ "$1" =~ ^[0-9]+$ ]] || die "N must be a number, got '$1'"; N=$1 ;;
    esac
    shift
done
SETTLE="${SETTLE:-2}"   # seconds between the last connect and the RSS reading

raise_nofile
need=$(( N + 256 ))
limit=$(ulimit -n)
if [ "$limit" != unlimited ] && [ "$limit" -lt "$need" ]; then
    die "need $need open files for N=$N (server side), the limit is $limit (hard $(ulimit -Hn)); lower N or raise the hard limit"
fi
check_cpus
ensure_tools nginx curl python3 taskset
install_traps
setup_tmp
NEED_100M=0 make_docroot

# Long header deadlines on both sides: the held heads must not be timed out while we measure.
start_nginx 300s
if [ "$NGINX_ONLY" = 1 ]; then
    SLUICE_SKIP="--nginx-only"
else
    build_sluice
    start_sluice --header-timeout 300 --max-connections $(( N + 64 )) --max-connections-per-peer $(( N + 64 ))
fi

ROWS=()
NOTES=()

# measure SERVER PID PORT
measure_idle() {
    local server=$1 pid=$2 port=$3
    banner "$server: $N half-sent request heads"
    # one complete request first, so lazily built state is already in the baseline
    http_probe "http://127.0.0.1:$port/small.html" >/dev/null
    sleep 0.5
    local rss0 fd0 rss1 fd1 rss2
    rss0=$(vm_rss_kib "$pid") fd0=$(fd_count "$pid")
    say "before: VmRSS $rss0 KiB, $fd0 open fds"

    local out="$BENCH_TMP/half_open-$server.out"
    taskset -c "$CLIENT_CPU" python3 "$WRK_DIR/half_open.py" 127.0.0.1 "$port" "$N" </dev/null >"$out" 2>&1 &
    local client=$!
    STARTED_PIDS+=("$client")
    local waited=0 limit=$(( 60 + N / 100 ))
    until grep -qs '^READY' "$out"; do
        if ! kill -0 "$client" 2>/dev/null; then
            cat "$out" >&2
            die "the client ended before opening its connections"
        fi
        [ "$waited" -ge $(( limit * 10 )) ] && die "the client did not open $N connections within ${limit}s"
        sleep 0.1
        waited=$(( waited + 1 ))
    done
    local ready connected failed
    ready=$(grep -m1 '^READY' "$out")
    say "client: ${ready#READY }"
    connected=$(sed -n 's/.* connected=\([0-9]*\).*/\1/p' <<<"$ready")
    failed=$(sed -n 's/.* failed=\([0-9]*\).*/\1/p' <<<"$ready")
    sleep "$SETTLE"
    if ! kill -0 "$pid" 2>/dev/null; then
        NOTES+=("$server died while the connections were held")
        ROWS+=("| $server | $rss0 | (died) | - | - | - | $connected | - | - |")
        stop_pid "$client"
        return
    fi
    rss1=$(vm_rss_kib "$pid") fd1=$(fd_count "$pid")
    say "held:   VmRSS $rss1 KiB, $fd1 open fds"

    kill -TERM "$client" 2>/dev/null || true
    wait "$client" 2>/dev/null || true
    local done_line
    done_line=$(grep -m1 '^DONE' "$out" || echo "DONE open=? answered=? closed=?")
    say "client at the end: ${done_line#DONE }"
    sleep 1
    rss2=$(vm_rss_kib "$pid")
    say "after closing: VmRSS $rss2 KiB"

    local per
    per=$(awk -v a="$rss1" -v b="$rss0" -v n="$connected" 'BEGIN { if (n > 0) printf "%.2f", (a - b) / n; else printf "-" }')
    ROWS+=("| $server | $rss0 | $rss1 | **$per** | $(( fd1 - fd0 )) | $connected | $failed | $(sed -n 's/.*open=\([0-9?]*\).*/\1/p' <<<"$done_line") | $rss2 |")
    [ "$failed" != 0 ] && NOTES+=("$server: $failed of $N connections could not be opened ($(sed -n 's/.*first_error=\(.*\)/\1/p' <<<"$ready"))")
    local closed answered
    answered=$(sed -n 's/.*answered=\([0-9?]*\).*/\1/p' <<<"$done_line")
    closed=$(sed -n 's/.*closed=\([0-9?]*\).*/\1/p' <<<"$done_line")
    if [ "$answered" != 0 ] || [ "$closed" != 0 ]; then
        NOTES+=("$server: while held, $answered connections got an answer and $closed were closed by the server")
    fi
    say "=> $per KiB per connection"
}

measure_idle nginx "$NGINX_PID" "$NGINX_PORT"
if [ -n "$SLUICE_SKIP" ]; then
    ROWS+=("| sluice | skipped: $SLUICE_SKIP | | | | | | | |")
else
    measure_idle sluice "$SLUICE_PID" "$SLUICE_PORT"
fi

HEADER='| server | RSS before KiB | RSS held KiB | KiB per conn | fds gained | connected | failed | open at end | RSS after close KiB |'
RULE='|---|---:|---:|---:|---:|---:|---:|---:|---:|'
STAMP=$(date -u +%Y%m%dT%H%M%SZ)
mkdir -p "$REPO_ROOT/bench-results"
RESULT="$REPO_ROOT/bench-results/idle-$STAMP.md"
{
    echo "# Idle connections: $N half-sent request heads, $(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo
    echo "- sluice: $(git_description)${SLUICE_SKIP:+ (not measured: $SLUICE_SKIP)}"
    echo "- nginx: $("$NGINX_BIN" -v 2>&1 | sed 's/^nginx version: //'), one process"
    echo "- host: $(host_description)"
    echo
    echo "$HEADER"
    echo "$RULE"
    printf '%s\n' "${ROWS[@]}"
    echo
    echo "KiB per conn = (RSS held - RSS before) / connected. Target for sluice: <= 1 KiB."
    if [ "${#NOTES[@]}" -gt 0 ]; then
        echo
        printf -- '- %s\n' "${NOTES[@]}"
    fi
} > "$RESULT"

banner "idle connections: $N half-sent request heads"
echo "$HEADER"
echo "$RULE"
printf '%s\n' "${ROWS[@]}"
if [ "${#NOTES[@]}" -gt 0 ]; then
    echo
    echo "NOTES:"
    printf -- '- %s\n' "${NOTES[@]}"
fi
echo
echo "written to ${RESULT#"$REPO_ROOT"/}"
