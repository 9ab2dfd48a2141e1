//! Placeholders: the empty directories that stand, on the host, where a protected name (`.codex`...) is missing
//! from a writable root, so that the sandbox can mount an empty read-only directory there. They exist only
//! while some sandbox uses them: a registry in the temporary directory counts the launchers using each one
//! (a marker file per launcher pid, under a lock), and the last one to finish removes it.
//!
//! The count matters: removing a directory that another sandbox has a mount on detaches that mount, which would
//! let that sandbox create the protected directory for real. Entries left by launchers that were killed are
//! cleaned up by the next launcher to take the lock.

use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{DirBuilderExt, MetadataExt};
use std::path::{Path, PathBuf};

use rustix::fs::{FlockOperation, flock};
use rustix::process::{Pid, getpid, test_kill_process};

/// The registry directory of this user, `$TMPDIR/rcodex-sandbox-placeholders-<euid>` (sandboxes see it
/// read-only).
pub(crate) fn registry_dir() -> PathBuf {
    std::env::temp_dir().join(format!("rcodex-sandbox-placeholders-{}", rustix::process::geteuid().as_raw()))
}

/// The placeholders this launcher holds, released by [`Placeholders::release`].
pub(crate) struct Placeholders {
    registry: PathBuf,
    held: Vec<PathBuf>,
}

const CREATED: &str = "created";

impl Placeholders {
    /// Makes sure the registry exists and is this user's own directory.
    pub(crate) fn open_registry() -> io::Result<PathBuf> {
        let registry = registry_dir();
        match fs::DirBuilder::new().mode(0o700).create(&registry) {
            Err(err) if err.kind() != io::ErrorKind::AlreadyExists => return Err(err),
            _ => {}
        }
        let meta = fs::symlink_metadata(&registry)?;
        if !meta.is_dir() || meta.uid() != rustix::process::geteuid().as_raw() {
            return Err(io::Error::other(format!("{} is not this user's directory", registry.display())));
        }
        Ok(registry)
    }

    /// Creates those of `targets` that are missing, joins the sandboxes already using those that are placeholders,
    /// and registers this launcher as their user. Targets that exist for real are left alone.
    ///
    /// A target another launcher created is held too, even when this launcher's plan saw it as existing: otherwise
    /// that launcher could remove it between this one's plan and its mounts.
    pub(crate) fn acquire(registry: PathBuf, targets: &[PathBuf]) -> io::Result<Self> {
        let _lock = lock(&registry)?;
        prune(&registry);
        let mut held = Vec::new();
        for target in targets {
            let entry = registry.join(entry_name(target));
            let placeholder = entry.join(CREATED).is_file();
            if !placeholder && target.symlink_metadata().is_ok() {
                continue;
            }
            fs::create_dir_all(&entry)?;
            match fs::create_dir(target) {
                Ok(()) => fs::write(entry.join(CREATED), target.as_os_str().as_bytes())?,
                Err(err) if err.kind() == io::ErrorKind::AlreadyExists => {}
                Err(err) => return Err(err),
            }
            File::create(entry.join(getpid().as_raw_nonzero().to_string()))?;
            held.push(target.clone());
        }
        Ok(Placeholders { registry, held })
    }

    /// Unregisters this launcher; removes each placeholder no other live launcher uses, if it is still empty.
    pub(crate) fn release(self) {
        let Ok(_lock) = lock(&self.registry) else { return };
        let me = getpid().as_raw_nonzero().to_string();
        for target in &self.held {
            let _ = fs::remove_file(self.registry.join(entry_name(target)).join(&me));
        }
        prune(&self.registry);
    }
}

/// Removes the entries no live launcher uses, and the (empty) placeholders they created. Under the lock.
fn prune(registry: &Path) {
    let Ok(entries) = fs::read_dir(registry) else { return };
    for entry in entries.flatten().map(|entry| entry.path()).filter(|path| path.is_dir()) {
        if users(&entry) > 0 {
            continue;
        }
        if let Ok(target) = fs::read(entry.join(CREATED)) {
            let _ = fs::remove_dir(std::ffi::OsStr::from_bytes(&target));
        }
        let _ = fs::remove_file(entry.join(CREATED));
        let _ = fs::remove_dir(&entry);
    }
}

/// The live launchers registered in `entry`; markers of dead ones are removed.
fn users(entry: &Path) -> usize {
    let Ok(markers) = fs::read_dir(entry) else { return 0 };
    let mut live = 0;
    for marker in markers.flatten() {
        let pid = marker.file_name().to_str().and_then(|name| name.parse().ok()).and_then(Pid::from_raw);
        let Some(pid) = pid else { continue };
        match test_kill_process(pid) {
            Err(rustix::io::Errno::SRCH) => drop(fs::remove_file(marker.path())),
            _ => live += 1,
        }
    }
    live
}

