//! Archive tables: copying what a DROP removes, and putting it back.
//!
//! The archive of a column holds the table's key and the column; the archive
//! of a table is a copy of it. Both are made with `CREATE TABLE ... AS
//! SELECT`, in the stage's transaction where the database has one, and
//! recorded in `<prefix>archives`. Archives are never deleted implicitly.

use super::conn::query;
use serde::Serialize;

use super::{Backend, Driver};
use crate::archive::ArchiveTarget;
use crate::error::{DbError, Error};
use crate::source::{Direction, StageKind};

/// One archive, as recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct ArchiveRecord {
    /// Its number; the archive table is `<prefix>archive_<id>`.
    pub id: i64,
    /// The migration whose stage dropped the data.
    pub version: i64,
    /// That stage.
    pub stage: StageKind,
    /// The direction that dropped it (serialised `up` or `down`). The
    /// inverse direction of the same stage restores it.
    pub direction: Direction,
    /// The table as written in the statement.
    pub table_sql: String,
    /// The table's bare name.
    pub table: String,
    /// The column, or `None` for a whole table.
    pub column: Option<String>,
    /// Where the data is.
    pub archive_table: String,
    /// The key the rows are matched on.
    pub key_columns: Vec<String>,
    /// Rows kept.
    pub row_count: i64,
    /// When.
    pub created_at: String,
    /// When it was put back, if it was.
    pub restored_at: Option<String>,
    /// Rows put back.
    pub restored_rows: Option<i64>,
}

impl ArchiveRecord {
    /// Rows of a restored table archive that were not put back because a
    /// row with the same key already existed: they exist only in the
    /// archive. Always 0 for a column archive (rows missing there were
    /// deleted since, so their values have nowhere to go) and for an archive
    /// not restored yet.
    pub fn rows_left_behind(&self) -> i64 {
        match (&self.column, self.restored_rows) {
            (None, Some(restored)) => (self.row_count - restored).max(0),
            _ => 0,
        }
    }

    /// `users.name` or `users`.
    pub fn label(&self) -> String {
        match &self.column {
            Some(c) => format!("{}.{c}", self.table),
            None => self.table.clone(),
        }
    }
}

impl Driver {
    /// An identifier quoted for this database.
    pub(crate) fn quote(&self, ident: &str) -> String {
        match self.backend {
            Backend::Mysql => format!("`{}`", ident.replace('`', "``")),
            Backend::Postgres | Backend::Sqlite => format!("\"{}\"", ident.replace('"', "\"\"")),
        }
    }

    /// The columns of a table (generated columns left out); empty when the
    /// table does not exist.
    pub(crate) async fn table_columns(
        &mut self,
        table_sql: &str,
        table: &str,
    ) -> Result<Vec<String>, Error> {
        let doing = "reading a table's columns";
        let rows = match self.backend {
            Backend::Postgres => {
                self.strings(
                    "SELECT attname::text FROM pg_attribute WHERE attrelid = to_regclass(?) AND attnum > 0 AND NOT attisdropped AND attgenerated = '' ORDER BY attnum",
                    &[table_sql],
                    doing,
                )
                .await?
            }
            Backend::Mysql => {
                self.strings(
                    "SELECT CAST(column_name AS CHAR) AS col FROM information_schema.columns WHERE table_schema = DATABASE() AND table_name = ? AND extra NOT LIKE '%GENERATED%' ORDER BY ordinal_position",
                    &[table],
                    doing,
                )
                .await?
            }
            Backend::Sqlite => self.strings("SELECT name FROM pragma_table_xinfo(?) WHERE hidden = 0 ORDER BY cid", &[table], doing).await?,
        };
        Ok(rows.into_iter().map(|mut r| r.remove(0)).collect())
    }

