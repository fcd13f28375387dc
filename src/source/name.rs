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

/// The order migrations run in, for two versions (the numbers, as stored).
///
/// One total order that reproduces each tool's own on its own histories:
/// - versions of fewer than 8 digits are sequence numbers (`0001`, `42`,
///   sqlx's and golang-migrate's `-seq`): they compare as integers and come
///   before every longer version;
/// - versions of 8 digits or more are dates and timestamps (`20240313`,
///   `20190226002946`, diesel 2.2's `20240102123456` + `0000`): they compare
///   digit by digit as text, as diesel compares its versions, so that a
///   shorter version that is a prefix of a longer one comes first and an
///   18-digit diesel version falls between the 14-digit ones of its day.
///
/// For timestamps of one length (what sqlx, golang-migrate and dbmate write)
/// this is the integer order. Where a directory holds long versions of
/// different lengths, integers and text may disagree; the loader warns about
/// each such pair ([`Source::warnings`](super::Source)).
pub fn cmp_versions(a: i64, b: i64) -> std::cmp::Ordering {
    const DATE_DIGITS: u32 = 8;
    let (da, db) = (digits(a), digits(b));
    match (da < DATE_DIGITS, db < DATE_DIGITS) {
        (true, true) => a.cmp(&b),
        (true, false) => std::cmp::Ordering::Less,
        (false, true) => std::cmp::Ordering::Greater,
        (false, false) => {
            // Text order of the decimal digits: scale both to 19 digits;
            // where one is a prefix of the other, the shorter comes first.
            let scale = |v: i64, d: u32| i128::from(v) * 10i128.pow(19 - d);
            scale(a, da).cmp(&scale(b, db)).then(da.cmp(&db))
        }
    }
}

/// Whether `version` lies beyond the target version `target` in run order
/// ([`cmp_versions`]). Target 0 means before everything: every version lies
/// beyond it, a version 0 (diesel's `00000000000000_diesel_initial_setup`)
/// included.
pub fn beyond(version: i64, target: i64) -> bool {
    target == 0 || cmp_versions(version, target).is_gt()
}

/// Whether integer order (sqlx, golang-migrate, Flyway) and [`cmp_versions`]
/// disagree about these two versions.
pub fn orders_disagree(a: i64, b: i64) -> bool {
    a.cmp(&b) != cmp_versions(a, b)
}

fn digits(v: i64) -> u32 {
    v.checked_ilog10().map_or(1, |l| l + 1)
}

/// What a Flyway (or refinery) file name declares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FlywayName {
    /// `V<version>__<name>.sql`: a versioned migration (its up).
    Versioned(VersionName),
    /// `U<version>__<name>.sql`: Flyway's undo of that version (its down).
    Undo(VersionName),
    /// `R__<name>.sql`: a repeatable migration, which has no version.
    Repeatable,
}

/// Reads `V1__create_users`, `U1__create_users` or `R__views` (the stem,
/// without `.sql`). `None`: not Flyway's naming. `Some(Err)`: Flyway's
/// naming with a version migrate cannot take.
pub fn parse_flyway_name(stem: &str) -> Option<Result<FlywayName, String>> {
    if stem.starts_with("R__") {
        return Some(Ok(FlywayName::Repeatable));
    }
    let (kind, rest) = match stem.as_bytes().first()? {
        b'V' => (true, &stem[1..]),
        b'U' => (false, &stem[1..]),
        _ => return None,
    };
    let (version_text, name) = rest.split_once("__")?;
    if version_text.is_empty() || !version_text.starts_with(|c: char| c.is_ascii_digit()) {
        return None;
    }
    if !version_text.chars().all(|c| c.is_ascii_digit()) {
        return Some(Err(format!(
            "Flyway version `{version_text}` has parts: migrate takes whole-number versions (V1, V2, V10, as refinery writes them); rename it to a whole number that keeps the order"
        )));
    }
    if name.is_empty() {
        return Some(Err(format!(
            "`{stem}` needs a name after `__`, like {}{version_text}__create_users",
            &stem[..1]
        )));
    }
    let version: i64 = match version_text.parse() {
        Ok(v) => v,
        Err(_) => {
            return Some(Err(format!(
                "version {version_text} is too large: versions must fit in a signed 64-bit integer (at most 19 digits)"
            )));
        }
    };
    let vn = VersionName {
        version,
        version_text: version_text.to_string(),
        name: name.to_string(),
    };
    Some(Ok(if kind {
        FlywayName::Versioned(vn)
    } else {
        FlywayName::Undo(vn)
    }))
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

    #[test]
    fn order_is_integer_for_sequences_and_text_for_timestamps() {
        use std::cmp::Ordering::*;
        // sequences: integers
        assert_eq!(cmp_versions(2, 10), Less);
        assert_eq!(cmp_versions(0, 1), Less);
        // a sequence before any timestamp
        assert_eq!(cmp_versions(999, 20190101000000), Less);
        // diesel 2.2's 18 digits fall between the 14-digit versions of their day
        let old = 20231201000000; // 2023-12-01-000000
        let new18 = 202312150000000000; // 2023-12-15-000000-0000
        let jan = 20240101000000; // 2024-01-01-000000
        assert_eq!(cmp_versions(old, new18), Less);
        assert_eq!(cmp_versions(new18, jan), Less);
        assert!(orders_disagree(new18, jan));
        // a hand-written short date after 2018
        assert_eq!(cmp_versions(20240313, 20180101000000), Greater);
        // a prefix comes first
        assert_eq!(cmp_versions(20240102123456, 202401021234560000), Less);
        // one length: the integer order
        assert!(!orders_disagree(20240101000000, 20240101000001));
        assert_eq!(cmp_versions(i64::MAX, i64::MAX), Equal);
    }

    #[test]
    fn flyway_names() {
        let Some(Ok(FlywayName::Versioned(v))) = parse_flyway_name("V10__create_users") else {
            panic!()
        };
        assert_eq!((v.version, v.name.as_str()), (10, "create_users"));
        assert!(matches!(
            parse_flyway_name("U10__create_users"),
            Some(Ok(FlywayName::Undo(_)))
        ));
        assert_eq!(
            parse_flyway_name("R__views"),
            Some(Ok(FlywayName::Repeatable))
        );
        assert!(
            parse_flyway_name("V2_1__x")
                .unwrap()
                .unwrap_err()
                .contains("whole-number")
        );
        assert_eq!(parse_flyway_name("Views"), None);
        assert_eq!(parse_flyway_name("0001_x"), None);
    }
}
