//! A thread's events as the app server's notifications: the thread's status, its turns, their items and deltas,
//! token usage and rate limits, the read state.
//!
//! One [`ThreadEvents`] per thread, shared by the thread's event sink (which the session calls as things happen)
//! and the server's handlers (which read the running turn and announce thread-level changes).

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Instant;

use std::sync::Arc;

use rcodex_core::events::{Event, ItemDetails, Status, TurnUsage};
use rcodex_core::interaction::ApprovalKind;
use serde_json::{Value, json};
use tokio::sync::mpsc;

use crate::approvals::{self, Asked, Expects};
use crate::items;
use crate::rpc::{Outgoing, now_ms, now_s};
use crate::server_requests::ServerRequests;
use crate::turn_diff::TurnDiff;

/// The turn running on a thread.
#[derive(Debug, Clone)]
pub struct RunningTurn {
    pub id: String,
    started_at: i64,
    started: Instant,
    /// The last agent message completed in the turn: `turn/completed` shows it.
    last_agent_message: Option<Value>,
    /// An agent message completed in the turn that the client has not read.
    unread: bool,
    /// What its patches changed.
    diff: TurnDiff,
}

pub struct ThreadEvents {
    out: Outgoing,
    thread_id: Option<String>,
    /// What `thread/tokenUsage/updated` gives as the model's usable context window.
    context_window: Option<u64>,
    turn: Option<RunningTurn>,
    /// The first turn whose answer the client has not read.
    first_unread: Option<String>,
    /// Items started, by id: when.
    started_ms: HashMap<String, i64>,
    /// Warnings the session gave before its thread had an id (configuration problems).
    pub startup_warnings: Vec<String>,
    /// The last usage reported, for readers that join later.
    pub last_usage: Option<(String, Value)>,
    /// Where the thread's approval and user-input requests go (see [`crate::approvals`]).
    requests: Option<(Arc<ServerRequests>, mpsc::UnboundedSender<Asked>)>,
    /// What the running turn waits for: `waitingOnApproval` or `waitingOnUserInput`.
    waiting_on: Option<&'static str>,
    /// The last turn failed: the idle thread's status is `systemError` until the next turn starts, as upstream's.
    failed: bool,
    /// A sub-agent's thread: the root turn its turns belong to (the parent's that spawned it). Upstream tells no read
    /// state for such a thread.
    spawned_by_turn: Option<String>,
    /// The thread's working directory: the turn diff names the files under it relative to it.
    cwd: PathBuf,
    /// The reviewer's turn, while a review runs: the thread's active turn, as upstream's (`turn/started` told it).
    reviewer_turn: Option<String>,
}

impl ThreadEvents {
    pub fn new(out: Outgoing, context_window: Option<u64>, cwd: PathBuf) -> ThreadEvents {
        ThreadEvents {
            cwd,
            out,
            thread_id: None,
            context_window,
            turn: None,
            first_unread: None,
            started_ms: HashMap::new(),
            startup_warnings: Vec::new(),
            last_usage: None,
            requests: None,
            waiting_on: None,
            failed: false,
            spawned_by_turn: None,
            reviewer_turn: None,
        }
    }

    /// The events of a sub-agent's thread, which upstream shows from its spawn (idle) without a `thread/started`.
    pub fn for_child(
        out: Outgoing,
        context_window: Option<u64>,
        cwd: PathBuf,
        thread_id: &str,
        root_turn_id: &str,
    ) -> ThreadEvents {
        let mut events = ThreadEvents::new(out, context_window, cwd);
        events.thread_id = Some(thread_id.to_string());
        events.spawned_by_turn = Some(root_turn_id.to_string());
        events.notify("thread/status/changed", json!({"threadId": thread_id, "status": events.status()}));
        events
    }

    /// Sends the thread's requests to the client through `requests`, answers going to `asked`.
    pub fn answer_requests(&mut self, requests: Arc<ServerRequests>, asked: mpsc::UnboundedSender<Asked>) {
        self.requests = Some((requests, asked));
    }

    /// The client answered a request: the turn no longer waits.
    pub fn request_settled(&mut self) {
        if self.waiting_on.take().is_some() && self.turn.is_some() {
            self.notify("thread/status/changed", json!({"threadId": self.thread_id(), "status": self.status()}));
        }
    }

