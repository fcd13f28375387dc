//! The schema model the checker replays migrations over.
//!
//! Invariants: pure; column order is kept (`Column::position`) only for
//! what a view's `*` stands for, and is never a difference between tables
//! (a re-added column lands at the end of its table and no down can put it
//! back); names are normalised (unquoted names lower-cased).

use std::collections::{BTreeMap, BTreeSet};

use super::ir::{Action, ColumnSpec, ConstraintSpec, Op, canonical_type};

/// A column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Column {
    /// Type, upper-cased.
    pub ty: String,
    /// NOT NULL.
    pub not_null: bool,
    /// Default, as written.
    pub default: Option<String>,
    /// Where it stands in its table (only the order matters: it is what a
    /// view's `*` expands to). Not compared between schemas.
    pub position: u32,
}

/// A table.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Table {
    /// Columns by name.
    pub columns: BTreeMap<String, Column>,
    /// Primary key columns.
    pub primary_key: Vec<String>,
    /// Unique keys.
    pub uniques: BTreeSet<Vec<String>>,
    /// Constraints, by name: the given one, or the one PostgreSQL gives an
    /// unnamed constraint (`t_pkey`, `t_a_key`, `t_a_fkey`).
    pub constraints: BTreeMap<String, ConstraintSpec>,
    /// Its columns are not known (CREATE TABLE ... AS SELECT).
    pub opaque: bool,
    /// Named NOT NULL constraints (PostgreSQL 18), name to column: not
    /// compared (NOT NULL is compared on the column), only looked up.
    pub not_null_names: BTreeMap<String, String>,
}

impl Table {
    /// Whether rows can be matched on a key: a primary key, or a unique key
    /// whose columns are all NOT NULL.
    pub fn has_key(&self) -> bool {
        !self.primary_key.is_empty()
            || self.uniques.iter().any(|u| {
                u.iter()
                    .all(|c| self.columns.get(c).is_some_and(|c| c.not_null))
            })
            || self.opaque
    }
}

/// An index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Index {
    /// Its table.
    pub table: String,
    /// Columns or expressions.
    pub columns: Vec<String>,
    /// UNIQUE.
    pub unique: bool,
    /// A partial index's WHERE.
    pub predicate: Option<String>,
}

impl Index {
    /// Whether dropping `column` drops this index: it is one of its columns,
    /// or its expressions or WHERE name it (PostgreSQL drops the index).
    fn uses(&self, column: &str) -> bool {
        self.columns
            .iter()
            .chain(&self.predicate)
            .any(|c| c == column || super::ir::expr_names(c, column))
    }
}

/// A view's definition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct View {
    /// Column names and query ([`super::ir::canonical_query`]).
    pub query: String,
    /// What each `*` stood for when the view was created: a table and its
    /// columns in order, `None` where they were not known.
    pub stars: Vec<Option<(String, Vec<String>)>>,
}

impl View {
    /// Whether `other` is certainly another view: another query, or a `*`
    /// that stands for other columns (both known).
    fn differs(&self, other: &View) -> Option<String> {
        if self.query != other.query {
            return Some(first_difference(&self.query, &other.query));
        }
        self.stars
            .iter()
            .zip(&other.stars)
            .find_map(|(a, b)| match (a, b) {
                (Some((table, a)), Some((_, b))) if a != b => {
                    let i = a.iter().zip(b).take_while(|(x, y)| x == y).count();
                    let at = |v: &[String]| v.get(i).map_or("nothing", String::as_str).to_string();
                    Some(format!(
                        "its `*` over {table} stood for {} columns and now for {}; column {} was {} and is now {}",
                        a.len(),
                        b.len(),
                        i + 1,
                        at(a),
                        at(b)
                    ))
                }
                _ => None,
            })
    }
}

/// The whole schema.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Schema {
    /// Tables by name.
    pub tables: BTreeMap<String, Table>,
    /// Indexes by name.
    pub indexes: BTreeMap<String, Index>,
    /// Views and materialized views: name to definition (`None` when it
    /// could not be read).
    pub views: BTreeMap<String, Option<View>>,
    /// Functions and procedures: key (`f(integer)`) to normalised definition.
    pub functions: BTreeMap<String, String>,
    /// Unnamed constraints are named as MySQL and SQLite do (a primary key
    /// is `PRIMARY`, whatever the table is called), not as PostgreSQL does
    /// (`<table>_pkey`, kept through a rename).
    pub unnamed_primary: bool,
}

