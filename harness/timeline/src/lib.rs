//! A recording as a time line, for steer-timing experiments: every model request as it arrived, every stream event the
//! server sent, holds reached and released, streams the agent closed, the frontend's actions (steer, interrupt,
//! approvals) and what the agent told its client, on one clock; and for every steer, **where its text landed**: which
//! request, which `input` index, which role and content part, and what came before it.
//!
//! The data flows one way: a recording directory in (`run.json`, `captures/`, `frontend.jsonl` when the scenario
//! drove an app server), a [`Timeline`] out, then [`render_text`], [`render_json`] or [`render_html`].
//!
//! The clock: milliseconds since the run's origin. Captures carry each request's wall-clock arrival (`received_at`)
//! and their events' offsets from it; the transcript carries offsets from the run's start, and a line with the wall
//! clock anchors them (the recorder's `start` action carries `unix_ms`). Without an anchor, the origin is the first
//! request's arrival and the transcript's entries are left out of the ordering (they are listed apart).

use std::path::{Path, PathBuf};

use parity_capture::{Capture, Outcome, Recording};
use serde::Serialize;
use serde_json::Value;

/// The transcript a frontend leaves beside the captures.
pub const TRANSCRIPT: &str = "frontend.jsonl";

/// One thing that happened.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Entry {
    /// Milliseconds since the origin.
    pub t_ms: f64,
    pub kind: Kind,
    /// `session-01/0002` for what belongs to a request.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request: Option<String>,
    /// What, in a few words.
    pub text: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// A model request arrived.
    Request,
    /// The server sent a stream event.
    Event,
    /// A stream stopped before an event.
    HoldReached,
    /// A held stream went on, or was closed.
    HoldReleased,
    /// The agent closed the stream before its end.
    ClientClosed,
    /// The response ended.
    ResponseEnd,
    /// A frontend action: steer, interrupt, approval, resume...
    Action,
    /// A message from the agent to its client (a notification, a response, a server request).
    FromAgent,
    /// A message from the client to the agent.
    FromClient,
}

/// Where a steer's text landed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Landing {
    /// The steer's text.
    pub text: String,
    /// When the steer was sent, when the transcript says.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sent_ms: Option<f64>,
    /// The first request that carried it, or none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request: Option<String>,
    /// `/body/input/6/content/0`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pointer: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub index: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    /// What came just before it in `input`: `after the assistant message "..."`, `after function_call_output of
    /// call_1`...
    pub after: String,
}

/// A recording, in time order.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Timeline {
    /// The recording directory.
    pub source: String,
    /// The wall-clock time of the origin.
    pub origin: String,
    pub entries: Vec<Entry>,
    pub steers: Vec<Landing>,
}

#[derive(Debug, thiserror::Error)]
pub enum TimelineError {
    #[error(transparent)]
    Load(#[from] parity_capture::LoadError),
    #[error("{path}:{line}: {message}")]
    Transcript { path: PathBuf, line: usize, message: String },
    #[error("{path}: {message}")]
    Io { path: PathBuf, message: String },
}

/// A line of the transcript.
#[derive(Debug, Clone)]
struct Line {
    t_ms: f64,
    value: Value,
}

/// Builds the time line of a recording directory (or of a captures directory alone).
pub fn build(dir: &Path) -> Result<Timeline, TimelineError> {
    let captures_dir = if dir.join("captures").is_dir() { dir.join("captures") } else { dir.to_path_buf() };
    let recording = if captures_dir.exists() { Recording::load(&captures_dir)? } else { Recording::default() };
    let transcript = read_transcript(&dir.join(TRANSCRIPT))?;
    Ok(timeline(dir, &recording, &transcript))
}

fn read_transcript(path: &Path) -> Result<Vec<Line>, TimelineError> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(TimelineError::Io { path: path.to_path_buf(), message: e.to_string() }),
    };
    let mut lines = Vec::new();
    for (i, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        let problem = |message: String| TimelineError::Transcript { path: path.to_path_buf(), line: i + 1, message };
        let value: Value = serde_json::from_str(line).map_err(|e| problem(format!("not JSON: {e}")))?;
        let t_ms = value.get("t_ms").and_then(Value::as_f64).ok_or_else(|| problem("no number `t_ms`".into()))?;
        lines.push(Line { t_ms, value });
    }
    Ok(lines)
}

