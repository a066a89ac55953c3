#!/usr/bin/env python3
"""rogue.py - a sender that does what a real one never would, for
tests/integration/attacks.sh. It speaks the frames of doc/PROTOCOL.md (be32
length, type, payload) to a receiver, over mutual TLS with a certificate the
receiver's CA signed (--tls DIR: DIR/ca-cert.pem, DIR/client-cert.pem,
DIR/client-key.pem; the receiver's certificate is checked against HOST), or
over plain TCP (an --insecure receiver).

  rogue.py [--tls DIR] [--version N] HOST PORT session [options]
      one session: HELLO, [LIVE], a VM per --vm NAME:PAGES[:FILE], its MAP
      (the FILE's pages, or zero pages), MAPS_END, the contents, END; with
      --stream 'ARG ARG...', a live stream connection for VM 0 afterwards;
      --content-body FILE: the first CONTENT carries FILE's bytes after its
      id (a compressed page: tag byte first); --scomp FILE: after READY the
      stream sends one SCOMP (an 8-byte record header, then FILE's bytes);
      --lvstream DOMAIN:PATH, a libvirt stream connection for VM 0 instead
      (LVSTREAM naming DOMAIN and the socket PATH, "SESSION" in it replaced
      by the session in hex; one block pc.ram of 4096 bytes)
  rogue.py [--tls DIR] HOST PORT hold STATE [--limit SEC]
      reach STATE (connected, hello, maps, mcast, live, trickle) and say
      nothing more (trickle: send a frame one byte every 0.5 s)
  --pending N [--pending-from ADDR] (session, hold live): once the live
      session's seeds are DONE, open N plain TCP connections to the port
      (from ADDR) that never start a TLS handshake, and keep them open

Prints what the receiver answered, one event a line:
  WELCOME NAME | DONE n | MISSING n | READY | ERROR text | CLOSED seconds |
  STILL-OPEN seconds (the receiver kept the connection past --limit)
Exit status 0 once the receiver was reached, 3 when it could not be.
"""
import argparse
import hashlib
import os
import socket
import ssl
import struct
import sys
import time

PAGE = 4096
T = dict(HELLO=1, WELCOME=2, VM=3, MAP=4, MAPS_END=5, MCAST_JOIN=6, JOINED=7, MCAST_END=8,
         GROUP_DONE=9, MISSING=10, CONTENT=11, END=12, DONE=13, ERROR=14, LIVE=15, STREAM=16,
         READY=17, SCOMP=31, SEEDING=35, LVSTREAM=36)
NAMES = {v: k for k, v in T.items()}


def frame(t, body=b""):
    return struct.pack(">IB", len(body) + 1, T[t]) + body


def name(s):
    b = s.encode()
    return bytes([len(b)]) + b


class Conn:
    def __init__(self, a):
        self.t0 = time.monotonic()
        raw = socket.create_connection((a.host, a.port), timeout=10)
        if a.tls:
            ctx = ssl.create_default_context(cafile=os.path.join(a.tls, "ca-cert.pem"))
            ctx.load_cert_chain(os.path.join(a.tls, "client-cert.pem"), os.path.join(a.tls, "client-key.pem"))
            raw = ctx.wrap_socket(raw, server_hostname=a.host)
        self.s = raw
        self.buf = b""
        self.dead = False

    def send(self, data):
        """Send, unless the receiver already hung up (then its ERROR is
        still there to read)."""
        if self.dead:
            return
        try:
            self.s.sendall(data)
        except (ssl.SSLError, OSError):
            self.dead = True

    def frame(self, timeout):
        """(type, payload), or None when the receiver closed, "timeout" after timeout s."""
        end = time.monotonic() + timeout
        while True:
            if len(self.buf) >= 4:
                n = struct.unpack(">I", self.buf[:4])[0]
                if len(self.buf) >= 4 + n:
                    t, body = self.buf[4], self.buf[5:4 + n]
                    self.buf = self.buf[4 + n:]
                    return t, body
            left = end - time.monotonic()
            if left <= 0:
                return "timeout"
            self.s.settimeout(min(left, 0.5))
            try:
                part = self.s.recv(65536)
            except (socket.timeout, TimeoutError):
                continue
            except (ssl.SSLError, OSError):
                part = b""
            if not part:
                return None
            self.buf += part


