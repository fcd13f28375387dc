//! The source loader must never panic, whatever the file names and contents.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;

#[derive(Arbitrary, Debug)]
struct Tree {
    files: Vec<(String, Vec<u8>)>,
    dirs: Vec<(String, Vec<(String, Vec<u8>)>)>,
}

fn safe(name: &str) -> Option<String> {
    let n: String = name
        .chars()
        .filter(|c| !matches!(c, '/' | '\\' | '\0'))
        .take(60)
        .collect();
    (!n.is_empty() && n != "." && n != "..").then_some(n)
}

fuzz_target!(|tree: Tree| {
    let dir = tempfile::tempdir().unwrap();
    for (name, content) in tree.files.iter().take(16) {
        if let Some(n) = safe(name) {
            let _ = std::fs::write(dir.path().join(n), content);
        }
    }
    for (name, files) in tree.dirs.iter().take(8) {
        if let Some(n) = safe(name) {
            let d = dir.path().join(n);
            if std::fs::create_dir_all(&d).is_ok() {
                for (f, content) in files.iter().take(8) {
                    if let Some(f) = safe(f) {
                        let _ = std::fs::write(d.join(f), content);
                    }
                }
            }
        }
    }
    let _ = migrate::source::load(dir.path());
});