/// Something a statement refers to that is not there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Missing {
    /// A table.
    Table(String),
    /// A column of a table.
    Column(String, String),
    /// An index.
    Index(String),
    /// A view.
    View(String),
    /// A constraint of a table.
    Constraint(String, String),
    /// Not missing, but in the way: a table dropped while another still
    /// references it (table, referencing table, its constraint).
    ReferencedBy(String, String, String),
}

impl std::fmt::Display for Missing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Missing::Table(t) => write!(f, "table {t}"),
            Missing::Column(t, c) => write!(f, "column {t}.{c}"),
            Missing::Index(i) => write!(f, "index {i}"),
            Missing::View(v) => write!(f, "view {v}"),
            Missing::Constraint(t, c) => write!(f, "constraint {c} on {t}"),
            Missing::ReferencedBy(t, by, c) => {
                write!(f, "table {t}, which {by} still references ({c})")
            }
        }
    }
}

/// Adds a column at the end of its table.
fn add_column(t: &mut Table, c: &ColumnSpec) {
    let position = t
        .columns
        .values()
        .map(|c| c.position + 1)
        .max()
        .unwrap_or(0);
    t.columns.insert(
        c.name.clone(),
        Column {
            ty: c.ty.clone(),
            not_null: c.not_null,
            default: c.default.clone(),
            position,
        },
    );
}

/// Whether the index expression `expr` is `column` cast to `ty`, the type
/// the column has (`date(day)` over a date): PostgreSQL stores it as the
/// column itself.
fn is_cast_to_own_type(expr: &str, column: &str, ty: &str) -> bool {
    expr.strip_suffix(')')
        .and_then(|e| e.strip_prefix(ty.to_ascii_lowercase().as_str()))
        .is_some_and(|rest| rest.strip_prefix('(') == Some(column))
}

/// A constraint's name: the given one, or PostgreSQL's implicit one
/// (`<table>_pkey`, `<table>_<cols>_key`, `<table>_<cols>_fkey`,
/// `<table>_check`), which is what a later `DROP CONSTRAINT` names.
fn constraint_key(
    table: &str,
    name: &Option<String>,
    spec: &ConstraintSpec,
    unnamed_primary: bool,
) -> String {
    if let Some(n) = name {
        return n.clone();
    }
    if unnamed_primary {
        // MySQL and SQLite: the definition is the identity (stable through
        // a table rebuild's rename).
        return match spec {
            ConstraintSpec::PrimaryKey(_) => "PRIMARY".to_string(),
            other => other.to_string(),
        };
    }
    match spec {
        ConstraintSpec::PrimaryKey(_) => format!("{table}_pkey"),
        ConstraintSpec::Unique(cols) => format!("{table}_{}_key", cols.join("_")),
        ConstraintSpec::ForeignKey(cols, _) => format!("{table}_{}_fkey", cols.join("_")),
        ConstraintSpec::Check(_) => format!("{table}_check"),
        ConstraintSpec::NotNull(col) => format!("{table}_{col}_not_null"),
    }
}

/// The columns a constraint is made of (none for a CHECK, read as text).
fn constraint_columns(spec: &ConstraintSpec) -> &[String] {
    match spec {
        ConstraintSpec::PrimaryKey(c)
        | ConstraintSpec::Unique(c)
        | ConstraintSpec::ForeignKey(c, _) => c,
        ConstraintSpec::Check(_) => &[],
        ConstraintSpec::NotNull(c) => std::slice::from_ref(c),
    }
}

impl Schema {
    /// The foreign keys of other tables that reference one of `tables`
    /// (and are not among them): what makes a `DROP TABLE` without CASCADE
    /// fail on PostgreSQL (and on MySQL unless FOREIGN_KEY_CHECKS is off).
    pub fn references_to(&self, tables: &[String]) -> Vec<Missing> {
        let mut out = Vec::new();
        for (name, t) in &self.tables {
            if tables.contains(name) {
                continue;
            }
            for (c, spec) in &t.constraints {
                if let ConstraintSpec::ForeignKey(_, to) = spec
                    && tables.contains(to)
                {
                    out.push(Missing::ReferencedBy(to.clone(), name.clone(), c.clone()));
                }
            }
        }
        out
    }

