//! The app-server frontend: the agent runs as `AGENT app-server`, a JSON-RPC 2.0 server on its stdin and stdout (one
//! message per line), and the recorder is its client.
//!
//! A process starts at the first turn (and again at each `resume`): `initialize` with [`CLIENT_NAME`] as
//! `clientInfo.name` (which upstream sends as the `originator` header of its model requests), `initialized`, then
//! `thread/start` with the workspace as `cwd` and the scenario's model, sandbox and approval policy (or
//! `thread/resume` of the thread so far). Each turn with a prompt is a `turn/start` that ends at its
//! `turn/completed`, and so is each review (`review/start` with the step's target); while it runs, each steer and the interrupt wait for their hold of the model script, then are
//! sent (`turn/steer`, `turn/interrupt`), and the hold is released once the agent has had [`RELEASE_GRACE`] to close
//! the held stream itself; the agent's approval and user-input requests are answered from the turn's lists, in
//! order. Every message both ways, and every action, goes to the transcript (see [`super::transcript`]).
//!
//! Anything that does not go as the scenario says stops the run with an error naming the scenario, the turn and
//! the action: a JSON-RPC error answering the recorder, a hold not reached before the turn ended or its time ran
//! out, a request the scenario has no answer for, an approval listed but never asked for, a line that is not JSON,
//! the agent exiting.

use std::collections::{BTreeMap, VecDeque};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use parity_capture::store::write_atomic;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::transcript::{self, Transcript};
use super::{Driven, KILL_GRACE, RunContext, signal_group};
use crate::run::{RecordError, TurnRecord, io_error};
use crate::scenario::{AgentTrigger, PromptTurn, TurnStep, WORKSPACE_PLACEHOLDER};

/// `clientInfo.name` in `initialize`: upstream Codex sends it as the `originator` header of every model request.
pub const CLIENT_NAME: &str = "parity";
/// `clientInfo.version`: fixed, so that recordings do not change with parity's own version (upstream puts it in
/// its user agent).
pub const CLIENT_VERSION: &str = "1.0.0";
/// How long the agent has, once it has accepted a steer or an interrupt, to close the held stream itself (upstream
/// 0.169.0 does within a few milliseconds) before the recorder releases the hold.
pub const RELEASE_GRACE: Duration = Duration::from_millis(500);
/// How long an agent whose stdin was closed has to exit before its process group is killed.
const CLOSE_GRACE: Duration = Duration::from_secs(5);

/// Runs the scenario's turns through one app-server process per thread session; writes the transcript.
pub async fn drive(cx: &RunContext<'_>) -> Result<Driven, RecordError> {
    let transcript = Transcript::new(cx.started);
    let mut driver = Driver {
        cx,
        transcript: transcript.clone(),
        process: None,
        processes: 0,
        thread: None,
        finished_output: Default::default(),
    };
    let count = cx.scenario.turns.len();
    let mut turns = Vec::new();
    for (i, step) in cx.scenario.turns.iter().enumerate() {
        let turn = i + 1;
        let started = Instant::now();
        let mut record = TurnRecord { turn, action: step.action().map(str::to_string), ..TurnRecord::default() };
        if let TurnStep::Prompt(p) = step {
            record.prompt = p.prompt.clone();
        }
        let deadline = started + cx.scenario.agent.timeout();
        let outcome = driver.run_step(turn, step, deadline, &mut record).await?;
        let stopped = match outcome {
            Ok(()) => false,
            Err(stop) => {
                transcript.action("failed", turn, json!({"message": stop.message}));
                record.timed_out = stop.timed_out;
                record.error = Some(stop.message);
                true
            }
        };
        if stopped || turn == count {
            // What the agent writes while it goes belongs to this turn's output too.
            record.exit_code = driver.close(turn, stopped).await;
        }
        record.thread_id = driver.thread.clone();
        record.duration_ms = started.elapsed().as_millis() as u64;
        let (stdout, stderr) = driver.take_output();
        let write = |name: &str, bytes: &[u8]| -> Result<String, RecordError> {
            let relative = format!("turn-{turn}/{name}");
            let path = cx.out.join(&relative);
            write_atomic(&path, bytes).map_err(io_error(&path))?;
            Ok(relative)
        };
        record.stdout = write("stdout.txt", &stdout)?;
        record.stderr = write("stderr.txt", &stderr)?;
        turns.push(record);
        if stopped {
            break; // the thread is in an unknown state: later turns would record noise
        }
    }
    let path = cx.out.join(transcript::FILE);
    write_atomic(&path, transcript.text().as_bytes()).map_err(io_error(&path))?;
    Ok(Driven { turns, transcript: Some(transcript::FILE.to_string()) })
}