    /// Waits for the client's approval: the status says so, then (for a command) the command is shown, then the
    /// request goes.
    fn ask_approval(&mut self, request_id: String, item_id: &str, kind: &ApprovalKind) {
        self.waiting_on = Some("waitingOnApproval");
        self.notify("thread/status/changed", json!({"threadId": self.thread_id(), "status": self.status()}));
        let now = now_ms();
        if let Some(item) = approvals::waiting_command(item_id, kind, now) {
            self.item_started(item);
        }
        let (thread_id, turn_id) = (self.thread_id().to_string(), self.turn_id());
        let (method, params) = match kind {
            ApprovalKind::Command { .. } => {
                let started = self.started_at(item_id).unwrap_or(now);
                (
                    "item/commandExecution/requestApproval",
                    approvals::command_params(&thread_id, &turn_id, item_id, started, kind),
                )
            }
            ApprovalKind::Patch { .. } => (
                "item/fileChange/requestApproval",
                approvals::file_change_params(&thread_id, &turn_id, item_id, now, kind),
            ),
            ApprovalKind::McpTool { .. } => {
                ("mcpServer/elicitation/request", approvals::mcp_tool_params(&thread_id, &turn_id, kind))
            }
        };
        self.send_request(request_id, method, params, Expects::Approval);
    }

    fn send_request(&mut self, request_id: String, method: &str, params: Value, expects: Expects) {
        if let Some((requests, asked)) = &self.requests {
            let pending = requests.send(Some(self.thread_id()), method, params);
            let _ = asked.send(Asked { request_id, expects, pending });
        }
    }

    /// The active turn: the running one, or, while a review runs, its reviewer's.
    pub fn running_turn(&self) -> Option<&str> {
        let turn = self.turn.as_ref()?;
        Some(self.reviewer_turn.as_deref().unwrap_or(&turn.id))
    }

    /// A resumed thread's first unread turn, read from its file.
    pub fn set_first_unread(&mut self, turn_id: Option<String>) {
        self.first_unread = turn_id;
    }

    /// The protocol's status of the thread, loaded.
    pub fn status(&self) -> Value {
        match self.turn {
            Some(_) => json!({"type": "active", "activeFlags": self.waiting_on.into_iter().collect::<Vec<_>>()}),
            None if self.failed => json!({"type": "systemError"}),
            None => json!({"type": "idle"}),
        }
    }

    fn thread_id(&self) -> &str {
        self.thread_id.as_deref().unwrap_or_default()
    }

    fn turn_id(&self) -> String {
        self.turn.as_ref().map(|t| t.id.clone()).unwrap_or_default()
    }

    fn notify(&self, method: &str, params: Value) {
        self.out.notify(method, params);
    }

    fn item_started(&mut self, item: Value) {
        let id = item["id"].as_str().unwrap_or_default().to_string();
        let at = item["startedAtMs"].as_i64().unwrap_or_else(now_ms);
        self.started_ms.insert(id, at);
        let params = json!({"item": item, "threadId": self.thread_id(), "turnId": self.turn_id(), "startedAtMs": at});
        self.notify("item/started", params);
    }

    fn item_completed(&mut self, item: Value) {
        let at = item["completedAtMs"].as_i64().unwrap_or_else(now_ms);
        if let Some(id) = item["id"].as_str() {
            self.started_ms.remove(id);
        }
        let params = json!({
            "item": item,
            "threadId": self.thread_id(),
            "turnId": self.turn_id(),
            "contentTokenCount": null,
            "completedAtMs": at,
        });
        self.notify("item/completed", params);
    }

    /// When the item `id` started (now, if it was not announced).
    fn started_at(&self, id: &str) -> Option<i64> {
        self.started_ms.get(id).copied()
    }

    fn token_usage(usage: &TurnUsage, total_tokens: u64) -> Value {
        json!({
            "totalTokens": total_tokens,
            "inputTokens": usage.input_tokens,
            "cachedInputTokens": usage.cached_input_tokens,
            "cacheWriteInputTokens": usage.cache_write_input_tokens,
            "outputTokens": usage.output_tokens,
            "reasoningOutputTokens": usage.reasoning_output_tokens,
        })
    }

    /// `account/rateLimits/updated` as upstream sends it without a ChatGPT login: the limits are not known.
    pub fn rate_limits(&self) {
        self.notify(
            "account/rateLimits/updated",
            json!({"rateLimits": {
                "limitId": "codex", "limitName": null, "normalModelSlug": null, "primary": null, "secondary": null,
                "credits": null, "individualLimit": null, "spendControlReached": null, "planType": null,
                "rateLimitReachedType": null,
            }}),
        );
    }

