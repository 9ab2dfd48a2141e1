//! What a session writes in its file besides the conversation's items, in the shapes upstream 0.169.0 writes them
//! (read from its session files): the `item_completed` record of each item a frontend shows (the user's and the
//! agent's messages, reasoning, web searches, commands that ran, patches applied, images viewed), token usage per
//! response, and the thread's settings. Field names are upstream's, so that either agent can read the other's files;
//! where rcodex does not know a value upstream writes, the field is left out rather than made up.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};

use crate::client::Usage;
use crate::config::Config;
use crate::events::{Event, Item, ItemDetails, Status, UserInput};

/// Milliseconds since the epoch.
pub fn now_ms() -> i64 {
    jiff::Timestamp::now().as_millisecond()
}

/// An `item_completed` event record.
pub fn item_completed(thread_id: &str, turn_id: &str, item: Value, started_ms: i64, completed_ms: i64) -> Value {
    json!({
        "type": "item_completed",
        "thread_id": thread_id,
        "turn_id": turn_id,
        "item": item,
        "started_at_ms": started_ms,
        "completed_at_ms": completed_ms,
    })
}

/// The user's input as a `UserMessage` item.
pub fn user_message(id: &str, input: &[UserInput]) -> Value {
    let content: Vec<Value> = input
        .iter()
        .map(|part| match part {
            UserInput::Text { text } => json!({"type": "text", "text": text, "text_elements": []}),
            UserInput::Image { url } => json!({"type": "image", "image_url": url}),
            UserInput::LocalImage { path } => json!({"type": "local_image", "path": path}),
            UserInput::Skill { name, path } => json!({"type": "skill", "name": name, "path": path}),
        })
        .collect();
    json!({"type": "UserMessage", "id": id, "content": content})
}

/// The item a model output item is shown as (`AgentMessage`, `Reasoning`, `WebSearch`), if it is shown.
pub fn model_item(item: &Value) -> Option<Value> {
    let id = item.get("id").and_then(Value::as_str).unwrap_or_default();
    let texts = |key: &str| -> Vec<String> {
        item.get(key)
            .and_then(Value::as_array)
            .map(|parts| parts.iter().filter_map(|p| p.get("text")?.as_str().map(str::to_string)).collect())
            .unwrap_or_default()
    };
    match item.get("type").and_then(Value::as_str)? {
        "message" if item.get("role").and_then(Value::as_str) == Some("assistant") => Some(json!({
            "type": "AgentMessage",
            "id": id,
            "content": [{"type": "Text", "text": crate::items::text_of(item)}],
        })),
        "reasoning" => Some(json!({
            "type": "Reasoning",
            "id": id,
            "summary_text": texts("summary"),
            "raw_content": texts("content"),
        })),
        "web_search_call" => {
            let ItemDetails::WebSearch { id, query, action } = crate::events::web_search(item) else { return None };
            Some(json!({"type": "WebSearch", "id": id, "query": query, "action": action}))
        }
        _ => None,
    }
}

/// The item of a tool's completed event, if upstream records one: a command that ran (not one declined or refused
/// before it started), a patch that was applied.
pub fn tool_item(item: &Item) -> Option<Value> {
    let id = item.source_id.as_deref().unwrap_or(&item.id);
    match &item.details {
        ItemDetails::CommandExecution { command, aggregated_output, exit_code, status, run } => {
            let process_id = run.process_id?;
            let status = match status {
                Status::Completed => "completed",
                Status::Failed => "failed",
                _ => return None,
            };
            let argv = crate::items::split_command(command);
            // The script a shell runs, as upstream names a command it does not parse further.
            let script = match argv.as_slice() {
                [_, flag, script] if flag == "-lc" || flag == "-c" => script.clone(),
                _ => command.clone(),
            };
            let duration = run.duration_ms.unwrap_or(0);
            Some(json!({
                "type": "CommandExecution",
                "id": id,
                "process_id": process_id.to_string(),
                "command": argv,
                "cwd": run.cwd.as_deref().map(file_url),
                "parsed_cmd": [{"type": "unknown", "cmd": script}],
                "source": "unified_exec_startup",
                "status": status,
                "aggregated_output": aggregated_output,
                "exit_code": exit_code,
                "duration": {"secs": duration / 1000, "nanos": (duration % 1000) * 1_000_000},
            }))
        }
        ItemDetails::FileChange { changes, status: Status::Completed } => {
            let changes: serde_json::Map<String, Value> = changes
                .iter()
                .map(|change| {
                    let kind = match change.kind.as_str() {
                        "update" => {
                            json!({"type": "update", "unified_diff": change.diff, "move_path": change.move_path})
                        }
                        kind => json!({"type": kind, "content": change.diff}),
                    };
                    (change.path.clone(), kind)
                })
                .collect();
            Some(json!({"type": "FileChange", "id": id, "changes": changes, "status": "completed"}))
        }
        _ => None,
    }
}

/// An image the model viewed (`view_image`).
pub fn image_view(call_id: &str, path: &Path) -> Value {
    json!({"type": "ImageView", "id": call_id, "path": file_url(path)})
}

/// A path as a `file://` URL, as upstream writes a command's working directory.
pub fn file_url(path: &Path) -> String {
    format!("file://{}", path.display())
}

