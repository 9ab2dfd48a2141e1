//! Applying a patch all or nothing, in upstream's order of checks.
//!
//! Upstream (0.169.0) first verifies every hunk against the tree as it is, each on its own; then asks the
//! sandbox; then applies the hunks one after the other, re-reading each file, so a hunk can fail on what an
//! earlier one did, leaving the earlier ones applied. Here the same steps run, with the same errors in the same
//! order, but applying happens on an in-memory overlay of the tree first: only when every hunk has applied there
//! is anything written, and a failed write rolls back the ones before it.

use std::collections::{BTreeMap, HashSet};
use std::path::{Component, Path, PathBuf};

use crate::change::{ChangeKind, FileChange, sort_changes};
use crate::commit::{self, Final, Removal};
use crate::error::{ApplyError, HunkError, HunkErrorKind, ReadError};
use crate::fs::{Fs, not_found, read_text};
use crate::outcome::Applied;
use crate::parser::{Chunk, Hunk, Patch};
use crate::policy::WritePolicy;
use crate::text::apply_chunks;

/// The absolute paths a hunk touches.
struct Target {
    path: PathBuf,
    move_to: Option<PathBuf>,
}

pub(crate) fn apply(patch: &Patch, cwd: &Path, policy: &dyn WritePolicy, fs: &dyn Fs) -> Result<Applied, ApplyError> {
    let (targets, changes) = checked(patch, cwd, fs)?;
    for (number, target) in (1..).zip(&targets) {
        for path in std::iter::once(&target.path).chain(&target.move_to) {
            policy.check(path).map_err(|refusal| ApplyError::Rejected { hunk: number, path: path.clone(), refusal })?;
        }
    }
    let failed =
        |error, unrestored| ApplyError::Failed { error: Box::new(error), changes: changes.clone(), unrestored };
    let outcome = simulate(patch, &targets, fs).map_err(|error| failed(error, Vec::new()))?;
    commit::commit(fs, &outcome).map_err(|(error, unrestored)| failed(error, unrestored))?;
    Ok(Applied::new(patch, changes))
}

/// Steps 2 and 3 but the policy: what each hunk would do, checked against the tree, nothing written.
pub(crate) fn preview(patch: &Patch, cwd: &Path, fs: &dyn Fs) -> Result<Vec<FileChange>, ApplyError> {
    checked(patch, cwd, fs).map(|(_, changes)| changes)
}

/// The paths each hunk touches, and what it would do, once the patch has hunks and every hunk fits the tree.
fn checked(patch: &Patch, cwd: &Path, fs: &dyn Fs) -> Result<(Vec<Target>, Vec<FileChange>), ApplyError> {
    let targets: Vec<Target> = patch
        .hunks
        .iter()
        .map(|hunk| Target {
            path: resolve(cwd, hunk.path()),
            move_to: match hunk {
                Hunk::Update { move_to: Some(to), .. } => Some(resolve(cwd, to)),
                _ => None,
            },
        })
        .collect();

    if patch.hunks.is_empty() {
        return Err(ApplyError::EmptyPatch);
    }
    let changes = verify(patch, &targets, fs)?;
    Ok((targets, changes))
}

/// `path` against `cwd`, with `.` and `..` resolved lexically, as upstream resolves patch paths.
pub(crate) fn resolve(cwd: &Path, path: &Path) -> PathBuf {
    let mut resolved = PathBuf::new();
    for component in cwd.join(path).components() {
        match component {
            Component::CurDir => {}
            Component::ParentDir => {
                resolved.pop();
            }
            other => resolved.push(other),
        }
    }
    resolved
}

/// Checks every hunk against the tree as it is, each on its own, and says what each would do.
fn verify(patch: &Patch, targets: &[Target], fs: &dyn Fs) -> Result<Vec<FileChange>, ApplyError> {
    let mut seen = HashSet::new();
    let mut changes = Vec::with_capacity(targets.len());
    for ((number, hunk), target) in (1..).zip(&patch.hunks).zip(targets) {
        let path = &target.path;
        if !seen.insert(path) {
            return Err(ApplyError::DuplicatePath { hunk: number, path: path.clone() });
        }
        let change = match hunk {
            Hunk::Add { contents, .. } => FileChange {
                path: path.clone(),
                kind: ChangeKind::Add,
                move_to: None,
                before: None,
                after: Some(contents.clone()),
            },
            Hunk::Delete { .. } => FileChange {
                path: path.clone(),
                kind: ChangeKind::Delete,
                move_to: None,
                before: Some(read_text(fs, path).map_err(|err| {
                    let kind = HunkErrorKind::ReadForDelete(err);
                    ApplyError::Verification(Box::new(HunkError::new(number, path, kind)))
                })?),
                after: None,
            },
            Hunk::Update { chunks, .. } => {
                let (before, after) = update(|path| read_text(fs, path), number, path, chunks)
                    .map_err(|err| ApplyError::Verification(Box::new(err)))?;
                FileChange {
                    path: path.clone(),
                    kind: ChangeKind::Update,
                    move_to: target.move_to.clone(),
                    before: Some(before),
                    after: Some(after),
                }
            }
        };
        changes.push(change);
    }
    sort_changes(&mut changes);
    Ok(changes)
}

