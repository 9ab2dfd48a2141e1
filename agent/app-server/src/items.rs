//! Thread items in the app-server protocol's shapes (`userMessage`, `agentMessage`, `reasoning`,
//! `commandExecution`, `fileChange`, `webSearch`, `collabAgentToolCall`, `mcpToolCall`), with their keys in upstream's
//! order.

use std::path::Path;

use rcodex_core::events::{FileChange, ItemDetails, Status, UserInput};
use serde_json::{Value, json};

/// A user's input as the protocol's `UserInput` list.
pub fn user_content(input: &[UserInput]) -> Vec<Value> {
    input
        .iter()
        .map(|part| match part {
            UserInput::Text { text } => json!({"type": "text", "text": text, "text_elements": []}),
            UserInput::Image { url } => json!({"type": "image", "url": url}),
            UserInput::LocalImage { path } => json!({"type": "localImage", "path": path}),
            UserInput::Skill { name, path } => json!({"type": "skill", "name": name, "path": path}),
        })
        .collect()
}

/// A user message a turn is announced with before it runs (a review's, in the answer to `review/start`): no times.
pub fn user_message_pending(id: &str, content: Value) -> Value {
    json!({"type": "userMessage", "id": id, "clientId": null, "content": content, "startedAtMs": null,
        "completedAtMs": null})
}

pub fn user_message(id: &str, content: Vec<Value>, started_ms: i64, completed_ms: Option<i64>) -> Value {
    json!({
        "type": "userMessage",
        "id": id,
        "clientId": null,
        "content": content,
        "startedAtMs": started_ms,
        "completedAtMs": completed_ms,
    })
}

/// `enteredReviewMode` or `exitedReviewMode` (`kind`): a review begins, naming what it looks at, or ends, with its
/// findings.
pub fn review_mode(kind: &str, id: &str, review: &str, started_ms: i64, completed_ms: Option<i64>) -> Value {
    json!({"type": kind, "id": id, "review": review, "startedAtMs": started_ms, "completedAtMs": completed_ms})
}

pub fn agent_message(id: &str, text: &str, started_ms: i64, completed_ms: Option<i64>) -> Value {
    json!({
        "type": "agentMessage",
        "moderation": null,
        "id": id,
        "text": text,
        "phase": null,
        "memoryCitation": null,
        "delivery": null,
        "questions": null,
        "startedAtMs": started_ms,
        "completedAtMs": completed_ms,
    })
}

/// An `agentMessage` with the `phase` the model gave its message (`commentary`, `final_answer`).
pub fn with_phase(mut message: Value, phase: Option<&str>) -> Value {
    if let Some(phase) = phase {
        message["phase"] = Value::String(phase.to_string());
    }
    message
}

pub fn reasoning(
    id: &str,
    summary: &[String],
    content: &[String],
    started_ms: i64,
    completed_ms: Option<i64>,
) -> Value {
    json!({
        "type": "reasoning",
        "id": id,
        "summary": summary,
        "content": content,
        "startedAtMs": started_ms,
        "completedAtMs": completed_ms,
    })
}

pub fn status(status: Status) -> &'static str {
    match status {
        Status::InProgress => "inProgress",
        Status::Completed => "completed",
        Status::Failed => "failed",
        Status::Declined => "declined",
    }
}

/// What a command item says, beyond its id and times.
pub struct Command<'a> {
    pub command: &'a str,
    pub cwd: Option<&'a Path>,
    pub process_id: Option<i32>,
    pub status: Status,
    pub aggregated_output: Option<&'a str>,
    pub exit_code: Option<i32>,
    pub duration_ms: Option<u64>,
}

