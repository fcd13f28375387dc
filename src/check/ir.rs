//! What a statement does to the schema and the data, read with `sqlparser`
//! and, where it cannot parse, from the statement's tokens.
//!
//! Invariant: never fails. A statement neither reader understands becomes
//! [`Op::Other`]; one only the token reader understands is marked unparsed.

use sqlparser::ast::{
    self, AlterColumnOperation, AlterTableOperation, ColumnOption, DataType, Expr, ObjectName,
    ObjectType, Statement as Ast, TableConstraint,
};
use sqlparser::dialect::{
    Dialect as SpDialect, GenericDialect, MySqlDialect, PostgreSqlDialect, SQLiteDialect,
};
use sqlparser::parser::Parser;

use crate::archive::unquote;
use crate::sql::{Dialect, Statement, TokenKind};

/// `PRAGMA foreign_keys = ...` (SQLite), from a statement's upper-cased
/// words: it does nothing inside a transaction.
pub fn is_foreign_keys_pragma(words: &[String]) -> bool {
    words.first().is_some_and(|w| w == "PRAGMA")
        && words
            .get(1)
            .is_some_and(|w| w == "FOREIGN_KEYS" || w.ends_with(".FOREIGN_KEYS"))
}

/// A column as declared.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ColumnSpec {
    /// Normalised name.
    pub name: String,
    /// Type as written, upper-cased.
    pub ty: String,
    /// NOT NULL (or PRIMARY KEY).
    pub not_null: bool,
    /// The default, as written.
    pub default: Option<String>,
    /// Declared PRIMARY KEY inline.
    pub primary_key: bool,
    /// Declared UNIQUE inline.
    pub unique: bool,
    /// Declared `REFERENCES table` inline: the constraint's name when given,
    /// and the table.
    pub references: Option<(Option<String>, String)>,
}

/// A table constraint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConstraintSpec {
    /// PRIMARY KEY (cols).
    PrimaryKey(Vec<String>),
    /// UNIQUE (cols).
    Unique(Vec<String>),
    /// FOREIGN KEY (cols) REFERENCES table.
    ForeignKey(Vec<String>, String),
    /// CHECK (...), by its text.
    Check(String),
    /// PostgreSQL 18's `CONSTRAINT n NOT NULL col`: the column is NOT NULL,
    /// and the constraint has that name (a NOT NULL is a column property in
    /// the model, compared as such; the name is kept so that a later `DROP`
    /// or `RENAME CONSTRAINT n` finds it).
    NotNull(String),
}

impl std::fmt::Display for ConstraintSpec {
    /// As SQL: `UNIQUE (a, b)`, `FOREIGN KEY (a) REFERENCES t`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ConstraintSpec::PrimaryKey(cols) => write!(f, "PRIMARY KEY ({})", cols.join(", ")),
            ConstraintSpec::Unique(cols) => write!(f, "UNIQUE ({})", cols.join(", ")),
            ConstraintSpec::ForeignKey(cols, to) => {
                write!(f, "FOREIGN KEY ({}) REFERENCES {to}", cols.join(", "))
            }
            ConstraintSpec::Check(text) => write!(f, "CHECK ({text})"),
            ConstraintSpec::NotNull(col) => write!(f, "NOT NULL {col}"),
        }
    }
}

/// What a statement does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    /// CREATE TABLE.
    CreateTable {
        /// Table.
        table: String,
        /// Columns.
        columns: Vec<ColumnSpec>,
        /// Table-level constraints, with their names when given.
        constraints: Vec<(Option<String>, ConstraintSpec)>,
        /// IF NOT EXISTS.
        if_not_exists: bool,
        /// CREATE TABLE ... AS SELECT (columns unknown).
        as_select: bool,
    },
    /// DROP TABLE of one or more tables.
    DropTable {
        /// Tables.
        tables: Vec<String>,
        /// IF EXISTS.
        if_exists: bool,
    },
    /// ALTER TABLE with its actions.
    AlterTable {
        /// Table.
        table: String,
        /// Actions, in order.
        actions: Vec<Action>,
        /// ALTER TABLE IF EXISTS.
        if_exists: bool,
    },
    /// ALTER TABLE ... RENAME TO / RENAME TABLE.
    RenameTable {
        /// Old name.
        from: String,
        /// New name.
        to: String,
    },
    /// `CREATE [UNIQUE] INDEX`.
    CreateIndex {
        /// Index name, when given.
        name: Option<String>,
        /// Table.
        table: String,
        /// Columns or expressions, as text.
        columns: Vec<String>,
        /// UNIQUE.
        unique: bool,
        /// A partial index's WHERE, canonical.
        predicate: Option<String>,
        /// CONCURRENTLY.
        concurrently: bool,
        /// IF NOT EXISTS.
        if_not_exists: bool,
    },
    /// ALTER INDEX ... RENAME TO (which renames the UNIQUE or PRIMARY KEY
    /// constraint an index of that name backs).
    RenameIndex {
        /// Old name.
        from: String,
        /// New name.
        to: String,
        /// IF EXISTS.
        if_exists: bool,
    },
    /// ALTER TYPE ... RENAME TO: the columns of that type follow.
    RenameType {
        /// Old name.
        from: String,
        /// New name.
        to: String,
    },
    /// ALTER TYPE ... RENAME VALUE: defaults naming the label follow.
    RenameEnumValue {
        /// The enum type.
        ty: String,
        /// Old label, as a SQL literal (`'a'`).
        from: String,
        /// New label, as a SQL literal.
        to: String,
    },
    /// CREATE [OR REPLACE] FUNCTION / PROCEDURE.
    CreateFunction {
        /// `name(canonical argument types)`: PostgreSQL's identity of a
        /// function (OUT arguments and defaults are not part of it).
        key: String,
        /// Everything after the name, in normalised tokens (the body's too:
        /// comments and spacing are not a difference).
        definition: String,
    },
    /// DROP FUNCTION / PROCEDURE of one or more functions: keys, or bare
    /// names (`f`, any signature).
    DropFunction {
        /// Keys (`f(integer)`) or names.
        keys: Vec<String>,
    },
    /// DROP INDEX.
    DropIndex {
        /// Index names.
        names: Vec<String>,
        /// CONCURRENTLY.
        concurrently: bool,
        /// IF EXISTS.
        if_exists: bool,
    },
    /// `CREATE [OR REPLACE] [MATERIALIZED] VIEW`.
    CreateView {
        /// View.
        name: String,
        /// Its column names and query in one spelling per meaning
        /// ([`canonical_query`]); `None` when it could not be read.
        definition: Option<String>,
        /// The tables its `*` and `t.*` stand for, in order (`None` for a
        /// subquery's): PostgreSQL expands them when the view is created,
        /// so the same text over a table whose columns changed is another
        /// view.
        wildcards: Vec<Option<String>>,
    },
    /// DROP VIEW.
    DropView {
        /// Views.
        names: Vec<String>,
        /// IF EXISTS.
        if_exists: bool,
    },
    /// DROP SCHEMA: with CASCADE, every table in it goes with its rows
    /// (the model does not hold which tables a schema has).
    DropSchema {
        /// Schemas.
        names: Vec<String>,
        /// CASCADE.
        cascade: bool,
    },
    /// DELETE FROM table (`filtered` when it has a WHERE).
    Delete {
        /// Table.
        table: String,
        /// Has a WHERE clause.
        filtered: bool,
    },
    /// TRUNCATE.
    Truncate {
        /// Tables.
        tables: Vec<String>,
    },
    /// UPDATE table SET columns.
    Update {
        /// Table.
        table: String,
        /// Columns assigned.
        columns: Vec<String>,
    },
    /// INSERT.
    Insert {
        /// Table.
        table: String,
        /// The table of `INSERT ... SELECT ... FROM <table>`, the first one
        /// named after FROM.
        from: Option<String>,
    },
    /// Something that cannot run inside a transaction block (PostgreSQL).
    NoTransactionOnly {
        /// What, for the message.
        what: String,
    },
    /// Anything else: no effect the checker models.
    Other,
}

