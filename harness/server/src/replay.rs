//! Replay mode: an earlier recording (scripted or proxied) answers again, so that a session recorded once against
//! a real API runs again and again with no key and no network.
//!
//! Sessions pair up by order of first arrival, and requests by their place among the session's requests of the same
//! method and path. A request that is not at the same point of the conversation as the recorded one is refused with
//! a 400 that says which request and which field differ, instead of being answered with something wrong.

use std::time::Duration;

use parity_capture::model::Mismatch;
use parity_capture::{Capture, CapturedRequest, Outcome, Recording, ReplayInfo};
use serde_json::{Value, json};

use crate::plan::{Action, Plan, PlanBody};
use crate::sessions::Arrival;

/// How fast a recording is replayed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Pace {
    /// Every event as soon as possible.
    #[default]
    Fast,
    /// With the recorded gaps between events.
    Recorded,
}

pub(crate) struct Replay {
    recording: Recording,
    pace: Pace,
}

/// Response headers that describe the recorded transfer, not the answer, and are not replayed.
/// `content-encoding` is among them: a recording holds the events and body decoded, and replays them so.
const TRANSFER_HEADERS: &[&str] =
    &["content-length", "transfer-encoding", "connection", "keep-alive", "date", "content-encoding"];

impl Replay {
    pub fn new(recording: Recording, pace: Pace) -> Self {
        Replay { recording, pace }
    }

    /// Answers a request from the recording, or explains why the recording cannot.
    pub fn answer(&self, arrival: &Arrival, request: &CapturedRequest) -> Option<(Plan, ReplayInfo)> {
        let (method, path) = (request.method.as_str(), request.path.as_str());
        let label = format!("request {} of session {} ({method} {path})", arrival.route_seq, arrival.session.index);
        let Some(session) = self.recording.sessions.get(arrival.session.index as usize - 1) else {
            let message = format!(
                "parity replay: {label} starts session {}, but the recording has {} session(s)",
                arrival.session.index,
                self.recording.sessions.len()
            );
            return Some((Plan::error(400, "parity_replay_exhausted", message), ReplayInfo::default()));
        };
        let mut same_route =
            session.exchanges.iter().filter(|e| e.capture.request.method == method && e.capture.request.path == path);
        let Some(recorded) = same_route.nth(arrival.route_seq as usize - 1) else {
            // The recording never asked for the model list: the caller answers it as scripted mode would.
            return None;
        };
        let source = self.recording.display_path(&recorded.path);
        let mismatches = mismatches(&recorded.capture.request, request);
        if !mismatches.is_empty() {
            let shown: Vec<String> = mismatches
                .iter()
                .take(3)
                .map(|m| format!("{}: recorded {}, received {}", m.path, brief(&m.recorded), brief(&m.received)))
                .collect();
            let more =
                if mismatches.len() > 3 { format!(" (and {} more)", mismatches.len() - 3) } else { String::new() };
            let message =
                format!("parity replay: {label} does not match the recording {source}: {}{more}", shown.join("; "));
            let info = ReplayInfo { source: Some(source), mismatches };
            return Some((Plan::error(400, "parity_replay_mismatch", message), info));
        }
        Some((plan_of(&recorded.capture, self.pace), ReplayInfo { source: Some(source), mismatches: Vec::new() }))
    }

    /// Whether the recording refused the `route_seq`th WebSocket upgrade of this session on this path: a recorded
    /// `GET` with transport `websocket`, which replay refuses again with the recorded status.
    pub fn refused_upgrade(&self, session: u32, route_seq: u32, path: &str) -> bool {
        self.recording.sessions.get(session as usize - 1).is_some_and(|s| {
            s.exchanges
                .iter()
                .filter(|e| e.capture.request.method == "GET" && e.capture.request.path == path)
                .nth(route_seq as usize - 1)
                .is_some_and(|e| e.capture.is_websocket())
        })
    }

    /// Whether the recording has any exchange for this route in this session (used for `/models`).
    pub fn has_route(&self, arrival: &Arrival, method: &str, path: &str) -> bool {
        self.recording.sessions.get(arrival.session.index as usize - 1).is_some_and(|s| {
            s.exchanges.iter().any(|e| e.capture.request.method == method && e.capture.request.path == path)
        })
    }
}

/// Turns a recorded response back into a plan: the same status, headers, and events (or body). A recorded stream
/// that did not end normally is cut at the same point.
pub fn plan_of(capture: &Capture, pace: Pace) -> Plan {
    let response = &capture.response;
    if response.status == 0 {
        let message = format!(
            "parity replay: the recorded exchange {} never got an answer (outcome {:?})",
            capture.relative_path(),
            response.outcome
        );
        return Plan::error(502, "parity_replay_incomplete", message);
    }
    let headers: Vec<(String, String)> = response
        .headers
        .iter()
        .filter(|(n, v)| !TRANSFER_HEADERS.contains(n) && !parity_capture::redact::is_redacted(v))
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect();
    let is_stream = !response.events.is_empty()
        || response.headers.get("content-type").is_some_and(|t| t.starts_with("text/event-stream"));
    let body = if is_stream {
        let mut actions = Vec::with_capacity(response.events.len() * 2 + 1);
        let mut last_ms = response.headers_ms.unwrap_or(0.0);
        for event in &response.events {
            if pace == Pace::Recorded && event.t_ms > last_ms {
                // Times are checked when a recording loads; a capture built in code is bounded here too.
                let gap = (event.t_ms - last_ms).min(parity_capture::model::MAX_RECORDED_MS) / 1000.0;
                actions.push(Action::Sleep(Duration::try_from_secs_f64(gap).unwrap_or_default()));
            }
            last_ms = event.t_ms;
            actions.push(Action::Send { event: event.event.clone(), data: event.data.clone() });
        }
        if response.outcome != Outcome::Completed {
            // A WebSocket response the server closed with a code is closed again with that code.
            match capture.websocket.as_ref().and_then(|w| w.close_code.map(|code| (code, w.close_reason.clone()))) {
                Some((code, reason)) => actions.push(Action::Close { code, reason: reason.unwrap_or_default() }),
                None => actions.push(Action::Disconnect),
            }
        }
        PlanBody::Stream(actions)
    } else {
        match &response.body {
            Some(Value::String(text)) => PlanBody::Text(text.clone()),
            Some(json) => PlanBody::Json(json.clone()),
            None => PlanBody::Text(String::new()),
        }
    };
    Plan { status: response.status, headers, body }
}

