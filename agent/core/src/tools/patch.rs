//! `apply_patch`: the patch is applied all or nothing, where the sandbox lets patches write, and reported as a
//! `file_change` item.

use std::path::Path;
use std::time::Instant;

use crate::events::{Event, EventSink, FileChange, Item, ItemDetails, Status};

/// Applies `patch` in `cwd` and returns the text for the model.
pub fn apply_patch(
    patch: &str,
    cwd: &Path,
    policy: &dyn rcodex_apply_patch::WritePolicy,
    events: &EventSink,
) -> String {
    let started = Instant::now();
    let outcome = rcodex_apply_patch::apply_patch(patch, cwd, policy);
    let (changes, status, text) = match &outcome {
        Ok(applied) => (applied.changes().to_vec(), Status::Completed, applied.model_output(started.elapsed())),
        Err(error) => (
            error.attempted_changes().unwrap_or_default().to_vec(),
            Status::Failed,
            error.model_output(started.elapsed()),
        ),
    };
    // Upstream reports a file change only for patches that got as far as writing.
    if !changes.is_empty() {
        let changes: Vec<FileChange> = changes
            .iter()
            .map(|c| FileChange { path: c.path.display().to_string(), kind: c.kind.as_str().to_string() })
            .collect();
        let id = events.item_id();
        events.emit(Event::ItemStarted {
            item: Item {
                id: id.clone(),
                details: ItemDetails::FileChange { changes: changes.clone(), status: Status::InProgress },
            },
        });
        events.emit(Event::ItemCompleted { item: Item { id, details: ItemDetails::FileChange { changes, status } } });
    }
    text
}