    /// What follows a table from its old name to `to`: its indexes, and the
    /// foreign keys of other tables (PostgreSQL and MySQL keep them on the
    /// table, whatever it is called).
    fn follow_rename(&mut self, from: &str, to: &str) {
        for i in self.indexes.values_mut().filter(|i| i.table == from) {
            i.table = to.to_string();
        }
        for t in self.tables.values_mut() {
            for spec in t.constraints.values_mut() {
                if let ConstraintSpec::ForeignKey(_, target) = spec
                    && target == from
                {
                    *target = to.to_string();
                }
            }
        }
    }

    /// Applies one statement; returns what it referred to that does not exist.
    pub fn apply(&mut self, op: &Op) -> Vec<Missing> {
        let mut missing = Vec::new();
        match op {
            Op::CreateTable {
                table,
                columns,
                constraints,
                as_select,
                ..
            } => {
                let mut t = Table {
                    opaque: *as_select,
                    ..Table::default()
                };
                for c in columns {
                    add_column(&mut t, c);
                    inline_constraints(&mut t, table, c, self.unnamed_primary);
                }
                for (name, spec) in constraints {
                    add_constraint(&mut t, table, name, spec, self.unnamed_primary);
                }
                self.tables.entry(table.clone()).or_insert(t);
            }
            Op::DropTable { tables, if_exists } => {
                for t in tables {
                    if self.tables.remove(t).is_none() && !if_exists {
                        missing.push(Missing::Table(t.clone()));
                    }
                    self.indexes.retain(|_, i| &i.table != t);
                }
            }
            Op::RenameTable { from, to } => match self.tables.remove(from) {
                Some(t) => {
                    self.tables.insert(to.clone(), t);
                    self.follow_rename(from, to);
                }
                None => missing.push(Missing::Table(from.clone())),
            },
            Op::AlterTable {
                table,
                actions,
                if_exists,
            } => {
                let Some(mut t) = self.tables.remove(table) else {
                    if !if_exists {
                        missing.push(Missing::Table(table.clone()));
                    }
                    return missing;
                };
                let mut name = table.clone();
                for a in actions {
                    self.alter(&mut t, &mut name, a, &mut missing);
                }
                let renamed = (&name != table).then(|| name.clone());
                self.tables.insert(name, t);
                if let Some(to) = renamed {
                    self.follow_rename(table, &to);
                }
            }
            Op::CreateIndex {
                name,
                table,
                columns,
                unique,
                predicate,
                if_not_exists,
                ..
            } => {
                let key = name
                    .clone()
                    .unwrap_or_else(|| implicit_index_name(table, columns));
                // A materialized view takes indexes too.
                if !self.tables.contains_key(table) && !self.views.contains_key(table) {
                    missing.push(Missing::Table(table.clone()));
                }
                if !(self.indexes.contains_key(&key) && *if_not_exists) {
                    // `date(day)` over a column that is a date is stored as
                    // `day` (the cast to its own type is nothing).
                    let columns = columns
                        .iter()
                        .map(|c| {
                            let own_type = self.tables.get(table).and_then(|t| {
                                t.columns
                                    .iter()
                                    .find(|(n, col)| is_cast_to_own_type(c, n, &col.ty))
                            });
                            own_type.map_or_else(|| c.clone(), |(n, _)| n.clone())
                        })
                        .collect();
                    self.indexes.insert(
                        key,
                        Index {
                            table: table.clone(),
                            columns,
                            unique: *unique,
                            predicate: predicate.clone(),
                        },
                    );
                }
            }
            Op::DropIndex {
                names, if_exists, ..
            } => {
                for n in names {
                    if self.indexes.remove(n).is_none() && !if_exists {
                        missing.push(Missing::Index(n.clone()));
                    }
                }
            }
            Op::RenameIndex {
                from,
                to,
                if_exists,
            } => {
                if let Some(i) = self.indexes.remove(from) {
                    self.indexes.insert(to.clone(), i);
                } else if let Some(t) = self.tables.values_mut().find(|t| {
                    matches!(
                        t.constraints.get(from),
                        Some(ConstraintSpec::Unique(_) | ConstraintSpec::PrimaryKey(_))
                    )
                }) {
                    // The index backs a constraint: PostgreSQL renames both.
                    if let Some(spec) = t.constraints.remove(from) {
                        t.constraints.insert(to.clone(), spec);
                    }
                } else if !if_exists {
                    missing.push(Missing::Index(from.clone()));
                }
            }
            Op::RenameType { from, to } => {
                let (from, to) = (canonical_type(from), canonical_type(to));
                for c in self
                    .tables
                    .values_mut()
                    .flat_map(|t| t.columns.values_mut())
                {
                    if c.ty == from {
                        c.ty = to.clone();
                    } else if c.ty.strip_suffix("[]") == Some(from.as_str()) {
                        c.ty = format!("{to}[]");
                    }
                }
            }
            Op::RenameEnumValue { ty, from, to } => {
                let ty = canonical_type(ty);
                for c in self
                    .tables
                    .values_mut()
                    .flat_map(|t| t.columns.values_mut())
                {
                    if c.ty == ty && c.default.as_ref() == Some(from) {
                        c.default = Some(to.clone());
                    }
                }
            }
            Op::CreateFunction { key, definition } => {
                self.functions.insert(key.clone(), definition.clone());
            }
            Op::DropFunction { keys } => {
                // Not found is not certain to fail: extensions and setup
                // scripts create functions the migrations never show.
                for k in keys {
                    if k.contains('(') {
                        self.functions.remove(k);
                    } else {
                        let prefix = format!("{k}(");
                        self.functions.retain(|f, _| !f.starts_with(&prefix));
                    }
                }
            }
            Op::CreateView {
                name,
                definition,
                wildcards,
            } => {
                let view = definition.as_ref().map(|query| View {
                    query: query.clone(),
                    stars: wildcards
                        .iter()
                        .map(|w| self.expand(w.as_deref()))
                        .collect(),
                });
                self.views.insert(name.clone(), view);
            }
            Op::DropView { names, if_exists } => {
                for n in names {
                    if self.views.remove(n).is_none() && !if_exists {
                        missing.push(Missing::View(n.clone()));
                    }
                    // A materialized view's indexes go with it.
                    self.indexes.retain(|_, i| &i.table != n);
                }
            }
            Op::Delete { table, .. } | Op::Insert { table, .. } => {
                if !self.tables.contains_key(table) {
                    missing.push(Missing::Table(table.clone()));
                }
            }
            Op::Update { table, columns } => match self.tables.get(table) {
                None => missing.push(Missing::Table(table.clone())),
                Some(t) if !t.opaque => {
                    for c in columns {
                        if !t.columns.contains_key(c) {
                            missing.push(Missing::Column(table.clone(), c.clone()));
                        }
                    }
                }
                Some(_) => {}
            },
            Op::Truncate { tables } => {
                for t in tables {
                    if !self.tables.contains_key(t) {
                        missing.push(Missing::Table(t.clone()));
                    }
                }
            }
            Op::NoTransactionOnly { .. } | Op::DropSchema { .. } | Op::Other => {}
        }
        missing
    }
}

