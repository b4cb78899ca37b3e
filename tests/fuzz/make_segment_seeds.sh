#!/usr/bin/env bash
# Regenerates the segment_fuzz seeds (real segments of the current layout)
# into tests/fuzz/corpus/segment_fuzz/. Run when the layout version changes.
#   tests/fuzz/make_segment_seeds.sh [BUILD_DIR]   (default build-fuzz)
set -euo pipefail
cd "$(dirname "$0")/../.."
build="${1:-build-fuzz}"
cmake --build "$build" --target make_segment_seeds -j2
out=tests/fuzz/corpus/segment_fuzz
mkdir -p "$out"
"$build"/bin/make_segment_seeds "$out"
ls -l "$out"
