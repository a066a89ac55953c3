#!/usr/bin/env python3
"""ref_analyze.py - an independent computation of `vmscatter analyze --json`
for raw memory images: SHA-256 of every page into dictionaries (no XXH3, no
code shared with the C index). Reads the C program's JSON on stdin and the
images from argv (in the same order); exits 1 on the first difference.

usage: ref_analyze.py IMAGE... < analyze.json
"""
import hashlib
import json
import sys

PAGE = 4096
ZERO = bytes(PAGE)


def main():
    got = json.load(sys.stdin)
    paths = sys.argv[1:]
    per_vm = []          # per VM: Counter of digests (non-zero pages)
    zeros = []
    for path in paths:
        counts = {}
        z = 0
        with open(path, "rb") as f:
            while True:
                page = f.read(PAGE)
                if not page:
                    break
                if page == ZERO:
                    z += 1
                    continue
                d = hashlib.sha256(page).digest()
                counts[d] = counts.get(d, 0) + 1
        per_vm.append(counts)
        zeros.append(z)
    holders = {}         # digest -> set of VM indexes
    total = {}           # digest -> pages in the whole rack
    for i, counts in enumerate(per_vm):
        for d, c in counts.items():
            holders.setdefault(d, set()).add(i)
            total[d] = total.get(d, 0) + c
    n = len(paths)
    want_vms = []
    for i, counts in enumerate(per_vm):
        nonzero = sum(counts.values())
        want_vms.append({
            "pages": nonzero + zeros[i],
            "zero_pages": zeros[i],
            "distinct_nonzero": len(counts),
            "self_identical": nonzero - len(counts),
            "inter_identical": sum(c for d, c in counts.items() if len(holders[d]) >= 2),
            "unique": sum(c for d, c in counts.items() if total[d] == 1),
        })
    want_rack = {
        "pages": sum(v["pages"] for v in want_vms),
        "zero_pages": sum(zeros),
        "distinct_nonzero": len(holders),
        "shared_contents": sum(1 for h in holders.values() if len(h) >= 2),
    }
    matrix = [[0] * n for _ in range(n)]
    classes = {}
    for d, h in holders.items():
        for a in h:
            for b in h:
                matrix[a][b] += 1
        key = tuple(sorted(h))
        c = classes.setdefault(key, [0, 0])
        c[0] += 1
        c[1] += total[d]

    errors = []
    for i, w in enumerate(want_vms):
        g = got["vms"][i]
        for k, v in w.items():
            if g.get(k) != v:
                errors.append(f"vm {i} {k}: got {g.get(k)}, want {v}")
    for k, v in want_rack.items():
        if got["rack"].get(k) != v:
            errors.append(f"rack {k}: got {got['rack'].get(k)}, want {v}")
    if got["sharing"] != matrix:
        errors.append("sharing matrix differs")
    got_classes = {tuple(c["vms"]): [c["contents"], c["pages"]]
                   for c in got["summary"]["classes"]}
    if got_classes != {k: v for k, v in classes.items()}:
        errors.append("sharing summary classes differ")
    for e in errors:
        print("# " + e, file=sys.stderr)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
