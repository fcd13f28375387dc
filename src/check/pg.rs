//! PostgreSQL's grammar, from squawk's parser (a pure-Rust, error-recovering
//! PostgreSQL parser made for migration linting), for the statements
//! `sqlparser` cannot read: PostgreSQL 18's `CONSTRAINT n NOT NULL col`,
//! `ALTER TABLE ... ALTER CONSTRAINT`, `ALTER SEQUENCE`, `REINDEX`,
//! `CREATE STATISTICS`, function options, `COMMENT ON CONSTRAINT`, ...
//!
//! Invariants: pure, never panics on any input (the caller also guards it).
//! A statement this grammar rejects is a syntax error PostgreSQL would
//! reject too ([`Reading::SyntaxError`]); one it accepts is lowered to the
//! same [`Op`] the `sqlparser` reading gives, or said to be a form the
//! checker does not model ([`Reading::Unmodelled`]). Expressions and types
//! are compared in the same canonical spellings as the `sqlparser` path
//! (they are re-printed by `sqlparser` where it can read them).

use squawk_syntax::ast::{self, AstNode};
use squawk_syntax::{SourceFile, SyntaxNode};

use super::ir::{Action, ColumnSpec, ConstraintSpec, Op, canonical_default, canonical_type, norm};

/// What PostgreSQL's grammar makes of one statement.
#[derive(Debug)]
pub enum Reading {
    /// Read and lowered.
    Op(Op),
    /// Valid PostgreSQL the checker does not model (why, for the message).
    Unmodelled(String),
    /// PostgreSQL's grammar rejects it: the message and the byte offset of
    /// the error within the statement's text.
    SyntaxError(String, usize),
}

/// Reads one statement's text.
pub fn read(text: &str) -> Reading {
    let parse = SourceFile::parse(text);
    if let Some(e) = parse.errors().first() {
        let at: usize = e.range().start().into();
        let at = at.min(text.len());
        // Two statements joined by a forgotten `;` is the usual cause; when a
        // `;` there makes the text valid, say exactly that.
        if let (Some(head), Some(tail)) = (text.get(..at), text.get(at..))
            && !head.trim().is_empty()
            && !tail.trim().is_empty()
            && SourceFile::parse(&format!("{head};{tail}"))
                .errors()
                .is_empty()
        {
            return Reading::SyntaxError("a `;` is missing here".into(), at);
        }
        return Reading::SyntaxError(e.to_string(), at);
    }
    let file = parse.tree();
    let mut stmts = file.stmts();
    let Some(stmt) = stmts.next() else {
        return Reading::Op(Op::Other);
    };
    if stmts.next().is_some() {
        return Reading::Unmodelled("it holds more than one statement".into());
    }
    lower(stmt)
}

