#!/bin/bash
# fuzz.sh - build the libFuzzer harnesses (tests/fuzz/fuzz_*.c) with clang,
# AddressSanitizer and UBSan, and run each for a while from its seed corpus.
#
#   tools/fuzz.sh [--seconds N] [--out DIR] [HARNESS...]
# Default: every harness, 30 s each, work files in a temporary directory
# (removed afterwards). Exits non-zero when a harness finds a crash; the
# reproducer is kept in DIR (or printed).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
seconds=30 out=""
names=()
while [ $# -gt 0 ]; do
	case "$1" in
	--seconds) seconds=$2; shift 2 ;;
	--out) out=$2; shift 2 ;;
	-*) echo "fuzz: unknown option $1" >&2; exit 2 ;;
	*) names+=("$1"); shift ;;
	esac
done
command -v clang >/dev/null || { echo "fuzz: clang not installed (tools/install-deps.sh)" >&2; exit 1; }
[ ${#names[@]} -gt 0 ] || names=(qemu_text summary wire mstream rewrite argv session session_mem journal)
keep=1
if [ -z "$out" ]; then
	out=$(mktemp -d /tmp/vms-fuzz.XXXXXX)
	keep=0
fi
cleanup() { [ $keep = 1 ] || rm -rf "$out"; }
trap cleanup EXIT

extra=()
cflags=(-g -O1 -std=gnu11 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all -I"$top")
common=("$top"/common/err.c "$top"/common/cursor.c "$top"/common/num.c)
for n in "${names[@]}"; do
	case "$n" in
	qemu_text) srcs=("$top/kvmglue/procfmt.c" "${common[@]}"); libs=() ;;
	mstream) srcs=("$top/kvmglue/mstream.c" "${common[@]}"); libs=() ;;
	argv) srcs=("$top/kvmglue/launch.c" "$top/kvmglue/argv_keys.c" "$top/kvmglue/argv_policy.c" "${common[@]}")
	      libs=($(pkg-config --libs jansson)) ;;
	wire) srcs=("${common[@]}" "$top/common/wbuf.c" "$top/common/wire.c" "$top/common/compress.c")
	      libs=($(pkg-config --libs lzo2 libzstd liblz4)) ;;
	rewrite) srcs=("$top/kvmglue/mstream.c" "$top/scatter/rewrite.c" "$top/receiver/apply.c" "${common[@]}"
		       "$top/common/wbuf.c" "$top/common/wire.c" "$top/common/compress.c" "$top/common/digest.c")
		 libs=($(pkg-config --libs libcrypto libxxhash lzo2 libzstd liblz4)) ;;
	journal) srcs=("$top/scatter/journal.c" "${common[@]}"); libs=() ;;
	summary) srcs=("$top"/planner/{problem,eval,order,strategies,search,ilp,partition}.c)
		 libs=($(pkg-config --libs jansson) -lglpk -lm -pthread) ;;
	session) srcs=("$top"/receiver/{serve,session,index,image,mcast,hostsink,memsink,log,files,stream,apply,outcome}.c
		       "$top"/kvmglue/{qmp,procfmt,mem,mstream,migrate,libvirt}.c
		       "$top"/kvmglue/{launch,argv_keys,argv_policy}.c "$top"/common/{err,cursor,num,wbuf,wire,digest}.c
		       "$top"/common/{compress,pgm,conn,tls,seal,fault}.c)
		 libs=($(pkg-config --libs jansson openpgm-5.3 libssl libcrypto libxxhash lzo2 libzstd liblz4 libvirt libvirt-qemu))
		 extra=($(pkg-config --cflags openpgm-5.3 libxxhash)) ;;
	session_mem) srcs=("$top"/receiver/{session,index,memsink,log}.c "${common[@]}" "$top"/common/{wbuf,wire,compress,fault}.c)
		     libs=($(pkg-config --libs libcrypto lzo2 libzstd liblz4)) ;;
	*) echo "fuzz: unknown harness $n" >&2; exit 2 ;;
	esac
	bin="$out/fuzz_$n"
	clang "${cflags[@]}" $(pkg-config --cflags jansson) "${extra[@]}" -o "$bin" "$top/tests/fuzz/fuzz_$n.c" \
		"${srcs[@]}" "${libs[@]}"
	extra=()
	mkdir -p "$out/corpus_$n"
	cp "$top/tests/fuzz/corpus/$n"/* "$out/corpus_$n/"
	echo "fuzz: $n for ${seconds}s" >&2
	maxlen=8192
	case "$n" in session|session_mem) maxlen=16384 ;; esac   # whole pages in CONTENT messages
	if ! (cd "$out" && "$bin" -max_total_time="$seconds" -max_len=$maxlen -timeout=10 \
		-print_final_stats=1 "corpus_$n" > "$out/$n.log" 2>&1); then
		tail -n 40 "$out/$n.log" >&2
		keep=1
		echo "fuzz: $n found a problem; reproducer and log in $out" >&2
		exit 1
	fi
	grep -E '^stat::number_of_executed_units' "$out/$n.log" | sed "s/^/fuzz: $n: /" >&2 || true
done
