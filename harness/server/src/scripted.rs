//! Scripted mode: each model request of a session is answered by one step of the session's script.
//!
//! Which step: the first step of the script, in order, that has a `match` the request satisfies and is not used up
//! (a `repeat` step never is); failing that, the session's next step without `match`, in order. A script without
//! `match` is therefore answered step by step, request by request, as it always was.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};

use parity_capture::redact::Redactor;
use parity_capture::{Expectation, HeaderList, ScriptInfo, SessionRef};
use serde_json::Value;

use crate::plan::Plan;
use crate::script::{Failure, Script, Step, StepContext, Usage, check, compile, extract, substitute};
use crate::sessions::Arrival;

/// Which script a session runs: `sessions[i]`, or the shared `steps` (`None`).
type ScriptKey = Option<usize>;

pub(crate) struct Scripted {
    script: RwLock<Arc<Script>>,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    /// By session index.
    sessions: HashMap<u32, SessionState>,
    /// How often each step of each script was used, over every session: what verification reads.
    uses: HashMap<(ScriptKey, usize), u32>,
}

#[derive(Default)]
struct SessionState {
    /// Model requests of the session that reached the script.
    requests: u32,
    /// How often the session used each step.
    used: HashMap<usize, u32>,
}

/// Why a step answered a request.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Reason {
    Content,
    Order,
}

/// A step the script never used, as verification reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnusedStep {
    /// `step 3` or `sessions[0] step 2`.
    pub label: String,
    pub name: Option<String>,
}

impl std::fmt::Display for UnusedStep {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.name {
            Some(name) => write!(f, "{} \"{name}\"", self.label),
            None => f.write_str(&self.label),
        }
    }
}

impl Scripted {
    pub fn new(script: Script) -> Self {
        Scripted { script: RwLock::new(Arc::new(script)), state: Mutex::new(State::default()) }
    }

    pub fn models(&self) -> Option<Vec<String>> {
        self.current().models.clone()
    }

    fn current(&self) -> Arc<Script> {
        self.script.read().expect("script lock").clone()
    }

    /// Puts a new (already validated) script in place; every session starts again at its first step.
    pub fn replace(&self, script: Script) {
        let mut state = self.state.lock().expect("script state lock");
        *self.script.write().expect("script lock") = Arc::new(script);
        *state = State::default();
    }

    /// Forgets every session's position and every use: the script starts again.
    pub fn restart(&self) {
        *self.state.lock().expect("script state lock") = State::default();
    }

    /// The steps of the current script that no session used, leaving out optional ones.
    pub fn unused_steps(&self) -> Vec<UnusedStep> {
        let script = self.current();
        let state = self.state.lock().expect("script state lock");
        let scripts = std::iter::once((None, &script.steps))
            .chain(script.sessions.iter().enumerate().map(|(i, s)| (Some(i), &s.steps)));
        let mut unused = Vec::new();
        for (key, steps) in scripts {
            for (i, step) in steps.iter().enumerate() {
                if !step.optional && !state.uses.contains_key(&(key, i)) {
                    let label = match key {
                        None => format!("step {}", i + 1),
                        Some(s) => format!("sessions[{s}] step {}", i + 1),
                    };
                    unused.push(UnusedStep { label, name: step.name.clone() });
                }
            }
        }
        unused
    }

    /// Whether the next step the session would take in order refuses a WebSocket upgrade (`fail.refuse_upgrade`);
    /// `session` is the index the session has, or would have.
    pub fn refuses_upgrade(&self, session: u32) -> bool {
        let script = self.current();
        let own = session as usize - 1;
        let steps = script.sessions.get(own).map(|s| s.steps.as_slice()).unwrap_or(script.steps.as_slice());
        let state = self.state.lock().expect("script state lock");
        let used = |i: usize| state.sessions.get(&session).and_then(|p| p.used.get(&i)).copied().unwrap_or(0) > 0;
        (0..steps.len())
            .find(|&i| steps[i].matching.is_none() && !used(i))
            .is_some_and(|i| matches!(steps[i].fail, Some(Failure::RefuseUpgrade(_))))
    }