    /// `thread/tokenUsage/updated` for a usage read back from the thread's file (a resumed or forked thread).
    pub fn saved_usage(&self, turn_id: &str, total: &Value, last: &Value) {
        let usage = |saved: &Value| {
            json!({
                "totalTokens": saved["total_tokens"].as_u64().unwrap_or(0),
                "inputTokens": saved["input_tokens"].as_u64().unwrap_or(0),
                "cachedInputTokens": saved["cached_input_tokens"].as_u64().unwrap_or(0),
                "cacheWriteInputTokens": saved["cache_write_input_tokens"].as_u64().unwrap_or(0),
                "outputTokens": saved["output_tokens"].as_u64().unwrap_or(0),
                "reasoningOutputTokens": saved["reasoning_output_tokens"].as_u64().unwrap_or(0),
            })
        };
        self.notify(
            "thread/tokenUsage/updated",
            json!({
                "threadId": self.thread_id(),
                "turnId": turn_id,
                "tokenUsage": {"total": usage(total), "last": usage(last), "modelContextWindow": self.context_window},
            }),
        );
    }

    /// Takes one event of the thread's session.
    pub fn handle(&mut self, event: Event) {
        match event {
            Event::ThreadStarted { thread_id } => self.thread_id = Some(thread_id),
            // A review's turn was opened by its entering review mode: what starts now is told as its reviewer's.
            Event::TurnStarted { turn_id } if self.turn.as_ref().is_some_and(|t| t.id == turn_id) => {}
            Event::TurnStarted { turn_id } => {
                self.failed = false;
                let started_at = now_s();
                self.turn = Some(RunningTurn {
                    id: turn_id.clone(),
                    started_at,
                    started: Instant::now(),
                    last_agent_message: None,
                    unread: false,
                    diff: TurnDiff::default(),
                });
                self.notify("thread/status/changed", json!({"threadId": self.thread_id(), "status": self.status()}));
                let turn = turn_json(&turn_id, vec![], "notLoaded", "inProgress", Value::Null, Some(started_at), None, None);
                let turn = self.rooted(turn);
                self.notify("turn/started", json!({"threadId": self.thread_id(), "turn": turn}));
            }
            Event::UserMessage { id, input, .. } => {
                let at = now_ms();
                let content = items::user_content(&input);
                self.item_started(items::user_message(&id, content.clone(), at, None));
                self.item_completed(items::user_message(&id, content, at, Some(at)));
            }
            Event::AgentMessageStarted { id, phase, .. } => {
                let message = items::agent_message(&id, "", now_ms(), None);
                self.item_started(items::with_phase(message, phase.as_deref()))
            }
            Event::AgentMessageDelta { id, delta, .. } => self.notify(
                "item/agentMessage/delta",
                json!({"threadId": self.thread_id(), "turnId": self.turn_id(), "itemId": id, "delta": delta}),
            ),
            Event::ReasoningStarted { id, .. } => self.item_started(items::reasoning(&id, &[], &[], now_ms(), None)),
            Event::ReasoningSummaryPart { id, summary_index, .. } => self.notify(
                "item/reasoning/summaryPartAdded",
                json!({"threadId": self.thread_id(), "turnId": self.turn_id(), "itemId": id, "summaryIndex": summary_index}),
            ),
            Event::ReasoningSummaryDelta { id, summary_index, delta, .. } => self.notify(
                "item/reasoning/summaryTextDelta",
                json!({"threadId": self.thread_id(), "turnId": self.turn_id(), "itemId": id, "delta": delta,
                    "summaryIndex": summary_index}),
            ),
            Event::ReasoningTextDelta { id, content_index, delta, .. } => self.notify(
                "item/reasoning/textDelta",
                json!({"threadId": self.thread_id(), "turnId": self.turn_id(), "itemId": id, "delta": delta,
                    "contentIndex": content_index}),
            ),
            Event::ReasoningCompleted { id, summary, content, .. } => {
                let now = now_ms();
                let started = match self.started_at(&id) {
                    Some(at) => at,
                    None => {
                        self.item_started(items::reasoning(&id, &[], &[], now, None));
                        now
                    }
                };
                self.item_completed(items::reasoning(&id, &summary, &content, started, Some(now)));
            }
            Event::CommandOutputDelta { call_id, delta } => self.notify(
                "item/commandExecution/outputDelta",
                json!({"threadId": self.thread_id(), "turnId": self.turn_id(), "itemId": call_id, "delta": delta}),
            ),
            // A command shown while its approval is asked: shown with the request (see `ask`).
            Event::ItemStarted { item }
                if matches!(&item.details, ItemDetails::CommandExecution { run, status: Status::InProgress, .. }
                    if run.process_id.is_none()) => {}
            Event::ItemStarted { item } | Event::ItemUpdated { item } => {
                let id = item.source_id.clone().unwrap_or_else(|| item.id.clone());
                match &item.details {
                    ItemDetails::CommandExecution { command, status, run, .. } => {
                        let c = items::Command {
                            command,
                            cwd: run.cwd.as_deref(),
                            process_id: run.process_id,
                            status: *status,
                            aggregated_output: None,
                            exit_code: None,
                            duration_ms: None,
                        };
                        self.item_started(items::command_execution(&id, &c, now_ms(), None));
                    }
                    ItemDetails::FileChange { changes, status } => {
                        self.item_started(items::file_change(&id, changes, *status, now_ms(), None));
                    }
                    ItemDetails::WebSearch { query, action, .. } => {
                        self.item_started(items::web_search(&id, query, action, now_ms(), None));
                    }
                    ItemDetails::CollabToolCall { .. } => {
                        self.item_started(items::collab_tool_call(&id, &item.details, now_ms(), None));
                    }
                    ItemDetails::McpToolCall { .. } => {
                        self.item_started(items::mcp_tool_call(&id, &item.details, now_ms(), None));
                    }
                    ItemDetails::TodoList { items } => {
                        let plan: Vec<Value> = items
                            .iter()
                            .map(|i| json!({"step": i.text, "status": if i.completed { "completed" } else { "pending" }}))
                            .collect();
                        self.notify(
                            "turn/plan/updated",
                            json!({"threadId": self.thread_id(), "turnId": self.turn_id(), "explanation": null,
                                "plan": plan}),
                        );
                    }
                    _ => {}
                }
            }
            Event::ItemCompleted { item } => {
                let id = item.source_id.clone().unwrap_or_else(|| item.id.clone());
                let now = now_ms();
                match &item.details {
                    ItemDetails::AgentMessage { text, phase } => {
                        let phase = phase.as_deref();
                        let started = match self.started_at(&id) {
                            Some(at) => at,
                            None => {
                                // As upstream: an item that began whole shows its text from its start.
                                self.item_started(items::with_phase(items::agent_message(&id, text, now, None), phase));
                                now
                            }
                        };
                        let message = items::with_phase(items::agent_message(&id, text, started, Some(now)), phase);
                        if let Some(turn) = &mut self.turn {
                            turn.last_agent_message = Some(message.clone());
                            turn.unread = true;
                        }
                        self.item_completed(message);
                    }
                    ItemDetails::CommandExecution { command, aggregated_output, exit_code, status, run } => {
                        let c = items::Command {
                            command,
                            cwd: run.cwd.as_deref(),
                            process_id: run.process_id,
                            status: *status,
                            // A declined command never ran: it has no output.
                            aggregated_output: (*status != Status::Declined).then_some(aggregated_output.as_str()),
                            exit_code: *exit_code,
                            duration_ms: run.duration_ms,
                        };
                        let started = self.started_at(&id).unwrap_or(now);
                        self.item_completed(items::command_execution(&id, &c, started, Some(now)));
                    }
                    ItemDetails::FileChange { changes, status } => {
                        let started = self.started_at(&id).unwrap_or(now);
                        self.item_completed(items::file_change(&id, changes, *status, started, Some(now)));
                        if let Some(turn) = &mut self.turn {
                            changes.iter().for_each(|change| turn.diff.record(change));
                        }
                        self.turn_diff();
                    }
                    ItemDetails::WebSearch { query, action, .. } => {
                        let started = self.started_at(&id).unwrap_or(now);
                        self.item_completed(items::web_search(&id, query, action, started, Some(now)));
                    }
                    ItemDetails::CollabToolCall { .. } => {
                        let started = self.started_at(&id).unwrap_or(now);
                        self.item_completed(items::collab_tool_call(&id, &item.details, started, Some(now)));
                    }
                    ItemDetails::McpToolCall { .. } => {
                        let started = self.started_at(&id).unwrap_or(now);
                        self.item_completed(items::mcp_tool_call(&id, &item.details, started, Some(now)));
                    }
                    ItemDetails::Error { message } => match &self.thread_id {
                        None => self.startup_warnings.push(message.clone()),
                        Some(thread_id) => {
                            self.notify("warning", json!({"threadId": thread_id, "message": message}));
                        }
                    },
                    // Reasoning comes as its own events; a plan ends with its turn.
                    _ => {}
                }
            }
            Event::TokenUsage { turn_id, total, last, total_tokens, last_tokens } => {
                let usage = json!({
                    "total": Self::token_usage(&total, total_tokens),
                    "last": Self::token_usage(&last, last_tokens),
                    "modelContextWindow": self.context_window,
                });
                self.last_usage = Some((turn_id.clone(), usage.clone()));
                self.notify(
                    "thread/tokenUsage/updated",
                    json!({"threadId": self.thread_id(), "turnId": turn_id, "tokenUsage": usage}),
                );
            }
            Event::ResponseEnded { .. } => {
                self.rate_limits();
                self.turn_diff();
            }
            Event::RateLimits { .. } => self.rate_limits(),
            Event::McpServerStatus { name, status, error } => self.notify(
                "mcpServer/startupStatus/updated",
                json!({"threadId": self.thread_id(), "name": name, "status": status, "error": error,
                    "failureReason": null}),
            ),
            Event::CompactionStarted { id, .. } => self.item_started(context_compaction(&id, now_ms(), None)),
            Event::CompactionCompleted { id, .. } => {
                let now = now_ms();
                let started = self.started_at(&id).unwrap_or(now);
                self.item_completed(context_compaction(&id, started, Some(now)));
            }
            // The error that ends the turn is told with its end (below), once.
            Event::Error { ends_turn: true, .. } => {}
            Event::Error { message, reconnect, .. } => {
                if self.turn.is_some() {
                    // As upstream: a retry's notice names the attempt, and carries what failed apart.
                    let error = match reconnect {
                        Some(r) => json!({
                            "message": format!("Reconnecting... {}/{}", r.attempt, r.max),
                            "codexErrorInfo": {"responseStreamDisconnected": {"httpStatusCode": r.http_status}},
                            "additionalDetails": r.details,
                            "misalignment": null,
                        }),
                        None => crate::items::turn_error(&message, None),
                    };
                    self.notify(
                        "error",
                        json!({"error": error, "willRetry": true, "threadId": self.thread_id(), "turnId": self.turn_id()}),
                    );
                } else if let Some(thread_id) = &self.thread_id {
                    self.notify("warning", json!({"threadId": thread_id, "message": message}));
                }
            }
            Event::ApprovalRequested { request_id, item_id, kind, .. } => self.ask_approval(request_id, &item_id, &kind),
            Event::UserInputRequested { request_id, item_id, questions, .. } => {
                self.waiting_on = Some("waitingOnUserInput");
                self.notify("thread/status/changed", json!({"threadId": self.thread_id(), "status": self.status()}));
                let params = approvals::user_input_params(self.thread_id(), &self.turn_id(), &item_id, &questions);
                self.send_request(request_id, "item/tool/requestUserInput", params, Expects::UserInput);
            }
            // As upstream: the review's turn opens with the item that names the review, before the thread is
            // active; the turn that starts after it is the reviewer's, rooted in the review's.
            Event::ReviewEntered { turn_id, id, review } => {
                self.failed = false;
                self.turn = Some(RunningTurn {
                    id: turn_id,
                    started_at: now_s(),
                    started: Instant::now(),
                    last_agent_message: None,
                    unread: false,
                    diff: TurnDiff::default(),
                });
                let now = now_ms();
                self.item_started(items::review_mode("enteredReviewMode", &id, &review, now, None));
                self.item_completed(items::review_mode("enteredReviewMode", &id, &review, now, Some(now)));
            }
            Event::ReviewerStarted { turn_id, reviewer_turn_id } => {
                self.reviewer_turn = Some(reviewer_turn_id.clone());
                self.notify("thread/status/changed", json!({"threadId": self.thread_id(), "status": self.status()}));
                let started_at = self.turn.as_ref().map(|t| t.started_at).unwrap_or_else(now_s);
                let mut turn =
                    turn_json(&reviewer_turn_id, vec![], "notLoaded", "inProgress", Value::Null, Some(started_at), None, None);
                turn["rootTurnId"] = json!(turn_id);
                self.notify("turn/started", json!({"threadId": self.thread_id(), "turn": turn}));
            }
            // Upstream tells the reviewer's answer begin, and nothing more of it: the findings stand for it.
            Event::ReviewerAnswerStarted { id, .. } => self.item_started(items::agent_message(&id, "", now_ms(), None)),
            Event::ReviewExited { id, review, .. } => {
                let now = now_ms();
                self.item_started(items::review_mode("exitedReviewMode", &id, &review, now, None));
                self.item_completed(items::review_mode("exitedReviewMode", &id, &review, now, Some(now)));
            }
            Event::TurnCompleted { .. } => self.end_turn("completed", Value::Null),
            Event::TurnAborted { .. } => self.end_turn("interrupted", Value::Null),
            Event::TurnFailed { error, error_info, .. } => {
                let error = crate::items::turn_error(&error.message, error_info.as_ref());
                self.notify(
                    "error",
                    json!({"error": error, "willRetry": false, "threadId": self.thread_id(), "turnId": self.turn_id()}),
                );
                self.end_turn("failed", error);
            }
        }
    }