/// One ALTER TABLE action.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// ADD COLUMN.
    AddColumn(ColumnSpec),
    /// DROP COLUMN.
    DropColumn {
        /// Column.
        column: String,
        /// IF EXISTS.
        if_exists: bool,
    },
    /// RENAME COLUMN.
    RenameColumn {
        /// Old.
        from: String,
        /// New.
        to: String,
    },
    /// ALTER COLUMN TYPE (or MySQL MODIFY/CHANGE with a type).
    SetType {
        /// Column.
        column: String,
        /// New type, upper-cased.
        ty: String,
    },
    /// SET NOT NULL.
    SetNotNull(String),
    /// DROP NOT NULL.
    DropNotNull(String),
    /// SET DEFAULT.
    SetDefault(String, String),
    /// DROP DEFAULT.
    DropDefault(String),
    /// ADD CONSTRAINT.
    AddConstraint {
        /// Name, when given.
        name: Option<String>,
        /// What.
        spec: ConstraintSpec,
        /// NOT VALID.
        not_valid: bool,
    },
    /// DROP CONSTRAINT.
    DropConstraint {
        /// Name.
        name: String,
        /// IF EXISTS.
        if_exists: bool,
    },
    /// RENAME TO.
    RenameTo(String),
    /// RENAME CONSTRAINT.
    RenameConstraint {
        /// Old name.
        from: String,
        /// New name.
        to: String,
    },
    /// VALIDATE CONSTRAINT (changes nothing the model holds; `not-null-scan`
    /// reads it: a validated `CHECK (c IS NOT NULL)` spares SET NOT NULL's scan).
    ValidateConstraint(String),
    /// An action read with certainty that changes nothing the model holds
    /// (`VALIDATE CONSTRAINT`, `ALTER CONSTRAINT ... DEFERRABLE`, `OWNER TO`,
    /// `ENABLE TRIGGER`, `SET STATISTICS`, ...).
    NoSchemaEffect,
    /// Something else: the checker cannot tell what it does.
    Other,
}

/// A statement read for the checker.
#[derive(Debug, Clone)]
pub struct Read {
    /// What it does.
    pub op: Op,
    /// Why the checker could not fully read it, when it could not (the
    /// parser rejected it, or it is a form the checker does not model): its
    /// effects were read from its tokens only.
    pub parse_error: Option<String>,
    /// PostgreSQL's grammar rejects it: the message, and the 1-based line
    /// and column of the error within the statement.
    pub syntax_error: Option<(String, u32, u32)>,
    /// A `DROP ... CASCADE`: it may drop objects the checker cannot see
    /// depend on what it names (views over a table, a schema's tables).
    pub cascades: bool,
}

impl Read {
    fn certain(op: Op) -> Read {
        Read {
            op,
            parse_error: None,
            syntax_error: None,
            cascades: false,
        }
    }
}

fn sp_dialect(d: Dialect) -> Box<dyn SpDialect> {
    match d {
        Dialect::Postgres => Box::new(PostgreSqlDialect {}),
        Dialect::Mysql => Box::new(MySqlDialect {}),
        Dialect::Sqlite => Box::new(SQLiteDialect {}),
        Dialect::Generic => Box::new(GenericDialect {}),
    }
}

/// Normalises an identifier: unquoted names fold to lower case, and names
/// are cut to PostgreSQL's 63 bytes (as it does: a longer index name is
/// stored cut, and found by either spelling).
pub fn norm(ident: &str) -> String {
    let unq = unquote(ident);
    truncated(if unq.len() != ident.len() {
        unq
    } else {
        ident.to_ascii_lowercase()
    })
}

/// A name cut to 63 bytes at a character boundary (PostgreSQL's NAMEDATALEN
/// less one; MySQL refuses names over 64, so valid ones are unaffected).
fn truncated(mut name: String) -> String {
    if name.len() > 63 {
        let mut end = 63;
        while !name.is_char_boundary(end) {
            end -= 1;
        }
        name.truncate(end);
    }
    name
}

fn ident(i: &ast::Ident) -> String {
    truncated(if i.quote_style.is_some() {
        i.value.clone()
    } else {
        i.value.to_ascii_lowercase()
    })
}

fn object(name: &ObjectName) -> String {
    match name.0.last() {
        Some(ast::ObjectNamePart::Identifier(i)) => ident(i),
        Some(other) => other.to_string().to_ascii_lowercase(),
        None => String::new(),
    }
}

fn ty(t: &DataType) -> String {
    canonical_type(&t.to_string())
}

/// One spelling per type, so that `INT`, `INTEGER` and `int4`, or
/// `TIMESTAMP` and `TIMESTAMP WITHOUT TIME ZONE`, are not read as a change
/// (PostgreSQL's own names, which the other dialects' aliases map onto).
/// A `COLLATE` clause is not part of the type.
pub fn canonical_type(text: &str) -> String {
    let upper = text.to_ascii_uppercase();
    let upper = match upper.find(" COLLATE") {
        Some(i) => upper[..i].to_string(),
        None => upper,
    };
    let words: Vec<&str> = upper.split_whitespace().collect();
    let folded = words.join(" ");
    // `public.mood` is `mood`, and `pg_catalog.int4` is `int4`, on the
    // default search path.
    let folded = ["PUBLIC.", "PG_CATALOG."]
        .iter()
        .find_map(|q| folded.strip_prefix(q))
        .map_or(folded.clone(), str::to_string);
    // The name and its arguments (`VARCHAR(20)`, `NUMERIC(10, 2)`).
    let (name, args) = match folded.find('(') {
        Some(i) => (folded[..i].trim().to_string(), folded[i..].replace(' ', "")),
        None => (folded.clone(), String::new()),
    };
    let (name, array) = match name.strip_suffix("[]") {
        Some(n) => (n.trim().to_string(), "[]"),
        None => (name, ""),
    };
    let canonical = match name.as_str() {
        "INT" | "INTEGER" | "INT4" => "INTEGER",
        "BIGINT" | "INT8" => "BIGINT",
        "SMALLINT" | "INT2" => "SMALLINT",
        "BOOL" | "BOOLEAN" => "BOOLEAN",
        "VARCHAR" | "CHARACTER VARYING" => "VARCHAR",
        "CHAR" | "CHARACTER" | "BPCHAR" => "CHAR",
        "TIMESTAMP" | "TIMESTAMP WITHOUT TIME ZONE" => "TIMESTAMP",
        "TIMESTAMPTZ" | "TIMESTAMP WITH TIME ZONE" => "TIMESTAMPTZ",
        "TIME" | "TIME WITHOUT TIME ZONE" => "TIME",
        "TIMETZ" | "TIME WITH TIME ZONE" => "TIMETZ",
        // PostgreSQL: `float` without a precision is `float8`.
        "FLOAT8" | "FLOAT" | "DOUBLE PRECISION" | "DOUBLE" => "DOUBLE PRECISION",
        "FLOAT4" | "REAL" => "REAL",
        "DECIMAL" | "NUMERIC" => "NUMERIC",
        "SERIAL" | "SERIAL4" => "SERIAL",
        "BIGSERIAL" | "SERIAL8" => "BIGSERIAL",
        other => other,
    };
    format!("{canonical}{args}{array}")
}

