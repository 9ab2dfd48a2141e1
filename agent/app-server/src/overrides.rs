//! Settings a `turn/start` may change "for this turn and subsequent turns" (model, effort, cwd, approval policy,
//! sandbox policy, summary, personality, service tier). rcodex keeps a thread's settings from its start: such a
//! change is not applied, and the client is told so with a `warning` rather than left to believe it was.

use rcodex_core::config::Config;
use serde_json::Value;

/// The settings of `params` (a `turn/start`'s) that differ from the thread's and are not applied, by name.
pub fn unapplied(params: &Value, config: &Config) -> Vec<&'static str> {
    let given = |key: &str| params.get(key).filter(|v| !v.is_null());
    let differs = |key: &str, current: Option<&str>| given(key).is_some_and(|v| v.as_str() != current);
    let mut out = Vec::new();
    if differs("model", Some(&config.model)) {
        out.push("model");
    }
    if differs("effort", config.model_reasoning_effort.as_deref()) {
        out.push("effort");
    }
    if differs("summary", config.model_reasoning_summary.as_deref()) {
        out.push("summary");
    }
    if given("cwd").is_some_and(|v| v.as_str().map(std::path::Path::new) != Some(config.cwd.as_path())) {
        out.push("cwd");
    }
    if differs("approvalPolicy", Some(config.approval_policy.as_str())) {
        out.push("approvalPolicy");
    }
    let mode = match config.sandbox_mode.as_str() {
        "read-only" => "readOnly",
        "workspace-write" => "workspaceWrite",
        _ => "dangerFullAccess",
    };
    if given("sandboxPolicy").is_some_and(|p| p.get("type").and_then(Value::as_str) != Some(mode)) {
        out.push("sandboxPolicy");
    }
    for key in ["personality", "serviceTier"] {
        if given(key).is_some() {
            out.push(key);
        }
    }
    out
}

/// The warning's text.
pub fn warning(names: &[&str]) -> String {
    format!(
        "rcodex keeps a thread's settings from its start: turn/start's {} {} not applied",
        names.join(", "),
        if names.len() == 1 { "is" } else { "are" }
    )
}