fn lower(stmt: ast::Stmt) -> Reading {
    use ast::Stmt as S;
    Reading::Op(match stmt {
        S::CreateTable(ct) => create_table(&ct),
        S::CreateTableAs(ct) => Op::CreateTable {
            table: ct
                .table_name()
                .map(|n| name(n.syntax()))
                .unwrap_or_default(),
            columns: vec![],
            constraints: vec![],
            if_not_exists: ct.if_not_exists().is_some(),
            as_select: true,
        },
        S::AlterTable(at) => alter_table(&at),
        // `sqlparser` reads the views it can, with their definitions; one it
        // cannot read is there, its definition unknown.
        S::CreateView(v) => unread_view(v.view()),
        S::CreateMaterializedView(v) => unread_view(v.view()),
        S::CreateIndex(ci) => create_index(&ci),
        S::AlterIndex(ai) => return alter_index(&ai),
        // The definition is read from the statement's tokens by the caller.
        S::CreateFunction(f) => match f.name() {
            Some(n) => Op::CreateFunction {
                key: function_key(&name(n.syntax()), f.param_list()),
                definition: String::new(),
            },
            None => Op::Other,
        },
        S::CreateProcedure(f) => match f.name() {
            Some(n) => Op::CreateFunction {
                key: function_key(&name(n.syntax()), f.param_list()),
                definition: String::new(),
            },
            None => Op::Other,
        },
        S::DropFunction(d) => Op::DropFunction {
            keys: d
                .function_sig_list()
                .iter()
                .flat_map(|l| l.syntax().children().filter_map(ast::FunctionSig::cast))
                .filter_map(|sig| {
                    let n = name(sig.function_name_ref()?.syntax());
                    Some(match sig.param_list() {
                        Some(p) => function_key(&n, Some(p)),
                        None => n,
                    })
                })
                .collect(),
        },
        S::AlterType(at) => match (at.type_name_ref(), at.action()) {
            (Some(ty), Some(ast::AlterTypeAction::RenameValue(r))) => {
                let labels: Vec<String> = r
                    .syntax()
                    .children()
                    .filter_map(ast::Literal::cast)
                    .map(|l| text(l.syntax()))
                    .collect();
                match labels.as_slice() {
                    [from, to] => Op::RenameEnumValue {
                        ty: name(ty.syntax()),
                        from: from.clone(),
                        to: to.clone(),
                    },
                    _ => Op::Other,
                }
            }
            (Some(from), Some(ast::AlterTypeAction::TypeRenameTo(r))) => match r.type_name() {
                Some(to) => Op::RenameType {
                    from: name(from.syntax()),
                    to: name(to.syntax()),
                },
                None => Op::Other,
            },
            _ => Op::Other,
        },
        S::Do(_) => {
            return Reading::Unmodelled(
                "the checker cannot see what a DO block does to the schema".into(),
            );
        }
        S::Call(_) => {
            return Reading::Unmodelled(
                "the checker cannot see what a called procedure does to the schema".into(),
            );
        }
        // Statements that change nothing the model holds (tables, columns,
        // constraints, indexes, views) and that `sqlparser` may reject.
        S::Reindex(_)
        | S::CreateStatistics(_)
        | S::AlterStatistics(_)
        | S::DropStatistics(_)
        | S::CreateSequence(_)
        | S::AlterSequence(_)
        | S::DropSequence(_)
        | S::AlterFunction(_)
        | S::AlterProcedure(_)
        | S::DropProcedure(_)
        | S::AlterRoutine(_)
        | S::DropRoutine(_)
        | S::CreateAggregate(_)
        | S::DropAggregate(_)
        | S::CreateTrigger(_)
        | S::AlterTrigger(_)
        | S::DropTrigger(_)
        | S::CreateEventTrigger(_)
        | S::DropEventTrigger(_)
        | S::CommentOn(_)
        | S::SecurityLabel(_)
        | S::Grant(_)
        | S::Revoke(_)
        | S::AlterDefaultPrivileges(_)
        | S::CreateRole(_)
        | S::AlterRole(_)
        | S::DropRole(_)
        | S::CreateUser(_)
        | S::AlterUser(_)
        | S::DropUser(_)
        | S::CreatePolicy(_)
        | S::AlterPolicy(_)
        | S::DropPolicy(_)
        | S::CreateExtension(_)
        | S::AlterExtension(_)
        | S::DropExtension(_)
        | S::CreateType(_)
        | S::DropType(_)
        | S::CreateDomain(_)
        | S::AlterDomain(_)
        | S::DropDomain(_)
        | S::CreateCollation(_)
        | S::CreateCast(_)
        | S::CreateSchema(_)
        | S::AlterSchema(_)
        | S::CreatePublication(_)
        | S::AlterPublication(_)
        | S::DropPublication(_)
        | S::CreateTextSearchConfiguration(_)
        | S::AlterTextSearchConfiguration(_)
        | S::CreateTextSearchDictionary(_)
        | S::AlterTextSearchDictionary(_)
        | S::Set(_)
        | S::Reset(_)
        | S::SetConstraints(_)
        | S::SetRole(_)
        | S::ResetRole(_)
        | S::Show(_)
        | S::Analyze(_)
        | S::Cluster(_)
        | S::Vacuum(_)
        | S::Lock(_)
        | S::Notify(_)
        | S::Listen(_)
        | S::Unlisten(_)
        | S::Refresh(_)
        | S::Select(_)
        | S::CompoundSelect(_)
        | S::ParenSelect(_)
        | S::Values(_)
        | S::Explain(_)
        | S::Discard(_)
        | S::Checkpoint(_)
        | S::Load(_)
        | S::EmptyStmt(_) => Op::Other,
        other => {
            let kind = format!("{:?}", other.syntax().kind());
            return Reading::Unmodelled(format!(
                "PostgreSQL's grammar reads it ({}), but the checker does not model it",
                kind.to_ascii_lowercase().replace('_', " ")
            ));
        }
    })
}

