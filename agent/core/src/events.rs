//! What a session tells its frontend, in the shapes of `codex exec --json`: thread and turn events, and items
//! (messages, reasoning, commands, file changes, plans, warnings) started, updated and completed.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use serde::Serialize;

use crate::client::Usage;

/// One event of a thread. Those [`Event::is_exec`] says `exec --json` prints serialize as its lines
/// (`serde_json::to_string`); the others, and the fields marked `skip`, are for richer frontends (the app server).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type")]
pub enum Event {
    #[serde(rename = "thread.started")]
    ThreadStarted { thread_id: String },
    #[serde(rename = "turn.started")]
    TurnStarted {
        #[serde(skip)]
        turn_id: String,
    },
    #[serde(rename = "item.started")]
    ItemStarted { item: Item },
    #[serde(rename = "item.updated")]
    ItemUpdated { item: Item },
    #[serde(rename = "item.completed")]
    ItemCompleted { item: Item },
    /// The turn ended normally; `usage` is the thread's so far, as upstream reports it.
    #[serde(rename = "turn.completed")]
    TurnCompleted {
        usage: TurnUsage,
        #[serde(skip)]
        turn_id: String,
    },
    #[serde(rename = "turn.failed")]
    TurnFailed {
        error: ErrorMessage,
        #[serde(skip)]
        turn_id: String,
        /// What kind of failure, as upstream's `codex_error_info` says it (snake_case), when rcodex knows.
        #[serde(skip)]
        error_info: Option<serde_json::Value>,
    },
    /// A notice (a retry, a warning), or the error that ends the turn, just before its [`Event::TurnFailed`]
    /// (`ends_turn`: the app server tells that one with the turn's end, not as a notice of its own).
    #[serde(rename = "error")]
    Error {
        message: String,
        #[serde(skip)]
        ends_turn: bool,
        /// For a retry's notice: which attempt, and what failed (the app server tells them apart).
        #[serde(skip)]
        reconnect: Option<Reconnect>,
    },
    /// The turn was interrupted: what it received is kept, its running tools are ended.
    #[serde(rename = "turn.aborted")]
    TurnAborted { turn_id: String },
    /// The user's input, as it enters the conversation (a turn's prompt, or a steer).
    #[serde(rename = "user_message")]
    UserMessage { turn_id: String, id: String, input: Vec<UserInput> },
    /// An assistant message begins; its text follows as deltas, then its `item.completed`.
    #[serde(rename = "agent_message.started")]
    AgentMessageStarted {
        turn_id: String,
        id: String,
        /// The message's `phase` as the model gave it (`commentary`, `final_answer`), for the app server.
        #[serde(skip)]
        phase: Option<String>,
    },
    #[serde(rename = "agent_message.delta")]
    AgentMessageDelta { turn_id: String, id: String, delta: String },
    /// Token usage after a model response: the thread's total and the last response's.
    #[serde(rename = "token_usage")]
    TokenUsage { turn_id: String, total: TurnUsage, last: TurnUsage, total_tokens: u64, last_tokens: u64 },
    /// A model response ended: `completed` when it reached `response.completed` (its usage came as
    /// [`Event::TokenUsage`] before), otherwise cut by a steer or an interrupt, or failed.
    #[serde(rename = "response.ended")]
    ResponseEnded { turn_id: String, completed: bool },
    /// The model server's rate limits are known anew (a compaction's response began, or the usage was estimated
    /// after it): upstream's app server tells them again, after the usage.
    #[serde(rename = "rate_limits")]
    RateLimits { turn_id: String },
    /// A compaction of the thread's history begins (see [`crate::session::Session::compact`]): the item `id` shows
    /// it.
    #[serde(rename = "compaction.started")]
    CompactionStarted { turn_id: String, id: String },
    /// The history is compacted.
    #[serde(rename = "compaction.completed")]
    CompactionCompleted { turn_id: String, id: String },
    /// A reasoning item begins (its summary, if any, follows as deltas, then its `item.completed`).
    #[serde(rename = "reasoning.started")]
    ReasoningStarted { turn_id: String, id: String },
    /// A new part of a reasoning item's summary begins.
    #[serde(rename = "reasoning.summary_part")]
    ReasoningSummaryPart { turn_id: String, id: String, summary_index: u64 },
    /// Text of a reasoning summary as it streams.
    #[serde(rename = "reasoning.summary_delta")]
    ReasoningSummaryDelta { turn_id: String, id: String, summary_index: u64, delta: String },
    /// A reasoning item is complete: its summary parts and its raw text parts (either may be empty).
    #[serde(rename = "reasoning.completed")]
    ReasoningCompleted { turn_id: String, id: String, summary: Vec<String>, content: Vec<String> },
    /// Raw reasoning text as it streams (models that send it).
    #[serde(rename = "reasoning.text_delta")]
    ReasoningTextDelta { turn_id: String, id: String, content_index: u64, delta: String },
    /// Output of a running command (the tool call `call_id`), as it arrives.
    #[serde(rename = "command.output_delta")]
    CommandOutputDelta { call_id: String, delta: String },
    /// A tool waits for a person's approval (see [`crate::interaction`]): answer with
    /// [`crate::thread::Op::Resolve`] and `request_id`. `item_id` is the tool call's `call_id`.
    #[serde(rename = "approval.requested")]
    ApprovalRequested { request_id: String, turn_id: String, item_id: String, kind: crate::interaction::ApprovalKind },
    /// `request_user_input` waits for answers to its questions: answer with [`crate::thread::Op::Resolve`] and
    /// `request_id`. `item_id` is the tool call's `call_id`.
    #[serde(rename = "user_input.requested")]
    UserInputRequested {
        request_id: String,
        turn_id: String,
        item_id: String,
        questions: Vec<crate::interaction::UserInputQuestion>,
    },
    /// An MCP server of the session is starting, has started, or could not start (`error` says why).
    #[serde(rename = "mcp_server.status")]
    McpServerStatus { name: String, status: McpServerStartup, error: Option<String> },
    /// A code review opens the turn `turn_id` of the thread, before its reviewer runs (see [`crate::review`]):
    /// `review` names what it looks at, `id` is the item that tells it.
    #[serde(rename = "review.entered")]
    ReviewEntered { turn_id: String, id: String, review: String },
    /// The reviewer's own turn (`reviewer_turn_id`, in its session) begins within the review's turn `turn_id`.
    #[serde(rename = "review.reviewer_started")]
    ReviewerStarted { turn_id: String, reviewer_turn_id: String },
    /// The reviewer began its answer (the model's message `id`), which the findings stand for: its text is not told.
    #[serde(rename = "review.answer_started")]
    ReviewerAnswerStarted { turn_id: String, id: String },
    /// The review is over: `review` is its findings as the turn's closing message shows them, `id` the item that
    /// tells it.
    #[serde(rename = "review.exited")]
    ReviewExited { turn_id: String, id: String, review: String },
}

