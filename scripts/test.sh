#!/usr/bin/env bash
# The whole test suite, from a fresh checkout: installs the Debian packages it needs, builds,
# and runs every test through CTest (unit tests, the privileged driver test in namespaces, the
# network-namespace labs), then builds the libFuzzer harnesses with clang in a build directory
# of their own and gives each a short run (ctest -L fuzz, docs/FUZZING.md). Prints CTest's
# summaries; exits non-zero when either part failed.
#
#   scripts/test.sh                 # as root
#   BUILD_DIR=build-asan CMAKE_ARGS="-DMESH_ASAN=ON" scripts/test.sh    (docs/SANITIZERS.md)
#   FUZZ=0 scripts/test.sh          # without the fuzz step; FUZZ_BUILD_DIR (build-fuzz) moves it
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${BUILD_DIR:-build}
FUZZ_BUILD_DIR=${FUZZ_BUILD_DIR:-build-fuzz}
FUZZ=${FUZZ:-1}
JOBS=${JOBS:-$(nproc)}

echo "== [1/4] packages"
bash scripts/install-deps.sh
bash scripts/kernel-vm-deps.sh  # Debian's kernel for the kernel-driver tests in qemu

echo "== [2/4] build ($BUILD_DIR)"
# shellcheck disable=SC2086
cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo ${CMAKE_ARGS:-} >/dev/null
cmake --build "$BUILD_DIR" -j "$JOBS"

echo "== [3/4] tests"
# A sanitized build's settings, for the tests and every daemon the labs start from them
# (docs/SANITIZERS.md). TSan: gRPC, abseil and protobuf from Debian are not instrumented, so their
# own synchronization is invisible to it; it ignores what they do (ignore_noninstrumented_modules)
# and the suppressions cover what is left of theirs. A report stops the process, so a race in a
# daemon fails its lab. UBSan already stops at the first report (-fno-sanitize-recover).
if grep -q '^MESH_TSAN:BOOL=ON' "$BUILD_DIR/CMakeCache.txt"; then
  export TSAN_OPTIONS="suppressions=$PWD/tests/sanitizers/tsan.supp ignore_noninstrumented_modules=1 halt_on_error=1 second_deadlock_stack=1 ${TSAN_OPTIONS:-}"
fi
if grep -q '^MESH_ASAN:BOOL=ON' "$BUILD_DIR/CMakeCache.txt"; then
  export UBSAN_OPTIONS="print_stacktrace=1 ${UBSAN_OPTIONS:-}"
fi
# Serial on purpose: the labs measure handshake and reconnect times, which a parallel compile or
# test on these 2 cores would distort.
status=0
(cd "$BUILD_DIR" && ctest --output-on-failure --timeout 600 "$@") || status=$?

if [[ $FUZZ == 0 ]]; then
  echo "== [4/4] fuzz: skipped (FUZZ=0)"
  exit "$status"
fi
echo "== [4/4] fuzz ($FUZZ_BUILD_DIR: clang, -DMESH_FUZZ=ON; only the fuzz targets)"
# Its own configuration: CMAKE_ARGS (a sanitizer of the main build) does not apply here, the
# harnesses carry ASan+UBSan themselves.
CC=clang CXX=clang++ cmake -S . -B "$FUZZ_BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DMESH_FUZZ=ON >/dev/null
cmake --build "$FUZZ_BUILD_DIR" --target fuzzers -j "$JOBS"
fuzz_status=0
(cd "$FUZZ_BUILD_DIR" && ctest -L fuzz --output-on-failure) || fuzz_status=$?
if ((status != 0 || fuzz_status != 0)); then
  echo "test.sh: FAILED (tests: exit $status, fuzz: exit $fuzz_status)"
  exit 1
fi
