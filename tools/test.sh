#!/bin/bash
# test.sh - set everything up and run the whole test suite (the README's
# second command; CI runs it too):
#   1. install the Debian packages (tools/install-deps.sh);
#   2. build in _build/check with -Wall -Wextra -Werror and run `make check`
#      (unit tests, CLI tests, live QEMU guests, network namespaces);
#   3. build in _build/asan with AddressSanitizer + UBSan and run the unit
#      tests and the CLI tests again there.
# Exits non-zero on the first failure, after printing the failed test's log.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
jobs=$(nproc 2>/dev/null || echo 2)

step() { printf '\n==> %s\n' "$*"; }
show_failures() {
	local dir=$1
	for log in $(find "$dir" -name '*.log' ! -name config.log ! -name test-suite.log 2>/dev/null); do
		if grep -qE '^(not ok|ERROR|FAIL)' "$log" 2>/dev/null || grep -q 'Bail out' "$log" 2>/dev/null; then
			echo "---- $log" && tail -n 60 "$log"
		fi
	done
}

step "installing Debian packages (if any are missing)"
tools/install-deps.sh

step "generating ./configure"
# out-of-tree builds need a source tree that was not configured in place
[ ! -f config.status ] || make -s distclean >/dev/null
./autogen.sh

step "building with -Werror and running make check"
mkdir -p _build/check
(cd _build/check && "$top/configure" --enable-werror -q && make -s -j"$jobs") 
if ! (cd _build/check && make -s -j"$jobs" check); then
	show_failures _build/check
	exit 1
fi

step "building with AddressSanitizer + UBSan and running the unit and CLI tests"
san="-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer"
mkdir -p _build/asan
(cd _build/asan && "$top/configure" --enable-werror -q CFLAGS="-O1 -g $san" LDFLAGS="$san" &&
	make -s -j"$jobs")
san_tests="tests/unit/test_cursor tests/unit/test_conn tests/unit/test_wire tests/unit/test_compress tests/unit/test_procfmt tests/unit/test_index tests/unit/test_plan"
san_tests+=" tests/unit/test_mstream tests/unit/test_launch tests/unit/test_plan_index tests/integration/cli_analyze.sh tests/integration/cli_plan.sh"
san_tests+=" tests/integration/attacks.sh"     # the receiver under a rogue sender
if ! (cd _build/asan && ASAN_OPTIONS=detect_leaks=1 make -s -j"$jobs" check TESTS="$san_tests"); then
	show_failures _build/asan
	exit 1
fi
# one closing line any CI reader understands
count() { grep -hE "^# $1: " _build/check/test-suite.log _build/asan/test-suite.log | awk '{s += $3} END {print s + 0}'; }
step "all tests passed"
echo "$(count PASS) passed, $(count FAIL) failed, $(count SKIP) skipped"