/// How far an MCP server's start has got, as the app server's `mcpServer/startupStatus/updated` says it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum McpServerStartup {
    Starting,
    Ready,
    Failed,
}

impl Event {
    /// Whether `exec --json` prints this event.
    pub fn is_exec(&self) -> bool {
        !matches!(
            self,
            Event::TurnAborted { .. }
                | Event::UserMessage { .. }
                | Event::AgentMessageStarted { .. }
                | Event::AgentMessageDelta { .. }
                | Event::TokenUsage { .. }
                | Event::ResponseEnded { .. }
                | Event::RateLimits { .. }
                | Event::CompactionStarted { .. }
                | Event::CompactionCompleted { .. }
                | Event::ReasoningStarted { .. }
                | Event::ReasoningSummaryPart { .. }
                | Event::ReasoningSummaryDelta { .. }
                | Event::ReasoningCompleted { .. }
                | Event::ReasoningTextDelta { .. }
                | Event::CommandOutputDelta { .. }
                | Event::ApprovalRequested { .. }
                | Event::UserInputRequested { .. }
                | Event::McpServerStatus { .. }
                | Event::ReviewEntered { .. }
                | Event::ReviewerStarted { .. }
                | Event::ReviewerAnswerStarted { .. }
                | Event::ReviewExited { .. }
        )
    }
}

