//! One file per rule: its id, default severity, documentation, check and tests.

pub mod archive_needs_key;
pub mod constraint_not_valid;
pub mod down_not_inverse;
pub mod down_would_fail;
pub mod empty_stage;
pub mod expand_breaks_old_app;
pub mod ignored_file;
pub mod index_not_concurrent;
pub mod irreversible_up;
pub mod lossy_down;
pub mod missing_down;
pub mod needs_no_transaction;
pub mod not_null_scan;
pub mod suppression_without_reason;
pub mod syntax_error;
pub mod table_rewrite;
pub mod unparsed_statement;
pub mod unstaged_breaking_change;
pub mod unused_suppression;
pub mod version_order;
