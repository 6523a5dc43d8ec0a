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
# moto records every STS credential it issues here (tests/testbed/moto_server.py).
sts_secrets="${CARGO_TARGET_DIR:-target}/test-secrets"
rm -rf "$logs" "$sts_secrets"
cargo test --workspace --locked 2>&1 | tee "$log"
echo "== secrets in logs and reports"
# No secret may appear in a log line or a report of the whole run (the tests', the functions',
# the demo's): the Okta tokens the tests use, the test bed's own secret key, and every STS
# secret key and session token moto issued during the run.
tokens=$(sed -n 's/^pub const OKTA_[A-Z_]*TOKEN: &str = "\(.*\)";$/\1/p' tests/src/lib.rs)
sts=$(cat "$sts_secrets"/*.txt 2>/dev/null | sort -u)
files=$(ls "$logs"/*.jsonl "${CARGO_TARGET_DIR:-target}"/sandbox/*.json 2>/dev/null)
lines=$(cat $files | wc -l)
okta_lines=$(cat "$logs"/*.jsonl | grep -c '"okta' || true)
n_sts=$(echo "$sts" | grep -c . || true)
if [ "$(echo "$tokens" | grep -c .)" -ne 2 ] || [ "$lines" -eq 0 ] || [ "$okta_lines" -eq 0 ] || [ "$n_sts" -eq 0 ]; then
  echo "nothing to scan ($lines lines, $okta_lines about Okta, $n_sts STS secrets): the scan would prove nothing" >&2
  exit 1
fi
patterns=$(mktemp)
printf '%s\n' "$tokens" "testing-secret" "$sts" | grep . > "$patterns"
if grep -l -F -f "$patterns" $files; then
  echo "a secret (Okta token or AWS secret key / session token) appears in the files above" >&2
  exit 1
fi
rm -f "$patterns"
echo "scanned $lines log and report lines ($okta_lines about Okta) from $(echo "$files" | wc -l) files for $(echo "$tokens" | grep -c .) Okta tokens and $n_sts STS secrets: none found"
# One closing line for the whole run (cargo prints one per test binary).
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($i ~ /^passed/) p += $(i-1); if ($i ~ /^failed/) f += $(i-1) } }
     END { print "total: " p " passed, " f " failed" }' "$log"
