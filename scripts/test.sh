#!/usr/bin/env bash
# The whole test suite, from a fresh checkout: installs the Debian packages it needs, builds,
# and runs every test through CTest (unit tests, the privileged driver test in namespaces, the
# network-namespace labs, short fuzz runs). Prints CTest's summary; exits non-zero on a failure.
#
#   scripts/test.sh                 # as root
#   BUILD_DIR=build-asan CMAKE_ARGS="-DMESH_ASAN=ON" scripts/test.sh
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${BUILD_DIR:-build}
JOBS=${JOBS:-$(nproc)}

echo "== [1/3] packages"
bash scripts/install-deps.sh

echo "== [2/3] build ($BUILD_DIR)"
# shellcheck disable=SC2086
cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo ${CMAKE_ARGS:-} >/dev/null
cmake --build "$BUILD_DIR" -j "$JOBS"

echo "== [3/3] tests"
# Serial on purpose: the labs measure handshake and reconnect times, which a parallel compile or
# test on these 2 cores would distort.
cd "$BUILD_DIR"
ctest --output-on-failure --timeout 600 "$@"
