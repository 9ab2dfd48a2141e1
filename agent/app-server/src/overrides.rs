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
    let approval_policy = given("approvalPolicy").map(approval_policy).transpose()?;
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

/// A request's `approvalPolicy`, as the protocol of upstream 0.169.0 takes it: `untrusted`, `on-request`, `never`
/// (or `granular`, which rcodex does not have). `on-failure`, which a config.toml may still say, is not among them
/// (app-permissions-read-only-on-failure): upstream refuses it in words of its own, which rcodex repeats.
pub fn approval_policy(policy: &Value) -> Result<ApprovalPolicy, RpcError> {
    const KNOWN: &str = "expected one of `untrusted`, `on-request`, `granular`, `never`";
    match policy.as_str() {
        Some(name @ ("untrusted" | "on-request" | "never")) => {
            Ok(serde_json::from_value(Value::from(name)).expect("a policy rcodex has"))
        }
        Some(name @ "granular") => {
            Err(RpcError::invalid(format!("Invalid request: approval policy `{name}` is not supported by rcodex")))
        }
        Some(name) => Err(RpcError::invalid(format!("Invalid request: unknown variant `{name}`, {KNOWN}"))),
        None if policy.get("granular").is_some() => Err(RpcError::invalid(String::from(
            "Invalid request: approval policy `granular` is not supported by rcodex",
        ))),
        None => Err(RpcError::invalid(format!("Invalid request: approval policy {policy} is not a string, {KNOWN}"))),
    }
}
