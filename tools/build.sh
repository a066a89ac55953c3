#!/bin/sh
# build.sh - install what is missing and build vmscatter in _build/release
# (used by tools/demo.sh and the benchmarks). Prints the build directory.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
tools/install-deps.sh >&2
if [ ! -x _build/release/vmscatter ] || [ configure.ac -nt _build/release/config.status ]; then
	[ ! -f config.status ] || make -s distclean >/dev/null
	./autogen.sh >&2
	mkdir -p _build/release
	(cd _build/release && "$top/configure" -q >&2)
fi
make -s -C _build/release -j"$(nproc 2>/dev/null || echo 2)" >&2
echo "$top/_build/release"
