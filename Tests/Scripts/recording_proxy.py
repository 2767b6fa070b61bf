#!/usr/bin/env python3
"""A tiny HTTP proxy on loopback for tests: it records the first line of every request it
receives (one line per request, appended to LOG) and prints its port on stdout.

Plain proxy requests ("POST http://host/path HTTP/1.1") are refused with 403: a client that
sends one has already handed the proxy its request, body and all. CONNECT requests are refused
with 403 too, unless --tunnel-to PORT is given: then the tunnel goes to 127.0.0.1:PORT, whatever
host was asked for, so that a client can complete TLS with a server on loopback through it.

usage: recording_proxy.py LOG [--tunnel-to PORT]
"""
import socket
import sys
import threading


def pipe(source, target):
    try:
        while True:
            data = source.recv(65536)
            if not data:
                break
            target.sendall(data)
    except OSError:
        pass
    finally:
        for s in (source, target):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


def serve(connection, log, tunnel_port, lock):
    head = b""
    while b"\r\n\r\n" not in head and len(head) < 65536:
        chunk = connection.recv(4096)
        if not chunk:
            break
        head += chunk
    first = head.split(b"\r\n", 1)[0].decode("latin-1")
    with lock, open(log, "a") as f:
        f.write(first + "\n")
    if first.startswith("CONNECT ") and tunnel_port:
        upstream = socket.create_connection(("127.0.0.1", tunnel_port))
        connection.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
        rest = head.split(b"\r\n\r\n", 1)[1]
        if rest:
            upstream.sendall(rest)
        threading.Thread(target=pipe, args=(upstream, connection), daemon=True).start()
        pipe(connection, upstream)
        return
    connection.sendall(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
    connection.close()


def main():
    log = sys.argv[1]
    tunnel_port = int(sys.argv[3]) if len(sys.argv) > 3 and sys.argv[2] == "--tunnel-to" else None
    open(log, "a").close()
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    print(listener.getsockname()[1], flush=True)
    lock = threading.Lock()
    while True:
        connection, _ = listener.accept()
        threading.Thread(target=serve, args=(connection, log, tunnel_port, lock), daemon=True).start()


if __name__ == "__main__":
    main()
