//! Threads read back from their session files: what `thread/list`, `thread/read`, `thread/resume` and `thread/fork`
//! show of a thread's past turns (the user's and the agent's messages, with the ids they had when they happened).

use std::path::{Path, PathBuf};

use rcodex_core::events::UserInput;
use serde_json::Value;

use crate::items;
use crate::notify::turn_json;

/// A session file, read.
#[derive(Debug, Clone, Default)]
pub struct History {
    pub path: PathBuf,
    /// The `session_meta` record's payload.
    pub meta: Value,
    pub turns: Vec<PastTurn>,
    /// The text of the first user message.
    pub preview: String,
    /// Seconds since the epoch, from the first record.
    pub created_at: i64,
    /// The thread's usage as last saved, the last response's, and the turn it was saved in.
    pub usage: Option<(String, Value, Value)>,
}

#[derive(Debug, Clone, Default)]
pub struct PastTurn {
    pub id: String,
    pub items: Vec<Value>,
    pub status: &'static str,
    pub error: Value,
    pub started_at: Option<i64>,
    pub completed_at: Option<i64>,
    pub duration_ms: Option<i64>,
    /// An agent message was given.
    pub answered: bool,
}

impl History {
    pub fn thread_id(&self) -> &str {
        self.meta["id"].as_str().unwrap_or_default()
    }

    /// The turns as the protocol's turn objects, items included.
    pub fn turns_json(&self) -> Vec<Value> {
        self.turns
            .iter()
            .map(|t| {
                turn_json(
                    &t.id,
                    t.items.clone(),
                    "full",
                    t.status,
                    t.error.clone(),
                    t.started_at,
                    t.completed_at,
                    t.duration_ms,
                )
            })
            .collect()
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
    let text = std::fs::read(path).ok()?;
    let mut history = History { path: path.to_path_buf(), ..History::default() };
    let mut meta = None;
    for line in text.split(|b| *b == b'\n') {
        let Ok(record) = serde_json::from_slice::<Value>(line) else { continue };
        let at = record_ms(&record);
        let payload = &record["payload"];
        match (record["type"].as_str(), payload["type"].as_str()) {
            (Some("session_meta"), _) => {
                history.created_at = at.map(|ms| ms / 1000).unwrap_or_default();
                meta = Some(payload.clone());
            }
            (Some("event_msg"), Some("task_started")) => {
                history.turns.push(PastTurn {
                    id: payload["turn_id"].as_str().unwrap_or_default().to_string(),
                    status: "inProgress",
                    error: Value::Null,
                    started_at: payload["started_at"].as_i64().or(at.map(|ms| ms / 1000)),
                    ..PastTurn::default()
                });
            }
            (Some("event_msg"), Some("user_message")) => {
                let input: Vec<UserInput> = serde_json::from_value(payload["input"].clone()).unwrap_or_default();
                if history.preview.is_empty() {
                    history.preview = input
                        .iter()
                        .filter_map(|i| match i {
                            UserInput::Text { text } => Some(text.as_str()),
                            _ => None,
                        })
                        .collect::<Vec<_>>()
                        .join("\n");
                }
                let at = at.unwrap_or_default();
                let id = payload["id"].as_str().unwrap_or_default();
                if let Some(turn) = history.turns.last_mut() {
                    turn.items.push(items::user_message(id, items::user_content(&input), at, Some(at)));
                }
            }
            (Some("event_msg"), Some("agent_message")) => {
                let at = at.unwrap_or_default();
                let (id, text) =
                    (payload["id"].as_str().unwrap_or_default(), payload["message"].as_str().unwrap_or_default());
                if let Some(turn) = history.turns.last_mut() {
                    turn.items.push(items::agent_message(id, text, at, Some(at)));
                    turn.answered = true;
                }
            }
            (Some("event_msg"), Some(kind @ ("task_complete" | "turn_aborted" | "task_failed"))) => {
                if let Some(turn) = history.turns.last_mut() {
                    turn.status = match kind {
                        "task_complete" => "completed",
                        "turn_aborted" => "interrupted",
                        _ => "failed",
                    };
                    if kind == "task_failed" {
                        turn.error = serde_json::json!({"message": payload["message"], "codexErrorInfo": null,
                            "additionalDetails": null});
                    }
                    turn.completed_at = payload["completed_at"].as_i64().or(at.map(|ms| ms / 1000));
                    turn.duration_ms = payload["duration_ms"].as_i64();
                }
            }
            (Some("event_msg"), Some("token_count")) => {
                let info = &payload["info"];
                if let Some(turn) = history.turns.last() {
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
