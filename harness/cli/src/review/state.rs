//! The pending review, kept on disk in the new suite (`NEW/.parity-review.json`) until every scenario is decided,
//! so that a review can stop anywhere and resume with only the undecided scenarios.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::{Deserialize, Serialize};

/// The state file's name, in the new suite's directory (a file, so never taken for a scenario).
pub const STATE_FILE: &str = ".parity-review.json";
/// Its `format`.
pub const STATE_FORMAT: &str = "parity.review/v1";

/// What was decided about a scenario's new recording.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    /// Not decided yet (never shown, or skipped).
    Pending,
    /// The new recording replaced the baseline's.
    Accepted,
    /// The baseline was kept; the new recording is not wanted.
    Rejected,
    /// The baseline was kept and the divergences written to the accept file.
    Known,
}

impl Decision {
    pub fn as_str(self) -> &'static str {
        match self {
            Decision::Pending => "pending",
            Decision::Accepted => "accepted",
            Decision::Rejected => "rejected",
            Decision::Known => "known",
        }
    }
}

/// One scenario's entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    pub decision: Decision,
    /// The fingerprint of the new recording the decision is about: a re-recorded scenario is undecided again.
    pub new: String,
}

/// The whole state file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReviewState {
    pub format: String,
    /// The baseline reviewed against (absolute): decisions about another baseline do not carry over.
    pub baseline: PathBuf,
    pub scenarios: BTreeMap<String, Entry>,
}

impl ReviewState {
    pub fn new(baseline: &Path) -> ReviewState {
        ReviewState { format: STATE_FORMAT.into(), baseline: baseline.to_path_buf(), scenarios: BTreeMap::new() }
    }

    /// The state kept in `new`, if any. A file that is not a review state is an error naming it.
    pub fn load(new: &Path) -> anyhow::Result<Option<ReviewState>> {
        let path = new.join(STATE_FILE);
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
        };
        let state: ReviewState = serde_json::from_str(&text).map_err(|e| {
            anyhow::anyhow!(
                "{}:{}:{}: not a review state: {e}; remove the file to start the review afresh",
                path.display(),
                e.line(),
                e.column()
            )
        })?;
        anyhow::ensure!(
            state.format == STATE_FORMAT,
            "{}: review state format \"{}\" is not supported; this parity reads \"{STATE_FORMAT}\"",
            path.display(),
            state.format
        );
        Ok(Some(state))
    }

    /// Writes the state atomically: a review killed mid-write keeps the previous state whole.
    pub fn save(&self, new: &Path) -> anyhow::Result<()> {
        let path = new.join(STATE_FILE);
        let text = parity_capture::pretty::to_pretty_string(self).expect("a review state serializes");
        parity_capture::store::write_atomic(&path, text.as_bytes())
            .with_context(|| format!("writing {}", path.display()))
    }

    /// The decision about this recording of the scenario, when one was made.
    pub fn decided(&self, scenario: &str, fingerprint: &str) -> Option<Decision> {
        self.scenarios
            .get(scenario)
            .filter(|e| e.new == fingerprint && e.decision != Decision::Pending)
            .map(|e| e.decision)
    }

    pub fn set(&mut self, scenario: &str, decision: Decision, fingerprint: &str) {
        self.scenarios.insert(scenario.to_string(), Entry { decision, new: fingerprint.to_string() });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_saved_state_loads_back_and_a_decision_holds_only_for_the_same_recording() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(ReviewState::load(dir.path()).unwrap(), None);
        let mut state = ReviewState::new(Path::new("/base"));
        state.set("a", Decision::Rejected, "f1");
        state.set("b", Decision::Pending, "f2");
        state.save(dir.path()).unwrap();
        let loaded = ReviewState::load(dir.path()).unwrap().unwrap();
        assert_eq!(loaded, state);
        assert_eq!(loaded.decided("a", "f1"), Some(Decision::Rejected));
        assert_eq!(loaded.decided("a", "f-rerecorded"), None);
        assert_eq!(loaded.decided("b", "f2"), None, "pending is no decision");
    }

    #[test]
    fn a_broken_state_file_is_named_with_its_line() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(STATE_FILE), "{\n  \"format\": 3\n}").unwrap();
        let e = ReviewState::load(dir.path()).unwrap_err().to_string();
        assert!(e.contains(".parity-review.json:2:") && e.contains("not a review state"), "{e}");
    }
}
