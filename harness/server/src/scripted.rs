//! Scripted mode: each model request of a session is answered by the session's next step.

use parity_capture::redact::Redactor;
use parity_capture::{Expectation, HeaderList, ScriptInfo, SessionRef};
use serde_json::Value;

use crate::plan::Plan;
use crate::script::{Script, Step, StepContext, check, compile, extract, substitute};
use crate::sessions::Arrival;

pub(crate) struct Scripted {
    script: Script,
}

impl Scripted {
    pub fn new(script: Script) -> Self {
        Scripted { script }
    }

    pub fn models(&self) -> Option<&[String]> {
        self.script.models.as_deref()
    }

    /// The steps a session runs: its own script, or the shared one.
    fn steps_of(&self, session: &SessionRef) -> &[Step] {
        let own = self.script.sessions.get(session.index as usize - 1);
        own.map(|s| s.steps.as_slice()).unwrap_or(&self.script.steps)
    }

    /// Answers the `arrival.route_seq`-th model request of a session.
    /// Credentials in the request never reach the answer, the capture or a log line: expectations on them are
    /// redacted before any message is made of them.
    pub fn answer(
        &self,
        arrival: &Arrival,
        headers: &HeaderList,
        body: &Value,
        redactor: &Redactor,
    ) -> (Plan, ScriptInfo) {
        let steps = self.steps_of(&arrival.session);
        let n = arrival.route_seq;
        let mut info = ScriptInfo { step: None, steps: steps.len() as u32, ..Default::default() };
        let Some(step) = steps.get(n as usize - 1) else {
            let message = format!(
                "parity: session {} sent model request {n}, but its script has {} step(s); nothing is left to answer",
                arrival.session.index,
                steps.len()
            );
            return (Plan::error(400, "parity_script_exhausted", message), info);
        };
        info.step = Some(n);
        info.name = step.name.clone();
        info.expectations = check(&step.expect, headers, body);
        redact_secret_expectations(&mut info.expectations, redactor);
        let failed: Vec<&Expectation> = info.expectations.iter().filter(|e| !e.ok).collect();
        if !failed.is_empty() {
            let reasons: Vec<String> = failed
                .iter()
                .map(|e| format!("{} \"{}\" (found {})", e.name, e.expected, e.found.as_deref().unwrap_or("nothing")))
                .collect();
            let message = format!(
                "parity: request {n} of session {} does not meet step {n}'s expectations: {}",
                arrival.session.index,
                reasons.join("; ")
            );
            return (Plan::error(400, "parity_expectation_failed", message), info);
        }
        let filled;
        let step = if step.extract.is_empty() {
            step
        } else {
            match extract(&step.extract, body) {
                Ok(values) => {
                    filled = substitute(step, &values);
                    &filled
                }
                Err(why) => {
                    let session = arrival.session.index;
                    let message = format!("parity: request {n} of session {session} lacks what step {n} needs: {why}");
                    return (Plan::error(400, "parity_extract_failed", message), info);
                }
            }
        };
        let model = body.get("model").and_then(Value::as_str).unwrap_or("unknown");
        let cx = StepContext { session: arrival.session.index, step: n, model };
        let plan = compile(step, &cx).expect("steps are validated when the server starts");
        (plan, info)
    }
}

/// An expectation on a credential header must not put the credential into the capture, the answer or a log.
fn redact_secret_expectations(expectations: &mut [Expectation], redactor: &Redactor) {
    for e in expectations {
        if let Some(header) = e.name.strip_prefix("headers.") {
            e.expected = redactor.redact_header_text(header, &e.expected);
            e.found = e.found.as_ref().map(|f| redactor.redact_header_text(header, f));
        }
    }
}