pub fn command_execution(id: &str, c: &Command, started_ms: i64, completed_ms: Option<i64>) -> Value {
    let cwd = c.cwd.map(|p| p.display().to_string());
    json!({
        "type": "commandExecution",
        "id": id,
        "pluginId": null,
        "scriptPath": null,
        "command": c.command,
        "cwd": cwd,
        "processId": c.process_id.map(|p| p.to_string()),
        // A command with no process (waiting for approval, or declined) is the agent's; one started is unified exec's.
        "source": if c.process_id.is_some() { "unifiedExecStartup" } else { "agent" },
        "status": status(c.status),
        "commandActions": command_actions(c.command, c.cwd),
        // Upstream says null for a command that printed nothing (app-approvals-untrusted's `touch`).
        "aggregatedOutput": c.aggregated_output.filter(|output| !output.is_empty()),
        "exitCode": c.exit_code,
        "durationMs": c.duration_ms,
        "startedAtMs": started_ms,
        "completedAtMs": completed_ms,
    })
}

pub fn file_change(
    id: &str,
    changes: &[FileChange],
    status: Status,
    started_ms: i64,
    completed_ms: Option<i64>,
) -> Value {
    let changes: Vec<Value> = changes
        .iter()
        .map(|change| {
            let kind = match change.kind.as_str() {
                "update" => json!({"type": "update", "move_path": change.move_path}),
                other => json!({"type": other}),
            };
            json!({"path": change.path, "kind": kind, "diff": change.diff})
        })
        .collect();
    json!({
        "type": "fileChange",
        "id": id,
        "changes": changes,
        "status": self::status(status),
        "startedAtMs": started_ms,
        "completedAtMs": completed_ms,
    })
}

/// A `webSearch` item from exec's `web_search` details (the action in the protocol's camel case).
pub fn web_search(id: &str, query: &str, action: &Value, started_ms: i64, completed_ms: Option<i64>) -> Value {
    let text = |key: &str| action.get(key).cloned().unwrap_or(Value::Null);
    let action = match action.get("type").and_then(Value::as_str) {
        Some("search") => json!({"type": "search", "query": text("query"), "queries": text("queries")}),
        Some("open_page") => json!({"type": "openPage", "url": text("url")}),
        Some("find_in_page") => json!({"type": "findInPage", "url": text("url"), "pattern": text("pattern")}),
        _ => json!({"type": "other"}),
    };
    json!({
        "type": "webSearch",
        "id": id,
        "query": query,
        "action": action,
        "startedAtMs": started_ms,
        "completedAtMs": completed_ms,
    })
}

/// A multi-agent tool call (`collabAgentToolCall`): its tool in camelCase (`spawnAgent`, `wait`...), the children's
/// states with camelCase statuses (`pendingInit`).
pub fn collab_tool_call(id: &str, details: &ItemDetails, started_ms: i64, completed_ms: Option<i64>) -> Value {
    let ItemDetails::CollabToolCall {
        tool,
        sender_thread_id,
        receiver_thread_ids,
        prompt,
        agents_states,
        status,
        model,
        reasoning_effort,
    } = details
    else {
        return Value::Null;
    };
    let states: serde_json::Map<String, Value> = agents_states
        .iter()
        .map(|(id, state)| {
            let status = state["status"].as_str().map(snake_to_camel).unwrap_or_default();
            (id.clone(), json!({"status": status, "message": state["message"]}))
        })
        .collect();
    json!({
        "type": "collabAgentToolCall",
        "id": id,
        "tool": snake_to_camel(tool),
        "status": self::status(*status),
        "senderThreadId": sender_thread_id,
        "receiverThreadIds": receiver_thread_ids,
        "prompt": prompt,
        "model": model,
        "reasoningEffort": reasoning_effort,
        "agentsStates": states,
        "startedAtMs": started_ms,
        "completedAtMs": completed_ms,
    })
}

