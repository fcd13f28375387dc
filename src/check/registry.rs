//! The one list of rules: id, default severity, summary, documentation.

use super::rules::*;
use super::{Finding, Severity, StageCx};

/// A rule.
pub struct RuleInfo {
    /// Public id (interface: never renamed).
    pub id: &'static str,
    /// Default severity.
    pub severity: Severity,
    /// One line.
    pub summary: &'static str,
    /// What it flags, why it matters, what to do instead, an example.
    pub doc: &'static str,
    /// The per-stage check; `None` for the suppression rules, which the
    /// checker applies itself.
    pub(crate) stage: Option<fn(&StageCx, &mut Vec<Finding>)>,
    /// The rule's source file, for the test that every rule is tested.
    #[cfg(test)]
    pub source: &'static str,
}

macro_rules! rule {
    ($m:ident, $check:expr) => {
        RuleInfo {
            id: $m::ID,
            severity: $m::SEVERITY,
            summary: $m::SUMMARY,
            doc: $m::DOC,
            stage: $check,
            #[cfg(test)]
            source: include_str!(concat!("rules/", stringify!($m), ".rs")),
        }
    };
}

/// Every rule, in the order they are listed to users.
pub static RULES: &[RuleInfo] = &[
    rule!(missing_down, Some(missing_down::check)),
    rule!(lossy_down, Some(lossy_down::check)),
    rule!(irreversible_up, Some(irreversible_up::check)),
    rule!(down_not_inverse, Some(down_not_inverse::check)),
    rule!(down_would_fail, Some(down_would_fail::check)),
    rule!(expand_breaks_old_app, Some(expand_breaks_old_app::check)),
    rule!(
        unstaged_breaking_change,
        Some(unstaged_breaking_change::check)
    ),
    rule!(needs_no_transaction, Some(needs_no_transaction::check)),
    rule!(empty_stage, Some(empty_stage::check)),
    rule!(archive_needs_key, Some(archive_needs_key::check)),
    rule!(suppression_without_reason, None),
    rule!(unused_suppression, None),
    rule!(syntax_error, Some(syntax_error::check)),
    rule!(unparsed_statement, Some(unparsed_statement::check)),
    rule!(index_not_concurrent, Some(index_not_concurrent::check)),
    rule!(constraint_not_valid, Some(constraint_not_valid::check)),
    rule!(table_rewrite, Some(table_rewrite::check)),
    rule!(not_null_scan, Some(not_null_scan::check)),
    rule!(ignored_file, None),
    rule!(version_order, None),
];

/// The rule with this id.
pub fn rule(id: &str) -> Option<&'static RuleInfo> {
    RULES.iter().find(|r| r.id == id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_rule_is_documented_and_tested() {
        let mut ids = std::collections::BTreeSet::new();
        for r in RULES {
            assert!(ids.insert(r.id), "{} listed twice", r.id);
            for part in ["What it flags", "Why it matters", "Instead", "Example"] {
                assert!(
                    r.doc.contains(part),
                    "{}: documentation lacks `{part}`",
                    r.id
                );
            }
            assert!(r.source.contains("fn ok_"), "{} has no ok test", r.id);
            assert!(r.source.contains("fn err_"), "{} has no err test", r.id);
        }
        assert_eq!(RULES.len(), 20);
    }
}

/// docs/rules.md, generated from the registry (a test keeps the file current).
pub fn rules_markdown() -> String {
    let mut out = String::from(
        "# Writing reversible migrations: the checker's rules\n\n\
         Generated from the rule registry (`migrate check --list-rules`, `migrate explain <rule>`); \
         do not edit by hand. Every finding can be accepted for one statement (or, at the top of a \
         file, for the file) with `-- migrate:allow <rule>: <reason>`; the reason is required and \
         shown to reviewers.\n\n| rule | default | flags |\n|---|---|---|\n",
    );
    for r in RULES {
        out.push_str(&format!(
            "| [`{}`](#{}) | {} | {} |\n",
            r.id,
            r.id,
            r.severity.name(),
            r.summary.replace('|', "\\|")
        ));
    }
    for r in RULES {
        out.push_str(&format!(
            "\n## {}\n\nDefault severity: {}.\n\n",
            r.id,
            r.severity.name()
        ));
        for para in r.doc.split("\n\n") {
            if let Some(example) = para.strip_prefix("Example:\n") {
                out.push_str("Example:\n\n```sql\n");
                for line in example.lines() {
                    out.push_str(line.strip_prefix("  ").unwrap_or(line));
                    out.push('\n');
                }
                out.push_str("```\n\n");
            } else {
                out.push_str(&para.replace('\n', " "));
                out.push_str("\n\n");
            }
        }
    }
    out
}

#[cfg(test)]
mod docs {
    #[test]
    fn rules_doc_is_current() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/rules.md");
        let want = super::rules_markdown();
        if std::env::var_os("MIGRATE_UPDATE_DOCS").is_some() {
            std::fs::write(path, &want).unwrap();
        }
        let have = std::fs::read_to_string(path).unwrap_or_default();
        assert!(
            have == want,
            "docs/rules.md is out of date: run `MIGRATE_UPDATE_DOCS=1 cargo test rules_doc_is_current`"
        );
    }
}
