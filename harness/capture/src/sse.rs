//! `text/event-stream` reading and writing.
//!
//! The reader is incremental: feed it chunks as they come off the wire, in any split, and take out each event as
//! soon as its terminating blank line has arrived. That is what lets a proxy record a stream while forwarding it.

use serde_json::Value;

/// One event as it appears on the wire.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SseFrame {
    pub event: Option<String>,
    /// The `data:` lines, joined with `\n`.
    pub data: String,
    pub id: Option<String>,
}

impl SseFrame {
    /// The data parsed as JSON when it is JSON, else as a string.
    pub fn data_value(&self) -> Value {
        serde_json::from_str(&self.data).unwrap_or_else(|_| Value::String(self.data.clone()))
    }
}

/// Writes one event: `event: <name>` (when given) and `data: <data>`, then a blank line.
pub fn encode(event: Option<&str>, data: &str) -> String {
    let mut out = String::with_capacity(data.len() + 32);
    if let Some(event) = event {
        out.push_str("event: ");
        out.push_str(event);
        out.push('\n');
    }
    for line in data.split('\n') {
        out.push_str("data: ");
        out.push_str(line);
        out.push('\n');
    }
    out.push('\n');
    out
}

/// Writes a Responses event the way the OpenAI API does: `event: <type>` then the compact JSON.
pub fn encode_json(data: &Value) -> String {
    let event = data.get("type").and_then(Value::as_str);
    encode(event, &serde_json::to_string(data).expect("JSON values serialize"))
}

/// Incremental parser following the HTML living standard's event-stream rules (minus `retry`, which is ignored).
#[derive(Debug, Default)]
pub struct SseParser {
    buffer: Vec<u8>,
    current: SseFrame,
    has_data: bool,
    /// A `\r` ended the previous chunk; a `\n` at the start of the next one belongs to it.
    pending_cr: bool,
}

impl SseParser {
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds bytes and returns every event completed by them.
    pub fn push(&mut self, mut chunk: &[u8]) -> Vec<SseFrame> {
        if self.pending_cr && chunk.first() == Some(&b'\n') {
            chunk = &chunk[1..];
        }
        self.pending_cr = false;
        self.buffer.extend_from_slice(chunk);
        let mut frames = Vec::new();
        let mut start = 0;
        let mut i = 0;
        while i < self.buffer.len() {
            let b = self.buffer[i];
            if b == b'\n' || b == b'\r' {
                let line = String::from_utf8_lossy(&self.buffer[start..i]).into_owned();
                if b == b'\r' {
                    if i + 1 < self.buffer.len() {
                        if self.buffer[i + 1] == b'\n' {
                            i += 1;
                        }
                    } else {
                        self.pending_cr = true;
                    }
                }
                if let Some(frame) = self.line(&line) {
                    frames.push(frame);
                }
                start = i + 1;
            }
            i += 1;
        }
        self.buffer.drain(..start);
        frames
    }

    /// Bytes received after the last complete line: non-empty at the end of a stream means it was cut mid-event.
    pub fn leftover(&self) -> &[u8] {
        &self.buffer
    }

    /// True when part of an event has been read but not its terminating blank line.
    pub fn in_event(&self) -> bool {
        self.has_data || self.current.event.is_some() || !self.buffer.is_empty()
    }

    fn line(&mut self, line: &str) -> Option<SseFrame> {
        if line.is_empty() {
            let frame = std::mem::take(&mut self.current);
            let had_data = std::mem::replace(&mut self.has_data, false);
            return had_data.then_some(frame);
        }
        if line.starts_with(':') {
            return None;
        }
        let (field, value) = match line.split_once(':') {
            Some((f, v)) => (f, v.strip_prefix(' ').unwrap_or(v)),
            None => (line, ""),
        };
        match field {
            "event" => self.current.event = Some(value.to_string()),
            "data" => {
                if self.has_data {
                    self.current.data.push('\n');
                }
                self.current.data.push_str(value);
                self.has_data = true;
            }
            "id" => self.current.id = Some(value.to_string()),
            _ => {}
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn events_come_out_whatever_the_chunking() {
        let wire =
            "event: a\ndata: {\"type\":\"a\"}\n\n: comment\r\nevent: b\r\ndata: one\r\ndata: two\r\n\r\ndata: x\r\r";
        let whole: Vec<_> = SseParser::new().push(wire.as_bytes());
        assert_eq!(whole.len(), 3);
        assert_eq!(whole[1], SseFrame { event: Some("b".into()), data: "one\ntwo".into(), id: None });
        for split in 1..wire.len() {
            let mut p = SseParser::new();
            let mut frames = p.push(&wire.as_bytes()[..split]);
            frames.extend(p.push(&wire.as_bytes()[split..]));
            assert_eq!(frames, whole, "split at {split}");
        }
    }

    #[test]
    fn a_cut_stream_leaves_a_partial_event() {
        let mut p = SseParser::new();
        assert!(p.push(b"event: a\ndata: {\"ty").is_empty());
        assert!(p.in_event());
        assert_eq!(p.leftover(), b"data: {\"ty");
    }

    #[test]
    fn encode_round_trips() {
        let data = json!({"type": "response.created", "response": {"id": "r"}});
        let text = encode_json(&data);
        assert!(text.starts_with("event: response.created\ndata: {"));
        let frames = SseParser::new().push(text.as_bytes());
        assert_eq!(frames.len(), 1);
        assert_eq!(frames[0].data_value(), data);
        assert_eq!(SseParser::new().push(encode(None, "a\nb").as_bytes())[0].data, "a\nb");
    }
}
