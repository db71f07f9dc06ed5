#!/usr/bin/env bash
# Runs the libFuzzer targets of dns01 on the stable toolchain (no sanitizer), each for SECONDS
# seconds (default 5), with memory caps; fails on the first crash, panic, timeout, leak of
# memory past the RSS cap or single allocation past the malloc cap.
#
#   fuzz/run.sh [SECONDS] [TARGET...]     e.g. fuzz/run.sh 20   or   fuzz/run.sh 600 name_parser
#
# Installs cargo-fuzz (about 70 s) if it is missing. The first build of the targets compiles
# the webhook's dependency tree with coverage instrumentation: several minutes on 2 cores;
# later runs reuse fuzz/target/. New inputs the fuzzer finds go to fuzz/corpus/<target>/
# (not committed); the checked-in seeds in fuzz/seeds/<target>/ are read, never written.
# A failing input is saved under fuzz/artifacts/<target>/ and can be replayed with
#   cargo fuzz run -s none <target> fuzz/artifacts/<target>/<file>
set -euo pipefail
cd "$(dirname "$0")"

seconds="${1:-5}"
shift || true
if [ "$#" -gt 0 ]; then
  targets=("$@")
else
  targets=(payload_handler name_parser txt_decoder config_parser www_authenticate scope_parser name_rewriter)
fi

if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "fuzz/run.sh: installing cargo-fuzz"
  cargo install cargo-fuzz --locked
fi

# The stable toolchain, whatever rustup's override says: nothing here needs nightly.
toolchain=()
if command -v rustup >/dev/null 2>&1 && rustup toolchain list | grep -q '^stable'; then
  toolchain=(+stable)
fi

cargo "${toolchain[@]}" fuzz build -s none

for target in "${targets[@]}"; do
  echo "== fuzz $target for ${seconds}s"
  mkdir -p "corpus/$target"
  cargo "${toolchain[@]}" fuzz run -s none "$target" "corpus/$target" "seeds/$target" -- \
    -max_total_time="$seconds" \
    -rss_limit_mb=512 \
    -malloc_limit_mb=256 \
    -timeout=10 \
    -max_len=16384 \
    -print_final_stats=1
done
echo "fuzz/run.sh: ${#targets[@]} targets, ${seconds}s each: no failure"