/// An input item with [`WORKSPACE_PLACEHOLDER`] in its strings written as the run's workspace directory.
fn with_workspace(item: &Value, workspace: &str) -> Value {
    match item {
        Value::String(text) => Value::String(text.replace(WORKSPACE_PLACEHOLDER, workspace)),
        Value::Array(items) => Value::Array(items.iter().map(|i| with_workspace(i, workspace)).collect()),
        Value::Object(fields) => {
            Value::Object(fields.iter().map(|(k, v)| (k.clone(), with_workspace(v, workspace))).collect())
        }
        other => other.clone(),
    }
}

/// Why a run stops: the message names the scenario, the turn and the action.
struct Stop {
    message: String,
    timed_out: bool,
}

struct Driver<'a, 'b> {
    cx: &'a RunContext<'b>,
    transcript: Transcript,
    process: Option<Process>,
    processes: usize,
    /// The thread turns go to: the started one, or the latest fork.
    thread: Option<String>,
    /// What ended processes wrote (stdout, stderr) that no turn's files hold yet.
    finished_output: (Vec<u8>, Vec<u8>),
}

/// What a label, a turn and a message make: `scenario NAME, turn N, ACTION: WHAT`.
fn stop(scenario: &str, turn: usize, label: &str, what: impl std::fmt::Display) -> Stop {
    Stop { message: format!("scenario {scenario}, turn {turn}, {label}: {what}"), timed_out: false }
}

impl Driver<'_, '_> {
    fn stop(&self, turn: usize, label: &str, what: impl std::fmt::Display) -> Stop {
        stop(&self.cx.scenario.name, turn, label, what)
    }

    fn timeout(&self, turn: usize, label: &str, what: &str) -> Stop {
        let secs = self.cx.scenario.agent.timeout().as_secs();
        Stop { timed_out: true, ..self.stop(turn, label, format!("{what} within the turn's {secs} s")) }
    }

    async fn run_step(
        &mut self,
        turn: usize,
        step: &TurnStep,
        deadline: Instant,
        record: &mut TurnRecord,
    ) -> Result<Result<(), Stop>, RecordError> {
        if matches!(step, TurnStep::Resume) {
            self.transcript.action("resume", turn, json!({"thread": self.thread}));
            record.exit_code = self.close(turn, false).await;
        }
        if let Err(stop) = self.ensure_process(turn, deadline, record).await? {
            return Ok(Err(stop));
        }
        let thread = self.thread.clone().unwrap_or_default();
        let result = match step {
            TurnStep::Prompt(plan) => {
                self.transcript.action("turn", turn, json!({"prompt": plan.prompt}));
                let workspace = self.cx.dirs.workspace.display().to_string();
                let mut input = vec![json!({"type": "text", "text": plan.prompt})];
                input.extend(plan.input.iter().map(|item| with_workspace(item, &workspace)));
                let mut params = json!({"threadId": thread, "input": input});
                if let Some(schema) = &plan.output_schema {
                    params["outputSchema"] = schema.clone();
                }
                for (key, value) in &plan.params {
                    params[key] = value.clone();
                }
                self.turn_loop(turn, "turn/start", params, plan, deadline, record).await
            }
            TurnStep::Compact => {
                self.transcript.action("compact", turn, json!({"thread": thread}));
                let params = json!({"threadId": thread});
                self.turn_loop(turn, "thread/compact/start", params, &PromptTurn::default(), deadline, record).await
            }
            TurnStep::Fork => match self.call(turn, "fork", "thread/fork", json!({"threadId": thread}), deadline).await
            {
                Ok(result) => match result.pointer("/thread/id").and_then(Value::as_str) {
                    Some(forked) => {
                        self.transcript.action("fork", turn, json!({"thread": thread, "forked": forked}));
                        self.thread = Some(forked.to_string());
                        Ok(())
                    }
                    None => Err(self.stop(turn, "fork", format!("the answer has no thread.id: {result}"))),
                },
                Err(stop) => Err(stop),
            },
            TurnStep::Review { target, plan } => {
                self.transcript.action("review", turn, json!({"thread": thread, "target": target}));
                let mut params = json!({"threadId": thread, "target": target});
                for (key, value) in &plan.params {
                    params[key] = value.clone();
                }
                self.turn_loop(turn, "review/start", params, plan, deadline, record).await
            }
            // The new process resumed the thread in ensure_process.
            TurnStep::Resume => Ok(()),
        };
        Ok(result)
    }