/// A default as its meaning: `'x'::character varying` is `'x'`, `NOW()` is
/// `now()`, and `DEFAULT NULL` is no default.
pub fn canonical_default(text: &str) -> Option<String> {
    let mut t = text.trim().to_string();
    // Casts of a literal to a type: `'x'::character varying`, `0::bigint`.
    if let Some(i) = t.rfind("::")
        && !t[i + 2..].contains(['\'', ')'])
    {
        t.truncate(i);
    }
    let t = t.trim();
    if t.eq_ignore_ascii_case("NULL") {
        return None;
    }
    // Function names are case-insensitive; literals are not.
    if !t.starts_with('\'') {
        return Some(t.to_ascii_lowercase());
    }
    Some(t.to_string())
}

fn column(def: &ast::ColumnDef) -> ColumnSpec {
    let mut c = ColumnSpec {
        name: ident(&def.name),
        ty: ty(&def.data_type),
        not_null: false,
        default: None,
        primary_key: false,
        unique: false,
        references: None,
    };
    for o in &def.options {
        match &o.option {
            ColumnOption::NotNull => c.not_null = true,
            ColumnOption::Default(e) => c.default = canonical_default(&e.to_string()),
            ColumnOption::PrimaryKey(_) => {
                c.primary_key = true;
                c.not_null = true;
            }
            ColumnOption::Unique(_) => c.unique = true,
            ColumnOption::ForeignKey(fk) => {
                c.references = Some((
                    o.name.as_ref().or(fk.name.as_ref()).map(ident),
                    object(&fk.foreign_table),
                ))
            }
            ColumnOption::Generated { .. } | ColumnOption::Identity(_) => {
                c.default.get_or_insert_with(|| "(generated)".into());
            }
            _ => {}
        }
    }
    // SERIAL types carry their own default.
    if c.ty.contains("SERIAL") {
        c.default.get_or_insert_with(|| "(serial)".into());
        c.not_null = true;
    }
    c
}

fn index_cols(cols: &[ast::IndexColumn]) -> Vec<String> {
    cols.iter()
        .map(|c| match &c.column.expr {
            Expr::Identifier(i) => ident(i),
            other => canonical_expr_ast(other.clone()),
        })
        .collect()
}

/// An expression in one spelling per meaning, as PostgreSQL stores it
/// whatever was written: `lower((name)::text)` is `lower(name)` (the casts
/// PostgreSQL adds to a column), `LOWER( Name )` is
/// `lower(name)`, redundant parentheses go. Text that does not parse as an
/// expression is kept, with its whitespace folded.
pub fn canonical_expr(text: &str) -> String {
    let parsed = Parser::new(&PostgreSqlDialect {})
        .try_with_sql(text)
        .and_then(|mut p| p.parse_expr());
    match parsed {
        Ok(e) => canonical_expr_ast(e),
        Err(_) => text.split_whitespace().collect::<Vec<_>>().join(" "),
    }
}

fn canonical_expr_ast(mut e: Expr) -> String {
    let _ = ast::visit_expressions_mut(&mut e, canonical_in_place);
    e.to_string()
}

/// One step of [`canonical_expr`], for a visitor over any part of a statement.
fn canonical_in_place(e: &mut Expr) -> std::ops::ControlFlow<()> {
    let replace = match e {
        Expr::Nested(inner) => Some((**inner).clone()),
        // PostgreSQL stores the casts it adds to a column for a function
        // or operator (`(name)::text`, `(score)::numeric`); pg_dump prints
        // them. A cast on a column is read as the column.
        Expr::Cast {
            kind: ast::CastKind::DoubleColon,
            expr,
            ..
        } if matches!(**expr, Expr::Identifier(_) | Expr::CompoundIdentifier(_)) => {
            Some((**expr).clone())
        }
        // And to a constant compared with a column (`hot_rank <>
        // (0)::double precision` for `hot_rank != 0`).
        Expr::Cast {
            kind: ast::CastKind::DoubleColon,
            expr,
            ..
        } if matches!(**expr, Expr::Value(_)) => Some((**expr).clone()),
        Expr::Identifier(i) => {
            fold_ident(i);
            None
        }
        Expr::CompoundIdentifier(parts) => {
            parts.iter_mut().for_each(fold_ident);
            None
        }
        Expr::Function(f) => {
            fold_object(&mut f.name);
            None
        }
        _ => None,
    };
    if let Some(r) = replace {
        *e = r;
    }
    std::ops::ControlFlow::Continue(())
}

/// An unquoted identifier as PostgreSQL folds it.
fn fold_ident(i: &mut ast::Ident) {
    if i.quote_style.is_none() {
        i.value = i.value.to_ascii_lowercase();
    }
}

/// An object name as PostgreSQL resolves it on the default search path:
/// folded, and `public.f` / `pg_catalog.f` is `f`.
fn fold_object(name: &mut ast::ObjectName) {
    if name.0.len() == 2
        && matches!(&name.0[0], ast::ObjectNamePart::Identifier(q)
            if q.value.eq_ignore_ascii_case("public") || q.value.eq_ignore_ascii_case("pg_catalog"))
    {
        name.0.remove(0);
    }
    for part in name.0.iter_mut() {
        if let ast::ObjectNamePart::Identifier(i) = part {
            fold_ident(i);
        }
    }
}

/// A view's column names and query in one spelling per meaning: what
/// [`canonical_expr`] does to each expression, table names folded and
/// without `public.`, aliases folded, keywords and spacing as `sqlparser`
/// prints them. Two definitions that differ here read different columns,
/// rows or values (or are spelled in a way this does not fold, such as
/// `SELECT *` against a list of the same columns).
pub fn canonical_query(columns: &[ast::ViewColumnDef], query: &ast::Query) -> String {
    let mut q = query.clone();
    // pg_dump qualifies every column (`users.id`): a column is read by its
    // name alone (leniently: `a.id` and `b.id` then read the same).
    let _ = ast::visit_expressions_mut(&mut q, |e| {
        if let Expr::CompoundIdentifier(parts) = e
            && parts.len() == 2
        {
            *e = Expr::Identifier(parts[1].clone());
        }
        std::ops::ControlFlow::<()>::Continue(())
    });
    let _ = ast::visit_expressions_mut(&mut q, canonical_in_place);
    drop_redundant_aliases(&mut q.body);
    let _ = ast::visit_relations_mut(&mut q, |name| {
        fold_object(name);
        std::ops::ControlFlow::<()>::Continue(())
    });
    let mut text = q.to_string();
    if !columns.is_empty() {
        let names: Vec<String> = columns.iter().map(|c| ident(&c.name)).collect();
        text = format!("({}) {text}", names.join(", "));
    }
    // Aliases (`AS Total`) are identifiers the visitors above do not reach:
    // fold the unquoted words outside literals and quoted names.
    fold_unquoted_words(&text)
}

/// `name AS name` (pg_dump's spelling of a column that keeps its name) is
/// `name`, in every SELECT list of `body`.
fn drop_redundant_aliases(body: &mut ast::SetExpr) {
    match body {
        ast::SetExpr::Select(select) => {
            for item in select.projection.iter_mut() {
                if let ast::SelectItem::ExprWithAlias {
                    expr: Expr::Identifier(i),
                    alias,
                } = item
                    && i.value.eq_ignore_ascii_case(&alias.value)
                {
                    *item = ast::SelectItem::UnnamedExpr(Expr::Identifier(i.clone()));
                }
            }
        }
        ast::SetExpr::SetOperation { left, right, .. } => {
            drop_redundant_aliases(left);
            drop_redundant_aliases(right);
        }
        ast::SetExpr::Query(q) => drop_redundant_aliases(&mut q.body),
        _ => {}
    }
}

