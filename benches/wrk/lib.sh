# shellcheck shell=bash
# Shared by benches/wrk_vs_nginx.sh and benches/idle_memory.sh (sourced, not run).
#
# Starts nginx and sluice side by side on 127.0.0.1, each pinned to SERVER_CPU, serving the same
# document root from a temp dir, and stops both (and any load generator) on exit or Ctrl-C.
#
# Knobs (environment): SERVER_CPU (default 0), CLIENT_CPU (default 1), SLUICE_BIN (use this binary,
# skip the build), NGINX_BIN, KEEP_TMP=1 (keep the temp dir), BENCH_TMPDIR (parent of the temp dir).

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
REPO_ROOT=$(cd "$BENCH_DIR/.." && pwd)
WRK_DIR="$BENCH_DIR/wrk"

SERVER_CPU="${SERVER_CPU:-0}"
CLIENT_CPU="${CLIENT_CPU:-1}"

BENCH_TMP=""
STARTED_PIDS=()      # every process we started; the exit trap stops exactly these
NGINX_PID=""
NGINX_PORT=""
SLUICE_PID=""
SLUICE_PORT=""
SLUICE_SKIP=""       # non-empty: why sluice is not measured
NGINX_BIN="${NGINX_BIN:-}"

say()  { printf '%s\n' "$*"; }
warn() { printf 'WARNING: %s\n' "$*" >&2; }
die()  { printf 'error: %s\n' "$*" >&2; exit 1; }

banner() {
    printf '\n################################################################\n'
    printf '# %s\n' "$@"
    printf '################################################################\n\n'
}

as_root() {
    if [ "$(id -u)" -eq 0 ]; then
        "$@"
    elif command -v sudo >/dev/null 2>&1; then
        sudo -n "$@"
    else
        die "need root (or sudo) to run: $*"
    fi
}

APT_UPDATED=""
apt_install() {
    say "installing with apt: $*"
    if [ -z "$APT_UPDATED" ]; then
        DEBIAN_FRONTEND=noninteractive as_root apt-get update -q </dev/null
        APT_UPDATED=1
    fi
    DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -q --no-install-recommends "$@" </dev/null
}

# ensure_tools CMD...: installs the Debian package for every missing command.
ensure_tools() {
    local cmd pkgs=()
    for cmd in "$@"; do
        case $cmd in
            nginx)
                [ -n "$NGINX_BIN" ] && continue
                if command -v nginx >/dev/null 2>&1; then NGINX_BIN=$(command -v nginx); continue; fi
                if [ -x /usr/sbin/nginx ]; then NGINX_BIN=/usr/sbin/nginx; continue; fi
                pkgs+=(nginx) ;;
            taskset) command -v taskset >/dev/null 2>&1 || pkgs+=(util-linux) ;;
            *) command -v "$cmd" >/dev/null 2>&1 || pkgs+=("$cmd") ;;
        esac
    done
    if [ "${#pkgs[@]}" -gt 0 ]; then
        apt_install "${pkgs[@]}"
    fi
    if [ -z "$NGINX_BIN" ] && [[ " $* " == *" nginx "* ]]; then
        NGINX_BIN=$(command -v nginx 2>/dev/null || echo /usr/sbin/nginx)
        [ -x "$NGINX_BIN" ] || die "nginx is not installed and apt did not provide it"
    fi
}

raise_nofile() {
    local hard
    hard=$(ulimit -Hn)
    if [ "$hard" = "unlimited" ]; then
        ulimit -n 1048576 2>/dev/null || true
    else
        ulimit -n "$hard" 2>/dev/null || true
    fi
}

check_cpus() {
    local n
    n=$(nproc --all 2>/dev/null || nproc)
    if [ "$n" -lt 2 ] && [ "$SERVER_CPU" = "$CLIENT_CPU" ]; then
        :
    elif [ "$n" -lt 2 ]; then
        warn "only $n CPU: servers and client share CPU 0; ratios are less meaningful"
        SERVER_CPU=0
        CLIENT_CPU=0
    fi
}

# setup_tmp: the temp dir, world-readable so nginx can serve it whatever user it runs as.
setup_tmp() {
    BENCH_TMP=$(mktemp -d "${BENCH_TMPDIR:-${TMPDIR:-/tmp}}/sluice-bench.XXXXXX")
    chmod 755 "$BENCH_TMP"
    mkdir -p "$BENCH_TMP/www" "$BENCH_TMP/nginx" "$BENCH_TMP/sluice"
}

