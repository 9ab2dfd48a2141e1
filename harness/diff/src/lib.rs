//! The parity diff engine: does an agent send the model what upstream Codex sends, request by request?
//!
//! The data flows in three pure steps, with I/O left to the caller (the `parity diff` command):
//!
//! ```text
//! Recording ──normalize(rules)──▶ NormalizedRecording ─┐
//! Recording ──normalize(rules)──▶ NormalizedRecording ─┴─compare──▶ Comparison ──accept──▶ report::render ──▶ text
//! ```
//!
//! - [`normalize`] turns each captured request into one document (`/method`, `/path`, `/headers/<name>`, `/body/...`)
//!   and applies the [`RuleSet`]: the built-in rules for Codex traffic ([`RuleSet::builtin`]) plus a user's rules file.
//!   Volatile values become placeholders numbered per recording (`<uuid7#3>`, `<cwd#1>`), JSON inside strings is
//!   decoded, maps whose order means nothing are sorted.
//! - [`compare`] pairs requests by session and position and reports every [`Divergence`] with a JSON pointer, both
//!   values and a [`Category`]: schema, relation, value or prompt. Long texts get a word-marked line diff
//!   ([`TextDiff`]); each divergent pair gets its RFC 6902 patch.
//! - [`events`] reads the agent's own event streams beside a scenario's captures (`exec --json` events, app-server
//!   messages), which are normalized with the same rules and numbering and compared in the category `events`.
//! - [`AcceptList::apply`] sets known, accepted divergences apart and names stale entries.
//! - [`report::render`] writes text, JSON, Markdown, JUnit XML or a self-contained HTML page.
//!
//! ```no_run
//! use parity_capture::Recording;
//! use parity_diff::{NormalizeOptions, RuleSet, compare, normalize, report};
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let rules = RuleSet::builtin();
//! let left = normalize(&Recording::load("upstream".as_ref())?, &rules, NormalizeOptions::default());
//! let right = normalize(&Recording::load("mine".as_ref())?, &rules, NormalizeOptions::default());
//! let comparison = compare(&left, &right);
//! print!("{}", report::render(&comparison, report::Format::Text, &report::Options::default()));
//! std::process::exit(if comparison.is_clean() { 0 } else { 1 });
//! # }
//! ```
//!
//! `docs/diff.md` documents the built-in rules, the rules and accept file formats, the categories and the reports.

pub mod accept;
pub mod compare;
pub mod events;
pub mod kept;
pub mod node;
pub mod normalize;
pub mod paths;
pub mod protocol;
pub mod report;
pub mod rules;
pub mod selector;
mod source;
pub mod suite;
pub mod textdiff;
pub mod view;

pub use accept::{AcceptEntry, AcceptList};
pub use compare::{
    Accepted, Category, Comparison, Divergence, Kind, RequestInfo, RequestPair, SideInfo, Summary, compare,
};
pub use events::EventLog;
pub use node::{Node, Placeholder};
pub use normalize::{
    NormalizeOptions, NormalizedRecording, NormalizedRequest, NormalizedStream, Touch, document, normalize,
    normalize_with,
};
pub use rules::{Action, ExtraPath, Replace, Rule, RuleSet};
pub use selector::Selector;
pub use source::FileError;
pub use suite::{ScenarioResult, SuiteComparison, diff_suites};
pub use textdiff::TextDiff;

/// Normalizes both recordings with the same rules and compares them, with the agent's event streams when both are
/// scenario directories that hold them (or their `captures/`) and [`NormalizeOptions::events`] is set: a recording
/// without a scenario directory (a capture file, a session, what `parity serve` wrote) has no events to compare, so
/// neither side's are.
pub fn diff_recordings(
    left: &parity_capture::Recording,
    right: &parity_capture::Recording,
    rules: &RuleSet,
    options: NormalizeOptions,
) -> Comparison {
    let (left_events, right_events) = match options.events {
        true => match (EventLog::beside(&left.root), EventLog::beside(&right.root)) {
            (Some(l), Some(r)) => (Some(l), Some(r)),
            _ => (None, None),
        },
        false => (None, None),
    };
    compare(
        &normalize_with(left, left_events.as_ref(), rules, options),
        &normalize_with(right, right_events.as_ref(), rules, options),
    )
}

#[cfg(test)]
pub(crate) mod testing {
    //! Small recordings built in code.

    use parity_capture::{Capture, CapturedRequest, Mode, RecordedExchange, RecordedSession, Recording, SessionRef};
    use serde_json::Value;

    pub fn capture(session: u32, seq: u32, headers: &[(&str, &str)], body: Value) -> Capture {
        let session_ref = SessionRef { index: session, key: format!("s{session}"), key_header: None };
        let request = CapturedRequest {
            method: "POST".into(),
            path: "/v1/responses".into(),
            query: None,
            headers: headers.iter().copied().collect(),
            body,
            raw_body: None,
        };
        Capture::new(session_ref, seq, u64::from(seq), Mode::Scripted, "2026-11-21T00:00:00Z".into(), request)
    }

    /// A recording of these captures, grouped by their session.
    pub fn recording(captures: Vec<Capture>) -> Recording {
        let mut sessions: Vec<RecordedSession> = Vec::new();
        for capture in captures {
            let exchange = RecordedExchange {
                path: format!(
                    "/rec/{}",
                    parity_capture::store::relative_path(capture.session.index, capture.seq, "POST", "/v1/responses")
                )
                .into(),
                capture,
            };
            match sessions.iter_mut().find(|s| s.index == exchange.capture.session.index) {
                Some(s) => s.exchanges.push(exchange),
                None => sessions.push(RecordedSession {
                    index: exchange.capture.session.index,
                    key: String::new(),
                    exchanges: vec![exchange],
                }),
            }
        }
        Recording { root: "/rec".into(), sessions }
    }

    /// One request with a body, no headers.
    pub fn body_only(body: Value) -> Recording {
        recording(vec![capture(1, 1, &[], body)])
    }
}
