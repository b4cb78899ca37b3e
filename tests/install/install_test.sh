#!/usr/bin/env bash
# usage: install_test.sh BUILD_DIR CONSUMER_DIR
set -euo pipefail
build=$1
consumer=$2
work=$(mktemp -d)
ns="inst$$"
trap 'rm -rf "$work"; rm -f /dev/shm/sluice.$ns' EXIT
prefix=$work/prefix
cmake --install "$build" --prefix "$prefix" > "$work/install.log"
libdir=$(dirname "$(find "$prefix" -name sluice.pc | head -1)")/..
export PKG_CONFIG_PATH=$libdir/pkgconfig
export LD_LIBRARY_PATH=$libdir

# 1. A plain C program, compiled with pkg-config --cflags --libs sluice.
cc -std=c11 -Wall -Werror "$consumer/hello.c" $(pkg-config --cflags --libs sluice) -o "$work/hello_c"
"$work/hello_c" "$ns"

# 2. A CMake project using find_package(sluice) -> sluice::sluice.
cmake -S "$consumer" -B "$work/cm" -DCMAKE_PREFIX_PATH="$prefix" > "$work/cm.log"
cmake --build "$work/cm" > "$work/cmb.log"
"$work/cm/hello_cpp" "$ns"
echo "install test: C via pkg-config and C++ via find_package both ran"