    /// The key to restore rows by: the primary key, else the first unique
    /// key whose columns are all NOT NULL. `None` when the table does not
    /// exist; an empty key when it has none.
    pub(crate) async fn key_columns(
        &mut self,
        table_sql: &str,
        table: &str,
    ) -> Result<Option<Vec<String>>, Error> {
        if self.table_columns(table_sql, table).await?.is_empty() {
            return Ok(None);
        }
        let doing = "reading a table's keys";
        // Rows of (index, column, not-null as '1'/'0'), primary key first.
        let rows = match self.backend {
            Backend::Postgres => {
                self.strings(
                    "SELECT i.indexrelid::text, a.attname::text, CASE WHEN a.attnotnull THEN '1' ELSE '0' END \
                     FROM pg_index i JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, ord) ON true \
                     JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum \
                     WHERE i.indrelid = to_regclass(?) AND i.indisunique AND i.indexprs IS NULL AND i.indpred IS NULL \
                     ORDER BY i.indisprimary DESC, i.indexrelid, k.ord",
                    &[table_sql],
                    doing,
                )
                .await?
            }
            Backend::Mysql => {
                self.strings(
                    "SELECT CAST(s.index_name AS CHAR), CAST(s.column_name AS CHAR), CASE WHEN c.is_nullable = 'NO' THEN '1' ELSE '0' END \
                     FROM information_schema.statistics s JOIN information_schema.columns c \
                     ON c.table_schema = s.table_schema AND c.table_name = s.table_name AND c.column_name = s.column_name \
                     WHERE s.table_schema = DATABASE() AND s.table_name = ? AND s.non_unique = 0 \
                     ORDER BY s.index_name = 'PRIMARY' DESC, s.index_name, s.seq_in_index",
                    &[table],
                    doing,
                )
                .await?
            }
            Backend::Sqlite => {
                let mut rows = self
                    .strings("SELECT 'primary', name, '1' FROM pragma_table_info(?) WHERE pk > 0 ORDER BY pk", &[table], doing)
                    .await?;
                rows.extend(
                    self.strings(
                        "SELECT il.name, ii.name, CAST(ti.\"notnull\" AS TEXT) FROM pragma_index_list(?) il \
                         JOIN pragma_index_info(il.name) ii JOIN pragma_table_info(?) ti ON ti.name = ii.name \
                         WHERE il.\"unique\" = 1 AND il.partial = 0 AND il.origin != 'pk' ORDER BY il.seq, ii.seqno",
                        &[table, table],
                        doing,
                    )
                    .await?,
                );
                rows
            }
        };
        let mut groups: Vec<(String, Vec<String>, bool)> = Vec::new();
        for r in rows {
            let (index, column, not_null) = (r[0].clone(), r[1].clone(), r[2] == "1");
            match groups.last_mut() {
                Some(g) if g.0 == index => {
                    g.1.push(column);
                    g.2 &= not_null;
                }
                _ => groups.push((index, vec![column], not_null)),
            }
        }
        Ok(Some(
            groups
                .into_iter()
                .find(|g| g.2)
                .map(|g| g.1)
                .unwrap_or_default(),
        ))
    }

