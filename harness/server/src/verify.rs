//! Verification after a run: what a test of an agent wants to fail on even when the agent itself did not complain.
//!
//! Two kinds of check. The script's: a step no request used, an expectation a request broke, a request the
//! script could not answer. And the conversation's, the invariants codex-rs's own test support checks on every
//! request: each tool call a response made is answered by exactly one output with its call id in the session's
//! next request, and no output answers a call that was never made. The second kind reads captures only, so it
//! applies to any recording (see [`check_call_invariants`]).

use std::collections::{BTreeMap, HashSet};

use parity_capture::{Capture, Outcome, Recording};
use serde_json::Value;

use crate::scripted::UnusedStep;

/// A tool call item type and the output item type that answers it.
const CALL_OUTPUTS: &[(&str, &str)] = &[
    ("function_call", "function_call_output"),
    ("custom_tool_call", "custom_tool_call_output"),
    ("tool_search_call", "tool_search_output"),
];

/// A broken invariant of the conversation, located in the captures.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    pub session: u32,
    /// `seq` of the request at fault (the one lacking an output, or carrying one without a call).
    pub seq: u32,
    pub call_id: String,
    pub message: String,
}

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "session {} request {}: {}", self.session, self.seq, self.message)
    }
}

/// What [`crate::ParityServer::verify`] found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VerifyReport {
    /// Steps of the script no request used (steps marked optional left out).
    pub unused_steps: Vec<UnusedStep>,
    /// Requests the script refused: broken expectations, nothing left to answer, a value it could not extract.
    pub refused_requests: Vec<String>,
    /// Broken invariants of the conversation.
    pub violations: Vec<Violation>,
}

impl VerifyReport {
    pub fn is_ok(&self) -> bool {
        self.unused_steps.is_empty() && self.refused_requests.is_empty() && self.violations.is_empty()
    }

    /// The report of a run, from the script's unused steps and the run's captures.
    pub fn of(unused_steps: Vec<UnusedStep>, captures: &[Capture]) -> Self {
        VerifyReport {
            unused_steps,
            refused_requests: refused_requests(captures),
            violations: check_call_invariants(captures),
        }
    }
}

impl std::fmt::Display for VerifyReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.is_ok() {
            return f.write_str("parity: verified: every step used, every request answered, every tool call answered");
        }
        writeln!(f, "parity: the run does not verify:")?;
        for step in &self.unused_steps {
            writeln!(f, "  - {step} was never used (mark it optional if the run may skip it)")?;
        }
        for refused in &self.refused_requests {
            writeln!(f, "  - {refused}")?;
        }
        for violation in &self.violations {
            writeln!(f, "  - {violation}")?;
        }
        Ok(())
    }
}

/// Requests the script answered with one of parity's own 400s, each as the 400 said it.
fn refused_requests(captures: &[Capture]) -> Vec<String> {
    const CODES: &[&str] = &["parity_expectation_failed", "parity_script_exhausted", "parity_extract_failed"];
    captures
        .iter()
        .filter(|c| c.script.is_some())
        .filter_map(|c| {
            let error = c.response.body.as_ref()?.get("error")?;
            let code = error.get("code")?.as_str()?;
            CODES.contains(&code).then(|| {
                let message = error.get("message").and_then(Value::as_str).unwrap_or(code);
                format!("session {} request {}: {message}", c.session.index, c.seq)
            })
        })
        .collect()
}

/// The invariants over a recording read from disk.
pub fn check_recording(recording: &Recording) -> Vec<Violation> {
    let captures: Vec<Capture> = recording.exchanges().map(|e| e.capture.clone()).collect();
    check_call_invariants(&captures)
}

