//! The tool router: each tool call of the model goes to its handler, and comes back as the output item upstream
//! would send (`function_call_output` or `custom_tool_call_output`). A tool the model was not offered gets upstream's
//! `unsupported call` answer.

use std::collections::HashSet;
use std::path::PathBuf;
use std::time::Instant;

use serde_json::{Value, json};

use crate::events::{EventSink, FileChange, Item, ItemDetails, Status};
use crate::items;

/// A tool call of the model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToolCall {
    pub call_id: String,
    pub name: String,
    /// A function call (JSON `arguments`) or a freeform one (`input`).
    pub custom: bool,
    /// The arguments (function) or input (custom), as sent.
    pub payload: String,
}

impl ToolCall {
    /// The call an output item asks for, if it is one.
    pub fn from_item(item: &Value) -> Option<ToolCall> {
        let text = |k: &str| item.get(k).and_then(Value::as_str).unwrap_or_default().to_string();
        match item.get("type").and_then(Value::as_str)? {
            "function_call" => Some(ToolCall {
                call_id: text("call_id"),
                name: text("name"),
                custom: false,
                payload: text("arguments"),
            }),
            "custom_tool_call" => {
                Some(ToolCall { call_id: text("call_id"), name: text("name"), custom: true, payload: text("input") })
            }
            _ => None,
        }
    }

    /// The output item answering this call.
    pub fn output(&self, output: Value) -> Value {
        if self.custom {
            items::custom_tool_call_output(&self.call_id, output)
        } else {
            items::function_call_output(&self.call_id, output)
        }
    }
}

/// Where and how tools run.
pub struct ToolContext {
    pub cwd: PathBuf,
    pub events: EventSink,
    /// Decides where `apply_patch` may write.
    pub write_policy: Box<dyn rcodex_apply_patch::WritePolicy + Send + Sync>,
}

pub struct Tools {
    offered: HashSet<String>,
}

impl Tools {
    /// The tools offered in a request: the names in `tools`, or in `additional_tools` items' namespaces.
    pub fn offered_in(body_tools: Option<&Value>, input: &[Value]) -> Tools {
        let mut offered = HashSet::new();
        let mut collect = |tools: &Value| {
            for tool in tools.as_array().into_iter().flatten() {
                if let Some(name) = tool.get("name").and_then(Value::as_str) {
                    offered.insert(name.to_string());
                }
                for member in tool.get("tools").and_then(Value::as_array).into_iter().flatten() {
                    if let Some(name) = member.get("name").and_then(Value::as_str) {
                        offered.insert(name.to_string());
                    }
                }
            }
        };
        if let Some(tools) = body_tools {
            collect(tools);
        }
        for item in input.iter().filter(|i| i.get("type").and_then(Value::as_str) == Some("additional_tools")) {
            if let Some(tools) = item.get("tools") {
                collect(tools);
            }
        }
        Tools { offered }
    }

    pub fn is_offered(&self, name: &str) -> bool {
        self.offered.contains(name)
    }

    /// Runs a call and returns its output item.
    pub async fn call(&self, call: &ToolCall, cx: &ToolContext) -> Value {
        if !self.is_offered(&call.name) {
            return call.output(json!(unsupported(call)));
        }
        match (call.name.as_str(), call.custom) {
            ("apply_patch", true) => call.output(json!(apply_patch(&call.payload, cx))),
            ("request_user_input", false) => {
                // exec has nobody to ask; upstream answers so in Default mode.
                call.output(json!("request_user_input is unavailable in Default mode"))
            }
            _ => call.output(json!(unsupported(call))),
        }
    }
}

fn unsupported(call: &ToolCall) -> String {
    if call.custom {
        format!("unsupported custom tool call: {}", call.name)
    } else {
        format!("unsupported call: {}", call.name)
    }
}

/// `apply_patch`: the patch is applied all or nothing, within the sandbox's writable roots, and reported as a
/// `file_change` item.
fn apply_patch(patch: &str, cx: &ToolContext) -> String {
    let started = Instant::now();
    let outcome = rcodex_apply_patch::apply_patch(patch, &cx.cwd, cx.write_policy.as_ref());
    let (changes, status, text) = match &outcome {
        Ok(applied) => (applied.changes().to_vec(), Status::Completed, applied.model_output(started.elapsed())),
        Err(error) => (
            error.attempted_changes().unwrap_or_default().to_vec(),
            Status::Failed,
            error.model_output(started.elapsed()),
        ),
    };
    // Upstream reports a file change only for patches that got as far as writing.
    if !changes.is_empty() {
        let changes: Vec<FileChange> = changes
            .iter()
            .map(|c| FileChange { path: c.path.display().to_string(), kind: c.kind.as_str().to_string() })
            .collect();
        let id = cx.events.item_id();
        cx.events.emit(crate::events::Event::ItemStarted {
            item: Item {
                id: id.clone(),
                details: ItemDetails::FileChange { changes: changes.clone(), status: Status::InProgress },
            },
        });
        cx.events.emit(crate::events::Event::ItemCompleted {
            item: Item { id, details: ItemDetails::FileChange { changes, status } },
        });
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cx(dir: &std::path::Path) -> ToolContext {
        ToolContext {
            cwd: dir.to_path_buf(),
            events: EventSink::discard(),
            write_policy: Box::new(rcodex_apply_patch::WritableRoots::new([dir.to_path_buf()])),
        }
    }

    #[tokio::test]
    async fn calls_are_routed_by_what_was_offered() {
        let offered =
            json!([{"type": "function", "name": "request_user_input"}, {"type": "custom", "name": "apply_patch"}]);
        let tools = Tools::offered_in(Some(&offered), &[]);
        let dir = tempfile::tempdir().unwrap();
        let call = |name: &str, custom: bool, payload: &str| ToolCall {
            call_id: "c".into(),
            name: name.into(),
            custom,
            payload: payload.into(),
        };

        let out = tools.call(&call("update_plan", false, "{}"), &cx(dir.path())).await;
        assert_eq!(out["output"], "unsupported call: update_plan");
        assert_eq!(out["type"], "function_call_output");
        let out = tools.call(&call("frobnicate", true, ""), &cx(dir.path())).await;
        assert_eq!(
            (out["type"].as_str(), out["output"].as_str()),
            (Some("custom_tool_call_output"), Some("unsupported custom tool call: frobnicate"))
        );
        let out = tools.call(&call("request_user_input", false, "{}"), &cx(dir.path())).await;
        assert_eq!(out["output"], "request_user_input is unavailable in Default mode");

        let patch = "*** Begin Patch\n*** Add File: a.txt\n+hi\n*** End Patch\n";
        let out = tools.call(&call("apply_patch", true, patch), &cx(dir.path())).await;
        assert!(out["output"].as_str().unwrap().ends_with("Success. Updated the following files:\nA a.txt\n"), "{out}");
        assert_eq!(std::fs::read_to_string(dir.path().join("a.txt")).unwrap(), "hi\n");
    }

    #[test]
    fn namespaced_tools_of_additional_tools_items_count_as_offered() {
        let input = [
            json!({"type": "additional_tools", "tools": [{"type": "namespace", "name": "functions", "tools": [{"type": "custom", "name": "exec"}]}]}),
        ];
        let tools = Tools::offered_in(None, &input);
        assert!(tools.is_offered("exec") && tools.is_offered("functions"));
    }
}
