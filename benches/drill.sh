#!/usr/bin/env bash
# Benchmark: `migrate drill` of 200 generated migrations on SQLite (in
# memory), and on PostgreSQL when MIGRATE_TEST_POSTGRES_URL is set.
#   bash benches/drill.sh
set -euo pipefail
cd "$(dirname "$0")/.."
N=${N:-200}
cargo build --release --quiet
BIN=$PWD/target/release/migrate
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/m"
for i in $(seq 1 "$N"); do
    v=$(printf '%04d' "$i")
    if [ $((i % 2)) -eq 1 ]; then
        echo "CREATE TABLE t$i (id INTEGER PRIMARY KEY, name VARCHAR(50) NOT NULL, created_at TIMESTAMP);" > "$work/m/${v}_t$i.up.sql"
        printf -- '-- migrate:archive\nDROP TABLE t%s;\n' "$i" > "$work/m/${v}_t$i.down.sql"
    else
        echo "ALTER TABLE t$((i - 1)) ADD COLUMN note$i VARCHAR(50);" > "$work/m/${v}_note$i.up.sql"
        printf -- '-- migrate:archive\nALTER TABLE t%s DROP COLUMN note%s;\n' "$((i - 1))" "$i" > "$work/m/${v}_note$i.down.sql"
    fi
done
ms() { echo $(( ($(date +%s%N) - $1) / 1000000 )); }
t=$(date +%s%N); "$BIN" -q --source "$work/m" drill >/dev/null; echo "migrate drill, SQLite in memory: $(ms "$t") ms for $N migrations"
if [ -n "${MIGRATE_TEST_POSTGRES_URL:-}" ]; then
    t=$(date +%s%N); "$BIN" -q --database-url "$MIGRATE_TEST_POSTGRES_URL" --source "$work/m" drill >/dev/null; echo "migrate drill, PostgreSQL scratch database: $(ms "$t") ms for $N migrations"
fi
