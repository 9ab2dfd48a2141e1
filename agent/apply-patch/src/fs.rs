//! The file system operations the engine uses, behind a trait so that tests can make any of them fail.

use std::fs::{self, Metadata, OpenOptions, Permissions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::error::ReadError;

pub(crate) trait Fs {
    fn metadata(&self, path: &Path) -> io::Result<Metadata>;
    fn symlink_metadata(&self, path: &Path) -> io::Result<Metadata>;
    fn read(&self, path: &Path) -> io::Result<Vec<u8>>;
    fn read_link(&self, path: &Path) -> io::Result<PathBuf>;
    fn create_dir(&self, path: &Path) -> io::Result<()>;
    fn remove_dir(&self, path: &Path) -> io::Result<()>;
    fn remove_file(&self, path: &Path) -> io::Result<()>;
    fn symlink(&self, target: &Path, link: &Path) -> io::Result<()>;
    /// Puts `contents` at `path` atomically: readers see the old file or the new one, never a mix. The new file
    /// gets `permissions`, or the defaults for a new file. Fails where writing an existing file in place would.
    fn replace(&self, path: &Path, contents: &[u8], permissions: Option<Permissions>) -> io::Result<()>;
}

/// The real file system.
pub(crate) struct RealFs;

impl Fs for RealFs {
    fn metadata(&self, path: &Path) -> io::Result<Metadata> {
        fs::metadata(path)
    }

    fn symlink_metadata(&self, path: &Path) -> io::Result<Metadata> {
        fs::symlink_metadata(path)
    }

    fn read(&self, path: &Path) -> io::Result<Vec<u8>> {
        fs::read(path)
    }

    fn read_link(&self, path: &Path) -> io::Result<PathBuf> {
        fs::read_link(path)
    }

    fn create_dir(&self, path: &Path) -> io::Result<()> {
        fs::create_dir(path)
    }

    fn remove_dir(&self, path: &Path) -> io::Result<()> {
        fs::remove_dir(path)
    }

    fn remove_file(&self, path: &Path) -> io::Result<()> {
        fs::remove_file(path)
    }

    #[cfg(unix)]
    fn symlink(&self, target: &Path, link: &Path) -> io::Result<()> {
        std::os::unix::fs::symlink(target, link)
    }

    #[cfg(not(unix))]
    fn symlink(&self, _: &Path, _: &Path) -> io::Result<()> {
        Err(io::Error::from(io::ErrorKind::Unsupported))
    }

    fn replace(&self, path: &Path, contents: &[u8], permissions: Option<Permissions>) -> io::Result<()> {
        // Upstream writes in place, which needs permission to write the file itself; renaming over it would
        // not. Opening it for writing (without truncating) asks the operating system the same question.
        if fs::symlink_metadata(path).is_ok_and(|metadata| metadata.is_file()) {
            OpenOptions::new().write(true).open(path)?;
        }
        let (temp_path, mut temp) = create_sibling(path)?;
        let written = temp
            .write_all(contents)
            .and_then(|()| match permissions {
                Some(permissions) => temp.set_permissions(permissions),
                None => Ok(()),
            })
            .and_then(|()| {
                drop(temp);
                fs::rename(&temp_path, path)
            });
        if written.is_err() {
            let _ = fs::remove_file(&temp_path);
        }
        written
    }
}

/// Creates an unused file next to `path`. Created like any new file (not with a temporary file's private
/// permissions), so that a new file ends up with the permissions an editor would give it.
fn create_sibling(path: &Path) -> io::Result<(PathBuf, fs::File)> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let parent = path.parent().unwrap_or(Path::new("."));
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    loop {
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let temp_path = parent.join(format!(".{name}.{}.{n}.apply-patch", std::process::id()));
        match OpenOptions::new().write(true).create_new(true).open(&temp_path) {
            Ok(file) => return Ok((temp_path, file)),
            Err(err) if err.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(err) => return Err(err),
        }
    }
}

/// Reads a file as text, following symlinks; a directory or other non-file is an error, not something to read.
pub(crate) fn read_text(fs: &dyn Fs, path: &Path) -> Result<String, ReadError> {
    let metadata = fs.metadata(path).map_err(ReadError::Io)?;
    if !metadata.is_file() {
        return Err(ReadError::NotAFile(path.to_path_buf()));
    }
    let bytes = fs.read(path).map_err(ReadError::Io)?;
    String::from_utf8(bytes).map_err(|err| ReadError::NotUtf8(err.utf8_error()))
}

/// The path a write to `path` lands on: through any symlinks, as writing through the path would.
pub(crate) fn write_target(fs: &dyn Fs, path: &Path) -> io::Result<PathBuf> {
    // Linux's own limit on a chain of symlinks.
    const MAX_LINKS: usize = 40;
    let mut current = path.to_path_buf();
    for _ in 0..MAX_LINKS {
        match fs.symlink_metadata(&current) {
            Ok(metadata) if metadata.file_type().is_symlink() => {
                let target = fs.read_link(&current)?;
                current = match current.parent() {
                    Some(parent) if target.is_relative() => parent.join(target),
                    _ => target,
                };
            }
            _ => return Ok(current),
        }
    }
    Err(io::Error::other("too many levels of symbolic links"))
}

/// "No such file or directory", worded as the operating system words it.
pub(crate) fn not_found() -> io::Error {
    #[cfg(unix)]
    {
        // ENOENT, which upstream's message quotes with its number.
        io::Error::from_raw_os_error(2)
    }
    #[cfg(not(unix))]
    {
        io::Error::from(io::ErrorKind::NotFound)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replace_writes_atomically_and_keeps_permissions() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        RealFs.replace(&path, b"one", None).unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"one");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            fs::set_permissions(&path, Permissions::from_mode(0o751)).unwrap();
            let permissions = fs::metadata(&path).unwrap().permissions();
            RealFs.replace(&path, b"two", Some(permissions)).unwrap();
            assert_eq!(fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o751);
        }
        assert_eq!(fs::read(&path).unwrap(), b"two");
        let names: Vec<_> = fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names, ["f"], "no temporary file is left behind");
    }

    #[test]
    fn replace_into_a_missing_directory_fails_cleanly() {
        let dir = tempfile::tempdir().unwrap();
        assert!(RealFs.replace(&dir.path().join("no/f"), b"x", None).is_err());
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[test]
    fn read_text_words_failures_as_upstream_does() {
        let dir = tempfile::tempdir().unwrap();
        let missing = read_text(&RealFs, &dir.path().join("missing")).unwrap_err();
        assert_eq!(missing.to_string(), not_found().to_string());
        let not_a_file = read_text(&RealFs, dir.path()).unwrap_err();
        assert_eq!(not_a_file.to_string(), format!("path `{}` is not a file", dir.path().display()));
        fs::write(dir.path().join("bin"), b"a\xff\xfe\n").unwrap();
        let binary = read_text(&RealFs, &dir.path().join("bin")).unwrap_err();
        assert_eq!(binary.to_string(), "invalid utf-8 sequence of 1 bytes from index 1");
    }

    #[cfg(unix)]
    #[test]
    fn write_target_follows_symlink_chains() {
        let dir = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink("b", dir.path().join("a")).unwrap();
        std::os::unix::fs::symlink("c", dir.path().join("b")).unwrap();
        assert_eq!(write_target(&RealFs, &dir.path().join("a")).unwrap(), dir.path().join("c"));
        std::os::unix::fs::symlink("loop", dir.path().join("loop")).unwrap();
        assert!(write_target(&RealFs, &dir.path().join("loop")).is_err());
    }
}
