use super::*;
use parity_capture::model::HoldRecord;
use parity_capture::{CaptureStore, CapturedRequest, Mode, ScriptInfo, SessionRef, StreamEvent};
use serde_json::json;

fn message(role: &str, text: &str) -> Value {
    json!({"type": "message", "role": role, "content": [{"type": "input_text", "text": text}]})
}

fn capture(seq: u32, received_at: &str, input: Vec<Value>) -> Capture {
    let request = CapturedRequest {
        method: "POST".into(),
        path: "/v1/responses".into(),
        query: None,
        headers: Default::default(),
        body: json!({"model": "m", "input": input}),
        raw_body: None,
    };
    let session = SessionRef { index: 1, key: "t".into(), key_header: Some("thread-id".into()) };
    let mut c = Capture::new(session, seq, u64::from(seq), Mode::Scripted, received_at.into(), request);
    c.response.status = 200;
    c.response.outcome = Outcome::Completed;
    c.response.end_ms = Some(5.0);
    c
}

/// A steer sent while the first answer was held: the agent closed that stream, and its next request carried the
/// steer after the assistant message it had received.
fn recording_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let store = CaptureStore::open(dir.path().join("captures"), false).unwrap();
    let mut first = capture(1, "2026-12-05T10:00:00.100Z", vec![message("developer", "rules"), message("user", "hi")]);
    first.response.events = vec![
        StreamEvent { t_ms: 1.0, event: None, data: json!({"type": "response.created"}) },
        StreamEvent {
            t_ms: 2.0,
            event: None,
            data: json!({"type": "response.output_item.done", "item": {"type": "message"}}),
        },
    ];
    first.response.outcome = Outcome::ClientClosed;
    first.response.end_ms = Some(60.0);
    first.script = Some(ScriptInfo {
        step: Some(1),
        steps: 2,
        holds: vec![HoldRecord {
            name: "answer".into(),
            before: "response.completed".into(),
            held_at_ms: 3.0,
            released_at_ms: Some(60.0),
            released_by: Some("client_closed".into()),
        }],
        ..Default::default()
    });
    let assistant =
        json!({"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "Hello there"}]});
    let second = capture(
        2,
        "2026-12-05T10:00:00.180Z",
        vec![message("developer", "rules"), message("user", "hi"), assistant, message("user", "also say bye")],
    );
    store.write(&first).unwrap();
    store.write(&second).unwrap();
    let transcript = [
        json!({"t_ms": 0.0, "action": "start", "turn": 1, "unix_ms": 1_796_464_800_000u64}),
        json!({"t_ms": 50.0, "from": "client", "message": {"id": 3, "method": "turn/steer", "params": {}}}),
        json!({"t_ms": 50.5, "action": "steer", "turn": 1, "at": "answer", "text": "also say bye"}),
        json!({"t_ms": 52.0, "from": "agent", "message": {"id": 3, "result": {"turnId": "u"}}}),
        json!({"t_ms": 300.0, "from": "agent", "message": {"method": "turn/completed", "params": {}}}),
    ];
    let text: String = transcript.iter().map(|v| v.to_string() + "\n").collect();
    std::fs::write(dir.path().join(TRANSCRIPT), text).unwrap();
    dir
}

#[test]
fn everything_is_on_one_clock_in_order() {
    let dir = recording_dir();
    let t = build(dir.path()).unwrap();
    let kinds: Vec<(f64, Kind)> = t.entries.iter().map(|e| (e.t_ms, e.kind)).collect();
    let mut expected = vec![
        (0.0, Kind::Action),
        (100.0, Kind::Request),
        (101.0, Kind::Event),
        (102.0, Kind::Event),
        (103.0, Kind::HoldReached),
        (50.0, Kind::FromClient),
        (50.5, Kind::Action),
        (52.0, Kind::FromAgent),
        (160.0, Kind::HoldReleased),
        (160.0, Kind::ClientClosed),
        (180.0, Kind::Request),
        (185.0, Kind::ResponseEnd),
        (300.0, Kind::FromAgent),
    ];
    // Sorted by time, keeping the order of recording where times are equal.
    expected.sort_by(|a, b| a.0.partial_cmp(&b.0).unwrap());
    assert_eq!(kinds, expected);
    assert!(t.entries.iter().any(|e| e.text == "hold \"answer\" released by client_closed"));
}

#[test]
fn a_steer_is_found_where_it_landed_with_what_came_before_it() {
    let dir = recording_dir();
    let t = build(dir.path()).unwrap();
    assert_eq!(t.steers.len(), 1);
    let s = &t.steers[0];
    assert_eq!(s.request.as_deref(), Some("session-01/0002"));
    assert_eq!(s.pointer.as_deref(), Some("/body/input/3/content/0"));
    assert_eq!(s.role.as_deref(), Some("user"));
    assert_eq!(s.after, "after the assistant message \"Hello there\"");
    let text = render_text(&[t.clone(), t.clone()]);
    assert_eq!(text.matches("steer 1 \"also say bye\"").count(), 2, "{text}");
    let html = render_html(std::slice::from_ref(&t));
    assert!(html.contains("landed in <code>session-01/0002</code> at <code>/body/input/3/content/0</code>"), "{html}");
    let json: Value = serde_json::from_str(&render_json(&[t])).unwrap();
    assert_eq!(json["timelines"][0]["steers"][0]["index"], 3);
}

#[test]
fn a_steer_that_reached_no_request_says_so_and_a_bad_transcript_is_named() {
    let dir = recording_dir();
    let mut text = std::fs::read_to_string(dir.path().join(TRANSCRIPT)).unwrap();
    text.push_str(&json!({"t_ms": 400.0, "action": "steer", "text": "too late"}).to_string());
    text.push('\n');
    std::fs::write(dir.path().join(TRANSCRIPT), &text).unwrap();
    let t = build(dir.path()).unwrap();
    assert_eq!(t.steers[1].request, None);
    assert_eq!(t.steers[1].after, "it reached no request");
    std::fs::write(dir.path().join(TRANSCRIPT), "{\"t_ms\": 0}\nnot json\n").unwrap();
    let e = build(dir.path()).unwrap_err().to_string();
    assert!(e.contains("frontend.jsonl:2: not JSON"), "{e}");
}
