//! One connection on each database's own sqlx type (`PgConnection`,
//! `MySqlConnection`, `SqliteConnection`), and the small query interface
//! the driver uses over all three.
//!
//! Why not sqlx's `AnyConnection`: it decodes every result row into its own
//! value type, which has no timestamp, date, numeric, uuid, json, interval
//! or array, so a migration as ordinary as `SELECT now()` failed with "Any
//! driver does not support the Postgres type". Here migration SQL runs on
//! the native connection and its rows are never decoded; migrate's own
//! queries read text, integers and booleans, which every backend decodes.
//!
//! Adding a database means adding a variant here (its connect, and its arm
//! in [`on_conn!`]) and a module beside `postgres.rs` (history DDL, lock,
//! session setup, error codes).

use sqlx::{AssertSqlSafe, Column, Connection, Decode, Type, TypeInfo, ValueRef};

/// A connection to one of the supported databases.
pub(crate) enum Conn {
    #[cfg(feature = "postgres")]
    Postgres(sqlx::PgConnection),
    #[cfg(feature = "mysql")]
    Mysql(sqlx::MySqlConnection),
    #[cfg(feature = "sqlite")]
    Sqlite(sqlx::SqliteConnection),
}

/// Runs `$body` with `$c` bound to the native connection, whatever it is.
macro_rules! on_conn {
    ($conn:expr, $c:ident => $body:expr) => {
        match $conn {
            #[cfg(feature = "postgres")]
            Conn::Postgres($c) => $body,
            #[cfg(feature = "mysql")]
            Conn::Mysql($c) => $body,
            #[cfg(feature = "sqlite")]
            Conn::Sqlite($c) => $body,
        }
    };
}

/// A backend's own connect options, as an application's pool holds them:
/// what a URL cannot carry (TLS roots in memory, SQLite collations and
/// pragmas, ...) is kept.
#[derive(Debug, Clone)]
pub(crate) enum Native {
    #[cfg(feature = "postgres")]
    Postgres(sqlx::postgres::PgConnectOptions),
    #[cfg(feature = "mysql")]
    Mysql(sqlx::mysql::MySqlConnectOptions),
    #[cfg(feature = "sqlite")]
    Sqlite(sqlx::sqlite::SqliteConnectOptions),
}

impl Conn {
    /// Connects with an application's options, as they are.
    pub(crate) async fn connect_native(native: &Native) -> Result<Conn, sqlx::Error> {
        use sqlx::ConnectOptions as _;
        match native {
            #[cfg(feature = "postgres")]
            Native::Postgres(o) => Ok(Conn::Postgres(o.connect().await?)),
            #[cfg(feature = "mysql")]
            Native::Mysql(o) => Ok(Conn::Mysql(o.connect().await?)),
            #[cfg(feature = "sqlite")]
            Native::Sqlite(o) => Ok(Conn::Sqlite(o.connect().await?)),
        }
    }

    /// Connects to `url` (already normalised) for `backend`.
    pub(crate) async fn connect(backend: super::Backend, url: &str) -> Result<Conn, sqlx::Error> {
        match backend {
            #[cfg(feature = "postgres")]
            super::Backend::Postgres => Ok(Conn::Postgres(sqlx::PgConnection::connect(url).await?)),
            #[cfg(feature = "mysql")]
            super::Backend::Mysql => Ok(Conn::Mysql(sqlx::MySqlConnection::connect(url).await?)),
            #[cfg(feature = "sqlite")]
            super::Backend::Sqlite => Ok(Conn::Sqlite(sqlx::SqliteConnection::connect(url).await?)),
            #[allow(unreachable_patterns)]
            other => Err(sqlx::Error::Configuration(
                format!("this build of migrate has no {other:?} support: build it with the `{}` feature", other.feature()).into(),
            )),
        }
    }

    /// Runs SQL text as it is (one or several statements, no parameters),
    /// discarding any rows it returns without decoding them; the number of
    /// rows affected.
    pub(crate) async fn execute_raw(&mut self, sql: &str) -> Result<u64, sqlx::Error> {
        on_conn!(self, c => sqlx::raw_sql(AssertSqlSafe(sql.to_string())).execute(c).await.map(|r| r.rows_affected()))
    }