/// Where two normalised definitions part, as "`…before…` became `…after…`"
/// around the first differing token.
fn first_difference(before: &str, after: &str) -> String {
    let b: Vec<&str> = before.split(' ').collect();
    let a: Vec<&str> = after.split(' ').collect();
    let i = b.iter().zip(&a).take_while(|(x, y)| x == y).count();
    let around = |v: &[&str]| {
        let from = i.saturating_sub(3);
        let to = (i + 5).min(v.len());
        v[from..to].join(" ")
    };
    format!("`{}` became `{}`", around(&b), around(&a))
}

/// Whether two constraints of one name are the same: CHECKs by meaning
/// ([`super::ir::canonical_expr`]), keys by their columns in order.
fn same_constraint(a: &ConstraintSpec, b: &ConstraintSpec) -> bool {
    match (a, b) {
        (ConstraintSpec::Check(x), ConstraintSpec::Check(y)) => {
            x == y || super::ir::canonical_expr(x) == super::ir::canonical_expr(y)
        }
        _ => a == b,
    }
}

/// The column of the NOT NULL constraint `name`: a named one, or the one
/// PostgreSQL 18 gives a NOT NULL column (`<table>_<column>_not_null`).
fn not_null_constraint(t: &Table, table: &str, name: &str) -> Option<String> {
    if let Some(col) = t.not_null_names.get(name) {
        return Some(col.clone());
    }
    let col = name
        .strip_prefix(table)?
        .strip_prefix('_')?
        .strip_suffix("_not_null")?;
    t.columns
        .get(col)
        .is_some_and(|c| c.not_null)
        .then(|| col.to_string())
}

