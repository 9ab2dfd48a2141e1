//! Threads read back from their session files: what `thread/list`, `thread/read`, `thread/resume`, `thread/fork`,
//! `thread/turns/list` and `thread/items/list` show of a thread's past turns. A turn is its `task_started` record
//! and what ended it; its items are the `item_completed` records naming it (the user's and the agent's messages,
//! reasoning, commands, file changes, web searches, images viewed), in upstream's shapes, read back into the
//! protocol's, with the ids they had when they happened. A fork's history includes its source's (see
//! [`rcodex_core::rollout::records`]). Each turn and item keeps the ordinal of its record: its place for paging.

use std::path::{Path, PathBuf};

use rcodex_core::events::{FileChange, Status, UserInput};
use serde_json::{Value, json};

use crate::items;
use crate::notify::turn_json;

/// A session file, read.
#[derive(Debug, Clone, Default)]
pub struct History {
    pub path: PathBuf,
    /// The `session_meta` record's payload.
    pub meta: Value,
    pub turns: Vec<PastTurn>,
    /// Every item, in the order its record was written.
    pub items: Vec<PastItem>,
    /// The text of the first user message.
    pub preview: String,
    /// Seconds since the epoch, from the first record.
    pub created_at: i64,
    /// The thread's usage as last saved, the last response's, and the turn it was saved in.
    pub usage: Option<(String, Value, Value)>,
    /// The model of the last turn.
    pub model: Option<String>,
    /// The thread's settings as last recorded, key by key: its turns' `turn_context` (working directory, approval
    /// policy, model, effort) and `thread_settings_applied` (at its first turn, and after a turn changed them).
    pub settings: Option<Value>,
}

#[derive(Debug, Clone, Default)]
pub struct PastTurn {
    pub id: String,
    /// The ordinal of its `task_started` record.
    pub ordinal: u64,
    pub status: &'static str,
    pub error: Value,
    pub started_at: Option<i64>,
    pub completed_at: Option<i64>,
    pub duration_ms: Option<i64>,
    /// An agent message was given.
    pub answered: bool,
}

/// An item of a past turn, in the protocol's shape.
#[derive(Debug, Clone, Default)]
pub struct PastItem {
    /// The ordinal of its `item_completed` record.
    pub ordinal: u64,
    pub turn_id: String,
    pub item: Value,
    pub started_ms: Option<i64>,
    pub completed_ms: Option<i64>,
}

/// How much of a turn's items a turn object carries (`TurnItemsView`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ItemsView {
    NotLoaded,
    /// The turn's first user message and last agent message, as upstream summarizes a turn.
    Summary,
    Full,
}

impl ItemsView {
    pub fn name(self) -> &'static str {
        match self {
            ItemsView::NotLoaded => "notLoaded",
            ItemsView::Summary => "summary",
            ItemsView::Full => "full",
        }
    }
}

impl History {
    /// Takes the settings a record gives over those known so far.
    fn note_settings(&mut self, given: &Value) {
        let settings = self.settings.get_or_insert_with(|| Value::Object(Default::default()));
        if let (Some(settings), Some(given)) = (settings.as_object_mut(), given.as_object()) {
            settings.extend(given.iter().filter(|(_, v)| !v.is_null()).map(|(k, v)| (k.clone(), v.clone())));
        }
    }

    pub fn thread_id(&self) -> &str {
        self.meta["id"].as_str().unwrap_or_default()
    }

    /// The thread's model: its last turn's (or, in a file rcodex wrote before it wrote upstream's `session_meta`,
    /// the one named there).
    pub fn model_name(&self) -> Option<&str> {
        self.model.as_deref().or(self.meta["model"].as_str()).filter(|m| !m.is_empty())
    }