    /// Copies what `target` is about to drop into a new archive table and
    /// records it. Runs in the caller's transaction, if any.
    pub(crate) async fn archive(
        &mut self,
        version: i64,
        stage: StageKind,
        direction: Direction,
        target: &ArchiveTarget,
        keys: &[String],
        now: &str,
    ) -> Result<ArchiveRecord, DbError> {
        let next = format!(
            "SELECT CAST(COALESCE(MAX(id), 0) + 1 AS BIGINT) FROM {}",
            self.tables.archives
        );
        let next = if self.backend == Backend::Mysql {
            next.replace("AS BIGINT", "AS SIGNED")
        } else {
            next
        };
        let id: i64 = query(next)
            .scalar(&mut self.conn)
            .await
            .map_err(|e| self.db_error(e))?;
        let archive_table = format!("{}{}archive_{id}", self.tables.schema, self.tables.prefix);
        let select = match &target.column {
            Some(c) => {
                let mut cols: Vec<String> = keys.iter().map(|k| self.quote(k)).collect();
                if !keys.iter().any(|k| k == c) {
                    cols.push(self.quote(c));
                }
                cols.join(", ")
            }
            None => "*".to_string(),
        };
        let mut record = ArchiveRecord {
            id,
            version,
            stage,
            direction,
            table_sql: target.table_sql.clone(),
            table: target.table.clone(),
            column: target.column.clone(),
            archive_table: archive_table.clone(),
            key_columns: keys.to_vec(),
            row_count: 0,
            created_at: now.to_string(),
            restored_at: None,
            restored_rows: None,
        };
        // The record goes first: where DDL commits on its own (MySQL), a
        // crash between the copy and its record must not leave a copy nobody
        // knows about. A record whose table never got made is skipped on restore.
        let insert = self.q(&format!(
            "INSERT INTO {} (id, version, stage, direction, table_sql, table_name, column_name, archive_table, key_columns, row_count, created_at) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            self.tables.archives
        ));
        query(insert)
            .bind(record.id)
            .bind(record.version)
            .bind(record.stage.name())
            .bind(record.direction.name())
            .bind(&record.table_sql)
            .bind(&record.table)
            .bind(&record.column)
            .bind(&record.archive_table)
            .bind(record.key_columns.join(","))
            .bind(record.row_count)
            .bind(&record.created_at)
            .execute(&mut self.conn)
            .await
            .map_err(|e| self.db_error(e))?;
        let ctas = format!(
            "CREATE TABLE {archive_table} AS SELECT {select} FROM {}",
            target.table_sql
        );
        self.execute(&ctas).await?;
        // An index on the key makes the restore a keyed join rather than a
        // scan of the archive per row (MariaDB's nested loops took most of
        // a minute for 100,000 rows).
        if !keys.is_empty() {
            let cols: Vec<String> = keys.iter().map(|k| self.quote(k)).collect();
            let index = match self.backend {
                Backend::Postgres => format!(
                    "CREATE INDEX ON {archive_table} ({}); ANALYZE {archive_table}",
                    cols.join(", ")
                ),
                Backend::Mysql | Backend::Sqlite => format!(
                    "CREATE INDEX {}archive_{id}_key ON {archive_table} ({})",
                    self.tables.prefix,
                    cols.join(", ")
                ),
            };
            match self.execute(&index).await {
                Ok(()) => {}
                // MySQL cannot index a TEXT key without a prefix length: the
                // restore is then only slower. (Elsewhere the key columns
                // come from an index, so they can be indexed again.)
                Err(e) if self.backend == Backend::Mysql => {
                    tracing::debug!(error = %e.message, "no index on the archive table");
                }
                Err(e) => return Err(e),
            }
        }
        let count: i64 = query(format!("SELECT COUNT(*) FROM {archive_table}"))
            .scalar(&mut self.conn)
            .await
            .map_err(|e| self.db_error(e))?;
        record.row_count = count;
        let update = self.q(&format!(
            "UPDATE {} SET row_count = ? WHERE id = ?",
            self.tables.archives
        ));
        query(update)
            .bind(count)
            .bind(id)
            .execute(&mut self.conn)
            .await
            .map_err(|e| self.db_error(e))?;
        tracing::info!(archive = %record.archive_table, target = %record.label(), rows = count, "archived");
        Ok(record)
    }

    /// Every archive, oldest first; empty when the table does not exist yet.
    pub(crate) async fn archives(&mut self) -> Result<Vec<ArchiveRecord>, Error> {
        let sql = format!(
            "SELECT id, version, stage, direction, table_sql, table_name, column_name, archive_table, key_columns, row_count, created_at, restored_at, restored_rows FROM {} ORDER BY id",
            self.tables.archives
        );
        let rows = self.own_rows(sql, "reading the archives").await?;
        rows.iter()
            .map(|r| {
                let stage: String = r.try_get("stage")?;
                let keys: String = r.try_get("key_columns")?;
                Ok(ArchiveRecord {
                    id: r.try_get("id")?,
                    version: r.try_get("version")?,
                    stage: StageKind::parse(&stage).unwrap_or(StageKind::Main),
                    direction: Direction::from_name(&r.try_get::<String>("direction")?)
                        .unwrap_or(Direction::Up),
                    table_sql: r.try_get("table_sql")?,
                    table: r.try_get("table_name")?,
                    column: r.try_get("column_name")?,
                    archive_table: r.try_get("archive_table")?,
                    key_columns: keys
                        .split(',')
                        .filter(|k| !k.is_empty())
                        .map(str::to_string)
                        .collect(),
                    row_count: r.try_get("row_count")?,
                    created_at: r.try_get("created_at")?,
                    restored_at: r.try_get("restored_at")?,
                    restored_rows: r.try_get("restored_rows")?,
                })
            })
            .collect::<Result<Vec<_>, sqlx::Error>>()
            .map_err(|e| self.internal("reading the archives", e))
    }