    /// Starts the agent when none runs: `initialize`, `initialized`, then `thread/start` (first time) or
    /// `thread/resume` (the thread so far, in this new process).
    async fn ensure_process(
        &mut self,
        turn: usize,
        deadline: Instant,
        record: &mut TurnRecord,
    ) -> Result<Result<(), Stop>, RecordError> {
        if let Some(process) = &self.process {
            record.program = process.program.clone();
            record.args = process.args.clone();
            return Ok(Ok(()));
        }
        let cx = self.cx;
        let spec = cx.process_spec(turn);
        let (program, args) = cx.agent.app_server_command(&spec);
        self.processes += 1;
        let process = Process::spawn(
            self.processes,
            &program,
            &args,
            cx.dirs.env(cx.base_url, turn),
            &cx.dirs.workspace,
            self.transcript.clone(),
        )?;
        record.program = program.clone();
        record.args = args.clone();
        let mut command = vec![program];
        command.extend(args);
        // The wall clock beside `t_ms`, so that the transcript can be laid beside the captures' times.
        let unix_ms = jiff::Timestamp::now().as_millisecond();
        let fields = json!({"process": self.processes, "command": command, "unix_ms": unix_ms});
        self.transcript.action("start", turn, fields);
        self.process = Some(process);

        let initialize = json!({
            "clientInfo": {"name": CLIENT_NAME, "title": null, "version": CLIENT_VERSION},
            "capabilities": {"experimentalApi": true},
        });
        if let Err(stop) = self.call(turn, "initialize", "initialize", initialize, deadline).await {
            return Ok(Err(stop));
        }
        if let Err(stop) = self.notify(turn, "initialized", "initialized", deadline).await {
            return Ok(Err(stop));
        }
        let options = &cx.scenario.agent;
        let result = match &self.thread {
            None => {
                let mut params = json!({
                    "cwd": cx.dirs.workspace.display().to_string(),
                    "model": options.model(),
                    "approvalPolicy": options.approval(),
                });
                if let Some(sandbox) = &options.sandbox {
                    params["sandbox"] = json!(sandbox);
                }
                match self.call(turn, "thread/start", "thread/start", params, deadline).await {
                    Ok(result) => match result.pointer("/thread/id").and_then(Value::as_str) {
                        Some(id) => {
                            self.thread = Some(id.to_string());
                            Ok(())
                        }
                        None => Err(self.stop(turn, "thread/start", format!("the answer has no thread.id: {result}"))),
                    },
                    Err(stop) => Err(stop),
                }
            }
            Some(thread) => {
                let params = json!({"threadId": thread});
                self.call(turn, "resume", "thread/resume", params, deadline).await.map(drop)
            }
        };
        Ok(result)
    }

    /// The output written since the last call (stdout, stderr): a turn's share.
    fn take_output(&mut self) -> (Vec<u8>, Vec<u8>) {
        let (mut stdout, mut stderr) = std::mem::take(&mut self.finished_output);
        if let Some(process) = &self.process {
            stdout.extend(process.stdout.lock().expect("stdout lock").drain(..));
            stderr.extend(process.stderr.lock().expect("stderr lock").drain(..));
        }
        (stdout, stderr)
    }

    fn process(&mut self) -> &mut Process {
        self.process.as_mut().expect("a process runs while a step does")
    }

    /// Sends a request and waits for its answer, answering what the agent asks meanwhile as a scenario without
    /// approvals would (it cannot: that fails the run).
    async fn call(
        &mut self,
        turn: usize,
        label: &str,
        method: &str,
        params: Value,
        deadline: Instant,
    ) -> Result<Value, Stop> {
        let id = self.send_request(turn, label, method, params, deadline).await?;
        loop {
            let message = self.next(turn, label, deadline, &format!("no answer to {method}")).await?;
            if message.get("method").is_some() {
                if message.get("id").is_some() {
                    return Err(self.refuse_request(turn, label, &message, deadline).await);
                }
                continue;
            }
            if message.get("id") == Some(&json!(id)) {
                return match message.get("error") {
                    Some(error) => {
                        Err(self.stop(turn, label, format!("the agent refused {method}: {}", error_text(error))))
                    }
                    None => Ok(message.get("result").cloned().unwrap_or(Value::Null)),
                };
            }
        }
    }

