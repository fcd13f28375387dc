//! Reading the live schema and table contents, for drills.
//!
//! Everything is turned into text by the database itself (the `Any` driver
//! decodes only a few types), and nothing depends on column order.

use std::collections::BTreeMap;

use super::conn::query;

use super::{Backend, Driver};
use crate::error::Error;
use crate::sql::Dialect;

/// A column as the database reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ColumnInfo {
    /// Name.
    pub name: String,
    /// Type, lower-cased.
    pub data_type: String,
    /// NULL allowed.
    pub nullable: bool,
    /// Computed or `GENERATED ALWAYS`: not written by inserts.
    pub generated: bool,
    /// Maximum length of a character column (0: none).
    pub max_len: i64,
    /// The values an enum column takes, as SQL literals (empty otherwise).
    pub choices: Vec<String>,
}

/// Splits `'a','b''c'` into its quoted literals.
fn literals(list: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    let mut quoted = false;
    let mut chars = list.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\'' if quoted && chars.peek() == Some(&'\'') => {
                current.push_str("''");
                chars.next();
            }
            '\'' => {
                quoted = !quoted;
                current.push(c);
            }
            ',' if !quoted => out.push(std::mem::take(&mut current)),
            _ => current.push(c),
        }
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

/// One object of the schema, as the database prints it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct SchemaItem {
    /// `table`, `column`, `index`, `constraint`, `foreign key`, `view`,
    /// `materialized view`, `function`, `procedure`, `trigger`, `sequence`,
    /// `enum type`, `domain`, `extension`.
    pub kind: String,
    /// The table it belongs to (none for tables' peers: functions, types, ...).
    pub table: Option<String>,
    /// Its name (`table.column` for a column).
    pub name: String,
    /// Its definition as the database prints it (empty for a table).
    pub definition: String,
}

/// Per table: row count, and each column's sorted values as text.
pub type Fingerprints = BTreeMap<String, (i64, BTreeMap<String, String>)>;

/// A table as the database reports it: its columns and foreign keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableInfo {
    /// Name.
    pub name: String,
    /// Columns, in table order.
    pub columns: Vec<ColumnInfo>,
    /// (column, referenced table, referenced column).
    pub foreign_keys: Vec<(String, String, String)>,
}

/// The rows [`Driver::packed_rows`] packed: `<length in characters>:<text>`
/// per cell, `columns` cells a row. `None` if the text is not that.
fn unpack(packed: &str, columns: usize) -> Option<Vec<Vec<String>>> {
    let mut rows = Vec::new();
    let mut row = Vec::with_capacity(columns);
    let mut rest = packed;
    while !rest.is_empty() {
        let (len, after) = rest.split_once(':')?;
        let len: usize = len.parse().ok()?;
        let end = match after.char_indices().nth(len) {
            Some((i, _)) => i,
            None if after.chars().count() == len => after.len(),
            None => return None,
        };
        row.push(after[..end].to_string());
        rest = &after[end..];
        if row.len() == columns {
            rows.push(std::mem::replace(&mut row, Vec::with_capacity(columns)));
        }
    }
    row.is_empty().then_some(rows)
}

impl Driver {
    async fn text_rows(&mut self, sql: &str, binds: &[&str]) -> Result<Vec<Vec<String>>, Error> {
        self.strings(sql, binds, "reading the schema").await
    }