/// The tables the `*` and `t.*` of a query's (first) SELECT list stand for,
/// in the order PostgreSQL expands them: `*` is every table of FROM, `t.*`
/// the table named or aliased `t`. `None` for a subquery or a name FROM
/// does not have.
fn wildcard_tables(query: &ast::Query) -> Vec<Option<String>> {
    let mut body = &*query.body;
    let select = loop {
        match body {
            ast::SetExpr::Select(s) => break s,
            ast::SetExpr::SetOperation { left, .. } => body = left,
            ast::SetExpr::Query(q) => body = &q.body,
            _ => return Vec::new(),
        }
    };
    // FROM's relations in order, each with the name it is known by.
    let mut from: Vec<(Option<String>, Option<String>)> = Vec::new();
    for t in &select.from {
        for f in std::iter::once(&t.relation).chain(t.joins.iter().map(|j| &j.relation)) {
            match f {
                ast::TableFactor::Table { name, alias, .. } => {
                    let table = object(name);
                    let known_as = alias.as_ref().map_or_else(
                        || table.rsplit('.').next().unwrap_or(&table).to_string(),
                        |a| ident(&a.name),
                    );
                    from.push((Some(known_as), Some(table)));
                }
                other => {
                    let alias = match other {
                        ast::TableFactor::Derived { alias, .. }
                        | ast::TableFactor::Function { alias, .. }
                        | ast::TableFactor::UNNEST { alias, .. } => alias.as_ref(),
                        _ => None,
                    };
                    from.push((alias.map(|a| ident(&a.name)), None));
                }
            }
        }
    }
    let mut out = Vec::new();
    for item in &select.projection {
        match item {
            ast::SelectItem::Wildcard(_) => out.extend(from.iter().map(|(_, t)| t.clone())),
            ast::SelectItem::QualifiedWildcard(
                ast::SelectItemQualifiedWildcardKind::ObjectName(n),
                _,
            ) => {
                let n = object(n);
                let short = n.rsplit('.').next().unwrap_or(&n);
                out.push(
                    from.iter()
                        .find(|(k, _)| k.as_deref() == Some(short))
                        .and_then(|(_, t)| t.clone()),
                );
            }
            _ => {}
        }
    }
    out
}

/// `text` with every ASCII letter outside '...' and "..." lower-cased.
fn fold_unquoted_words(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut quote: Option<char> = None;
    for ch in text.chars() {
        match quote {
            Some(q) if ch == q => quote = None,
            Some(_) => {}
            None if ch == '\'' || ch == '"' => quote = Some(ch),
            None => {}
        }
        out.push(if quote.is_none() {
            ch.to_ascii_lowercase()
        } else {
            ch
        });
    }
    out
}

/// Whether the canonical expression `expr` names column `column`.
pub fn expr_names(expr: &str, column: &str) -> bool {
    if !expr.contains(column) {
        return false;
    }
    let Ok(e) = Parser::new(&PostgreSqlDialect {})
        .try_with_sql(expr)
        .and_then(|mut p| p.parse_expr())
    else {
        return true;
    };
    ast::visit_expressions(&e, |e| match e {
        Expr::Identifier(i) if ident(i) == column => std::ops::ControlFlow::Break(()),
        Expr::CompoundIdentifier(parts) if parts.last().is_some_and(|i| ident(i) == column) => {
            std::ops::ControlFlow::Break(())
        }
        _ => std::ops::ControlFlow::Continue(()),
    })
    .is_break()
}

/// `expr` (canonical, as [`canonical_expr`] gives it) with column `from`
/// renamed `to`: what PostgreSQL does to an index expression when the column
/// is renamed.
pub fn rename_in_expr(expr: &str, from: &str, to: &str) -> String {
    use std::ops::ControlFlow;
    let Ok(mut e) = Parser::new(&PostgreSqlDialect {})
        .try_with_sql(expr)
        .and_then(|mut p| p.parse_expr())
    else {
        return expr.to_string();
    };
    let _ = ast::visit_expressions_mut(&mut e, |e| {
        if let Expr::Identifier(i) = e
            && ident(i) == from
        {
            *i = ast::Ident::new(to);
        }
        ControlFlow::<()>::Continue(())
    });
    canonical_expr_ast(e)
}

fn constraint(c: &TableConstraint) -> Option<(Option<String>, ConstraintSpec)> {
    Some(match c {
        TableConstraint::PrimaryKey(p) => (
            p.name.as_ref().map(ident),
            ConstraintSpec::PrimaryKey(index_cols(&p.columns)),
        ),
        TableConstraint::Unique(u) => (
            u.name.as_ref().map(ident),
            ConstraintSpec::Unique(index_cols(&u.columns)),
        ),
        TableConstraint::ForeignKey(f) => (
            f.name.as_ref().map(ident),
            ConstraintSpec::ForeignKey(
                f.columns.iter().map(ident).collect(),
                object(&f.foreign_table),
            ),
        ),
        TableConstraint::Check(k) => (
            k.name.as_ref().map(ident),
            ConstraintSpec::Check(k.expr.to_string()),
        ),
        _ => return None,
    })
}

fn lower(stmt: &Ast) -> Op {
    match stmt {
        Ast::CreateTable(ct) => Op::CreateTable {
            table: object(&ct.name),
            columns: ct.columns.iter().map(column).collect(),
            constraints: ct.constraints.iter().filter_map(constraint).collect(),
            if_not_exists: ct.if_not_exists,
            as_select: ct.query.is_some(),
        },
        Ast::Drop {
            object_type,
            if_exists,
            names,
            cascade,
            ..
        } => {
            let names: Vec<String> = names.iter().map(object).collect();
            match object_type {
                ObjectType::Schema => Op::DropSchema {
                    names,
                    cascade: *cascade,
                },
                ObjectType::Table => Op::DropTable {
                    tables: names,
                    if_exists: *if_exists,
                },
                ObjectType::Index => Op::DropIndex {
                    names,
                    concurrently: false,
                    if_exists: *if_exists,
                },
                ObjectType::View | ObjectType::MaterializedView => Op::DropView {
                    names,
                    if_exists: *if_exists,
                },
                _ => Op::Other,
            }
        }
        Ast::CreateIndex(ci) => Op::CreateIndex {
            name: ci.name.as_ref().map(object),
            table: object(&ci.table_name),
            columns: index_cols(&ci.columns),
            unique: ci.unique,
            predicate: ci.predicate.clone().map(canonical_expr_ast),
            concurrently: ci.concurrently,
            if_not_exists: ci.if_not_exists,
        },
        Ast::CreateView(v) => Op::CreateView {
            name: object(&v.name),
            definition: Some(canonical_query(&v.columns, &v.query)),
            wildcards: wildcard_tables(&v.query),
        },
        Ast::AlterType(ast::AlterType {
            name,
            operation: ast::AlterTypeOperation::Rename(r),
        }) => Op::RenameType {
            from: object(name),
            to: ident(&r.new_name),
        },
        Ast::AlterType(ast::AlterType {
            name,
            operation: ast::AlterTypeOperation::RenameValue(r),
        }) => Op::RenameEnumValue {
            ty: object(name),
            from: format!("'{}'", r.from.value.replace('\'', "''")),
            to: format!("'{}'", r.to.value.replace('\'', "''")),
        },
        Ast::DropFunction(d) => Op::DropFunction {
            keys: d
                .func_desc
                .iter()
                .map(|f| match &f.args {
                    Some(args) => function_key(
                        &object(&f.name),
                        args.iter()
                            .filter(|a| !matches!(a.mode, Some(ast::ArgMode::Out)))
                            .map(|a| ty(&a.data_type)),
                    ),
                    None => object(&f.name),
                })
                .collect(),
        },
        Ast::AlterIndex {
            name,
            operation: ast::AlterIndexOperation::RenameIndex { index_name },
        } => Op::RenameIndex {
            from: object(name),
            to: object(index_name),
            if_exists: false,
        },
        Ast::RenameTable(r) if r.len() == 1 => Op::RenameTable {
            from: object(&r[0].old_name),
            to: object(&r[0].new_name),
        },
        Ast::AlterTable(at) => alter_table_op(
            object(&at.name),
            at.operations.iter().map(action).collect(),
            at.if_exists,
        ),
        Ast::Update(u) => {
            let table = match &u.table.relation {
                ast::TableFactor::Table { name, .. } => object(name),
                _ => String::new(),
            };
            let columns = u
                .assignments
                .iter()
                .flat_map(|a| match &a.target {
                    ast::AssignmentTarget::ColumnName(n) => vec![object(n)],
                    ast::AssignmentTarget::Tuple(ns) => ns.iter().map(object).collect(),
                })
                .collect();
            Op::Update { table, columns }
        }
        Ast::Vacuum(_) => Op::NoTransactionOnly {
            what: "VACUUM".into(),
        },
        _ => Op::Other,
    }
}