    async fn notify(&mut self, turn: usize, label: &str, method: &str, deadline: Instant) -> Result<(), Stop> {
        let message = json!({"method": method});
        let scenario = self.cx.scenario.name.clone();
        self.process().send(&message, deadline).await.map_err(|e| stop(&scenario, turn, label, e))
    }

    async fn send_request(
        &mut self,
        turn: usize,
        label: &str,
        method: &str,
        params: Value,
        deadline: Instant,
    ) -> Result<i64, Stop> {
        let scenario = self.cx.scenario.name.clone();
        let process = self.process();
        process.next_id += 1;
        let id = process.next_id;
        let message = json!({"id": id, "method": method, "params": params});
        process.send(&message, deadline).await.map_err(|e| stop(&scenario, turn, label, e))?;
        Ok(id)
    }

    /// The agent's next message; its exit, a line that is not JSON and the deadline stop the run.
    async fn next(&mut self, turn: usize, label: &str, deadline: Instant, waiting: &str) -> Result<Value, Stop> {
        let incoming = tokio::time::timeout_at(deadline, self.process().incoming.recv()).await;
        match incoming {
            Err(_) => Err(self.timeout(turn, label, waiting)),
            Ok(incoming) => self.accept(turn, label, incoming).await,
        }
    }

    async fn accept(&mut self, turn: usize, label: &str, incoming: Option<Incoming>) -> Result<Value, Stop> {
        match incoming {
            Some(Incoming::Message(message)) => Ok(message),
            Some(Incoming::Malformed(text)) => {
                Err(self.stop(turn, label, format!("the agent sent a line that is not JSON: {}", brief(&text))))
            }
            Some(Incoming::Closed) | None => {
                let how = self.process().exit_status(Duration::from_secs(1)).await;
                Err(self.stop(turn, label, format!("the agent closed its output ({how})")))
            }
        }
    }

    /// Answers a request the scenario has no answer for with a JSON-RPC error, and gives the stop it means.
    async fn refuse_request(&mut self, turn: usize, label: &str, message: &Value, deadline: Instant) -> Stop {
        let method = message.get("method").and_then(Value::as_str).unwrap_or("?").to_string();
        let id = message.get("id").cloned().unwrap_or(Value::Null);
        self.transcript.action("refused_request", turn, json!({"method": method, "request_id": id}));
        let answer = json!({
            "id": id,
            "error": {"code": -32601, "message": format!("parity: the scenario has no answer for {method} here")},
        });
        let _ = self.process().send(&answer, deadline).await;
        self.stop(turn, label, format!("the agent sent a request the scenario has no answer for: {method}"))
    }

