#!/usr/bin/python3
"""workload.py - the workload of the Debian guests (tools/mkdebian.sh puts it
in /usr/local/lib/vmscatter/, vms-init starts it).

  workload.py --family F --workload W

W is "default" (the family's, see DEFAULTS), "idle", or parts joined by ',' or
'+':
  cache   read every file under /usr once (page cache), again every 120 s
  python  prime sieve up to 2M + a dict of 200k SHA-1 strings, then lookups
          and updates every 2 s
  churn   32 MiB overwritten from /dev/urandom (1 MiB each 0.5 s) and 4 MiB of
          small objects allocated and freed each 0.5 s
  web     nginx serving /usr/share on 127.0.0.1:8080, loaded by ab (apache2-utils:
          50 requests, 4 at a time, keep-alive) on one of 20 files every 2 s;
          its first round is the first 3 files (family web)
  db      SQLite database of 100k rows in /tmp, point lookups, a range
          aggregate and updates every second, sqlite3 CLI check every 30 s
          (family db)
  build   generates a 6-file C program, builds it with make + gcc -O1, runs
          it, cleans, again every 10 s (family build)

Steady state: every part finished its first round (its setup: file cache
read, dict built, table filled, server answering, first build) and then the
guest's used memory (MemTotal - MemFree) varied by less than
max(8 MiB, 3% of MemTotal) over the last 5 one-second samples. Then it prints
  vmscatter-guest: steady (workload=W, after S s, used U MiB, cached C MiB)
(after 180 s without a stable window it prints the same line with "unstable").
"""
import argparse
import hashlib
import os
import random
import sqlite3
import subprocess
import sys
import threading
import time

DEFAULTS = {
    "base": "cache,python,churn",
    "web": "cache,churn,web",
    "db": "cache,churn,db",
    "build": "cache,churn,build",
}
T0 = time.monotonic()


def say(msg):
    sys.stdout.write("vmscatter-guest: %s\n" % msg)
    sys.stdout.flush()


def part(fn):
    """Run fn(ready) in a daemon thread; ready() marks its first round done.
    A part that raises prints "vmscatter-guest: failed: ..." (tools/guests.sh
    wait reports it) and counts as ready (the guest goes on)."""
    ev = threading.Event()

    def run():
        try:
            fn(ev.set)
        except Exception as e:  # report, never take the guest down
            say("failed: workload part %s: %r" % (fn.__name__, e))
            ev.set()
    threading.Thread(target=run, name=fn.__name__, daemon=True).start()
    return ev


def cache(ready):
    while True:
        n = 0
        for root, _, files in os.walk("/usr"):
            for f in files:
                p = os.path.join(root, f)
                try:
                    if os.path.islink(p):
                        continue
                    with open(p, "rb") as fh:
                        while fh.read(1 << 20):
                            pass
                    n += 1
                except OSError:
                    pass
        ready()
        time.sleep(120)


def python(ready):
    lim = 2_000_000
    sieve = bytearray([1]) * (lim + 1)
    sieve[0:2] = b"\0\0"
    for i in range(2, int(lim ** 0.5) + 1):
        if sieve[i]:
            sieve[i * i::i] = bytes(len(range(i * i, lim + 1, i)))
    primes = [i for i in range(lim + 1) if sieve[i]]
    d = {i: hashlib.sha1(str(i).encode()).hexdigest() for i in range(200_000)}
    ready()
    rnd = random.Random()
    while True:
        time.sleep(2)
        for _ in range(1000):
            k = rnd.randrange(200_000)
            d[k] = hashlib.sha1((d[k] + str(primes[k % len(primes)])).encode()).hexdigest()


