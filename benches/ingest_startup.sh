#!/usr/bin/env bash
# Startup time over an existing data directory: the "Device ingestion" section of benches/README.md.
#
#   benches/ingest_startup.sh [small|big] [RUNS]
#
# small: 100,000 device files of 5 records (1,035 bytes) each; big: one 1 GiB device file of
# 207-byte records. Builds the directory once (in BENCH_TMPDIR or /tmp, reused across runs), then
# starts sluice RUNS (3) times with that --data, pinned to SERVER_CPU (0), and prints for each run
# the time from exec to its "listening on" line and, where sluice counts records in the
# background (a thread named sluice-count), the time until that thread is gone. Page cache warm
# (the files were just written or read), or with COLD=1 the data files' pages are evicted before
# each run (posix_fadvise DONTNEED on these files only; inodes stay cached). Nothing here drops
# the machine's caches, which would slow its other users.
set -euo pipefail

KIND=${1:-small}
RUNS=${2:-3}
SERVER_CPU=${SERVER_CPU:-0}
REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BIN=${SLUICE_BIN:-}
if [ -z "$BIN" ]; then
    (cd "$REPO_ROOT" && cargo build --release)
    BIN="${CARGO_TARGET_DIR:-$REPO_ROOT/target}/release/sluice"
fi
DATA="${BENCH_TMPDIR:-/tmp}/sluice-startup-$KIND"
RECORD=$(printf '%0206d\n' 0)

if [ ! -e "$DATA/.complete" ]; then
    rm -rf "$DATA"
    mkdir -p "$DATA"
    case $KIND in
        small)
            python3 - "$DATA" "$RECORD" <<'PY'
import os, sys
data, record = sys.argv[1], sys.argv[2] + "\n"
body = (record * 5).encode()
for n in range(100_000):
    with open(os.path.join(data, f"d{n}"), "wb") as f:
        f.write(body)
PY
            ;;
        big)
            python3 - "$DATA" "$RECORD" <<'PY'
import os, sys
data, record = sys.argv[1], (sys.argv[2] + "\n").encode()
block = record * 5000
with open(os.path.join(data, "big"), "wb") as f:
    while f.tell() < 1 << 30:
        f.write(block)
PY
            ;;
        *) echo "usage: $0 [small|big] [RUNS]" >&2; exit 2 ;;
    esac
    touch "$DATA/.complete"
fi
echo "data: $DATA ($(du -sh --apparent-size "$DATA" | cut -f1), $(find "$DATA" -type f -not -name .complete | wc -l) files)"
echo "load: $(cut -d' ' -f1-3 /proc/loadavg)"

now_ms() { date +%s%3N; }
evict() {
    python3 - "$DATA" <<'PY'
import os, sys
for entry in os.scandir(sys.argv[1]):
    if entry.is_file():
        fd = os.open(entry.path, os.O_RDONLY)
        os.fdatasync(fd)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        os.close(fd)
PY
}

for run in $(seq "$RUNS"); do
    [ "${COLD:-0}" = 1 ] && evict
    out=$(mktemp)
    started=$(now_ms)
    RUST_LOG=error taskset -c "$SERVER_CPU" "$BIN" -l 127.0.0.1:0 --data "$DATA" "$DATA" >"$out" 2>&1 &
    pid=$!
    until grep -q '^listening on' "$out"; do
        kill -0 "$pid" 2>/dev/null || { cat "$out" >&2; echo "sluice exited" >&2; exit 1; }
        sleep 0.01
    done
    listening=$(now_ms)
    counted=""
    while grep -qs '^sluice-count$' /proc/"$pid"/task/*/comm; do
        sleep 0.05
    done
    counted=$(now_ms)
    kill -TERM "$pid"
    wait "$pid" || true
    rm -f "$out"
    printf 'run %s: listening after %d ms; records counted after %d ms\n' \
        "$run" $((listening - started)) $((counted - started))
done
