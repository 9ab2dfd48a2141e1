//! Settings a `turn/start` may change "for this turn and subsequent turns": the model, its reasoning effort and
//! summary, the working directory, the approval and sandbox policies. rcodex's thread takes them
//! ([`TurnOverrides`]) as upstream does: the turn runs with them, the next ones keep them, and `thread/resume` answers
//! them. What rcodex cannot take (a service tier, a read-only sandbox with network access, an external sandbox) is
//! not applied, and a `warning` says so rather than leave the client to believe it was. `personality` is taken and
//! changes nothing (the protocol says it no longer selects a style; upstream was seen sending nothing for it), as is
//! `approvalsReviewer` (`thread/start` takes it the same way).

use std::path::PathBuf;

use rcodex_core::config::{ApprovalPolicy, SandboxMode, TurnOverrides, WorkspaceWriteOptions};
use serde_json::Value;

use crate::rpc::RpcError;

/// The settings of `params` (a `turn/start`'s), and the names of those rcodex does not apply.
pub fn parse(params: &Value) -> Result<(TurnOverrides, Vec<&'static str>), RpcError> {
    let given = |key: &str| params.get(key).filter(|v| !v.is_null());
    let text = |key: &str| given(key).and_then(Value::as_str).map(str::to_string);
    let mut unapplied = Vec::new();
    let approval_policy = match given("approvalPolicy") {
        None => None,
        Some(policy) => Some(serde_json::from_value::<ApprovalPolicy>(policy.clone()).map_err(|_| {
            RpcError::invalid(format!(
                "Invalid request: unsupported approval policy {policy} (rcodex takes untrusted, on-failure, on-request, never)"
            ))
        })?),
    };
    let flag = |policy: &Value, key: &str| policy.get(key).and_then(Value::as_bool).unwrap_or(false);
    let sandbox = match given("sandboxPolicy") {
        None => None,
        Some(policy) => match policy.get("type").and_then(Value::as_str) {
            Some("dangerFullAccess") => Some((SandboxMode::DangerFullAccess, None)),
            Some("readOnly") => {
                if flag(policy, "networkAccess") {
                    unapplied.push("sandboxPolicy.networkAccess (rcodex's read-only sandbox has no network)");
                }
                Some((SandboxMode::ReadOnly, None))
            }
            Some("workspaceWrite") => {
                let roots = policy.get("writableRoots").and_then(Value::as_array).into_iter().flatten();
                let options = WorkspaceWriteOptions {
                    writable_roots: roots.filter_map(Value::as_str).map(PathBuf::from).collect(),
                    network_access: flag(policy, "networkAccess"),
                    exclude_tmpdir_env_var: flag(policy, "excludeTmpdirEnvVar"),
                    exclude_slash_tmp: flag(policy, "excludeSlashTmp"),
                };
                Some((SandboxMode::WorkspaceWrite, Some(options)))
            }
            _ => {
                unapplied.push("sandboxPolicy");
                None
            }
        },
    };
    if given("serviceTier").is_some() {
        unapplied.push("serviceTier");
    }
    let cwd = text("cwd").map(|cwd| std::env::current_dir().map(|d| d.join(&cwd)).unwrap_or_else(|_| cwd.into()));
    let overrides = TurnOverrides {
        cwd,
        model: text("model"),
        effort: text("effort"),
        summary: text("summary"),
        approval_policy,
        sandbox,
    };
    Ok((overrides, unapplied))
}

/// The warning's text.
pub fn warning(names: &[&str]) -> String {
    format!("rcodex does not apply turn/start's {}", names.join(", "))
}