/// The significant text of a node: its tokens without comments and
/// whitespace, joined by single spaces where there was any.
fn text(node: &SyntaxNode) -> String {
    let mut out = String::new();
    let mut gap = false;
    for t in node
        .descendants_with_tokens()
        .filter_map(|e| e.into_token())
    {
        if t.kind().is_trivia() {
            gap = true;
            continue;
        }
        if gap && !out.is_empty() {
            out.push(' ');
        }
        gap = false;
        out.push_str(t.text());
    }
    out
}

/// The object name a (possibly qualified) name node holds, normalised as
/// everywhere in the checker: the last part, unquoted names folded.
/// A view `sqlparser` could not read: there, its definition unknown.
fn unread_view(view: Option<ast::View>) -> Op {
    match view {
        Some(n) => Op::CreateView {
            name: name(n.syntax()),
            definition: None,
            wildcards: Vec::new(),
        },
        None => Op::Other,
    }
}

fn name(node: &SyntaxNode) -> String {
    let t = text(node);
    let mut last = 0;
    let mut quoted = false;
    for (i, c) in t.char_indices() {
        match c {
            '"' => quoted = !quoted,
            '.' if !quoted => last = i + 1,
            _ => {}
        }
    }
    norm(t[last..].trim())
}

/// An expression in the spelling `sqlparser` prints, so a default or a CHECK
/// read here compares equal to the same one read by the `sqlparser` path.
fn expr(node: &SyntaxNode) -> String {
    use sqlparser::dialect::PostgreSqlDialect;
    use sqlparser::parser::Parser;
    let t = text(node);
    Parser::new(&PostgreSqlDialect {})
        .try_with_sql(&t)
        .and_then(|mut p| p.parse_expr())
        .map(|e| e.to_string())
        .unwrap_or(t)
}

/// `name(types)`, the identity of a function: OUT parameters and defaults
/// are not part of it.
fn function_key(n: &str, params: Option<ast::ParamList>) -> String {
    super::ir::function_key(
        n,
        params
            .iter()
            .flat_map(|p| p.params())
            .filter(|p| !matches!(p.mode(), Some(ast::ParamMode::ParamOut(_))))
            .filter_map(|p| p.func_type())
            .map(|t| canonical_type(&text(t.syntax()))),
    )
}

fn column_list<N: AstNode>(refs: impl Iterator<Item = N>) -> Vec<String> {
    refs.map(|r| name(r.syntax())).collect()
}

fn constraint_name(c: Option<ast::ConstraintNameClause>) -> Option<String> {
    c.and_then(|c| c.constraint_name())
        .map(|n| name(n.syntax()))
}

