//! Which paths a patch may write: the sandbox's say, asked before anything is written.

use std::fmt;
use std::path::{Path, PathBuf};

/// Why a write is refused. `Display` is upstream's reason, which the model reads after `patch rejected: `
/// (as Codex 0.169.0 words it with `approval_policy = "never"`, where no one can be asked instead).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Refusal {
    /// Nothing may be written (`sandbox_mode = "read-only"`).
    ReadOnlySandbox,
    /// The path is outside every writable root, or in a protected part of one (`.git`, `.codex`, `.agents`).
    OutsideWritableRoots,
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Refusal::ReadOnlySandbox => "writing is blocked by read-only sandbox; rejected by user approval settings",
            Refusal::OutsideWritableRoots => "writing outside of the project; rejected by user approval settings",
        })
    }
}

/// Decides whether a patch may create, change or remove a file.
///
/// Asked for every path a patch writes (including move sources, which are removed, and move destinations) before
/// anything is written; one refusal refuses the whole patch. Paths are absolute and lexically normalized (no `.`
/// or `..`), not resolved through symlinks. Closures `Fn(&Path) -> Result<(), Refusal>` are policies.
pub trait WritePolicy {
    /// `Ok` if `path` may be written.
    ///
    /// # Errors
    ///
    /// The refusal the model is told about.
    fn check(&self, path: &Path) -> Result<(), Refusal>;
}

impl<F: Fn(&Path) -> Result<(), Refusal>> WritePolicy for F {
    fn check(&self, path: &Path) -> Result<(), Refusal> {
        self(path)
    }
}

/// Everything may be written (`sandbox_mode = "danger-full-access"`).
#[derive(Debug, Clone, Copy, Default)]
pub struct Unrestricted;

impl WritePolicy for Unrestricted {
    fn check(&self, _: &Path) -> Result<(), Refusal> {
        Ok(())
    }
}

/// Nothing may be written (`sandbox_mode = "read-only"`).
#[derive(Debug, Clone, Copy, Default)]
pub struct ReadOnly;

impl WritePolicy for ReadOnly {
    fn check(&self, _: &Path) -> Result<(), Refusal> {
        Err(Refusal::ReadOnlySandbox)
    }
}

/// Paths under the writable roots may be written, except in a root's `.git`, `.codex` and `.agents`
/// (`sandbox_mode = "workspace-write"`; its roots are the working directory, `/tmp` and `$TMPDIR` unless
/// excluded, and any configured `writable_roots`).
#[derive(Debug, Clone, Default)]
pub struct WritableRoots {
    roots: Vec<PathBuf>,
}

/// Directories in a writable root that stay read-only, whether or not they exist yet.
const PROTECTED: [&str; 3] = [".git", ".codex", ".agents"];

impl WritableRoots {
    /// A policy allowing writes under `roots` (absolute paths).
    pub fn new(roots: impl IntoIterator<Item = PathBuf>) -> Self {
        WritableRoots { roots: roots.into_iter().collect() }
    }
}

impl WritePolicy for WritableRoots {
    fn check(&self, path: &Path) -> Result<(), Refusal> {
        // Protection wins over any other root that contains the path: `/tmp` being writable does not open a
        // workspace's `.git` that happens to live in it.
        let protected = self.roots.iter().any(|root| PROTECTED.iter().any(|name| path.starts_with(root.join(name))));
        let inside = self.roots.iter().any(|root| path.starts_with(root));
        if inside && !protected { Ok(()) } else { Err(Refusal::OutsideWritableRoots) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writable_roots_allow_only_their_unprotected_insides() {
        let policy = WritableRoots::new([PathBuf::from("/w"), PathBuf::from("/tmp")]);
        assert_eq!(policy.check(Path::new("/w/src/a.rs")), Ok(()));
        assert_eq!(policy.check(Path::new("/w")), Ok(()));
        assert_eq!(policy.check(Path::new("/tmp/x")), Ok(()));
        assert_eq!(policy.check(Path::new("/wx/a")), Err(Refusal::OutsideWritableRoots));
        for protected in ["/w/.git/config", "/w/.codex/x", "/w/.agents", "/tmp/.git/x"] {
            assert_eq!(policy.check(Path::new(protected)), Err(Refusal::OutsideWritableRoots), "{protected}");
        }
        assert_eq!(policy.check(Path::new("/w/.gitignore")), Ok(()));
    }

    #[test]
    fn protection_holds_across_nested_roots() {
        let policy = WritableRoots::new([PathBuf::from("/tmp/ws"), PathBuf::from("/tmp")]);
        assert_eq!(policy.check(Path::new("/tmp/ws/.git/hooks/x")), Err(Refusal::OutsideWritableRoots));
    }

    #[test]
    fn closures_and_fixed_policies() {
        let only_a = |path: &Path| {
            if path.ends_with("a") { Ok(()) } else { Err(Refusal::OutsideWritableRoots) }
        };
        assert_eq!(only_a.check(Path::new("/x/a")), Ok(()));
        assert!(only_a.check(Path::new("/x/b")).is_err());
        assert_eq!(ReadOnly.check(Path::new("/x")), Err(Refusal::ReadOnlySandbox));
        assert_eq!(Unrestricted.check(Path::new("/")), Ok(()));
    }

    #[test]
    fn refusals_read_as_upstream_words_them() {
        assert_eq!(
            Refusal::ReadOnlySandbox.to_string(),
            "writing is blocked by read-only sandbox; rejected by user approval settings"
        );
        assert_eq!(
            Refusal::OutsideWritableRoots.to_string(),
            "writing outside of the project; rejected by user approval settings"
        );
    }
}