    /// Answers a model request of a session (`upgrade`: the request is a WebSocket upgrade that a step refuses).
    /// Credentials in the request never reach the answer, the capture or a log line: expectations on them are
    /// redacted before any message is made of them.
    pub fn answer(
        &self,
        arrival: &Arrival,
        headers: &HeaderList,
        body: &Value,
        redactor: &Redactor,
        upgrade: bool,
    ) -> (Plan, ScriptInfo) {
        let script = self.current();
        let (key, steps) = steps_of(&script, &arrival.session);
        let session = arrival.session.index;
        let mut info = ScriptInfo { step: None, steps: steps.len() as u32, ..Default::default() };
        let has_match = steps.iter().any(|s| s.matching.is_some());
        if !upgrade && body.get("generate") == Some(&Value::Bool(false)) {
            // A warm-up (upstream sends one on a new WebSocket before the turn's first request): it asks for no
            // output, so it takes no step; an empty, completed response answers it.
            let n = {
                let mut state = self.state.lock().expect("script state lock");
                let position = state.sessions.entry(session).or_default();
                position.requests += 1;
                position.requests
            };
            info.warmup = true;
            let model = body.get("model").and_then(Value::as_str).unwrap_or("unknown");
            let cx = StepContext { session, step: 0, round: n, model };
            let empty = Step { usage: Some(Usage::zero()), ..Step::reply() };
            return (compile(&empty, &cx).expect("an empty step compiles"), info);
        }

        let (n, round, choice) = {
            let mut state = self.state.lock().expect("script state lock");
            let position = state.sessions.entry(session).or_default();
            position.requests += 1;
            let n = position.requests;
            let choice = choose(steps, position, headers, body, redactor);
            let mut round = 0;
            if let Ok((i, _, _)) = &choice {
                let used = position.used.entry(*i).or_default();
                round = *used;
                *used += 1;
                *state.uses.entry((key, *i)).or_default() += 1;
            }
            (n, round, choice)
        };
        let (index, reason, mut matched) = match choice {
            Ok(found) => found,
            Err(tried) => {
                let message = if has_match {
                    format!(
                        "parity: session {session} sent model request {n}, but no step of its script ({} step(s)) \
                         is left to answer it: {}",
                        steps.len(),
                        tried.join("; ")
                    )
                } else {
                    format!(
                        "parity: session {session} sent model request {n}, but its script has {} step(s); nothing \
                         is left to answer",
                        steps.len()
                    )
                };
                return (Plan::error(400, "parity_script_exhausted", message), info);
            }
        };
        let step = &steps[index];
        let step_no = index as u32 + 1;
        info.step = Some(step_no);
        info.name = step.name.clone();
        let refuses = matches!(step.fail, Some(Failure::RefuseUpgrade(_)));
        if refuses != upgrade {
            let message = if refuses {
                format!(
                    "parity: step {step_no} refuses a WebSocket upgrade, but request {n} of session {session} is a \
                     model request (the agent did not try the WebSocket transport)"
                )
            } else {
                format!("parity: step {step_no} answers a model request, not a WebSocket upgrade")
            };
            return (Plan::error(400, "parity_transport_mismatch", message), info);
        }
        // The capture says why this step answered, only where there was a choice: a script without `match` keeps
        // its captures as they always were.
        if has_match {
            let why = match reason {
                Reason::Content => "content",
                Reason::Order => "order",
            };
            info.matched_by = Some(why.to_string());
            info.expectations.append(&mut matched);
        }
        let mut expectations = check(&step.expect, headers, body);
        redact_secret_expectations(&mut expectations, redactor);
        let failed: Vec<String> = expectations
            .iter()
            .filter(|e| !e.ok)
            .map(|e| format!("{} \"{}\" (found {})", e.name, e.expected, e.found.as_deref().unwrap_or("nothing")))
            .collect();
        info.expectations.extend(expectations);
        if !failed.is_empty() {
            let message = format!(
                "parity: request {n} of session {session} does not meet step {step_no}'s expectations: {}",
                failed.join("; ")
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
                    let message =
                        format!("parity: request {n} of session {session} lacks what step {step_no} needs: {why}");
                    return (Plan::error(400, "parity_extract_failed", message), info);
                }
            }
        };
        let model = body.get("model").and_then(Value::as_str).unwrap_or("unknown");
        let cx = StepContext { session, step: step_no, round, model };
        let plan = compile(step, &cx).expect("steps are validated when the server starts");
        (plan, info)
    }
}

/// The steps a session runs: its own script, or the shared one.
fn steps_of<'s>(script: &'s Script, session: &SessionRef) -> (ScriptKey, &'s [Step]) {
    let own = session.index as usize - 1;
    match script.sessions.get(own) {
        Some(s) => (Some(own), s.steps.as_slice()),
        None => (None, script.steps.as_slice()),
    }
}

/// The step that answers: `(index, why, the match's verdicts)`, or what was tried, for the 400.
fn choose(
    steps: &[Step],
    position: &SessionState,
    headers: &HeaderList,
    body: &Value,
    redactor: &Redactor,
) -> Result<(usize, Reason, Vec<Expectation>), Vec<String>> {
    let used = |i: usize| position.used.get(&i).copied().unwrap_or(0) > 0;
    let label = |i: usize| match &steps[i].name {
        Some(name) => format!("step {} \"{name}\"", i + 1),
        None => format!("step {}", i + 1),
    };
    let mut tried = Vec::new();
    for (i, step) in steps.iter().enumerate() {
        let Some(m) = &step.matching else { continue };
        if used(i) && !step.repeat {
            tried.push(format!("{} matched an earlier request and is used up", label(i)));
            continue;
        }
        let mut verdicts = check(&m.as_expect(), headers, body);
        redact_secret_expectations(&mut verdicts, redactor);
        if verdicts.iter().all(|v| v.ok) {
            for v in &mut verdicts {
                v.name = format!("match.{}", v.name);
            }
            return Ok((i, Reason::Content, verdicts));
        }
        let misses: Vec<String> = verdicts
            .iter()
            .filter(|v| !v.ok)
            .map(|v| format!("{} \"{}\" (found {})", v.name, v.expected, v.found.as_deref().unwrap_or("nothing")))
            .collect();
        tried.push(format!("{} does not match: {}", label(i), misses.join(", ")));
    }
    if let Some(i) = (0..steps.len()).find(|&i| steps[i].matching.is_none() && !used(i)) {
        return Ok((i, Reason::Order, Vec::new()));
    }
    let in_order = steps.iter().filter(|s| s.matching.is_none()).count();
    tried.push(match in_order {
        0 => "the script has no step without `match` to answer in order".to_string(),
        n => format!("the {n} step(s) without `match` are used up"),
    });
    Err(tried)
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