struct Lock(#[allow(dead_code, reason = "held for its flock")] File);

fn lock(registry: &Path) -> io::Result<Lock> {
    let file = OpenOptions::new().create(true).truncate(false).write(true).open(registry.join("lock"))?;
    flock(&file, FlockOperation::LockExclusive)?;
    Ok(Lock(file))
}

/// A file name for `path`: its 64-bit FNV-1a hash (collisions only merge the counts of two paths).
fn entry_name(path: &Path) -> String {
    let hash = path
        .as_os_str()
        .as_bytes()
        .iter()
        .fold(0xcbf2_9ce4_8422_2325_u64, |hash, byte| (hash ^ u64::from(*byte)).wrapping_mul(0x0100_0000_01b3));
    format!("{hash:016x}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_last_user_removes_what_was_created_and_nothing_else() {
        let base = tempfile::tempdir().unwrap();
        let registry = base.path().join("registry");
        fs::create_dir(&registry).unwrap();
        let created = base.path().join(".codex");
        let existing = base.path().join(".git");
        fs::create_dir(&existing).unwrap();

        let first = Placeholders::acquire(registry.clone(), &[created.clone(), existing.clone()]).unwrap();
        assert!(created.is_dir());
        assert!(!registry.join(entry_name(&existing)).exists(), "a real directory is not held");
        // A second user (a dead one here, standing for a launcher that was killed) does not keep it alive.
        let entry = registry.join(entry_name(&created));
        fs::write(entry.join("999999999"), "").unwrap();
        first.release();
        assert!(!created.exists());
        assert!(existing.is_dir(), "a directory that was there before is left alone");
        assert!(!entry.exists());
    }

    #[test]
    fn what_a_killed_launcher_left_is_cleaned_up_by_the_next_one() {
        let base = tempfile::tempdir().unwrap();
        let registry = base.path().join("registry");
        fs::create_dir(&registry).unwrap();
        let left = base.path().join(".codex");
        let killed = Placeholders::acquire(registry.clone(), std::slice::from_ref(&left)).unwrap();
        // The launcher dies without releasing: its marker now names a pid that no longer runs.
        let entry = registry.join(entry_name(&left));
        fs::rename(entry.join(getpid().as_raw_nonzero().to_string()), entry.join("999999999")).unwrap();
        std::mem::forget(killed);
        assert!(left.is_dir());
        Placeholders::acquire(registry, &[]).unwrap().release();
        assert!(!left.exists() && !entry.exists());
    }

    #[test]
    fn a_placeholder_stays_while_another_live_launcher_uses_it() {
        let base = tempfile::tempdir().unwrap();
        let registry = base.path().join("registry");
        fs::create_dir(&registry).unwrap();
        let target = base.path().join(".agents");
        let held = Placeholders::acquire(registry.clone(), std::slice::from_ref(&target)).unwrap();
        // pid 1 is always alive: another launcher still using the placeholder.
        fs::write(registry.join(entry_name(&target)).join("1"), "").unwrap();
        held.release();
        assert!(target.is_dir());
    }

    #[test]
    fn a_launcher_that_saw_anothers_placeholder_as_existing_holds_it_too() {
        let base = tempfile::tempdir().unwrap();
        let registry = base.path().join("registry");
        fs::create_dir(&registry).unwrap();
        let target = base.path().join(".aws");
        let first = Placeholders::acquire(registry.clone(), std::slice::from_ref(&target)).unwrap();
        // The second launcher's plan found the placeholder in place and passes it as an existing carve-out.
        let second = Placeholders::acquire(registry.clone(), std::slice::from_ref(&target)).unwrap();
        assert_eq!(second.held, std::slice::from_ref(&target));
        // Both markers carry this process's pid here; stand for the second launcher with pid 1 (always alive).
        let entry = registry.join(entry_name(&target));
        fs::write(entry.join("1"), "").unwrap();
        std::mem::forget(second);
        first.release();
        assert!(target.is_dir(), "the placeholder stays while the second launcher uses it");
    }

    #[test]
    fn entry_names_are_stable_and_distinct() {
        assert_eq!(entry_name(Path::new("/w/.git")), entry_name(Path::new("/w/.git")));
        assert_ne!(entry_name(Path::new("/w/.git")), entry_name(Path::new("/w/.codex")));
        assert_eq!(entry_name(Path::new("")), "cbf29ce484222325");
    }
}