/// An MCP tool call (`mcpToolCall`): the server's result in the protocol's camelCase (`structuredContent`,
/// `_meta`), or the failure's message.
pub fn mcp_tool_call(id: &str, details: &ItemDetails, started_ms: i64, completed_ms: Option<i64>) -> Value {
    let ItemDetails::McpToolCall { server, tool, arguments, result, error, status, read_only_hint } = details else {
        return Value::Null;
    };
    let result = result.as_ref().map(|result| {
        json!({
            "content": result["content"],
            "structuredContent": result["structured_content"],
            "_meta": null,
        })
    });
    json!({
        "type": "mcpToolCall",
        "id": id,
        "server": server,
        "tool": tool,
        "status": self::status(*status),
        "arguments": arguments,
        "appContext": null,
        "mcpAppUi": null,
        "pluginId": null,
        "readOnlyHint": read_only_hint,
        "result": result,
        "error": error.as_ref().map(|e| json!({"message": e.message})),
        "durationMs": completed_ms.map(|completed| completed - started_ms),
        "startedAtMs": started_ms,
        "completedAtMs": completed_ms,
    })
}

fn snake_to_camel(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut upper = false;
    for c in name.chars() {
        match c {
            '_' => upper = true,
            c if upper => {
                out.extend(c.to_uppercase());
                upper = false;
            }
            c => out.push(c),
        }
    }
    out
}

/// What a command does, as far as its words tell: reading a file, listing files, searching, or something else. A
/// `bash -lc SCRIPT` is judged by its script. A script of simple commands joined by `|`, `&&`, `||` or `;` is
/// summarized as upstream summarizes one (seen on `ls | wc -l`): the formatting helpers of its pipelines (`wc -l`,
/// `head -n 5` without a file...) left out, a leading `echo`, a `cd` followed by more and `true` dropped, each
/// command left judged alone. Anything else (redirections, substitutions, subshells) is one `unknown`.
pub fn command_actions(command: &str, cwd: Option<&Path>) -> Vec<Value> {
    let words = split_words(command).unwrap_or_default();
    let script = match words.as_slice() {
        [shell, flag, script] if is_shell(shell) && (flag == "-c" || flag == "-lc") => script.clone(),
        _ => command.to_string(),
    };
    let unknown = || vec![json!({"type": "unknown", "command": script})];
    let Some(commands) = simple_commands(&script) else { return unknown() };
    if commands.len() == 1 {
        return vec![classify(&script, cwd)];
    }
    let mut commands: Vec<Vec<String>> = commands.into_iter().filter(|words| !is_formatting_helper(words)).collect();
    if commands.is_empty() {
        return unknown();
    }
    while let Some(simpler) = simplify(&commands) {
        commands = simpler;
    }
    let mut actions: Vec<Value> =
        commands.iter().map(|words| classify(&rcodex_core::items::join_command(words), cwd)).collect();
    actions.dedup();
    // As upstream: one command it cannot summarize makes the whole script one unknown action
    // (app-exec-policy-dangerous: `ls && rm -rf err.log`).
    if actions.iter().any(|action| action["type"] == "unknown") {
        return unknown();
    }
    actions
}

/// The simple commands of a script joined by `|`, `&&`, `||` or `;` (each operator a word of its own), or `None` when
/// the script holds anything else a shell would interpret.
fn simple_commands(script: &str) -> Option<Vec<Vec<String>>> {
    let words = split_words(script)?;
    let mut commands = vec![Vec::new()];
    for word in words {
        match word.as_str() {
            "|" | "&&" | "||" | ";" => commands.push(Vec::new()),
            // `cat a; cat b`: the semicolon ends the word.
            _ if word.len() > 1 && word.ends_with(';') && !is_special(&word[..word.len() - 1]) => {
                commands.last_mut().expect("one at least").push(word[..word.len() - 1].to_string());
                commands.push(Vec::new());
            }
            _ if is_special(&word) => return None,
            _ => commands.last_mut().expect("one at least").push(word),
        }
    }
    commands.iter().all(|c| !c.is_empty()).then_some(commands)
}

