#!/usr/bin/env bash
# Benchmark: apply and revert 1,000 trivial migrations, and a no-op `up`,
# on SQLite and (when MIGRATE_TEST_POSTGRES_URL is set) PostgreSQL.
# Whole-process wall time, median of RUNS runs. Not a test: numbers go to
# docs/performance.md by hand.
#
#   bash benches/apply.sh            # RUNS=5 N=1000 by default
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-5}
N=${N:-1000}
cargo build --release --quiet
BIN=$PWD/target/release/migrate
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/m"
for i in $(seq 1 "$N"); do
    v=$(printf '%05d' "$i")
    echo "CREATE TABLE t$i (id INTEGER PRIMARY KEY, v INTEGER);" > "$work/m/${v}_t$i.up.sql"
    # The tables hold no data: accept the checker's lossy-down finding, or
    # `up` refuses to run.
    printf -- '-- migrate:allow lossy-down: benchmark tables hold no data\nDROP TABLE t%s;\n' "$i" > "$work/m/${v}_t$i.down.sql"
done

ms() { echo $(( ($(date +%s%N) - $1) / 1000000 )); }
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

# Commands per tool: up, down-to-zero. sqlx-cli is measured when it is on
# PATH (cargo install sqlx-cli --no-default-features --features postgres,sqlite,mysql,rustls),
# interleaved with migrate run by run, so that a machine getting slower or
# faster during the benchmark does not favour either.
# refinery (cargo install refinery_cli --no-default-features --features
# postgresql,sqlite-bundled) has no down: its down column stays empty. The
# floor, PostgreSQL only: psql sending each migration as one round trip
# (`BEGIN \; <up> \; COMMIT`), no bookkeeping at all.
TOOLS=(migrate)
if command -v sqlx >/dev/null; then TOOLS+=(sqlx); fi
if command -v refinery >/dev/null; then TOOLS+=(refinery); fi
if command -v psql >/dev/null; then TOOLS+=(floor); fi
# Which tool runs on which database here (PEERS_ON_MYSQL=1 when the peers
# were built with MySQL support).
runs_on() { # tool database
    case $1:$2 in
        floor:postgres | migrate:*) return 0 ;;
        floor:*) return 1 ;;
        *:mysql) [ -n "${PEERS_ON_MYSQL:-}" ] ;;
        *) return 0 ;;
    esac
}
mkdir -p "$work/r"
: > "$work/floor.sql"
for i in $(seq 1 "$N"); do
    echo "CREATE TABLE t$i (id INTEGER PRIMARY KEY, v INTEGER);" > "$work/r/V${i}__t$i.sql"
    echo "BEGIN \\; CREATE TABLE t$i (id INTEGER PRIMARY KEY, v INTEGER) \\; COMMIT;" >> "$work/floor.sql"
done
run_up() { # tool url
    case $1 in
        migrate) "$BIN" -q --database-url "$2" --source "$work/m" up >/dev/null ;;
        sqlx) sqlx migrate run --database-url "$2" --source "$work/m" >/dev/null ;;
        refinery)
            # refinery opens a SQLite file only if it exists.
            case $2 in sqlite*) f=${2#sqlite://}; touch "${f%%\?*}" ;; esac
            BENCH_DB_URL="${2%%\?*}" refinery migrate -e BENCH_DB_URL -p "$work/r" >/dev/null 2>&1 ;;
        floor) case $2 in postgres*) psql -q "$2" -f "$work/floor.sql" >/dev/null 2>&1 ;; esac ;;
    esac
}
run_down() {
    case $1 in
        migrate) "$BIN" -q --database-url "$2" --source "$work/m" down --to 0 --yes >/dev/null ;;
        sqlx) sqlx migrate revert --database-url "$2" --source "$work/m" --target-version 0 >/dev/null ;;
        refinery | floor) ;;
    esac
}

bench() { # name url reset-command
    declare -A up=() down=() noop=()
    for _ in $(seq 1 "$RUNS"); do
        for tool in "${TOOLS[@]}"; do
            runs_on "$tool" "$1" || continue
            eval "$3"
            t=$(date +%s%N); run_up "$tool" "$2"; up[$tool]+="$(ms "$t") "
            t=$(date +%s%N); run_up "$tool" "$2"; noop[$tool]+="$(ms "$t") "
            t=$(date +%s%N); run_down "$tool" "$2"; down[$tool]+="$(ms "$t") "
        done
    done
    for tool in "${TOOLS[@]}"; do
        runs_on "$tool" "$1" || continue
        printf '%-18s up %5s ms   no-op up %4s ms   down --to 0 %5s ms   (%s migrations, median of %s)\n' "$tool $1" \
            "$(printf '%s\n' ${up[$tool]} | median)" "$(printf '%s\n' ${noop[$tool]} | median)" "$(printf '%s\n' ${down[$tool]} | median)" "$N" "$RUNS"
    done
}

all() {
bench sqlite "sqlite://$work/bench.db?mode=rwc" "rm -f '$work/bench.db' '$work/bench.db.migrate-lock'"
if [ -n "${MIGRATE_TEST_POSTGRES_URL:-}" ]; then
    pg_base=${MIGRATE_TEST_POSTGRES_URL%/*}
    bench postgres "$pg_base/migrate_bench?sslmode=disable" "psql -q '$MIGRATE_TEST_POSTGRES_URL' -c 'DROP DATABASE IF EXISTS migrate_bench' -c 'CREATE DATABASE migrate_bench'"
fi
if [ -n "${MIGRATE_TEST_MYSQL_URL:-}" ]; then
    my_base=${MIGRATE_TEST_MYSQL_URL%/*}
    bench mysql "$my_base/migrate_bench" "mariadb -h 127.0.0.1 -uroot -e 'DROP DATABASE IF EXISTS migrate_bench; CREATE DATABASE migrate_bench'"
fi
}
all