/// The name PostgreSQL gives an index created without one:
/// `<table>_<columns>_idx` (the columns' names; for an expression, the
/// function's name when it is a call, `expr` otherwise).
pub fn implicit_index_name(table: &str, columns: &[String]) -> String {
    let word = |w: &str| !w.is_empty() && w.chars().all(|ch| ch.is_alphanumeric() || ch == '_');
    let parts: Vec<&str> = columns
        .iter()
        .map(|c| {
            if word(c) {
                c.as_str()
            } else {
                match c.split_once('(') {
                    Some((f, _)) if word(f) => f,
                    _ => "expr",
                }
            }
        })
        .collect();
    format!("{table}_{}_idx", parts.join("_"))
}

/// PRIMARY KEY and UNIQUE written on a column: constraints with implicit
/// names, as PostgreSQL makes them.
fn inline_constraints(t: &mut Table, table: &str, c: &ColumnSpec, unnamed_primary: bool) {
    if c.primary_key {
        add_constraint(
            t,
            table,
            &None,
            &ConstraintSpec::PrimaryKey(vec![c.name.clone()]),
            unnamed_primary,
        );
    }
    if c.unique {
        add_constraint(
            t,
            table,
            &None,
            &ConstraintSpec::Unique(vec![c.name.clone()]),
            unnamed_primary,
        );
    }
    if let Some((name, to)) = &c.references {
        add_constraint(
            t,
            table,
            name,
            &ConstraintSpec::ForeignKey(vec![c.name.clone()], to.clone()),
            unnamed_primary,
        );
    }
}

fn add_constraint(
    t: &mut Table,
    table: &str,
    name: &Option<String>,
    spec: &ConstraintSpec,
    unnamed_primary: bool,
) {
    match spec {
        ConstraintSpec::PrimaryKey(cols) => {
            t.primary_key = cols.clone();
            for c in cols {
                if let Some(c) = t.columns.get_mut(c) {
                    c.not_null = true;
                }
            }
        }
        ConstraintSpec::Unique(cols) => {
            t.uniques.insert(cols.clone());
        }
        ConstraintSpec::NotNull(col) => {
            if let Some(c) = t.columns.get_mut(col) {
                c.not_null = true;
            }
            t.not_null_names.insert(
                constraint_key(table, name, spec, unnamed_primary),
                col.clone(),
            );
            return;
        }
        _ => {}
    }
    t.constraints.insert(
        constraint_key(table, name, spec, unnamed_primary),
        spec.clone(),
    );
}