/// An ALTER TABLE: a lone `RENAME TO` is a table rename.
pub(super) fn alter_table_op(table: String, actions: Vec<Action>, if_exists: bool) -> Op {
    if let [Action::RenameTo(to)] = actions.as_slice() {
        return Op::RenameTable {
            from: table,
            to: to.clone(),
        };
    }
    Op::AlterTable {
        table,
        actions,
        if_exists,
    }
}

fn action(op: &AlterTableOperation) -> Action {
    match op {
        AlterTableOperation::AddColumn { column_def, .. } => Action::AddColumn(column(column_def)),
        AlterTableOperation::DropColumn {
            column_names,
            if_exists,
            ..
        } if column_names.len() == 1 => Action::DropColumn {
            column: ident(&column_names[0]),
            if_exists: *if_exists,
        },
        AlterTableOperation::RenameColumn {
            old_column_name,
            new_column_name,
        } => Action::RenameColumn {
            from: ident(old_column_name),
            to: ident(new_column_name),
        },
        AlterTableOperation::RenameTable { table_name } => match table_name {
            ast::RenameTableNameKind::As(n) | ast::RenameTableNameKind::To(n) => {
                Action::RenameTo(object(n))
            }
        },
        AlterTableOperation::ModifyColumn {
            col_name,
            data_type,
            ..
        } => Action::SetType {
            column: ident(col_name),
            ty: ty(data_type),
        },
        AlterTableOperation::ChangeColumn {
            old_name,
            new_name,
            data_type,
            ..
        } if old_name.value == new_name.value => Action::SetType {
            column: ident(old_name),
            ty: ty(data_type),
        },
        AlterTableOperation::AlterColumn { column_name, op } => {
            let c = ident(column_name);
            match op {
                AlterColumnOperation::SetNotNull => Action::SetNotNull(c),
                AlterColumnOperation::DropNotNull => Action::DropNotNull(c),
                AlterColumnOperation::SetDefault { value } => {
                    match canonical_default(&value.to_string()) {
                        Some(d) => Action::SetDefault(c, d),
                        None => Action::DropDefault(c),
                    }
                }
                AlterColumnOperation::DropDefault => Action::DropDefault(c),
                AlterColumnOperation::SetDataType { data_type, .. } => Action::SetType {
                    column: c,
                    ty: ty(data_type),
                },
                _ => Action::Other,
            }
        }
        AlterTableOperation::AddConstraint {
            constraint: c,
            not_valid,
        } => match constraint(c) {
            Some((name, spec)) => Action::AddConstraint {
                name,
                spec,
                not_valid: *not_valid,
            },
            None => Action::Other,
        },
        AlterTableOperation::ValidateConstraint { name } => Action::ValidateConstraint(ident(name)),
        AlterTableOperation::RenameConstraint { old_name, new_name } => Action::RenameConstraint {
            from: ident(old_name),
            to: ident(new_name),
        },
        AlterTableOperation::DropConstraint {
            name, if_exists, ..
        } => Action::DropConstraint {
            name: ident(name),
            if_exists: *if_exists,
        },
        // Triggers, rules, row security, owner, storage: nothing the model
        // holds (as the PostgreSQL grammar's reading says too).
        AlterTableOperation::DisableTrigger { .. }
        | AlterTableOperation::EnableTrigger { .. }
        | AlterTableOperation::EnableAlwaysTrigger { .. }
        | AlterTableOperation::EnableReplicaTrigger { .. }
        | AlterTableOperation::DisableRule { .. }
        | AlterTableOperation::EnableRule { .. }
        | AlterTableOperation::EnableAlwaysRule { .. }
        | AlterTableOperation::EnableReplicaRule { .. }
        | AlterTableOperation::DisableRowLevelSecurity
        | AlterTableOperation::EnableRowLevelSecurity
        | AlterTableOperation::ForceRowLevelSecurity
        | AlterTableOperation::NoForceRowLevelSecurity
        | AlterTableOperation::OwnerTo { .. }
        | AlterTableOperation::ReplicaIdentity { .. }
        | AlterTableOperation::SetOptionsParens { .. }
        | AlterTableOperation::ResetOptions { .. } => Action::NoSchemaEffect,
        _ => Action::Other,
    }
}

/// `name(type, type)`: a function's identity.
pub fn function_key(name: &str, types: impl Iterator<Item = String>) -> String {
    format!("{name}({})", types.collect::<Vec<_>>().join(", "))
}

/// A function's definition after its name, as normalised tokens: words
/// lower-cased, comments and spacing dropped, and a dollar-quoted body read
/// the same way, so that only a change of meaning is a difference.
fn function_definition(statement: &Statement, script: &str, dialect: Dialect) -> String {
    let mut out = Vec::new();
    let mut seen_keyword = false;
    for t in statement.tokens.iter().filter(|t| !t.is_trivia()) {
        let text = &script[t.span.clone()];
        if !seen_keyword {
            seen_keyword = t.kind == TokenKind::Word
                && (text.eq_ignore_ascii_case("FUNCTION")
                    || text.eq_ignore_ascii_case("PROCEDURE"));
            continue;
        }
        out.push(match t.kind {
            TokenKind::Word => text.to_ascii_lowercase(),
            TokenKind::String if text.starts_with('$') => {
                format!("$$ {} $$", normalised_body(text, dialect))
            }
            _ => text.to_string(),
        });
    }
    out.join(" ")
}