def churn(ready):
    mib = 1 << 20
    buf = bytearray(32 * mib)
    with open("/dev/urandom", "rb") as r:
        for off in range(0, len(buf), mib):
            buf[off:off + mib] = r.read(mib)
        ready()
        off = 0
        while True:
            buf[off:off + mib] = r.read(mib)
            off = (off + mib) % len(buf)
            junk = [bytes(64) + os.urandom(8) for _ in range(4 * mib // 128)]
            del junk
            time.sleep(0.5)


NGINX_CONF = """daemon on;
worker_processes 1;
pid /run/vms-nginx.pid;
error_log /run/vms-nginx.err;
events { worker_connections 64; }
http {
    access_log off;
    sendfile on;
    default_type application/octet-stream;
    server { listen 127.0.0.1:8080; root /usr/share; }
}
"""


def web(ready):
    with open("/run/vms-nginx.conf", "w") as f:
        f.write(NGINX_CONF)
    subprocess.run(["nginx", "-c", "/run/vms-nginx.conf"], check=True)
    docs = []
    for root, _, files in os.walk("/usr/share/doc"):
        docs += [os.path.join(root, f)[len("/usr/share"):] for f in files
                 if not os.path.islink(os.path.join(root, f))]
    docs = sorted(docs)[:: max(1, len(docs) // 20)] or ["/"]
    n = 0
    while True:
        for u in docs:
            subprocess.run(["ab", "-q", "-k", "-n", "50", "-c", "4", "http://127.0.0.1:8080" + u],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=n == 0)
            n += 1
            if n == 3:
                ready()
            time.sleep(2)


def db(ready):
    path = "/tmp/vms.db"
    con = sqlite3.connect(path)
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, k TEXT, v BLOB, n INTEGER)")
    rows = ((i, hashlib.sha1(str(i).encode()).hexdigest(), os.urandom(64), i % 1000) for i in range(100_000))
    con.executemany("INSERT INTO t VALUES (?, ?, ?, ?)", rows)
    con.execute("CREATE INDEX t_k ON t (k)")
    con.execute("CREATE INDEX t_n ON t (n)")
    con.commit()
    ready()
    rnd = random.Random()
    tick = 0
    while True:
        time.sleep(1)
        for _ in range(200):
            k = hashlib.sha1(str(rnd.randrange(100_000)).encode()).hexdigest()
            con.execute("SELECT v FROM t WHERE k = ?", (k,)).fetchone()
        lo = rnd.randrange(900)
        con.execute("SELECT count(*), sum(length(v)) FROM t WHERE n BETWEEN ? AND ?", (lo, lo + 50)).fetchone()
        con.executemany("UPDATE t SET v = ?, n = ? WHERE id = ?",
                        [(os.urandom(64), rnd.randrange(1000), rnd.randrange(100_000)) for _ in range(100)])
        con.commit()
        tick += 1
        if tick % 30 == 0:
            subprocess.run(["sqlite3", path, "SELECT count(*), sum(n) FROM t"], stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)


def build(ready):
    src = "/tmp/build"
    os.makedirs(src, exist_ok=True)
    names = ["m%02d" % i for i in range(6)]
    for i, n in enumerate(names):
        with open("%s/%s.c" % (src, n), "w") as f:
            f.write("#include <stdio.h>\n#include <string.h>\n#include <stdlib.h>\n")
            for j in range(8):
                f.write("static unsigned long %s_f%d(const char *s) { unsigned long h = %d;"
                        " while (*s) h = h * 31 + (unsigned char)*s++; return h; }\n" % (n, j, i * 8 + j))
            f.write("unsigned long %s(void) { char b[64]; unsigned long h = 0; for (int i = 0; i < 1000; i++)"
                    " { snprintf(b, sizeof b, \"%%d\", i); %s } return h; }\n"
                    % (n, " ".join("h ^= %s_f%d(b);" % (n, j) for j in range(8))))
    with open(src + "/main.c", "w") as f:
        f.write("#include <stdio.h>\n")
        f.write("".join("unsigned long %s(void);\n" % n for n in names))
        f.write("int main(void) { unsigned long h = 0; %s printf(\"%%lx\\n\", h); return 0; }\n"
                % " ".join("h ^= %s();" % n for n in names))
    objs = " ".join(n + ".o" for n in names + ["main"])
    with open(src + "/Makefile", "w") as f:
        f.write("CFLAGS = -O1 -Wall\nprog: %s\n\t$(CC) -o $@ $^\nclean:\n\trm -f prog *.o\n" % objs)
    while True:
        subprocess.run(["make", "-s", "-C", src], check=True, stdout=subprocess.DEVNULL)
        subprocess.run([src + "/prog"], check=True, stdout=subprocess.DEVNULL)
        ready()
        time.sleep(10)
        subprocess.run(["make", "-s", "-C", src, "clean"], check=True, stdout=subprocess.DEVNULL)


PARTS = {"cache": cache, "python": python, "churn": churn, "web": web, "db": db, "build": build}


def meminfo():
    m = {}
    with open("/proc/meminfo") as f:
        for line in f:
            k, v = line.split(":", 1)
            m[k] = int(v.split()[0]) // 1024
    return m


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--family", default="base")
    ap.add_argument("--workload", default="default")
    a = ap.parse_args()
    w = a.workload
    if w == "default":
        w = DEFAULTS.get(a.family, DEFAULTS["base"])
    names = [] if w == "idle" else [p for p in w.replace("+", ",").split(",") if p]
    bad = [p for p in names if p not in PARTS]
    if bad:
        say("failed: unknown workload part(s) %s (know %s)" % (",".join(bad), ",".join(PARTS)))
        names = [p for p in names if p in PARTS]
    events = [part(PARTS[p]) for p in names]
    for e in events:
        e.wait()
    setup = time.monotonic() - T0
    total = meminfo()["MemTotal"]
    band = max(8, total * 3 // 100)
    samples, state = [], "unstable"
    while time.monotonic() - T0 < setup + 180:
        m = meminfo()
        samples = (samples + [m["MemTotal"] - m["MemFree"]])[-5:]
        if len(samples) == 5 and max(samples) - min(samples) < band:
            state = "stable"
            break
        time.sleep(1)
    m = meminfo()
    say("steady (workload=%s, setup %.1f s, after %.1f s, used %d MiB, cached %d MiB, %s)"
        % (w, setup, time.monotonic() - T0, m["MemTotal"] - m["MemFree"], m["Cached"], state))
    threading.Event().wait()


if __name__ == "__main__":
    main()
