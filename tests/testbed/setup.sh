#!/usr/bin/env bash
# Installs the test bed's Python tools into project-local virtual environments, each at the exact
# versions of its lock file:
#   .testbed/venv  moto's server, cfn-lint and its SAM translator (requirements.lock)
#   .testbed/sam   the AWS SAM CLI, for `sam validate --lint` and `sam build`, with cargo-lambda
#                  and zig, its Rust builder (sam-requirements.lock); a venv of its own because
#                  it pins an older boto3 than moto wants
# Reinstalls a venv only when its lock file changes.
set -euo pipefail
cd "$(dirname "$0")/../.."

# install VENV LOCK WHAT: (re)creates VENV from LOCK unless it was made from that lock already.
install() {
  local venv=$1 lock=$2 what=$3 want
  want=$(sha256sum "$lock" | cut -d' ' -f1)
  if [ -x "$venv/bin/python" ] && [ "$(cat "$venv/.lock-sha256" 2>/dev/null)" = "$want" ]; then
    return 0
  fi
  command -v python3 >/dev/null || { echo "setup: python3 (3.11 or later) is required" >&2; exit 1; }
  python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
    || { echo "setup: python3 is $(python3 -V 2>&1); the pinned test bed needs 3.11 or later" >&2; exit 1; }
  echo "setup: installing $what into $venv (pinned in $lock)"
  python3 -m venv --clear "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check --no-input -r "$lock"
  echo "$want" > "$venv/.lock-sha256"
}

install .testbed/venv tests/testbed/requirements.lock "the test bed (moto, cfn-lint)"
install .testbed/sam tests/testbed/sam-requirements.lock "the AWS SAM CLI and cargo-lambda"