/// Reads the file an update names, through `read`, and applies the update's chunks: the text before and after.
fn update(
    read: impl Fn(&Path) -> Result<String, ReadError>,
    hunk: usize,
    path: &Path,
    chunks: &[Chunk],
) -> Result<(String, String), HunkError> {
    let before = read(path).map_err(|err| HunkError::new(hunk, path, HunkErrorKind::ReadForUpdate(err)))?;
    let after = apply_chunks(&before, chunks).map_err(|misfit| HunkError::misfit(hunk, path, misfit))?;
    Ok((before, after))
}

/// Applies the hunks in order to an overlay of the tree, failing where upstream's in-place application would.
fn simulate(patch: &Patch, targets: &[Target], fs: &dyn Fs) -> Result<BTreeMap<PathBuf, (usize, Final)>, HunkError> {
    let mut overlay = Overlay { fs, entries: BTreeMap::new() };
    for ((number, hunk), target) in (1..).zip(&patch.hunks).zip(targets) {
        let path = &target.path;
        match hunk {
            Hunk::Add { contents, .. } => overlay.write(number, path, contents.clone())?,
            Hunk::Delete { .. } => overlay.delete(number, path)?,
            Hunk::Update { chunks, .. } => {
                let (_, after) = update(|path| overlay.read_text(path), number, path, chunks)?;
                match &target.move_to {
                    // Upstream writes the destination and then removes the source, which for a move onto
                    // itself loses the file; an in-place update is what such a patch means.
                    Some(to) if to != path => {
                        overlay.write(number, to, after)?;
                        overlay.set(number, path, Final::Removed(Removal::MovedAway));
                    }
                    _ => overlay.write(number, path, after)?,
                }
            }
        }
    }
    Ok(overlay.entries)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Missing,
    File,
    Dir,
    /// A FIFO, socket or device: never written to, since writing to one could block or do worse.
    Other,
}

/// The tree as the hunks applied so far left it: their results over what is on disk.
struct Overlay<'f> {
    fs: &'f dyn Fs,
    /// What each touched path holds now, and the hunk that left it so.
    entries: BTreeMap<PathBuf, (usize, Final)>,
}

impl Overlay<'_> {
    fn set(&mut self, hunk: usize, path: &Path, state: Final) {
        self.entries.insert(path.to_path_buf(), (hunk, state));
    }

    fn kind(&self, path: &Path) -> Kind {
        match self.entries.get(path) {
            Some((_, Final::File(_))) => return Kind::File,
            Some((_, Final::Removed(_))) => return Kind::Missing,
            None => {}
        }
        // A file written below a path makes (or keeps) it a directory. Descendants sort right after it.
        let has_written_descendant = self
            .entries
            .range(path.to_path_buf()..)
            .skip(1)
            .take_while(|(entry, _)| entry.starts_with(path))
            .any(|(_, (_, state))| matches!(state, Final::File(_)));
        if has_written_descendant {
            return Kind::Dir;
        }
        match self.fs.metadata(path) {
            Ok(metadata) if metadata.is_dir() => Kind::Dir,
            Ok(metadata) if metadata.is_file() => Kind::File,
            Ok(_) => Kind::Other,
            Err(_) => Kind::Missing,
        }
    }

    fn read_text(&self, path: &Path) -> Result<String, ReadError> {
        match self.entries.get(path) {
            Some((_, Final::File(text))) => Ok(text.clone()),
            Some((_, Final::Removed(_))) => Err(ReadError::Io(not_found())),
            None if self.kind(path) == Kind::Dir => Err(ReadError::NotAFile(path.to_path_buf())),
            None => read_text(self.fs, path),
        }
    }

    /// Writes a file, failing as writing it in place would: over a directory, or below a file.
    fn write(&mut self, hunk: usize, path: &Path, text: String) -> Result<(), HunkError> {
        let blocked_by_ancestor = || {
            path.ancestors()
                .skip(1)
                .map(|ancestor| self.kind(ancestor))
                .find(|kind| *kind != Kind::Missing)
                .is_some_and(|kind| kind != Kind::Dir)
        };
        if matches!(self.kind(path), Kind::Dir | Kind::Other) || blocked_by_ancestor() {
            return Err(HunkError::new(hunk, path, HunkErrorKind::Write));
        }
        self.set(hunk, path, Final::File(text));
        Ok(())
    }

    fn delete(&mut self, hunk: usize, path: &Path) -> Result<(), HunkError> {
        if matches!(self.kind(path), Kind::Dir | Kind::Missing) {
            return Err(HunkError::new(hunk, path, HunkErrorKind::Delete));
        }
        self.set(hunk, path, Final::Removed(Removal::Deleted));
        Ok(())
    }
}

