//! The library's documented public API, listed from the source: every
//! `pub` item (and method of a public type) in the modules `src/lib.rs`
//! declares `pub` without `#[doc(hidden)]`, recursively. The list is kept in
//! ARCHITECTURE.md between `<!-- public-api:start -->` and
//! `<!-- public-api:end -->`; a change to the API fails this test until the
//! list is updated there (review it, then run with `UPDATE_PUBLIC_API=1`).
//!
//! This reads Rust source of this crate, written in one style (rustfmt), not
//! SQL; `cargo public-api` would do it from rustdoc's JSON, which needs a
//! nightly toolchain these machines do not have.

use std::path::{Path, PathBuf};

const START: &str = "<!-- public-api:start -->";
const END: &str = "<!-- public-api:end -->";

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// The file of module `name` declared in `dir` (`name.rs` or `name/mod.rs`).
fn module_file(dir: &Path, name: &str) -> (PathBuf, PathBuf) {
    let flat = dir.join(format!("{name}.rs"));
    if flat.exists() {
        (flat, dir.join(name))
    } else {
        (dir.join(name).join("mod.rs"), dir.join(name))
    }
}

/// The name a `pub` line declares: `fn x`, `struct X`, `use a::{b, c}` ...
fn declared(rest: &str) -> Option<String> {
    let rest = rest
        .trim_start_matches("async ")
        .trim_start_matches("const fn ");
    for kw in [
        "fn ", "struct ", "enum ", "trait ", "type ", "const ", "static ", "macro ",
    ] {
        if let Some(r) = rest.strip_prefix(kw) {
            let name: String = r
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            return Some(format!("{}{name}", kw));
        }
    }
    None
}

/// The public items of the module in `file`; with `items` false (a private
/// module) only the public methods of its inherent `impl` blocks, which are
/// part of the API wherever they are written.
fn list(file: &Path, dir: &Path, path: &str, items: bool, out: &mut Vec<String>) {
    let text = std::fs::read_to_string(file).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let mut impl_of: Option<String> = None;
    let mut skip_until_close = false;
    let mut hidden = false;
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i];
        i += 1;
        if skip_until_close {
            if line == "}" {
                skip_until_close = false;
            }
            continue;
        }
        let t = line.trim();
        if t.is_empty() {
            continue;
        }
        if t.starts_with("#[doc(hidden)]") {
            hidden = true;
            continue;
        }
        if t.starts_with("#[") || t.starts_with("///") || t.starts_with("//") {
            continue;
        }
        let was_hidden = std::mem::replace(&mut hidden, false);
        if !line.starts_with(' ') {
            // Top level.
            impl_of = None;
            if line.starts_with("impl") && line.ends_with('{') {
                // `impl<T> Type<T> {` (inherent) or `impl Trait for Type {`.
                if !line.contains(" for ") {
                    let after = line.trim_start_matches("impl");
                    let after = if after.starts_with('<') {
                        &after[after.find('>').unwrap() + 1..]
                    } else {
                        after
                    };
                    let name: String = after
                        .trim()
                        .chars()
                        .take_while(|c| c.is_alphanumeric() || *c == '_')
                        .collect();
                    impl_of = Some(name);
                }
                continue;
            }
            if (line.starts_with("mod ") || line.starts_with("pub(crate) mod "))
                && line.ends_with('{')
            {
                skip_until_close = true;
                continue;
            }
            if let Some(name) = line
                .strip_prefix("mod ")
                .or_else(|| line.strip_prefix("pub(crate) mod "))
                .and_then(|m| m.strip_suffix(';'))
            {
                let (f, d) = module_file(dir, name);
                list(&f, &d, path, false, out);
                continue;
            }
            if !items {
                continue;
            }
            let Some(rest) = line.strip_prefix("pub ") else {
                continue;
            };
            if was_hidden {
                if rest.starts_with("mod ") && rest.ends_with('{') {
                    skip_until_close = true;
                }
                continue;
            }
            if let Some(m) = rest.strip_prefix("mod ") {
                let name = m.trim_end_matches(';').trim_end_matches(" {");
                if m.ends_with(';') {
                    let (f, d) = module_file(dir, name);
                    list(&f, &d, &format!("{path}::{name}"), true, out);
                }
                continue;
            }
            if rest.starts_with("use ") {
                // A re-export: the whole statement, joined onto one line.
                let mut stmt = rest.to_string();
                while !stmt.ends_with(';') {
                    stmt.push_str(lines[i].trim());
                    stmt.push(' ');
                    stmt = stmt.trim_end().to_string();
                    i += 1;
                }
                let stmt = stmt
                    .replace("{ ", "{")
                    .replace(",}", "}")
                    .replace(", }", "}");
                out.push(format!(
                    "{path}: {}",
                    stmt.replace(",", ", ").replace(",  ", ", ")
                ));
                continue;
            }
            if let Some(d) = declared(rest) {
                out.push(format!("{path}: {d}"));
            }
        } else if let (Some(ty), Some(rest)) = (&impl_of, line.strip_prefix("    pub ")) {
            if was_hidden {
                continue;
            }
            if let Some(d) = declared(rest) {
                out.push(format!("{path}: {ty}::{}", d.trim_start_matches("fn ")));
            }
        }
    }
}

#[test]
fn the_public_api_is_the_list_in_architecture_md() {
    let mut items = Vec::new();
    list(&src().join("lib.rs"), &src(), "migrate", true, &mut items);
    // Methods count only on types that are public themselves (declared
    // `pub`, or re-exported by a `pub use`).
    let mut public_types = std::collections::HashSet::new();
    for item in &items {
        let decl = item.split_once(": ").map_or("", |(_, d)| d);
        for kw in ["struct ", "enum ", "trait ", "type "] {
            if let Some(name) = decl.strip_prefix(kw) {
                public_types.insert(name.to_string());
            }
        }
        if let Some(u) = decl.strip_prefix("use ") {
            for name in u.split(|c: char| !(c.is_alphanumeric() || c == '_')) {
                public_types.insert(name.to_string());
            }
        }
    }
    items.retain(|item| {
        let decl = item.split_once(": ").map_or("", |(_, d)| d);
        match decl.split_once("::") {
            Some((ty, _)) if !decl.starts_with("use ") => public_types.contains(ty),
            _ => true,
        }
    });
    items.sort();
    items.dedup();
    let listed = items.join("\n");
    let md_path = Path::new(env!("CARGO_MANIFEST_DIR")).join("ARCHITECTURE.md");
    let md = std::fs::read_to_string(&md_path).unwrap();
    let (Some(a), Some(b)) = (md.find(START), md.find(END)) else {
        panic!("ARCHITECTURE.md has no {START} ... {END} block");
    };
    let block = md[a + START.len()..b]
        .trim()
        .trim_start_matches("```text")
        .trim_end_matches("```")
        .trim();
    if block == listed {
        return;
    }
    if std::env::var_os("UPDATE_PUBLIC_API").is_some() {
        let new = format!("{}{START}\n```text\n{listed}\n```\n{}", &md[..a], &md[b..]);
        std::fs::write(&md_path, new).unwrap();
        return;
    }
    let old: std::collections::BTreeSet<&str> = block.lines().collect();
    let new: std::collections::BTreeSet<&str> = listed.lines().collect();
    let added: Vec<_> = new.difference(&old).collect();
    let removed: Vec<_> = old.difference(&new).collect();
    panic!(
        "the public API changed; review it, then update ARCHITECTURE.md with \
         `UPDATE_PUBLIC_API=1 cargo test -p migrate-back --test public_api`\n\
         added: {added:#?}\nremoved: {removed:#?}"
    );
}
