#!/usr/bin/env python3
"""fake_socket.py - unix sockets that are not QEMU, for error tests.
  fake_socket.py dead PATH      leave a socket file nobody listens on
  fake_socket.py garbage PATH   serve one client: send a non-JSON line
  fake_socket.py silent PATH    serve one client: say nothing
Runs in the foreground until the client is served (or 30 s pass)."""
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
