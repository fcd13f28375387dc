#!/usr/bin/env bash
# Fleet: `migrate --targets FILE up` over N SQLite targets x 10 migrations,
# on tmpfs (the tool's own cost) and on disk, with peak memory (max RSS)
# for 100 and 1,000 targets.
#
#   bash benches/fleet.sh            # builds the release binary first
#   TARGETS="100 1000" PARALLEL=8 DISK=/var/tmp bash benches/fleet.sh
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -q -p migrate-cli
bin=$PWD/target/release/migrate
counts=${TARGETS:-"100 1000"}
parallel=${PARALLEL:-8}
disk=${DISK:-/var/tmp}

make_source() {
    local m=$1
    mkdir -p "$m"
    for i in $(seq -w 1 10); do
        echo "CREATE TABLE t$i (id INTEGER PRIMARY KEY, v TEXT);" > "$m/00${i}_t$i.up.sql"
        printf -- "-- migrate:archive\nDROP TABLE t%s;\n" "$i" > "$m/00${i}_t$i.down.sql"
    done
}

run() {
    local where=$1 n=$2
    local dir
    dir=$(mktemp -d -p "$where" fleet.XXXXXX)
    make_source "$dir/m"
    for i in $(seq 1 "$n"); do echo "t$i sqlite://$dir/t$i.db"; done > "$dir/targets.txt"
    local start end rss
    start=$(date +%s.%N)
    rss=$( { /usr/bin/time -f '%M' "$bin" --quiet --source "$dir/m" --targets "$dir/targets.txt" --parallel "$parallel" up > /dev/null; } 2>&1 | tail -1)
    end=$(date +%s.%N)
    printf '%-8s %6d targets  up %6.2f s  max RSS %6d KiB\n' "$(basename "$where")" "$n" "$(echo "$end - $start" | bc)" "$rss"
    start=$(date +%s.%N)
    "$bin" --quiet --source "$dir/m" --targets "$dir/targets.txt" --parallel "$parallel" up > /dev/null
    end=$(date +%s.%N)
    printf '%-8s %6d targets  no-op up %6.2f s\n' "$(basename "$where")" "$n" "$(echo "$end - $start" | bc)"
    rm -rf "$dir"
}

for n in $counts; do
    run /dev/shm "$n"
done
for n in $counts; do
    run "$disk" "$n"
done