    /// Runs `COPY ... FROM STDIN` with `rows` as its data, through
    /// PostgreSQL's COPY protocol, as psql does for a dump's data sections.
    pub(crate) async fn copy_in(&mut self, sql: &str, rows: &str) -> Result<u64, sqlx::Error> {
        match self {
            #[cfg(feature = "postgres")]
            Conn::Postgres(c) => {
                let mut copy = c.copy_in_raw(sql).await?;
                if let Err(e) = copy.send(rows.as_bytes()).await {
                    copy.abort(e.to_string()).await.ok();
                    return Err(e);
                }
                copy.finish().await
            }
            #[allow(unreachable_patterns)]
            _ => {
                let _ = (sql, rows);
                Err(sqlx::Error::Protocol(
                    "COPY ... FROM STDIN is PostgreSQL's: this database does not take it".into(),
                ))
            }
        }
    }

    /// Closes the connection.
    pub(crate) async fn close(self) -> Result<(), sqlx::Error> {
        on_conn!(self, c => c.close().await)
    }
}

/// A bound value of migrate's own queries.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Val {
    /// NULL (read from a row, or bound as text).
    Null,
    /// NULL bound as an integer (PostgreSQL types parameters).
    NullInt,
    Int(i64),
    Text(String),
}

impl From<i64> for Val {
    fn from(v: i64) -> Val {
        Val::Int(v)
    }
}
impl From<String> for Val {
    fn from(v: String) -> Val {
        Val::Text(v)
    }
}
impl From<&str> for Val {
    fn from(v: &str) -> Val {
        Val::Text(v.to_string())
    }
}
impl From<&String> for Val {
    fn from(v: &String) -> Val {
        Val::Text(v.clone())
    }
}
impl From<&Option<String>> for Val {
    fn from(v: &Option<String>) -> Val {
        v.as_deref().map_or(Val::Null, Into::into)
    }
}
impl From<&Option<i64>> for Val {
    fn from(v: &Option<i64>) -> Val {
        v.map_or(Val::NullInt, Val::Int)
    }
}
impl From<Option<i64>> for Val {
    fn from(v: Option<i64>) -> Val {
        v.map_or(Val::NullInt, Val::Int)
    }
}
impl From<Option<String>> for Val {
    fn from(v: Option<String>) -> Val {
        v.map_or(Val::Null, Val::Text)
    }
}
impl From<Option<&str>> for Val {
    fn from(v: Option<&str>) -> Val {
        v.map_or(Val::Null, Into::into)
    }
}
impl From<&i64> for Val {
    fn from(v: &i64) -> Val {
        Val::Int(*v)
    }
}

/// One of migrate's own queries: SQL with `?`/`$n` placeholders and values.
#[must_use]
pub(crate) struct Query {
    sql: String,
    args: Vec<Val>,
    persistent: bool,
}

/// A query (prepared and cached by the connection unless
/// [`Query::persistent`] says otherwise).
pub(crate) fn query(sql: impl Into<String>) -> Query {
    Query {
        sql: sql.into(),
        args: Vec::new(),
        persistent: true,
    }
}

/// Binds each value on a native sqlx query.
macro_rules! bound {
    ($sql:expr, $args:expr, $persistent:expr) => {{
        let mut q = sqlx::query(AssertSqlSafe($sql)).persistent($persistent);
        for a in $args {
            q = match a {
                Val::Null => q.bind(None::<String>),
                Val::NullInt => q.bind(None::<i64>),
                Val::Int(i) => q.bind(i),
                Val::Text(s) => q.bind(s),
            };
        }
        q
    }};
}

impl Query {
    /// Adds a parameter.
    pub(crate) fn bind(mut self, v: impl Into<Val>) -> Query {
        self.args.push(v.into());
        self
    }

    /// Whether the server may cache the prepared statement. Queries over
    /// catalogs that migrations change are not cached: a cached plan would
    /// fail with "cached plan must not change result type".
    pub(crate) fn persistent(mut self, persistent: bool) -> Query {
        self.persistent = persistent;
        self
    }

