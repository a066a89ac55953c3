#!/usr/bin/env python3
"""tcp-baseline.py - the baseline the scatter benchmark compares against:
every image sent whole, by plain TCP, to its target, all in parallel.

  tcp-baseline.py recv PORT OUTDIR COUNT     accept COUNT images, write them
  tcp-baseline.py send PLAN.json HOSTS.json IMAGE...
     PLAN.json: `vmscatter plan --json` (its "assignment"); HOSTS.json:
     {"target name": "ip:port", ...}. Image names are file names minus .img.
A stream is: u16 name length, name, u64 size, bytes."""
import json
import os
import socket
import struct
import sys
import threading


def recv_exact(c, n):
    buf = bytearray()
    while len(buf) < n:
        chunk = c.recv(min(1 << 20, n - len(buf)))
        if not chunk:
            raise EOFError("short stream")
        buf += chunk
    return bytes(buf)


def serve_one(c, outdir):
    (n,) = struct.unpack("!H", recv_exact(c, 2))
    name = recv_exact(c, n).decode()
    if "/" in name or name.startswith("."):
        raise ValueError("bad name")
    (size,) = struct.unpack("!Q", recv_exact(c, 8))
    with open(os.path.join(outdir, name + ".img"), "wb") as f:
        left = size
        while left:
            chunk = c.recv(min(1 << 20, left))
            if not chunk:
                raise EOFError("short image")
            f.write(chunk)
            left -= len(chunk)
        f.flush()
        os.fsync(f.fileno())     # durable, as vmscatter's receiver makes them
    c.sendall(b"k")
    c.close()


def recv_main(port, outdir, count):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("0.0.0.0", port))
    s.listen(64)
    threads = []
    for _ in range(count):
        c, _ = s.accept()
        t = threading.Thread(target=serve_one, args=(c, outdir))
        t.start()
        threads.append(t)
    for t in threads:
        t.join()


def send_one(path, name, hostport):
    host, port = hostport.rsplit(":", 1)
    c = socket.create_connection((host, int(port)))
    size = os.path.getsize(path)
    c.sendall(struct.pack("!H", len(name)) + name.encode() + struct.pack("!Q", size))
    with open(path, "rb") as f:
        c.sendfile(f)
    recv_exact(c, 1)
    c.close()


def send_main(plan, hosts, images):
    assign = json.load(open(plan))["assignment"]
    where = json.load(open(hosts))
    threads = []
    for path in images:
        name = os.path.basename(path)[:-4]
        t = threading.Thread(target=send_one, args=(path, name, where[assign[name]]))
        t.start()
        threads.append(t)
    for t in threads:
        t.join()


if __name__ == "__main__":
    if sys.argv[1] == "recv":
        recv_main(int(sys.argv[2]), sys.argv[3], int(sys.argv[4]))
    else:
        send_main(sys.argv[2], sys.argv[3], sys.argv[4:])
