//! A tolerant, dialect-aware SQL lexer.
//!
//! Invariants:
//! - it never fails and never panics: every byte of the input belongs to exactly
//!   one token, and an unterminated string or comment runs to the end of the
//!   input with [`Token::unterminated`] set;
//! - spans are byte ranges into the input and always fall on `char` boundaries.

use std::ops::Range;

use serde::Serialize;

/// The SQL dialect whose quoting rules apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Dialect {
    /// The union of the rules below that is safe for splitting when the
    /// database is not known yet: dollar quotes, no backslash escapes.
    #[default]
    Generic,
    /// PostgreSQL: dollar quotes, `E'..'` escape strings, nested block comments.
    Postgres,
    /// SQLite: `[bracketed]` identifiers.
    Sqlite,
    /// MySQL and MariaDB: backslash escapes, `#` comments, backtick identifiers.
    Mysql,
}

impl Dialect {
    /// The dialect's name as used on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Dialect::Generic => "generic",
            Dialect::Postgres => "postgres",
            Dialect::Sqlite => "sqlite",
            Dialect::Mysql => "mysql",
        }
    }
}

/// What a token is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenKind {
    /// Spaces, tabs and newlines.
    Whitespace,
    /// `-- ...` (or `# ...` in MySQL) up to, not including, the newline.
    LineComment,
    /// `/* ... */`.
    BlockComment,
    /// MySQL's executable comment `/*! ... */` (and MariaDB's `/*M! ... */`):
    /// SQL that the server runs, so not trivia.
    ExecutableComment,
    /// A string literal of any quoting style, including dollar-quoted bodies.
    String,
    /// A quoted identifier: `"x"`, `` `x` ``, `[x]`.
    QuotedIdent,
    /// A keyword or bare identifier.
    Word,
    /// A numeric literal.
    Number,
    /// `;`
    Semicolon,
    /// Any other punctuation or operator character.
    Other,
}

/// One token with its byte span.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token {
    /// What the token is.
    pub kind: TokenKind,
    /// Its bytes in the input.
    pub span: Range<usize>,
    /// True for a string, identifier or comment that reached the end of the
    /// input without its closing quote.
    pub unterminated: bool,
}

impl Token {
    /// Whitespace and comments: what separates statements' real tokens.
    pub fn is_trivia(&self) -> bool {
        matches!(
            self.kind,
            TokenKind::Whitespace | TokenKind::LineComment | TokenKind::BlockComment
        )
    }
}

