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
echo "== sam build (every function, arm64 release, with cargo-lambda)"
tests/testbed/sam-build.sh
echo "== cargo test"
log=$(mktemp)
trap 'rm -f "$log"' EXIT
# Every test process and function writes its JSON log lines (reports included) here.
logs="${CARGO_TARGET_DIR:-target}/test-logs"
rm -rf "$logs"
cargo test --workspace --locked 2>&1 | tee "$log"
echo "== secrets in logs and reports"
# The Okta tokens the tests use must appear in no log line and no report of the whole run.
tokens=$(sed -n 's/^pub const OKTA_[A-Z_]*TOKEN: &str = "\(.*\)";$/\1/p' tests/src/lib.rs)
lines=$(cat "$logs"/*.jsonl | wc -l)
okta_lines=$(cat "$logs"/*.jsonl | grep -c '"okta' || true)
if [ "$(echo "$tokens" | grep -c .)" -ne 2 ] || [ "$lines" -eq 0 ] || [ "$okta_lines" -eq 0 ]; then
  echo "nothing to scan ($lines lines, $okta_lines about Okta): the scan would prove nothing" >&2
  exit 1
fi
if grep -l -F "$tokens" "$logs"/*.jsonl; then
  echo "an Okta token appears in the files above" >&2
  exit 1
fi
echo "scanned $lines log lines ($okta_lines about Okta) from $(ls "$logs" | wc -l) processes: no Okta token"
# One closing line for the whole run (cargo prints one per test binary).
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($i ~ /^passed/) p += $(i-1); if ($i ~ /^failed/) f += $(i-1) } }
     END { print "total: " p " passed, " f " failed" }' "$log"
