#!/usr/bin/env bash
# Installs the test bed's Python tools (moto's server, cfn-lint and its SAM translator) into a
# project-local virtual environment, .testbed/venv, at the exact versions of requirements.lock.
# Reinstalls only when the lock file changes.
set -euo pipefail
cd "$(dirname "$0")/../.."

venv=.testbed/venv
lock=tests/testbed/requirements.lock
want=$(sha256sum "$lock" | cut -d' ' -f1)
if [ -x "$venv/bin/python" ] && [ "$(cat "$venv/.lock-sha256" 2>/dev/null)" = "$want" ]; then
  exit 0
fi
command -v python3 >/dev/null || { echo "setup: python3 (3.11 or later) is required" >&2; exit 1; }
python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
  || { echo "setup: python3 is $(python3 -V 2>&1); the pinned test bed needs 3.11 or later" >&2; exit 1; }
echo "setup: installing the test bed into $venv (moto, cfn-lint; pinned in $lock)"
python3 -m venv --clear "$venv"
"$venv/bin/pip" install --quiet --disable-pip-version-check --no-input -r "$lock"
echo "$want" > "$venv/.lock-sha256"