impl Schema {
    fn alter(&mut self, t: &mut Table, name: &mut String, a: &Action, missing: &mut Vec<Missing>) {
        let table = name.clone();
        let need = |t: &Table, c: &str, missing: &mut Vec<Missing>| {
            let ok = t.opaque || t.columns.contains_key(c);
            if !ok {
                missing.push(Missing::Column(table.clone(), c.to_string()));
            }
            ok
        };
        match a {
            Action::AddColumn(c) => {
                add_column(t, c);
                inline_constraints(t, &table, c, self.unnamed_primary);
            }
            Action::DropColumn { column, if_exists } => {
                if t.columns.remove(column).is_none() && !if_exists && !t.opaque {
                    missing.push(Missing::Column(name.clone(), column.clone()));
                }
                // The column's constraints and indexes go with it
                // (PostgreSQL, MySQL).
                t.uniques.retain(|u| !u.contains(column));
                if t.primary_key.contains(column) {
                    t.primary_key.clear();
                }
                t.constraints
                    .retain(|_, spec| !constraint_columns(spec).contains(column));
                t.not_null_names.retain(|_, c| c != column);
                self.indexes
                    .retain(|_, i| !(i.table == table && i.uses(column)));
            }
            Action::RenameColumn { from, to } => {
                if need(t, from, missing)
                    && let Some(c) = t.columns.remove(from)
                {
                    t.columns.insert(to.clone(), c);
                }
                // Keys, constraints and indexes follow the column.
                let rename = |cols: &mut Vec<String>| {
                    for c in cols.iter_mut().filter(|c| *c == from) {
                        *c = to.clone();
                    }
                };
                rename(&mut t.primary_key);
                for c in t.not_null_names.values_mut().filter(|c| *c == from) {
                    *c = to.clone();
                }
                t.uniques = std::mem::take(&mut t.uniques)
                    .into_iter()
                    .map(|mut u| {
                        rename(&mut u);
                        u
                    })
                    .collect();
                for spec in t.constraints.values_mut() {
                    match spec {
                        ConstraintSpec::PrimaryKey(c)
                        | ConstraintSpec::Unique(c)
                        | ConstraintSpec::ForeignKey(c, _) => rename(c),
                        ConstraintSpec::NotNull(c) => {
                            if c == from {
                                *c = to.clone();
                            }
                        }
                        ConstraintSpec::Check(expr) => {
                            if super::ir::expr_names(expr, from) {
                                *expr = super::ir::rename_in_expr(expr, from, to);
                            }
                        }
                    }
                }
                for i in self.indexes.values_mut().filter(|i| i.table == table) {
                    for c in i.columns.iter_mut().chain(i.predicate.iter_mut()) {
                        *c = if c == from {
                            to.clone()
                        } else if c.contains(from.as_str()) {
                            super::ir::rename_in_expr(c, from, to)
                        } else {
                            continue;
                        };
                    }
                }
            }
            Action::SetType { column, ty } => {
                if need(t, column, missing)
                    && let Some(c) = t.columns.get_mut(column)
                {
                    c.ty = ty.clone();
                }
                // An index on `date(col)` over a column that becomes a
                // `date`: PostgreSQL rebuilds it from its definition, where
                // the cast to the column's own type is now nothing, and
                // keeps it as an index on the column (as CREATE INDEX does).
                for i in self.indexes.values_mut().filter(|i| i.table == table) {
                    for c in i
                        .columns
                        .iter_mut()
                        .filter(|c| is_cast_to_own_type(c, column, ty))
                    {
                        *c = column.clone();
                    }
                }
            }
            Action::SetNotNull(c) | Action::DropNotNull(c) => {
                if need(t, c, missing)
                    && let Some(col) = t.columns.get_mut(c)
                {
                    col.not_null = matches!(a, Action::SetNotNull(_));
                }
            }
            Action::SetDefault(c, d) => {
                if need(t, c, missing)
                    && let Some(col) = t.columns.get_mut(c)
                {
                    col.default = Some(d.clone());
                }
            }
            Action::DropDefault(c) => {
                if need(t, c, missing)
                    && let Some(col) = t.columns.get_mut(c)
                {
                    col.default = None;
                }
            }
            Action::AddConstraint { name: c, spec, .. } => {
                add_constraint(t, &table, c, spec, self.unnamed_primary)
            }
            Action::DropConstraint { name: c, if_exists } => {
                if t.constraints.remove(c).is_some() {
                } else if let Some(col) = not_null_constraint(t, &table, c) {
                    t.not_null_names.remove(c);
                    if let Some(col) = t.columns.get_mut(&col) {
                        col.not_null = false;
                    }
                } else if !if_exists && !t.opaque && !c.contains("_not_null") {
                    // (A `*_not_null` name may be PostgreSQL 18's own for a
                    // NOT NULL written on a column: not certain it is missing.)
                    missing.push(Missing::Constraint(name.clone(), c.clone()));
                }
            }
            Action::RenameTo(to) => *name = to.clone(),
            Action::RenameConstraint { from, to } => {
                if let Some(spec) = t.constraints.remove(from) {
                    t.constraints.insert(to.clone(), spec);
                } else if let Some(col) = not_null_constraint(t, &table, from) {
                    t.not_null_names.remove(from);
                    t.not_null_names.insert(to.clone(), col);
                } else if !t.opaque && !from.contains("_not_null") {
                    missing.push(Missing::Constraint(name.clone(), from.clone()));
                }
            }
            Action::ValidateConstraint(_) | Action::NoSchemaEffect | Action::Other => {}
        }
    }