    /// Runs it; the number of rows affected.
    pub(crate) async fn execute(self, conn: &mut Conn) -> Result<u64, sqlx::Error> {
        let Query {
            sql,
            args,
            persistent,
        } = self;
        on_conn!(conn, c => bound!(sql, args, persistent).execute(c).await.map(|r| r.rows_affected()))
    }

    /// Every row.
    pub(crate) async fn fetch_all(self, conn: &mut Conn) -> Result<Vec<Row>, sqlx::Error> {
        let Query {
            sql,
            args,
            persistent,
        } = self;
        on_conn!(conn, c => {
            let rows = bound!(sql, args, persistent).fetch_all(c).await?;
            rows.iter().map(Row::read).collect()
        })
    }

    /// The first row, if any.
    pub(crate) async fn fetch_optional(self, conn: &mut Conn) -> Result<Option<Row>, sqlx::Error> {
        let Query {
            sql,
            args,
            persistent,
        } = self;
        on_conn!(conn, c => {
            let row = bound!(sql, args, persistent).fetch_optional(c).await?;
            row.as_ref().map(Row::read).transpose()
        })
    }

    /// The one row; an error without one.
    pub(crate) async fn fetch_one(self, conn: &mut Conn) -> Result<Row, sqlx::Error> {
        self.fetch_optional(conn)
            .await?
            .ok_or(sqlx::Error::RowNotFound)
    }

    /// The first column of the one row.
    pub(crate) async fn scalar<T: FromVal>(self, conn: &mut Conn) -> Result<T, sqlx::Error> {
        self.fetch_one(conn).await?.try_get(0)
    }

    /// The first column of the first row, if there is a row.
    pub(crate) async fn scalar_optional<T: FromVal>(
        self,
        conn: &mut Conn,
    ) -> Result<Option<T>, sqlx::Error> {
        match self.fetch_optional(conn).await? {
            Some(row) => row.try_get(0).map(Some),
            None => Ok(None),
        }
    }
}

/// A row of one of migrate's own queries, read into [`Val`]s.
#[derive(Debug, Clone)]
pub(crate) struct Row {
    names: Vec<String>,
    vals: Vec<Val>,
}

/// How a column is named in [`Row::try_get`]: by position or by name.
pub(crate) trait ColumnRef {
    fn position(&self, row: &Row) -> Option<usize>;
    fn describe(&self) -> String;
}
impl ColumnRef for usize {
    fn position(&self, row: &Row) -> Option<usize> {
        (*self < row.vals.len()).then_some(*self)
    }
    fn describe(&self) -> String {
        self.to_string()
    }
}
impl ColumnRef for &str {
    fn position(&self, row: &Row) -> Option<usize> {
        row.names.iter().position(|n| n.eq_ignore_ascii_case(self))
    }
    fn describe(&self) -> String {
        (*self).to_string()
    }
}

/// A Rust value read from a [`Val`].
pub(crate) trait FromVal: Sized {
    fn from_val(v: &Val) -> Option<Self>;
}
impl FromVal for i64 {
    fn from_val(v: &Val) -> Option<i64> {
        match v {
            Val::Int(i) => Some(*i),
            Val::Text(s) => s.trim().parse().ok(),
            Val::Null | Val::NullInt => None,
        }
    }
}
impl FromVal for bool {
    fn from_val(v: &Val) -> Option<bool> {
        i64::from_val(v).map(|i| i != 0)
    }
}
impl FromVal for String {
    fn from_val(v: &Val) -> Option<String> {
        match v {
            Val::Text(s) => Some(s.clone()),
            Val::Int(i) => Some(i.to_string()),
            Val::Null | Val::NullInt => None,
        }
    }
}
impl<T: FromVal> FromVal for Option<T> {
    fn from_val(v: &Val) -> Option<Option<T>> {
        match v {
            Val::Null | Val::NullInt => Some(None),
            other => T::from_val(other).map(Some),
        }
    }
}

impl Row {
    /// The number of columns.
    pub(crate) fn len(&self) -> usize {
        self.vals.len()
    }

