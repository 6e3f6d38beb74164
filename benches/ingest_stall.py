#!/usr/bin/env python3
"""How long the reactor goes without polling while devices POST: the stall probe of the
"Device ingestion" section of benches/README.md.

    benches/ingest_stall.py [--devices N] [--duration SECS] [--strace] [--bin PATH] [-- SLUICE_ARGS...]

Starts sluice (release build, or --bin) on CPU SERVER_CPU (0) in a temp dir, with `--ack buffer`
unless SLUICE_ARGS say otherwise, and runs wrk (CPU CLIENT_CPU, 1) with benches/wrk/post_many.lua
cycling over --devices (100000) device ids at 64 connections for --duration (8) s. Meanwhile a
probe GETs a 600-byte static file every 50 ms on its own keep-alive connection and reports the
slowest answer.

With --strace, sluice runs under `strace -f --seccomp-bpf -tt -T -e trace=epoll_wait,openat` and
the probe also reports the longest time the reactor thread spent between two `epoll_wait` calls
(from the return of one to the start of the next), with the number of `openat` calls in that gap.
strace slows every traced syscall, so those gaps are longer than the untraced ones; compare
before/after under the same tracing.
"""
import argparse
import http.client
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

BENCH_DIR = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(BENCH_DIR)
SERVER_CPU = os.environ.get("SERVER_CPU", "0")
CLIENT_CPU = os.environ.get("CLIENT_CPU", "1")
PROBE_EVERY = 0.05

LINE = re.compile(r"^(\d+)\s+(\d+):(\d+):(\d+\.\d+) (.*)$")


def seconds(h, m, s):
    return int(h) * 3600 + int(m) * 60 + float(s)


def longest_gap(trace_path):
    """(gap seconds, openat calls in it, epoll_wait calls) on the thread that calls epoll_wait."""
    by_tid = {}
    with open(trace_path, errors="replace") as f:
        for raw in f:
            m = LINE.match(raw)
            if not m:
                continue
            tid, t, call = m.group(1), seconds(m.group(2), m.group(3), m.group(4)), m.group(5)
            by_tid.setdefault(tid, []).append((t, call))
    best = (0.0, 0, 0)
    for events in by_tid.values():
        if not any(c.startswith("epoll_wait(") for _, c in events):
            continue
        waits = 0
        last_end = None
        opens = 0
        for t, call in events:
            if call.startswith("epoll_wait("):
                waits += 1
                if last_end is not None and t - last_end > best[0]:
                    best = (t - last_end, opens, 0)
                opens = 0
                if "<unfinished ...>" in call:
                    last_end = None
                else:
                    dur = re.search(r"<(\d+\.\d+)>\s*$", call)
                    last_end = t + (float(dur.group(1)) if dur else 0.0)
            elif call.startswith("<... epoll_wait resumed>"):
                last_end = t
                opens = 0
            elif "openat(" in call:
                opens += 1
        best = (best[0], best[1], waits)
    return best


def probe(port, stop, slowest):
    while not stop.is_set():
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
            while not stop.is_set():
                started = time.monotonic()
                conn.request("GET", "/small.html")
                resp = conn.getresponse()
                resp.read()
                took = time.monotonic() - started
                slowest.append(took)
                time.sleep(PROBE_EVERY)
        except (OSError, http.client.HTTPException):
            time.sleep(PROBE_EVERY)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--devices", type=int, default=100000)
    ap.add_argument("--duration", type=int, default=8)
    ap.add_argument("--strace", action="store_true")
    ap.add_argument("--bin", default=os.environ.get("SLUICE_BIN"))
    ap.add_argument("sluice_args", nargs="*")
    args = ap.parse_args()
    sluice_args = args.sluice_args or ["--ack", "buffer"]

    binary = args.bin
    if not binary:
        subprocess.run(["cargo", "build", "--release"], cwd=REPO, check=True)
        binary = os.path.join(os.environ.get("CARGO_TARGET_DIR", os.path.join(REPO, "target")),
                              "release", "sluice")
    tmp = tempfile.mkdtemp(prefix="sluice-stall.")
    try:
        www = os.path.join(tmp, "www")
        os.mkdir(www)
        with open(os.path.join(www, "small.html"), "wb") as f:
            f.write(b"x" * 600)
        trace = os.path.join(tmp, "strace.txt")
        cmd = ["taskset", "-c", SERVER_CPU, binary, "-l", "127.0.0.1:0", "--allow-any",
               "--data", os.path.join(tmp, "data"), *sluice_args, www]
        if args.strace:
            cmd = ["strace", "-f", "--seccomp-bpf", "-tt", "-T", "-e", "trace=epoll_wait,openat",
                   "-o", trace, *cmd]
        env = dict(os.environ, RUST_LOG="error")
        server = subprocess.Popen(cmd, stdout=subprocess.PIPE, env=env, text=True)
        line = server.stdout.readline()
        m = re.match(r"listening on http://127\.0\.0\.1:(\d+)", line)
        if not m:
            sys.exit(f"sluice did not start: {line!r}")
        port = int(m.group(1))

        lua = os.path.join(tmp, "post_many.lua")
        shutil.copy(os.path.join(BENCH_DIR, "wrk", "post_many.lua"), lua)
        os.sched_setaffinity(0, {int(CLIENT_CPU)})
        stop = threading.Event()
        times = []
        prober = threading.Thread(target=probe, args=(port, stop, times), daemon=True)
        prober.start()
        wrk = subprocess.run(
            ["taskset", "-c", CLIENT_CPU, "wrk", "-t1", "-c64", f"-d{args.duration}s",
             "--timeout", "10s", "-s", lua, f"http://127.0.0.1:{port}/devices/d0"],
            env=dict(os.environ, POST_DEVICES=str(args.devices)), capture_output=True, text=True)
        stop.set()
        prober.join(timeout=70)
        rps = re.search(r"Requests/sec:\s+([\d.]+)", wrk.stdout)
        load = open("/proc/loadavg").read().split()[:3]
        sluice_pid = server.pid
        if args.strace:
            # strace's child is sluice: signal it, strace follows it out.
            children = open(f"/proc/{server.pid}/task/{server.pid}/children").read().split()
            sluice_pid = int(children[0]) if children else server.pid
        os.kill(sluice_pid, signal.SIGTERM)
        server.wait(timeout=120)
        times.sort()
        print(f"sluice {' '.join(sluice_args)}, {args.devices} devices, {args.duration} s, "
              f"load {' '.join(load)}")
        print(f"  wrk: {rps.group(1) if rps else '?'} req/s")
        if times:
            p99 = times[min(len(times) - 1, int(len(times) * 0.99))]
            print(f"  probe GET: {len(times)} answers, slowest {times[-1] * 1000:.0f} ms, "
                  f"p99 {p99 * 1000:.0f} ms")
        if args.strace:
            gap, opens, waits = longest_gap(trace)
            print(f"  strace: {waits} epoll_wait calls; longest gap without one "
                  f"{gap * 1000:.0f} ms ({opens} openat in it)")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