/// The texts of an input, one per line (what a preview or a collab item's `prompt` shows of it).
pub fn input_text(input: &[UserInput]) -> String {
    input
        .iter()
        .filter_map(|i| match i {
            UserInput::Text { text } => Some(text.as_str()),
            _ => None,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// A request tried again: `Reconnecting... {attempt}/{max} ({details})`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reconnect {
    pub attempt: u64,
    pub max: u64,
    /// Why the last attempt failed.
    pub details: String,
    /// The HTTP status it failed with, when the server answered with an error rather than a stream.
    pub http_status: Option<u16>,
}

impl Reconnect {
    /// The notice of this retry: the text exec and the interface show, the parts the app server tells apart.
    pub fn event(self) -> Event {
        let message = format!("Reconnecting... {}/{} ({})", self.attempt, self.max, self.details);
        Event::Error { message, ends_turn: false, reconnect: Some(self) }
    }
}

/// One piece of a user's input.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum UserInput {
    Text {
        text: String,
    },
    /// An image by URL (a `data:` URL included).
    Image {
        url: String,
    },
    /// An image file, read when the message is made.
    LocalImage {
        path: std::path::PathBuf,
    },
    /// A skill the user selected, by its `SKILL.md`: its file goes to the model in a message of its own.
    Skill {
        name: String,
        path: std::path::PathBuf,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ErrorMessage {
    pub message: String,
}

/// Usage over a turn, as `turn.completed` reports it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct TurnUsage {
    pub input_tokens: u64,
    pub cached_input_tokens: u64,
    pub cache_write_input_tokens: u64,
    pub output_tokens: u64,
    pub reasoning_output_tokens: u64,
}

impl From<Usage> for TurnUsage {
    fn from(u: Usage) -> Self {
        TurnUsage {
            input_tokens: u.input_tokens,
            cached_input_tokens: u.cached_input_tokens,
            cache_write_input_tokens: u.cache_write_input_tokens,
            output_tokens: u.output_tokens,
            reasoning_output_tokens: u.reasoning_output_tokens,
        }
    }
}

/// An item of the thread, with its `item_N` id.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Item {
    pub id: String,
    #[serde(flatten)]
    pub details: ItemDetails,
    /// The id the item has outside exec's numbering: the model's item id (`msg_...`, `rs_...`) or the tool call's
    /// `call_id`, as the app server names items. Not part of `exec --json`.
    #[serde(skip)]
    pub source_id: Option<String>,
}

impl Item {
    pub fn new(id: String, details: ItemDetails) -> Item {
        Item { id, details, source_id: None }
    }

    pub fn with_source(mut self, source_id: impl Into<String>) -> Item {
        self.source_id = Some(source_id.into());
        self
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ItemDetails {
    AgentMessage {
        text: String,
        /// The message's `phase` as the model gave it (`commentary`, `final_answer`), for the app server. Not part of
        /// `exec --json`.
        #[serde(skip)]
        phase: Option<String>,
    },
    Reasoning {
        text: String,
    },
    CommandExecution {
        command: String,
        aggregated_output: String,
        exit_code: Option<i32>,
        status: Status,
        /// Where and how it ran, for the app server. Not part of `exec --json`.
        #[serde(skip)]
        run: CommandRun,
    },
    FileChange {
        changes: Vec<FileChange>,
        status: Status,
    },
    TodoList {
        items: Vec<TodoItem>,
    },
    /// A search the server ran. Upstream's item carries the search's own `id` beside the item's, under the same key.
    WebSearch {
        id: String,
        query: String,
        action: serde_json::Value,
    },
    /// A warning, shown as an item.
    Error {
        message: String,
    },
    /// A call of a multi-agent tool (`tool`: `spawn_agent`, `send_input`, `wait`, `close_agent`, `resume_agent`),
    /// with the children it concerns and their states (`{"status", "message"}`) once it has ended.
    CollabToolCall {
        tool: String,
        sender_thread_id: String,
        receiver_thread_ids: Vec<String>,
        prompt: Option<String>,
        agents_states: serde_json::Map<String, serde_json::Value>,
        status: Status,
        /// For a spawn, the model and reasoning effort asked for (as it starts) or given (once it has ended), for the
        /// app server. Not part of `exec --json`.
        #[serde(skip)]
        model: Option<String>,
        #[serde(skip)]
        reasoning_effort: Option<String>,
    },
    /// A call of an MCP server's tool, or of a resource tool (`server` is then `codex` for the listings, as
    /// upstream writes it).
    McpToolCall {
        server: String,
        tool: String,
        arguments: serde_json::Value,
        /// `{content, structured_content}` once the server answered.
        result: Option<serde_json::Value>,
        error: Option<ErrorMessage>,
        status: Status,
        /// The tool's `readOnlyHint`, for the app server. Not part of `exec --json`.
        #[serde(skip)]
        read_only_hint: Option<bool>,
    },
}

/// The kind of a turn's failure as upstream names it (`codex_error_info`, snake_case), where its message tells: a
/// request that failed with a status no retry was left for (`exceeded retry limit, last status: 429 ...`) is
/// `response_too_many_failed_attempts` with that status, as upstream 0.169.0 recorded it (app-retry-429-fails).
pub fn codex_error_info(message: &str) -> Option<serde_json::Value> {
    let status = message.strip_prefix("exceeded retry limit, last status: ")?;
    let status: u16 = status.split(|c: char| !c.is_ascii_digit()).next()?.parse().ok()?;
    Some(serde_json::json!({"response_too_many_failed_attempts": {"http_status_code": status}}))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    InProgress,
    Completed,
    Failed,
    Declined,
}

/// What the app server tells of a command beyond `exec --json`'s item.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CommandRun {
    /// The working directory.
    pub cwd: Option<std::path::PathBuf>,
    /// The unified-exec process id (the session id `write_stdin` names, when the command outlives its call).
    pub process_id: Option<i32>,
    /// How long it ran, once it ended.
    pub duration_ms: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FileChange {
    pub path: String,
    pub kind: String,
    /// For a move, where the file goes. Not part of `exec --json`.
    #[serde(skip)]
    pub move_path: Option<String>,
    /// The change as a diff: a unified diff of an update, the whole text of an added or deleted file. Not part of
    /// `exec --json`.
    #[serde(skip)]
    pub diff: String,
    /// The file's text before the change (`None` for a file the change adds), for a frontend that shows the turn's
    /// changes as one diff. Not part of `exec --json`.
    #[serde(skip)]
    pub before: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TodoItem {
    pub text: String,
    pub completed: bool,
}

/// Where events go, shared by the session and its tools. Item ids are numbered here, in the order items start.
#[derive(Clone)]
pub struct EventSink {
    send: Arc<dyn Fn(Event) + Send + Sync>,
    next_item: Arc<AtomicU64>,
}

impl EventSink {
    pub fn new(send: impl Fn(Event) + Send + Sync + 'static) -> Self {
        EventSink { send: Arc::new(send), next_item: Arc::new(AtomicU64::new(0)) }
    }

    /// A sink that drops everything.
    pub fn discard() -> Self {
        EventSink::new(|_| {})
    }

    /// The same sink (the same item numbering), each event shown to `tap` before it goes on.
    pub fn tapped(&self, tap: impl Fn(&Event) + Send + Sync + 'static) -> Self {
        let send = self.send.clone();
        EventSink {
            send: Arc::new(move |event| {
                tap(&event);
                send(event)
            }),
            next_item: self.next_item.clone(),
        }
    }

    pub fn emit(&self, event: Event) {
        (self.send)(event)
    }

    /// A new `item_N` id.
    pub fn item_id(&self) -> String {
        format!("item_{}", self.next_item.fetch_add(1, Ordering::Relaxed))
    }

    /// A completed item with a new id.
    pub fn completed(&self, details: ItemDetails) {
        let id = self.item_id();
        self.emit(Event::ItemCompleted { item: Item::new(id, details) });
    }
}

/// The `web_search` item of a `web_search_call` output item: its id, what it looked for, and its action.
pub fn web_search(item: &serde_json::Value) -> ItemDetails {
    let action = item.get("action").cloned().unwrap_or_else(|| serde_json::json!({"type": "other"}));
    let text = |key: &str| action.get(key).and_then(serde_json::Value::as_str).map(str::to_string);
    let query = match action.get("type").and_then(serde_json::Value::as_str) {
        Some("search") => text("query").filter(|q| !q.is_empty()).unwrap_or_else(|| {
            let queries: Vec<&str> = action
                .get("queries")
                .and_then(serde_json::Value::as_array)
                .map(|qs| qs.iter().filter_map(serde_json::Value::as_str).collect())
                .unwrap_or_default();
            match queries.first() {
                Some(first) if queries.len() > 1 && !first.is_empty() => format!("{first} ..."),
                Some(first) => first.to_string(),
                None => String::new(),
            }
        }),
        Some("open_page") => text("url").unwrap_or_default(),
        Some("find_in_page") => match (text("pattern"), text("url")) {
            (Some(pattern), Some(url)) => format!("'{pattern}' in {url}"),
            (Some(pattern), None) => format!("'{pattern}'"),
            (None, url) => url.unwrap_or_default(),
        },
        _ => String::new(),
    };
    let id = item.get("id").and_then(serde_json::Value::as_str).unwrap_or_default().to_string();
    ItemDetails::WebSearch { id, query, action }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_web_search_item_carries_both_ids_as_upstream_prints_it() {
        let call = serde_json::json!({"type": "web_search_call", "id": "ws_1", "status": "completed",
            "action": {"type": "search", "queries": ["rust", "cargo"]}});
        let item = Item::new("item_0".into(), web_search(&call));
        assert_eq!(
            serde_json::to_string(&Event::ItemStarted { item }).unwrap(),
            r#"{"type":"item.started","item":{"id":"item_0","type":"web_search","id":"ws_1","query":"rust ...","action":{"type":"search","queries":["rust","cargo"]}}}"#
        );
        let page = serde_json::json!({"id": "ws_2", "action": {"type": "find_in_page", "url": "u", "pattern": "p"}});
        assert!(matches!(web_search(&page), ItemDetails::WebSearch { query, .. } if query == "'p' in u"));
    }

    #[test]
    fn events_serialize_as_codex_exec_json_prints_them() {
        let line = |e: &Event| serde_json::to_string(e).unwrap();
        assert_eq!(
            line(&Event::ThreadStarted { thread_id: "t".into() }),
            r#"{"type":"thread.started","thread_id":"t"}"#
        );
        assert_eq!(line(&Event::TurnStarted { turn_id: "t1".into() }), r#"{"type":"turn.started"}"#);
        let command = Item::new(
            "item_0".into(),
            ItemDetails::CommandExecution {
                command: "/bin/bash -lc 'ls'".into(),
                aggregated_output: String::new(),
                exit_code: None,
                status: Status::InProgress,
                run: CommandRun { cwd: Some("/w".into()), process_id: Some(1234), duration_ms: None },
            },
        )
        .with_source("call_1");
        assert_eq!(
            line(&Event::ItemStarted { item: command }),
            r#"{"type":"item.started","item":{"id":"item_0","type":"command_execution","command":"/bin/bash -lc 'ls'","aggregated_output":"","exit_code":null,"status":"in_progress"}}"#
        );
        let usage = TurnUsage { input_tokens: 1, output_tokens: 2, ..Default::default() };
        assert_eq!(
            line(&Event::TurnCompleted { usage, turn_id: "t1".into() }),
            r#"{"type":"turn.completed","usage":{"input_tokens":1,"cached_input_tokens":0,"cache_write_input_tokens":0,"output_tokens":2,"reasoning_output_tokens":0}}"#
        );
        assert_eq!(
            line(&Event::TurnFailed {
                error: ErrorMessage { message: "m".into() },
                turn_id: "t1".into(),
                error_info: None
            }),
            r#"{"type":"turn.failed","error":{"message":"m"}}"#
        );
    }
}
