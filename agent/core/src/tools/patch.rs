//! `apply_patch`: the patch is applied all or nothing, where the sandbox lets patches write, and reported as a
//! `file_change` item. The same happens to a patch that `exec_command` was given as a heredoc. Where the sandbox
//! refuses a path and someone may approve, the patch asks first ([`super::approval`]).

use std::path::{Path, PathBuf};
use std::time::Instant;

use rcodex_apply_patch::{Unrestricted, WritePolicy};

use super::approval::{Approvals, PATCH_DECLINED};
use crate::events::{Event, EventSink, FileChange, Item, ItemDetails, Status};
use crate::interaction::ApprovalDecision;

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
    /// The whole patch was applied.
    pub applied: bool,
}

impl Patcher {
    pub fn new(policy: rcodex_sandbox::PatchPolicy, events: EventSink) -> Patcher {
        Patcher { policy, events }
    }

    /// Applies `patch` in `cwd`, for the tool call `call_id`.
    pub fn apply(&self, patch: &str, cwd: &Path, call_id: &str) -> PatchOutput {
        self.apply_with(patch, cwd, call_id, &self.policy, None)
    }

    /// Applies `patch` as [`Self::apply`] does, but a patch the sandbox refuses asks for approval first when the
    /// policy lets tools ask: shown as a started item meanwhile, then applied as it is, or declined (the item
    /// completed as declined), or cancelled (the turn ends; this never returns).
    pub async fn apply_asking(&self, patch: &str, cwd: &Path, call_id: &str, approvals: &Approvals) -> PatchOutput {
        let preview = match rcodex_apply_patch::parse(patch) {
            Ok(parsed) if approvals.asks() => parsed.preview(cwd).ok(),
            _ => None,
        };
        // A patch that does not parse or fit fails as it would anyway; one within the sandbox needs nobody.
        let Some(changes) = preview else { return self.apply(patch, cwd, call_id) };
        let paths: Vec<PathBuf> =
            changes.iter().flat_map(|c| std::iter::once(c.path.clone()).chain(c.move_to.clone())).collect();
        if paths.iter().all(|path| self.policy.check(path).is_ok()) {
            return self.apply(patch, cwd, call_id);
        }
        let shown: Vec<FileChange> = changes.iter().map(file_change).collect();
        let mut announced = None;
        let decision = approvals
            .decide_patch(call_id, &paths, shown.clone(), || {
                let id = self.events.item_id();
                let started = ItemDetails::FileChange { changes: shown.clone(), status: Status::InProgress };
                self.events.emit(Event::ItemStarted { item: Item::new(id.clone(), started).with_source(call_id) });
                announced = Some(id);
            })
            .await;
        match decision {
            decision if decision.approves() => self.apply_with(patch, cwd, call_id, &Unrestricted, announced),
            ApprovalDecision::Cancel => {
                // The turn ends as interrupted, this call answered as an interrupted one; no item completes.
                approvals.asker.cancel_turn();
                std::future::pending().await
            }
            _ => {
                if let Some(id) = announced {
                    let declined = ItemDetails::FileChange { changes: shown, status: Status::Declined };
                    self.events.emit(Event::ItemCompleted { item: Item::new(id, declined).with_source(call_id) });
                }
                PatchOutput { text: PATCH_DECLINED.to_string(), reached_files: false, applied: false }
            }
        }
    }

    /// Applies `patch` under `policy`; `announced` is the id of an item already shown as started for it.
    fn apply_with(
        &self,
        patch: &str,
        cwd: &Path,
        call_id: &str,
        policy: &dyn WritePolicy,
        announced: Option<String>,
    ) -> PatchOutput {
        let started = Instant::now();
        let outcome = rcodex_apply_patch::apply_patch(patch, cwd, policy);
        let (changes, status, text) = match &outcome {
            Ok(applied) => (applied.changes(), Status::Completed, applied.model_output(started.elapsed())),
            Err(error) => {
                (error.attempted_changes().unwrap_or_default(), Status::Failed, error.model_output(started.elapsed()))
            }
        };
        // Upstream reports a file change only for patches that got as far as writing.
        if !changes.is_empty() {
            self.report(changes, status, call_id, announced);
        }
        let reached_files = outcome.as_ref().map_or_else(|error| error.attempted_changes().is_some(), |_| true);
        PatchOutput { text, reached_files, applied: outcome.is_ok() }
    }

    fn report(
        &self,
        changes: &[rcodex_apply_patch::FileChange],
        status: Status,
        call_id: &str,
        announced: Option<String>,
    ) {
        let changes: Vec<FileChange> = changes.iter().map(file_change).collect();
        let id = match announced {
            Some(id) => id,
            None => {
                let id = self.events.item_id();
                let started = ItemDetails::FileChange { changes: changes.clone(), status: Status::InProgress };
                self.events.emit(Event::ItemStarted { item: Item::new(id.clone(), started).with_source(call_id) });
                id
            }
        };
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
        before: change.before.clone(),
    }
}