// Unix paths and symlinks throughout.
#[cfg(all(test, unix))]
mod tests {
    use std::cell::Cell;
    use std::fs::{Metadata, Permissions};
    use std::io;

    use super::*;
    use crate::fs::RealFs;
    use crate::parser::parse;
    use crate::policy::Unrestricted;

    /// The real file system, except that chosen mutating operations (counted from 1) fail.
    struct Faulty {
        fail: Vec<usize>,
        count: Cell<usize>,
    }

    impl Faulty {
        fn new(fail: &[usize]) -> Self {
            Faulty { fail: fail.to_vec(), count: Cell::new(0) }
        }

        fn mutate<T>(&self, op: impl FnOnce() -> io::Result<T>) -> io::Result<T> {
            self.count.set(self.count.get() + 1);
            if self.fail.contains(&self.count.get()) {
                return Err(io::Error::other("injected failure"));
            }
            op()
        }
    }

    impl Fs for Faulty {
        fn metadata(&self, path: &Path) -> io::Result<Metadata> {
            RealFs.metadata(path)
        }
        fn symlink_metadata(&self, path: &Path) -> io::Result<Metadata> {
            RealFs.symlink_metadata(path)
        }
        fn read(&self, path: &Path) -> io::Result<Vec<u8>> {
            RealFs.read(path)
        }
        fn read_link(&self, path: &Path) -> io::Result<PathBuf> {
            RealFs.read_link(path)
        }
        fn create_dir(&self, path: &Path) -> io::Result<()> {
            self.mutate(|| RealFs.create_dir(path))
        }
        fn remove_dir(&self, path: &Path) -> io::Result<()> {
            self.mutate(|| RealFs.remove_dir(path))
        }
        fn remove_file(&self, path: &Path) -> io::Result<()> {
            self.mutate(|| RealFs.remove_file(path))
        }
        fn symlink(&self, target: &Path, link: &Path) -> io::Result<()> {
            self.mutate(|| RealFs.symlink(target, link))
        }
        fn replace(&self, path: &Path, contents: &[u8], perms: Option<Permissions>) -> io::Result<()> {
            self.mutate(|| RealFs.replace(path, contents, perms))
        }
    }

    /// Everything observable about a tree: each entry's type, contents or target, and permissions.
    fn snapshot(root: &Path) -> BTreeMap<PathBuf, String> {
        let mut entries = BTreeMap::new();
        let mut pending = vec![root.to_path_buf()];
        while let Some(dir) = pending.pop() {
            for entry in std::fs::read_dir(&dir).unwrap() {
                let path = entry.unwrap().path();
                let metadata = std::fs::symlink_metadata(&path).unwrap();
                let mode = format!("{:?}", metadata.permissions());
                let description = if metadata.file_type().is_symlink() {
                    format!("link {:?}", std::fs::read_link(&path).unwrap())
                } else if metadata.is_dir() {
                    pending.push(path.clone());
                    format!("dir {mode}")
                } else {
                    format!("file {mode} {:?}", std::fs::read(&path).unwrap())
                };
                entries.insert(path.strip_prefix(root).unwrap().to_path_buf(), description);
            }
        }
        entries
    }

