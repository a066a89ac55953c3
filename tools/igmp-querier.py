#!/usr/bin/env python3
"""igmp-querier.py - send an IGMPv2 general query every second on one
interface, so that a Linux bridge with multicast snooping learns which ports
joined which groups (the bridge's own querier stays silent in these kernels).
Run inside the testbed's source namespace: igmp-querier.py IFADDR
Stops on SIGTERM/SIGINT."""
import signal
import socket
import struct
import sys
import time


def checksum(data):
    s = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    s = (s >> 16) + (s & 0xFFFF)
    s += s >> 16
    return ~s & 0xFFFF


def main():
    ifaddr = sys.argv[1]
    s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_IGMP)
    s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 1)
    s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton(ifaddr))
    # type 0x11 (membership query), max response 1 s, checksum, group 0.0.0.0
    body = struct.pack("!BBH4s", 0x11, 10, 0, b"\0\0\0\0")
    query = struct.pack("!BBH4s", 0x11, 10, checksum(body), b"\0\0\0\0")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    while True:
        s.sendto(query, ("224.0.0.1", 0))
        time.sleep(1)


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        pass
