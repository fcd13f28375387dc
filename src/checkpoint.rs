//! Checkpoints: a name bound to an exact database state, the set of applied
//! (version, stage) pairs.
//!
//! Invariant: pure. Names are letters, digits, `.`, `_` and `-`, not all
//! digits (so a target is never ambiguous with a version); names starting
//! with `@` are migrate's own (`@previous`, `@run:<id>`).

use std::collections::BTreeSet;

use crate::source::{Source, StageKind};

/// An applied state.
pub type State = BTreeSet<(i64, StageKind)>;

/// Checks a checkpoint name given by a user.
pub fn validate_name(name: &str) -> Result<(), String> {
    if name.is_empty() || name.len() > 200 {
        return Err(format!(
            "checkpoint name `{name}` must be 1 to 200 characters"
        ));
    }
    if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
    {
        return Err(format!(
            "checkpoint name `{name}` may hold only letters, digits, `.`, `_` and `-` (like release-2.4.1)"
        ));
    }
    if name.chars().all(|c| c.is_ascii_digit()) {
        return Err(format!(
            "checkpoint name `{name}` is all digits and would read as a version: add a letter (v{name})"
        ));
    }
    Ok(())
}

/// `1:main,7:expand`.
pub fn encode(state: &State) -> String {
    state
        .iter()
        .map(|(v, s)| format!("{v}:{s}"))
        .collect::<Vec<_>>()
        .join(",")
}

/// Reads [`encode`]'s form.
pub fn decode(text: &str) -> Option<State> {
    text.split(',')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (v, s) = p.split_once(':')?;
            Some((v.parse().ok()?, StageKind::parse(s)?))
        })
        .collect()
}

/// The state a `checkpoints.toml` entry names: every stage of the source up
/// to and including `VERSION` (all its stages) or `VERSION:STAGE`.
pub fn state_of_source_target(source: &Source, target: &str) -> Result<State, String> {
    let (version, stage) = match target.split_once(':') {
        Some((v, s)) => (
            v,
            Some(
                StageKind::parse(s)
                    .ok_or_else(|| format!("unknown stage `{s}` (main, expand or contract)"))?,
            ),
        ),
        None => (target, None),
    };
    let version: i64 = version
        .parse()
        .map_err(|_| format!("`{target}` is not VERSION or VERSION:STAGE"))?;
    let m = source
        .get(version)
        .ok_or_else(|| format!("no migration has version {version}"))?;
    if let Some(s) = stage
        && m.stage(s).is_none()
    {
        return Err(format!("{} has no {s} stage", m.label()));
    }
    let mut state = State::new();
    for m in source
        .migrations
        .iter()
        .take_while(|m| !crate::source::beyond(m.version, version))
    {
        for s in &m.stages {
            if m.version == version && stage.is_some_and(|want| s.kind > want) {
                continue;
            }
            state.insert((m.version, s.kind));
        }
    }
    Ok(state)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert!(validate_name("release-2.4.1").is_ok());
        assert!(validate_name("v1").is_ok());
        assert!(validate_name("2024").unwrap_err().contains("all digits"));
        assert!(validate_name("bad name").is_err());
        assert!(validate_name("@previous").is_err());
        assert!(validate_name("").is_err());
    }

    #[test]
    fn states_round_trip() {
        let s: State = [(1, StageKind::Main), (7, StageKind::Expand)]
            .into_iter()
            .collect();
        assert_eq!(encode(&s), "1:main,7:expand");
        assert_eq!(decode(&encode(&s)), Some(s));
        assert_eq!(decode(""), Some(State::new()));
        assert_eq!(decode("x:main"), None);
    }
}