    /// Runs one turn of the agent's (started by `method`) to its `turn/completed`, doing the plan's actions.
    async fn turn_loop(
        &mut self,
        turn: usize,
        method: &str,
        params: Value,
        plan: &PromptTurn,
        deadline: Instant,
        record: &mut TurnRecord,
    ) -> Result<(), Stop> {
        let thread = self.thread.clone().unwrap_or_default();
        let start_method = method;
        let start_label = match method {
            "thread/compact/start" => "compact",
            other => other,
        };
        let start_id = self.send_request(turn, start_label, method, params, deadline).await?;
        let server = self.cx.server;
        let transcript = self.transcript.clone();

        let mut actions: VecDeque<Action> =
            plan.steer.iter().map(|s| Action::Steer(s.at.clone(), s.text.clone())).collect();
        actions.extend(plan.interrupt.iter().map(|i| Action::Interrupt(i.at.clone())));
        let mut approvals = plan.approvals.iter();
        let mut answers = plan.answers.iter();
        let (mut approvals_asked, mut answers_asked) = (0, 0);
        let mut interrupted = false;
        let mut turn_id: Option<String> = None;
        // The turn steers and interrupts name: the turn's own, but for a review the reviewer's, which is the thread's
        // active turn for upstream (told by `turn/started`, rooted in the review's turn).
        let reviewing = start_method == "review/start";
        let mut acting: Option<String> = None;
        // The steer or interrupt whose answer is awaited: its request id and label.
        let mut awaiting: Option<(i64, String, String)> = None;
        // The hold to release once the agent has had its grace to close it itself: its name, and until when.
        let mut release: Option<(String, Instant)> = None;
        let mut status: Option<(String, Option<String>)> = None;

        loop {
            if status.is_some() && awaiting.is_none() && release.is_none() {
                break;
            }
            let next_hold = match (actions.front(), &acting, &awaiting, &release, &status) {
                (Some(action), Some(_), None, None, None) if action.trigger().is_none() => {
                    Some(action.at().to_string())
                }
                _ => None,
            };
            let remaining = deadline.saturating_duration_since(Instant::now());
            let process = self.process.as_mut().expect("a process runs while a turn does");
            let event = tokio::select! {
                incoming = process.incoming.recv() => Event::Incoming(incoming),
                held = async { server.wait_for_hold(next_hold.as_deref().unwrap_or_default(), remaining).await },
                    if next_hold.is_some() => Event::Hold(held),
                _ = tokio::time::sleep(Duration::from_millis(10)), if release.is_some() => Event::ReleaseTick,
                _ = tokio::time::sleep_until(deadline) => Event::Deadline,
            };
            match event {
                Event::Deadline | Event::Hold(None) => {
                    let waiting = match (&awaiting, actions.front()) {
                        (Some((_, label, _)), _) => return Err(self.timeout(turn, label, "no answer")),
                        (None, Some(action)) if acting.is_some() => {
                            return Err(self.timeout(turn, &action.label(), "the hold was not reached"));
                        }
                        _ => "no turn/completed",
                    };
                    return Err(self.timeout(turn, start_label, waiting));
                }
                Event::Hold(Some(info)) => {
                    let action = actions.pop_front().expect("a hold is awaited for an action");
                    let (name, method, params, mut fields) =
                        action.call(&thread, acting.as_deref().unwrap_or_default());
                    fields["request"] = json!({"session": info.session, "seq": info.seq});
                    interrupted |= matches!(action, Action::Interrupt(_));
                    transcript.action(name, turn, fields);
                    let id = self.send_request(turn, &action.label(), method, params, deadline).await?;
                    awaiting = Some((id, action.label(), action.at().to_string()));
                }
                Event::ReleaseTick => {
                    let (at, until) = release.as_ref().expect("a release is pending");
                    let still_held = server.holds().iter().any(|h| &h.name == at);
                    if !still_held || Instant::now() >= *until {
                        let released = if still_held { server.release(at) } else { 0 };
                        transcript.action("release", turn, json!({"at": at, "released": released}));
                        release = None;
                    }
                }
                Event::Incoming(incoming) => {
                    let message = self.accept(turn, start_label, incoming).await?;
                    let method = message.get("method").and_then(Value::as_str);
                    match (method, message.get("id")) {
                        (Some(method), Some(id)) => {
                            let id = id.clone();
                            let answer = match method {
                                "item/commandExecution/requestApproval"
                                | "item/fileChange/requestApproval"
                                | "mcpServer/elicitation/request" => {
                                    approvals_asked += 1;
                                    let label = format!("approval {approvals_asked} ({method})");
                                    let Some(decision) = approvals.next() else {
                                        let listed = plan.approvals.len();
                                        let what = format!(
                                            "the agent asked for approval {approvals_asked}, the turn lists {listed}"
                                        );
                                        let _ = self.refuse_request(turn, &label, &message, deadline).await;
                                        return Err(self.stop(turn, &label, what));
                                    };
                                    transcript.action(
                                        "approval",
                                        turn,
                                        json!({"method": method, "request_id": id, "decision": decision}),
                                    );
                                    approval_answer(method, decision)
                                }
                                "item/tool/requestUserInput" => {
                                    answers_asked += 1;
                                    let label = format!("answer {answers_asked} ({method})");
                                    let Some(given) = answers.next() else {
                                        let listed = plan.answers.len();
                                        let what = format!(
                                            "the agent asked for input {answers_asked}, the turn lists {listed} answers"
                                        );
                                        let _ = self.refuse_request(turn, &label, &message, deadline).await;
                                        return Err(self.stop(turn, &label, what));
                                    };
                                    let answers: BTreeMap<&String, Value> =
                                        given.iter().map(|(q, a)| (q, json!({"answers": a}))).collect();
                                    transcript.action("answer", turn, json!({"request_id": id, "answers": given}));
                                    json!({"answers": answers})
                                }
                                _ => return Err(self.refuse_request(turn, start_label, &message, deadline).await),
                            };
                            let label = format!("answering {method}");
                            let scenario = self.cx.scenario.name.clone();
                            self.process()
                                .send(&json!({"id": id, "result": answer}), deadline)
                                .await
                                .map_err(|e| stop(&scenario, turn, &label, e))?;
                        }
                        (Some(method), None) => {
                            let params = message.get("params").cloned().unwrap_or_default();
                            let on_thread = params.get("threadId").and_then(Value::as_str) == Some(thread.as_str());
                            let this_turn = params.pointer("/turn/id").and_then(Value::as_str);
                            if on_thread && turn_id.is_none() && method == "turn/started" {
                                // A compaction's turn is known only from its notification.
                                turn_id = this_turn.map(str::to_string);
                            }
                            if on_thread && reviewing && acting.is_none() && method == "turn/started" {
                                acting = this_turn.map(str::to_string);
                            }
                            if !reviewing {
                                acting = turn_id.clone();
                            }
                            let ours = turn_id.is_none() || this_turn == turn_id.as_deref();
                            if method == "turn/completed" && on_thread && ours {
                                turn_id = this_turn.map(str::to_string).or(turn_id);
                                let turn_status =
                                    params.pointer("/turn/status").and_then(Value::as_str).unwrap_or("?").to_string();
                                let error =
                                    params.pointer("/turn/error/message").and_then(Value::as_str).map(str::to_string);
                                status = Some((turn_status, error));
                            }
                            // An action waiting for this message of the agent's (not for a hold) goes now.
                            let due = actions
                                .front()
                                .and_then(Action::trigger)
                                .is_some_and(|t| t.matches(&message) && awaiting.is_none() && acting.is_some());
                            if due && on_thread {
                                let action = actions.pop_front().expect("an action is due");
                                let (name, method, params, fields) =
                                    action.call(&thread, acting.as_deref().unwrap_or_default());
                                interrupted |= matches!(action, Action::Interrupt(_));
                                transcript.action(name, turn, fields);
                                let id = self.send_request(turn, &action.label(), method, params, deadline).await?;
                                awaiting = Some((id, action.label(), action.at().to_string()));
                            }
                        }
                        (None, Some(id)) if id == &json!(start_id) => {
                            if let Some(error) = message.get("error") {
                                let what = format!("the agent refused {start_method}: {}", error_text(error));
                                return Err(self.stop(turn, start_label, what));
                            }
                            if let Some(id) = message.pointer("/result/turn/id").and_then(Value::as_str) {
                                turn_id = Some(id.to_string());
                                if !reviewing {
                                    acting = turn_id.clone();
                                }
                            }
                        }
                        (None, Some(id)) if awaiting.as_ref().is_some_and(|(a, _, _)| id == &json!(a)) => {
                            let (_, label, at) = awaiting.take().expect("matched just above");
                            if let Some(error) = message.get("error") {
                                return Err(self.stop(
                                    turn,
                                    &label,
                                    format!("the agent refused it: {}", error_text(error)),
                                ));
                            }
                            // A hold is released once the agent has had its grace; a message of the agent's holds
                            // nothing.
                            if AgentTrigger::parse(&at).is_none() {
                                release = Some((at, Instant::now() + RELEASE_GRACE));
                            }
                        }
                        _ => {}
                    }
                }
            }
        }
        record.turn_id = turn_id;
        let (turn_status, error) = status.expect("the loop ends at turn/completed");
        record.status = Some(turn_status.clone());
        if let Some(action) = actions.front() {
            let point = match action.trigger() {
                Some(_) => format!("the agent sent {}", action.at().trim_start_matches(AgentTrigger::PREFIX)),
                None => "the hold was reached".to_string(),
            };
            let what = format!("the turn ended ({turn_status}) before {point}");
            return Err(self.stop(turn, &action.label(), what));
        }
        match turn_status.as_str() {
            "failed" => {
                let why = error.unwrap_or_else(|| "no error message".into());
                return Err(self.stop(turn, start_label, format!("the turn failed: {why}")));
            }
            "interrupted" if !interrupted => return Err(self.stop(turn, start_label, "the turn was interrupted")),
            _ => {}
        }
        if approvals_asked < plan.approvals.len() {
            let label = format!("approval {}", approvals_asked + 1);
            let what =
                format!("the turn lists {} approvals, the agent asked for {approvals_asked}", plan.approvals.len());
            return Err(self.stop(turn, &label, what));
        }
        if answers_asked < plan.answers.len() {
            let label = format!("answer {}", answers_asked + 1);
            let what = format!("the turn lists {} answers, the agent asked for {answers_asked}", plan.answers.len());
            return Err(self.stop(turn, &label, what));
        }
        Ok(())
    }

