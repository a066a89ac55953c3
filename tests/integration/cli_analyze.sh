#!/bin/bash
# cli_analyze.sh - `vmscatter analyze` and `dump` on memory images: counts
# against an independent computation (ref_analyze.py), and every kind of bad
# input ending in a clear message and the right exit status.
. "$(dirname "$0")/tap.sh"
command -v python3 >/dev/null || skip_all "python3 not installed"

plan 28
tmp=$(mktemp -d /tmp/vms-cli.XXXXXX)
at_exit "rm -rf '$tmp'"
V=$VMSCATTER

# --- counts against the reference, several mixes -------------------------
"$VMS_SYNTH" --out "$tmp/a" --vms 5 --pages 3001 --pool 900 --seed 7
"$V" analyze --json --quiet "$tmp"/a/vm{1,2,3,4,5}.img > "$tmp/a.json"
ok $? "analyze --json on 5 synthetic images"
python3 "$top_srcdir/tests/integration/ref_analyze.py" "$tmp"/a/vm{1,2,3,4,5}.img < "$tmp/a.json"
ok $? "every count, the matrix and the summary match the SHA-256 reference"

"$VMS_SYNTH" --out "$tmp/b" --vms 3 --pages 800 --zero 0.1 --self 0.4 --inter 0.4 --self-pool 20 --seed 3
"$V" analyze --json --threads 1 "$tmp"/b/vm{1,2,3}.img > "$tmp/b1.json" &&
	"$V" analyze --json --threads 2 "$tmp"/b/vm{1,2,3}.img > "$tmp/b2.json"
ok $? "analyze with 1 and 2 threads"
python3 "$top_srcdir/tests/integration/ref_analyze.py" "$tmp"/b/vm{1,2,3}.img < "$tmp/b2.json" &&
	cmp -s "$tmp/b1.json" "$tmp/b2.json"
ok $? "self-heavy mix matches the reference, same output for any thread count"

"$VMS_SYNTH" --out "$tmp/c" --vms 2 --pages 100 --identical
"$V" analyze --json "$tmp"/c/vm1.img "$tmp"/c/vm2.img > "$tmp/c.json" &&
	python3 "$top_srcdir/tests/integration/ref_analyze.py" "$tmp"/c/vm{1,2}.img < "$tmp/c.json"
ok $? "identical VMs match the reference"
python3 -c '
import json,sys
j=json.load(open(sys.argv[1]))
v=j["vms"]
assert v[0]["unique"]==0 and v[1]["unique"]==0
assert v[0]["inter_identical"]==v[0]["pages"]-v[0]["zero_pages"]
' "$tmp/c.json"
ok $? "identical VMs: nothing unique, every non-zero page inter-identical"

# --- naming and human output --------------------------------------------
"$V" analyze --json web=$tmp/a/vm1.img db=$tmp/a/vm2.img > "$tmp/n.json"
python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); assert [v["name"] for v in j["vms"]]==["web","db"]' "$tmp/n.json"
ok $? "NAME=PATH names the sources"
"$V" analyze "$tmp"/a/vm1.img "$tmp"/a/vm2.img > "$tmp/h.txt"
ok $? "human output exits 0"
grep -q '^VM .*pages.*zero.*distinct.*unique' "$tmp/h.txt" && grep -q '^vm1 ' "$tmp/h.txt" &&
	grep -q 'distinct non-zero contents' "$tmp/h.txt"
ok $? "human output has the table and the rack line"

# --- dump -------------------------------------------------------------------
"$V" dump "$tmp/a/vm3.img" "$tmp/copy.img" && cmp -s "$tmp/a/vm3.img" "$tmp/copy.img"
ok $? "dump of an image is byte-identical"
[ $(( $(stat -c %b "$tmp/copy.img") * 512 )) -lt "$(stat -c %s "$tmp/copy.img")" ]
ok $? "the dump is sparse: its zero pages are holes"
"$V" analyze --json --quiet x="$tmp/a/vm3.img" > "$tmp/dense.json" &&
	"$V" analyze --json --quiet x="$tmp/copy.img" > "$tmp/sparse.json" &&
	diff <(grep -v '"source"' "$tmp/dense.json") <(grep -v '"source"' "$tmp/sparse.json")
ok $? "the sparse dump analyzes exactly like its dense source"

# --- bad input: message, status, nothing on stdout ---------------------------
: > "$tmp/empty.img"
head -c 4097 /dev/zero > "$tmp/odd.img"
check "missing file" expect_fail 1 'nope.img: No such file' "$V" analyze "$tmp/nope.img"
check "empty image" expect_fail 1 'empty memory image' "$V" analyze "$tmp/empty.img"
check "size not a multiple of 4096" expect_fail 1 'odd.img: size 4097 is not a multiple of 4096' "$V" analyze "$tmp/odd.img"
check "a directory" expect_fail 1 'not a memory image' "$V" analyze "$tmp"
check "two sources with one name" expect_fail 1 "two sources are named 'vm1'" "$V" analyze "$tmp/a/vm1.img" "$tmp/b/vm1.img"
check "bad VM name" expect_fail 1 "invalid VM name" "$V" analyze "bad name=$tmp/a/vm1.img"
check "no source" expect_fail 2 'no memory source' "$V" analyze
check "unknown option" expect_fail 2 'unknown option' "$V" analyze --bogus "$tmp/a/vm1.img"
check "bad --threads" expect_fail 2 'threads must be' "$V" analyze --threads 0 "$tmp/a/vm1.img"
check "unknown command" expect_fail 2 "unknown command 'frobnicate'" "$V" frobnicate
check "dump to a missing directory" expect_fail 1 'No such file' "$V" dump "$tmp/a/vm1.img" "$tmp/no/dir/x.img"
[ -z "$(ls "$tmp" | grep '\.tmp\.')" ]
ok $? "no temporary file left behind"

python3 "$top_srcdir/tests/integration/fake_socket.py" dead "$tmp/dead.sock"
check "dead socket" expect_fail 1 'dead.sock: nobody is listening' "$V" analyze "$tmp/dead.sock"
python3 "$top_srcdir/tests/integration/fake_socket.py" garbage "$tmp/g.sock" &
for _ in $(seq 50); do [ -e "$tmp/g.sock.ready" ] && break; sleep 0.1; done
check "a socket that is not QMP" expect_fail 1 'g.sock: not a QMP server' "$V" analyze "$tmp/g.sock"
wait
python3 "$top_srcdir/tests/integration/fake_socket.py" silent "$tmp/s.sock" &
for _ in $(seq 50); do [ -e "$tmp/s.sock.ready" ] && break; sleep 0.1; done
check "a socket that says nothing" expect_fail 1 's.sock: no answer from QMP' "$V" analyze "$tmp/s.sock"
wait

"$V" --help | grep -q 'analyze' && "$V" analyze --help | grep -q 'QMP' && "$V" --version | grep -q '^vmscatter '
ok $? "help and version"