    /// `turn/diff/updated`, once the turn's patches changed something: after each file change and each response,
    /// as upstream sends it.
    fn turn_diff(&self) {
        let Some(turn) = &self.turn else { return };
        let diff = turn.diff.render(&self.cwd);
        if !diff.is_empty() {
            self.notify("turn/diff/updated", json!({"threadId": self.thread_id(), "turnId": turn.id, "diff": diff}));
        }
    }

    /// The end of the running turn: its read state, the thread idle again, `turn/completed`.
    fn end_turn(&mut self, status: &str, error: Value) {
        self.waiting_on = None;
        self.reviewer_turn = None;
        let Some(turn) = self.turn.take() else { return };
        // As upstream: a failed turn leaves the thread in error, and is news to the client like an answer.
        self.failed = status == "failed";
        if (turn.unread || self.failed) && self.spawned_by_turn.is_none() {
            let first = self.first_unread.get_or_insert_with(|| turn.id.clone()).clone();
            self.notify(
                "thread/readState/changed",
                json!({
                    "threadId": self.thread_id(),
                    "readState": {"firstUnread": {"type": "turn", "turnId": first}, "revision": uuid::Uuid::new_v4().to_string()},
                }),
            );
        }
        self.notify("thread/status/changed", json!({"threadId": self.thread_id(), "status": self.status()}));
        // As upstream: a completed turn shows its last answer; an interrupted or failed one shows nothing.
        let (items, view) = match (&turn.last_agent_message, status) {
            (Some(message), "completed") => (vec![message.clone()], "summary"),
            _ => (vec![], "notLoaded"),
        };
        let duration = turn.started.elapsed().as_millis() as i64;
        let turn =
            turn_json(&turn.id, items, view, status, error, Some(turn.started_at), Some(now_s()), Some(duration));
        let turn = self.rooted(turn);
        self.notify("turn/completed", json!({"threadId": self.thread_id(), "turn": turn}));
    }

    /// A turn object of this thread: a sub-agent's turns belong to the parent's turn that spawned it.
    fn rooted(&self, mut turn: Value) -> Value {
        if let Some(root) = &self.spawned_by_turn {
            turn["rootTurnId"] = json!(root);
        }
        turn
    }
}

/// A `contextCompaction` item: a compaction of the thread's history.
pub fn context_compaction(id: &str, started_ms: i64, completed_ms: Option<i64>) -> Value {
    json!({"type": "contextCompaction", "id": id, "startedAtMs": started_ms, "completedAtMs": completed_ms})
}

/// A turn object.
#[allow(clippy::too_many_arguments)]
pub fn turn_json(
    id: &str,
    items: Vec<Value>,
    items_view: &str,
    status: &str,
    error: Value,
    started_at: Option<i64>,
    completed_at: Option<i64>,
    duration_ms: Option<i64>,
) -> Value {
    json!({
        "id": id,
        "rootTurnId": id,
        "items": items,
        "itemsView": items_view,
        "status": status,
        "error": error,
        "startedAt": started_at,
        "completedAt": completed_at,
        "durationMs": duration_ms,
    })
}
