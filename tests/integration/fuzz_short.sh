#!/bin/bash
# fuzz_short.sh - a short libFuzzer run of every parser harness (ASan+UBSan).
# Longer runs: tools/fuzz.sh --seconds 600.
. "$(dirname "$0")/tap.sh"
command -v clang >/dev/null || skip_all "clang not installed (tools/install-deps.sh)"
plan 9
for h in qemu_text summary wire mstream rewrite argv session session_mem journal; do
	"$top_srcdir/tools/fuzz.sh" --seconds "${VMS_FUZZ_SECONDS:-15}" "$h"
	ok $? "fuzz $h for ${VMS_FUZZ_SECONDS:-15}s: no crash, leak or undefined behaviour"
done
