#!/usr/bin/env python3
"""SSE fan-out: N live subscribers on one device while it receives R records/s.

    benches/sse_fanout.py [--subscribers 1000] [--rate 1000] [--duration 10] [--sample 50]

Starts sluice (release build, or SLUICE_BIN) pinned to CPU SERVER_CPU (default 0) with taskset,
and pins itself to CPU CLIENT_CPU (default 1). Opens N `GET /devices/bench/live` streams, then a
forked poster process POSTs R records per second to /devices/bench for D seconds over a few
keep-alive connections (pipelined when a response is late). Each record carries the poster's
CLOCK_MONOTONIC time in nanoseconds just before it was written to the socket:

    seq=<n> t=<ns> <padding to --record-bytes>

Every subscriber's stream is read; events are counted on all of them and parsed on every
(N / sample)-th one, whose receive time minus the embedded time is the delivery latency
(post to receipt, including the loop turn, group commit and the fan-out). The server's CPU is
read from /proc/PID/stat (utime + stime) over the posting window, the client's from
os.times(). A Markdown report is printed and written to bench-results/sse-fanout-<UTC>.md.

Only the Python 3 standard library is used (selectors, non-blocking sockets, os.fork).
"""

import argparse
import datetime
import os
import platform
import re
import resource
import selectors
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

DEVICE = "bench"
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def say(msg):
    print(f"[sse_fanout] {msg}", file=sys.stderr, flush=True)


def die(msg):
    say(f"error: {msg}")
    sys.exit(1)


def raise_fd_limit(need):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft >= need:
        return
    target = hard if hard != resource.RLIM_INFINITY else max(need, 1 << 16)
    resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    if resource.getrlimit(resource.RLIMIT_NOFILE)[0] < need:
        die(f"need {need} open files, the hard limit is {hard}")


def sluice_binary():
    if os.environ.get("SLUICE_BIN"):
        return os.path.abspath(os.environ["SLUICE_BIN"])
    say("cargo build --release")
    subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=REPO, check=True)
    return os.path.join(REPO, "target", "release", "sluice")


def cpu_ticks(pid):
    """utime + stime of a process, in clock ticks (fields 14 and 15 of /proc/PID/stat)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def schedstat(pid):
    """(on-CPU ns, waiting-for-a-CPU ns) of a process's main thread, from /proc/PID/schedstat."""
    try:
        with open(f"/proc/{pid}/schedstat") as f:
            run, wait = f.read().split()[:2]
        return int(run), int(wait)
    except (OSError, ValueError):
        return 0, 0


def vm_hwm_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


def http_get(port, path, timeout=10):
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(f"GET {path} HTTP/1.1\r\nHost: b\r\nConnection: close\r\n\r\n".encode())
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    return data.split(b"\r\n\r\n", 1)[1].decode()


def metric(port, name):
    for line in http_get(port, "/metrics").splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return float("nan")


def loadavg():
    with open("/proc/loadavg") as f:
        return f.read().split()[0]


def percentile(sorted_values, p):
    if not sorted_values:
        return float("nan")
    k = min(len(sorted_values) - 1, max(0, round(p / 100 * (len(sorted_values) - 1))))
    return sorted_values[k]


# ---------------------------------------------------------------------------------------------
# The poster (a forked child)
# ---------------------------------------------------------------------------------------------