/// Whether a word holds something a shell would interpret (these words were split as a shell splits them, so quotes
/// are gone: a quoted `|` is refused too, which only makes a summary `unknown`).
fn is_special(word: &str) -> bool {
    word.chars().any(|c| matches!(c, '|' | '&' | ';' | '<' | '>' | '`' | '$' | '(' | ')' | '\n'))
}

/// Upstream's pipeline helpers, which a summary leaves out: counting, sorting and cutting, and `head`, `tail` or
/// `sed` without a file to read.
fn is_formatting_helper(words: &[String]) -> bool {
    match words.first().map(String::as_str) {
        Some("wc" | "tr" | "cut" | "sort" | "uniq" | "xargs" | "tee" | "column" | "awk" | "yes" | "printf") => true,
        Some("head" | "tail") => file_operands(&words[1..], &["-n", "-c", "--lines", "--bytes"]) == 0,
        Some("sed") => words.len() < 4 || words[1] != "-n",
        _ => false,
    }
}

/// How many words are operands, not flags or the values of `valued` flags.
fn file_operands(args: &[String], valued: &[&str]) -> usize {
    let mut operands = 0;
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        if valued.contains(&arg.as_str()) {
            args.next();
        } else if !arg.starts_with('-') {
            operands += 1;
        }
    }
    operands
}

/// One step of upstream's tidying of a sequence: a leading `echo`, a `cd` that more commands follow, a `true`, or an
/// `nl` with flags only, dropped.
fn simplify(commands: &[Vec<String>]) -> Option<Vec<Vec<String>>> {
    if commands.len() <= 1 {
        return None;
    }
    let program = |i: usize| commands[i].first().map(String::as_str);
    let drop = if program(0) == Some("echo") {
        Some(0)
    } else if let Some(i) = (0..commands.len() - 1).find(|&i| program(i) == Some("cd")) {
        Some(i)
    } else if let Some(i) = (0..commands.len()).find(|&i| commands[i] == ["true"]) {
        Some(i)
    } else {
        (0..commands.len()).find(|&i| program(i) == Some("nl") && commands[i][1..].iter().all(|w| w.starts_with('-')))
    }?;
    let mut out = commands.to_vec();
    out.remove(drop);
    Some(out)
}

fn is_shell(program: &str) -> bool {
    matches!(Path::new(program).file_name().and_then(|n| n.to_str()), Some("bash" | "sh" | "zsh" | "dash"))
}

/// A simple command (no operator), by its program.
fn classify(script: &str, cwd: Option<&Path>) -> Value {
    let unknown = || json!({"type": "unknown", "command": script});
    let Some(words) = split_words(script) else { return unknown() };
    let Some((program, args)) = words.split_first() else { return unknown() };
    let operands: Vec<&String> = args.iter().filter(|a| !a.starts_with('-')).collect();
    let absolute = |path: &str| match cwd {
        Some(cwd) => cwd.join(path).display().to_string(),
        None => path.to_string(),
    };
    match program.as_str() {
        "cat" | "head" | "tail" | "less" | "more" | "nl" | "bat" if operands.len() == 1 => {
            let path = operands[0];
            let name = Path::new(path).file_name().and_then(|n| n.to_str()).unwrap_or(path);
            json!({"type": "read", "command": script, "name": name, "path": absolute(path)})
        }
        "ls" | "tree" if operands.len() <= 1 => {
            json!({"type": "listFiles", "command": script, "path": operands.first()})
        }
        "rg" | "grep" | "ag" if !operands.is_empty() && operands.len() <= 2 => {
            json!({"type": "search", "command": script, "query": operands[0], "path": operands.get(1)})
        }
        _ => unknown(),
    }
}

pub use rcodex_core::items::split_words;

/// A turn's error as the protocol carries it (`TurnError`), from its message and the kind core records in snake_case
/// (`codex_error_info`), here in the protocol's camelCase.
pub fn turn_error(message: &str, info: Option<&Value>) -> Value {
    let info = info.map(camel_case_keys).unwrap_or(Value::Null);
    json!({"message": message, "codexErrorInfo": info, "additionalDetails": null, "misalignment": null})
}

