#!/usr/bin/env bash
# Benchmark: `migrate check` on 1,000 generated migrations (about 5,000
# statements), beside squawk on the same files when it is installed
# (pip install squawk-cli). Whole-process wall time, median of RUNS runs.
#   bash benches/check.sh
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-10}
N=${N:-1000}
cargo build --release --quiet
BIN=$PWD/target/release/migrate
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/m"
for i in $(seq 1 "$N"); do
    v=$(printf '%05d' "$i")
    cat > "$work/m/${v}_t$i.up.sql" <<SQL
CREATE TABLE t$i (id BIGINT PRIMARY KEY, name TEXT NOT NULL, created_at TIMESTAMPTZ NOT NULL DEFAULT now());
ALTER TABLE t$i ADD COLUMN note TEXT;
CREATE INDEX t${i}_name_idx ON t$i (name);
INSERT INTO t$i (id, name) VALUES (1, 'first');
COMMENT ON TABLE t$i IS 'table $i';
SQL
    cat > "$work/m/${v}_t$i.down.sql" <<SQL
DROP INDEX t${i}_name_idx;
-- migrate:archive
DROP TABLE t$i;
SQL
done
statements=$(cat "$work"/m/*.sql | grep -c ';')
ms() { echo $(( ($(date +%s%N) - $1) / 1000000 )); }
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
times=()
for _ in $(seq 1 "$RUNS"); do
    t=$(date +%s%N); "$BIN" --source "$work/m" check --format json >/dev/null || true; times+=("$(ms "$t")")
done
echo "migrate check: $(printf '%s\n' "${times[@]}" | median) ms for $N migrations ($statements statements, up and down), median of $RUNS"
if command -v squawk >/dev/null; then
    times=()
    for _ in $(seq 1 "$RUNS"); do
        t=$(date +%s%N); squawk "$work"/m/*.up.sql >/dev/null 2>&1 || true; times+=("$(ms "$t")")
    done
    echo "squawk (ups only, $N files): $(printf '%s\n' "${times[@]}" | median) ms, median of $RUNS"
    times=()
    for _ in $(seq 1 "$RUNS"); do
        t=$(date +%s%N); squawk "$work"/m/*.sql >/dev/null 2>&1 || true; times+=("$(ms "$t")")
    done
    echo "squawk (ups and downs, $((N * 2)) files): $(printf '%s\n' "${times[@]}" | median) ms, median of $RUNS"
fi