/// What a column clause or constraint does to a column as declared.
fn apply_to_column(c: &mut ColumnSpec, constraint: &SyntaxNode) {
    if let Some(k) = ast::Constraint::cast(constraint.clone()) {
        match k {
            ast::Constraint::NotNullConstraint(_) => c.not_null = true,
            ast::Constraint::NullConstraint(_) => c.not_null = false,
            ast::Constraint::DefaultConstraint(d) => {
                c.default = d.expr().and_then(|e| canonical_default(&expr(e.syntax())));
            }
            ast::Constraint::PrimaryKeyConstraint(_) => {
                c.primary_key = true;
                c.not_null = true;
            }
            ast::Constraint::UniqueConstraint(_) => c.unique = true,
            ast::Constraint::GeneratedConstraint(_) => {
                c.default.get_or_insert_with(|| "(generated)".into());
            }
            ast::Constraint::ReferencesConstraint(r) => {
                c.references = r.table().map(|t| {
                    (
                        constraint_name(r.constraint_name_clause()),
                        name(t.syntax()),
                    )
                });
            }
            ast::Constraint::CheckConstraint(_)
            | ast::Constraint::ExcludeConstraint(_)
            | ast::Constraint::ForeignKeyConstraint(_) => {}
        }
    }
}

fn column_spec(name_node: Option<SyntaxNode>, ty: Option<ast::Type>) -> ColumnSpec {
    ColumnSpec {
        name: name_node.map(|n| name(&n)).unwrap_or_default(),
        ty: ty
            .map(|t| canonical_type(&text(t.syntax())))
            .unwrap_or_default(),
        not_null: false,
        default: None,
        primary_key: false,
        unique: false,
        references: None,
    }
}

/// SERIAL types carry their own default and NOT NULL (as the `sqlparser` path).
fn finish_column(mut c: ColumnSpec) -> ColumnSpec {
    if c.ty.contains("SERIAL") {
        c.default.get_or_insert_with(|| "(serial)".into());
        c.not_null = true;
    }
    c
}

fn column(col: &ast::Column) -> ColumnSpec {
    let mut c = column_spec(col.name().map(|n| n.syntax().clone()), col.ty());
    for clause in col.clauses() {
        if let ast::ColumnClause::ColumnConstraint(k) = clause {
            apply_to_column(&mut c, k.syntax());
        }
    }
    finish_column(c)
}

/// The columns of a PRIMARY KEY or UNIQUE constraint.
fn key_columns(p: Option<ast::IndexParameters>) -> Vec<String> {
    p.and_then(|i| i.column_list())
        .map(|l| column_list(l.column_name_refs()))
        .unwrap_or_default()
}

/// A table-level constraint: its name, what it is, and NOT VALID.
fn table_constraint(k: &SyntaxNode) -> Option<(Option<String>, ConstraintSpec, bool)> {
    let k = ast::Constraint::cast(k.clone())?;
    let not_valid = |opts: ast::AstChildren<ast::ConstraintOption>| {
        opts.into_iter()
            .any(|o| matches!(o, ast::ConstraintOption::NotValid(_)))
    };
    Some(match k {
        ast::Constraint::PrimaryKeyConstraint(p) => (
            constraint_name(p.constraint_name_clause()),
            ConstraintSpec::PrimaryKey(key_columns(p.index_parameters())),
            not_valid(p.constraint_options()),
        ),
        ast::Constraint::UniqueConstraint(u) => (
            constraint_name(u.constraint_name_clause()),
            ConstraintSpec::Unique(key_columns(u.index_parameters())),
            not_valid(u.constraint_options()),
        ),
        ast::Constraint::ForeignKeyConstraint(f) => (
            constraint_name(f.constraint_name_clause()),
            ConstraintSpec::ForeignKey(
                f.from_columns()
                    .map(|l| column_list(l.column_name_refs()))
                    .unwrap_or_default(),
                f.table_name_ref()
                    .map(|t| name(t.syntax()))
                    .unwrap_or_default(),
            ),
            not_valid(f.constraint_options()),
        ),
        ast::Constraint::CheckConstraint(c) => (
            constraint_name(c.constraint_name_clause()),
            ConstraintSpec::Check(c.expr().map(|e| expr(e.syntax())).unwrap_or_default()),
            not_valid(c.constraint_options()),
        ),
        ast::Constraint::NotNullConstraint(n) => (
            constraint_name(n.constraint_name_clause()),
            ConstraintSpec::NotNull(name(n.column_name_ref()?.syntax())),
            false,
        ),
        _ => return None,
    })
}

