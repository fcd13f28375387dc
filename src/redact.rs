//! Keeping passwords out of every message.
//!
//! Invariant: anything that prints or logs a database URL, or an error that
//! may quote one, passes it through [`redact_url`] or [`redact_secrets`] first.

/// The URL with its password (and any `password=` query value) replaced by `***`.
pub fn redact_url(url: &str) -> String {
    redact_secrets(url, &secrets_of(url))
}

/// The secrets a URL carries: its password, raw and percent-decoded, and the
/// values of `password`-like query parameters.
pub fn secrets_of(url: &str) -> Vec<String> {
    let mut secrets = Vec::new();
    if let Some((_, rest)) = url.split_once("://") {
        let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        let authority = &rest[..authority_end];
        if let Some((userinfo, _)) = authority.rsplit_once('@')
            && let Some((_, password)) = userinfo.split_once(':')
            && !password.is_empty()
        {
            secrets.push(password.to_string());
            let decoded = percent_decode(password);
            if decoded != password {
                secrets.push(decoded);
            }
        }
    }
    if let Some((_, query)) = url.split_once('?') {
        for pair in query.split('&') {
            if let Some((key, value)) = pair.split_once('=')
                && key.to_ascii_lowercase().contains("password")
                && !value.is_empty()
            {
                secrets.push(value.to_string());
                secrets.push(percent_decode(value));
            }
        }
    }
    // Longest first, so that a secret containing another is replaced whole.
    secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
    secrets.dedup();
    secrets
}

/// The secrets of every URL among `texts` (command-line arguments,
/// environment values), for redacting before anything else has read them.
pub fn secrets_in<'a>(texts: impl IntoIterator<Item = &'a str>) -> Vec<String> {
    let mut secrets: Vec<String> = texts
        .into_iter()
        .filter(|t| t.contains("://"))
        .flat_map(secrets_of)
        .collect();
    secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
    secrets.dedup();
    secrets
}

/// `text` with every occurrence of each secret replaced by `***`.
pub fn redact_secrets(text: &str, secrets: &[String]) -> String {
    let mut out = text.to_string();
    for secret in secrets {
        if !secret.is_empty() && out.contains(secret.as_str()) {
            out = out.replace(secret.as_str(), "***");
        }
    }
    out
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        // Hex digits read byte by byte: slicing the text at i + 1..i + 3
        // could cut a multi-byte character (and panic with the password in
        // the message).
        let hex = |b: u8| (b as char).to_digit(16);
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let (Some(hi), Some(lo)) = (hex(bytes[i + 1]), hex(bytes[i + 2]))
        {
            out.push((hi * 16 + lo) as u8);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_replaced() {
        assert_eq!(
            redact_url("postgres://app:s3cr%40t@db:5432/x?sslmode=require"),
            "postgres://app:***@db:5432/x?sslmode=require"
        );
        assert_eq!(
            redact_url("mysql://root@localhost/test"),
            "mysql://root@localhost/test"
        );
        assert_eq!(redact_url("sqlite://app.db"), "sqlite://app.db");
        let s = secrets_of("postgres://u:p%40ss@h/d?password=other");
        assert!(s.contains(&"p@ss".to_string()));
        assert_eq!(
            redact_secrets("auth p@ss failed, other", &s),
            "auth *** failed, ***"
        );
    }

    #[test]
    fn multibyte_text_after_a_percent_sign_is_no_panic() {
        let url = "postgres://app:s3cret%aé@db/x";
        let s = secrets_of(url);
        assert!(s.contains(&"s3cret%aé".to_string()), "{s:?}");
        assert_eq!(redact_url(url), "postgres://app:***@db/x");
        assert_eq!(secrets_of("mysql://u:%é%@h/d")[0], "%é%");
        let all = secrets_in(["--database-url", url, "status"]);
        assert_eq!(redact_secrets("x s3cret%aé y", &all), "x *** y");
    }
}
