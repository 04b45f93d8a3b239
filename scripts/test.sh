#!/usr/bin/env bash
# Sets up whatever is missing (packages, build, default models), then runs the whole test suite
# in an optimized build, as CI does. Extra arguments go to `swift test` (e.g. --filter AudioIOTests).
set -euo pipefail
cd "$(dirname "$0")/.."
bin="$(bash scripts/setup.sh --test)"  # progress goes to stderr; prints the confab binary
# The OpenBLAS settings confab gives itself (workers that do not spin between calls, kernels for this CPU's
# vector units), for the test process, which loads the engine too.
exports="$("$bin" environment)"   # an assignment, so a failing confab stops the script (set -e)
eval "$exports"
export CONFAB_REQUIRE_MODELS=1
# The network tests' peers: the official `openai` and `wyoming` Python packages, in a venv of their own
# (scripts/.venv-peers). If they cannot be installed, the run fails here rather than skipping those tests.
bash scripts/peers-venv.sh >&2
export CONFAB_PEERS_PYTHON="$PWD/scripts/.venv-peers/bin/python"
# Build just the test bundle (setup.sh built `confab`, which the command-line tests run): a plain
# `swift test` also builds every executable of the dependencies, including swift-protobuf's bundled
# protoc (~800 C/C++ files, twice), which takes most of an hour on two cores.
swift build -c release -Xswiftc -enable-testing --product ConfabPackageTests
swift test -c release -Xswiftc -enable-testing --skip-build --disable-swift-testing "$@"
# The fuzz targets' regression run (Fuzz/README.md): every parser of untrusted bytes over its seed corpus and the
# inputs that once crashed it, then briefly fuzzed, under the address sanitizer. A crash fails the run.
# Only for the whole suite (no arguments): a filtered run is someone working on one target.
if [ $# -eq 0 ]; then bash scripts/fuzz.sh --ci; fi
