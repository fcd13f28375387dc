//! SQL text: a tolerant lexer and a statement splitter with byte spans.
//!
//! Invariant: pure functions over strings; nothing here fails or panics on
//! any input. Parsing with `sqlparser` builds on these spans.

pub mod lexer;
pub mod split;

pub use lexer::{Dialect, Token, TokenKind, tokenize};
pub use split::{Statement, line_of, split};