/// Usage as upstream saves it.
pub fn usage(usage: &Usage) -> Value {
    json!({
        "input_tokens": usage.input_tokens,
        "cached_input_tokens": usage.cached_input_tokens,
        "cache_write_input_tokens": usage.cache_write_input_tokens,
        "output_tokens": usage.output_tokens,
        "reasoning_output_tokens": usage.reasoning_output_tokens,
        "total_tokens": usage.total_tokens,
    })
}

/// The `token_count` event after a response: the thread's usage and the last response's (`null` before the first
/// response that completed), and rate limits as a server without a ChatGPT login gives them (none).
pub fn token_count(total: &Usage, last: &Usage, context_window: Option<u64>) -> Value {
    let info = (*total != Usage::default()).then(|| {
        json!({
            "total_token_usage": usage(total),
            "last_token_usage": usage(last),
            "last_usage_includes_reasoning": false,
            "model_context_window": context_window,
        })
    });
    json!({
        "type": "token_count",
        "info": info,
        "rate_limits": {"limit_id": "codex", "limit_name": null, "primary": null, "secondary": null, "credits": null,
            "individual_limit": null, "spend_control_reached": null, "plan_type": null, "rate_limit_reached_type": null},
    })
}

/// The thread's settings, as `thread_settings_applied` records them when they are set: a new thread's first turn, a
/// thread resumed by `exec resume`, a fork.
pub fn thread_settings_applied(thread_id: &str, config: &Config, model: &str) -> Value {
    json!({
        "type": "thread_settings_applied",
        "thread_id": thread_id,
        "thread_settings": {
            "model": model,
            "model_provider_id": config.model_provider_id,
            "approval_policy": config.approval_policy.as_str(),
            "approvals_reviewer": "user",
            "cwd": config.cwd,
            "runtime_workspace_roots": config.workspace_roots(),
            "sandbox_policy": {"type": config.sandbox_mode.as_str()},
            "collaboration_mode": {"mode": "default", "settings": {"model": model,
                "reasoning_effort": config.model_reasoning_effort, "developer_instructions": null}},
        },
    })
}

/// The world the model's context described, as the first turn's `world_state` records it whole: what rcodex knows
/// of upstream's fields (the environment, the `<filesystem>` block and the skills section as the context gave them,
/// the model). Upstream also records digests of texts rcodex does not have; a client resuming the thread compares
/// the world with this and says again what it finds missing.
pub fn world_state(environment: &crate::context::Environment, model: &str, context: &[Value]) -> Value {
    let texts: Vec<&str> = context
        .iter()
        .flat_map(|item| item.get("content").and_then(Value::as_array).into_iter().flatten())
        .filter_map(|part| part.get("text").and_then(Value::as_str))
        .collect();
    let between = |open: &str, close: &str, inclusive: bool| {
        texts.iter().find_map(|text| {
            let start = text.find(open)?;
            let end = text[start..].find(close)? + start;
            Some(if inclusive { &text[start..end + close.len()] } else { &text[start + open.len()..end] })
        })
    };
    let mut environments = json!({
        "environments": {"local": {"cwd": environment.cwd, "status": "available", "shell": environment.shell}},
        "current_date": environment.current_date,
        "timezone": environment.timezone,
    });
    if let Some(filesystem) = between("<filesystem>", "</filesystem>", true) {
        environments["filesystem"] = json!(filesystem);
    }
    let mut state = json!({
        "collaboration_mode": {"mode": "default", "model": model},
        "environments": environments,
        "model": model,
    });
    if let Some(skills) = between("<skills_instructions>", "</skills_instructions>", false) {
        state["host_skills"] = json!({"body": skills, "includeInstructions": true});
    }
    json!({"full": true, "state": state})
}

/// The items the tools completed while a response's calls ran, kept for the session file: upstream records each
/// beside the output of its call.
#[derive(Clone, Default)]
pub struct ToolItems {
    inner: Arc<Mutex<ToolItemsInner>>,
}

#[derive(Default)]
struct ToolItemsInner {
    started_ms: HashMap<String, i64>,
    /// Completed: the call id and the record's item, with when it started and ended.
    completed: Vec<(String, Value, i64, i64)>,
}

impl ToolItems {
    /// Takes note of a tool's event (see [`crate::events::EventSink::tapped`]).
    pub fn observe(&self, event: &Event) {
        let mut inner = self.inner.lock().expect("tool items");
        match event {
            Event::ItemStarted { item } => {
                let id = item.source_id.clone().unwrap_or_else(|| item.id.clone());
                inner.started_ms.entry(id).or_insert_with(now_ms);
            }
            Event::ItemCompleted { item } => {
                let id = item.source_id.clone().unwrap_or_else(|| item.id.clone());
                let now = now_ms();
                let started = inner.started_ms.remove(&id).unwrap_or(now);
                if let Some(record) = tool_item(item) {
                    inner.completed.push((id, record, started, now));
                }
            }
            _ => {}
        }
    }

    /// The items completed so far: `(call id, item, started ms, completed ms)`, in the order they completed.
    pub fn take(&self) -> Vec<(String, Value, i64, i64)> {
        std::mem::take(&mut self.inner.lock().expect("tool items").completed)
    }
}