    /// On PostgreSQL, `sql` wrapped so that the table's enabled user
    /// triggers do not fire for it (a restore puts back what was there; an
    /// audit trigger or an `updated_at` trigger must not see it as a change):
    /// each is disabled by name and enabled again, in the stage's
    /// transaction where there is one. SQLite and MySQL cannot switch a
    /// trigger off; there the restore is a plain statement.
    async fn without_user_triggers(
        &mut self,
        table_sql: &str,
        sql: String,
    ) -> Result<String, DbError> {
        if self.backend != Backend::Postgres {
            return Ok(sql);
        }
        let triggers = self
            .strings(
                "SELECT tgname::text FROM pg_trigger WHERE tgrelid = to_regclass(?) AND NOT tgisinternal AND tgenabled <> 'D' ORDER BY tgname",
                &[table_sql],
                "restoring an archive",
            )
            .await
            .map_err(|e| DbError::of(&e))?;
        if triggers.is_empty() {
            return Ok(sql);
        }
        let names: Vec<String> = triggers
            .into_iter()
            .filter_map(|r| r.into_iter().next())
            .map(|n| self.quote(&n))
            .collect();
        let toggle = |verb: &str| {
            names
                .iter()
                .map(|n| format!("ALTER TABLE {table_sql} {verb} TRIGGER {n}"))
                .collect::<Vec<_>>()
                .join(";\n")
        };
        Ok(format!(
            "{};\n{sql};\n{}",
            toggle("DISABLE"),
            toggle("ENABLE")
        ))
    }

    /// Drops an archive table and its record.
    pub(crate) async fn drop_archive(&mut self, a: &ArchiveRecord) -> Result<(), Error> {
        let drop = format!("DROP TABLE IF EXISTS {}", a.archive_table);
        self.conn
            .execute_raw(&drop)
            .await
            .map_err(|e| self.internal("dropping an archive", e))?;
        let delete = self.q(&format!(
            "DELETE FROM {} WHERE id = ?",
            self.tables.archives
        ));
        query(delete)
            .bind(a.id)
            .execute(&mut self.conn)
            .await
            .map_err(|e| self.internal("dropping an archive", e))?;
        Ok(())
    }

