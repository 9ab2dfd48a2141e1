//! JSON-RPC messages that break the app-server protocol, as divergences of the category `protocol`.
//!
//! A scenario driven through an app server keeps its transcript (`frontend.jsonl`). Every message the agent sent is
//! checked against the protocol's schema recorded from upstream ([`parity_protocol::Protocol`]), its answers by the
//! requests they answer; each message that breaks it is a divergence naming the method and the JSON pointer, in a
//! pair of its own (`protocol/frontend.jsonl`) on the side whose transcript holds it. The frontend's messages are the
//! scenario's, the same for either agent: one that breaks the protocol is there on purpose (to record how an agent
//! refuses it, as app-permissions-read-only-on-failure does) and says nothing of the agent. A recording without a
//! transcript has nothing to check.

use std::path::Path;

use parity_protocol::{Protocol, Sender};
use serde_json::Value;

use crate::compare::{Category, Comparison, Divergence, Kind, RequestInfo, RequestPair};

/// The transcript's file name in a scenario directory.
const TRANSCRIPT: &str = "frontend.jsonl";

/// The messages of a transcript, with who sent each and its line; `None` when the directory has no transcript.
fn messages(dir: &Path) -> Option<Vec<(usize, Sender, Value)>> {
    let text = std::fs::read_to_string(dir.join(TRANSCRIPT)).ok()?;
    let messages = text
        .lines()
        .enumerate()
        .filter_map(|(i, line)| {
            let value: Value = serde_json::from_str(line).ok()?;
            let sender = match value.get("from").and_then(Value::as_str)? {
                "client" => Sender::Client,
                _ => Sender::Agent,
            };
            Some((i + 1, sender, value.get("message")?.clone()))
        })
        .collect();
    Some(messages)
}

/// Adds a pair of the protocol's violations for each side whose scenario directory holds a transcript that breaks
/// the protocol. Returns how many violations were found.
pub fn check_transcripts(comparison: &mut Comparison, protocol: &Protocol, left: &Path, right: &Path) -> usize {
    let mut found = 0;
    for (on_left, dir) in [(true, left), (false, right)] {
        let Some(messages) = messages(dir) else { continue };
        let violations: Vec<_> = parity_protocol::check_transcript(protocol, messages.iter().map(|(_, s, m)| (*s, m)))
            .into_iter()
            .filter(|(index, _)| messages[*index].1 == Sender::Agent)
            .collect();
        if violations.is_empty() {
            continue;
        }
        found += violations.len();
        let divergences = violations
            .into_iter()
            .map(|(index, v)| {
                let (line, _, message) = &messages[index];
                let value = Some(message.clone());
                let (kind, left, right) =
                    if on_left { (Kind::OnlyLeft, value, None) } else { (Kind::OnlyRight, None, value) };
                Divergence {
                    category: Category::Protocol,
                    kind,
                    path: format!("/{TRANSCRIPT}/{line}{}", v.pointer),
                    right_path: None,
                    left,
                    right,
                    note: Some(format!("{TRANSCRIPT} line {line}: {v}")),
                    text_diff: None,
                }
            })
            .collect();
        let info = RequestInfo {
            file: TRANSCRIPT.to_string(),
            label: "JSON-RPC messages against the app-server protocol".to_string(),
            step: None,
            path: dir.join(TRANSCRIPT),
        };
        let (left_info, right_info) = if on_left { (Some(info), None) } else { (None, Some(info)) };
        comparison.pairs.push(RequestPair {
            id: format!("protocol/{}", if on_left { "left" } else { "right" }),
            session: 0,
            seq: 0,
            left: left_info,
            right: right_info,
            divergences,
            accepted: Vec::new(),
            patch: None,
            explain_left: Vec::new(),
            explain_right: Vec::new(),
            events: false,
        });
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn protocol() -> Protocol {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../captures/codex-0.169.0/app-server-schema");
        Protocol::load(&dir).unwrap()
    }

    fn transcript(dir: &Path, lines: &[Value]) {
        let text: String = lines.iter().map(|l| l.to_string() + "\n").collect();
        std::fs::write(dir.join(TRANSCRIPT), text).unwrap();
    }

    #[test]
    fn a_message_that_breaks_the_protocol_is_a_protocol_divergence_naming_method_line_and_pointer() {
        let (left, right) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let initialize =
            json!({"id": 1, "method": "initialize", "params": {"clientInfo": {"name": "parity", "version": "1"}}});
        transcript(
            left.path(),
            &[json!({"t_ms": 0.0, "action": "start"}), json!({"t_ms": 1.0, "from": "client", "message": initialize})],
        );
        transcript(
            right.path(),
            &[
                json!({"t_ms": 1.0, "from": "client", "message": initialize}),
                json!({"t_ms": 2.0, "from": "agent", "message": {"method": "turn/started", "params": {"threadId": 5}}}),
            ],
        );
        let empty = parity_capture::Recording::default();
        let mut c = crate::diff_recordings(&empty, &empty, &crate::RuleSet::builtin(), Default::default());
        let found = check_transcripts(&mut c, &protocol(), left.path(), right.path());
        assert!(found >= 1);
        assert_eq!(c.pairs.len(), 1, "the left side is clean");
        let pair = &c.pairs[0];
        assert_eq!(pair.id, "protocol/right");
        let d = &pair.divergences[0];
        assert_eq!(d.category, Category::Protocol);
        assert!(d.path.starts_with("/frontend.jsonl/2/params"), "{}", d.path);
        assert!(d.note.as_deref().unwrap().contains("turn/started"), "{:?}", d.note);
        assert_eq!(c.summary().protocol, found);
        // No transcript, nothing to check.
        let none = tempfile::tempdir().unwrap();
        assert_eq!(check_transcripts(&mut c, &protocol(), none.path(), none.path()), 0);
    }

    #[test]
    fn a_frontend_message_that_breaks_the_protocol_is_the_scenarios_and_no_divergence() {
        let dir = tempfile::tempdir().unwrap();
        let start = json!({"id": 2, "method": "thread/start", "params": {"approvalPolicy": "on-failure"}});
        let refusal = json!({"id": 2, "error": {"code": -32600, "message": "Invalid request: unknown variant"}});
        let lines = [json!({"from": "client", "message": start}), json!({"from": "agent", "message": refusal})];
        transcript(dir.path(), &lines);
        let empty = parity_capture::Recording::default();
        let mut c = crate::diff_recordings(&empty, &empty, &crate::RuleSet::builtin(), Default::default());
        assert_eq!(check_transcripts(&mut c, &protocol(), dir.path(), dir.path()), 0);
        assert!(c.pairs.is_empty());

        // The same request answered with what the protocol does not allow is the agent's.
        let answer = json!({"id": 2, "result": {"thread": 7}});
        transcript(dir.path(), &[lines[0].clone(), json!({"from": "agent", "message": answer})]);
        assert!(check_transcripts(&mut c, &protocol(), dir.path(), dir.path()) >= 2);
    }
}
