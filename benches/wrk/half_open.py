#!/usr/bin/env python3
"""Hold COUNT connections to HOST:PORT, each with a request head that never ends.

Every connection sends b"GET / HTTP/1.1\\r\\nHost: x\\r\\n" and nothing more, so the server must
keep it open, waiting for the blank line. Used by benches/idle_memory.sh.

Prints "READY connected=N failed=M seconds=S" once every connection is open, then waits for
SIGTERM or SIGINT. On that signal it reports how the connections fared while held
("DONE open=N answered=A closed=C": answered = the server sent bytes, e.g. a 408; closed = EOF or
reset) and closes them all.
"""

import argparse
import errno
import resource
import select
import signal
import socket
import sys
import time

HEAD = b"GET / HTTP/1.1\r\nHost: x\r\n"


def raise_fd_limit(need):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft >= need:
        return
    target = hard if hard != resource.RLIM_INFINITY else max(need, 1 << 20)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    except (ValueError, OSError) as e:
        sys.exit(f"half_open: cannot raise the open-file limit to {need}: {e}")
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < need:
        sys.exit(f"half_open: need {need} file descriptors, the hard limit allows {soft}")


def classify(socks):
    """Returns (open, answered, closed) without blocking."""
    poller = select.poll()
    by_fd = {}
    for s in socks:
        poller.register(s.fileno(), select.POLLIN | select.POLLERR | select.POLLHUP)
        by_fd[s.fileno()] = s
    answered = closed = 0
    for fd, _events in poller.poll(0):
        s = by_fd[fd]
        try:
            data = s.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT)
        except BlockingIOError:
            continue
        except OSError:
            closed += 1
            continue
        if data:
            answered += 1
        else:
            closed += 1
    return len(socks) - answered - closed, answered, closed


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("host")
    ap.add_argument("port", type=int)
    ap.add_argument("count", type=int)
    ap.add_argument("--connect-timeout", type=float, default=10.0)
    args = ap.parse_args()

    raise_fd_limit(args.count + 64)
    # Held until we are told to stop; sigwait below picks the signal up.
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM, signal.SIGINT})

    socks = []
    failed = 0
    first_error = None
    t0 = time.monotonic()
    for _ in range(args.count):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.settimeout(args.connect_timeout)
        try:
            s.connect((args.host, args.port))
            s.sendall(HEAD)
        except OSError as e:
            failed += 1
            if first_error is None:
                first_error = e.strerror or errno.errorcode.get(e.errno, str(e))
            s.close()
            continue
        socks.append(s)
    took = time.monotonic() - t0
    line = f"READY connected={len(socks)} failed={failed} seconds={took:.2f}"
    if first_error:
        line += f" first_error={first_error.replace(' ', '_')}"
    print(line, flush=True)

    signal.sigwait({signal.SIGTERM, signal.SIGINT})
    still_open, answered, closed = classify(socks)
    print(f"DONE open={still_open} answered={answered} closed={closed}", flush=True)
    for s in socks:
        s.close()


if __name__ == "__main__":
    main()
