#!/usr/bin/env python3
"""qmp.py - run one QMP command for a test: qmp.py SOCKET COMMAND [JSON-ARGS].
Prints the "return" value as JSON; exits 1 on a QMP error.
`qmp.py SOCKET wait-migration [SECONDS]` polls query-migrate until the
migration completed (exit 0) or failed / timed out (exit 1, default 60 s)."""
import json
import socket
import sys
import time


def main():
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(60)
    s.connect(sys.argv[1])
    f = s.makefile("rw")
    json.loads(f.readline())
    f.write('{"execute":"qmp_capabilities"}\n')
    f.flush()
    json.loads(f.readline())
    if sys.argv[2] == "wait-migration":
        deadline = time.time() + (float(sys.argv[3]) if len(sys.argv) > 3 else 60)
        status = ""
        while time.time() < deadline:
            f.write('{"execute":"query-migrate"}\n')
            f.flush()
            msg = json.loads(f.readline())
            while "event" in msg:
                msg = json.loads(f.readline())
            status = msg.get("return", {}).get("status", "")
            if status in ("completed", "failed", "cancelled"):
                break
            time.sleep(0.5)
        print(status)
        return 0 if status == "completed" else 1
    req = {"execute": sys.argv[2]}
    if len(sys.argv) > 3:
        req["arguments"] = json.loads(sys.argv[3])
    f.write(json.dumps(req) + "\n")
    f.flush()
    while True:
        msg = json.loads(f.readline())
        if "event" in msg:
            continue
        if "error" in msg:
            print(msg["error"].get("desc"), file=sys.stderr)
            return 1
        print(json.dumps(msg["return"]))
        return 0


if __name__ == "__main__":
    sys.exit(main())