fn create_table(ct: &ast::CreateTable) -> Op {
    let table = ct
        .table_name()
        .map(|n| name(n.syntax()))
        .unwrap_or_default();
    let mut columns: Vec<ColumnSpec> = vec![];
    let mut constraints = vec![];
    // Columns another table decides (PARTITION OF, OF type, LIKE) are unknown.
    let mut unknown = ct.partition_of().is_some() || ct.of_type().is_some();
    for arg in ct.table_arg_list().iter().flat_map(|l| l.args()) {
        match arg {
            ast::TableArg::Column(c) => columns.push(column(&c)),
            ast::TableArg::LikeClause(_) => unknown = true,
            ast::TableArg::TableConstraint(k) => {
                if let Some((name, spec, _)) = table_constraint(k.syntax()) {
                    constraints.push((name, spec));
                }
            }
        }
    }
    Op::CreateTable {
        table,
        columns,
        constraints,
        if_not_exists: ct.if_not_exists().is_some(),
        as_select: unknown,
    }
}

fn create_index(ci: &ast::CreateIndex) -> Op {
    Op::CreateIndex {
        name: ci.index().and_then(|i| i.path()).map(|p| name(p.syntax())),
        table: ci
            .table_relation_name()
            .and_then(|t| t.table_name_ref())
            .map(|t| name(t.syntax()))
            .unwrap_or_default(),
        columns: ci
            .partition_item_list()
            .iter()
            .flat_map(|l| l.partition_items())
            .map(|item| match item.expr() {
                Some(ast::Expr::NameRef(n)) => name(n.syntax()),
                Some(e) => super::ir::canonical_expr(&text(e.syntax())),
                None => text(item.syntax()),
            })
            .collect(),
        unique: ci.unique_token().is_some(),
        predicate: ci
            .where_clause()
            .and_then(|w| w.expr())
            .map(|e| super::ir::canonical_expr(&text(e.syntax()))),
        concurrently: ci.concurrently_token().is_some(),
        if_not_exists: ci.if_not_exists().is_some(),
    }
}

/// `ALTER INDEX [IF EXISTS] a RENAME TO b`; other forms change nothing the
/// model holds, except `ATTACH PARTITION`, which is not modelled.
fn alter_index(ai: &ast::AlterIndex) -> Reading {
    let from = ai.index_ref().map(|i| name(i.syntax()));
    match ai.action() {
        Some(ast::AlterIndexAction::IndexRenameTo(r)) => match (from, r.index()) {
            (Some(from), Some(to)) => Reading::Op(Op::RenameIndex {
                from,
                to: name(to.syntax()),
                if_exists: ai.if_exists().is_some(),
            }),
            _ => Reading::Unmodelled("an ALTER INDEX ... RENAME the checker could not read".into()),
        },
        Some(ast::AlterIndexAction::AttachIndexPartition(_)) => Reading::Unmodelled(
            "the checker does not model ALTER INDEX ... ATTACH PARTITION".into(),
        ),
        _ => Reading::Op(Op::Other),
    }
}

fn alter_table(at: &ast::AlterTable) -> Op {
    let table = at
        .table_relation_name()
        .and_then(|t| t.table_name_ref())
        .map(|t| name(t.syntax()))
        .unwrap_or_default();
    super::ir::alter_table_op(
        table,
        at.actions().map(|a| action(&a)).collect(),
        at.if_exists().is_some(),
    )
}

