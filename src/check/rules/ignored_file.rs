//! `ignored-file`: a file beside the migrations that is not one.

use crate::check::Severity;

/// Rule id.
pub const ID: &str = "ignored-file";
/// Default severity.
pub const SEVERITY: Severity = Severity::Warning;
/// One line.
pub const SUMMARY: &str = "a file beside the migrations that migrate passes over";
/// Documentation.
pub const DOC: &str = "\
What it flags: a `.sql` file or a directory in the migrations directory whose name has no \
version (a data script, a seed file), a non-SQL file inside a migration directory, a Flyway \
repeatable migration (`R__views.sql`), or a key of diesel's `metadata.toml` other than \
`run_in_transaction`. migrate loads the rest and passes these over. A name that looks like a \
migration's but is malformed (`.up.sql` without a version, a name starting with digits) stays a \
load error.

Why it matters: a file that looks like part of the history but never runs is a surprise at the \
worst time: the seed data that was never loaded, the view that was never created.

Instead: move files that are not migrations out of the directory, or give a migration its \
version.

Example:
  migrations/data_oauth_github.sql     <- not a migration: passed over";

#[cfg(test)]
mod tests {
    use crate::check::testing::{err, ok, source};
    use crate::source::{SourceWarning, WarningKind};

    #[test]
    fn ok_only_migrations() {
        ok(
            super::ID,
            &source(&[("t", "CREATE TABLE t (id INT);", Some("DROP TABLE t;"))]),
        );
    }

    #[test]
    fn err_a_file_passed_over() {
        let mut src = source(&[("t", "CREATE TABLE t (id INT);", Some("DROP TABLE t;"))]);
        src.warnings.push(SourceWarning {
            kind: WarningKind::IgnoredFile,
            path: "m/seed.sql".into(),
            message: "not a migration (its name has no version): passed over".into(),
        });
        let m = err(super::ID, &src);
        assert!(m.contains("passed over"), "{m}");
    }
}
