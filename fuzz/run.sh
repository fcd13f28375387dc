#!/usr/bin/env bash
# Short fuzz runs of the splitter + checker and of the loader.
# Needs cargo-fuzz (cargo install cargo-fuzz); on a stable toolchain the
# sanitizer flags need RUSTC_BOOTSTRAP=1.
#   bash fuzz/run.sh            # 60 seconds per target
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_PER_TARGET=${SECONDS_PER_TARGET:-60}
for target in split_check loader; do
    RUSTC_BOOTSTRAP=1 cargo fuzz run "$target" -- -max_total_time="$SECONDS_PER_TARGET" 2>&1 | tail -5
done
