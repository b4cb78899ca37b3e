#!/usr/bin/env bash
# usage: install_test.sh BUILD_DIR CONSUMER_DIR
#
# Installs the build into a scratch prefix, checks that the installed
# libsluice.so exports none of the admin or sluicectl code (budget files,
# apply, inspection, top view, checker, histogram), then builds two consumers
# against it: a plain C program via pkg-config, and a CMake project via
# find_package(sluice).
set -euo pipefail
build=$1
consumer=$2
work=$(mktemp -d)
ns="inst$$"
trap 'rm -rf "$work"; rm -f /dev/shm/sluice.$ns' EXIT
fail() { echo "install test: $*" >&2; exit 1; }

prefix=$work/prefix
cmake --install "$build" --prefix "$prefix" > "$work/install.log"
libdir=$(cd "$(dirname "$(find "$prefix" -name sluice.pc | head -1)")/.." && pwd)
so=$libdir/libsluice.so
[[ -e $so ]] || fail "no libsluice.so in $libdir"
export PKG_CONFIG_PATH=$libdir/pkgconfig
export LD_LIBRARY_PATH=$libdir

# 1. The worker ABI exports the core alone. Demangled names, case-insensitive.
nm -D --defined-only "$so" | c++filt > "$work/exports.txt"
forbidden='budget|apply|inspect|snapshot|limiterrow|top_?view|rendertop|topoptions|sparkline'
forbidden+='|ratetracker|guarantee|checker|maxgrantsin|steadyrate|allocationstate|histogram'
forbidden+='|formattable|formatshow|tojson|admin_access|segmentinternals'
if grep -Ei "$forbidden" "$work/exports.txt" > "$work/leaked.txt"; then
  cat "$work/leaked.txt" >&2
  fail "$(wc -l < "$work/leaked.txt") admin/tool symbol(s) exported by $so (listed above)"
fi
echo "install test: libsluice.so exports $(grep -c ' T ' "$work/exports.txt") functions, none of admin/ or sluicectl"

# 2. A plain C program, compiled with pkg-config --cflags --libs sluice.
# shellcheck disable=SC2046  # pkg-config's flags are meant to split
cc -std=c11 -Wall -Werror "$consumer/hello.c" $(pkg-config --cflags --libs sluice) -o "$work/hello_c"
"$work/hello_c" "$ns"

# 3. A CMake project using find_package(sluice) -> sluice::sluice.
cmake -S "$consumer" -B "$work/cm" -DCMAKE_PREFIX_PATH="$prefix" > "$work/cm.log"
cmake --build "$work/cm" > "$work/cmb.log"
"$work/cm/hello_cpp" "$ns"
echo "install test: C via pkg-config and C++ via find_package both ran"