/// Milliseconds since the Unix epoch of an RFC 3339 time.
fn epoch_ms(text: &str) -> Option<f64> {
    let ts: jiff::Timestamp = text.parse().ok()?;
    Some(ts.as_millisecond() as f64)
}

/// The pure part: captures and transcript in, time line out.
fn timeline(dir: &Path, recording: &Recording, transcript: &[Line]) -> Timeline {
    // The transcript's origin on the wall clock, from its first line that says what time it was (the recorder's
    // `start` action).
    let anchor = transcript.iter().find_map(|l| Some(l.value.get("unix_ms")?.as_f64()? - l.t_ms));
    let first_request = recording.exchanges().filter_map(|e| epoch_ms(&e.capture.received_at)).reduce(f64::min);
    let origin_ms = anchor.or(first_request).unwrap_or(0.0);
    let origin = jiff::Timestamp::from_millisecond(origin_ms.round() as i64).map(|t| t.to_string()).unwrap_or_default();
    let mut entries = Vec::new();
    for exchange in recording.exchanges() {
        let c = &exchange.capture;
        let Some(arrived) = epoch_ms(&c.received_at).map(|ms| ms - origin_ms) else { continue };
        entries.extend(request_entries(c, arrived));
    }
    let aligned = anchor.is_some() || recording.is_empty();
    for line in transcript {
        let t_ms = if aligned { line.t_ms } else { f64::NAN };
        entries.push(transcript_entry(line, t_ms));
    }
    // Stable: what shares a millisecond keeps its order of recording; what has no time goes last.
    let key = |e: &Entry| if e.t_ms.is_nan() { f64::INFINITY } else { e.t_ms };
    entries.sort_by(|a, b| key(a).total_cmp(&key(b)));
    let steers = transcript
        .iter()
        .filter(|l| l.value.get("action").and_then(Value::as_str) == Some("steer"))
        .filter_map(|l| {
            let text = l.value.get("text").and_then(Value::as_str)?;
            Some(landing(recording, text, aligned.then_some(l.t_ms), origin_ms))
        })
        .collect();
    Timeline { source: dir.display().to_string(), origin, entries, steers }
}

fn request_entries(c: &Capture, arrived: f64) -> Vec<Entry> {
    let id = Some(format!("{}/{:04}", parity_capture::store::session_dir_name(c.session.index), c.seq));
    let entry = |t_ms: f64, kind: Kind, text: String| Entry { t_ms, kind, request: id.clone(), text };
    let step = c.script.as_ref().and_then(|s| s.step).map(|n| format!(", step {n}")).unwrap_or_default();
    let last = c.request.input().last().map(|i| brief(&parity_capture::view::item_text(i), 60)).unwrap_or_default();
    let mut out = vec![entry(
        arrived,
        Kind::Request,
        format!(
            "{} {} ({} input items{step}; last: {last})",
            c.request.method,
            c.request.path,
            c.request.input().len()
        ),
    )];
    for e in &c.response.events {
        let kind = e.event_type().unwrap_or("(event)");
        let detail = e.data.pointer("/item/type").and_then(Value::as_str).map(|t| format!(" {t}")).unwrap_or_default();
        out.push(entry(arrived + e.t_ms, Kind::Event, format!("{kind}{detail}")));
    }
    for hold in c.script.iter().flat_map(|s| &s.holds) {
        out.push(entry(
            arrived + hold.held_at_ms,
            Kind::HoldReached,
            format!("hold \"{}\" before {}", hold.name, hold.before),
        ));
        if let Some(at) = hold.released_at_ms {
            let by = hold.released_by.as_deref().unwrap_or("?");
            out.push(entry(arrived + at, Kind::HoldReleased, format!("hold \"{}\" released by {by}", hold.name)));
        }
    }
    if let Some(end) = c.response.end_ms {
        let (kind, text) = match c.response.outcome {
            Outcome::ClientClosed => (Kind::ClientClosed, "the agent closed the stream".to_string()),
            outcome => (Kind::ResponseEnd, format!("response ended: {} {outcome:?}", c.response.status).to_lowercase()),
        };
        out.push(entry(arrived + end, kind, text));
    }
    out
}

