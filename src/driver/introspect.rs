//! Reading the live schema and table contents, for drills.
//!
//! Everything is turned into text by the database itself (the `Any` driver
//! decodes only a few types), and nothing depends on column order.

use super::conn::query;

use super::{Backend, Driver};
use crate::error::Error;

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
}

/// A table as the database reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableInfo {
    /// Name.
    pub name: String,
    /// Columns, in table order.
    pub columns: Vec<ColumnInfo>,
    /// (column, referenced table, referenced column).
    pub foreign_keys: Vec<(String, String, String)>,
}

impl Driver {
    async fn text_rows(&mut self, sql: &str, binds: &[&str]) -> Result<Vec<Vec<String>>, Error> {
        let sql = self.q(sql);
        let mut query = query(sql).persistent(false);
        for b in binds {
            query = query.bind(b.to_string());
        }
        let rows = query
            .fetch_all(&mut self.conn)
            .await
            .map_err(|e| self.internal("reading the schema", e))?;
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
            .map_err(|e| self.internal("reading the schema", e))
    }

    /// Runs a query of migrate's own whose columns are all text.
    pub async fn text_query(&mut self, sql: &str) -> Result<Vec<Vec<String>>, Error> {
        self.text_rows(sql, &[]).await
    }

    /// The application's tables (migrate's own left out), sorted.
    pub async fn app_tables(&mut self) -> Result<Vec<String>, Error> {
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
    pub async fn table_info(&mut self, table: &str) -> Result<TableInfo, Error> {
        let (cols, fks) = match self.backend {
            Backend::Postgres => (
                "SELECT column_name::text, data_type::text, is_nullable::text, COALESCE(character_maximum_length, 0)::text, \
                 CASE WHEN identity_generation = 'ALWAYS' OR is_generated = 'ALWAYS' THEN 'y' ELSE 'n' END \
                 FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = ? ORDER BY ordinal_position",
                "SELECT a.attname::text, cl.relname::text, af.attname::text FROM pg_constraint c \
                 JOIN LATERAL unnest(c.conkey, c.confkey) AS k(col, fcol) ON true \
                 JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.col \
                 JOIN pg_attribute af ON af.attrelid = c.confrelid AND af.attnum = k.fcol \
                 JOIN pg_class cl ON cl.oid = c.confrelid \
                 WHERE c.contype = 'f' AND c.conrelid = to_regclass(?)",
            ),
            Backend::Mysql => (
                "SELECT CAST(column_name AS CHAR), CAST(data_type AS CHAR), CAST(is_nullable AS CHAR), CAST(COALESCE(character_maximum_length, 0) AS CHAR), \
                 CASE WHEN extra LIKE '%GENERATED%' THEN 'y' ELSE 'n' END \
                 FROM information_schema.columns WHERE table_schema = DATABASE() AND table_name = ? ORDER BY ordinal_position",
                "SELECT CAST(column_name AS CHAR), CAST(referenced_table_name AS CHAR), CAST(referenced_column_name AS CHAR) \
                 FROM information_schema.key_column_usage WHERE table_schema = DATABASE() AND table_name = ? AND referenced_table_name IS NOT NULL",
            ),
            Backend::Sqlite => (
                "SELECT name, type, CASE WHEN \"notnull\" = 1 THEN 'NO' ELSE 'YES' END, '0', CASE WHEN hidden IN (2, 3) THEN 'y' ELSE 'n' END \
                 FROM pragma_table_xinfo(?) WHERE hidden != 1 ORDER BY cid",
                "SELECT \"from\", \"table\", COALESCE(\"to\", '') FROM pragma_foreign_key_list(?)",
            ),
        };
        let columns = self
            .text_rows(cols, &[table])
            .await?
            .into_iter()
            .map(|r| ColumnInfo {
                name: r[0].clone(),
                data_type: r[1].to_ascii_lowercase(),
                nullable: r[2] == "YES",
                max_len: r[3].parse().unwrap_or(0),
                generated: r[4] == "y",
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

    /// The schema as sorted lines (tables, columns, indexes, constraints),
    /// migrate's tables and column order left out.
    pub async fn schema_lines(&mut self) -> Result<Vec<String>, Error> {
        let p = self.tables.prefix.clone();
        let n = p.len().to_string();
        let queries: &[&str] = match self.backend {
            Backend::Sqlite => &[
                "SELECT m.name || '.' || c.name || ' ' || c.type || ' ' || c.\"notnull\" || ' ' || coalesce(c.dflt_value, '') || ' ' || c.pk \
                 FROM sqlite_master m JOIN pragma_table_info(m.name) c WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite%' AND substr(m.name, 1, CAST(? AS INT)) <> ?",
                "SELECT type || ' ' || name || ' ' || coalesce(sql, '') FROM sqlite_master WHERE type IN ('index', 'view', 'trigger') AND name NOT LIKE 'sqlite%' AND substr(tbl_name, 1, CAST(? AS INT)) <> ?",
                "SELECT m.name || ' fk ' || f.\"from\" || ' -> ' || f.\"table\" || '.' || coalesce(f.\"to\", '') FROM sqlite_master m JOIN pragma_foreign_key_list(m.name) f WHERE m.type = 'table' AND substr(m.name, 1, CAST(? AS INT)) <> ?",
            ],
            Backend::Postgres => &[
                "SELECT table_name || '.' || column_name || ' ' || data_type || ' ' || is_nullable || ' ' || coalesce(column_default, '') \
                 FROM information_schema.columns WHERE table_schema = current_schema() AND substr(table_name, 1, CAST(? AS INT)) <> ?",
                "SELECT indexdef FROM pg_indexes WHERE schemaname = current_schema() AND substr(tablename, 1, CAST(? AS INT)) <> ?",
                "SELECT conrelid::regclass::text || ' ' || conname || ' ' || pg_get_constraintdef(oid) FROM pg_constraint \
                 WHERE connamespace = current_schema()::regnamespace AND substr(conrelid::regclass::text, 1, CAST(? AS INT)) <> ?",
            ],
            Backend::Mysql => &[
                "SELECT CAST(CONCAT(table_name, '.', column_name, ' ', column_type, ' ', is_nullable, ' ', coalesce(column_default, '')) AS CHAR) \
                 FROM information_schema.columns WHERE table_schema = DATABASE() AND substr(table_name, 1, CAST(? AS SIGNED)) <> ?",
                "SELECT CAST(CONCAT(table_name, ' ', index_name, ' ', column_name, ' ', non_unique) AS CHAR) FROM information_schema.statistics \
                 WHERE table_schema = DATABASE() AND substr(table_name, 1, CAST(? AS SIGNED)) <> ?",
            ],
        };
        let mut out = Vec::new();
        for q in queries {
            out.extend(
                self.text_rows(q, &[&n, &p])
                    .await?
                    .into_iter()
                    .map(|mut r| r.remove(0)),
            );
        }
        out.sort();
        Ok(out)
    }

    /// A table's content, order-independent: the row count and, per column,
    /// the sorted list of its quoted values.
    pub async fn fingerprint(
        &mut self,
        table: &TableInfo,
    ) -> Result<(i64, Vec<(String, String)>), Error> {
        let t = self.quote(&table.name);
        let count = self
            .text_rows(
                &format!("SELECT CAST(COUNT(*) AS {}) FROM {t}", self.text_type()),
                &[],
            )
            .await?;
        let count = count.first().and_then(|r| r[0].parse().ok()).unwrap_or(0);
        let mut columns = Vec::new();
        for c in &table.columns {
            let q = self.quote(&c.name);
            let sql = match self.backend {
                Backend::Postgres => format!(
                    "SELECT coalesce(string_agg(v, ',' ORDER BY v), '') FROM (SELECT quote_nullable({q}::text) AS v FROM {t}) x"
                ),
                Backend::Mysql => format!(
                    "SELECT CAST(COALESCE(GROUP_CONCAT(v ORDER BY v SEPARATOR ','), '') AS CHAR) FROM (SELECT CAST(QUOTE({q}) AS CHAR) AS v FROM {t}) x"
                ),
                Backend::Sqlite => format!(
                    "SELECT coalesce(group_concat(v, ','), '') FROM (SELECT quote({q}) AS v FROM {t} ORDER BY 1)"
                ),
            };
            let v = self.text_rows(&sql, &[]).await?;
            columns.push((
                c.name.clone(),
                v.first().map(|r| r[0].clone()).unwrap_or_default(),
            ));
        }
        Ok((count, columns))
    }

    /// A value of a column, as text: the `nth` largest (for foreign keys
    /// when seeding, so that two rows point at two parents).
    pub async fn any_value(
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
    pub async fn create_scratch_database(&mut self, name: &str) -> Result<String, Error> {
        self.exec_internal(
            &format!("CREATE DATABASE {name}"),
            "creating the scratch database",
        )
        .await?;
        Ok(with_database(&self.url, name))
    }

    /// Drops a scratch database made by [`Driver::create_scratch_database`].
    pub async fn drop_scratch_database(&mut self, name: &str) -> Result<(), Error> {
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
}