    /// Puts an archive back if its table (or column) exists again. Returns
    /// the rows restored, or `None` when there is nothing to restore into.
    pub(crate) async fn restore(
        &mut self,
        a: &ArchiveRecord,
        now: &str,
    ) -> Result<Option<i64>, DbError> {
        let map_err = |d: &Driver, e: Error| DbError {
            message: d.redact(&e.to_string()),
            code: None,
            lock_timeout: false,
            cause: e.cause(),
        };
        let columns = match self.table_columns(&a.table_sql, &a.table).await {
            Ok(c) => c,
            Err(e) => return Err(map_err(self, e)),
        };
        if columns.is_empty() {
            return Ok(None);
        }
        let archived = match self.table_columns(&a.archive_table, &a.archive_table).await {
            Ok(c) => c,
            Err(e) => return Err(map_err(self, e)),
        };
        if archived.is_empty() {
            // The process died between recording the archive and making it:
            // the DROP it guarded never ran, so nothing was lost.
            tracing::warn!(archive = %a.archive_table, "archive recorded but never made; skipped");
            return Ok(None);
        }
        let on: Vec<String> = a
            .key_columns
            .iter()
            .map(|k| format!("t.{q} = a.{q}", q = self.quote(k)))
            .collect();
        let on = on.join(" AND ");
        let rows = match &a.column {
            Some(column) => {
                if !columns.iter().any(|c| c == column) {
                    return Ok(None);
                }
                let c = self.quote(column);
                match self.backend {
                    Backend::Mysql => {
                        // MySQL counts changed rows, not matched ones: count first.
                        let count = format!(
                            "SELECT COUNT(*) FROM {} AS t JOIN {} AS a ON {on}",
                            a.table_sql, a.archive_table
                        );
                        let rows: i64 = query(count)
                            .scalar(&mut self.conn)
                            .await
                            .map_err(|e| self.db_error(e))?;
                        // A column with ON UPDATE CURRENT_TIMESTAMP changes
                        // with any update unless the update sets it: set it
                        // to itself, so only the restored column changes.
                        let auto: Vec<String> = self
                            .keep_on_update_columns(&a.table, std::slice::from_ref(column))
                            .await?
                            .into_iter()
                            .map(|set| format!(", {set}"))
                            .collect();
                        let update = format!(
                            "UPDATE {} AS t JOIN {} AS a ON {on} SET t.{c} = a.{c}{}",
                            a.table_sql,
                            a.archive_table,
                            auto.join("")
                        );
                        self.execute(&update).await?;
                        rows
                    }
                    Backend::Postgres | Backend::Sqlite => {
                        let update = format!(
                            "UPDATE {} AS t SET {c} = a.{c} FROM {} AS a WHERE {on}",
                            a.table_sql, a.archive_table
                        );
                        let update = self.without_user_triggers(&a.table_sql, update).await?;
                        let result = self
                            .conn
                            .execute_raw(&update)
                            .await
                            .map_err(|e| self.db_error(e))?;
                        result as i64
                    }
                }
            }
            None => {
                let shared: Vec<String> = columns
                    .iter()
                    .filter(|c| archived.contains(c))
                    .map(|c| self.quote(c))
                    .collect();
                let list = shared.join(", ");
                let from: Vec<String> = shared.iter().map(|c| format!("a.{c}")).collect();
                let overriding = if self.backend == Backend::Postgres {
                    " OVERRIDING SYSTEM VALUE"
                } else {
                    ""
                };
                let insert = format!(
                    "INSERT INTO {} ({list}){overriding} SELECT {} FROM {} AS a WHERE NOT EXISTS (SELECT 1 FROM {} AS t WHERE {on})",
                    a.table_sql,
                    from.join(", "),
                    a.archive_table,
                    a.table_sql
                );
                let insert = self.without_user_triggers(&a.table_sql, insert).await?;
                let result = self
                    .conn
                    .execute_raw(&insert)
                    .await
                    .map_err(|e| self.db_error(e))?;
                if self.backend == Backend::Postgres {
                    // Identity and serial columns must continue after the restored keys.
                    for k in &a.key_columns {
                        let fix = format!(
                            "SELECT setval(pg_get_serial_sequence($1, $2), m) FROM (SELECT MAX({}) AS m FROM {}) x \
                             WHERE m IS NOT NULL AND pg_get_serial_sequence($1, $2) IS NOT NULL",
                            self.quote(k),
                            a.table_sql
                        );
                        query(fix)
                            .bind(a.table_sql.clone())
                            .bind(k.clone())
                            .execute(&mut self.conn)
                            .await
                            .map_err(|e| self.db_error(e))?;
                    }
                }
                result as i64
            }
        };
        self.mark_restored(a, now, rows).await?;
        Ok(Some(rows))
    }

    /// MySQL: a column with `ON UPDATE CURRENT_TIMESTAMP` changes with any
    /// update unless the update sets it; `t.c = t.c` for each (but the
    /// restored ones), so a restore changes only what it restores.
    async fn keep_on_update_columns(
        &mut self,
        table: &str,
        restored: &[String],
    ) -> Result<Vec<String>, DbError> {
        Ok(self
            .strings(
                "SELECT CAST(column_name AS CHAR) FROM information_schema.columns \
                 WHERE table_schema = DATABASE() AND table_name = ? AND LOWER(extra) LIKE '%on update%'",
                &[table],
                "restoring an archive",
            )
            .await
            .map_err(|e| DbError::of(&e))?
            .into_iter()
            .filter_map(|r| r.into_iter().next())
            .filter(|name| !restored.contains(name))
            .map(|name| {
                let q = self.quote(&name);
                format!("t.{q} = t.{q}")
            })
            .collect())
    }

    async fn mark_restored(
        &mut self,
        a: &ArchiveRecord,
        now: &str,
        rows: i64,
    ) -> Result<(), DbError> {
        let mark = self.q(&format!(
            "UPDATE {} SET restored_at = ?, restored_rows = ? WHERE id = ?",
            self.tables.archives
        ));
        query(mark)
            .bind(now.to_string())
            .bind(rows)
            .bind(a.id)
            .execute(&mut self.conn)
            .await
            .map_err(|e| self.db_error(e))?;
        tracing::info!(archive = %a.archive_table, target = %a.label(), rows, "restored");
        Ok(())
    }