fn transcript_entry(line: &Line, t_ms: f64) -> Entry {
    let v = &line.value;
    let (kind, text) = if let Some(action) = v.get("action").and_then(Value::as_str) {
        let mut text = action.to_string();
        for key in ["turn", "at", "text", "decision"] {
            if let Some(value) = v.get(key) {
                text.push_str(&format!(" {key}={}", brief(&value.to_string(), 60)));
            }
        }
        (Kind::Action, text)
    } else if let Some(bad) = v.get("malformed") {
        (Kind::FromAgent, format!("malformed line: {}", brief(&bad.to_string(), 60)))
    } else {
        let message = v.get("message").unwrap_or(&Value::Null);
        let what = match (message.get("method").and_then(Value::as_str), message.get("id")) {
            (Some(method), Some(id)) => format!("request {id} {method}"),
            (Some(method), None) => method.to_string(),
            (None, Some(id)) if message.get("error").is_some() => {
                format!("error for {id}: {}", brief(&message["error"].to_string(), 60))
            }
            (None, Some(id)) => format!("answer to {id}"),
            _ => brief(&message.to_string(), 60),
        };
        let kind =
            if v.get("from").and_then(Value::as_str) == Some("client") { Kind::FromClient } else { Kind::FromAgent };
        (kind, what)
    };
    Entry { t_ms, kind, request: None, text }
}

/// Where `text` first appears in a request's `input` after the steer was sent (any request when the time is not
/// known).
pub fn landing(recording: &Recording, text: &str, sent_ms: Option<f64>, origin_ms: f64) -> Landing {
    let mut found = Landing {
        text: text.to_string(),
        sent_ms,
        request: None,
        pointer: None,
        index: None,
        role: None,
        after: "it reached no request".to_string(),
    };
    for exchange in recording.exchanges() {
        let c = &exchange.capture;
        let arrived = epoch_ms(&c.received_at).map(|ms| ms - origin_ms);
        if let (Some(sent), Some(arrived)) = (sent_ms, arrived)
            && arrived + 1.0 < sent
        {
            continue; // a request from before the steer (received_at has millisecond precision)
        }
        let input = c.request.input();
        for (index, item) in input.iter().enumerate() {
            let parts = item.get("content").and_then(Value::as_array);
            let part = parts.and_then(|parts| {
                parts.iter().position(|p| p.get("text").and_then(Value::as_str).is_some_and(|t| t.contains(text)))
            });
            let in_item = part.is_some() || parity_capture::view::item_text(item).contains(text);
            if !in_item {
                continue;
            }
            found.request = Some(format!("{}/{:04}", parity_capture::store::session_dir_name(c.session.index), c.seq));
            found.pointer = Some(match part {
                Some(p) => format!("/body/input/{index}/content/{p}"),
                None => format!("/body/input/{index}"),
            });
            found.index = Some(index);
            found.role = item.get("role").and_then(Value::as_str).map(str::to_string);
            found.after = match index.checked_sub(1).map(|i| &input[i]) {
                None => "first in input".to_string(),
                Some(before) => format!("after {}", describe_item(before)),
            };
            return found;
        }
    }
    found
}

/// `the assistant message "Hello…"`, `function_call_output of call_1`, `reasoning`.
fn describe_item(item: &Value) -> String {
    let kind = item.get("type").and_then(Value::as_str).unwrap_or("message");
    match kind {
        "message" => {
            let role = item.get("role").and_then(Value::as_str).unwrap_or("?");
            format!("the {role} message \"{}\"", brief(&parity_capture::view::item_text(item), 40))
        }
        k if k.ends_with("_output") || k.ends_with("_call") => {
            let call = item.get("call_id").and_then(Value::as_str).unwrap_or("?");
            format!("{k} of {call}")
        }
        k => k.to_string(),
    }
}

fn brief(text: &str, limit: usize) -> String {
    let one_line = text.replace('\n', "⏎");
    if one_line.chars().count() <= limit {
        return one_line;
    }
    one_line.chars().take(limit - 1).collect::<String>() + "…"
}

/// One time line, or two side by side, as text for a terminal.
pub fn render_text(timelines: &[Timeline]) -> String {
    let mut out = String::new();
    for (i, t) in timelines.iter().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        out.push_str(&format!("== {} (origin {})\n", t.source, t.origin));
        for e in &t.entries {
            let at = if e.t_ms.is_nan() { "       ?".to_string() } else { format!("{:>8.1}", e.t_ms) };
            let request = e.request.as_deref().unwrap_or("");
            out.push_str(&format!("{at} ms  {:<14} {request:<16} {}\n", kind_label(e.kind), e.text));
        }
    }
    out.push_str(&landings_table(timelines));
    out
}

