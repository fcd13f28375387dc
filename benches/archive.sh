#!/usr/bin/env bash
# Benchmark: archive and restore of a 1,000,000-row column on PostgreSQL,
# against the same work done by hand (CREATE TABLE AS SELECT, DROP COLUMN,
# ADD COLUMN, UPDATE ... FROM). Needs MIGRATE_TEST_POSTGRES_URL.
#   bash benches/archive.sh          # ROWS=1000000 by default
set -euo pipefail
cd "$(dirname "$0")/.."
: "${MIGRATE_TEST_POSTGRES_URL:?set MIGRATE_TEST_POSTGRES_URL}"
ROWS=${ROWS:-1000000}
cargo build --release --quiet
BIN=$PWD/target/release/migrate
base=${MIGRATE_TEST_POSTGRES_URL%/*}
url="$base/migrate_bench_archive?sslmode=disable"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/m"
echo "CREATE TABLE big (id BIGINT PRIMARY KEY, payload TEXT);" > "$work/m/0001_big.up.sql"
printf -- '-- migrate:allow lossy-down: the benchmark table\nDROP TABLE big;\n' > "$work/m/0001_big.down.sql"
echo "ALTER TABLE big ADD COLUMN extra TEXT;" > "$work/m/0002_extra.up.sql"
printf -- '-- migrate:archive\nALTER TABLE big DROP COLUMN extra;\n' > "$work/m/0002_extra.down.sql"

ms() { echo $(( ($(date +%s%N) - $1) / 1000000 )); }
reset() {
    psql -q "$MIGRATE_TEST_POSTGRES_URL" -c 'DROP DATABASE IF EXISTS migrate_bench_archive' -c 'CREATE DATABASE migrate_bench_archive'
    "$BIN" -q --database-url "$url" --source "$work/m" up
    psql -q "$url" -c "INSERT INTO big SELECT g, 'payload ' || g, 'extra value ' || g FROM generate_series(1, $ROWS) g" -c 'VACUUM ANALYZE big'
}

reset
t=$(date +%s%N); "$BIN" -q --database-url "$url" --source "$work/m" down --yes; archive=$(ms "$t")
t=$(date +%s%N); "$BIN" -q --database-url "$url" --source "$work/m" up; restore=$(ms "$t")
check=$(psql -tA "$url" -c "SELECT count(*) FROM big WHERE extra = 'extra value ' || id")

reset
t=$(date +%s%N)
psql -q "$url" -c 'BEGIN' -c 'CREATE TABLE keep AS SELECT id, extra FROM big' -c 'ALTER TABLE big DROP COLUMN extra' -c 'COMMIT'
manual_archive=$(ms "$t")
t=$(date +%s%N)
psql -q "$url" -c 'BEGIN' -c 'ALTER TABLE big ADD COLUMN extra TEXT' -c 'UPDATE big SET extra = keep.extra FROM keep WHERE big.id = keep.id' -c 'COMMIT'
manual_restore=$(ms "$t")
psql -q "$MIGRATE_TEST_POSTGRES_URL" -c 'DROP DATABASE IF EXISTS migrate_bench_archive'

echo "rows: $ROWS (restored and verified: $check)"
echo "migrate down (archive + drop):  ${archive} ms    by hand: ${manual_archive} ms"
echo "migrate up (add + restore):     ${restore} ms    by hand: ${manual_restore} ms"
echo "total: $((archive + restore)) ms vs $((manual_archive + manual_restore)) ms by hand"
