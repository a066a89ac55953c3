# tap.sh - sourced by the integration tests: TAP output and cleanup.
#   plan N; ok COND-EXIT-STATUS "description"; skip_all "why"; done_testing
#   need STATUS "what"   a setup or teardown step, not a test: on failure the
#                        run stops ("Bail out!"), it never counts as an ok
#   at_exit "command"   run on exit (also on failure or interrupt), last first
# Tests print TAP on stdout; diagnostics go to stderr as "# ..." lines.
_tap_n=0
_tap_failed=0
_tap_cleanups=()

plan() { echo "1..$1"; }
skip_all() { echo "1..0 # SKIP $*"; exit 0; }
diag() { printf '# %s\n' "$*" >&2; }
ok() {
	local status=$1
	shift
	_tap_n=$((_tap_n + 1))
	if [ "$status" -eq 0 ]; then
		echo "ok $_tap_n - $*"
	else
		echo "not ok $_tap_n - $*"
		_tap_failed=$((_tap_failed + 1))
	fi
}
# check "description" command...: run the command, ok if it exits 0
check() {
	local desc=$1
	shift
	"$@"
	ok $? "$desc"
}
# expect_fail STATUS PATTERN COMMAND...: COMMAND fails with exit STATUS
# ("any": any non-zero), its stderr matches PATTERN (grep -E) and it prints
# nothing on stdout. Uses $tmp for its scratch files.
expect_fail() {
	local want=$1 pat=$2
	shift 2
	"$@" > "$tmp/expect.out" 2> "$tmp/expect.err"
	local rc=$?
	if { [ "$want" = any ] && [ $rc -eq 0 ]; } || { [ "$want" != any ] && [ $rc -ne "$want" ]; } ||
	   ! grep -qE -- "$pat" "$tmp/expect.err" || [ -s "$tmp/expect.out" ]; then
		diag "$*: exit $rc, stderr: $(cat "$tmp/expect.err")"
		return 1
	fi
}
need() {
	[ "$1" -eq 0 ] && return 0
	shift
	echo "Bail out! $* failed"
	exit 1
}
# pgm_repaired LOG: a receiver's log says PGM repaired its loss itself: at
# least one message delivered from repair data (RDATA, the PGM header of
# each packet) and no loss declared for good (PGM_IO_STATUS_RESET). Sets
# $repairs and $resets for the check's words.
pgm_repaired() {
	repairs=$(sed -n 's/.*group [0-9]*: \([0-9]*\) PGM repairs (RDATA) received.*/\1/p' \
		"$1" | awk '{ n += $1 } END { print n + 0 }')
	resets=$(grep -c 'multicast data lost for good' "$1")
	diag "$(basename "$1" .log)'s PGM: $repairs messages repaired (RDATA), $resets losses declared for good"
	[ "$repairs" -gt 0 ] && [ "$resets" = 0 ]
}
at_exit() { _tap_cleanups=("$1" "${_tap_cleanups[@]}"); }
_tap_exit() {
	local rc=$?
	for c in "${_tap_cleanups[@]}"; do eval "$c" >/dev/null 2>&1 || true; done
	[ $_tap_failed -eq 0 ] || exit 1
	exit $rc
}
trap _tap_exit EXIT
trap 'exit 130' INT TERM

: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
: "${VMSCATTER:=$top_srcdir/vmscatter}"
: "${VMS_SYNTH:=$top_srcdir/tools/vms-synth}"