/// A parsed function's definition in one spelling per meaning: arguments
/// and return type by canonical type, options in a fixed order whatever
/// order they were written in, the body as normalised tokens.
fn parsed_function_definition(
    f: &ast::CreateFunction,
    statement: &Statement,
    script: &str,
    dialect: Dialect,
) -> String {
    let lower = |o: Option<String>| o.map(|s| s.to_ascii_lowercase()).unwrap_or_default();
    let args: Vec<String> = f
        .args
        .iter()
        .flatten()
        .map(|a| {
            format!(
                "{} {} {} {}",
                lower(a.mode.as_ref().map(|m| m.to_string())),
                a.name.as_ref().map(ident).unwrap_or_default(),
                ty(&a.data_type),
                a.default_expr
                    .as_ref()
                    .map(|e| canonical_expr_ast(e.clone()))
                    .unwrap_or_default()
            )
        })
        .collect();
    let returns = match &f.return_type {
        Some(ast::FunctionReturnType::DataType(t)) => ty(t),
        Some(ast::FunctionReturnType::SetOf(t)) => format!("SETOF {}", ty(t)),
        None => String::new(),
    };
    let body = match &f.function_body {
        Some(
            ast::CreateFunctionBody::AsBeforeOptions { body, .. }
            | ast::CreateFunctionBody::AsAfterOptions(body)
            | ast::CreateFunctionBody::Return(body),
        ) => normalised_body(&body.to_string(), dialect),
        // BEGIN ATOMIC ... END: its statements' tokens, as written.
        Some(_) => return function_definition(statement, script, dialect),
        None => String::new(),
    };
    [
        format!("({})", args.join(", ")),
        format!("returns {returns}"),
        format!(
            "language {}",
            lower(f.language.as_ref().map(|l| l.value.clone()))
        ),
        lower(f.behavior.as_ref().map(|b| b.to_string())),
        lower(f.called_on_null.as_ref().map(|b| b.to_string())),
        lower(f.parallel.as_ref().map(|b| b.to_string())),
        lower(f.security.as_ref().map(|b| b.to_string())),
        f.set_params
            .iter()
            .map(|p| p.to_string().to_ascii_lowercase())
            .collect::<Vec<_>>()
            .join(" "),
        format!("as {body}"),
    ]
    .join(" ")
}

