//! Output: human (coloured only on a terminal, never with NO_COLOR) or JSON.

use std::io::{self, BufWriter, Write};

use anstyle::{AnsiColor, Style};
use clap::ValueEnum;
use serde::Serialize;

/// How reports are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum)]
pub enum Format {
    /// For people.
    #[default]
    Human,
    /// For scripts: one JSON document on stdout.
    Json,
    /// GitHub Actions annotations (`migrate check` only).
    Github,
    /// SARIF 2.1.0 for code scanning (`migrate check` only).
    Sarif,
}

/// Standard output, buffered; ANSI styles are stripped when it is not a
/// terminal or NO_COLOR is set.
pub struct Out {
    /// The chosen format.
    pub format: Format,
    inner: BufWriter<anstream::Stdout>,
}

/// Styles used in human output.
pub mod style {
    use super::*;
    /// Something done.
    pub const OK: Style = Style::new().fg_color(Some(anstyle::Color::Ansi(AnsiColor::Green)));
    /// Something pending or a warning.
    pub const WARN: Style = Style::new().fg_color(Some(anstyle::Color::Ansi(AnsiColor::Yellow)));
    /// Something failed.
    pub const BAD: Style = Style::new()
        .bold()
        .fg_color(Some(anstyle::Color::Ansi(AnsiColor::Red)));
    /// Less important detail.
    pub const DIM: Style = Style::new().dimmed();
    /// Headings and names.
    pub const BOLD: Style = Style::new().bold();
}

impl Out {
    /// Standard output in `format`.
    pub fn new(format: Format) -> Out {
        Out {
            format,
            inner: BufWriter::new(anstream::stdout()),
        }
    }

    /// Whether human output is wanted.
    pub fn human(&self) -> bool {
        self.format == Format::Human
    }

    /// Prints `value` as pretty JSON followed by a newline.
    pub fn json<T: Serialize>(&mut self, value: &T) -> io::Result<()> {
        serde_json::to_writer_pretty(&mut self.inner, value)?;
        writeln!(self.inner)
    }
}

impl Write for Out {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.inner.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}
