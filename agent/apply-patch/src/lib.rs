//! The `apply_patch` tool of rcodex: parses the patch format Codex offers the model and applies it to a file
//! tree, all or nothing, answering in the words Codex CLI 0.169.0 uses.
//!
//! ```
//! use std::time::Instant;
//! use rcodex_apply_patch::{WritableRoots, apply_patch};
//!
//! let workspace = tempfile::tempdir()?;
//! let cwd = workspace.path();
//! let patch = "*** Begin Patch\n*** Add File: hello.txt\n+hi\n*** End Patch\n";
//!
//! let started = Instant::now();
//! let outcome = apply_patch(patch, cwd, &WritableRoots::new([cwd.to_path_buf()]));
//! let output = match &outcome {
//!     Ok(applied) => applied.model_output(started.elapsed()),
//!     Err(err) => err.model_output(started.elapsed()),
//! };
//! assert!(output.ends_with("Output:\nSuccess. Updated the following files:\nA hello.txt\n"));
//! assert_eq!(std::fs::read_to_string(cwd.join("hello.txt"))?, "hi\n");
//! # Ok::<(), std::io::Error>(())
//! ```
//!
//! A patch can also arrive inside a shell command (`apply_patch <<'EOF'` … `EOF`, as models write it):
//! [`shell_patch`] tells which commands carry one, as upstream tells it.
//!
//! # What happens, in order
//!
//! 1. [`parse`]: the text becomes a [`Patch`] or a [`ParseError`] naming the line.
//! 2. Each hunk is checked against the tree as it is: no two hunks may name one file, and the files to update or
//!    delete must be readable UTF-8 text in which every chunk is found ([`ApplyError::DuplicatePath`],
//!    [`ApplyError::Verification`]). Matching tolerates trailing whitespace, then surrounding whitespace, then
//!    typographic punctuation and spaces, as upstream does.
//! 3. A patch without hunks is refused ([`ApplyError::EmptyPatch`]), and so is one writing a path the
//!    [`WritePolicy`] refuses ([`ApplyError::Rejected`]).
//! 4. The hunks are applied in order, in memory; a hunk that fails on what an earlier one did fails the patch
//!    ([`ApplyError::Failed`]).
//! 5. The files are written, each atomically; if one write fails, the ones before it are undone.
//!
//! Upstream runs the same steps, in the same order and with the same messages, but applies hunks in place, so a
//! failure in step 4 or 5 leaves the earlier hunks applied there. Here nothing is changed unless everything is.
//! The other deliberate difference: a file "moved" onto its own path is updated in place, where upstream deletes
//! it.
//!
//! Files keep their line endings (`\n`, `\r\n` or `\r`, line by line); inserted lines take the ending of the
//! file's first line, and an updated file always ends with a line ending. A file is written by replacing it
//! with a new one (keeping its permissions), so a hard link to it keeps the old contents. Writes go through
//! symlinks; deletions remove the link. A patch that reaches one file both through a symlink and directly is
//! treated as touching two files.

#![warn(missing_docs)]
mod apply;
mod change;
mod commit;
mod error;
mod fs;
mod invocation;
mod outcome;
mod parser;
mod policy;
mod seek;
mod text;

use std::path::Path;

pub use change::{ChangeKind, FileChange};
pub use error::{ApplyError, HunkError, HunkErrorKind, ReadError};
pub use invocation::{BARE_PATCH_ERROR, ShellPatch, shell_patch};
pub use outcome::Applied;
pub use parser::{Chunk, ChunkLine, Hunk, ParseError, ParseErrorKind, Patch, parse};
pub use policy::{ReadOnly, Refusal, Unrestricted, WritableRoots, WritePolicy};

/// Parses `patch` and applies it in `cwd` (an absolute path, against which relative patch paths resolve),
/// writing only what `policy` allows.
///
/// # Errors
///
/// Why nothing was changed; see [`ApplyError`].
pub fn apply_patch(patch: &str, cwd: &Path, policy: &dyn WritePolicy) -> Result<Applied, ApplyError> {
    parse(patch)?.apply(cwd, policy)
}

impl Patch {
    /// Applies the patch in `cwd` (an absolute path, against which relative patch paths resolve), writing only
    /// what `policy` allows.
    ///
    /// # Errors
    ///
    /// Why nothing was changed; see [`ApplyError`].
    pub fn apply(&self, cwd: &Path, policy: &dyn WritePolicy) -> Result<Applied, ApplyError> {
        apply::apply(self, cwd, policy, &fs::RealFs)
    }

    /// What applying the patch in `cwd` would do to each file, sorted by path, checked against the files as they
    /// are but writing nothing and asking no [`WritePolicy`]: for asking someone whether it may write where the
    /// policy refuses. Every path a change names (its `path`, and `move_to`) is what a policy would be asked about.
    ///
    /// # Errors
    ///
    /// The error [`Patch::apply`] would give before asking the policy (an empty patch, a duplicate path, a hunk
    /// that does not fit).
    pub fn preview(&self, cwd: &Path) -> Result<Vec<FileChange>, ApplyError> {
        apply::preview(self, cwd, &fs::RealFs)
    }
}