def open_pending(a):
    """a.pending connections that never say a byte (kept open: returned)."""
    held = []
    for _ in range(a.pending):
        s = socket.socket()
        if a.pending_from:
            s.bind((a.pending_from, 0))
        s.connect((a.host, a.port))
        held.append(s)
    if held:
        say("PENDING", len(held))
    return held


def say(*words):
    print(*words, flush=True)


def report(t, body):
    """Print one reply; True when it ends the exchange (ERROR)."""
    kind = NAMES.get(t, str(t))
    if kind == "ERROR":
        n = struct.unpack(">H", body[:2])[0]
        say("ERROR", body[2:2 + n].decode(errors="replace"))
        return True
    if kind == "WELCOME":
        say("WELCOME", body[3:3 + body[2]].decode(errors="replace"))
    elif kind in ("DONE", "MISSING"):
        say(kind, struct.unpack(">I", body[:4] if kind == "DONE" else body[1:5])[0])
    else:
        say(kind)
    return False


def wait_for(c, want, timeout):
    """Read replies until one of `want` (returned), an ERROR or the end (None)."""
    while True:
        f = c.frame(timeout)
        if f == "timeout":
            say("STILL-OPEN", "%.2f" % (time.monotonic() - c.t0))
            return None
        if f is None:
            say("CLOSED", "%.2f" % (time.monotonic() - c.t0))
            return None
        if report(*f):
            return None
        if NAMES.get(f[0]) in want:
            return NAMES.get(f[0])


def hello(c, a, session):
    c.send(frame("HELLO", b"VMSC" + struct.pack(">HQ", a.version, session) + name("t1") + b"\x01"))
    return wait_for(c, ("WELCOME",), 10)


def vm_pages(spec):
    """NAME:PAGES[:FILE] -> (name, pages, data or None)."""
    parts = spec.split(":", 2)
    data = open(parts[2], "rb").read() if len(parts) == 3 else None
    pages = int(parts[1]) if parts[1] else len(data) // PAGE
    return parts[0], pages, data


def sha_of(pages, data):
    if data is not None:
        return hashlib.sha256(data).digest()
    h, z = hashlib.sha256(), bytes(1 << 20)
    left = pages * PAGE
    while left:
        n = min(left, len(z))
        h.update(z[:n])
        left -= n
    return h.digest()


def session(a):
    c = Conn(a)
    sid = int.from_bytes(os.urandom(8), "big")
    if hello(c, a, sid) is None:
        return c
    if a.live:
        c.send(frame("LIVE"))
    vms, next_id = [], 1
    for k, spec in enumerate(a.vm):
        nm, pages, data = vm_pages(spec)
        sha = b"\0" * 32 if a.live or a.bogus_sha else sha_of(pages, data)
        c.send(frame("VM", struct.pack(">I", k) + name(nm) + struct.pack(">Q", pages) + sha))
        if data is None:                      # zero pages, in runs of at most 2^31
            body, left = struct.pack(">IQ", k, 0), pages
            while left:
                n = min(left, 1 << 31)
                body += struct.pack(">BI", 0, n)
                left -= n
            c.send(frame("MAP", body))
        else:                                 # every page its own content
            ids = list(range(next_id, next_id + pages))
            c.send(frame("MAP", struct.pack(">IQBI", k, 0, 1, pages) + b"".join(struct.pack(">I", i) for i in ids)))
            vms.append((ids, data))
            next_id += pages
    c.send(frame("MAPS_END"))
    body = open(a.content_body, "rb").read() if a.content_body else None
    for ids, data in vms:
        for n, i in enumerate(ids):
            c.send(frame("CONTENT", struct.pack(">I", i) + (body if body is not None else data[n * PAGE:(n + 1) * PAGE])))
            body = None
    c.send(frame("END"))
    got = wait_for(c, ("DONE",), a.limit)
    if got != "DONE":
        return c
    c.held = open_pending(a)
    if a.lvstream:
        s = Conn(a)
        dom, path = a.lvstream.split(":", 1)
        path = path.replace("SESSION", "%016x" % sid).encode()
        body = (struct.pack(">QI", sid, 0) + name(dom) + struct.pack(">H", len(path)) + path +
                bytes([1]) + name("pc.ram") + struct.pack(">Q", PAGE))
        s.send(frame("LVSTREAM", body))
        wait_for(s, ("READY",), a.limit)
        s.s.close()
        return c
    if not a.stream:
        return c
    # a live stream connection for VM 0 of this session
    s = Conn(a)
    args = [x.encode() for x in a.stream.split()]
    body = struct.pack(">QIH", sid, 0, len(args)) + b"".join(struct.pack(">H", len(x)) + x for x in args)
    s.send(frame("STREAM", body))
    if wait_for(s, ("READY",), a.limit) == "READY" and a.scomp:
        s.send(frame("SCOMP", struct.pack(">HQ", 8, 0x1000 | 8) + open(a.scomp, "rb").read()))
        wait_for(s, (), a.limit)
    s.s.close()
    return c


