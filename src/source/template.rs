//! The commented templates `migrate new` writes, and how to tell a script
//! that is still one (the loader, `check` and the runner agree on it).

use super::{Direction, StageKind};

const UP: &str = "-- {title}: what this migration changes, and why.\n";
const DOWN: &str = "-- Undo exactly what the up did, without losing data written since.\n-- Dropping something the up created loses it: put `-- migrate:archive`\n-- directly above such a DROP, or declare the down irreversible.\n";
const EXPAND_UP: &str = "-- {title} (expand): only add. The running application must keep working:\n-- new columns nullable or with a default, no drops, no renames.\n";
const EXPAND_DOWN: &str = "-- Undo the expand. It added what the new application writes to: archive\n-- before dropping (`-- migrate:archive` directly above the DROP).\n";
const CONTRACT_UP: &str = "-- {title} (contract): remove what only the old application used, once\n-- no instance of it is running. Archive what you drop so that it can come back.\n";
const CONTRACT_DOWN: &str =
    "-- Undo the contract: re-create what it removed; archived data is restored.\n";

/// The template for one script of a migration named `name` (`add_users`).
pub fn template(name: &str, stage: StageKind, direction: Direction) -> String {
    let text = match (stage, direction) {
        (StageKind::Main, Direction::Up) => UP,
        (StageKind::Main, Direction::Down) => DOWN,
        (StageKind::Expand, Direction::Up) => EXPAND_UP,
        (StageKind::Expand, Direction::Down) => EXPAND_DOWN,
        (StageKind::Contract, Direction::Up) => CONTRACT_UP,
        (StageKind::Contract, Direction::Down) => CONTRACT_DOWN,
    };
    text.replace("{title}", &name.replace('_', " "))
}

/// Whether `sql` is still the template `migrate new` wrote for it
/// (surrounding blank lines aside).
pub fn is_untouched(sql: &str, name: &str, stage: StageKind, direction: Direction) -> bool {
    sql.trim() == template(name, stage, direction).trim()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_template_is_untouched_until_edited() {
        let t = template("add_users", StageKind::Main, Direction::Up);
        assert!(t.contains("add users:"));
        assert!(is_untouched(
            &format!("\n{t}\n\n"),
            "add_users",
            StageKind::Main,
            Direction::Up
        ));
        assert!(!is_untouched(
            &format!("{t}-- nothing to do on SQLite\n"),
            "add_users",
            StageKind::Main,
            Direction::Up
        ));
        assert!(!is_untouched(
            &t,
            "add_user",
            StageKind::Main,
            Direction::Up
        ));
    }
}
