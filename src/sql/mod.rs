//! SQL text: a tolerant lexer and a statement splitter with byte spans.
//!
//! Invariant: pure functions over strings; nothing here fails or panics on
//! any input. Parsing with `sqlparser` builds on these spans.

pub(crate) mod lexer;
pub(crate) mod split;

pub use lexer::Dialect;
pub(crate) use lexer::{TokenKind, tokenize};
pub(crate) use split::line_of;
// For the fuzz targets (`fuzz/`), not part of the API.
#[doc(hidden)]
pub use split::{Statement, split};