    /// Runs a query of migrate's own whose columns are all text (NULL read
    /// as empty); `doing` names the work in an error.
    pub(crate) async fn strings(
        &mut self,
        sql: &str,
        binds: &[&str],
        doing: &str,
    ) -> Result<Vec<Vec<String>>, Error> {
        let sql = self.q(sql);
        // PostgreSQL caches a prepared statement's result type, and a schema
        // change between two drill steps then fails it ("cached plan must
        // not change result type"): unnamed statements there. MySQL and
        // SQLite re-prepare by themselves; closing a statement after each
        // use would cost MySQL a delayed-ACK wait (~40 ms) per query.
        let persistent = match self.backend {
            Backend::Postgres => false,
            Backend::Mysql | Backend::Sqlite => true,
        };
        let mut query = query(sql.clone()).persistent(persistent);
        for b in binds {
            query = query.bind(b.to_string());
        }
        let started = std::time::Instant::now();
        let rows = query
            .fetch_all(&mut self.conn)
            .await
            .map_err(|e| self.internal(doing, e))?;
        tracing::trace!(ms = started.elapsed().as_millis() as u64, sql = %sql, "introspection query");
        rows.iter()
            .map(|r| {
                (0..r.len())
                    .map(|i| {
                        r.try_get::<Option<String>>(i)
                            .map(|v| v.unwrap_or_default())
                    })
                    .collect::<Result<Vec<_>, _>>()
            })
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| self.internal(doing, e))
    }

    /// Runs a query of migrate's own whose columns are all text.
    pub(crate) async fn text_query(&mut self, sql: &str) -> Result<Vec<Vec<String>>, Error> {
        self.text_rows(sql, &[]).await
    }

    /// The application's tables (migrate's own left out), sorted.
    pub(crate) async fn app_tables(&mut self) -> Result<Vec<String>, Error> {
        let prefix = self.tables.prefix.clone();
        let n = prefix.len().to_string();
        let sql = match self.backend {
            Backend::Postgres => {
                "SELECT table_name::text FROM information_schema.tables WHERE table_schema = current_schema() AND table_type = 'BASE TABLE' AND substr(table_name, 1, CAST(? AS INT)) <> ?"
            }
            Backend::Mysql => {
                "SELECT CAST(table_name AS CHAR) FROM information_schema.tables WHERE table_schema = DATABASE() AND table_type = 'BASE TABLE' AND substr(table_name, 1, CAST(? AS SIGNED)) <> ?"
            }
            Backend::Sqlite => {
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite%' AND substr(name, 1, CAST(? AS INT)) <> ?"
            }
        };
        let mut out: Vec<String> = self
            .text_rows(sql, &[&n, &prefix])
            .await?
            .into_iter()
            .map(|mut r| r.remove(0))
            .collect();
        out.sort();
        Ok(out)
    }

    /// A table's columns and foreign keys.
    pub(crate) async fn table_info(&mut self, table: &str) -> Result<TableInfo, Error> {
        let (cols, fks) = match self.backend {
            Backend::Postgres => (
                // The catalog rather than information_schema (its views
                // cost milliseconds a call, and a drill makes thousands);
                // a domain reads as its base type, an enum with its labels.
                "SELECT a.attname::text, format_type(CASE WHEN t.typtype = 'd' THEN t.typbasetype ELSE a.atttypid END, NULL), \
                 CASE WHEN a.attnotnull THEN 'NO' ELSE 'YES' END, \
                 CASE WHEN (CASE WHEN t.typtype = 'd' THEN t.typtypmod ELSE a.atttypmod END) > 4 \
                 AND (CASE WHEN t.typtype = 'd' THEN t.typbasetype ELSE a.atttypid END) IN ('varchar'::regtype, 'bpchar'::regtype) \
                 THEN ((CASE WHEN t.typtype = 'd' THEN t.typtypmod ELSE a.atttypmod END) - 4)::text ELSE '0' END, \
                 CASE WHEN a.attidentity = 'a' OR a.attgenerated = 's' THEN 'y' ELSE 'n' END, \
                 CASE WHEN t.typtype = 'e' THEN (SELECT string_agg(quote_literal(e.enumlabel), ',' ORDER BY e.enumsortorder) FROM pg_enum e WHERE e.enumtypid = t.oid) END, \
                 (SELECT string_agg(substr(pg_get_constraintdef(co.oid), 7), ' AND ') FROM pg_constraint co \
                 WHERE co.conrelid = a.attrelid AND co.contype = 'c' AND co.conkey = ARRAY[a.attnum]) \
                 FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid \
                 WHERE a.attrelid = (SELECT c.oid FROM pg_class c WHERE c.relname = ? AND c.relnamespace = current_schema()::regnamespace) \
                 AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum",
                "SELECT a.attname::text, cl.relname::text, af.attname::text FROM pg_constraint c \
                 JOIN LATERAL unnest(c.conkey, c.confkey) AS k(col, fcol) ON true \
                 JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.col \
                 JOIN pg_attribute af ON af.attrelid = c.confrelid AND af.attnum = k.fcol \
                 JOIN pg_class cl ON cl.oid = c.confrelid \
                 WHERE c.contype = 'f' AND c.conrelid = to_regclass(?)",
            ),
            Backend::Mysql => (
                "SELECT CAST(column_name AS CHAR), CAST(data_type AS CHAR), CAST(is_nullable AS CHAR), CAST(COALESCE(character_maximum_length, 0) AS CHAR), \
                 CASE WHEN extra LIKE '%GENERATED%' THEN 'y' ELSE 'n' END, \
                 CAST(IF(data_type = 'enum', SUBSTRING(column_type, 6, CHAR_LENGTH(column_type) - 6), '') AS CHAR), '' \
                 FROM information_schema.columns WHERE table_schema = DATABASE() AND table_name = ? ORDER BY ordinal_position",
                "SELECT CAST(column_name AS CHAR), CAST(referenced_table_name AS CHAR), CAST(referenced_column_name AS CHAR) \
                 FROM information_schema.key_column_usage WHERE table_schema = DATABASE() AND table_name = ? AND referenced_table_name IS NOT NULL",
            ),
            Backend::Sqlite => (
                "SELECT name, type, CASE WHEN \"notnull\" = 1 THEN 'NO' ELSE 'YES' END, '0', CASE WHEN hidden IN (2, 3) THEN 'y' ELSE 'n' END, '', \
                 (SELECT sql FROM sqlite_master WHERE type = 'table' AND name = x.arg) \
                 FROM pragma_table_xinfo(?) AS x WHERE hidden != 1 ORDER BY cid",
                "SELECT \"from\", \"table\", COALESCE(\"to\", '') FROM pragma_foreign_key_list(?)",
            ),
        };
        let rows = self.text_rows(cols, &[table]).await?;
        // Values a CHECK lists (`status IN ('a', 'b')`) count as the
        // column's choices, like an enum's labels: PostgreSQL gives each
        // column's one-column checks, SQLite the table's statement, MySQL
        // and MariaDB the table's check clauses.
        let checks: Vec<(String, Vec<String>)> = match self.backend {
            Backend::Postgres => rows
                .iter()
                .flat_map(|r| crate::check::ir::check_choices(&r[6], Dialect::Postgres))
                .collect(),
            Backend::Sqlite => rows
                .first()
                .map(|r| crate::check::ir::create_table_choices(&r[6], Dialect::Sqlite))
                .unwrap_or_default(),
            Backend::Mysql => {
                let clauses = self
                    .text_rows(
                        "SELECT CAST(cc.check_clause AS CHAR) FROM information_schema.table_constraints tc \
                         JOIN information_schema.check_constraints cc \
                         ON cc.constraint_schema = tc.constraint_schema AND cc.constraint_name = tc.constraint_name \
                         WHERE tc.table_schema = DATABASE() AND tc.table_name = ? AND tc.constraint_type = 'CHECK'",
                        &[table],
                    )
                    .await?;
                clauses
                    .iter()
                    .flat_map(|r| crate::check::ir::check_choices(&r[0], Dialect::Mysql))
                    .collect()
            }
        };
        let columns = rows
            .into_iter()
            .map(|r| {
                let mut choices = literals(&r[5]);
                if choices.is_empty()
                    && let Some((_, listed)) =
                        checks.iter().find(|(c, _)| c.eq_ignore_ascii_case(&r[0]))
                {
                    choices = listed.clone();
                }
                ColumnInfo {
                    name: r[0].clone(),
                    data_type: r[1].to_ascii_lowercase(),
                    nullable: r[2] == "YES",
                    max_len: r[3].parse().unwrap_or(0),
                    generated: r[4] == "y",
                    choices,
                }
            })
            .collect();
        let foreign_keys = self
            .text_rows(fks, &[table])
            .await?
            .into_iter()
            .map(|r| (r[0].clone(), r[1].clone(), r[2].clone()))
            .collect();
        Ok(TableInfo {
            name: table.to_string(),
            columns,
            foreign_keys,
        })
    }

    /// Every object the database keeps for the application, as the
    /// database itself prints it: tables, columns, indexes, constraints and
    /// foreign keys, views and materialized views, functions and procedures,
    /// triggers, sequences, enum and domain types, extensions. Keyed by kind
    /// and name, so column order is no difference; migrate's own tables
    /// (and whatever hangs on them) left out. Sorted.
    /// [`Driver::text_rows`], on SQLite as one packed value: every row of
    /// `sql` (whose `columns` columns are named `c0`, `c1`, ...) becomes
    /// `<length>:<text>` per cell, all concatenated by SQLite, and is split
    /// here. Each row sqlx reads is a message from its SQLite worker thread
    /// and an allocation per cell; a drill reads the catalog three times a
    /// stage, and that was a third of its time. Other databases: as is.
    async fn packed_rows(&mut self, sql: &str, columns: usize) -> Result<Vec<Vec<String>>, Error> {
        if self.backend != Backend::Sqlite {
            return self.text_rows(sql, &[]).await;
        }
        let cells: Vec<String> = (0..columns)
            .map(|i| format!("length(coalesce(c{i}, '')) || ':' || coalesce(c{i}, '')"))
            .collect();
        let packed = format!(
            "SELECT coalesce(group_concat({}, ''), '') FROM ({sql})",
            cells.join(" || ")
        );
        let text = self
            .text_rows(&packed, &[])
            .await?
            .into_iter()
            .next()
            .and_then(|r| r.into_iter().next())
            .unwrap_or_default();
        unpack(&text, columns).ok_or_else(|| Error::Database {
            url: self.redacted_url().to_string(),
            doing: "reading the schema".into(),
            message: "SQLite returned a packed catalog migrate cannot read (this is a bug)".into(),
            cause: None,
        })
    }

    /// Every object the database keeps (tables, columns, indexes, constraints,
    /// views, functions, triggers, sequences, types, extensions), for the drill.
    pub(crate) async fn schema_items(&mut self) -> Result<Vec<SchemaItem>, Error> {
        let queries: &[&str] = match self.backend {
            // Tables come with their columns (below): one query fewer per
            // snapshot, and a drill takes three snapshots a stage.
            // Columns named c0..c3: read packed (`packed_rows`).
            Backend::Sqlite => &[
                "SELECT 'column' AS c0, m.name AS c1, m.name || '.' || c.name AS c2, \
                 c.type || CASE WHEN c.\"notnull\" = 1 THEN ' NOT NULL' ELSE '' END || coalesce(' DEFAULT ' || c.dflt_value, '') || CASE WHEN c.pk > 0 THEN ' PRIMARY KEY' ELSE '' END AS c3 \
                 FROM sqlite_master m JOIN pragma_table_info(m.name) c WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite%'",
                "SELECT type AS c0, tbl_name AS c1, name AS c2, coalesce(sql, '') AS c3 FROM sqlite_master WHERE type IN ('index', 'view', 'trigger') AND name NOT LIKE 'sqlite%'",
                "SELECT 'foreign key' AS c0, m.name AS c1, m.name || '.' || f.\"from\" AS c2, 'REFERENCES ' || f.\"table\" || '(' || coalesce(f.\"to\", '') || ') ON UPDATE ' || f.on_update || ' ON DELETE ' || f.on_delete AS c3 \
                 FROM sqlite_master m JOIN pragma_foreign_key_list(m.name) f WHERE m.type = 'table'",
            ],
            Backend::Postgres => &[
                "SELECT CASE c.relkind WHEN 'v' THEN 'view' WHEN 'm' THEN 'materialized view' ELSE 'table' END, c.relname::text, c.relname::text, \
                 CASE WHEN c.relkind IN ('v', 'm') THEN pg_get_viewdef(c.oid) ELSE '' END \
                 FROM pg_class c WHERE c.relnamespace = current_schema()::regnamespace AND c.relkind IN ('r', 'p', 'v', 'm')",
                "SELECT 'column', c.relname::text, c.relname || '.' || a.attname, \
                 format_type(a.atttypid, a.atttypmod) \
                 || CASE WHEN a.attcollation <> 0 AND a.attcollation <> t.typcollation THEN ' COLLATE ' || quote_ident(co.collname) ELSE '' END \
                 || CASE WHEN a.attnotnull THEN ' NOT NULL' ELSE '' END \
                 || CASE WHEN a.attidentity IN ('a', 'd') THEN ' GENERATED ' || CASE a.attidentity WHEN 'a' THEN 'ALWAYS' ELSE 'BY DEFAULT' END || ' AS IDENTITY' ELSE '' END \
                 || coalesce(CASE WHEN a.attgenerated = 's' THEN ' GENERATED ALWAYS AS (' || pg_get_expr(d.adbin, d.adrelid) || ') STORED' ELSE ' DEFAULT ' || pg_get_expr(d.adbin, d.adrelid) END, '') \
                 FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped \
                 JOIN pg_type t ON t.oid = a.atttypid LEFT JOIN pg_collation co ON co.oid = a.attcollation \
                 LEFT JOIN pg_attrdef d ON d.adrelid = c.oid AND d.adnum = a.attnum \
                 WHERE c.relnamespace = current_schema()::regnamespace AND c.relkind IN ('r', 'p')",
                "SELECT 'index', tablename::text, indexname::text, indexdef FROM pg_indexes WHERE schemaname = current_schema()",
                "SELECT CASE contype WHEN 'f' THEN 'foreign key' ELSE 'constraint' END, cl.relname::text, co.conname::text, pg_get_constraintdef(co.oid) \
                 FROM pg_constraint co JOIN pg_class cl ON cl.oid = co.conrelid WHERE co.connamespace = current_schema()::regnamespace",
                "SELECT CASE p.prokind WHEN 'p' THEN 'procedure' ELSE 'function' END, '', p.oid::regprocedure::text, pg_get_functiondef(p.oid) \
                 FROM pg_proc p WHERE p.pronamespace = current_schema()::regnamespace AND p.prokind IN ('f', 'p') \
                 AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e')",
                "SELECT 'trigger', c.relname::text, t.tgname::text, pg_get_triggerdef(t.oid) \
                 FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid WHERE NOT t.tgisinternal AND c.relnamespace = current_schema()::regnamespace",
                "SELECT 'sequence', coalesce((SELECT dc.relname::text FROM pg_depend d JOIN pg_class dc ON dc.oid = d.refobjid \
                 WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype IN ('a', 'i') LIMIT 1), ''), c.relname::text, \
                 format_type(s.seqtypid, NULL) || ' INCREMENT ' || s.seqincrement || ' MINVALUE ' || s.seqmin || ' MAXVALUE ' || s.seqmax || ' START ' || s.seqstart || CASE WHEN s.seqcycle THEN ' CYCLE' ELSE '' END \
                 FROM pg_class c JOIN pg_sequence s ON s.seqrelid = c.oid WHERE c.relnamespace = current_schema()::regnamespace",
                "SELECT CASE t.typtype WHEN 'e' THEN 'enum type' ELSE 'domain' END, '', t.typname::text, \
                 CASE t.typtype WHEN 'e' THEN (SELECT string_agg(quote_literal(e.enumlabel), ', ' ORDER BY e.enumsortorder) FROM pg_enum e WHERE e.enumtypid = t.oid) \
                 ELSE format_type(t.typbasetype, t.typtypmod) || CASE WHEN t.typnotnull THEN ' NOT NULL' ELSE '' END \
                 || coalesce((SELECT ' ' || string_agg(pg_get_constraintdef(c.oid), ' ' ORDER BY c.conname) FROM pg_constraint c WHERE c.contypid = t.oid), '') END \
                 FROM pg_type t WHERE t.typnamespace = current_schema()::regnamespace AND t.typtype IN ('e', 'd') \
                 AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_type'::regclass AND d.objid = t.oid AND d.deptype = 'e')",
                "SELECT 'extension', '', extname::text, '' FROM pg_extension WHERE extname <> 'plpgsql'",
            ],
            Backend::Mysql => &[
                "SELECT CAST(CASE table_type WHEN 'VIEW' THEN 'view' ELSE 'table' END AS CHAR), CAST(table_name AS CHAR), CAST(table_name AS CHAR), '' \
                 FROM information_schema.tables WHERE table_schema = DATABASE()",
                "SELECT 'column', CAST(table_name AS CHAR), CAST(CONCAT(table_name, '.', column_name) AS CHAR), \
                 CAST(CONCAT(column_type, IF(is_nullable = 'NO', ' NOT NULL', ''), COALESCE(CONCAT(' DEFAULT ', column_default), ''), \
                 IF(extra = '', '', CONCAT(' ', extra)), COALESCE(CONCAT(' COLLATE ', collation_name), '')) AS CHAR) \
                 FROM information_schema.columns WHERE table_schema = DATABASE() \
                 AND table_name IN (SELECT table_name FROM information_schema.tables WHERE table_schema = DATABASE() AND table_type = 'BASE TABLE')",
                "SELECT 'index', CAST(table_name AS CHAR), CAST(CONCAT(table_name, '.', index_name) AS CHAR), \
                 CAST(CONCAT(IF(non_unique = 0, 'UNIQUE ', ''), index_type, ' (', GROUP_CONCAT(CONCAT(column_name, COALESCE(CONCAT('(', sub_part, ')'), '')) ORDER BY seq_in_index SEPARATOR ', '), ')') AS CHAR) \
                 FROM information_schema.statistics WHERE table_schema = DATABASE() GROUP BY table_name, index_name, non_unique, index_type",
                "SELECT 'foreign key', CAST(k.table_name AS CHAR), CAST(CONCAT(k.table_name, '.', k.constraint_name) AS CHAR), \
                 CAST(CONCAT('(', GROUP_CONCAT(k.column_name ORDER BY k.ordinal_position SEPARATOR ', '), ') REFERENCES ', k.referenced_table_name, \
                 '(', GROUP_CONCAT(k.referenced_column_name ORDER BY k.ordinal_position SEPARATOR ', '), ') ON UPDATE ', MAX(r.update_rule), ' ON DELETE ', MAX(r.delete_rule)) AS CHAR) \
                 FROM information_schema.key_column_usage k JOIN information_schema.referential_constraints r \
                 ON r.constraint_schema = k.constraint_schema AND r.constraint_name = k.constraint_name AND r.table_name = k.table_name \
                 WHERE k.table_schema = DATABASE() AND k.referenced_table_name IS NOT NULL GROUP BY k.table_name, k.constraint_name, k.referenced_table_name",
                "SELECT 'constraint', CAST(tc.table_name AS CHAR), CAST(CONCAT(tc.table_name, '.', tc.constraint_name) AS CHAR), CAST(CONCAT('CHECK (', cc.check_clause, ')') AS CHAR) \
                 FROM information_schema.table_constraints tc JOIN information_schema.check_constraints cc \
                 ON cc.constraint_schema = tc.constraint_schema AND cc.constraint_name = tc.constraint_name \
                 WHERE tc.table_schema = DATABASE() AND tc.constraint_type = 'CHECK'",
                "SELECT 'view', CAST(table_name AS CHAR), CAST(table_name AS CHAR), CAST(REPLACE(view_definition, CONCAT('`', DATABASE(), '`.'), '') AS CHAR) FROM information_schema.views WHERE table_schema = DATABASE()",
                "SELECT CAST(LOWER(routine_type) AS CHAR), '', CAST(routine_name AS CHAR), CAST(CONCAT(COALESCE(dtd_identifier, ''), ' ', COALESCE(routine_definition, '')) AS CHAR) \
                 FROM information_schema.routines WHERE routine_schema = DATABASE()",
                "SELECT 'trigger', CAST(event_object_table AS CHAR), CAST(trigger_name AS CHAR), \
                 CAST(CONCAT(action_timing, ' ', event_manipulation, ' ', action_statement) AS CHAR) FROM information_schema.triggers WHERE trigger_schema = DATABASE()",
            ],
        };
        // On PostgreSQL every column is text, so the reads go as one query
        // (a drill takes two catalog snapshots a stage).
        let queries: Vec<String> = match self.backend {
            Backend::Postgres => vec![queries.join(" UNION ALL ")],
            _ => queries.iter().map(|q| q.to_string()).collect(),
        };
        let prefix = self.tables.prefix.clone();
        let mut out: std::collections::BTreeMap<(String, String), SchemaItem> = Default::default();
        for q in &queries {
            for r in self.packed_rows(q, 4).await? {
                let [kind, table, name, definition]: [String; 4] =
                    r.try_into().expect("four columns");
                if table.starts_with(&prefix) || name.starts_with(&prefix) {
                    continue;
                }
                let item = SchemaItem {
                    kind,
                    table: (!table.is_empty()).then_some(table),
                    name,
                    definition: definition.trim().to_string(),
                };
                // A view is listed with the tables and again with its
                // definition: the one with the definition stays.
                match out.entry((item.kind.clone(), item.name.clone())) {
                    std::collections::btree_map::Entry::Vacant(e) => {
                        e.insert(item);
                    }
                    std::collections::btree_map::Entry::Occupied(mut e) => {
                        if e.get().definition.is_empty() {
                            e.insert(item);
                        }
                    }
                }
            }
        }
        if self.backend == Backend::Sqlite {
            let tables: Vec<String> = out
                .values()
                .filter(|i| i.kind == "column")
                .filter_map(|i| i.table.clone())
                .collect();
            for t in tables {
                out.entry(("table".to_string(), t.clone()))
                    .or_insert_with(|| SchemaItem {
                        kind: "table".into(),
                        table: Some(t.clone()),
                        name: t,
                        definition: String::new(),
                    });
            }
        }
        let mut out: Vec<SchemaItem> = out.into_values().collect();
        out.sort();
        Ok(out)
    }

    /// Row count and every column's sorted values of each of `tables`, in
    /// as few round trips as the backend allows: one query for the columns
    /// of every table, then one `SELECT` of scalar subqueries for as many
    /// tables as fit (a drill fingerprints every watched table four times a
    /// stage; one round trip a table made that most of its time).
    pub(crate) async fn fingerprints(&mut self, tables: &[String]) -> Result<Fingerprints, Error> {
        let columns_sql = match self.backend {
            Backend::Postgres => {
                "SELECT c.relname::text, a.attname::text FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid \
                 WHERE c.relnamespace = current_schema()::regnamespace AND c.relkind IN ('r', 'p') \
                 AND a.attnum > 0 AND NOT a.attisdropped ORDER BY c.relname, a.attnum"
            }
            Backend::Mysql => {
                "SELECT CAST(table_name AS CHAR), CAST(column_name AS CHAR) FROM information_schema.columns \
                 WHERE table_schema = DATABASE() ORDER BY table_name, ordinal_position"
            }
            Backend::Sqlite => {
                "SELECT m.name AS c0, x.name AS c1 FROM sqlite_master m JOIN pragma_table_xinfo(m.name) x \
                 WHERE m.type = 'table' AND x.hidden != 1 ORDER BY m.name, x.cid"
            }
        };
        let mut columns: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for r in self.packed_rows(columns_sql, 2).await? {
            if let [t, c] = r.as_slice() {
                columns.entry(t.clone()).or_default().push(c.clone());
            }
        }
        let mut out = Fingerprints::new();
        // SQLite allows 2,000 result columns by default; stay well below.
        let mut chunk: Vec<(&String, &[String])> = Vec::new();
        let mut width = 0;
        for t in tables {
            let cols = columns.get(t).map_or(&[][..], Vec::as_slice);
            if width + cols.len() + 1 > 500 && !chunk.is_empty() {
                self.fingerprint_chunk(&chunk, &mut out).await?;
                chunk.clear();
                width = 0;
            }
            width += cols.len() + 1;
            chunk.push((t, cols));
        }
        if !chunk.is_empty() {
            self.fingerprint_chunk(&chunk, &mut out).await?;
        }
        Ok(out)
    }

    async fn fingerprint_chunk(
        &mut self,
        chunk: &[(&String, &[String])],
        out: &mut Fingerprints,
    ) -> Result<(), Error> {
        let mut parts = Vec::new();
        for (table, cols) in chunk {
            let t = self.quote(table);
            parts.push(format!(
                "(SELECT CAST(COUNT(*) AS {}) FROM {t})",
                self.text_type()
            ));
            for c in cols.iter() {
                let q = self.quote(c);
                parts.push(match self.backend {
                    Backend::Postgres => format!(
                        "(SELECT coalesce(string_agg(v, ',' ORDER BY v), '') FROM (SELECT quote_nullable({q}::text) AS v FROM {t}) x)"
                    ),
                    Backend::Mysql => format!(
                        "(SELECT CAST(COALESCE(GROUP_CONCAT(v ORDER BY v SEPARATOR ','), '') AS CHAR) FROM (SELECT CAST(QUOTE({q}) AS CHAR) AS v FROM {t}) x)"
                    ),
                    Backend::Sqlite => format!(
                        "(SELECT coalesce(group_concat(v, ','), '') FROM (SELECT quote({q}) AS v FROM {t} ORDER BY 1))"
                    ),
                });
            }
        }
        let row = self
            .text_rows(&format!("SELECT {}", parts.join(", ")), &[])
            .await?
            .into_iter()
            .next()
            .unwrap_or_default();
        let mut values = row.into_iter();
        for (table, cols) in chunk {
            let count = values.next().and_then(|v| v.parse().ok()).unwrap_or(0);
            let columns = cols
                .iter()
                .map(|c| (c.clone(), values.next().unwrap_or_default()))
                .collect();
            out.insert((*table).clone(), (count, columns));
        }
        Ok(())
    }

    /// A value of a column, as text: the `nth` largest (for foreign keys
    /// when seeding, so that two rows point at two parents).
    pub(crate) async fn any_value(
        &mut self,
        table: &str,
        column: &str,
        nth: usize,
    ) -> Result<Option<String>, Error> {
        let sql = format!(
            "SELECT CAST({c} AS {}) FROM {} WHERE {c} IS NOT NULL ORDER BY {c} DESC LIMIT 1 OFFSET {nth}",
            self.text_type(),
            self.quote(table),
            c = self.quote(column),
        );
        Ok(self
            .text_rows(&sql, &[])
            .await?
            .into_iter()
            .next()
            .map(|mut r| r.remove(0)))
    }

    fn text_type(&self) -> &'static str {
        match self.backend {
            Backend::Mysql => "CHAR",
            Backend::Postgres | Backend::Sqlite => "TEXT",
        }
    }

    /// Creates a scratch database on the server of this connection and
    /// returns its URL. Not for SQLite.
    pub(crate) async fn create_scratch_database(&mut self, name: &str) -> Result<String, Error> {
        self.exec_internal(
            &format!("CREATE DATABASE {name}"),
            "creating the scratch database",
        )
        .await?;
        Ok(with_database(&self.url, name))
    }

    /// Drops a scratch database made by [`Driver::create_scratch_database`].
    pub(crate) async fn drop_scratch_database(&mut self, name: &str) -> Result<(), Error> {
        let sql = match self.backend {
            Backend::Postgres => format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
            Backend::Mysql | Backend::Sqlite => format!("DROP DATABASE IF EXISTS {name}"),
        };
        self.exec_internal(&sql, "dropping the scratch database")
            .await
    }
}

