#!/usr/bin/env bash
# Runs every check and test on a fresh machine: installs the pinned test bed, then formatting,
# lints (clippy, cfn-lint), the build, and all tests (unit, moto-backed end to end, and the
# built function through the Lambda Runtime API).
set -euo pipefail
cd "$(dirname "$0")/.."

tests/testbed/setup.sh
echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings
echo "== cfn-lint infra/template.yaml"
.testbed/venv/bin/cfn-lint infra/template.yaml
echo "== cargo build (the function binaries the runtime-API tests run)"
cargo build --workspace --bins --locked
echo "== cargo test"
log=$(mktemp)
trap 'rm -f "$log"' EXIT
cargo test --workspace --locked 2>&1 | tee "$log"
# One closing line for the whole run (cargo prints one per test binary).
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($i ~ /^passed/) p += $(i-1); if ($i ~ /^failed/) f += $(i-1) } }
     END { print "total: " p " passed, " f " failed" }' "$log"