    /// The items of a turn, in order.
    pub fn turn_items<'a>(&'a self, turn_id: &'a str) -> impl Iterator<Item = &'a PastItem> + 'a {
        self.items.iter().filter(move |item| item.turn_id == turn_id)
    }

    /// A turn as the protocol's turn object, with `view` of its items.
    pub fn turn_json(&self, turn: &PastTurn, view: ItemsView) -> Value {
        let items: Vec<Value> = match view {
            ItemsView::NotLoaded => vec![],
            ItemsView::Full => self.turn_items(&turn.id).map(|i| i.item.clone()).collect(),
            ItemsView::Summary => {
                let user = self.turn_items(&turn.id).find(|i| i.item["type"] == "userMessage");
                let agent = self.turn_items(&turn.id).filter(|i| i.item["type"] == "agentMessage").last();
                user.into_iter().chain(agent).map(|i| i.item.clone()).collect()
            }
        };
        turn_json(
            &turn.id,
            items,
            view.name(),
            turn.status,
            turn.error.clone(),
            turn.started_at,
            turn.completed_at,
            turn.duration_ms,
        )
    }

    /// The turns as the protocol's turn objects, every item included.
    pub fn turns_json(&self) -> Vec<Value> {
        self.turns.iter().map(|t| self.turn_json(t, ItemsView::Full)).collect()
    }

    /// The first turn with an answer: the client has read nothing of the thread yet (rcodex keeps no read marks).
    pub fn first_unread(&self) -> Option<String> {
        self.turns.iter().find(|t| t.answered).map(|t| t.id.clone())
    }
}

/// Milliseconds since the epoch of a record's `timestamp`.
fn record_ms(record: &Value) -> Option<i64> {
    let text = record.get("timestamp")?.as_str()?;
    text.parse::<jiff::Timestamp>().ok().map(|t| t.as_millisecond())
}

/// Reads a session file; `None` when it cannot be read or has no `session_meta`.
pub fn read(path: &Path) -> Option<History> {
    let records = rcodex_core::rollout::records(path).ok()?;
    let mut history = History { path: path.to_path_buf(), ..History::default() };
    let mut meta = None;
    for entry in &records {
        let record = &entry.record;
        let at = record_ms(record);
        let payload = &record["payload"];
        // The turn a record names, or the last one started.
        let turn_index = |history: &History| {
            let named = payload["turn_id"].as_str();
            match named.and_then(|id| history.turns.iter().rposition(|t| t.id == id)) {
                Some(i) => Some(i),
                None if named.is_none() => history.turns.len().checked_sub(1),
                None => None,
            }
        };
        match (record["type"].as_str(), payload["type"].as_str()) {
            // A fork's sources' come first: the thread's own is the last.
            (Some("session_meta"), _) => {
                history.created_at = at.map(|ms| ms / 1000).unwrap_or_default();
                meta = Some(payload.clone());
            }
            (Some("event_msg"), Some("thread_settings_applied")) => {
                history.note_settings(&payload["thread_settings"]);
            }
            (Some("turn_context"), _) => {
                history.note_settings(payload);
                history.model = payload["model"].as_str().map(str::to_string).or(history.model.take());
            }
            (Some("event_msg"), Some("task_started")) => {
                history.turns.push(PastTurn {
                    id: payload["turn_id"].as_str().unwrap_or_default().to_string(),
                    ordinal: entry.ordinal,
                    status: "inProgress",
                    error: Value::Null,
                    started_at: payload["started_at"].as_i64().or(at.map(|ms| ms / 1000)),
                    ..PastTurn::default()
                });
            }
            (Some("event_msg"), Some("item_completed")) => {
                let Some(item) = protocol_item(&payload["item"], payload) else { continue };
                let Some(turn) = turn_index(&history) else { continue };
                history.add_item(
                    turn,
                    entry.ordinal,
                    item,
                    payload["started_at_ms"].as_i64(),
                    payload["completed_at_ms"].as_i64(),
                );
            }
            // What rcodex wrote before it wrote upstream's `item_completed` records.
            (Some("event_msg"), Some("user_message")) => {
                let input: Vec<UserInput> = serde_json::from_value(payload["input"].clone()).unwrap_or_default();
                let at = at.unwrap_or_default();
                let id = payload["id"].as_str().unwrap_or_default();
                let Some(turn) = turn_index(&history) else { continue };
                let item = items::user_message(id, items::user_content(&input), at, Some(at));
                history.add_item(turn, entry.ordinal, item, Some(at), Some(at));
            }
            (Some("event_msg"), Some("agent_message")) => {
                let at = at.unwrap_or_default();
                let (id, text) =
                    (payload["id"].as_str().unwrap_or_default(), payload["message"].as_str().unwrap_or_default());
                let Some(turn) = turn_index(&history) else { continue };
                history.add_item(turn, entry.ordinal, items::agent_message(id, text, at, Some(at)), Some(at), Some(at));
            }
            (Some("event_msg"), Some(kind @ ("task_complete" | "turn_aborted" | "task_failed"))) => {
                if let Some(i) = turn_index(&history) {
                    let turn = &mut history.turns[i];
                    turn.status = match kind {
                        "task_complete" => "completed",
                        "turn_aborted" => "interrupted",
                        _ => "failed",
                    };
                    // Upstream 0.169.0 ends a failed turn with a task_complete holding the error; rcodex before it wrote
                    // task_failed.
                    if let Some(error) = payload.get("error").filter(|e| e.is_object()) {
                        turn.status = "failed";
                        let message = error["message"].as_str().unwrap_or_default();
                        turn.error =
                            crate::items::turn_error(message, error.get("codex_error_info").filter(|i| !i.is_null()));
                    } else if kind == "task_failed" {
                        turn.error = crate::items::turn_error(payload["message"].as_str().unwrap_or_default(), None);
                    }
                    turn.completed_at = payload["completed_at"].as_i64().or(at.map(|ms| ms / 1000));
                    turn.duration_ms = payload["duration_ms"].as_i64();
                }
            }
            (Some("event_msg"), Some("token_count")) => {
                let info = &payload["info"];
                if let Some(turn) = history.turns.last()
                    && info.is_object()
                {
                    let total = info["total_token_usage"].clone();
                    let last = if info["last_token_usage"].is_object() {
                        info["last_token_usage"].clone()
                    } else {
                        total.clone()
                    };
                    history.usage = Some((turn.id.clone(), total, last));
                }
            }
            _ => {}
        }
    }
    history.meta = meta?;
    Some(history)
}

