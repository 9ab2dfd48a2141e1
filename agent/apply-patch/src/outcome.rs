//! What the model reads back: upstream's texts for success and for each kind of failure.

use std::path::PathBuf;
use std::time::Duration;

use crate::change::FileChange;
use crate::error::ApplyError;
use crate::parser::{Hunk, Patch};

/// A patch that was applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Applied {
    changes: Vec<FileChange>,
    /// Paths as written in the patch, by kind, in patch order: what the summary lists.
    added: Vec<PathBuf>,
    modified: Vec<PathBuf>,
    deleted: Vec<PathBuf>,
}

impl Applied {
    pub(crate) fn new(patch: &Patch, changes: Vec<FileChange>) -> Self {
        let mut applied = Applied { changes, added: Vec::new(), modified: Vec::new(), deleted: Vec::new() };
        for hunk in &patch.hunks {
            match hunk {
                Hunk::Add { path, .. } => applied.added.push(path.clone()),
                Hunk::Delete { path } => applied.deleted.push(path.clone()),
                Hunk::Update { path, move_to, .. } => applied.modified.push(move_to.as_ref().unwrap_or(path).clone()),
            }
        }
        applied
    }

    /// The files changed, sorted by path: the `changes` of the `file_change` item, whose status is `completed`.
    pub fn changes(&self) -> &[FileChange] {
        &self.changes
    }

    /// The summary the patch tool prints: `Success. Updated the following files:` and a line per hunk, additions
    /// first (`A`), then updates (`M`, naming a move's destination), then deletions (`D`), each in patch order
    /// and with paths as the patch wrote them.
    pub fn summary(&self) -> String {
        let mut summary = String::from("Success. Updated the following files:\n");
        for (letter, paths) in [('A', &self.added), ('M', &self.modified), ('D', &self.deleted)] {
            for path in paths {
                summary.push_str(&format!("{letter} {}\n", path.display()));
            }
        }
        summary
    }

    /// The tool output the model reads: the summary, framed like a command's output with the time applying
    /// took.
    pub fn model_output(&self, wall_time: Duration) -> String {
        command_output(0, wall_time, &self.summary())
    }
}

impl ApplyError {
    /// The tool output the model reads for this failure. `wall_time` (the time applying took) only shows for
    /// [`ApplyError::Failed`], the one failure upstream reports as a failed command; the others are reported as
    /// the tool refusing the call.
    pub fn model_output(&self, wall_time: Duration) -> String {
        match self {
            ApplyError::Parse(_) | ApplyError::DuplicatePath { .. } | ApplyError::Verification(_) => {
                format!("apply_patch verification failed: {self}")
            }
            ApplyError::EmptyPatch | ApplyError::Rejected { .. } => {
                format!("patch rejected: {self}")
            }
            ApplyError::Failed { .. } => command_output(1, wall_time, &format!("{self}\n")),
        }
    }
}

fn command_output(exit_code: i32, wall_time: Duration, output: &str) -> String {
    format!("Exit code: {exit_code}\nWall time: {} seconds\nOutput:\n{output}", tenths_of_seconds(wall_time))
}

/// Seconds rounded to a tenth, without a trailing `.0`: `0`, `0.1`, `12.3`.
fn tenths_of_seconds(duration: Duration) -> String {
    let tenths = (duration.as_secs_f64() * 10.0).round() as u64;
    match tenths % 10 {
        0 => format!("{}", tenths / 10),
        fraction => format!("{}.{fraction}", tenths / 10),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parser::parse;

    #[test]
    fn wall_time_is_rounded_to_tenths_without_trailing_zero() {
        let cases = [(0, "0"), (49, "0"), (50, "0.1"), (140, "0.1"), (250, "0.3"), (1000, "1"), (12_340, "12.3")];
        for (millis, shown) in cases {
            assert_eq!(tenths_of_seconds(Duration::from_millis(millis)), shown, "{millis} ms");
        }
    }

    #[test]
    fn summary_groups_by_kind_in_patch_order() {
        let patch = parse(
            "*** Begin Patch\n*** Delete File: d1\n*** Update File: u1\n*** Move to: ./moved\n@@\n-u\n\
             *** Add File: a2\n+a\n*** Delete File: /abs/d0\n*** Add File: sub/../a1\n+a\n*** End Patch",
        )
        .unwrap();
        let applied = Applied::new(&patch, Vec::new());
        assert_eq!(
            applied.model_output(Duration::from_millis(120)),
            "Exit code: 0\nWall time: 0.1 seconds\nOutput:\nSuccess. Updated the following files:\n\
             A a2\nA sub/../a1\nM ./moved\nD d1\nD /abs/d0\n"
        );
    }

    #[test]
    fn failures_are_framed_by_kind() {
        let parse_error = ApplyError::Parse(parse("nope").unwrap_err());
        assert_eq!(
            parse_error.model_output(Duration::ZERO),
            "apply_patch verification failed: invalid patch: The first line of the patch must be '*** Begin Patch'"
        );
        assert_eq!(ApplyError::EmptyPatch.model_output(Duration::ZERO), "patch rejected: empty patch");
        let duplicate = ApplyError::DuplicatePath { hunk: 2, path: "/w/f".into() };
        assert_eq!(
            duplicate.model_output(Duration::ZERO),
            "apply_patch verification failed: invalid patch: multiple operations target /w/f"
        );
    }
}