    /// Ends the agent process, if one runs: stdin closed and a grace to exit (or, after a failure, SIGTERM then
    /// SIGKILL), then whatever it left running killed with its group. Returns its exit code.
    async fn close(&mut self, turn: usize, failed: bool) -> Option<i32> {
        let mut process = self.process.take()?;
        drop(process.stdin.take());
        let grace = if failed { Duration::ZERO } else { CLOSE_GRACE };
        let status = match tokio::time::timeout(grace, process.child.wait()).await {
            Ok(status) => status.ok(),
            Err(_) => {
                signal_group(process.group, libc::SIGTERM);
                match tokio::time::timeout(KILL_GRACE, process.child.wait()).await {
                    Ok(status) => status.ok(),
                    Err(_) => {
                        signal_group(process.group, libc::SIGKILL);
                        process.child.wait().await.ok()
                    }
                }
            }
        };
        signal_group(process.group, libc::SIGKILL);
        for reader in process.readers.drain(..) {
            let _ = tokio::time::timeout(KILL_GRACE, reader).await;
        }
        let code = status.and_then(|s| s.code());
        let signal = status.and_then(|s| std::os::unix::process::ExitStatusExt::signal(&s));
        self.transcript.action("exit", turn, json!({"process": process.number, "code": code, "signal": signal}));
        self.finished_output.0.extend(process.stdout.lock().expect("stdout lock").drain(..));
        self.finished_output.1.extend(process.stderr.lock().expect("stderr lock").drain(..));
        code
    }
}