def poster(port, rate, duration, connections, record_bytes, start_at):
    """POSTs `rate` records/s for `duration` s; exits with a status line on stdout."""
    sel = selectors.DefaultSelector()
    conns = []
    for _ in range(connections):
        s = socket.create_connection(("127.0.0.1", port))
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        s.setblocking(False)
        c = {"sock": s, "out": b"", "in": b"", "waiting": 0}
        conns.append(c)
        sel.register(s, selectors.EVENT_READ, c)
    head = f"POST /devices/{DEVICE} HTTP/1.1\r\nHost: b\r\nContent-Length: ".encode()
    total = int(rate * duration)
    ok = bad = late = 0
    seq = 0
    while time.monotonic() < start_at:
        time.sleep(0.001)
    t0 = time.monotonic_ns()
    period = 1e9 / rate
    rr = 0
    while seq < total or any(c["waiting"] for c in conns):
        now = time.monotonic_ns()
        while seq < total and t0 + seq * period <= now:
            c = conns[rr % len(conns)]
            rr += 1
            if c["waiting"]:
                late += 1  # pipelined behind an unanswered request
            stamp = time.monotonic_ns()
            body = f"seq={seq} t={stamp} ".encode()
            body += b"x" * max(0, record_bytes - 1 - len(body)) + b"\n"
            c["out"] += head + str(len(body)).encode() + b"\r\n\r\n" + body
            c["waiting"] += 1
            seq += 1
            try:
                n = c["sock"].send(c["out"])
                c["out"] = c["out"][n:]
            except BlockingIOError:
                pass
        next_due = t0 + seq * period if seq < total else now + 50_000_000
        timeout = max(0.0, (next_due - time.monotonic_ns()) / 1e9)
        for key, _ in sel.select(timeout=min(timeout, 0.05)):
            c = key.data
            try:
                data = c["sock"].recv(65536)
            except BlockingIOError:
                continue
            if not data:
                die("poster: server closed a connection")
            c["in"] += data
            while True:
                end = c["in"].find(b"\r\n\r\n")
                if end < 0:
                    break
                resp_head = c["in"][:end]
                m = re.search(rb"\r\ncontent-length: *(\d+)", resp_head, re.I)
                blen = int(m.group(1)) if m else 0
                if len(c["in"]) < end + 4 + blen:
                    break
                if resp_head.startswith(b"HTTP/1.1 2"):
                    ok += 1
                else:
                    bad += 1
                c["in"] = c["in"][end + 4 + blen:]
                c["waiting"] -= 1
        for c in conns:
            if c["out"]:
                try:
                    n = c["sock"].send(c["out"])
                    c["out"] = c["out"][n:]
                except BlockingIOError:
                    pass
    t1 = time.monotonic_ns()
    print(f"POSTER ok={ok} bad={bad} pipelined={late} seconds={(t1 - t0) / 1e9:.3f}", flush=True)


# ---------------------------------------------------------------------------------------------
# The subscribers (this process)
# ---------------------------------------------------------------------------------------------


class Sub:
    __slots__ = ("sock", "sampled", "head_done", "buf", "events", "tail", "closed")

    def __init__(self, sock, sampled):
        self.sock = sock
        self.sampled = sampled
        self.head_done = False
        self.buf = b""
        self.events = 0
        self.tail = b""
        self.closed = False


def open_subscribers(port, n, sample_every, sel):
    subs = []
    req = (
        f"GET /devices/{DEVICE}/live HTTP/1.1\r\nHost: b\r\nAccept: text/event-stream\r\n\r\n"
    ).encode()
    for i in range(n):
        s = socket.create_connection(("127.0.0.1", port), timeout=10)
        s.sendall(req)
        s.setblocking(False)
        sub = Sub(s, i % sample_every == 0)
        subs.append(sub)
        sel.register(s, selectors.EVENT_READ, sub)
    return subs


