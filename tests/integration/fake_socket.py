#!/usr/bin/env python3
"""fake_socket.py - unix sockets that are not QEMU, for error tests.
  fake_socket.py dead PATH      leave a socket file nobody listens on
  fake_socket.py garbage PATH   serve one client: send a non-JSON line
  fake_socket.py silent PATH    serve one client: say nothing
  fake_socket.py qmp PATH       another process's QMP monitor: serve every
                                client (a QMP greeting, {"return": {}} with
                                its id for each line) and append "connect" and each line
                                received to PATH.log, until killed (or 60 s)
Runs in the foreground until the client is served (or 30 s pass)."""
import json
import os
import socket
import sys
import time

mode, path = sys.argv[1], sys.argv[2]
s = socket.socket(socket.AF_UNIX)
s.bind(path)
if mode == "dead":
    s.close()
    sys.exit(0)
s.listen(1)
s.settimeout(30)
if mode == "qmp":
    open(path + ".log", "w").close()
    end = time.time() + 60
    open(path + ".ready", "w").close()
    while time.time() < end:
        s.settimeout(max(0.1, end - time.time()))
        try:
            c, _ = s.accept()
        except socket.timeout:
            break
        with open(path + ".log", "a") as log:
            log.write("connect\n")
        c.settimeout(5)
        buf = b""
        try:
            c.sendall(b'{"QMP": {"version": {}, "capabilities": []}}\r\n')
            while True:
                got = c.recv(4096)
                if not got:
                    break
                buf += got
                while b"\n" in buf:
                    line, buf = buf.split(b"\n", 1)
                    with open(path + ".log", "a") as log:
                        log.write(line.decode(errors="replace") + "\n")
                    try:
                        cid = json.loads(line).get("id")
                    except ValueError:
                        cid = None
                    c.sendall(json.dumps({"return": {}, "id": cid}).encode() + b"\r\n")
        except (socket.timeout, OSError):
            pass
        c.close()
    os.unlink(path)
    sys.exit(0)
open(path + ".ready", "w").close()
try:
    c, _ = s.accept()
    if mode == "garbage":
        c.sendall(b"SSH-2.0-not-qemu\r\n")
    time.sleep(7 if mode == "silent" else 1)
    c.close()
except socket.timeout:
    pass
os.unlink(path)