    fn tree_for_faults() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("update.txt"), "a\nb\n").unwrap();
        std::fs::write(dir.path().join("delete.txt"), "gone\n").unwrap();
        std::fs::write(dir.path().join("move.txt"), "m\n").unwrap();
        std::fs::write(dir.path().join("target.txt"), "t\n").unwrap();
        std::os::unix::fs::symlink("target.txt", dir.path().join("link")).unwrap();
        dir
    }

    const FAULT_PATCH: &str = "*** Begin Patch\n\
        *** Add File: new/deep/added.txt\n+added\n\
        *** Update File: update.txt\n@@\n a\n-b\n+B\n\
        *** Delete File: delete.txt\n\
        *** Update File: move.txt\n*** Move to: moved/m.txt\n@@\n-m\n+M\n\
        *** Delete File: link\n\
        *** End Patch";

    #[test]
    fn a_failure_at_any_write_leaves_the_tree_as_it_was() {
        let patch = parse(FAULT_PATCH).unwrap();
        let mut failures_seen = 0;
        for fail_at in 1.. {
            let dir = tree_for_faults();
            let before = snapshot(dir.path());
            match apply(&patch, dir.path(), &Unrestricted, &Faulty::new(&[fail_at])) {
                Ok(_) => {
                    assert!(failures_seen > 5, "every write was exercised");
                    assert_ne!(snapshot(dir.path()), before);
                    break;
                }
                Err(ApplyError::Failed { error, unrestored, .. }) => {
                    failures_seen += 1;
                    assert_eq!(unrestored, Vec::<PathBuf>::new());
                    assert_eq!(snapshot(dir.path()), before, "write {fail_at} failed: {error}");
                    assert!(std::error::Error::source(&error).is_some(), "the I/O error is kept as the source");
                }
                Err(other) => panic!("unexpected {other}"),
            }
        }
    }

    #[test]
    fn write_failures_are_worded_by_what_was_being_done() {
        let patch = parse(FAULT_PATCH).unwrap();
        let dir = tree_for_faults();
        let messages: Vec<String> = (1..=9)
            .map(|fail_at| match apply(&patch, dir.path(), &Unrestricted, &Faulty::new(&[fail_at])) {
                Err(ApplyError::Failed { error, .. }) => error.to_string().replace(dir.path().to_str().unwrap(), ""),
                other => panic!("write {fail_at}: {other:?}"),
            })
            .collect();
        // Removals come first, then writes, each in path order; new directories are made one by one.
        assert_eq!(
            messages,
            [
                "Failed to delete file /delete.txt",
                "Failed to delete file /link",
                "Failed to remove original /move.txt",
                "Failed to create parent directories for /moved/m.txt",
                "Failed to write file /moved/m.txt",
                "Failed to create parent directories for /new/deep/added.txt",
                "Failed to create parent directories for /new/deep/added.txt",
                "Failed to write file /new/deep/added.txt",
                "Failed to write file /update.txt",
            ]
        );
    }

    #[test]
    fn what_could_not_be_restored_is_reported() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a"), "a\n").unwrap();
        std::fs::write(dir.path().join("b"), "b\n").unwrap();
        let patch =
            parse("*** Begin Patch\n*** Update File: a\n@@\n-a\n+A\n*** Update File: b\n@@\n-b\n+B\n*** End Patch")
                .unwrap();
        // Write 1 (a) succeeds, write 2 (b) fails, and so does restoring a.
        match apply(&patch, dir.path(), &Unrestricted, &Faulty::new(&[2, 3])) {
            Err(ApplyError::Failed { error, unrestored, .. }) => {
                assert_eq!(error.hunk, 2);
                assert_eq!(unrestored, [dir.path().join("a")]);
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(std::fs::read_to_string(dir.path().join("a")).unwrap(), "A\n");
        assert_eq!(std::fs::read_to_string(dir.path().join("b")).unwrap(), "b\n");
    }

    #[test]
    fn updates_keep_permissions_and_write_through_symlinks() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tree_for_faults();
        let update = dir.path().join("update.txt");
        std::fs::set_permissions(&update, Permissions::from_mode(0o755)).unwrap();
        let patch = parse(
            "*** Begin Patch\n*** Update File: update.txt\n@@\n-a\n+A\n*** Update File: link\n@@\n-t\n+T\n\
             *** End Patch",
        )
        .unwrap();
        apply(&patch, dir.path(), &Unrestricted, &RealFs).unwrap();
        let metadata = std::fs::metadata(&update).unwrap();
        assert_eq!(metadata.permissions().mode() & 0o777, 0o755);
        assert_eq!(std::fs::read_to_string(&update).unwrap(), "A\nb\n");
        assert!(std::fs::symlink_metadata(dir.path().join("link")).unwrap().file_type().is_symlink());
        assert_eq!(std::fs::read_to_string(dir.path().join("target.txt")).unwrap(), "T\n");
    }

    #[test]
    fn unchanged_files_are_not_rewritten() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("f"), "a\n").unwrap();
        let patch = parse("*** Begin Patch\n*** Update File: f\n@@\n a\n*** End Patch").unwrap();
        // Any write would fail.
        let faulty = Faulty::new(&[1]);
        apply(&patch, dir.path(), &Unrestricted, &faulty).unwrap();
        assert_eq!(faulty.count.get(), 0);
    }

    #[test]
    fn resolve_is_lexical() {
        let cwd = Path::new("/w/sub");
        assert_eq!(resolve(cwd, Path::new("a.txt")), Path::new("/w/sub/a.txt"));
        assert_eq!(resolve(cwd, Path::new("./x/../a//b/")), Path::new("/w/sub/a/b"));
        assert_eq!(resolve(cwd, Path::new("../../../../up")), Path::new("/up"));
        assert_eq!(resolve(cwd, Path::new("/abs/./p")), Path::new("/abs/p"));
        assert_eq!(resolve(cwd, Path::new(" lead")), Path::new("/w/sub/ lead"));
    }
}
