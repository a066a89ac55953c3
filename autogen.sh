#!/bin/sh
# autogen.sh - generate ./configure from configure.ac (needs autoconf,
# automake, libtool, pkg-config: tools/install-deps.sh installs them).
set -e
cd "$(dirname "$0")"
mkdir -p m4 build-aux
autoreconf --install --force >/dev/null 2>&1 || autoreconf --install --force
# the TAP driver for `make check` ships with automake but is not installed by autoreconf
amdir=$(automake --print-libdir)
cp "$amdir/tap-driver.sh" build-aux/tap-driver.sh
