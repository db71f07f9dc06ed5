#!/usr/bin/env bash
# The whole test suite, from a fresh machine: installs what it needs, then runs every Rust test
# (unit, integration, doc) and the deployment checks. Exits non-zero if anything fails.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh

echo "== Rust tests (cargo nextest)"
cargo nextest run --workspace --all-features --no-fail-fast

echo "== Rust doc tests"
cargo test --doc --workspace --all-features

echo "== Benchmark, short mode (Gandi call counts of figure 4; fails if a target is missed)"
cargo run -q -p dns01-bench -- --short

echo "== Fuzzing, short run (libFuzzer on stable; fuzz/README.md has the longer one)"
fuzz/run.sh "${DNS01_FUZZ_SECONDS:-10}"

echo "== Deployment checks (Helm, kustomize, Kubernetes schemas)"
deploy/tests/run.sh