def on_readable(sub, latencies, now_ns):
    try:
        data = sub.sock.recv(262144)
    except BlockingIOError:
        return
    except OSError:
        data = b""
    if not data:
        sub.closed = True
        return
    if not sub.head_done:
        sub.buf += data
        end = sub.buf.find(b"retry: 2000\n\n")
        if end < 0:
            return
        sub.head_done = True
        data = sub.buf[end + len(b"retry: 2000\n\n"):]
        sub.buf = b""
    if sub.sampled:
        sub.buf += data
        while True:
            end = sub.buf.find(b"\n\n")
            if end < 0:
                break
            event = sub.buf[:end]
            sub.buf = sub.buf[end + 2:]
            if event.startswith(b":"):
                continue
            sub.events += 1
            m = re.search(rb"\ndata: seq=\d+ t=(\d+) ", event)
            if m:
                latencies.append(now_ns - int(m.group(1)))
    else:
        # Count event ends, including one split across two reads.
        joined = sub.tail + data
        sub.events += joined.count(b"\n\n") - sub.tail.count(b"\n\n")
        sub.tail = joined[-1:]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--subscribers", type=int, default=1000)
    ap.add_argument("--rate", type=float, default=1000.0, help="records per second")
    ap.add_argument("--duration", type=float, default=10.0, help="seconds of posting")
    ap.add_argument("--sample", type=int, default=50, help="subscribers whose events are timed")
    ap.add_argument("--record-bytes", type=int, default=64)
    ap.add_argument("--connections", type=int, default=16, help="poster connections")
    ap.add_argument("--drain", type=float, default=3.0, help="seconds to wait for stragglers")
    args = ap.parse_args()

    server_cpu = os.environ.get("SERVER_CPU", "0")
    client_cpu = int(os.environ.get("CLIENT_CPU", "1"))
    if os.cpu_count() and os.cpu_count() < 2:
        say("warning: fewer than 2 CPUs; server and load generator share one")
    raise_fd_limit(args.subscribers + args.connections + 256)
    binary = sluice_binary()
    tmp = tempfile.mkdtemp(prefix="sse-fanout-")
    os.makedirs(os.path.join(tmp, "root"))
    # Heartbeats would be counted as events; the run is shorter than this interval.
    cmd = ["taskset", "-c", server_cpu, binary, "-l", "127.0.0.1:0",
           "--data", os.path.join(tmp, "data"), "--live-heartbeat", "3600",
           "--max-connections", str(args.subscribers + 1000),
           # Every subscriber comes from 127.0.0.1: lift the per-address cap.
           "--max-connections-per-peer", str(args.subscribers + 1000),
           os.path.join(tmp, "root")]
    env = dict(os.environ, RUST_LOG="error")
    server = subprocess.Popen(cmd, cwd=tmp, stdout=subprocess.PIPE, env=env, text=True)
    try:
        line = server.stdout.readline().strip()
        m = re.fullmatch(r"listening on http://127\.0\.0\.1:(\d+)", line)
        if not m:
            die(f"sluice did not start: {line!r}")
        port = int(m.group(1))
        os.sched_setaffinity(0, {client_cpu})

        sel = selectors.DefaultSelector()
        sample_every = max(1, args.subscribers // max(1, args.sample))
        t_open = time.monotonic()
        subs = open_subscribers(port, args.subscribers, sample_every, sel)
        latencies = []
        deadline = time.monotonic() + 30
        while not all(s.head_done for s in subs):
            if time.monotonic() > deadline:
                die("subscribers did not all get their stream head within 30 s")
            for key, _ in sel.select(timeout=0.1):
                on_readable(key.data, latencies, time.monotonic_ns())
        open_secs = time.monotonic() - t_open
        live = metric(port, "sluice_live_subscribers")
        say(f"{len(subs)} subscribers in {open_secs:.2f} s (server counts {live:.0f})")

        rfd, wfd = os.pipe()
        start_at = time.monotonic() + 0.5
        pid = os.fork()
        if pid == 0:
            os.close(rfd)
            sys.stdout = os.fdopen(wfd, "w")
            try:
                poster(port, args.rate, args.duration, args.connections, args.record_bytes,
                       start_at)
            finally:
                os._exit(0)
        os.close(wfd)
        poster_out = os.fdopen(rfd)
        sel.register(poster_out, selectors.EVENT_READ, None)

        clk = os.sysconf("SC_CLK_TCK")
        while time.monotonic() < start_at:
            time.sleep(0.001)
        ticks0, wall0, times0 = cpu_ticks(server.pid), time.monotonic(), os.times()
        load0 = loadavg()
        sched0 = schedstat(server.pid)
        poster_line = None
        ticks1 = wall1 = None
        drain_until = None
        while True:
            now = time.monotonic()
            if drain_until is not None and now >= drain_until:
                break
            # Timed subscribers first, so the client's own pass over a thousand sockets adds
            # as little as possible to the latency it measures.
            ready = sorted(sel.select(timeout=0.05),
                           key=lambda kv: not (kv[0].data is not None and kv[0].data.sampled))
            for key, _ in ready:
                if key.data is None:
                    text = poster_out.readline()
                    if text:
                        poster_line = text.strip()
                    sel.unregister(poster_out)
                    ticks1, wall1 = cpu_ticks(server.pid), time.monotonic()
                    sched1 = schedstat(server.pid)
                    drain_until = wall1 + args.drain
                    continue
                on_readable(key.data, latencies, time.monotonic_ns())
        times1 = os.times()
        load1 = loadavg()
        os.waitpid(pid, 0)
        if not poster_line:
            die("the poster reported nothing")

        pm = dict(kv.split("=") for kv in poster_line.split()[1:])
        posted = int(pm["ok"])
        expected = posted * len(subs)
        received = sum(s.events for s in subs)
        closed = sum(1 for s in subs if s.closed)
        dropped = metric(port, "sluice_live_dropped_total")
        batches = metric(port, "sluice_commit_batch_records_count")
        server_cpu_secs = (ticks1 - ticks0) / clk
        server_cpu_pct = 100.0 * server_cpu_secs / (wall1 - wall0)
        wait_pct = 100.0 * (sched1[1] - sched0[1]) / 1e9 / (wall1 - wall0)
        delivered_in_window = max(1, received)
        us_per_event = 1e6 * server_cpu_secs / delivered_in_window
        client_secs = (times1.user + times1.system + times1.children_user
                       + times1.children_system) - (times0.user + times0.system
                                                    + times0.children_user
                                                    + times0.children_system)
        client_cpu_pct = 100.0 * client_secs / (time.monotonic() - wall0)
        lat = sorted(x / 1e6 for x in latencies)
        hwm = vm_hwm_kib(server.pid)

        try:
            commit = subprocess.run(["git", "-C", REPO, "rev-parse", "--short", "HEAD"],
                                    capture_output=True, text=True).stdout.strip()
        except OSError:
            commit = "?"
        cpu_model = ""
        try:
            with open("/proc/cpuinfo") as f:
                cpu_model = next((l.split(":", 1)[1].strip() for l in f
                                  if l.startswith("model name")), "")
        except OSError:
            pass
        when = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        report = f"""# SSE fan-out, {when}

sluice {commit} on {platform.node()} ({os.cpu_count()} CPUs, {cpu_model}); server on CPU {server_cpu},
load generator on CPU {client_cpu}. Load average {load0} at the start, {load1} at the end
(other work on the machine competes for both CPUs).

| parameter | value |
|---|---|
| subscribers (one device) | {len(subs)} (opened in {open_secs:.2f} s) |
| records posted | {posted} (target {args.rate:g}/s, achieved {posted / float(pm['seconds']):.0f}/s over {float(pm['seconds']):.2f} s), {args.record_bytes} B each, {args.connections} connections ({pm['pipelined']} pipelined, {pm['bad']} non-2xx) |
| device writes (group commits) | {batches:.0f} |
| events delivered | {received} of {expected} ({100.0 * received / max(1, expected):.2f}%) |
| subscribers closed / dropped by the server | {closed} / {dropped:.0f} |
| latency samples | {len(lat)} (every {sample_every}th subscriber) |

| delivery latency (post to receipt) | ms |
|---|---:|
| p50 | {percentile(lat, 50):.2f} |
| p90 | {percentile(lat, 90):.2f} |
| p99 | {percentile(lat, 99):.2f} |
| max | {(lat[-1] if lat else float('nan')):.2f} |

| CPU over the posting window | |
|---|---:|
| sluice (one core = 100%) | {server_cpu_pct:.1f}% |
| sluice runnable but waiting for its CPU | {wait_pct:.1f}% |
| sluice CPU per delivered event | {us_per_event:.3f} µs |
| load generator (poster + subscribers) | {client_cpu_pct:.1f}% |
| sluice peak RSS | {hwm / 1024:.1f} MiB |
"""
        print(report)
        out_dir = os.path.join(REPO, "bench-results")
        os.makedirs(out_dir, exist_ok=True)
        path = os.path.join(out_dir, f"sse-fanout-{when.replace(':', '')}.md")
        with open(path, "w") as f:
            f.write(report)
        say(f"report written to {path}")
        if client_cpu_pct > 90:
            say("warning: the load generator was CPU-bound; latencies include its own delay")
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
