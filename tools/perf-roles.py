#!/usr/bin/env python3
"""perf-roles.py - where the CPU went during one bench-live run, by role and
function, from a system-wide `perf record` (tools/bench-live.sh, BENCH_PERF).

    perf-roles.py PERF.DATA FREQ GIB SECONDS --source PIDFILE... --target PIDFILE...

PERF.DATA recorded with `perf record -a -e cpu-clock -F FREQ`.

Each sample goes to a role by its process: the source or target QEMUs (by
the pid files), vmscatter's sender (vms-send and its vms-VM threads) or its
receivers (vms-receive and their vms-stream children), everything else
("other": the kernel's idle loop is left out). Prints, per role, its share
of the busy samples, the CPU seconds per GiB moved that share stands for,
and its heaviest functions."""
import collections
import subprocess
import sys


def pids_of(files):
    out = set()
    for f in files:
        try:
            out.update(int(w) for w in open(f).read().split())
        except (OSError, ValueError):
            pass
    return out


def main():
    args = sys.argv[1:]
    if len(args) < 4:
        sys.exit(__doc__)
    data, freq, gib, seconds = args[0], float(args[1]), float(args[2]), float(args[3])
    src, tgt, cur = [], [], None
    for a in args[4:]:
        if a in ("--source", "--target"):
            cur = src if a == "--source" else tgt
        elif cur is not None:
            cur.append(a)
    src_pids, tgt_pids = pids_of(src), pids_of(tgt)
    script = subprocess.run(["perf", "script", "-i", data, "-F", "pid,comm,ip,sym,dso"],
                            capture_output=True, text=True, errors="replace")
    samples = []
    for line in script.stdout.splitlines():
        # "COMM PID ADDR SYM (DSO)", the comm may hold spaces and SYM be
        # "[unknown]"; a sample without a symbol is named by its DSO
        parts = line.split()
        pid_at = next((i for i, p in enumerate(parts) if p.isdigit()), None)
        if pid_at is None or len(parts) < pid_at + 3:
            continue
        comm = " ".join(parts[:pid_at])
        dso = parts[-1].strip("()").rsplit("/", 1)[-1]
        if dso.startswith("perf-") and dso.endswith(".map"):
            dso = "guest code (TCG)"
        sym = " ".join(parts[pid_at + 2:-1]) or "[unknown]"
        sym = sym.split("+0x")[0]
        if sym == "[unknown]":
            sym = "?"
        samples.append((comm, int(parts[pid_at]), sym, dso))
    # the sender: the processes with a thread named vms-send (its VM threads
    # are named after their VMs)
    send_pids = {pid for comm, pid, _, _ in samples if comm == "vms-send"}
    per_role = collections.Counter()
    per_fn = collections.defaultdict(collections.Counter)
    total = 0
    for comm, pid, sym, dso in samples:
        if comm == "swapper" or sym in ("intel_idle", "default_idle", "poll_idle"):
            continue
        if pid in src_pids:
            role = "source QEMUs"
        elif pid in tgt_pids:
            role = "target QEMUs"
        elif comm in ("vms-stream", "vms-receive"):
            role = "receivers"
        elif pid in send_pids:
            role = "sender"
        else:
            role = "other"
        total += 1
        per_role[role] += 1
        per_fn[role]["%s [%s]" % (sym, dso) if sym != "?" else "[%s]" % dso] += 1
    if not total:
        sys.exit("perf-roles: no samples in %s" % data)
    # recorded with -e cpu-clock -F FREQ: each sample stands for 1/FREQ s of CPU
    print("%-13s %6s %9s   %s" % ("role", "share", "CPU s/GiB", "heaviest functions: CPU s/GiB"))
    for role, n in per_role.most_common():
        fns = ", ".join("%s %.2f" % (f, c / freq / gib) for f, c in per_fn[role].most_common(6))
        print("%-13s %5.1f%% %9.2f   %s" % (role, 100.0 * n / total, n / freq / gib, fns))
    print("(%d busy samples, %.1f CPU s over %.1f s of wall time, %.3f GiB moved)" % (total, total / freq, seconds, gib))


if __name__ == "__main__":
    main()
