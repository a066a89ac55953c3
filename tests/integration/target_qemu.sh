#!/bin/bash
# target_qemu.sh - the target QEMU's command line on a real VM: a target
# started from `vmscatter target-argv` waits for a migration with all its
# host paths in STATE/NAME/; a stock QEMU migration into it (over loopback)
# completes, and the guest, resumed there, keeps counting from where the
# source left off.
. "$(dirname "$0")/tap.sh"
[ "$(id -u)" = 0 ] || skip_all "needs root"
command -v qemu-system-x86_64 >/dev/null || skip_all "qemu-system-x86_64 not installed"

plan 7
tmp=$(mktemp -d /tmp/vms-target.XXXXXX)
G="$top_srcdir/tools/guests.sh"
QMP="python3 $top_srcdir/tests/integration/qmp.py"
V=$VMSCATTER
port=$((40000 + $$ % 20000))
at_exit "rm -rf '$tmp'"
at_exit "'$G' stop --dir '$tmp/src'"
at_exit "[ -f '$tmp/target.pid' ] && kill \$(cat '$tmp/target.pid')"

"$G" start --dir "$tmp/src" --count 1 --mem 128 --dirty 100 && "$G" wait --dir "$tmp/src"
ok $? "a source guest that counts"

"$V" target-argv -0 --state-dir "$tmp/state" --shared-path "$("$top_srcdir/tools/mkguest.sh")" \
	"$tmp/src/vm1.qmp" > "$tmp/argv"
ok $? "target-argv for the running source"
readarray -d '' -t argv < "$tmp/argv"
printf '%s\n' "${argv[@]}" | grep -qx -- "unix:$tmp/state/vm1/qmp.sock,server=on,wait=off" &&
	printf '%s\n' "${argv[@]}" | grep -qx -- "file:$tmp/state/vm1/vm1.serial" &&
	! printf '%s\n' "${argv[@]}" | grep -qx -- -daemonize &&
	[ "${argv[-3]} ${argv[-2]} ${argv[-1]}" = "-incoming defer -S" ]
ok $? "host paths moved into STATE/vm1, -incoming defer -S, no -daemonize"

mkdir -p "$tmp/state/vm1"
"${argv[@]}" > "$tmp/target.log" 2>&1 &
echo $! > "$tmp/target.pid"
for _ in $(seq 50); do [ -S "$tmp/state/vm1/qmp.sock" ] && break; sleep 0.1; done
$QMP "$tmp/state/vm1/qmp.sock" query-status | grep -q '"inmigrate"'
ok $? "the target QEMU waits for the migration"

$QMP "$tmp/state/vm1/qmp.sock" migrate-incoming "{\"uri\": \"tcp:127.0.0.1:$port\"}" > /dev/null &&
	$QMP "$tmp/src/vm1.qmp" migrate "{\"uri\": \"tcp:127.0.0.1:$port\"}" > /dev/null
$QMP "$tmp/src/vm1.qmp" wait-migration 60 > /dev/null
ok $? "stock migration into the target completed"

last=$(grep -o 'vmscatter-counter [0-9]*' "$tmp/src/vm1.serial" | tail -n 1 | cut -d' ' -f2)
$QMP "$tmp/state/vm1/qmp.sock" cont > /dev/null
sleep 3
first=$(grep -o 'vmscatter-counter [0-9]*' "$tmp/state/vm1/vm1.serial" | head -n 1 | cut -d' ' -f2)
now=$(grep -o 'vmscatter-counter [0-9]*' "$tmp/state/vm1/vm1.serial" | tail -n 1 | cut -d' ' -f2)
[ -n "$last" ] && [ -n "$first" ] && [ "$first" -ge "$last" ] && [ "$first" -le $((last + 2)) ] && [ "$now" -gt "$first" ]
ok $? "the guest keeps counting on the target (source stopped at $last, target went on from $first to $now)"
$QMP "$tmp/src/vm1.qmp" query-status | grep -q '"postmigrate"'
ok $? "the source is stopped after the migration"
