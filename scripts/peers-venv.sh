#!/usr/bin/env bash
# Builds scripts/.venv-peers with the Python packages the network tests talk to Confab with: `openai` (the
# official client, against `confab serve`) and `wyoming` (Home Assistant's protocol, against --wyoming).
# Idempotent; fails (exit 1) when they cannot be installed.
set -euo pipefail
cd "$(dirname "$0")/.."
venv=scripts/.venv-peers
if [ -x "$venv/bin/python" ] && "$venv/bin/python" -c "import openai, wyoming" 2>/dev/null; then
  exit 0
fi
echo "==> installing the test peers (openai, wyoming) into $venv" >&2
python3 -m venv "$venv" || { echo "peers-venv: python3 -m venv failed (on Debian: apt-get install python3-venv)" >&2; exit 1; }
"$venv/bin/pip" install --quiet --disable-pip-version-check "openai>=1.40" "wyoming>=1.5.4" \
  || { echo "peers-venv: pip could not install openai and wyoming" >&2; exit 1; }
"$venv/bin/python" -c "import openai, wyoming" || { echo "peers-venv: openai/wyoming do not import" >&2; exit 1; }
