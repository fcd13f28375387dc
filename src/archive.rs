//! `-- migrate:archive`: what a statement drops, read from its tokens.
//!
//! Invariant: pure. Only `DROP TABLE <one table>` and
//! `ALTER TABLE <table> DROP [COLUMN] <one column>` can be archived; anything
//! else under the directive is refused before the run starts.

use serde::Serialize;

use crate::sql::{Statement, TokenKind};

/// What an archived statement drops.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ArchiveTarget {
    /// The table as written in the statement (quotes and schema kept), for SQL.
    pub table_sql: String,
    /// The table's bare name (last part, unquoted), for lookups and messages.
    pub table: String,
    /// The column, for `ALTER TABLE ... DROP COLUMN`; `None` for `DROP TABLE`.
    pub column: Option<String>,
}

impl ArchiveTarget {
    /// `users.name` or `users`.
    pub fn label(&self) -> String {
        match &self.column {
            Some(c) => format!("{}.{c}", self.table),
            None => self.table.clone(),
        }
    }
}

/// Removes one level of identifier quoting.
pub fn unquote(ident: &str) -> String {
    let bytes = ident.as_bytes();
    if bytes.len() >= 2 {
        let (first, last) = (bytes[0], bytes[bytes.len() - 1]);
        if (first == b'"' && last == b'"')
            || (first == b'`' && last == b'`')
            || (first == b'[' && last == b']')
        {
            let inner = &ident[1..ident.len() - 1];
            return match first {
                b'"' => inner.replace("\"\"", "\""),
                b'`' => inner.replace("``", "`"),
                _ => inner.to_string(),
            };
        }
    }
    ident.to_string()
}

/// Reads what `statement` drops, or says why it cannot be archived.
pub fn target(statement: &Statement, sql: &str) -> Result<ArchiveTarget, String> {
    // Significant tokens: words, quoted identifiers, dots, commas, parens.
    let toks: Vec<(TokenKind, &str)> = statement
        .tokens
        .iter()
        .filter(|t| !t.is_trivia())
        .map(|t| (t.kind, &sql[t.span.clone()]))
        .collect();
    let mut i;
    let word = |i: usize, w: &str| {
        toks.get(i)
            .is_some_and(|(k, s)| *k == TokenKind::Word && s.eq_ignore_ascii_case(w))
    };
    let unsupported = || {
        "`-- migrate:archive` stands above a statement that is neither `DROP TABLE <table>` nor `ALTER TABLE <table> DROP COLUMN <column>`: move it to the DROP whose data it keeps".to_string()
    };
    // A possibly schema-qualified name starting at `i`: (text as written, bare name, next index).
    let name = |mut i: usize| -> Option<(String, String, usize)> {
        let start = i;
        let mut last;
        loop {
            let (k, s) = toks.get(i)?;
            if !matches!(k, TokenKind::Word | TokenKind::QuotedIdent) {
                return None;
            }
            last = unquote(s);
            i += 1;
            if toks
                .get(i)
                .is_some_and(|(k, s)| *k == TokenKind::Other && *s == ".")
            {
                i += 1;
                continue;
            }
            break;
        }
        let written: String = toks[start..i].iter().map(|(_, s)| *s).collect();
        Some((written, last, i))
    };
    if word(0, "DROP") && word(1, "TABLE") {
        i = 2;
        if word(i, "IF") && word(i + 1, "EXISTS") {
            i += 2;
        }
        let (table_sql, table, next) = name(i).ok_or_else(unsupported)?;
        if toks
            .get(next)
            .is_some_and(|(k, s)| *k == TokenKind::Other && *s == ",")
        {
            return Err("`-- migrate:archive` keeps one table per statement: split `DROP TABLE a, b` into one DROP per table".into());
        }
        return Ok(ArchiveTarget {
            table_sql,
            table,
            column: None,
        });
    }
    if word(0, "ALTER") && word(1, "TABLE") {
        i = 2;
        if word(i, "IF") && word(i + 1, "EXISTS") {
            i += 2;
        }
        if word(i, "ONLY") {
            i += 1;
        }
        let (table_sql, table, mut j) = name(i).ok_or_else(unsupported)?;
        if !word(j, "DROP") {
            return Err(unsupported());
        }
        j += 1;
        if word(j, "CONSTRAINT")
            || word(j, "INDEX")
            || word(j, "PRIMARY")
            || word(j, "FOREIGN")
            || word(j, "KEY")
        {
            return Err(unsupported());
        }
        if word(j, "COLUMN") {
            j += 1;
        }
        if word(j, "IF") && word(j + 1, "EXISTS") {
            j += 2;
        }
        let (_, column, next) = name(j).ok_or_else(unsupported)?;
        if toks[next..]
            .iter()
            .any(|(k, s)| *k == TokenKind::Other && *s == ",")
        {
            return Err("`-- migrate:archive` keeps one column per statement: split the ALTER TABLE into one DROP COLUMN per statement".into());
        }
        return Ok(ArchiveTarget {
            table_sql,
            table,
            column: Some(column),
        });
    }
    Err(unsupported())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sql::{Dialect, split};

    fn t(sql: &str) -> Result<ArchiveTarget, String> {
        let s = split(sql, Dialect::Postgres);
        target(&s[0], sql)
    }

    #[test]
    fn reads_tables_and_columns() {
        let a = t("DROP TABLE IF EXISTS public.\"Users\" CASCADE").unwrap();
        assert_eq!(
            (a.table_sql.as_str(), a.table.as_str(), a.column),
            ("public.\"Users\"", "Users", None)
        );
        let a = t("ALTER TABLE ONLY users DROP COLUMN IF EXISTS name").unwrap();
        assert_eq!(a.label(), "users.name");
        let a = t("alter table users drop locale").unwrap();
        assert_eq!(a.column.as_deref(), Some("locale"));
    }

    #[test]
    fn refuses_what_it_cannot_keep() {
        assert!(t("DROP TABLE a, b").unwrap_err().contains("one table"));
        assert!(
            t("ALTER TABLE a DROP COLUMN x, DROP COLUMN y")
                .unwrap_err()
                .contains("one column")
        );
        assert!(t("ALTER TABLE a DROP CONSTRAINT c").is_err());
        assert!(t("DELETE FROM a").is_err());
        assert!(t("DROP INDEX a").is_err());
    }
}
