#!/usr/bin/env bash
# `sam build` of infra/template.yaml, as a deployment does it: every function built by
# cargo-lambda (BuildMethod rust-cargolambda) for arm64, in release mode, offline apart from the
# crate registry. Artifacts go to target/sam/build/<Function>/bootstrap; the build shares
# target/ with cargo, so a rerun rebuilds only what changed. tests/tests/infra.rs checks them.
set -euo pipefail
cd "$(dirname "$0")/../.."

tests/testbed/setup.sh
# cargo-lambda cross-compiles with zig; the standard library for the target comes from rustup.
if ! rustup target list --installed | grep -qx aarch64-unknown-linux-gnu; then
  rustup target add aarch64-unknown-linux-gnu
fi
export PATH="$PWD/.testbed/sam/bin:$PATH" SAM_CLI_TELEMETRY=0
rm -rf target/sam/build
start=$(date +%s)
sam build --template-file infra/template.yaml --build-dir target/sam/build \
  --cache-dir target/sam/cache --beta-features
echo "sam build: $(( $(date +%s) - start )) s"
