//! Approvals and user input between a thread's tools and the client. A tool's request
//! ([`Event::ApprovalRequested`](rcodex_core::events::Event::ApprovalRequested),
//! [`Event::UserInputRequested`](rcodex_core::events::Event::UserInputRequested)) becomes the server request upstream
//! sends (`item/commandExecution/requestApproval`, `item/fileChange/requestApproval`, `item/tool/requestUserInput`,
//! with upstream's params); the client's answer goes back to the thread as `Op::Resolve`.
//!
//! Around it, as upstream 0.169.0 was recorded doing (app-approvals, app-patch-approval, app-request-user-input):
//! the thread's status shows `waitingOnApproval` or `waitingOnUserInput` from before the request until the answer;
//! a command waiting for approval is shown as a `commandExecution` item of source `agent` (no process yet) between
//! that status and the request; once the client answers, `serverRequest/resolved`, then the status without the flag,
//! then whatever the decision leads to.

use std::path::Path;
use std::sync::{Arc, Mutex};

use rcodex_core::interaction::{Answer, ApprovalDecision, ApprovalKind, UserInputAnswers, UserInputQuestion};
use rcodex_core::thread::ThreadHandle;
use serde_json::{Value, json};
use tokio::sync::mpsc;

use crate::items;
use crate::notify::ThreadEvents;
use crate::server_requests::{ClientAnswer, PendingRequest};