    /// A column's value.
    pub(crate) fn try_get<T: FromVal>(&self, column: impl ColumnRef) -> Result<T, sqlx::Error> {
        let i = column
            .position(self)
            .ok_or_else(|| sqlx::Error::ColumnNotFound(column.describe()))?;
        T::from_val(&self.vals[i]).ok_or_else(|| sqlx::Error::ColumnDecode {
            index: column.describe(),
            source: format!(
                "unexpected value {:?} for a {}",
                self.vals[i],
                std::any::type_name::<T>()
            )
            .into(),
        })
    }

    /// Reads a native row: NULL, integers (and booleans, as 0 and 1), text,
    /// and bytes that are UTF-8. migrate's own queries cast anything else to
    /// text in SQL.
    fn read<R>(row: &R) -> Result<Row, sqlx::Error>
    where
        R: sqlx::Row,
        usize: sqlx::ColumnIndex<R>,
        for<'r> i64: Decode<'r, R::Database> + Type<R::Database>,
        for<'r> i32: Decode<'r, R::Database> + Type<R::Database>,
        for<'r> i16: Decode<'r, R::Database> + Type<R::Database>,
        for<'r> bool: Decode<'r, R::Database> + Type<R::Database>,
        for<'r> String: Decode<'r, R::Database> + Type<R::Database>,
        for<'r> Vec<u8>: Decode<'r, R::Database> + Type<R::Database>,
    {
        let mut names = Vec::with_capacity(row.len());
        let mut vals = Vec::with_capacity(row.len());
        for (i, column) in row.columns().iter().enumerate() {
            names.push(column.name().to_string());
            let raw = row.try_get_raw(i)?;
            if raw.is_null() {
                vals.push(Val::Null);
                continue;
            }
            // Decoded as the type the value is, found without decoding: a
            // failed decode costs a formatted error, and a drill reads
            // hundreds of thousands of cells.
            let ty = sqlx::ValueRef::type_info(&raw).into_owned();
            let is = |compatible: fn(&<R::Database as sqlx::Database>::TypeInfo) -> bool| {
                compatible(&ty)
            };
            let val = if is(<i64 as Type<R::Database>>::compatible) {
                Val::Int(row.try_get::<i64, _>(i)?)
            } else if is(<i32 as Type<R::Database>>::compatible) {
                Val::Int(row.try_get::<i32, _>(i)?.into())
            } else if is(<i16 as Type<R::Database>>::compatible) {
                Val::Int(row.try_get::<i16, _>(i)?.into())
            } else if is(<bool as Type<R::Database>>::compatible) {
                Val::Int(row.try_get::<bool, _>(i)?.into())
            } else if is(<String as Type<R::Database>>::compatible) {
                Val::Text(row.try_get::<String, _>(i)?)
            } else if let Ok(v) = row.try_get::<Vec<u8>, _>(i) {
                Val::Text(String::from_utf8(v).map_err(|e| sqlx::Error::ColumnDecode {
                    index: column.name().to_string(),
                    source: Box::new(e),
                })?)
            } else {
                return Err(sqlx::Error::ColumnDecode {
                    index: column.name().to_string(),
                    source: format!(
                        "migrate reads text and integers from its own queries, not {}",
                        column.type_info().name()
                    )
                    .into(),
                });
            };
            vals.push(val);
        }
        Ok(Row { names, vals })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_read_as_the_types_asked_for() {
        let row = Row {
            names: vec!["n".into(), "s".into(), "z".into()],
            vals: vec![Val::Int(3), Val::Text("7".into()), Val::Null],
        };
        assert_eq!(row.try_get::<i64>("n").unwrap(), 3);
        assert_eq!(row.try_get::<i64>("s").unwrap(), 7);
        assert_eq!(row.try_get::<String>(1).unwrap(), "7");
        assert_eq!(row.try_get::<Option<String>>("z").unwrap(), None);
        assert!(row.try_get::<String>("z").is_err());
        assert!(row.try_get::<bool>("n").unwrap());
        assert!(matches!(
            row.try_get::<i64>("nope"),
            Err(sqlx::Error::ColumnNotFound(_))
        ));
    }
}