    /// What a view's `*` over `table` stands for now: its columns, in
    /// order (`None` when the table or its columns are not known).
    fn expand(&self, table: Option<&str>) -> Option<(String, Vec<String>)> {
        let t = self.tables.get(table?).filter(|t| !t.opaque)?;
        let mut cols: Vec<(u32, &String)> =
            t.columns.iter().map(|(n, c)| (c.position, n)).collect();
        cols.sort_unstable();
        Some((
            table?.to_string(),
            cols.into_iter().map(|(_, n)| n.clone()).collect(),
        ))
    }

    /// Every difference between `self` (before) and `after`, in words.
    pub fn diff(&self, after: &Schema) -> Vec<String> {
        let mut out = Vec::new();
        for (key, def) in &self.functions {
            match after.functions.get(key) {
                None => out.push(format!("function {key} is gone")),
                Some(a) if a != def => out.push(format!(
                    "function {key} is not as it was: {}",
                    first_difference(def, a)
                )),
                Some(_) => {}
            }
        }
        for key in after
            .functions
            .keys()
            .filter(|k| !self.functions.contains_key(*k))
        {
            out.push(format!("function {key} is left over"));
        }
        for (name, t) in &self.tables {
            match after.tables.get(name) {
                None => out.push(format!("table {name} is gone")),
                // Columns unknown on one side (CREATE TABLE ... AS SELECT):
                // nothing about them is certain.
                Some(a) if a.opaque || t.opaque => {}
                Some(a) => {
                    for (c, col) in &t.columns {
                        match a.columns.get(c) {
                            None => out.push(format!("column {name}.{c} is gone")),
                            Some(ac) => {
                                if ac.ty != col.ty {
                                    out.push(format!(
                                        "column {name}.{c} was {} and is now {}",
                                        col.ty, ac.ty
                                    ));
                                }
                                if ac.not_null != col.not_null {
                                    out.push(format!(
                                        "column {name}.{c} was {} and is now {}",
                                        if col.not_null { "NOT NULL" } else { "nullable" },
                                        if ac.not_null { "NOT NULL" } else { "nullable" }
                                    ));
                                }
                                if ac.default != col.default {
                                    out.push(format!(
                                        "column {name}.{c} had default {} and now has {}",
                                        col.default.as_deref().unwrap_or("none"),
                                        ac.default.as_deref().unwrap_or("none")
                                    ));
                                }
                            }
                        }
                    }
                    for c in a.columns.keys().filter(|c| !t.columns.contains_key(*c)) {
                        out.push(format!("column {name}.{c} is left over"));
                    }
                    if a.primary_key != t.primary_key {
                        out.push(format!(
                            "the primary key of {name} was ({}) and is now ({})",
                            t.primary_key.join(", "),
                            a.primary_key.join(", ")
                        ));
                    }
                    for k in t
                        .constraints
                        .keys()
                        .filter(|k| !a.constraints.contains_key(*k))
                    {
                        out.push(format!("constraint {k} on {name} is gone"));
                    }
                    for k in a
                        .constraints
                        .keys()
                        .filter(|k| !t.constraints.contains_key(*k))
                    {
                        out.push(format!("constraint {k} on {name} is left over"));
                    }
                    for (k, spec) in &t.constraints {
                        if let Some(now) = a.constraints.get(k)
                            && !same_constraint(spec, now)
                        {
                            out.push(format!(
                                "constraint {k} on {name} was {spec} and is now {now}"
                            ));
                        }
                    }
                }
            }
        }
        for name in after
            .tables
            .keys()
            .filter(|n| !self.tables.contains_key(*n))
        {
            out.push(format!("table {name} is left over"));
        }
        for (name, i) in &self.indexes {
            match after.indexes.get(name) {
                None => out.push(format!("index {name} is gone")),
                Some(a) if a != i => out.push(format!("index {name} changed")),
                Some(_) => {}
            }
        }
        for name in after
            .indexes
            .keys()
            .filter(|n| !self.indexes.contains_key(*n))
        {
            out.push(format!("index {name} is left over"));
        }
        for (v, def) in &self.views {
            match after.views.get(v) {
                None => out.push(format!("view {v} is gone")),
                Some(Some(a)) => {
                    if let Some(how) = def.as_ref().and_then(|d| d.differs(a)) {
                        out.push(format!("view {v} is not as it was: {how}"));
                    }
                }
                Some(None) => {}
            }
        }
        for v in after.views.keys().filter(|v| !self.views.contains_key(*v)) {
            out.push(format!("view {v} is left over"));
        }
        out
    }
}