# make_docroot: the files every scenario uses, identical for both servers.
make_docroot() {
    local www="$BENCH_TMP/www"
    {
        printf '<!doctype html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        printf '<title>sluice benchmark page</title>\n</head>\n<body>\n'
        printf '<h1>Benchmark page</h1>\n'
        printf '<p>This page is the small-file case of the sluice and nginx comparison: a typical\n'
        printf 'dashboard-sized HTML document that fits in one packet with its response head.</p>\n'
        printf '<p>Both servers read it from the same directory and send it with the same type.</p>\n'
        printf '<p>%s</p>\n' "$(head -c 96 /dev/zero | tr '\0' 'x')"
        printf '</body>\n</html>\n'
    } > "$www/small.html"
    # pad or trim to exactly 600 bytes
    local size
    size=$(stat -c %s "$www/small.html")
    if [ "$size" -lt 600 ]; then
        head -c $((600 - size)) /dev/zero | tr '\0' ' ' >> "$www/small.html"
    else
        truncate -s 600 "$www/small.html"
    fi
    head -c 4096 /dev/urandom > "$www/4k.bin"
    head -c 1048576 /dev/urandom > "$www/1m.bin"
    if [ "${NEED_100M:-1}" = 1 ]; then
        head -c 104857600 /dev/urandom > "$www/100m.bin"
    fi
    chmod 755 "$www"
    chmod 644 "$www"/*
}

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# http_probe URL [curl args...]: prints "CODE BYTES" (000 when nothing answered).
http_probe() {
    local url=$1; shift
    curl -s -o /dev/null --max-time 30 -w '%{http_code} %{size_download}' "$@" "$url" 2>/dev/null || true
}

# stop_pid PID: TERM, up to 5 s to go, then KILL; reaps it.
stop_pid() {
    local pid=$1
    kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null || true; return 0; }
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 50); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
        kill -KILL "$pid" 2>/dev/null || true
    fi
    wait "$pid" 2>/dev/null || true
}

cleanup() {
    local pid
    trap - EXIT INT TERM HUP
    for pid in "${STARTED_PIDS[@]+"${STARTED_PIDS[@]}"}"; do
        stop_pid "$pid"
    done
    if [ -n "$BENCH_TMP" ] && [ -d "$BENCH_TMP" ]; then
        if [ "${KEEP_TMP:-0}" = 1 ]; then
            say "kept $BENCH_TMP"
        else
            rm -rf "$BENCH_TMP"
        fi
    fi
}

install_traps() {
    trap cleanup EXIT
    trap 'echo "interrupted" >&2; exit 130' INT
    trap 'exit 143' TERM
    trap 'exit 129' HUP
}

# start_nginx HEADER_TIMEOUT: renders the config, starts nginx pinned, waits until it serves.
start_nginx() {
    local header_timeout=${1:-60s}
    local prefix="$BENCH_TMP/nginx" conns
    conns=$(ulimit -n)
    [ "$conns" = unlimited ] && conns=65536
    [ "$conns" -gt 65536 ] && conns=65536
    NGINX_PORT=$(free_port)
    sed -e "s|@PREFIX@|$prefix|g" -e "s|@ROOT@|$BENCH_TMP/www|g" -e "s|@PORT@|$NGINX_PORT|g" \
        -e "s|@WORKER_CONNECTIONS@|$conns|g" -e "s|@HEADER_TIMEOUT@|$header_timeout|g" \
        "$WRK_DIR/nginx.conf.in" > "$prefix/nginx.conf"
    "$NGINX_BIN" -t -q -p "$prefix/" -e "$prefix/nginx-error.log" -c "$prefix/nginx.conf" \
        || { cat "$prefix/nginx-error.log" >&2 || true; die "nginx rejected $prefix/nginx.conf"; }
    taskset -c "$SERVER_CPU" "$NGINX_BIN" -p "$prefix/" -e "$prefix/nginx-error.log" \
        -c "$prefix/nginx.conf" </dev/null >"$prefix/stdout.log" 2>&1 &
    NGINX_PID=$!
    STARTED_PIDS+=("$NGINX_PID")
    for _ in $(seq 100); do
        if ! kill -0 "$NGINX_PID" 2>/dev/null; then
            cat "$prefix/nginx-error.log" "$prefix/stdout.log" >&2 2>/dev/null || true
            die "nginx exited at startup"
        fi
        [ "$(http_probe "http://127.0.0.1:$NGINX_PORT/small.html")" = "200 600" ] && break
        sleep 0.1
    done
    [ "$(http_probe "http://127.0.0.1:$NGINX_PORT/small.html")" = "200 600" ] \
        || die "nginx did not serve /small.html within 10 s (see $prefix/nginx-error.log)"
    say "nginx  $("$NGINX_BIN" -v 2>&1 | sed 's/^nginx version: //'), pid $NGINX_PID, CPU $SERVER_CPU, http://127.0.0.1:$NGINX_PORT/"
}

# start_peer NAME: starts h2o or lighttpd (one thread or process, pinned to SERVER_CPU) on the
# docroot; sets PEER_PORT and PEER_PID, and adds the pid to STARTED_PIDS. A server that does not
# start is reported and left out (PEER_PID empty) rather than ending the run.
start_peer() {
    local name=$1
    local prefix="$BENCH_TMP/$name" conns user=""
    mkdir -p "$prefix"
    conns=$(ulimit -n)
    [ "$conns" = unlimited ] && conns=65536
    [ "$conns" -gt 65536 ] && conns=65536
    PEER_PORT=$(free_port)
    PEER_PID=""
    # Run as root, both drop to `nobody`, which must be able to read the docroot and write its
    # pid file and error log.
    chmod a+rwx "$prefix"
    chmod a+rx "$BENCH_TMP" "$BENCH_TMP/www"
    find "$BENCH_TMP/www" -type d -exec chmod a+rx {} + -o -type f -exec chmod a+r {} +
    case $name in
        h2o)
            [ "$(id -u)" = 0 ] && user="user: nobody"
            sed -e "s|@PREFIX@|$prefix|g" -e "s|@ROOT@|$BENCH_TMP/www|g" -e "s|@PORT@|$PEER_PORT|g" \
                -e "s|@MAX_CONNECTIONS@|$(( conns / 2 ))|g" -e "s|@USER@|$user|g" \
                "$WRK_DIR/h2o.conf.in" > "$prefix/h2o.conf"
            taskset -c "$SERVER_CPU" h2o -c "$prefix/h2o.conf" </dev/null >"$prefix/stdout.log" 2>&1 &
            ;;
        lighttpd)
            [ "$(id -u)" = 0 ] && user='server.username = "nobody"'
            sed -e "s|@PREFIX@|$prefix|g" -e "s|@ROOT@|$BENCH_TMP/www|g" -e "s|@PORT@|$PEER_PORT|g" \
                -e "s|@MAX_FDS@|$conns|g" -e "s|@MAX_CONNECTIONS@|$(( conns / 2 ))|g" \
                -e "s|@USER@|$user|g" "$WRK_DIR/lighttpd.conf.in" > "$prefix/lighttpd.conf"
            taskset -c "$SERVER_CPU" lighttpd -D -f "$prefix/lighttpd.conf" </dev/null \
                >"$prefix/stdout.log" 2>&1 &
            ;;
        *) die "internal: unknown peer $name" ;;
    esac
    local pid=$!
    STARTED_PIDS+=("$pid")
    for _ in $(seq 100); do
        kill -0 "$pid" 2>/dev/null || break
        [ "$(http_probe "http://127.0.0.1:$PEER_PORT/small.html")" = "200 600" ] && { PEER_PID=$pid; break; }
        sleep 0.1
    done
    if [ -z "$PEER_PID" ]; then
        warn "$name did not serve /small.html; left out (see $prefix)"
        cat "$prefix/stdout.log" >&2 2>/dev/null || true
        return 1
    fi
    say "$name pid $PEER_PID, CPU $SERVER_CPU, http://127.0.0.1:$PEER_PORT/"
}

# build_sluice: cargo build --release unless SLUICE_BIN is given. A failed build is reported loudly
# and turns the sluice side off (SLUICE_SKIP) rather than ending the run.
build_sluice() {
    if [ -n "${SLUICE_BIN:-}" ]; then
        [ -x "$SLUICE_BIN" ] || { SLUICE_SKIP="SLUICE_BIN=$SLUICE_BIN is not an executable"; return; }
        say "using SLUICE_BIN=$SLUICE_BIN (not building)"
        return
    fi
    say "building sluice: cargo build --release"
    local log="$BENCH_TMP/cargo-build.log"
    if (cd "$REPO_ROOT" && cargo build --release) </dev/null >"$log" 2>&1; then
        SLUICE_BIN="${CARGO_TARGET_DIR:-$REPO_ROOT/target}/release/sluice"
        say "built $SLUICE_BIN"
    else
        tail -n 40 "$log" >&2
        banner "SLUICE DID NOT BUILD (cargo build --release failed, last lines above)" \
               "Its side of every measurement is skipped; nginx still runs."
        SLUICE_SKIP="sluice did not build"
        return
    fi
    [ -x "$SLUICE_BIN" ] || SLUICE_SKIP="no binary at $SLUICE_BIN after the build"
}

# start_sluice EXTRA_ARGS...: starts sluice pinned, in the temp dir (so ./data lands there), and
# waits for "listening on http://HOST:PORT" on its stdout. A start failure turns the sluice side
# off with the reason.
start_sluice() {
    [ -n "$SLUICE_SKIP" ] && return
    local dir="$BENCH_TMP/sluice" port
    port=$(free_port)
    (
        cd "$dir" || exit 1
        export RUST_LOG="${SLUICE_RUST_LOG:-error}"
        exec taskset -c "$SERVER_CPU" "$SLUICE_BIN" -l "127.0.0.1:$port" --allow-any "$@" "$BENCH_TMP/www"
    ) </dev/null >"$dir/stdout.log" 2>"$dir/stderr.log" &
    SLUICE_PID=$!
    STARTED_PIDS+=("$SLUICE_PID")
    local line=""
    for _ in $(seq 100); do
        line=$(grep -m1 -E '^listening on http://[^ ]+:[0-9]+$' "$dir/stdout.log" 2>/dev/null || true)
        [ -n "$line" ] && break
        kill -0 "$SLUICE_PID" 2>/dev/null || break
        sleep 0.1
    done
    if [ -z "$line" ]; then
        local why="no 'listening on http://HOST:PORT' line on stdout within 10 s"
        if ! kill -0 "$SLUICE_PID" 2>/dev/null; then
            local rc=0
            wait "$SLUICE_PID" || rc=$?
            why="it exited with status $rc before printing 'listening on http://HOST:PORT'"
        fi
        {
            echo "sluice failed to start: $why"
            echo "  command: $SLUICE_BIN -l 127.0.0.1:$port --allow-any $* $BENCH_TMP/www"
            echo "  stdout:"; sed 's/^/    /' "$dir/stdout.log" | tail -n 20
            echo "  stderr:"; sed 's/^/    /' "$dir/stderr.log" | tail -n 20
        } >&2
        stop_pid "$SLUICE_PID"
        SLUICE_PID=""
        SLUICE_SKIP="sluice did not start ($why)"
        banner "SLUICE DID NOT START; its side is skipped"
        return
    fi
    SLUICE_PORT=${line##*:}
    if [ "$SLUICE_PORT" != "$port" ]; then
        warn "sluice was asked for port $port but reports $SLUICE_PORT; using $SLUICE_PORT"
    fi
    say "sluice $SLUICE_BIN, pid $SLUICE_PID, CPU $SERVER_CPU, http://127.0.0.1:$SLUICE_PORT/"
}

# alive NAME: true while the server we started is still running.
alive() {
    local pid
    if [ "$1" = nginx ]; then pid=$NGINX_PID; else pid=$SLUICE_PID; fi
    [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null
}

vm_rss_kib() {
    awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"
}

fd_count() {
    find "/proc/$1/fd" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l
}

host_description() {
    local cpu
    cpu=$(awk -F': *' '/^model name/ { print $2; exit }' /proc/cpuinfo 2>/dev/null || true)
    printf '%s, %s CPUs, Linux %s' "${cpu:-unknown CPU}" "$(nproc --all 2>/dev/null || nproc)" "$(uname -r)"
}

git_description() {
    (cd "$REPO_ROOT" && git rev-parse --short HEAD 2>/dev/null && git status --porcelain 2>/dev/null | grep -q . && echo "(with uncommitted changes)") | paste -sd' ' || true
}