/// A request sent to the client for the thread's `request_id`.
pub struct Asked {
    pub request_id: String,
    pub expects: Expects,
    pub pending: PendingRequest,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expects {
    Approval,
    UserInput,
}

/// `item/commandExecution/requestApproval`'s params, keys in upstream's order.
pub fn command_params(thread_id: &str, turn_id: &str, item_id: &str, started_ms: i64, kind: &ApprovalKind) -> Value {
    let ApprovalKind::Command { command, cwd, reason, proposed_execpolicy_amendment, available_decisions, .. } = kind
    else {
        return Value::Null;
    };
    let mut params = json!({
        "kind": "command",
        "threadId": thread_id,
        "turnId": turn_id,
        "itemId": item_id,
        "startedAtMs": started_ms,
        "environmentId": "local",
        "reason": reason,
        "command": command,
        "cwd": cwd,
        "commandActions": items::command_actions(command, Some(cwd)),
        "proposedExecpolicyAmendment": proposed_execpolicy_amendment,
        "availableDecisions": available_decisions,
    });
    // Upstream leaves `reason` out when there is none (untrusted asks of every command without one), and the
    // proposed rule when it proposes none (a command a rule of the exec policy sends for approval: app-exec-policy).
    if reason.is_none() {
        params.as_object_mut().expect("an object").shift_remove("reason");
    }
    if proposed_execpolicy_amendment.is_none() {
        params.as_object_mut().expect("an object").shift_remove("proposedExecpolicyAmendment");
    }
    params
}

/// `item/fileChange/requestApproval`'s params.
pub fn file_change_params(
    thread_id: &str,
    turn_id: &str,
    item_id: &str,
    started_ms: i64,
    kind: &ApprovalKind,
) -> Value {
    let ApprovalKind::Patch { reason, grant_root, .. } = kind else { return Value::Null };
    json!({
        "threadId": thread_id,
        "turnId": turn_id,
        "itemId": item_id,
        "startedAtMs": started_ms,
        "reason": reason,
        "grantRoot": grant_root,
    })
}

/// `mcpServer/elicitation/request`'s params for an MCP tool's approval: an empty form whose `_meta` describes the
/// call, as upstream 0.169.0 asks (app-mcp-approval).
pub fn mcp_tool_params(thread_id: &str, turn_id: &str, kind: &ApprovalKind) -> Value {
    let ApprovalKind::McpTool { server, tool, description, annotations, arguments } = kind else { return Value::Null };
    let display: Vec<Value> = arguments
        .as_object()
        .into_iter()
        .flatten()
        .map(|(name, value)| json!({"name": name, "value": value, "display_name": name}))
        .collect();
    let mut meta = json!({
        "codex_approval_kind": "mcp_tool_call",
        "persist": ["session", "always"],
        "tool_name": tool,
        "tool_annotations": annotations,
        "tool_description": description,
        "tool_params": arguments,
        "tool_params_display": display,
    });
    let fields = meta.as_object_mut().expect("an object");
    if annotations.is_none() {
        fields.shift_remove("tool_annotations");
    }
    if description.is_none() {
        fields.shift_remove("tool_description");
    }
    json!({
        "threadId": thread_id,
        "turnId": turn_id,
        "serverName": server,
        "mode": "form",
        "_meta": meta,
        "message": format!("Allow the {server} MCP server to run tool \"{tool}\"?"),
        "requestedSchema": {"type": "object", "properties": {}},
    })
}

/// `item/tool/requestUserInput`'s params: Default mode's questions do not block.
pub fn user_input_params(thread_id: &str, turn_id: &str, item_id: &str, questions: &[UserInputQuestion]) -> Value {
    json!({
        "threadId": thread_id,
        "turnId": turn_id,
        "itemId": item_id,
        "questions": questions,
        "isBlocking": false,
        "autoResolutionMs": null,
    })
}

/// The command item shown while its approval is asked: no process yet, so of source `agent`.
pub fn waiting_command(item_id: &str, kind: &ApprovalKind, started_ms: i64) -> Option<Value> {
    let ApprovalKind::Command { command, cwd, .. } = kind else { return None };
    let command = items::Command {
        command,
        cwd: Some(cwd),
        process_id: None,
        status: rcodex_core::events::Status::InProgress,
        aggregated_output: None,
        exit_code: None,
        duration_ms: None,
    };
    Some(items::command_execution(item_id, &command, started_ms, None))
}

/// The decision a client's answer gives: its `decision`, or an elicitation's `action` (`accept`, `decline`,
/// `cancel`); an answer that is not one declines; a client gone cancels (the turn ends).
fn decision(answer: ClientAnswer) -> ApprovalDecision {
    match answer {
        ClientAnswer::Result(result) => {
            let decision = result.get("decision").or_else(|| result.get("action")).cloned().unwrap_or(Value::Null);
            serde_json::from_value(decision).unwrap_or(ApprovalDecision::Decline)
        }
        ClientAnswer::Error(_) => ApprovalDecision::Decline,
        ClientAnswer::Gone => ApprovalDecision::Cancel,
    }
}

/// The answers a client's answer gives (none when it gave none it could read).
fn answers(answer: ClientAnswer) -> UserInputAnswers {
    match answer {
        ClientAnswer::Result(result) => serde_json::from_value(result).unwrap_or_default(),
        ClientAnswer::Error(_) | ClientAnswer::Gone => UserInputAnswers::default(),
    }
}

/// Hands the client's answers to the thread's waiting tools; returns where the thread's requests go. The task ends
/// with the thread's events (which hold the returned sender): it keeps them only weakly.
pub fn spawn_resolver(handle: ThreadHandle, events: &Arc<Mutex<ThreadEvents>>) -> mpsc::UnboundedSender<Asked> {
    let (asked, mut requests) = mpsc::unbounded_channel::<Asked>();
    let events = Arc::downgrade(events);
    tokio::spawn(async move {
        while let Some(Asked { request_id, expects, pending }) = requests.recv().await {
            let (handle, events) = (handle.clone(), events.clone());
            tokio::spawn(async move {
                let answer = pending.answer().await;
                if let Some(events) = events.upgrade() {
                    events.lock().expect("thread events").request_settled();
                }
                let answer = match expects {
                    Expects::Approval => Answer::Approval(decision(answer)),
                    Expects::UserInput => Answer::UserInput(answers(answer)),
                };
                // A request whose turn ended meanwhile is gone: the answer goes nowhere.
                let _ = handle.resolve(&request_id, answer).await;
            });
        }
    });
    asked
}

/// Whether `features.<name>` is on for the server's threads: `CODEX_HOME/config.toml`'s `[features]`, then the
/// server's `-c features.<name>=...` overrides and `--enable` flags.
pub fn feature_enabled(codex_home: &Path, overrides: &[String], enabled: &[String], name: &str) -> bool {
    let from_file = std::fs::read_to_string(codex_home.join("config.toml"))
        .ok()
        .and_then(|text| text.parse::<toml::Table>().ok())
        .and_then(|table| table.get("features")?.get(name)?.as_bool());
    let key = format!("features.{name}");
    let from_overrides = overrides.iter().rev().find_map(|entry| {
        let (k, v) = entry.split_once('=')?;
        (k.trim() == key).then(|| v.trim() == "true")
    });
    enabled.iter().any(|feature| feature == name) || from_overrides.or(from_file).unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_become_decisions_and_answers() {
        assert_eq!(decision(ClientAnswer::Result(json!({"decision": "accept"}))), ApprovalDecision::Accept);
        assert_eq!(
            decision(ClientAnswer::Result(
                json!({"decision": {"acceptWithExecpolicyAmendment": {"execpolicy_amendment": ["echo"]}}})
            )),
            ApprovalDecision::AcceptWithExecpolicyAmendment { execpolicy_amendment: vec!["echo".into()] }
        );
        assert_eq!(decision(ClientAnswer::Result(json!({"decision": "maybe"}))), ApprovalDecision::Decline);
        assert_eq!(decision(ClientAnswer::Gone), ApprovalDecision::Cancel);
        assert_eq!(
            decision(ClientAnswer::Result(json!({"action": "accept", "content": {}}))),
            ApprovalDecision::Accept
        );
        assert_eq!(decision(ClientAnswer::Result(json!({"action": "decline"}))), ApprovalDecision::Decline);
        let given = answers(ClientAnswer::Result(json!({"answers": {"color": {"answers": ["Red"]}}})));
        assert_eq!(given, UserInputAnswers::new([("color", ["Red"])]));
    }

    #[test]
    fn features_come_from_the_file_then_the_overrides() {
        let home = tempfile::tempdir().unwrap();
        let name = "default_mode_request_user_input";
        assert!(!feature_enabled(home.path(), &[], &[], name));
        std::fs::write(home.path().join("config.toml"), format!("[features]\n{name} = true\n")).unwrap();
        assert!(feature_enabled(home.path(), &[], &[], name));
        assert!(!feature_enabled(home.path(), &[format!("features.{name}=false")], &[], name));
        assert!(feature_enabled(home.path(), &[format!("features.{name}=false")], &[name.to_string()], name));
    }
}