/// How a type change affects the values: `None` when the types are the
/// same, `Some(true)` when every old value fits the new type (widening),
/// `Some(false)` when values may be lost or changed (narrowing or unknown).
pub fn widening(from: &str, to: &str) -> Option<bool> {
    let norm = |t: &str| t.replace(' ', "").to_ascii_uppercase();
    let (from, to) = (norm(from), norm(to));
    if from == to {
        return None;
    }
    let int_rank = |t: &str| match t {
        "SMALLINT" | "INT2" | "TINYINT" => Some(1),
        "INT" | "INTEGER" | "INT4" | "MEDIUMINT" => Some(2),
        "BIGINT" | "INT8" => Some(3),
        _ => None,
    };
    if let (Some(a), Some(b)) = (int_rank(&from), int_rank(&to)) {
        return Some(b >= a);
    }
    let text_len = |t: &str| -> Option<Option<u64>> {
        if t == "TEXT" || t == "CHARACTERVARYING" || t == "VARCHAR" || t == "LONGTEXT" {
            return Some(None);
        }
        for p in ["VARCHAR(", "CHARACTERVARYING(", "NVARCHAR("] {
            if let Some(n) = t.strip_prefix(p).and_then(|r| r.strip_suffix(')')) {
                return n.parse().ok().map(Some);
            }
        }
        None
    };
    if let (Some(a), Some(b)) = (text_len(&from), text_len(&to)) {
        return Some(match (a, b) {
            (_, None) => true,
            (None, Some(_)) => false,
            (Some(a), Some(b)) => b >= a,
        });
    }
    let numeric = |t: &str| -> Option<(u32, u32)> {
        let inner = t
            .strip_prefix("NUMERIC(")
            .or_else(|| t.strip_prefix("DECIMAL("))?
            .strip_suffix(')')?;
        let mut parts = inner.split(',');
        let p = parts.next()?.parse().ok()?;
        let s = parts.next().map_or(Some(0), |s| s.parse().ok())?;
        Some((p, s))
    };
    if let (Some((p1, s1)), Some((p2, s2))) = (numeric(&from), numeric(&to)) {
        return Some(s2 >= s1 && p2 - s2.min(p2) >= p1 - s1.min(p1));
    }
    if int_rank(&from).is_some() && (to == "NUMERIC" || to == "DECIMAL" || to == "TEXT") {
        return Some(true);
    }
    Some(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn type_changes() {
        assert_eq!(widening("VARCHAR(10)", "VARCHAR(20)"), Some(true));
        assert_eq!(widening("VARCHAR(20)", "VARCHAR(10)"), Some(false));
        assert_eq!(widening("VARCHAR(20)", "TEXT"), Some(true));
        assert_eq!(widening("TEXT", "VARCHAR(20)"), Some(false));
        assert_eq!(widening("INT", "BIGINT"), Some(true));
        assert_eq!(widening("BIGINT", "INTEGER"), Some(false));
        assert_eq!(widening("TEXT", "INTEGER"), Some(false));
        assert_eq!(widening("NUMERIC(10,2)", "NUMERIC(12,2)"), Some(true));
        assert_eq!(widening("int", "INT"), None);
    }
}
