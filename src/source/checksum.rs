//! Checksums of scripts.
//!
//! What is hashed (algorithm `sha256-v1`): the script's UTF-8 text after
//! removing one leading byte-order mark and replacing every CRLF with LF.
//! For a single-file migration, each section (the text after its marker line)
//! is hashed on its own. Nothing else is changed: trailing spaces, comments
//! and blank lines all count.

use std::fmt;

use serde::{Serialize, Serializer};
use sha2::{Digest, Sha256};

/// `sha256-v1:<64 hex digits>`: the tag lets the normalisation evolve
/// without making old histories look like drift.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Checksum(pub String);

impl Checksum {
    /// The tagged text, as stored in the history.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Checksum {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Serialize for Checksum {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

/// Removes a leading BOM and turns CRLF into LF.
pub fn normalize(text: &str) -> String {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    if text.contains("\r\n") {
        text.replace("\r\n", "\n")
    } else {
        text.to_string()
    }
}

/// The checksum of already normalised text.
pub fn checksum(normalized: &str) -> Checksum {
    let digest = Sha256::digest(normalized.as_bytes());
    let mut out = String::with_capacity(10 + 64);
    out.push_str("sha256-v1:");
    for byte in digest.iter() {
        out.push(char::from(b"0123456789abcdef"[usize::from(byte >> 4)]));
        out.push(char::from(b"0123456789abcdef"[usize::from(byte & 15)]));
    }
    Checksum(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_endings_and_bom_do_not_change_the_checksum() {
        let lf = checksum(&normalize("CREATE TABLE a (x int);\nDROP TABLE b;\n"));
        let crlf = checksum(&normalize("CREATE TABLE a (x int);\r\nDROP TABLE b;\r\n"));
        let bom = checksum(&normalize(
            "\u{feff}CREATE TABLE a (x int);\r\nDROP TABLE b;\n",
        ));
        assert_eq!(lf, crlf);
        assert_eq!(lf, bom);
        assert_ne!(lf, checksum("CREATE TABLE a (x int);\n"));
        assert_eq!(
            checksum("").as_str(),
            "sha256-v1:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }
}