/// `url` with its database path replaced by `name`.
fn with_database(url: &str, name: &str) -> String {
    let (base, query) = url
        .split_once('?')
        .map_or((url, None), |(b, q)| (b, Some(q)));
    let after_scheme = base.find("://").map_or(0, |i| i + 3);
    let slash = base[after_scheme..].find('/').map(|i| i + after_scheme);
    let mut out = match slash {
        Some(i) => format!("{}/{name}", &base[..i]),
        None => format!("{base}/{name}"),
    };
    if let Some(q) = query {
        out.push('?');
        out.push_str(q);
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn database_in_url() {
        assert_eq!(
            super::with_database("postgres://u:p@h:5432/test?sslmode=disable", "d1"),
            "postgres://u:p@h:5432/d1?sslmode=disable"
        );
        assert_eq!(
            super::with_database("mysql://root@127.0.0.1:3306", "d1"),
            "mysql://root@127.0.0.1:3306/d1"
        );
    }

    #[test]
    fn literal_lists_split_at_commas_outside_quotes() {
        assert_eq!(
            super::literals("'calm','it''s, busy'"),
            ["'calm'", "'it''s, busy'"]
        );
        assert!(super::literals("").is_empty());
    }

    #[test]
    fn packed_rows_unpack_to_their_cells_whatever_the_cells_hold() {
        // Cells holding the separators, digits, nothing, and multibyte text
        // (SQLite's length() counts characters, not bytes).
        let cells = ["column", "t", "t.a:b", "", "12:3", "é€😀 x"];
        let packed: String = cells
            .iter()
            .map(|c| format!("{}:{c}", c.chars().count()))
            .collect();
        let rows = super::unpack(&packed, 2).unwrap();
        assert_eq!(
            rows,
            vec![
                vec!["column".to_string(), "t".into()],
                vec!["t.a:b".into(), "".into()],
                vec!["12:3".into(), "é€😀 x".into()],
            ]
        );
        assert_eq!(super::unpack("", 4).unwrap(), Vec::<Vec<String>>::new());
        // A row cut short, a length past the end, no length: not rows.
        assert!(super::unpack(&packed, 4).is_none());
        assert!(super::unpack("9:abc", 1).is_none());
        assert!(super::unpack("abc", 1).is_none());
    }
}