/// Splits `src` into tokens. Never fails.
pub fn tokenize(src: &str, dialect: Dialect) -> Vec<Token> {
    let bytes = src.as_bytes();
    let mut tokens = Vec::with_capacity(src.len() / 4);
    let mut i = 0;
    while i < bytes.len() {
        let start = i;
        let b = bytes[i];
        let (kind, end, unterminated) = match b {
            b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c => {
                let mut j = i + 1;
                while j < bytes.len()
                    && matches!(bytes[j], b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c)
                {
                    j += 1;
                }
                (TokenKind::Whitespace, j, false)
            }
            b'-' if bytes.get(i + 1) == Some(&b'-') => {
                (TokenKind::LineComment, line_end(bytes, i), false)
            }
            b'#' if dialect == Dialect::Mysql => {
                (TokenKind::LineComment, line_end(bytes, i), false)
            }
            b'/' if bytes.get(i + 1) == Some(&b'*') => {
                let nested = dialect != Dialect::Mysql;
                let (end, unterminated) = block_comment_end(bytes, i, nested);
                let executable = dialect == Dialect::Mysql
                    && (bytes.get(i + 2) == Some(&b'!')
                        || (bytes.get(i + 2) == Some(&b'M') && bytes.get(i + 3) == Some(&b'!')));
                if executable {
                    (TokenKind::ExecutableComment, end, unterminated)
                } else {
                    (TokenKind::BlockComment, end, unterminated)
                }
            }
            b'\'' => {
                let backslash = dialect == Dialect::Mysql;
                let (end, unterminated) = quoted_end(bytes, i, b'\'', backslash);
                (TokenKind::String, end, unterminated)
            }
            b'"' => {
                if dialect == Dialect::Mysql {
                    let (end, unterminated) = quoted_end(bytes, i, b'"', true);
                    (TokenKind::String, end, unterminated)
                } else {
                    let (end, unterminated) = quoted_end(bytes, i, b'"', false);
                    (TokenKind::QuotedIdent, end, unterminated)
                }
            }
            b'`' => {
                let (end, unterminated) = quoted_end(bytes, i, b'`', false);
                (TokenKind::QuotedIdent, end, unterminated)
            }
            b'[' if dialect == Dialect::Sqlite => {
                let (end, unterminated) = quoted_end(bytes, i, b']', false);
                (TokenKind::QuotedIdent, end, unterminated)
            }
            b'$' if dialect != Dialect::Mysql && dialect != Dialect::Sqlite => {
                match dollar_tag(bytes, i) {
                    Some(tag_end) => {
                        let tag = &bytes[i..tag_end];
                        match find(bytes, tag_end, tag) {
                            Some(close) => (TokenKind::String, close + tag.len(), false),
                            None => (TokenKind::String, bytes.len(), true),
                        }
                    }
                    None => (TokenKind::Other, i + 1, false),
                }
            }
            b';' => (TokenKind::Semicolon, i + 1, false),
            b'0'..=b'9' => {
                let mut j = i + 1;
                while j < bytes.len()
                    && (bytes[j].is_ascii_alphanumeric() || bytes[j] == b'.' || bytes[j] == b'_')
                {
                    j += 1;
                }
                (TokenKind::Number, j, false)
            }
            _ if is_word_start(b) => {
                // E'...' is a PostgreSQL escape string: backslashes escape.
                if (b == b'E' || b == b'e')
                    && bytes.get(i + 1) == Some(&b'\'')
                    && dialect != Dialect::Mysql
                {
                    let (end, unterminated) = quoted_end(bytes, i + 1, b'\'', true);
                    (TokenKind::String, end, unterminated)
                } else {
                    let mut j = i + 1;
                    while j < bytes.len() && is_word_continue(bytes[j]) {
                        j += 1;
                    }
                    (TokenKind::Word, j, false)
                }
            }
            _ => {
                // One whole character, so spans stay on char boundaries.
                let len = utf8_len(b);
                (TokenKind::Other, (i + len).min(bytes.len()), false)
            }
        };
        tokens.push(Token {
            kind,
            span: start..end,
            unterminated,
        });
        i = end;
    }
    tokens
}

fn utf8_len(first: u8) -> usize {
    match first {
        0x00..=0x7f => 1,
        0xc0..=0xdf => 2,
        0xe0..=0xef => 3,
        _ => 4,
    }
}

fn is_word_start(b: u8) -> bool {
    b.is_ascii_alphabetic() || b == b'_' || b >= 0x80
}

fn is_word_continue(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'$' || b >= 0x80
}

fn line_end(bytes: &[u8], from: usize) -> usize {
    bytes[from..]
        .iter()
        .position(|&c| c == b'\n')
        .map_or(bytes.len(), |p| from + p)
}

fn block_comment_end(bytes: &[u8], from: usize, nested: bool) -> (usize, bool) {
    let mut depth = 0usize;
    let mut j = from;
    while j + 1 < bytes.len() {
        if bytes[j] == b'/' && bytes[j + 1] == b'*' {
            if depth == 0 || nested {
                depth += 1;
            }
            j += 2;
        } else if bytes[j] == b'*' && bytes[j + 1] == b'/' {
            depth -= 1;
            j += 2;
            if depth == 0 {
                return (j, false);
            }
        } else {
            j += 1;
        }
    }
    (bytes.len(), true)
}