/// A function body (a dollar-quoted or quoted string) as normalised tokens.
fn normalised_body(literal: &str, dialect: Dialect) -> String {
    let inner = if let Some(rest) = literal.strip_prefix('$') {
        // `$tag$ ... $tag$`: the tag's length on both sides.
        let open = rest.find('$').map_or(0, |i| i + 2);
        let close = literal.len().saturating_sub(open);
        literal.get(open..close).unwrap_or("").to_string()
    } else if literal.len() >= 2 && literal.starts_with('\'') && literal.ends_with('\'') {
        literal[1..literal.len() - 1].replace("''", "'")
    } else {
        literal.to_string()
    };
    crate::sql::lexer::tokenize(&inner, dialect)
        .iter()
        .filter(|t| !t.is_trivia())
        .map(|t| {
            let text = &inner[t.span.clone()];
            if t.kind == TokenKind::Word {
                text.to_ascii_lowercase()
            } else {
                text.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// A statement read from its tokens alone, with the reason it was not parsed.
pub fn read_tokens_only(statement: &Statement, script: &str, why: &str) -> Read {
    Read {
        op: tokens_op(statement, script),
        parse_error: Some(why.to_string()),
        syntax_error: None,
        cascades: false,
    }
}

/// Reads one statement.
pub fn read(statement: &Statement, script: &str, dialect: Dialect) -> Read {
    let mut r = read_op(statement, script, dialect);
    let mut words = statement.words(script);
    if words.next().is_some_and(|w| w.eq_ignore_ascii_case("DROP"))
        && words
            .last()
            .is_some_and(|w| w.eq_ignore_ascii_case("CASCADE"))
    {
        r.cascades = true;
    }
    r
}

fn read_op(statement: &Statement, script: &str, dialect: Dialect) -> Read {
    let text = statement.text(script);
    let words: Vec<String> = statement
        .words(script)
        .take(4)
        .map(|w| w.to_ascii_uppercase())
        .collect();
    let w = |i: usize| words.get(i).map(String::as_str).unwrap_or("");
    // Forms the parser reads but whose details matter here, or that it rejects.
    if dialect != Dialect::Mysql && dialect != Dialect::Sqlite {
        if w(0) == "CREATE"
            && (w(1) == "INDEX" || w(2) == "INDEX")
            && words.iter().any(|x| x == "CONCURRENTLY")
        {
            // handled by the parser below (CreateIndex.concurrently)
        } else if w(0) == "DROP" && w(1) == "INDEX" && w(2) == "CONCURRENTLY" {
            return Read::certain(drop_index_tokens(statement, script, true));
        } else if w(0) == "REINDEX" && words.iter().any(|x| x == "CONCURRENTLY") {
            return Read::certain(Op::NoTransactionOnly {
                what: "REINDEX CONCURRENTLY".into(),
            });
        } else if (w(0) == "CREATE" || w(0) == "DROP") && w(1) == "DATABASE" {
            return Read::certain(Op::NoTransactionOnly {
                what: format!("{} DATABASE", w(0)),
            });
        } else if w(0) == "VACUUM" {
            return Read::certain(Op::NoTransactionOnly {
                what: "VACUUM".into(),
            });
        } else if w(0) == "ALTER" && w(1) == "SYSTEM" {
            return Read::certain(Op::NoTransactionOnly {
                what: "ALTER SYSTEM".into(),
            });
        }
    }
    if dialect != Dialect::Mysql && dialect != Dialect::Postgres && is_foreign_keys_pragma(&words) {
        return Read::certain(Op::NoTransactionOnly {
                what: "PRAGMA foreign_keys (SQLite ignores it inside a transaction: foreign keys stay on, and dropping a table deletes the child rows of ON DELETE CASCADE)".into(),
            });
    }
    match Parser::parse_sql(sp_dialect(dialect).as_ref(), text) {
        // As PostgreSQL's grammar reading says (`super::pg`).
        Ok(stmts) if stmts.len() == 1 && matches!(stmts[0], Ast::Call(_)) => Read {
            op: tokens_op(statement, script),
            parse_error: Some(
                "the checker cannot see what a called procedure does to the schema".into(),
            ),
            syntax_error: None,
            cascades: false,
        },
        Ok(stmts) if stmts.len() == 1 && dialect == Dialect::Postgres => {
            if let Ast::CreateFunction(f) = &stmts[0] {
                let types = f
                    .args
                    .iter()
                    .flatten()
                    .filter(|a| !matches!(a.mode, Some(ast::ArgMode::Out)))
                    .map(|a| ty(&a.data_type));
                return Read::certain(Op::CreateFunction {
                    key: function_key(&object(&f.name), types),
                    definition: parsed_function_definition(f, statement, script, dialect),
                });
            }
            read_parsed(&stmts[0], statement, script, w(0))
        }
        Ok(stmts) if stmts.len() == 1 => read_parsed(&stmts[0], statement, script, w(0)),
        Ok(_) => Read::certain(tokens_op(statement, script)),
        Err(e) if dialect == Dialect::Postgres => read_postgres(statement, script, e.to_string()),
        Err(e) => Read {
            op: tokens_op(statement, script),
            parse_error: Some(format!("the parser could not read it ({e})")),
            syntax_error: None,
            cascades: false,
        },
    }
}

/// A statement `sqlparser` read, lowered.
fn read_parsed(stmt: &Ast, statement: &Statement, script: &str, first: &str) -> Read {
    let op = lower(stmt);
    // DML targets are read from the tokens: simpler than every AST shape.
    let op = match (&op, first) {
        (Op::Other, "DELETE" | "TRUNCATE" | "INSERT" | "REPLACE") => tokens_op(statement, script),
        _ => op,
    };
    let op = match op {
        Op::Other if matches!(*stmt, Ast::Delete(_)) => tokens_op(statement, script),
        other => other,
    };
    Read::certain(op)
}

/// A PostgreSQL statement `sqlparser` rejected, read with PostgreSQL's
/// grammar ([`super::pg`]): lowered, or certainly a syntax error, or valid
/// but not modelled. `sqlparser`'s message is kept for the last case.
fn read_postgres(statement: &Statement, script: &str, sqlparser_error: String) -> Read {
    let text = statement.text(script);
    match super::pg::read(text) {
        super::pg::Reading::Op(Op::Other) => {
            // What the tokens show (a DROP TABLE, a DELETE) is certain too.
            Read::certain(tokens_op(statement, script))
        }
        super::pg::Reading::Op(Op::CreateFunction { key, .. }) => {
            Read::certain(Op::CreateFunction {
                key,
                definition: function_definition(statement, script, Dialect::Postgres),
            })
        }
        super::pg::Reading::Op(op) => Read::certain(op),
        super::pg::Reading::Unmodelled(why) => Read {
            op: tokens_op(statement, script),
            parse_error: Some(why),
            syntax_error: None,
            cascades: false,
        },
        super::pg::Reading::SyntaxError(message, at) => {
            let before = text.get(..at).unwrap_or(text);
            let line = before.matches('\n').count() as u32 + 1;
            let column = before.rsplit('\n').next().unwrap_or("").chars().count() as u32 + 1;
            Read {
                op: tokens_op(statement, script),
                parse_error: Some(format!("the parser could not read it ({sqlparser_error})")),
                syntax_error: Some((message, line, column)),
                cascades: false,
            }
        }
    }
}

struct Toks<'a> {
    toks: Vec<(TokenKind, &'a str)>,
}

impl Toks<'_> {
    fn is(&self, i: usize, w: &str) -> bool {
        self.toks
            .get(i)
            .is_some_and(|(k, s)| *k == TokenKind::Word && s.eq_ignore_ascii_case(w))
    }
    fn name(&self, mut i: usize) -> Option<(String, usize)> {
        let mut last;
        loop {
            let (k, s) = self.toks.get(i)?;
            if !matches!(k, TokenKind::Word | TokenKind::QuotedIdent) {
                return None;
            }
            last = norm(s);
            i += 1;
            if self
                .toks
                .get(i)
                .is_some_and(|(k, s)| *k == TokenKind::Other && *s == ".")
            {
                i += 1;
                continue;
            }
            return Some((last, i));
        }
    }
    fn names(&self, mut i: usize) -> Vec<String> {
        let mut out = vec![];
        while let Some((n, next)) = self.name(i) {
            out.push(n);
            if self
                .toks
                .get(next)
                .is_some_and(|(k, s)| *k == TokenKind::Other && *s == ",")
            {
                i = next + 1;
            } else {
                break;
            }
        }
        out
    }
}

fn toks<'a>(statement: &Statement, script: &'a str) -> Toks<'a> {
    Toks {
        toks: statement
            .tokens
            .iter()
            .filter(|t| !t.is_trivia())
            .map(|t| (t.kind, &script[t.span.clone()]))
            .collect(),
    }
}

fn drop_index_tokens(statement: &Statement, script: &str, concurrently: bool) -> Op {
    let t = toks(statement, script);
    let mut i = if concurrently { 3 } else { 2 };
    let if_exists = t.is(i, "IF") && t.is(i + 1, "EXISTS");
    if if_exists {
        i += 2;
    }
    Op::DropIndex {
        names: t.names(i),
        concurrently,
        if_exists,
    }
}

/// The token-level reading: recognises the destructive forms whatever the
/// parser thinks, so a DROP inside an unparsable statement is never missed.
fn tokens_op(statement: &Statement, script: &str) -> Op {
    let t = toks(statement, script);
    if t.is(0, "DROP") && t.is(1, "TABLE") {
        let mut i = 2;
        let if_exists = t.is(i, "IF") && t.is(i + 1, "EXISTS");
        if if_exists {
            i += 2;
        }
        return Op::DropTable {
            tables: t.names(i),
            if_exists,
        };
    }
    if t.is(0, "DROP") && t.is(1, "INDEX") {
        return drop_index_tokens(statement, script, t.is(2, "CONCURRENTLY"));
    }
    if t.is(0, "TRUNCATE") {
        let i = if t.is(1, "TABLE") { 2 } else { 1 };
        let i = if t.is(i, "ONLY") { i + 1 } else { i };
        return Op::Truncate { tables: t.names(i) };
    }
    if t.is(0, "DELETE") {
        let i = if t.is(1, "FROM") { 2 } else { 1 };
        if let Some((table, _)) = t.name(i) {
            let filtered = t
                .toks
                .iter()
                .any(|(k, s)| *k == TokenKind::Word && s.eq_ignore_ascii_case("WHERE"));
            return Op::Delete { table, filtered };
        }
    }
    if (t.is(0, "INSERT") || t.is(0, "REPLACE"))
        && t.is(1, "INTO")
        && let Some((table, _)) = t.name(2)
    {
        let from = (0..t.toks.len())
            .find(|&i| t.is(i, "SELECT"))
            .and_then(|select| (select..t.toks.len()).find(|&i| t.is(i, "FROM")))
            .and_then(|i| t.name(i + 1))
            .map(|(name, _)| name);
        return Op::Insert { table, from };
    }
    if t.is(0, "ALTER") && t.is(1, "TABLE") {
        let mut i = 2;
        let if_exists = t.is(i, "IF") && t.is(i + 1, "EXISTS");
        if if_exists {
            i += 2;
        }
        if t.is(i, "ONLY") {
            i += 1;
        }
        if let Some((table, mut j)) = t.name(i) {
            let mut actions = vec![];
            if t.is(j, "DROP") && !t.is(j + 1, "CONSTRAINT") && !t.is(j + 1, "DEFAULT") {
                j += 1;
                if t.is(j, "COLUMN") {
                    j += 1;
                }
                let ie = t.is(j, "IF") && t.is(j + 1, "EXISTS");
                if ie {
                    j += 2;
                }
                if let Some((column, _)) = t.name(j) {
                    actions.push(Action::DropColumn {
                        column,
                        if_exists: ie,
                    });
                }
            } else if t.is(j, "ALTER") {
                j += 1;
                if t.is(j, "COLUMN") {
                    j += 1;
                }
                if let Some((column, k)) = t.name(j) {
                    let k = if t.is(k, "SET") && t.is(k + 1, "DATA") {
                        k + 2
                    } else {
                        k
                    };
                    if t.is(k, "TYPE") {
                        let ty: Vec<&str> = t.toks[k + 1..]
                            .iter()
                            .take_while(|(kind, s)| {
                                !(*kind == TokenKind::Word && s.eq_ignore_ascii_case("USING"))
                            })
                            .map(|(_, s)| *s)
                            .collect();
                        actions.push(Action::SetType {
                            column,
                            ty: canonical_type(&ty.join(" ")),
                        });
                    }
                }
            }
            if actions.is_empty() {
                actions.push(Action::Other);
            }
            return Op::AlterTable {
                table,
                actions,
                if_exists,
            };
        }
    }
    Op::Other
}

/// The values a CHECK constraint allows a column, when it lists them:
/// `status IN ('a', 'b')`, PostgreSQL's `status = ANY (ARRAY['a'::text,
/// 'b'::text])`, `status = 'a' OR status = 'b'`, and such conditions joined
/// by AND. `check` is the condition, with or without the `CHECK` keyword
/// and its parentheses. Each value is a SQL literal; column names are
/// normalised. Anything else allows no list: an empty result.
#[cfg_attr(not(feature = "db"), allow(dead_code))] // used by the drill only
pub fn check_choices(check: &str, dialect: Dialect) -> Vec<(String, Vec<String>)> {
    let text = check.trim();
    let text = text
        .strip_prefix("CHECK")
        .or_else(|| text.strip_prefix("check"))
        .unwrap_or(text);
    let sp = sp_dialect(dialect);
    let Ok(expr) = Parser::new(sp.as_ref())
        .try_with_sql(text)
        .and_then(|mut p| p.parse_expr())
    else {
        return Vec::new();
    };
    let mut out = Vec::new();
    choices_of(&expr, &mut out);
    out
}

/// The CHECK choices of every column of a `CREATE TABLE` (SQLite keeps the
/// statement as written).
#[cfg_attr(not(feature = "db"), allow(dead_code))] // used by the drill only
pub fn create_table_choices(sql: &str, dialect: Dialect) -> Vec<(String, Vec<String>)> {
    let sp = sp_dialect(dialect);
    let Ok(statements) = Parser::parse_sql(sp.as_ref(), sql) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for s in &statements {
        let Ast::CreateTable(t) = s else { continue };
        for c in &t.columns {
            for o in &c.options {
                if let ColumnOption::Check(check) = &o.option {
                    choices_of(&check.expr, &mut out);
                }
            }
        }
        for tc in &t.constraints {
            if let TableConstraint::Check(check) = tc {
                choices_of(&check.expr, &mut out);
            }
        }
    }
    out
}

#[cfg_attr(not(feature = "db"), allow(dead_code))]
fn choices_of(e: &Expr, out: &mut Vec<(String, Vec<String>)>) {
    let column = |e: &Expr| match strip(e) {
        Expr::Identifier(i) => Some(norm(&i.to_string())),
        Expr::CompoundIdentifier(parts) => parts.last().map(|i| norm(&i.to_string())),
        _ => None,
    };
    match strip(e) {
        Expr::BinaryOp {
            left,
            op: ast::BinaryOperator::And,
            right,
        } => {
            choices_of(left, out);
            choices_of(right, out);
        }
        Expr::In {
            expr,
            target: ast::InTarget::List(list),
            negated: false,
            ..
        } => {
            if let (Some(c), Some(values)) = (column(expr), literals(list)) {
                out.push((c, values));
            }
        }
        Expr::AnyOp {
            left,
            compare_op: ast::BinaryOperator::Eq,
            right,
            ..
        } => {
            if let (Some(c), Expr::Array(a)) = (column(left), strip(right))
                && let Some(values) = literals(&a.elem)
            {
                out.push((c, values));
            }
        }
        Expr::BinaryOp {
            op: ast::BinaryOperator::Or,
            ..
        } => {
            // `c = 'a' OR c = 'b' OR ...` on one column.
            let mut values = Vec::new();
            let mut col = None;
            let mut stack = vec![strip(e)];
            while let Some(x) = stack.pop() {
                match x {
                    Expr::BinaryOp {
                        left,
                        op: ast::BinaryOperator::Or,
                        right,
                    } => {
                        stack.push(strip(right));
                        stack.push(strip(left));
                    }
                    Expr::BinaryOp {
                        left,
                        op: ast::BinaryOperator::Eq,
                        right,
                    } => match (column(left), literals(std::slice::from_ref(right.as_ref()))) {
                        (Some(c), Some(v)) if col.as_ref().is_none_or(|k| k == &c) => {
                            col = Some(c);
                            values.extend(v);
                        }
                        _ => return,
                    },
                    _ => return,
                }
            }
            if let Some(c) = col {
                out.push((c, values));
            }
        }
        _ => {}
    }
}

/// Parentheses and casts around an expression, taken off.
#[cfg_attr(not(feature = "db"), allow(dead_code))]
fn strip(e: &Expr) -> &Expr {
    match e {
        Expr::Nested(inner) => strip(inner),
        Expr::Cast { expr, .. } => strip(expr),
        other => other,
    }
}

/// Literals (strings and numbers, casts taken off), as SQL; `None` if any
/// item is not one.
fn literals(items: &[Expr]) -> Option<Vec<String>> {
    items
        .iter()
        .map(|i| match strip(i) {
            Expr::Value(v) => match &v.value {
                ast::Value::SingleQuotedString(s) => Some(format!("'{}'", s.replace('\'', "''"))),
                ast::Value::Number(n, _) => Some(n.to_string()),
                _ => None,
            },
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn check_choices_read_lists_in_each_spelling() {
        use super::{check_choices, create_table_choices};
        let pg = "CHECK ((status = ANY (ARRAY['calm'::text, 'it''s busy'::text])))";
        assert_eq!(
            check_choices(pg, Dialect::Postgres),
            [(
                "status".to_string(),
                vec!["'calm'".to_string(), "'it''s busy'".to_string()]
            )]
        );
        assert_eq!(
            check_choices("`Kind` in ('a','b') AND n IN (1, 2)", Dialect::Mysql),
            [
                (
                    "Kind".to_string(),
                    vec!["'a'".to_string(), "'b'".to_string()]
                ),
                ("n".to_string(), vec!["1".to_string(), "2".to_string()])
            ]
        );
        assert_eq!(
            check_choices(
                "CHECK (((k = 'x'::text) OR (k = 'y'::text)))",
                Dialect::Postgres
            ),
            [("k".to_string(), vec!["'x'".to_string(), "'y'".to_string()])]
        );
        assert!(check_choices("CHECK ((n > 0))", Dialect::Postgres).is_empty());
        assert!(check_choices("CHECK ((a = 'x') OR (b = 'y'))", Dialect::Postgres).is_empty());
        assert_eq!(
            create_table_choices(
                "CREATE TABLE t (id INTEGER PRIMARY KEY, s TEXT NOT NULL CHECK (s IN ('on', 'off')))",
                Dialect::Sqlite
            ),
            [(
                "s".to_string(),
                vec!["'on'".to_string(), "'off'".to_string()]
            )]
        );
    }

    use super::*;
    use crate::sql::split;

    fn one(sql: &str, d: Dialect) -> Read {
        let s = split(sql, d);
        read(&s[0], sql, d)
    }

    #[test]
    fn ddl_is_lowered() {
        let r = one(
            "ALTER TABLE Users ADD COLUMN \"Nick\" varchar(20) NOT NULL DEFAULT ''",
            Dialect::Postgres,
        );
        let Op::AlterTable { table, actions, .. } = r.op else {
            panic!()
        };
        assert_eq!(table, "users");
        let Action::AddColumn(c) = &actions[0] else {
            panic!()
        };
        assert_eq!(
            (c.name.as_str(), c.ty.as_str(), c.not_null),
            ("Nick", "VARCHAR(20)", true)
        );
        assert!(
            matches!(one("DROP TABLE a, b", Dialect::Postgres).op, Op::DropTable { tables, .. } if tables == ["a", "b"])
        );
        assert!(matches!(
            one("CREATE INDEX CONCURRENTLY i ON t (x)", Dialect::Postgres).op,
            Op::CreateIndex {
                concurrently: true,
                ..
            }
        ));
        assert!(
            matches!(one("UPDATE t SET a = 1, b = 2", Dialect::Postgres).op, Op::Update { columns, .. } if columns == ["a", "b"])
        );
    }

    #[test]
    fn unparsable_statements_still_show_their_drops() {
        let r = one(
            "DROP TABLE IF EXISTS a PURGE WITH EXTRA GARBAGE (",
            Dialect::Postgres,
        );
        assert!(r.parse_error.is_some());
        assert!(matches!(
            r.op,
            Op::DropTable {
                if_exists: true,
                ..
            }
        ));
        let r = one("DROP INDEX CONCURRENTLY IF EXISTS i", Dialect::Postgres);
        assert!(matches!(
            r.op,
            Op::DropIndex {
                concurrently: true,
                if_exists: true,
                ..
            }
        ));
        let r = one("DELETE FROM t WHERE x = 1 FOO BAR", Dialect::Postgres);
        assert!(matches!(r.op, Op::Delete { filtered: true, .. }));
    }
}