fn action(a: &ast::AlterTableAction) -> Action {
    use ast::AlterTableAction as A;
    match a {
        A::AddColumn(add) => {
            let mut c = column_spec(add.column_name().map(|n| n.syntax().clone()), add.ty());
            for k in add.constraints() {
                apply_to_column(&mut c, k.syntax());
            }
            Action::AddColumn(finish_column(c))
        }
        A::DropColumn(d) => match d.column_name_ref() {
            Some(c) => Action::DropColumn {
                column: name(c.syntax()),
                if_exists: d.if_exists().is_some(),
            },
            None => Action::Other,
        },
        A::RenameColumn(r) => match (r.column_name_ref(), r.column_name()) {
            (Some(from), Some(to)) => Action::RenameColumn {
                from: name(from.syntax()),
                to: name(to.syntax()),
            },
            _ => Action::Other,
        },
        A::TableRenameTo(r) => match r.table_name() {
            Some(n) => Action::RenameTo(name(n.syntax())),
            None => Action::Other,
        },
        A::AlterColumn(ac) => {
            let Some(col) = ac.column_name_ref().map(|c| name(c.syntax())) else {
                return Action::Other;
            };
            use ast::AlterColumnOption as O;
            match ac.option() {
                Some(O::SetType(t)) => Action::SetType {
                    column: col,
                    ty: t
                        .ty()
                        .map(|t| canonical_type(&text(t.syntax())))
                        .unwrap_or_default(),
                },
                Some(O::SetNotNull(_)) => Action::SetNotNull(col),
                Some(O::DropNotNull(_)) => Action::DropNotNull(col),
                Some(O::SetDefault(d)) => {
                    match d.expr().and_then(|e| canonical_default(&expr(e.syntax()))) {
                        Some(v) => Action::SetDefault(col, v),
                        None => Action::DropDefault(col),
                    }
                }
                Some(O::DropDefault(_)) => Action::DropDefault(col),
                Some(
                    O::SetStatistics(_)
                    | O::SetStorage(_)
                    | O::SetCompression(_)
                    | O::SetOptions(_)
                    | O::ResetOptions(_),
                ) => Action::NoSchemaEffect,
                _ => Action::Other,
            }
        }
        A::AddConstraint(add) => {
            match add.constraint().and_then(|k| table_constraint(k.syntax())) {
                Some((name, spec, not_valid)) => Action::AddConstraint {
                    name,
                    spec,
                    not_valid,
                },
                None => Action::Other,
            }
        }
        A::RenameConstraint(r) => match (r.constraint_name_ref(), r.constraint_name()) {
            (Some(from), Some(to)) => Action::RenameConstraint {
                from: name(from.syntax()),
                to: name(to.syntax()),
            },
            _ => Action::Other,
        },
        A::ValidateConstraint(v) => {
            match v.syntax().children().find_map(ast::ConstraintNameRef::cast) {
                Some(n) => Action::ValidateConstraint(name(n.syntax())),
                None => Action::NoSchemaEffect,
            }
        }
        A::DropConstraint(d) => match d.constraint_name_ref() {
            Some(n) => Action::DropConstraint {
                name: name(n.syntax()),
                if_exists: d.if_exists().is_some(),
            },
            None => Action::Other,
        },
        // Actions that change nothing the model holds.
        A::AlterConstraint(_)
        | A::ClusterOn(_)
        | A::SetWithoutCluster(_)
        | A::EnableTrigger(_)
        | A::EnableAlwaysTrigger(_)
        | A::EnableReplicaTrigger(_)
        | A::DisableTrigger(_)
        | A::EnableRule(_)
        | A::EnableAlwaysRule(_)
        | A::EnableReplicaRule(_)
        | A::DisableRule(_)
        | A::EnableRls(_)
        | A::DisableRls(_)
        | A::ForceRls(_)
        | A::NoForceRls(_)
        | A::OwnerTo(_)
        | A::ReplicaIdentity(_)
        | A::SetOptions(_)
        | A::ResetOptions(_)
        | A::SetTablespace(_)
        | A::SetLogged(_)
        | A::SetUnlogged(_) => Action::NoSchemaEffect,
        _ => Action::Other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn op(sql: &str) -> Op {
        match read(sql) {
            Reading::Op(op) => op,
            other => panic!("{sql}: {other:?}"),
        }
    }

    #[test]
    fn postgres_18_named_not_null_constraints_make_columns_not_null() {
        let Op::CreateTable { table, columns, .. } = op(
            "CREATE TABLE person_ban (person_id integer REFERENCES person (id), \
                published_at timestamptz DEFAULT now(), \
                CONSTRAINT ban_person_not_null NOT NULL person_id, PRIMARY KEY (person_id))",
        ) else {
            panic!()
        };
        assert_eq!(table, "person_ban");
        assert_eq!(columns[1].ty, "TIMESTAMPTZ");
        assert_eq!(columns[1].default.as_deref(), Some("now()"));
        assert!(!columns[1].not_null);
        assert_eq!(
            op("ALTER TABLE local_image ADD CONSTRAINT img_not_null NOT NULL local_user_id"),
            Op::AlterTable {
                table: "local_image".into(),
                actions: vec![Action::AddConstraint {
                    name: Some("img_not_null".into()),
                    spec: ConstraintSpec::NotNull("local_user_id".into()),
                    not_valid: false
                }],
                if_exists: false,
            }
        );
    }

    #[test]
    fn alter_constraint_and_validate_change_nothing_the_model_holds() {
        assert_eq!(
            op("ALTER TABLE public.t ALTER CONSTRAINT t_a_fkey NOT DEFERRABLE"),
            Op::AlterTable {
                table: "t".into(),
                actions: vec![Action::NoSchemaEffect],
                if_exists: false,
            }
        );
    }

    #[test]
    fn statements_without_a_schema_effect_are_read_and_do_blocks_are_not_modelled() {
        for sql in [
            "REINDEX TABLE post",
            "ALTER SEQUENCE user_id_seq RENAME TO person_id_seq",
            "CREATE STATISTICS s (dependencies) ON a, b FROM t",
            "COMMENT ON CONSTRAINT c ON t IS 'x'",
            "COMMENT ON FUNCTION f(int4) IS NULL",
        ] {
            assert_eq!(op(sql), Op::Other, "{sql}");
        }
        // A function's identity; its definition is read from the tokens by the caller.
        assert_eq!(
            op(
                "CREATE FUNCTION f(a int4, OUT b text) RETURNS int LANGUAGE sql IMMUTABLE COST 1 AS $$ SELECT 1 $$"
            ),
            Op::CreateFunction {
                key: "f(INTEGER)".into(),
                definition: String::new()
            }
        );
        assert!(matches!(
            read("DO $$ BEGIN ALTER TABLE t DROP COLUMN c; END $$"),
            Reading::Unmodelled(m) if m.contains("DO block")
        ));
    }

    #[test]
    fn a_missing_semicolon_is_a_syntax_error_at_the_second_statement() {
        let sql =
            "ALTER TABLE t DROP CONSTRAINT t_pkey\nALTER TABLE t ALTER COLUMN d TYPE timestamp";
        match read(sql) {
            Reading::SyntaxError(m, at) => {
                assert_eq!(m, "a `;` is missing here");
                assert!(
                    at >= "ALTER TABLE t DROP CONSTRAINT t_pkey".len(),
                    "{at} {m}"
                );
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn defaults_and_checks_are_spelled_as_the_sqlparser_path_spells_them() {
        let Op::CreateTable {
            columns,
            constraints,
            ..
        } = op(
            "CREATE TABLE t (a int DEFAULT   NOW( ), b varchar(20) DEFAULT 'x'::character varying, \
                CONSTRAINT c CHECK (a   >  0), CONSTRAINT n NOT NULL b)",
        )
        else {
            panic!()
        };
        assert_eq!(columns[0].default.as_deref(), Some("now()"));
        assert_eq!(columns[1].default.as_deref(), Some("'x'"));
        assert_eq!(columns[1].ty, "VARCHAR(20)");
        assert_eq!(
            constraints,
            vec![
                (Some("c".into()), ConstraintSpec::Check("a > 0".into())),
                (Some("n".into()), ConstraintSpec::NotNull("b".into()))
            ]
        );
    }
}
