#!/bin/bash
# install_lib.sh - `make install` into a DESTDIR installs vmscatter, the man
# page, libvmsplan with its header and pkg-config file; a small placement
# engine (plan_client.c) builds against it through pkg-config and runs.
. "$(dirname "$0")/tap.sh"
: "${abs_top_builddir:?run through make check}"
command -v pkg-config >/dev/null || skip_all "pkg-config not installed"

plan 6
tmp=$(mktemp -d /tmp/vms-install.XXXXXX)
at_exit "rm -rf '$tmp'"
make -s -C "$abs_top_builddir" install DESTDIR="$tmp/root" > "$tmp/install.log" 2>&1
ok $? "make install DESTDIR=..."
prefix=$(sed -n 's/^prefix=//p' "$abs_top_builddir/planner/vmsplan.pc")
libdir=$(find "$tmp/root" -name 'libvmsplan.so' -printf '%h\n' | head -n 1)
[ -x "$tmp/root$prefix/bin/vmscatter" ] && [ -f "$tmp/root$prefix/include/vmscatter/plan.h" ] &&
	[ -n "$libdir" ] && [ -f "$libdir/pkgconfig/vmsplan.pc" ]
ok $? "binary, header, library and vmsplan.pc are installed"
find "$tmp/root" -name 'vmscatter.1*' | grep -q .
ok $? "man page installed"
export PKG_CONFIG_PATH="$libdir/pkgconfig" PKG_CONFIG_SYSROOT_DIR="$tmp/root"
flags=$(pkg-config --cflags --libs vmsplan)
ok $? "pkg-config knows vmsplan ($flags)"
cc -std=c11 -Wall -Werror -o "$tmp/client" "$top_srcdir/tests/integration/plan_client.c" $flags 2> "$tmp/cc.log"
ok $? "a placement engine builds against the installed library" || cat "$tmp/cc.log" >&2
LD_LIBRARY_PATH="$libdir" "$tmp/client" >&2
ok $? "and places the two sharing VMs together"
