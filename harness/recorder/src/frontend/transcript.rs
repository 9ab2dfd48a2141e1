//! `frontend.jsonl`: the whole JSON-RPC conversation between the recorder and an app-server agent, both ways, with
//! what the recorder did and when (for the tui frontend, what it did only: its steps, holds, screens, processes).
//! One JSON object per line, in the order things happened:
//!
//! - a message: `{"t_ms": 12.5, "from": "client" | "agent", "message": {...}}`, the JSON-RPC message as sent or
//!   received;
//! - a line from the agent that is not JSON: `{"t_ms": ..., "from": "agent", "malformed": "the text"}`;
//! - an action of the recorder: `{"t_ms": ..., "action": "steer", "turn": 2, "at": "HOLD", ...}`, see [`Transcript::action`].
//!
//! `t_ms` is milliseconds since the run started (fractional), the same origin for every line.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use serde_json::{Map, Value, json};

/// The transcript's file name in a run's output directory.
pub const FILE: &str = "frontend.jsonl";

/// Lines so far; shared by the tasks that read the agent's output and the one that drives it.
#[derive(Clone)]
pub struct Transcript {
    started: Instant,
    lines: Arc<Mutex<Vec<String>>>,
}

impl Transcript {
    pub fn new(started: Instant) -> Transcript {
        Transcript { started, lines: Arc::default() }
    }

    fn t_ms(&self) -> f64 {
        // Microsecond resolution is plenty, and keeps the numbers short.
        (self.started.elapsed().as_micros() as f64) / 1000.0
    }

    fn push(&self, mut line: Map<String, Value>) {
        let mut ordered = Map::new();
        ordered.insert("t_ms".into(), json!(self.t_ms()));
        ordered.append(&mut line);
        let text = Value::Object(ordered).to_string();
        self.lines.lock().expect("transcript lock").push(text);
    }

    pub fn client(&self, message: &Value) {
        self.push(object(json!({"from": "client", "message": message})));
    }

    pub fn agent(&self, message: &Value) {
        self.push(object(json!({"from": "agent", "message": message})));
    }

    pub fn malformed(&self, text: &str) {
        self.push(object(json!({"from": "agent", "malformed": text})));
    }

    /// `{"action": name, "turn": turn, ...fields}`. The actions: `start` (an agent process started: `process`,
    /// `command`, and `unix_ms`, the wall clock then), `turn` (a turn with a prompt begins: `prompt`), `exit` (it ended: `process`, `code`, `signal`), `steer` (`at`, `text`, `request`: the held model
    /// request's `session` and `seq`), `interrupt` (`at`, `request`), `release` (`at`, `released`: how many holds the
    /// release found; 0 when the agent had already closed the held stream), `approval` (`method`, `request_id`,
    /// `decision`), `answer` (`request_id`, `answers`), `resume`, `fork` and `compact` (`thread`, and `forked` for a
    /// fork), `refused_request` (a request of the agent's the scenario does not answer: `method`), and `failed`
    /// (`message`).
    pub fn action(&self, name: &str, turn: usize, fields: Value) {
        let mut line = object(json!({"action": name, "turn": turn}));
        line.append(&mut object(fields));
        self.push(line);
    }

    /// Everything, one line each, ending with a newline.
    pub fn text(&self) -> String {
        let lines = self.lines.lock().expect("transcript lock");
        lines.iter().map(|l| format!("{l}\n")).collect()
    }
}

fn object(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        Value::Null => Map::new(),
        other => Map::from_iter([("value".to_string(), other)]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_carry_their_time_first_and_keep_the_message_as_it_was() {
        let transcript = Transcript::new(Instant::now());
        transcript.client(&json!({"id": 1, "method": "initialize", "params": {"b": 1, "a": 2}}));
        transcript.malformed("not json");
        transcript.action("steer", 2, json!({"at": "H", "text": "go"}));
        let text = transcript.text();
        let lines: Vec<Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        assert_eq!(lines.len(), 3);
        assert!(text.lines().all(|l| l.starts_with("{\"t_ms\":")), "{text}");
        assert_eq!(lines[0]["from"], "client");
        assert!(text.lines().next().unwrap().contains("{\"b\":1,\"a\":2}"), "key order as sent: {text}");
        assert_eq!(lines[1]["malformed"], "not json");
        assert_eq!((lines[2]["action"].as_str(), lines[2]["turn"].as_u64()), (Some("steer"), Some(2)));
        assert!(lines[0]["t_ms"].as_f64().unwrap() <= lines[2]["t_ms"].as_f64().unwrap());
    }
}