enum Action {
    Steer(String, String),
    Interrupt(String),
}

impl Action {
    fn at(&self) -> &str {
        match self {
            Action::Steer(at, _) | Action::Interrupt(at) => at,
        }
    }

    fn label(&self) -> String {
        match self {
            Action::Steer(at, _) => format!("steer at \"{at}\""),
            Action::Interrupt(at) => format!("interrupt at \"{at}\""),
        }
    }

    /// The message of the agent's the action waits for, when it waits for one rather than for a hold.
    fn trigger(&self) -> Option<AgentTrigger> {
        AgentTrigger::parse(self.at())
    }

    /// The transcript's action name, the JSON-RPC method and params, and the transcript's fields.
    fn call(&self, thread: &str, turn_id: &str) -> (&'static str, &'static str, Value, Value) {
        match self {
            Action::Steer(at, text) => (
                "steer",
                "turn/steer",
                json!({"threadId": thread, "expectedTurnId": turn_id, "input": [{"type": "text", "text": text}]}),
                json!({"at": at, "text": text}),
            ),
            Action::Interrupt(at) => {
                ("interrupt", "turn/interrupt", json!({"threadId": thread, "turnId": turn_id}), json!({"at": at}))
            }
        }
    }
}

enum Event {
    Incoming(Option<Incoming>),
    Hold(Option<parity_server::HoldInfo>),
    ReleaseTick,
    Deadline,
}

/// What the agent's stdout gives, line by line.
enum Incoming {
    Message(Value),
    Malformed(String),
    Closed,
}

/// An agent process and the tasks reading its output.
struct Process {
    number: usize,
    program: String,
    args: Vec<String>,
    child: tokio::process::Child,
    group: Option<i32>,
    stdin: Option<tokio::process::ChildStdin>,
    incoming: mpsc::UnboundedReceiver<Incoming>,
    /// Raw output not yet written to a turn's files.
    stdout: Arc<Mutex<Vec<u8>>>,
    stderr: Arc<Mutex<Vec<u8>>>,
    readers: Vec<JoinHandle<()>>,
    next_id: i64,
    transcript: Transcript,
}