impl History {
    /// Adds an item of the turn at `turn` (an index into the turns).
    fn add_item(&mut self, turn: usize, ordinal: u64, item: Value, started_ms: Option<i64>, completed_ms: Option<i64>) {
        let turn = &mut self.turns[turn];
        match item["type"].as_str() {
            Some("agentMessage") => turn.answered = true,
            Some("userMessage") if self.preview.is_empty() => {
                let texts: Vec<&str> = item["content"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter(|part| part["type"] == "text")
                    .filter_map(|part| part["text"].as_str())
                    .collect();
                self.preview = texts.join("\n");
            }
            _ => {}
        }
        let turn_id = turn.id.clone();
        self.items.push(PastItem { ordinal, turn_id, item, started_ms, completed_ms });
    }
}

/// An item of an `item_completed` record (upstream's shape: `UserMessage`, `AgentMessage`, `Reasoning`,
/// `CommandExecution`, `FileChange`, `WebSearch`, `ImageView`, `ContextCompaction`) as the protocol's item.
fn protocol_item(item: &Value, record: &Value) -> Option<Value> {
    let started = record["started_at_ms"].as_i64().unwrap_or_default();
    let completed = record["completed_at_ms"].as_i64();
    let id = item["id"].as_str().unwrap_or_default();
    let text = |key: &str| item[key].as_str().unwrap_or_default();
    let texts = |key: &str| -> Vec<String> {
        item[key].as_array().into_iter().flatten().filter_map(Value::as_str).map(str::to_string).collect()
    };
    Some(match item["type"].as_str()? {
        "UserMessage" => {
            let content: Vec<Value> = item["content"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|part| {
                    let field = |key: &str| part[key].as_str().unwrap_or_default().to_string();
                    let input = match part["type"].as_str()? {
                        "text" => UserInput::Text { text: field("text") },
                        "image" => UserInput::Image { url: field("image_url") },
                        "local_image" => UserInput::LocalImage { path: field("path").into() },
                        "skill" => UserInput::Skill { name: field("name"), path: field("path").into() },
                        _ => return None,
                    };
                    items::user_content(&[input]).pop()
                })
                .collect();
            items::user_message(id, content, started, completed)
        }
        "AgentMessage" => {
            let parts = item["content"].as_array().into_iter().flatten();
            let text: String = parts.filter_map(|part| part["text"].as_str()).collect();
            items::agent_message(id, &text, started, completed)
        }
        "Reasoning" => items::reasoning(id, &texts("summary_text"), &texts("raw_content"), started, completed),
        "CommandExecution" => {
            let command = match &item["command"] {
                Value::Array(words) => {
                    let words: Vec<String> = words.iter().filter_map(Value::as_str).map(str::to_string).collect();
                    rcodex_core::items::join_command(&words)
                }
                other => other.as_str().unwrap_or_default().to_string(),
            };
            let cwd = item["cwd"].as_str().map(|cwd| PathBuf::from(cwd.strip_prefix("file://").unwrap_or(cwd)));
            let status = match text("status") {
                "completed" => Status::Completed,
                "declined" => Status::Declined,
                "in_progress" => Status::InProgress,
                _ => Status::Failed,
            };
            let duration = &item["duration"];
            let duration_ms = duration["secs"]
                .as_u64()
                .map(|secs| secs * 1000 + duration["nanos"].as_u64().unwrap_or_default() / 1_000_000);
            let c = items::Command {
                command: &command,
                cwd: cwd.as_deref(),
                process_id: text("process_id").parse().ok(),
                status,
                // As upstream reads it back: no output is none.
                aggregated_output: item["aggregated_output"].as_str(),
                exit_code: item["exit_code"].as_i64().map(|code| code as i32),
                duration_ms,
            };
            items::command_execution(id, &c, started, completed)
        }
        "FileChange" => {
            let changes: Vec<FileChange> = item["changes"]
                .as_object()
                .into_iter()
                .flatten()
                .map(|(path, change)| FileChange {
                    path: path.clone(),
                    kind: change["type"].as_str().unwrap_or("update").to_string(),
                    move_path: change["move_path"].as_str().map(str::to_string),
                    diff: change["unified_diff"]
                        .as_str()
                        .or(change["content"].as_str())
                        .unwrap_or_default()
                        .to_string(),
                    before: None,
                })
                .collect();
            let status = if text("status") == "completed" { Status::Completed } else { Status::Failed };
            items::file_change(id, &changes, status, started, completed)
        }
        "WebSearch" => items::web_search(id, text("query"), &item["action"], started, completed),
        "ImageView" => json!({"type": "imageView", "id": id,
            "path": text("path").strip_prefix("file://").unwrap_or(text("path")), "startedAtMs": started,
            "completedAtMs": completed}),
        "ContextCompaction" => json!({"type": "contextCompaction", "id": id, "startedAtMs": started,
            "completedAtMs": completed}),
        _ => return None,
    })
}

/// The session file of a thread, by id (`CODEX_HOME/sessions`, or `archived_sessions` when `archived`).
pub fn find(codex_home: &Path, thread_id: &str, archived: bool) -> Option<PathBuf> {
    let suffix = format!("-{thread_id}.jsonl");
    session_files(codex_home, archived)
        .into_iter()
        .find(|p| p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.ends_with(&suffix)))
}

/// Every session file, newest first.
pub fn session_files(codex_home: &Path, archived: bool) -> Vec<PathBuf> {
    if !archived {
        return rcodex_core::rollout::session_files(codex_home);
    }
    let mut files: Vec<PathBuf> = std::fs::read_dir(codex_home.join("archived_sessions"))
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with("rollout-") && n.ends_with(".jsonl"))
        })
        .collect();
    files.sort_by(|a, b| b.file_name().cmp(&a.file_name()));
    files
}
