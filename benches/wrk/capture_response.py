#!/usr/bin/env python3
"""capture_response.py PORT PATH OUT: writes the exact bytes (head and body) that the server on
127.0.0.1:PORT answers to one GET PATH, for benches/wrk/canned.c to replay. Needs a
Content-Length response."""
import socket
import sys


def main() -> None:
    port, path, out = int(sys.argv[1]), sys.argv[2], sys.argv[3]
    with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
        s.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = s.recv(65536)
            if not chunk:
                sys.exit(f"capture_response: connection closed inside the head of {path}")
            data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        lengths = [
            int(line.split(b":", 1)[1])
            for line in head.split(b"\r\n")[1:]
            if line.lower().startswith(b"content-length:")
        ]
        if len(lengths) != 1:
            sys.exit(f"capture_response: {path}: no single Content-Length")
        while len(body) < lengths[0]:
            chunk = s.recv(1 << 20)
            if not chunk:
                sys.exit(f"capture_response: connection closed inside the body of {path}")
            body += chunk
    with open(out, "wb") as f:
        f.write(head + b"\r\n\r\n" + body[: lengths[0]])


if __name__ == "__main__":
    main()