/// End of a quoted token opened at `from` by `quote`; a doubled quote is an
/// escaped quote, and with `backslash` a backslash escapes the next byte.
fn quoted_end(bytes: &[u8], from: usize, quote: u8, backslash: bool) -> (usize, bool) {
    let mut j = from + 1;
    while j < bytes.len() {
        let c = bytes[j];
        if backslash && c == b'\\' {
            j += 2;
            continue;
        }
        if c == quote {
            if bytes.get(j + 1) == Some(&quote) && quote != b']' {
                j += 2;
                continue;
            }
            return (j + 1, false);
        }
        j += 1;
    }
    (bytes.len(), true)
}

/// If a dollar-quote tag (`$$` or `$name$`) starts at `from`, its end.
fn dollar_tag(bytes: &[u8], from: usize) -> Option<usize> {
    let mut j = from + 1;
    if j < bytes.len() && bytes[j] == b'$' {
        return Some(j + 1);
    }
    if j >= bytes.len() || !(bytes[j].is_ascii_alphabetic() || bytes[j] == b'_' || bytes[j] >= 0x80)
    {
        return None;
    }
    while j < bytes.len()
        && (bytes[j].is_ascii_alphanumeric() || bytes[j] == b'_' || bytes[j] >= 0x80)
    {
        j += 1;
    }
    (j < bytes.len() && bytes[j] == b'$').then_some(j + 1)
}

fn find(haystack: &[u8], from: usize, needle: &[u8]) -> Option<usize> {
    haystack[from..]
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|p| from + p)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(src: &str, d: Dialect) -> Vec<(TokenKind, &str)> {
        tokenize(src, d)
            .into_iter()
            .filter(|t| t.kind != TokenKind::Whitespace)
            .map(|t| (t.kind, &src[t.span]))
            .collect()
    }

    #[test]
    fn strings_comments_and_identifiers() {
        let src = "SELECT 'it''s; here' -- a; comment\n, \"we;ird\" /* x; /* nested */ y */ ;";
        let k = kinds(src, Dialect::Postgres);
        assert_eq!(k[1], (TokenKind::String, "'it''s; here'"));
        assert_eq!(k[2], (TokenKind::LineComment, "-- a; comment"));
        assert_eq!(k[4], (TokenKind::QuotedIdent, "\"we;ird\""));
        assert_eq!(k[5], (TokenKind::BlockComment, "/* x; /* nested */ y */"));
        assert_eq!(k[6], (TokenKind::Semicolon, ";"));
    }

    #[test]
    fn dollar_quotes_and_parameters() {
        let src = "AS $fn$ BEGIN DROP TABLE x; END $fn$; SELECT $1";
        let k = kinds(src, Dialect::Postgres);
        assert_eq!(
            k[1],
            (TokenKind::String, "$fn$ BEGIN DROP TABLE x; END $fn$")
        );
        assert_eq!(k[4], (TokenKind::Other, "$"));
    }

    #[test]
    fn mysql_backslash_and_hash_comment() {
        let src = "SELECT 'a\\'b;' # c;\n;";
        let k = kinds(src, Dialect::Mysql);
        assert_eq!(k[1], (TokenKind::String, "'a\\'b;'"));
        assert_eq!(k[2], (TokenKind::LineComment, "# c;"));
    }

    #[test]
    fn unterminated_runs_to_end_and_multibyte_is_safe() {
        let src = "SELECT 'é unterminated";
        let t = tokenize(src, Dialect::Generic);
        assert!(t.last().unwrap().unterminated);
        assert_eq!(t.last().unwrap().span.end, src.len());
        let t = tokenize("é€𝄞§", Dialect::Generic);
        assert_eq!(t.len(), 1); // one word: non-ASCII letters are identifier characters
        let t = tokenize("«»", Dialect::Postgres);
        assert!(
            t.iter()
                .all(|t| src.is_char_boundary(t.span.start.min(src.len())))
        );
    }
}
