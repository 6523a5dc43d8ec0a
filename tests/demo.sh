#!/usr/bin/env bash
# The sandbox demo: moto with a local organization, a CreateAccountResult event through the
# account-onboarder binary (Lambda Runtime API, real SQS queue), and what autofed did, twice.
set -euo pipefail
cd "$(dirname "$0")/.."

tests/testbed/setup.sh
cargo build --workspace --bins --locked --quiet
exec target/debug/sandbox "$@"
