#!/usr/bin/env bash
# Benchmark: archive and restore of 16 dropped columns of a 100,000-row table
# (one down dropping all 16 with `-- migrate:archive`, one up re-adding them),
# on PostgreSQL and MariaDB, against the same work by hand (one CREATE TABLE
# AS SELECT of the 16 columns; one UPDATE ... FROM / UPDATE ... JOIN setting
# all 16). Needs MIGRATE_TEST_POSTGRES_URL and/or MIGRATE_TEST_MYSQL_URL.
#   bash benches/restore_wide.sh          # ROWS=100000 by default
set -euo pipefail
cd "$(dirname "$0")/.."
ROWS=${ROWS:-100000}
COLS=16
cargo build --release --quiet
BIN=$PWD/target/release/migrate
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/m"
echo "CREATE TABLE big (id BIGINT PRIMARY KEY, payload TEXT);" > "$work/m/0001_big.up.sql"
printf -- '-- migrate:allow lossy-down: the benchmark table\nDROP TABLE big;\n' > "$work/m/0001_big.down.sql"
: > "$work/m/0002_wide.up.sql"
: > "$work/m/0002_wide.down.sql"
adds=() drops=() sets=() keeps=()
for c in $(seq 1 $COLS); do
    echo "ALTER TABLE big ADD COLUMN c$c TEXT;" >> "$work/m/0002_wide.up.sql"
    printf -- '-- migrate:archive\nALTER TABLE big DROP COLUMN c%s;\n' "$c" >> "$work/m/0002_wide.down.sql"
    adds+=("ADD COLUMN c$c TEXT") drops+=("DROP COLUMN c$c") keeps+=("c$c")
done
join() { local IFS=","; echo "$*"; }
ms() { echo $(( ($(date +%s%N) - $1) / 1000000 )); }

bench() { # name url admin-cli reset-sql-cli
    local name=$1 url=$2 sql=$3
    local values=""
    for c in $(seq 1 $COLS); do values+=", 'value $c ' || g"; done
    $sql "DROP TABLE IF EXISTS keep" >/dev/null
    "$BIN" -q --database-url "$url" --source "$work/m" up
    $sql "DELETE FROM big" >/dev/null
    fill
    t=$(date +%s%N); "$BIN" -q --database-url "$url" --source "$work/m" down --yes; local archive; archive=$(ms "$t")
    t=$(date +%s%N); "$BIN" -q --database-url "$url" --source "$work/m" up; local restore; restore=$(ms "$t")
    local check; check=$($sql "SELECT count(*) FROM big WHERE c16 = CONCAT('value 16 ', id)")
    "$BIN" -q --database-url "$url" --source "$work/m" archive purge --yes >/dev/null 2>&1 || true
    # By hand.
    $sql "DELETE FROM big" >/dev/null
    fill
    t=$(date +%s%N)
    $sql "CREATE TABLE keep AS SELECT id, $(join "${keeps[@]}") FROM big" >/dev/null
    $sql "ALTER TABLE big $(join "${drops[@]}")" >/dev/null
    local manual_archive; manual_archive=$(ms "$t")
    t=$(date +%s%N)
    $sql "ALTER TABLE big $(join "${adds[@]}")" >/dev/null
    $sql "$update" >/dev/null
    local manual_restore; manual_restore=$(ms "$t")
    echo "$name: $ROWS rows x $COLS columns (restored and verified: $check)"
    echo "  migrate down (archive + drop):  ${archive} ms    by hand: ${manual_archive} ms"
    echo "  migrate up (add + restore):     ${restore} ms    by hand: ${manual_restore} ms"
}

if [ -n "${MIGRATE_TEST_POSTGRES_URL:-}" ]; then
    base=${MIGRATE_TEST_POSTGRES_URL%/*}
    url="$base/migrate_bench_wide?sslmode=disable"
    psql -q "$MIGRATE_TEST_POSTGRES_URL" -c 'DROP DATABASE IF EXISTS migrate_bench_wide' -c 'CREATE DATABASE migrate_bench_wide'
    pg() { psql -qtA "$url" -c "$1"; }
    fill() {
        local cols="" vals=""
        for c in $(seq 1 $COLS); do cols+=", c$c"; vals+=", 'value $c ' || g"; done
        pg "INSERT INTO big (id, payload$cols) SELECT g, 'payload ' || g$vals FROM generate_series(1, $ROWS) g" >/dev/null
        pg "VACUUM ANALYZE big" >/dev/null
    }
    sets=(); for c in $(seq 1 $COLS); do sets+=("c$c = keep.c$c"); done
    update="UPDATE big SET $(join "${sets[@]}") FROM keep WHERE big.id = keep.id"
    bench PostgreSQL "$url" pg
    psql -q "$MIGRATE_TEST_POSTGRES_URL" -c 'DROP DATABASE IF EXISTS migrate_bench_wide'
fi
if [ -n "${MIGRATE_TEST_MYSQL_URL:-}" ]; then
    base=${MIGRATE_TEST_MYSQL_URL%/*}
    url="$base/migrate_bench_wide"
    hostport=${base#*@}
    my() { mysql -h "${hostport%:*}" -P "${hostport#*:}" -u root -N -e "$1" migrate_bench_wide; }
    mysql -h "${hostport%:*}" -P "${hostport#*:}" -u root -e 'DROP DATABASE IF EXISTS migrate_bench_wide; CREATE DATABASE migrate_bench_wide'
    fill() {
        local cols="" vals=""
        for c in $(seq 1 $COLS); do cols+=", c$c"; vals+=", CONCAT('value $c ', seq)"; done
        my "INSERT INTO big (id, payload$cols) SELECT seq, CONCAT('payload ', seq)$vals FROM seq_1_to_$ROWS" >/dev/null
    }
    sets=(); for c in $(seq 1 $COLS); do sets+=("big.c$c = keep.c$c"); done
    update="UPDATE big JOIN keep ON big.id = keep.id SET $(join "${sets[@]}")"
    bench MariaDB "$url" my
    mysql -h "${hostport%:*}" -P "${hostport#*:}" -u root -e 'DROP DATABASE IF EXISTS migrate_bench_wide'
fi