def hold(a):
    c = Conn(a)
    st = a.state
    if st != "connected":
        if hello(c, a, int.from_bytes(os.urandom(8), "big")) is None:
            return c
    if st == "trickle":
        # a VM frame, one byte at a time: bytes arrive, a message never does
        body = struct.pack(">I", 0) + name("slow") + struct.pack(">Q", 2) + b"\0" * 32
        data = frame("VM", body) * 4
        t_end = time.monotonic() + a.limit
        for i in range(len(data)):
            if time.monotonic() > t_end:
                say("STILL-OPEN", "%.2f" % (time.monotonic() - c.t0))
                return c
            try:
                c.send(data[i:i + 1])
            except (ssl.SSLError, OSError):
                break
            f = c.frame(0.5)
            if f is None:
                say("CLOSED", "%.2f" % (time.monotonic() - c.t0))
                return c
            if f != "timeout" and report(*f):
                wait_for(c, (), 5)
                return c
        wait_for(c, (), a.limit)
        return c
    if st in ("maps", "mcast", "live"):
        if st == "live":
            c.send(frame("LIVE"))
        c.send(frame("VM", struct.pack(">I", 0) + name("held") + struct.pack(">Q", 1) + b"\0" * 32))
        c.send(frame("MAP", struct.pack(">IQBI", 0, 0, 0, 1)))
        c.send(frame("MAPS_END"))
        if st == "mcast":                 # a group that never carries a byte
            c.send(frame("MCAST_JOIN", struct.pack(">IIHII", 0, 0xEF4D0063, 7599, 0x7F000001, 10) +
                         os.urandom(32)))
        if st == "live":
            c.send(frame("END"))
            if wait_for(c, ("DONE",), 10) != "DONE":
                return c
            c.held = open_pending(a)
    wait_for(c, (), a.limit)
    return c


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--tls", metavar="DIR")
    p.add_argument("--version", type=int, default=3)
    p.add_argument("host")
    p.add_argument("port", type=int)
    sub = p.add_subparsers(dest="what", required=True)
    s = sub.add_parser("session")
    s.add_argument("--vm", action="append", default=[], metavar="NAME:PAGES[:FILE]")
    s.add_argument("--live", action="store_true")
    s.add_argument("--bogus-sha", action="store_true")
    s.add_argument("--stream", metavar="'ARG ARG...'", help="the source's command line, split at spaces")
    s.add_argument("--limit", type=float, default=60)
    s.add_argument("--content-body", metavar="FILE")
    s.add_argument("--scomp", metavar="FILE")
    s.add_argument("--lvstream", metavar="DOMAIN:PATH")
    h = sub.add_parser("hold")
    h.add_argument("state", choices=["connected", "hello", "maps", "mcast", "live", "trickle"])
    h.add_argument("--limit", type=float, default=30)
    for x in (s, h):
        x.add_argument("--pending", type=int, default=0, metavar="N")
        x.add_argument("--pending-from", metavar="ADDR")
    a = p.parse_args()
    try:
        c = session(a) if a.what == "session" else hold(a)
    except (OSError, ssl.SSLError) as e:
        say("UNREACHABLE", e)
        return 3
    c.s.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
