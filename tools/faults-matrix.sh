#!/bin/bash
# faults-matrix.sh - the whole fault matrix of tests/integration/faults.sh
# (every process killed at every phase, the link cuts: 29 cells, about 13
# minutes on 2 cores); `make check` runs a representative part of it.
#   tools/faults-matrix.sh [BUILD_DIR]     (root; BUILD_DIR defaults to .)
# FAULTS_ONLY=REGEX (matched against PHASE/WHO) picks cells.
set -eu
here=$(cd "$(dirname "$0")/.." && pwd)
build=$(cd "${1:-.}" && pwd)
export top_srcdir=$here top_builddir=$build abs_top_builddir=$build
export VMSCATTER=$build/vmscatter VMS_SYNTH=$build/tools/vms-synth
export FAULTS_ONLY=${FAULTS_ONLY:-.}
exec bash "$here/tests/integration/faults.sh"
