//! Hooks of `CODEX_HOME/hooks.json` (upstream 0.169.0's format): command hooks of the `SessionStart` and
//! `UserPromptSubmit` events, whose `hookSpecificOutput.additionalContext` reaches the model as a developer message
//! (after the context for the first, after the prompt for the second), as upstream sends it.

use std::path::Path;
use std::time::Duration;

use serde_json::{Value, json};

/// Upstream's warning for `--dangerously-bypass-hook-trust`, from the prompt pack.
pub fn bypass_warning() -> Option<&'static str> {
    rcodex_prompt_pack::embedded().text(rcodex_prompt_pack::keys::BYPASS_HOOK_TRUST_WARNING)
}

/// A hook command runs at most this long (upstream's default timeout is longer; none of rcodex's hooks is told apart).
const TIMEOUT: Duration = Duration::from_secs(600);

/// The `additionalContext` each command hook of `event` gave, in order. A hook that fails, or prints no JSON with
/// that field, gives nothing.
pub fn additional_context(codex_home: &Path, event: &str, input: Value, cwd: &Path) -> Vec<String> {
    let Ok(text) = std::fs::read_to_string(codex_home.join("hooks.json")) else { return Vec::new() };
    let Ok(config) = serde_json::from_str::<Value>(&text) else { return Vec::new() };
    let groups = config.pointer(&format!("/hooks/{event}")).and_then(Value::as_array).cloned().unwrap_or_default();
    let mut input = input;
    input["hook_event_name"] = json!(event);
    input["cwd"] = json!(cwd.display().to_string());
    let mut out = Vec::new();
    for hook in groups.iter().flat_map(|g| g.get("hooks").and_then(Value::as_array).cloned().unwrap_or_default()) {
        if hook.get("type").and_then(Value::as_str) != Some("command") {
            continue;
        }
        let Some(command) = hook.get("command").and_then(Value::as_str) else { continue };
        if let Some(context) = run(command, &input, cwd) {
            out.push(context);
        }
    }
    out
}

fn run(command: &str, input: &Value, cwd: &Path) -> Option<String> {
    use std::io::Write;
    let mut child = std::process::Command::new("sh")
        .args(["-c", command])
        .current_dir(cwd)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .ok()?;
    if let Some(mut stdin) = child.stdin.take() {
        let _ = stdin.write_all(input.to_string().as_bytes());
    }
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    let output = rx.recv_timeout(TIMEOUT).ok()?.ok()?;
    if !output.status.success() {
        return None;
    }
    let value: Value = serde_json::from_slice(&output.stdout).ok()?;
    let context = value.pointer("/hookSpecificOutput/additionalContext")?.as_str()?;
    (!context.is_empty()).then(|| context.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_command_hook_s_additional_context_is_collected_for_its_event() {
        let home = tempfile::tempdir().unwrap();
        let hooks = json!({"hooks": {
            "SessionStart": [{"hooks": [{"type": "command", "command":
                "read input; echo '{\"hookSpecificOutput\": {\"hookEventName\": \"SessionStart\", \"additionalContext\": \"from the hook\"}}'"}]}],
            "UserPromptSubmit": [{"hooks": [{"type": "command", "command": "exit 1"}, {"type": "command", "command": "echo plain"}]}]
        }});
        std::fs::write(home.path().join("hooks.json"), hooks.to_string()).unwrap();
        let cwd = home.path();
        assert_eq!(additional_context(home.path(), "SessionStart", json!({}), cwd), ["from the hook"]);
        assert!(additional_context(home.path(), "UserPromptSubmit", json!({}), cwd).is_empty(), "no JSON, nothing");
        assert!(additional_context(home.path(), "Stop", json!({}), cwd).is_empty());
    }
}
