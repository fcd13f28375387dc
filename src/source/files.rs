//! Where the loader reads from: the disk, or the copy of a migrations
//! directory that `migrate::build` embedded in a binary. One loader over two
//! file systems, so embedded and command-line behaviour cannot differ.

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

/// A directory entry: its name (`None` when not UTF-8), its path, and
/// whether it is a directory when the listing already says so (`None`: ask
/// [`Files::is_dir`], which follows links).
pub(super) struct Listed {
    pub name: Option<String>,
    pub path: PathBuf,
    pub is_dir: Option<bool>,
}

/// The operations the loader needs.
pub(super) trait Files {
    /// The entries of a directory, in no particular order.
    fn list(&self, dir: &Path) -> io::Result<Vec<io::Result<Listed>>>;
    /// Whether `path` is a directory (links followed); an error for a broken link.
    fn is_dir(&self, path: &Path) -> io::Result<bool>;
    /// Whether `path` is a regular file.
    fn is_file(&self, path: &Path) -> bool;
    /// The file's bytes.
    fn read(&self, path: &Path) -> io::Result<Vec<u8>>;
}

/// The real file system.
pub(super) struct Disk;

impl Files for Disk {
    fn list(&self, dir: &Path) -> io::Result<Vec<io::Result<Listed>>> {
        Ok(fs::read_dir(dir)?
            .map(|entry| {
                entry.map(|e| Listed {
                    name: e.file_name().into_string().ok(),
                    path: e.path(),
                    // From the directory listing itself (no stat of each
                    // of a thousand files); a link is followed later.
                    is_dir: e
                        .file_type()
                        .ok()
                        .filter(|t| !t.is_symlink())
                        .map(|t| t.is_dir()),
                })
            })
            .collect())
    }

    fn is_dir(&self, path: &Path) -> io::Result<bool> {
        Ok(fs::metadata(path)?.is_dir())
    }

    fn is_file(&self, path: &Path) -> bool {
        path.is_file()
    }

    /// Open, read to the end, close: `fs::read` also asks for the file's
    /// size first, a fifth system call for a migration's few hundred bytes
    /// (a start-up with nothing to do is mostly these calls: 2.5 of 20 ms
    /// for a thousand migrations).
    fn read(&self, path: &Path) -> io::Result<Vec<u8>> {
        let mut bytes = Vec::with_capacity(4096);
        io::Read::read_to_end(
            &mut io::Read::take(fs::File::open(path)?, u64::MAX),
            &mut bytes,
        )?;
        Ok(bytes)
    }
}

/// Migrations embedded in a binary at build time, as `migrate::embed!`
/// expands: every file the loader read from the directory, and nothing else.
/// Load it with [`super::load_embedded`] (or `Migrator::embedded`).
#[derive(Debug, Clone, Copy)]
pub struct Embedded {
    /// The directory as the build script named it, e.g. `migrations`: the
    /// prefix of every path below, and what messages name.
    pub dir: &'static str,
    /// `(path, contents)` of each file, the path starting with `dir` and
    /// using `/` as separator.
    pub files: &'static [(&'static str, &'static [u8])],
}

/// An [`Embedded`] directory, indexed for the loader.
pub(super) struct Tree {
    root: PathBuf,
    files: BTreeMap<PathBuf, &'static [u8]>,
}

impl Tree {
    pub(super) fn new(embedded: &Embedded) -> Tree {
        Tree {
            root: PathBuf::from(embedded.dir),
            files: embedded
                .files
                .iter()
                .map(|(p, c)| (PathBuf::from(p), *c))
                .collect(),
        }
    }

    /// Embedded files under `dir`, in path order (they sort together).
    fn under<'a>(&'a self, dir: &'a Path) -> impl Iterator<Item = &'a PathBuf> + 'a {
        self.files
            .range(dir.to_path_buf()..)
            .map(|(p, _)| p)
            .take_while(move |p| p.starts_with(dir))
            .filter(move |p| p.as_path() != dir)
    }
}

impl Files for Tree {
    fn list(&self, dir: &Path) -> io::Result<Vec<io::Result<Listed>>> {
        if !self.is_dir(dir)? {
            return Err(io::Error::new(
                io::ErrorKind::NotFound,
                "not among the embedded files",
            ));
        }
        let mut names: Vec<String> = Vec::new();
        for path in self.under(dir) {
            let rest = path.strip_prefix(dir).unwrap_or(path);
            if let Some(first) = rest.components().next() {
                let name = first.as_os_str().to_string_lossy().into_owned();
                if names.last() != Some(&name) {
                    names.push(name);
                }
            }
        }
        Ok(names
            .into_iter()
            .map(|name| {
                Ok(Listed {
                    path: dir.join(&name),
                    name: Some(name),
                    is_dir: None,
                })
            })
            .collect())
    }

    fn is_dir(&self, path: &Path) -> io::Result<bool> {
        // The root is a directory even when it embedded no file.
        Ok(path == self.root || self.under(path).next().is_some())
    }

    fn is_file(&self, path: &Path) -> bool {
        self.files.contains_key(path)
    }

    fn read(&self, path: &Path) -> io::Result<Vec<u8>> {
        self.files
            .get(path)
            .map(|c| c.to_vec())
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "not among the embedded files"))
    }
}
