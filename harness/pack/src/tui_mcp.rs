//! The dialog in which upstream's interface asks for an MCP tool's approval, learned from the screens of the tui
//! scenarios whose model calls an MCP tool that asks (tui-mcp-approval): the line over its question, the question
//! (a template of the server and the tool the call named), its four choices with their dim descriptions, and its
//! line of keys.

use rcodex_prompt_pack::keys;
use serde_json::Value;

use super::{PackError, ScenarioInput, Texts};

/// The MCP calls the model made in `scenario`, as `(server, tool)`: the function calls its requests carry whose
/// namespace is an MCP server's (`mcp__fixture`).
fn mcp_calls(scenario: &ScenarioInput) -> Vec<(String, String)> {
    let mut calls = Vec::new();
    for capture in &scenario.requests {
        for item in capture.request.input() {
            let (Some(namespace), Some(tool)) =
                (item.get("namespace").and_then(Value::as_str), item.get("name").and_then(Value::as_str))
            else {
                continue;
            };
            if item.get("type").and_then(Value::as_str) != Some("function_call") {
                continue;
            }
            if let Some(server) = namespace.strip_prefix("mcp__") {
                let call = (server.to_string(), tool.to_string());
                if !calls.contains(&call) {
                    calls.push(call);
                }
            }
        }
    }
    calls
}

/// The dialog on `screen`, if it shows one asking about `server`'s `tool`.
#[derive(Debug, PartialEq)]
struct Dialog {
    header: String,
    question: String,
    choices: Vec<(String, Option<String>)>,
    footer: String,
}

fn dialog(screen: &str, server: &str, tool: &str) -> Option<Dialog> {
    let rows: Vec<&str> = screen.lines().map(str::trim).collect();
    // A choice: `› 1. Label  words` (the selected one) or `2. Label  words`, its words two spaces or more after it.
    let choice = |row: &str, number: usize| -> Option<(String, Option<String>)> {
        let label = row.strip_prefix("› ").unwrap_or(row).strip_prefix(&format!("{number}. "))?;
        Some(match label.split_once("  ") {
            Some((label, words)) => (label.trim().to_string(), Some(words.trim().to_string())),
            None => (label.trim().to_string(), None),
        })
    };
    let first = rows.iter().position(|row| choice(row, 1).is_some())?;
    let choices: Vec<_> = rows[first..].iter().enumerate().map_while(|(i, row)| choice(row, i + 1)).collect();
    let footer = rows[first + choices.len()..].iter().find(|row| !row.is_empty())?;
    let quoted = format!("\"{tool}\"");
    // The question is the last row naming both above the choices (the transcript above may name the tool too).
    let at = rows[..first].iter().rposition(|row| row.contains(server) && row.contains(&quoted))?;
    let header = rows[..at].iter().rev().find(|row| !row.is_empty())?;
    let question = rows[at].replacen(server, "{{server}}", 1).replacen(&quoted, "\"{{tool}}\"", 1);
    Some(Dialog { header: header.to_string(), question, choices, footer: footer.to_string() })
}

/// Learns the dialog's texts from a tui scenario that showed it; a scenario without MCP calls teaches nothing.
pub(crate) fn learn(scenario: &ScenarioInput, texts: &mut Texts) -> Result<(), PackError> {
    let fail = |message: String| PackError::Scenario { scenario: scenario.name.clone(), message };
    for (server, tool) in mcp_calls(scenario) {
        let Some(found) = scenario.screens.iter().find_map(|screen| dialog(&screen.text, &server, &tool)) else {
            continue;
        };
        if found.choices.len() != keys::TUI_MCP_APPROVAL_CHOICES.len() {
            return Err(fail(format!(
                "the MCP approval dialog offers {} choices, not upstream 0.169.0's {}: {:?}",
                found.choices.len(),
                keys::TUI_MCP_APPROVAL_CHOICES.len(),
                found.choices
            )));
        }
        texts.put(keys::tui_mcp_approval("header"), found.header, &scenario.name)?;
        texts.put(keys::tui_mcp_approval("question"), found.question, &scenario.name)?;
        texts.put(keys::tui_mcp_approval("footer"), found.footer, &scenario.name)?;
        for (choice, (label, description)) in keys::TUI_MCP_APPROVAL_CHOICES.iter().zip(found.choices) {
            texts.put(keys::tui_mcp_approval_choice(choice), label, &scenario.name)?;
            if let Some(description) = description {
                texts.put(keys::tui_mcp_approval_choice_description(choice), description, &scenario.name)?;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_recorded_dialog_teaches_its_question_choices_and_keys() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let inputs = crate::load(&root.join("captures/codex-0.169.0"), &root.join("fixtures/scenarios")).unwrap();
        let scenario = inputs.configured.iter().map(|(s, _)| s).find(|s| s.name == "tui-mcp-approval").unwrap();
        assert_eq!(mcp_calls(scenario), vec![("fixture".to_string(), "write_note".to_string())]);
        let mut texts = Texts::default();
        learn(scenario, &mut texts).unwrap();
        let text = |key: String| texts.0.get(&key).map(|(_, text)| text.clone()).unwrap();
        assert!(text(keys::tui_mcp_approval("question")).contains("{{server}}"));
        assert!(text(keys::tui_mcp_approval("question")).contains("\"{{tool}}\""));
        assert!(!text(keys::tui_mcp_approval("footer")).is_empty());
        for choice in keys::TUI_MCP_APPROVAL_CHOICES {
            assert!(!text(keys::tui_mcp_approval_choice(choice)).is_empty(), "{choice}");
            assert!(!text(keys::tui_mcp_approval_choice_description(choice)).is_empty(), "{choice}");
        }
    }

    #[test]
    fn a_screen_without_the_tool_s_question_shows_no_dialog() {
        let screen = "  Pick one\n\n  › 1. Yes  do it\n    2. No  do not\n  enter to pick\n";
        assert_eq!(dialog(screen, "fixture", "write_note"), None);
        let asked = "  Field 1/1\n  May fixture run \"write_note\"?\n\n  text: hi\n\n  › 1. Yes  do it\n    2. No  stop\n  keys\n";
        let found = dialog(asked, "fixture", "write_note").unwrap();
        assert_eq!(found.header, "Field 1/1");
        assert_eq!(found.question, "May {{server}} run \"{{tool}}\"?");
        assert_eq!(found.footer, "keys");
        assert_eq!(found.choices.len(), 2);
    }
}