/// Where a request is not at the same point of the conversation as the recorded one. Compared: method, path, model,
/// and the input items' kinds, roles, call ids and tool names, plus the text of the user's own messages. Volatile
/// content (ids, dates, paths, tool timings) is not compared; `parity diff` is the tool for exact comparison.
pub fn mismatches(recorded: &CapturedRequest, received: &CapturedRequest) -> Vec<Mismatch> {
    let mut out = Vec::new();
    let mut differ = |path: &str, a: Value, b: Value| {
        if a != b {
            out.push(Mismatch { path: path.to_string(), recorded: a, received: b });
        }
    };
    differ("/method", json!(recorded.method), json!(received.method));
    differ("/path", json!(recorded.path), json!(received.path));
    let (a, b) = (&recorded.body, &received.body);
    differ(
        "/body/model",
        a.get("model").cloned().unwrap_or(Value::Null),
        b.get("model").cloned().unwrap_or(Value::Null),
    );
    let empty = Vec::new();
    let input_a = a.get("input").and_then(Value::as_array).unwrap_or(&empty);
    let input_b = b.get("input").and_then(Value::as_array).unwrap_or(&empty);
    for i in 0..input_a.len().min(input_b.len()) {
        for key in ["type", "role", "call_id", "name"] {
            let (x, y) = (input_a[i].get(key), input_b[i].get(key));
            if x.is_some() || y.is_some() {
                differ(
                    &format!("/body/input/{i}/{key}"),
                    x.cloned().unwrap_or(Value::Null),
                    y.cloned().unwrap_or(Value::Null),
                );
            }
        }
        if let (Some(x), Some(y)) = (user_prompt(&input_a[i]), user_prompt(&input_b[i])) {
            differ(&format!("/body/input/{i}/content"), json!(x), json!(y));
        }
    }
    if input_a.len() != input_b.len() {
        differ("/body/input/length", json!(input_a.len()), json!(input_b.len()));
    }
    out
}

/// The text of a user message that the user typed, as opposed to context the agent adds (`<environment_context>`,
/// AGENTS.md instructions), which holds paths and dates.
fn user_prompt(item: &Value) -> Option<String> {
    if item.get("role").and_then(Value::as_str) != Some("user") {
        return None;
    }
    let text = parity_capture::view::item_text(item);
    let trimmed = text.trim_start();
    (!trimmed.starts_with('<') && !trimmed.starts_with("# AGENTS.md")).then_some(text)
}

fn brief(value: &Value) -> String {
    let text = value.to_string();
    if text.chars().count() > 80 { format!("{}...", text.chars().take(80).collect::<String>()) } else { text }
}

#[cfg(test)]
mod tests {
    use super::*;
    use parity_capture::HeaderList;

    fn request(input: Value) -> CapturedRequest {
        CapturedRequest {
            method: "POST".into(),
            path: "/v1/responses".into(),
            query: None,
            headers: HeaderList::new(),
            body: json!({"model": "m", "input": input}),
            raw_body: None,
        }
    }

    #[test]
    fn volatile_content_matches_but_the_conversation_point_must() {
        let env = |cwd: &str| json!({"type": "message", "role": "user", "content": [{"type": "input_text", "text": format!("<environment_context><cwd>{cwd}</cwd></environment_context>")}]});
        let prompt = |t: &str| json!({"type": "message", "role": "user", "id": "msg_1", "content": [{"type": "input_text", "text": t}]});
        let a = request(json!([env("/tmp/a"), prompt("say hi")]));
        let mut b = request(json!([env("/tmp/b"), prompt("say hi")]));
        b.body["input"][1]["id"] = json!("msg_2");
        assert!(mismatches(&a, &b).is_empty(), "paths and ids differ run to run");

        let c = request(json!([env("/tmp/b"), prompt("say bye")]));
        let m = mismatches(&a, &c);
        assert_eq!(m.len(), 1);
        assert_eq!(m[0].path, "/body/input/1/content");

        let d = request(
            json!([env("/tmp/b"), prompt("say hi"), {"type": "function_call_output", "call_id": "c1", "output": "x"}]),
        );
        let m = mismatches(&a, &d);
        assert_eq!(m.iter().map(|m| m.path.as_str()).collect::<Vec<_>>(), ["/body/input/length"]);
    }
}
