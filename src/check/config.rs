//! `[check]` in `migrate.toml`: read by `migrate check` and by
//! `migrate::build`, so a build checks the way CI does.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::Severity;
use super::registry::rule;
use crate::sql::Dialect;

/// The `[check]` table.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct CheckConfig {
    /// Dialect when no database URL says it: `postgres`, `mysql` or `sqlite`.
    pub dialect: Option<ConfigDialect>,
    /// Severity per rule: "error", "warning", "info" or "off".
    pub rules: Option<BTreeMap<String, String>>,
}

/// A dialect as `migrate.toml` spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ConfigDialect {
    /// PostgreSQL.
    Postgres,
    /// MySQL and MariaDB.
    Mysql,
    /// SQLite.
    Sqlite,
}

impl From<ConfigDialect> for Dialect {
    fn from(d: ConfigDialect) -> Dialect {
        match d {
            ConfigDialect::Postgres => Dialect::Postgres,
            ConfigDialect::Mysql => Dialect::Mysql,
            ConfigDialect::Sqlite => Dialect::Sqlite,
        }
    }
}

impl CheckConfig {
    /// The `[check]` table of a whole `migrate.toml` text (`None` without one).
    /// Other tables and keys are left to their readers.
    pub fn from_migrate_toml(text: &str) -> Result<Option<CheckConfig>, String> {
        let table: toml::Table = toml::from_str(text).map_err(|e| e.to_string())?;
        match table.get("check") {
            None => Ok(None),
            Some(value) => CheckConfig::deserialize(value.clone())
                .map(Some)
                .map_err(|e| format!("[check]: {e}")),
        }
    }

    /// The per-rule severities, validated: an unknown rule or level is an
    /// error that names it.
    pub fn severities(&self) -> Result<BTreeMap<String, Option<Severity>>, String> {
        let mut out = BTreeMap::new();
        for (id, level) in self.rules.iter().flatten() {
            if rule(id).is_none() {
                return Err(format!(
                    "[check.rules] names unknown rule `{id}` (`migrate check --list-rules` lists them)"
                ));
            }
            let severity = match level.as_str() {
                "error" => Some(Severity::Error),
                "warning" => Some(Severity::Warning),
                "info" => Some(Severity::Info),
                "off" => None,
                other => {
                    return Err(format!(
                        "[check.rules] {id} = \"{other}\": use error, warning, info or off"
                    ));
                }
            };
            out.insert(id.clone(), severity);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_check_table_and_names_what_is_wrong() {
        let c = CheckConfig::from_migrate_toml(
            "source = \"db\"\n[check]\ndialect = \"mysql\"\n[check.rules]\nlossy-down = \"warning\"\ntable-rewrite = \"off\"\n",
        )
        .unwrap()
        .unwrap();
        assert_eq!(c.dialect, Some(ConfigDialect::Mysql));
        let s = c.severities().unwrap();
        assert_eq!(s["lossy-down"], Some(Severity::Warning));
        assert_eq!(s["table-rewrite"], None);
        assert!(
            CheckConfig::from_migrate_toml("source = \"db\"\n")
                .unwrap()
                .is_none()
        );
        let bad = CheckConfig::from_migrate_toml("[check.rules]\nno-such-rule = \"off\"\n")
            .unwrap()
            .unwrap();
        assert!(bad.severities().unwrap_err().contains("no-such-rule"));
        let bad = CheckConfig::from_migrate_toml("[check.rules]\nlossy-down = \"loud\"\n")
            .unwrap()
            .unwrap();
        assert!(bad.severities().unwrap_err().contains("loud"));
        let bad = CheckConfig::from_migrate_toml("[check]\ndialet = \"mysql\"\n").unwrap_err();
        assert!(bad.contains("dialet"), "{bad}");
    }
}