/// Checks, session by session over the model requests (`POST .../responses`) in order, that
/// - every `function_call`, `custom_tool_call` and `tool_search_call` (client-executed) of a completed response is
///   answered by exactly one output of the matching type with the same `call_id` in the session's next request;
/// - every output with a `call_id` in a request's `input` answers a call made before: one in the same `input`, or
///   one of an earlier response of the session (an output without a `call_id` answers no call: upstream injects
///   context items that way).
///
/// A call of a response without a `call_id` is the model's malformed item, which no output can answer: it is left
/// out (upstream 0.169.0 drops it unseen, and the `call-without-id` scenario records that). So is a call of a
/// sub-agent's last response (`x-openai-subagent`), which its parent may have ended.
pub fn check_call_invariants(captures: &[Capture]) -> Vec<Violation> {
    let mut sessions: BTreeMap<u32, Vec<&Capture>> = BTreeMap::new();
    for capture in captures.iter().filter(|c| is_model_request(c)) {
        sessions.entry(capture.session.index).or_default().push(capture);
    }
    let mut violations = Vec::new();
    for (session, mut requests) in sessions {
        requests.sort_by_key(|c| c.seq);
        let mut calls_made: HashSet<String> = HashSet::new();
        for (i, request) in requests.iter().enumerate() {
            let violation = |call_id: &str, message: String| Violation {
                session,
                seq: request.seq,
                call_id: call_id.to_string(),
                message,
            };
            let input = request.request.input();
            let calls_in_input: HashSet<&str> = input
                .iter()
                .filter(|item| call_output_type(item).is_some())
                .filter_map(|item| item.get("call_id").and_then(Value::as_str))
                .collect();
            for item in input {
                let Some(kind) = item.get("type").and_then(Value::as_str) else { continue };
                if !CALL_OUTPUTS.iter().any(|(_, output)| *output == kind) {
                    continue;
                }
                // An output without a call id answers no call: upstream injects context that way (a
                // `function_call_output` named `goal_objective`), so it is not an orphan.
                let Some(call_id) = item.get("call_id").and_then(Value::as_str) else { continue };
                if !calls_in_input.contains(call_id) && !calls_made.contains(call_id) {
                    violations.push(violation(
                        call_id,
                        format!("its input has a {kind} for call_id {call_id}, but no call with that id was made"),
                    ));
                }
            }
            let calls = response_calls(request);
            for (call_type, output_type, call_id) in &calls {
                let origin = format!("{call_type} {call_id} of the response to request {}", request.seq);
                if call_id.is_empty() {
                    continue;
                }
                let Some(next) = requests.get(i + 1) else {
                    // A sub-agent's parent may end it while a call runs (`close_agent`, an interrupted review,
                    // app-review-interrupt): nothing is left to answer that call.
                    if request.request.header("x-openai-subagent").is_some() {
                        continue;
                    }
                    violations.push(violation(
                        call_id,
                        format!("{origin} was never answered: the session sent no later request"),
                    ));
                    continue;
                };
                let next_violation =
                    |message: String| Violation { session, seq: next.seq, call_id: call_id.clone(), message };
                let answers: Vec<&str> = next
                    .request
                    .input()
                    .iter()
                    .filter(|item| item.get("call_id").and_then(Value::as_str) == Some(call_id.as_str()))
                    // A code-mode script's `notify()` adds outputs of its own to its `exec` call, which upstream
                    // marks with the tool's `name` (code-mode-exec): they are no second answer.
                    .filter(|item| item.get("name").is_none())
                    .filter_map(|item| item.get("type").and_then(Value::as_str))
                    .filter(|kind| CALL_OUTPUTS.iter().any(|(_, output)| output == kind))
                    .collect();
                let matching = answers.iter().filter(|kind| *kind == output_type).count();
                match (matching, answers.first()) {
                    (1, _) => {}
                    (0, Some(other)) => violations
                        .push(next_violation(format!("{origin} is answered by a {other}, not a {output_type}"))),
                    (0, None) => violations.push(next_violation(format!("{origin} has no {output_type} in its input"))),
                    (n, _) => violations.push(next_violation(format!(
                        "{origin} is answered {n} times in its input; exactly one {output_type} was expected"
                    ))),
                }
            }
            calls_made.extend(calls.into_iter().map(|(_, _, id)| id));
        }
    }
    violations
}

fn is_model_request(capture: &Capture) -> bool {
    capture.request.method == "POST" && capture.request.path.ends_with("/responses")
}

/// The output type that answers an input item, when it is a tool call.
fn call_output_type(item: &Value) -> Option<&'static str> {
    let kind = item.get("type").and_then(Value::as_str)?;
    if kind == "tool_search_call" && item.get("execution").and_then(Value::as_str) == Some("server") {
        return None; // the server ran it: nothing for the client to answer
    }
    CALL_OUTPUTS.iter().find(|(call, _)| *call == kind).map(|(_, output)| *output)
}

/// The tool calls of a response that reached `response.completed`: `(call type, output type, call id)`. A response
/// cut short or failed makes no calls the client must answer.
fn response_calls(capture: &Capture) -> Vec<(String, &'static str, String)> {
    if capture.response.outcome != Outcome::Completed {
        return Vec::new();
    }
    let events = &capture.response.events;
    let Some(completed) = events.iter().find(|e| e.event_type() == Some("response.completed")) else {
        return Vec::new();
    };
    let listed = completed.data.pointer("/response/output").and_then(Value::as_array).filter(|o| !o.is_empty());
    let items: Vec<&Value> = match listed {
        Some(output) => output.iter().collect(),
        // Raw scripted streams may leave `output` empty; the items went out one by one.
        None => events
            .iter()
            .filter(|e| e.event_type() == Some("response.output_item.done"))
            .filter_map(|e| e.data.get("item"))
            .collect(),
    };
    items
        .into_iter()
        .filter_map(|item| {
            let output = call_output_type(item)?;
            let kind = item.get("type").and_then(Value::as_str)?.to_string();
            let call_id = item.get("call_id").and_then(Value::as_str).unwrap_or_default().to_string();
            Some((kind, output, call_id))
        })
        .collect()
}