impl Process {
    fn spawn(
        number: usize,
        program: &str,
        args: &[String],
        env: Vec<(String, String)>,
        workspace: &std::path::Path,
        transcript: Transcript,
    ) -> Result<Process, RecordError> {
        let mut command = tokio::process::Command::new(program);
        command
            .args(args)
            .current_dir(workspace)
            .env_clear()
            .envs(env)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            // Its own process group, so that everything it starts can be killed with it.
            .process_group(0)
            .kill_on_drop(true);
        let mut child =
            command.spawn().map_err(|source| RecordError::Spawn { program: program.to_string(), source })?;
        let group = child.id().map(|id| id as i32);
        let stdin = child.stdin.take();
        let (tx, incoming) = mpsc::unbounded_channel();
        let stdout: Arc<Mutex<Vec<u8>>> = Arc::default();
        let stderr: Arc<Mutex<Vec<u8>>> = Arc::default();
        let mut readers = Vec::new();
        if let Some(pipe) = child.stdout.take() {
            let raw = stdout.clone();
            let transcript = transcript.clone();
            readers.push(tokio::spawn(async move {
                let mut reader = BufReader::new(pipe);
                loop {
                    let mut line = Vec::new();
                    match reader.read_until(b'\n', &mut line).await {
                        Ok(0) | Err(_) => break,
                        Ok(_) => {}
                    }
                    raw.lock().expect("stdout lock").extend_from_slice(&line);
                    let text = line.trim_ascii();
                    if text.is_empty() {
                        continue;
                    }
                    // Parsed and logged here, as it arrives, so that the transcript's times are the arrival's.
                    let incoming = match serde_json::from_slice::<Value>(text) {
                        Ok(message) if message.is_object() => {
                            transcript.agent(&message);
                            Incoming::Message(message)
                        }
                        _ => {
                            let text = String::from_utf8_lossy(text).into_owned();
                            transcript.malformed(&text);
                            Incoming::Malformed(text)
                        }
                    };
                    if tx.send(incoming).is_err() {
                        break;
                    }
                }
                let _ = tx.send(Incoming::Closed);
            }));
        }
        if let Some(mut pipe) = child.stderr.take() {
            let raw = stderr.clone();
            readers.push(tokio::spawn(async move {
                let mut chunk = [0u8; 8192];
                while let Ok(n) = pipe.read(&mut chunk).await {
                    if n == 0 {
                        break;
                    }
                    raw.lock().expect("stderr lock").extend_from_slice(&chunk[..n]);
                }
            }));
        }
        Ok(Process {
            number,
            program: program.to_string(),
            args: args.to_vec(),
            child,
            group,
            stdin,
            incoming,
            stdout,
            stderr,
            readers,
            next_id: 0,
            transcript,
        })
    }

    /// Writes one message as a line, logging it as it goes.
    async fn send(&mut self, message: &Value, deadline: Instant) -> Result<(), String> {
        let stdin = self.stdin.as_mut().ok_or("the agent's stdin is closed")?;
        self.transcript.client(message);
        let line = format!("{message}\n");
        let write = async {
            stdin.write_all(line.as_bytes()).await?;
            stdin.flush().await
        };
        match tokio::time::timeout_at(deadline, write).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(format!("could not write to the agent: {e}")),
            Err(_) => Err("the agent did not read its input in time".to_string()),
        }
    }

    /// How the process ended, in words, waiting at most `wait` for it to.
    async fn exit_status(&mut self, wait: Duration) -> String {
        match tokio::time::timeout(wait, self.child.wait()).await {
            Ok(Ok(status)) => match (status.code(), std::os::unix::process::ExitStatusExt::signal(&status)) {
                (Some(code), _) => format!("it exited {code}"),
                (None, Some(signal)) => format!("it was killed by signal {signal}"),
                _ => "it ended".to_string(),
            },
            _ => "it is still running".to_string(),
        }
    }
}

fn error_text(error: &Value) -> String {
    let code = error.get("code").map(Value::to_string).unwrap_or_default();
    let message = error.get("message").and_then(Value::as_str).unwrap_or_default();
    format!("JSON-RPC error {code}: {message}")
}

fn brief(text: &str) -> String {
    const MAX: usize = 200;
    match text.char_indices().nth(MAX) {
        Some((cut, _)) => format!("{:?}...", &text[..cut]),
        None => format!("{text:?}"),
    }
}

/// The answer to an approval request: `{decision}`, or for an MCP tool's approval (an elicitation with an empty form)
/// `{action, content}`, the form's content empty when accepted.
fn approval_answer(method: &str, decision: &str) -> Value {
    if method == "mcpServer/elicitation/request" {
        let content = if decision == "accept" { json!({}) } else { Value::Null };
        return json!({"action": decision, "content": content});
    }
    json!({"decision": decision})
}
