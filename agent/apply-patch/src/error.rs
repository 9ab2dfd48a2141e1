//! What can go wrong, worded as upstream words it for the model.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

use crate::change::FileChange;
use crate::parser::ParseError;
use crate::policy::Refusal;
use crate::text::Misfit;

/// Why a patch was not applied. Whatever the variant, the file tree is as it was before the call (see
/// [`ApplyError::Failed`] for the one caveat).
///
/// `Display` is upstream's message; [`ApplyError::model_output`] wraps it the way the model sees it.
#[derive(Debug)]
#[non_exhaustive]
pub enum ApplyError {
    /// The patch text is malformed.
    Parse(ParseError),
    /// Two hunks name the same file (as the path normalizes, a move's destination aside).
    DuplicatePath {
        /// The 1-based number of the second hunk naming it.
        hunk: usize,
        /// The file, absolute.
        path: PathBuf,
    },
    /// A hunk does not fit the files as they are: a file to change is missing or unreadable, or a chunk's lines
    /// are not in it. Each hunk is checked against the tree as it was, independently of the others.
    Verification(Box<HunkError>),
    /// The patch has no hunks.
    EmptyPatch,
    /// The [`WritePolicy`](crate::WritePolicy) refused a path.
    Rejected {
        /// The 1-based number of the first hunk writing a refused path.
        hunk: usize,
        /// The refused path, absolute.
        path: PathBuf,
        /// Why.
        refusal: Refusal,
    },
    /// The patch fit the tree hunk by hunk, but applying the hunks in order fails: one hunk undoes what a later
    /// one needs, a file would be written over a directory, or the file system refused a write. Nothing was
    /// changed; if a write failed midway, what was already written was restored, except the paths listed in
    /// `unrestored` (when even restoring failed).
    Failed {
        /// Which hunk failed and why.
        error: Box<HunkError>,
        /// The changes the patch would have made, as for a success.
        changes: Vec<FileChange>,
        /// Paths left changed because restoring them failed too.
        unrestored: Vec<PathBuf>,
    },
}

impl ApplyError {
    /// The changes the patch attempted, when it got as far as applying: the `changes` of a `file_change` item
    /// whose status is `failed`. `None` when the patch was refused before (upstream then emits no item).
    pub fn attempted_changes(&self) -> Option<&[FileChange]> {
        match self {
            ApplyError::Failed { changes, .. } => Some(changes),
            _ => None,
        }
    }
}

impl fmt::Display for ApplyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ApplyError::Parse(err) => write!(f, "{err}"),
            ApplyError::DuplicatePath { path, .. } => {
                write!(f, "invalid patch: multiple operations target {}", path.display())
            }
            ApplyError::Verification(err) | ApplyError::Failed { error: err, .. } => {
                write!(f, "{err}")
            }
            ApplyError::EmptyPatch => f.write_str("empty patch"),
            ApplyError::Rejected { refusal, .. } => write!(f, "{refusal}"),
        }
    }
}

impl std::error::Error for ApplyError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ApplyError::Parse(err) => Some(err),
            ApplyError::Verification(err) | ApplyError::Failed { error: err, .. } => Some(&**err),
            _ => None,
        }
    }
}

impl From<ParseError> for ApplyError {
    fn from(err: ParseError) -> Self {
        ApplyError::Parse(err)
    }
}

/// A hunk that cannot be applied.
#[derive(Debug)]
pub struct HunkError {
    /// The 1-based number of the hunk in the patch.
    pub hunk: usize,
    /// The file concerned, absolute: the one written for write failures (a move's destination), else the one
    /// the hunk names.
    pub path: PathBuf,
    /// What went wrong.
    pub kind: HunkErrorKind,
    io: Option<io::Error>,
}

/// What went wrong with a hunk.
#[derive(Debug)]
#[non_exhaustive]
pub enum HunkErrorKind {
    /// The file to update could not be read as text.
    ReadForUpdate(ReadError),
    /// The file to delete could not be read as text.
    ReadForDelete(ReadError),
    /// A chunk's `@@` anchor line is not in the file.
    AnchorNotFound {
        /// The 1-based number of the chunk within the hunk.
        chunk: usize,
        /// The anchor.
        anchor: String,
    },
    /// A chunk's context and removed lines are not in the file (after its anchor and the previous chunk).
    LinesNotFound {
        /// The 1-based number of the chunk within the hunk.
        chunk: usize,
        /// The lines searched for.
        lines: Vec<String>,
    },
    /// The file could not be written.
    Write,
    /// The file's missing parent directories could not be created.
    CreateParents,
    /// The file could not be deleted.
    Delete,
    /// A moved file's original could not be removed.
    RemoveOriginal,
}

impl HunkError {
    pub(crate) fn new(hunk: usize, path: &Path, kind: HunkErrorKind) -> Self {
        HunkError { hunk, path: path.to_path_buf(), kind, io: None }
    }

    pub(crate) fn with_io(mut self, err: io::Error) -> Self {
        self.io = Some(err);
        self
    }

    pub(crate) fn misfit(hunk: usize, path: &Path, misfit: Misfit) -> Self {
        let kind = match misfit {
            Misfit::Anchor { chunk, anchor } => HunkErrorKind::AnchorNotFound { chunk: chunk + 1, anchor },
            Misfit::Lines { chunk, lines } => HunkErrorKind::LinesNotFound { chunk: chunk + 1, lines },
        };
        HunkError::new(hunk, path, kind)
    }
}

impl fmt::Display for HunkError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let path = self.path.display();
        match &self.kind {
            HunkErrorKind::ReadForUpdate(err) => {
                write!(f, "Failed to read file to update {path}: {err}")
            }
            HunkErrorKind::ReadForDelete(err) => write!(f, "Failed to read {path}: {err}"),
            HunkErrorKind::AnchorNotFound { anchor, .. } => {
                write!(f, "Failed to find context '{anchor}' in {path}")
            }
            HunkErrorKind::LinesNotFound { lines, .. } => {
                write!(f, "Failed to find expected lines in {path}:\n{}", lines.join("\n"))
            }
            // Upstream shows only this context, not the I/O error under it.
            HunkErrorKind::Write => write!(f, "Failed to write file {path}"),
            HunkErrorKind::CreateParents => {
                write!(f, "Failed to create parent directories for {path}")
            }
            HunkErrorKind::Delete => write!(f, "Failed to delete file {path}"),
            HunkErrorKind::RemoveOriginal => write!(f, "Failed to remove original {path}"),
        }
    }
}

impl std::error::Error for HunkError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match &self.kind {
            HunkErrorKind::ReadForUpdate(err) | HunkErrorKind::ReadForDelete(err) => Some(err),
            _ => self.io.as_ref().map(|err| err as &(dyn std::error::Error + 'static)),
        }
    }
}

/// Why a file could not be read as text.
#[derive(Debug)]
#[non_exhaustive]
pub enum ReadError {
    /// The file system said no (it is missing, most often).
    Io(io::Error),
    /// The path is a directory or another non-file.
    NotAFile(PathBuf),
    /// The file is not UTF-8.
    NotUtf8(std::str::Utf8Error),
}

impl fmt::Display for ReadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReadError::Io(err) => write!(f, "{err}"),
            ReadError::NotAFile(path) => write!(f, "path `{}` is not a file", path.display()),
            ReadError::NotUtf8(err) => write!(f, "{err}"),
        }
    }
}

impl std::error::Error for ReadError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ReadError::Io(err) => Some(err),
            ReadError::NotUtf8(err) => Some(err),
            ReadError::NotAFile(_) => None,
        }
    }
}
