//! The normalized view of a recording: one JSON file per capture holding what the diff compares, volatile values
//! replaced by the same placeholders the diff uses, so that two recordings of an unchanged agent give byte-identical
//! files and a `git diff` of a re-recorded baseline shows only real changes.
//!
//! A view file is `session-NN/request-NNNN-<method>-<path>.json` under a view directory (`parity normalize` puts it
//! at `<recording>/normalized/`). The `request-` prefix keeps the name out of [`is_capture_file_name`]'s pattern, so
//! that a reader loading the recording's directory never takes a view for a capture.
//!
//! [`is_capture_file_name`]: parity_capture::store::is_capture_file_name

use parity_capture::Recording;
use serde_json::{Map, Value, json};

use crate::normalize::{NormalizeOptions, normalize};
use crate::rules::RuleSet;

/// The `format` of a view file.
pub const VIEW_FORMAT: &str = "parity.normalized/v1";
/// Where `parity normalize` puts a recording's view, beside its `captures/`.
pub const VIEW_DIR: &str = "normalized";
/// What makes a view file's name differ from a capture's.
const VIEW_PREFIX: &str = "request-";

/// One view file: where it goes under the view directory, and its text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ViewFile {
    /// `session-01/request-0001-post-responses.json`.
    pub path: String,
    pub text: String,
}

/// The view of every capture of a recording, in session and request order. Placeholders are numbered over the whole
/// recording, as the diff numbers them.
pub fn views(recording: &Recording, rules: &RuleSet) -> Vec<ViewFile> {
    let normalized = normalize(recording, rules, NormalizeOptions::default());
    recording
        .exchanges()
        .zip(&normalized.requests)
        .map(|(exchange, request)| {
            let capture = &exchange.capture;
            let path = view_path(capture.session.index, capture.seq, &capture.request.method, &capture.request.path);
            let mut doc = Map::new();
            doc.insert("format".into(), json!(VIEW_FORMAT));
            doc.insert("capture".into(), json!(request.file));
            doc.insert("request".into(), request.doc.to_value());
            // The answer's timing, event ids and error wording vary from run to run; how it ended does not.
            let mut response = Map::new();
            response.insert("status".into(), json!(capture.response.status));
            response.insert("outcome".into(), serde_json::to_value(capture.response.outcome).unwrap_or(Value::Null));
            doc.insert("response".into(), Value::Object(response));
            if let Some(script) = &capture.script {
                let mut step = Map::new();
                step.insert("step".into(), json!(script.step));
                if let Some(name) = &script.name {
                    step.insert("name".into(), json!(name));
                }
                let failed: Vec<&str> = script.expectations.iter().filter(|e| !e.ok).map(|e| e.name.as_str()).collect();
                if !failed.is_empty() {
                    step.insert("failed_expectations".into(), json!(failed));
                }
                doc.insert("script".into(), Value::Object(step));
            }
            ViewFile { path, text: parity_capture::pretty::value_to_pretty_string(&Value::Object(doc)) }
        })
        .collect()
}

/// Where a capture's view goes under the view directory.
pub fn view_path(session: u32, seq: u32, method: &str, path: &str) -> String {
    let capture = parity_capture::store::relative_path(session, seq, method, path);
    let (dir, file) = capture.split_once('/').expect("a capture's relative path has a session directory");
    format!("{dir}/{VIEW_PREFIX}{file}")
}

/// Whether a file name is one a view file could have (its format decides whether it is one).
pub fn is_view_file_name(name: &str) -> bool {
    name.strip_prefix(VIEW_PREFIX).is_some_and(parity_capture::store::is_capture_file_name)
}

/// Whether a file's text is a view file (parity's, so `parity normalize` may replace or remove it).
pub fn is_view_text(text: &str) -> bool {
    serde_json::from_str::<Value>(text).is_ok_and(|v| v.get("format").and_then(Value::as_str) == Some(VIEW_FORMAT))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{capture, recording};
    use serde_json::json;

    fn one_run(thread: &str, started_ms: u64, prompt: &str) -> Recording {
        let headers = [("thread-id", thread), ("x-codex-window-id", thread)];
        let metadata = json!({"turn_started_at_unix_ms": started_ms}).to_string();
        let body = |text: &str| {
            json!({"model": "m", "prompt_cache_key": thread, "client_metadata": {"x-codex-turn-metadata": metadata},
                   "input": [{"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]}]})
        };
        recording(vec![capture(1, 1, &headers, body(prompt)), capture(1, 2, &headers, body("go on"))])
    }

    #[test]
    fn two_runs_that_differ_only_in_volatile_values_give_identical_views_and_a_real_change_shows() {
        let rules = RuleSet::builtin();
        let a = views(&one_run("019a0000-0000-7000-8000-000000000001", 1_800_000_000_000, "hi"), &rules);
        let b = views(&one_run("019b1111-1111-7111-8111-111111111111", 1_800_000_123_456, "hi"), &rules);
        assert_eq!(a, b);
        assert_eq!(a[0].path, "session-01/request-0001-post-responses.json");
        assert!(a[0].text.contains("\"<uuid7#1>\""), "{}", a[0].text);
        assert!(!a[0].text.contains("019a0000"), "the thread id is replaced: {}", a[0].text);

        let c = views(&one_run("019b1111-1111-7111-8111-111111111111", 1_800_000_123_456, "hello"), &rules);
        assert_ne!(a[0].text, c[0].text);
        assert_eq!(a[1].text, c[1].text, "only the changed request's view changes");
    }

    #[test]
    fn view_names_are_never_taken_for_captures() {
        let path = view_path(2, 3, "GET", "/v1/models");
        assert_eq!(path, "session-02/request-0003-get-models.json");
        let name = path.rsplit('/').next().unwrap();
        assert!(!parity_capture::store::is_capture_file_name(name));
        assert!(is_view_file_name(name));
        assert!(!is_view_file_name("0003-get-models.json"));
        assert!(is_view_text(&format!("{{\"format\": \"{VIEW_FORMAT}\"}}")));
        assert!(!is_view_text("{\"format\": \"parity.capture/v1\"}"));
    }
}
