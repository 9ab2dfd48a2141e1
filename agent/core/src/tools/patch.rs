//! `apply_patch`: the patch is applied all or nothing, where the sandbox lets patches write, and reported as a
//! `file_change` item. The same happens to a patch that `exec_command` was given as a heredoc.

use std::path::Path;
use std::time::Instant;

use crate::events::{Event, EventSink, FileChange, Item, ItemDetails, Status};

/// Applies a session's patches.
pub struct Patcher {
    policy: rcodex_sandbox::PatchPolicy,
    events: EventSink,
}

/// What applying a patch gave.
pub struct PatchOutput {
    /// The text for the model.
    pub text: String,
    /// The patch got as far as the files (applied, or failed while applying), rather than being refused: the
    /// output then reads as a command's, which `exec_command` frames as its own.
    pub reached_files: bool,
}

impl Patcher {
    pub fn new(policy: rcodex_sandbox::PatchPolicy, events: EventSink) -> Patcher {
        Patcher { policy, events }
    }

    /// Applies `patch` in `cwd`, for the tool call `call_id`.
    pub fn apply(&self, patch: &str, cwd: &Path, call_id: &str) -> PatchOutput {
        let started = Instant::now();
        let outcome = rcodex_apply_patch::apply_patch(patch, cwd, &self.policy);
        let (changes, status, text) = match &outcome {
            Ok(applied) => (applied.changes(), Status::Completed, applied.model_output(started.elapsed())),
            Err(error) => {
                (error.attempted_changes().unwrap_or_default(), Status::Failed, error.model_output(started.elapsed()))
            }
        };
        // Upstream reports a file change only for patches that got as far as writing.
        if !changes.is_empty() {
            self.report(changes, status, call_id);
        }
        let reached_files = outcome.as_ref().map_or_else(|error| error.attempted_changes().is_some(), |_| true);
        PatchOutput { text, reached_files }
    }

    fn report(&self, changes: &[rcodex_apply_patch::FileChange], status: Status, call_id: &str) {
        let changes: Vec<FileChange> = changes.iter().map(file_change).collect();
        let id = self.events.item_id();
        let started = ItemDetails::FileChange { changes: changes.clone(), status: Status::InProgress };
        self.events.emit(Event::ItemStarted { item: Item::new(id.clone(), started).with_source(call_id) });
        let done = ItemDetails::FileChange { changes, status };
        self.events.emit(Event::ItemCompleted { item: Item::new(id, done).with_source(call_id) });
    }
}

/// A change as the events tell it: its diff is the new file's text, the deleted file's, or an update's hunks.
fn file_change(change: &rcodex_apply_patch::FileChange) -> FileChange {
    let diff = match change.kind.as_str() {
        "add" => change.after.clone().unwrap_or_default(),
        "delete" => change.before.clone().unwrap_or_default(),
        _ => change.unified_diff(),
    };
    FileChange {
        path: change.path.display().to_string(),
        kind: change.kind.as_str().to_string(),
        move_path: change.move_to.as_ref().map(|p| p.display().to_string()),
        diff,
    }
}