    /// Restores column archives of one table that one stage took, in one
    /// statement: each row is rewritten once rather than once per column
    /// (on PostgreSQL and MySQL an update rewrites the whole row, whatever
    /// it sets). Same result as restoring them one by one, which is what
    /// the caller does on `None`: a table or column gone, or archives that
    /// do not hold the same keys. Every archive restores the same rows;
    /// their count is returned.
    pub(crate) async fn restore_columns(
        &mut self,
        group: &[ArchiveRecord],
        now: &str,
    ) -> Result<Option<i64>, DbError> {
        let Some(first) = group.first() else {
            return Ok(Some(0));
        };
        let columns = self
            .table_columns(&first.table_sql, &first.table)
            .await
            .map_err(|e| DbError::of(&e))?;
        let mut restored = Vec::new();
        for a in group {
            let Some(column) = &a.column else {
                return Ok(None);
            };
            let archived = self
                .table_columns(&a.archive_table, &a.archive_table)
                .await
                .map_err(|e| DbError::of(&e))?;
            if a.table_sql != first.table_sql
                || a.key_columns != first.key_columns
                || !columns.contains(column)
                || !archived.contains(column)
            {
                return Ok(None);
            }
            restored.push(column.clone());
        }
        let keys: Vec<String> = first.key_columns.iter().map(|k| self.quote(k)).collect();
        let on = |x: &str, y: &str| {
            keys.iter()
                .map(|q| format!("{x}.{q} = {y}.{q}"))
                .collect::<Vec<_>>()
                .join(" AND ")
        };
        let joins: String = group
            .iter()
            .enumerate()
            .skip(1)
            .map(|(i, a)| {
                format!(
                    " JOIN {} AS a{i} ON {}",
                    a.archive_table,
                    on("a0", &format!("a{i}"))
                )
            })
            .collect();
        // The same keys in every archive, or the one-by-one restore.
        let joined: i64 = query(format!(
            "SELECT COUNT(*) FROM {} AS a0{joins}",
            first.archive_table
        ))
        .scalar(&mut self.conn)
        .await
        .map_err(|e| self.db_error(e))?;
        if group.iter().any(|a| a.row_count != joined) {
            return Ok(None);
        }
        let on_t = on("t", "a0");
        let rows = match self.backend {
            Backend::Mysql => {
                let rows: i64 = query(format!(
                    "SELECT COUNT(*) FROM {} AS t JOIN {} AS a0 ON {on_t}",
                    first.table_sql, first.archive_table
                ))
                .scalar(&mut self.conn)
                .await
                .map_err(|e| self.db_error(e))?;
                // ON UPDATE CURRENT_TIMESTAMP columns keep their values.
                let auto = self.keep_on_update_columns(&first.table, &restored).await?;
                let sets: Vec<String> = restored
                    .iter()
                    .enumerate()
                    .map(|(i, c)| format!("t.{q} = a{i}.{q}", q = self.quote(c)))
                    .chain(auto)
                    .collect();
                let update = format!(
                    "UPDATE {} AS t JOIN {} AS a0 ON {on_t}{joins} SET {}",
                    first.table_sql,
                    first.archive_table,
                    sets.join(", ")
                );
                self.execute(&update).await?;
                rows
            }
            Backend::Postgres | Backend::Sqlite => {
                let sets: Vec<String> = restored
                    .iter()
                    .enumerate()
                    .map(|(i, c)| format!("{q} = a{i}.{q}", q = self.quote(c)))
                    .collect();
                let update = format!(
                    "UPDATE {} AS t SET {} FROM {} AS a0{joins} WHERE {on_t}",
                    first.table_sql,
                    sets.join(", "),
                    first.archive_table
                );
                let update = self.without_user_triggers(&first.table_sql, update).await?;
                self.conn
                    .execute_raw(&update)
                    .await
                    .map_err(|e| self.db_error(e))? as i64
            }
        };
        for a in group {
            self.mark_restored(a, now, rows).await?;
        }
        Ok(Some(rows))
    }
}
