//! Versions and names from file names.

/// The version and name read from `<version>_<name>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionName {
    /// The number: the leading digits, with the dashes of a diesel timestamp removed.
    pub version: i64,
    /// The version as written.
    pub version_text: String,
    /// What follows the `_`.
    pub name: String,
}

/// Reads `0003_add_x` or `2019-02-26-002946_create_user`.
pub fn parse_version_name(stem: &str) -> Result<VersionName, String> {
    let end = stem
        .find(|c: char| !(c.is_ascii_digit() || c == '-'))
        .unwrap_or(stem.len());
    let version_text = &stem[..end];
    if !version_text.starts_with(|c: char| c.is_ascii_digit()) {
        return Err(format!(
            "`{stem}` has no version: a migration's name starts with its version, like 0001_{stem} or 20240101120000_{stem}"
        ));
    }
    let rest = &stem[end..];
    let Some(name) = rest.strip_prefix('_').filter(|n| !n.is_empty()) else {
        return Err(format!(
            "`{stem}` needs `_<name>` after its version, like {version_text}_create_users"
        ));
    };
    let digits: String = version_text.chars().filter(char::is_ascii_digit).collect();
    let version: i64 = digits.parse().map_err(|_| {
        format!("version {version_text} is too large: versions must fit in a signed 64-bit integer (at most 19 digits)")
    })?;
    Ok(VersionName {
        version,
        version_text: version_text.to_string(),
        name: name.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions() {
        let v = parse_version_name("0003_add_x").unwrap();
        assert_eq!(
            (v.version, v.version_text.as_str(), v.name.as_str()),
            (3, "0003", "add_x")
        );
        let v = parse_version_name("2019-02-26-002946_create_user").unwrap();
        assert_eq!(v.version, 20190226002946);
        assert_eq!(v.version_text, "2019-02-26-002946");
        assert!(
            parse_version_name("add_x")
                .unwrap_err()
                .contains("no version")
        );
        assert!(
            parse_version_name("0003")
                .unwrap_err()
                .contains("needs `_<name>`")
        );
        assert!(parse_version_name("0003-x").is_err());
        assert!(
            parse_version_name("99999999999999999999_x")
                .unwrap_err()
                .contains("too large")
        );
    }
}