fn camel_case_keys(value: &Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(key, v)| {
                    let mut words = key.split('_');
                    let first = words.next().unwrap_or_default().to_string();
                    let rest: String = words
                        .map(|w| {
                            w.chars().take(1).flat_map(char::to_uppercase).chain(w.chars().skip(1)).collect::<String>()
                        })
                        .collect();
                    (first + &rest, camel_case_keys(v))
                })
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(camel_case_keys).collect()),
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_are_classified_by_their_script() {
        let cwd = Path::new("/w");
        assert_eq!(
            command_actions("/bin/bash -lc 'cat notes.txt'", Some(cwd)),
            [json!({"type": "read", "command": "cat notes.txt", "name": "notes.txt", "path": "/w/notes.txt"})]
        );
        assert_eq!(
            command_actions("/bin/bash -lc 'ls -la'", Some(cwd)),
            [json!({"type": "listFiles", "command": "ls -la", "path": null})]
        );
        assert_eq!(
            command_actions("/bin/bash -lc 'rg -n foo src'", Some(cwd)),
            [json!({"type": "search", "command": "rg -n foo src", "query": "foo", "path": "src"})]
        );
        assert_eq!(
            command_actions("/bin/bash -lc 'sh build.sh'", Some(cwd)),
            [json!({"type": "unknown", "command": "sh build.sh"})]
        );
        assert_eq!(
            command_actions("/bin/bash -lc 'cat a > b'", Some(cwd)),
            [json!({"type": "unknown", "command": "cat a > b"})]
        );
    }

    #[test]
    fn a_turn_error_carries_its_kind_in_camel_case() {
        let info = json!({"response_too_many_failed_attempts": {"http_status_code": 429}});
        assert_eq!(
            turn_error("exceeded", Some(&info)),
            json!({"message": "exceeded", "codexErrorInfo": {"responseTooManyFailedAttempts": {"httpStatusCode": 429}},
                "additionalDetails": null, "misalignment": null})
        );
        assert_eq!(turn_error("other", None)["codexErrorInfo"], Value::Null);
    }

    #[test]
    fn pipelines_and_sequences_are_summarized_without_their_helpers() {
        let cwd = Path::new("/w");
        // As upstream 0.169.0 reported it (app-compact-auto).
        assert_eq!(
            command_actions("/bin/bash -lc 'ls | wc -l'", Some(cwd)),
            [json!({"type": "listFiles", "command": "ls", "path": null})]
        );
        assert_eq!(
            command_actions("/bin/bash -lc 'cd src && rg -n foo | head -n 5'", Some(cwd)),
            [json!({"type": "search", "command": "rg -n foo", "query": "foo", "path": null})]
        );
        assert_eq!(
            command_actions("/bin/bash -lc 'cat a.txt; cat b.txt || true'", Some(cwd)),
            [
                json!({"type": "read", "command": "cat a.txt", "name": "a.txt", "path": "/w/a.txt"}),
                json!({"type": "read", "command": "cat b.txt", "name": "b.txt", "path": "/w/b.txt"})
            ]
        );
        assert_eq!(
            command_actions("/bin/bash -lc 'wc -l | sort'", Some(cwd)),
            [json!({"type": "unknown", "command": "wc -l | sort"})],
            "nothing but helpers"
        );
        // One command it cannot summarize makes the whole script unknown (app-exec-policy-dangerous).
        assert_eq!(
            command_actions("/bin/bash -lc 'ls && rm -rf err.log'", Some(cwd)),
            [json!({"type": "unknown", "command": "ls && rm -rf err.log"})]
        );
    }

    #[test]
    fn words_split_as_a_shell_splits_them() {
        assert_eq!(split_words(r#"a 'b c' "d \"e\"" f\ g"#).unwrap(), ["a", "b c", "d \"e\"", "f g"]);
        assert_eq!(split_words("'open"), None);
    }
}
