#!/usr/bin/env bash
# usage: install_test.sh BUILD_DIR CONSUMER_DIR
#
# Installs the build into a scratch prefix and proves the installed product:
#  1. the installed libsluice.so exports none of the admin or sluicectl code
#     (budget files, apply, inspection, top view, checker, histogram);
#  2. consumers linked against the installed *shared* library (C through
#     pkg-config, C++ through find_package(sluice) -> sluice::sluice) call
#     every function of every installed header: a function the library does
#     not export fails the link.
set -euo pipefail
build=$1
consumer=$2
work=$(mktemp -d)
ns="inst$$"
trap 'rm -rf "$work"; rm -f /dev/shm/sluice.$ns /dev/shm/sluice.$ns-*' EXIT
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

# A consumer runs on the installed shared library: it needs libsluice.so.0,
# the loader finds it in the prefix, and it defines none of its functions.
check_shared() {
  local bin=$1 dyn libs  # captured first: `grep -q` in a pipe would SIGPIPE under pipefail
  dyn=$(readelf -d "$bin")
  libs=$(ldd "$bin")
  grep -q 'NEEDED.*\[libsluice\.so\.0\]' <<< "$dyn" || fail "$bin does not need libsluice.so.0"
  grep -qF "libsluice.so.0 => $libdir/libsluice.so.0 " <<< "$libs" ||
    fail "$bin does not load the installed libsluice.so.0: $(grep sluice <<< "$libs")"
  if nm --defined-only "$bin" | grep -E ' T (sluice_|_ZN6sluice)' | c++filt >&2; then
    fail "$bin contains library functions (static link?)"
  fi
}

# 2. Plain C programs, compiled with pkg-config --cflags --libs sluice.
for prog in hello c_api; do
  # shellcheck disable=SC2046  # pkg-config's flags are meant to split
  cc -std=c11 -Wall -Wextra -Werror "$consumer/$prog.c" $(pkg-config --cflags --libs sluice) \
    -o "$work/$prog"
  check_shared "$work/$prog"
done
"$work/hello" "$ns"
"$work/c_api" "$ns-c"

# 3. A CMake project using find_package(sluice) -> sluice::sluice (shared).
cmake -S "$consumer" -B "$work/cm" -DCMAKE_PREFIX_PATH="$prefix" > "$work/cm.log" ||
  { cat "$work/cm.log" >&2; fail "configuring the CMake consumer failed"; }
cmake --build "$work/cm" > "$work/cmb.log" 2>&1 ||
  { cat "$work/cmb.log" >&2; fail "building the CMake consumer failed (a function not exported?)"; }
for prog in hello_cpp public_api; do check_shared "$work/cm/$prog"; done
"$work/cm/hello_cpp" "$ns"
"$work/cm/public_api" "$ns-cpp"

# 4. No exported function goes uncalled: each one the library exports (but
# Limiter's private members, exported with their class) is one the consumers
# above link to. A public function added without a call here fails.
private='^sluice::Limiter::(Attach|Count|Decide|DecideAndCount|Lapse|Params|Reload|TryLease)\('
awk '$2 == "T" { $1 = $2 = ""; print substr($0, 3) }' "$work/exports.txt" |
  grep -Ev "$private" | sort -u > "$work/public.txt"
nm -DC --undefined-only "$work/c_api" "$work/cm/public_api" | sed -n 's/^ *U //p' |
  sed 's/@.*//' | sort -u > "$work/called.txt"
if comm -23 "$work/public.txt" "$work/called.txt" | grep . > "$work/uncalled.txt"; then
  cat "$work/uncalled.txt" >&2
  fail "$(wc -l < "$work/uncalled.txt") exported function(s) not called by c_api.c or public_api.cc"
fi
echo "install test: all $(wc -l < "$work/public.txt") public functions of libsluice.so called"
echo "install test: C via pkg-config and C++ via find_package ran on the installed libsluice.so"
