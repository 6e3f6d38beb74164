#!/usr/bin/env python3
"""Resident memory of sluice while many slow bodies are half sent (issue 15, --max-body-memory).

Opens CONNS connections (default 1,000); each sends a POST head declaring a 1,000,000-byte body
and then 600,000 bytes of it, and stops there. Prints sluice's VmRSS once every connection has
sent its part (or been answered), and how many got 503 (--max-body-memory) or other answers.

    SLUICE_BIN=target/release/sluice python3 benches/body_memory.py [extra sluice flags]
"""
import os, re, select, socket, subprocess, sys, tempfile, time

BIN = os.environ.get("SLUICE_BIN", "target/release/sluice")
CONNS = int(os.environ.get("CONNS", "1000"))
DECLARED, SENT = 1_000_000, 600_000


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        return int(re.search(r"VmRSS:\s+(\d+)", f.read()).group(1))


def main():
    root, data = tempfile.mkdtemp(), tempfile.mkdtemp()
    proc = subprocess.Popen(
        [BIN, "-l", "127.0.0.1:0", "--data", data, *sys.argv[1:], root],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    port = int(proc.stdout.readline().strip().rsplit(":", 1)[1])
    idle = rss_kib(proc.pid)
    socks, statuses = [], {}
    chunk = b"x" * SENT
    try:
        for i in range(CONNS):
            s = socket.create_connection(("127.0.0.1", port))
            s.sendall(f"POST /devices/slow{i} HTTP/1.1\r\nHost: bench\r\n"
                      f"Content-Length: {DECLARED}\r\n\r\n".encode())
            s.setblocking(False)
            socks.append([s, 0])
        deadline = time.time() + 120
        while time.time() < deadline:
            pending = [p for p in socks if p[1] < SENT and p[0] is not None]
            if not pending:
                break
            _, writable, _ = select.select([], [p[0] for p in pending], [], 1)
            for p in pending:
                if p[0] not in writable:
                    continue
                try:
                    p[1] += p[0].send(chunk[p[1]:p[1] + 65536])
                except (BlockingIOError, InterruptedError):
                    pass
                except OSError:
                    answer = b""
                    try:
                        answer = p[0].recv(100)
                    except OSError:
                        pass
                    code = answer[9:12].decode() or "reset"
                    statuses[code] = statuses.get(code, 0) + 1
                    p[0].close()
                    p[0] = None
        time.sleep(1)
        for p in socks:
            if p[0] is None:
                continue
            try:
                answer = p[0].recv(100)
                if answer:
                    code = answer[9:12].decode()
                    statuses[code] = statuses.get(code, 0) + 1
                    continue
            except (BlockingIOError, OSError):
                pass
            statuses["waiting"] = statuses.get("waiting", 0) + 1
        held = rss_kib(proc.pid)
        print(f"{CONNS} connections, {SENT} of {DECLARED} body bytes each: sluice VmRSS "
              f"{held / 1024:.1f} MiB (idle {idle / 1024:.1f} MiB); answers: {statuses}")
    finally:
        proc.kill()


if __name__ == "__main__":
    main()
