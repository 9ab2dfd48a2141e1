//! Writing a simulated result to disk as one transaction: any failure undoes the writes before it.

use std::collections::BTreeMap;
use std::fs::Permissions;
use std::io;
use std::path::{Path, PathBuf};

use crate::error::{HunkError, HunkErrorKind};
use crate::fs::{Fs, write_target};

/// What a path holds once every hunk has applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Final {
    File(String),
    Removed(Removal),
}

/// Why a path is gone, which decides how a failure to remove it is worded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Removal {
    Deleted,
    MovedAway,
}

/// How to put back what one step changed.
enum Undo {
    Restore { path: PathBuf, contents: Vec<u8>, permissions: Permissions },
    Remove(PathBuf),
    Relink { link: PathBuf, target: PathBuf },
    RemoveDir(PathBuf),
}

/// Makes the tree hold `result` (each path with the hunk that decided it). On failure, returns the error and the
/// paths that could not be restored.
pub(crate) fn commit(fs: &dyn Fs, result: &BTreeMap<PathBuf, (usize, Final)>) -> Result<(), (HunkError, Vec<PathBuf>)> {
    let mut undo = Vec::new();
    // Removals first: a deleted file may make room for a directory of the same name.
    let (removals, writes): (Vec<_>, Vec<_>) =
        result.iter().partition(|(_, (_, state))| matches!(state, Final::Removed(_)));
    let outcome = removals.into_iter().chain(writes).try_for_each(|(path, (hunk, state))| match state {
        Final::Removed(why) => remove(fs, path, &mut undo).map_err(|err| {
            let kind = match why {
                Removal::Deleted => HunkErrorKind::Delete,
                Removal::MovedAway => HunkErrorKind::RemoveOriginal,
            };
            HunkError::new(*hunk, path, kind).with_io(err)
        }),
        Final::File(text) => {
            write(fs, path, text, &mut undo).map_err(|(kind, err)| HunkError::new(*hunk, path, kind).with_io(err))
        }
    });
    outcome.map_err(|err| (err, rollback(fs, undo)))
}

fn remove(fs: &dyn Fs, path: &Path, undo: &mut Vec<Undo>) -> io::Result<()> {
    let metadata = match fs.symlink_metadata(path) {
        // Created and removed again within the patch: nothing to do on disk.
        Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(()),
        other => other?,
    };
    let restore = if metadata.file_type().is_symlink() {
        Undo::Relink { link: path.to_path_buf(), target: fs.read_link(path)? }
    } else {
        Undo::Restore { path: path.to_path_buf(), contents: fs.read(path)?, permissions: metadata.permissions() }
    };
    fs.remove_file(path)?;
    undo.push(restore);
    Ok(())
}

fn write(fs: &dyn Fs, path: &Path, text: &str, undo: &mut Vec<Undo>) -> Result<(), (HunkErrorKind, io::Error)> {
    let failed = |err| (HunkErrorKind::Write, err);
    let target = write_target(fs, path).map_err(failed)?;
    let restore = match fs.symlink_metadata(&target) {
        Ok(metadata) => {
            let contents = fs.read(&target).map_err(failed)?;
            if contents == text.as_bytes() {
                return Ok(());
            }
            Undo::Restore { path: target.clone(), contents, permissions: metadata.permissions() }
        }
        Err(err) if err.kind() == io::ErrorKind::NotFound => {
            create_parents(fs, &target, undo).map_err(|err| (HunkErrorKind::CreateParents, err))?;
            Undo::Remove(target.clone())
        }
        Err(err) => return Err(failed(err)),
    };
    let permissions = match &restore {
        Undo::Restore { permissions, .. } => Some(permissions.clone()),
        _ => None,
    };
    fs.replace(&target, text.as_bytes(), permissions).map_err(failed)?;
    undo.push(restore);
    Ok(())
}

fn create_parents(fs: &dyn Fs, path: &Path, undo: &mut Vec<Undo>) -> io::Result<()> {
    let missing: Vec<&Path> = path
        .ancestors()
        .skip(1)
        .take_while(|dir| matches!(fs.symlink_metadata(dir), Err(err) if err.kind() == io::ErrorKind::NotFound))
        .collect();
    for dir in missing.into_iter().rev() {
        fs.create_dir(dir)?;
        undo.push(Undo::RemoveDir(dir.to_path_buf()));
    }
    Ok(())
}

/// Undoes `undo` newest first; returns the paths it could not restore.
fn rollback(fs: &dyn Fs, undo: Vec<Undo>) -> Vec<PathBuf> {
    undo.into_iter()
        .rev()
        .filter_map(|step| {
            let (path, restored) = match step {
                Undo::Restore { path, contents, permissions } => {
                    let restored = fs.replace(&path, &contents, Some(permissions));
                    (path, restored)
                }
                Undo::Remove(path) => {
                    let restored = fs.remove_file(&path);
                    (path, restored)
                }
                Undo::Relink { link, target } => {
                    let restored = fs.symlink(&target, &link);
                    (link, restored)
                }
                Undo::RemoveDir(path) => {
                    let restored = fs.remove_dir(&path);
                    (path, restored)
                }
            };
            restored.is_err().then_some(path)
        })
        .collect()
}
