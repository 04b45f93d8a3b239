#!/usr/bin/env bash
# Sets up whatever is missing, then runs Confab with the given arguments.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=$(bash scripts/setup.sh | tail -n 1)
exec "$bin" "$@"