/// The steers of each time line, where each landed: one row per steer, one column group per recording.
fn landings_table(timelines: &[Timeline]) -> String {
    let most = timelines.iter().map(|t| t.steers.len()).max().unwrap_or(0);
    if most == 0 {
        return String::new();
    }
    let mut out = String::from("\nwhere each steer landed:\n");
    for i in 0..most {
        for t in timelines {
            let Some(s) = t.steers.get(i) else { continue };
            out.push_str(&format!(
                "  steer {} {:?} in {}: {} at {} (role {}), {}\n",
                i + 1,
                brief(&s.text, 30),
                t.source,
                s.request.as_deref().unwrap_or("nowhere"),
                s.pointer.as_deref().unwrap_or("-"),
                s.role.as_deref().unwrap_or("-"),
                s.after
            ));
        }
    }
    out
}

fn kind_label(kind: Kind) -> &'static str {
    match kind {
        Kind::Request => "request",
        Kind::Event => "event",
        Kind::HoldReached => "hold",
        Kind::HoldReleased => "release",
        Kind::ClientClosed => "client closed",
        Kind::ResponseEnd => "end",
        Kind::Action => "ACTION",
        Kind::FromAgent => "agent →",
        Kind::FromClient => "→ agent",
    }
}

/// The time lines as JSON, for programs.
pub fn render_json(timelines: &[Timeline]) -> String {
    serde_json::to_string_pretty(&serde_json::json!({"format": "parity.timeline/v1", "timelines": timelines}))
        .expect("JSON serializes")
        + "\n"
}

/// The time lines as one HTML page: a column per recording, each entry placed at its time, steers highlighted.
pub fn render_html(timelines: &[Timeline]) -> String {
    let escape = |s: &str| s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;");
    let mut columns = String::new();
    for t in timelines {
        let mut rows = String::new();
        for e in &t.entries {
            let at = if e.t_ms.is_nan() { "?".to_string() } else { format!("{:.1}", e.t_ms) };
            rows.push_str(&format!(
                "<tr class=\"{:?}\"><td class=\"t\">{at}</td><td class=\"k\">{}</td><td class=\"r\">{}</td><td>{}</td></tr>\n",
                e.kind,
                escape(kind_label(e.kind)),
                escape(e.request.as_deref().unwrap_or("")),
                escape(&e.text)
            ));
        }
        let mut steers = String::new();
        for s in &t.steers {
            steers.push_str(&format!(
                "<li><b>{}</b> landed in <code>{}</code> at <code>{}</code> ({}), {}</li>",
                escape(&s.text),
                escape(s.request.as_deref().unwrap_or("no request")),
                escape(s.pointer.as_deref().unwrap_or("-")),
                escape(s.role.as_deref().unwrap_or("-")),
                escape(&s.after)
            ));
        }
        columns.push_str(&format!(
            "<section><h2>{}</h2><p class=\"o\">origin {}</p><ul class=\"steers\">{steers}</ul><table>{rows}</table></section>",
            escape(&t.source),
            escape(&t.origin)
        ));
    }
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>parity timeline</title><style>{STYLE}</style></head>\
<body><h1>parity timeline</h1><div class=\"cols\">{columns}</div></body></html>\n"
    )
}

const STYLE: &str = "body{font:13px/1.4 system-ui,'DejaVu Sans',sans-serif;margin:24px;background:#f6f7f9;color:#1d2330}\
.cols{display:grid;grid-auto-flow:column;grid-auto-columns:1fr;gap:16px}section{background:#fff;border:1px solid #e3e6eb;border-radius:8px;padding:12px;overflow:auto}\
h2{font-size:14px;margin:0 0 4px;word-break:break-all}.o{color:#667085;margin:0 0 8px}table{border-collapse:collapse;width:100%}\
td{padding:2px 6px;border-bottom:1px solid #f0f1f4;vertical-align:top}td.t{text-align:right;color:#667085;white-space:nowrap}\
td.k{white-space:nowrap;font-weight:600}tr.Request td{background:#eef4ff}tr.Action td{background:#fff4e5;font-weight:600}\
tr.HoldReached td.k,tr.HoldReleased td.k{color:#b45309}tr.ClientClosed td{background:#fdecec}.steers li{margin:4px 0}";

#[cfg(test)]
mod tests;
