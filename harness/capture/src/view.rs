//! Responses-aware reading of a captured request: its input items, messages, tool outputs and tools, for tests that
//! assert on what an agent sent.

use serde_json::Value;

use crate::model::{Capture, CapturedRequest};

impl CapturedRequest {
    /// The first value of a header, by case-insensitive name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name)
    }

    /// The body's `model`.
    pub fn model(&self) -> Option<&str> {
        self.body.get("model").and_then(Value::as_str)
    }

    /// The body's `input` items.
    pub fn input(&self) -> &[Value] {
        self.body.get("input").and_then(Value::as_array).map(Vec::as_slice).unwrap_or(&[])
    }

    /// Input items of one `type` (`message`, `function_call_output`, ...).
    pub fn input_of_type<'a>(&'a self, item_type: &'a str) -> impl Iterator<Item = &'a Value> + 'a {
        self.input().iter().filter(move |i| i.get("type").and_then(Value::as_str) == Some(item_type))
    }

    /// The text of each message of a role (`developer`, `user`, `assistant`), in order.
    pub fn message_texts(&self, role: &str) -> Vec<String> {
        self.input().iter().filter(|i| i.get("role").and_then(Value::as_str) == Some(role)).map(item_text).collect()
    }

    /// The output item (`function_call_output` or `custom_tool_call_output`) answering a call.
    pub fn function_call_output(&self, call_id: &str) -> Option<&Value> {
        self.input().iter().find(|i| {
            i.get("type").and_then(Value::as_str).is_some_and(|t| t.ends_with("call_output"))
                && i.get("call_id").and_then(Value::as_str) == Some(call_id)
        })
    }

    /// The text of the output answering a call.
    pub fn function_call_output_text(&self, call_id: &str) -> Option<String> {
        self.function_call_output(call_id).map(item_text)
    }

    /// The names of the offered tools (a tool without a name, such as `web_search`, by its type).
    pub fn tool_names(&self) -> Vec<String> {
        self.tools().iter().filter_map(|t| tool_name(t).map(str::to_string)).collect()
    }

    /// An offered tool, by name (or type, for tools without a name).
    pub fn tool(&self, name: &str) -> Option<&Value> {
        self.tools().iter().find(|t| tool_name(t) == Some(name))
    }

    fn tools(&self) -> &[Value] {
        self.body.get("tools").and_then(Value::as_array).map(Vec::as_slice).unwrap_or(&[])
    }
}

impl Capture {
    /// The types of the stream events sent back, in order.
    pub fn event_types(&self) -> Vec<&str> {
        self.response.events.iter().filter_map(|e| e.event_type()).collect()
    }
}

fn tool_name(tool: &Value) -> Option<&str> {
    tool.get("name").and_then(Value::as_str).or_else(|| tool.get("type").and_then(Value::as_str))
}

/// The text an input item holds: message text, a tool output, call arguments or input, a reasoning summary.
pub fn item_text(item: &Value) -> String {
    let texts = |v: Option<&Value>| -> String {
        match v {
            Some(Value::String(s)) => s.clone(),
            Some(Value::Array(parts)) => parts
                .iter()
                .filter_map(|p| p.get("text").and_then(Value::as_str).or_else(|| p.as_str()))
                .collect::<Vec<_>>()
                .join("\n"),
            _ => String::new(),
        }
    };
    match item.get("type").and_then(Value::as_str) {
        Some("message") | None if item.get("content").is_some() => texts(item.get("content")),
        Some(t) if t.ends_with("_output") => texts(item.get("output")),
        Some("function_call") => texts(item.get("arguments")),
        Some("custom_tool_call") => texts(item.get("input")),
        Some("reasoning") => texts(item.get("summary")),
        _ => item.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::HeaderList;
    use serde_json::json;

    #[test]
    fn views_find_messages_outputs_and_tools() {
        let request = CapturedRequest {
            method: "POST".into(),
            path: "/v1/responses".into(),
            query: None,
            headers: [("originator", "codex_exec")].into_iter().collect::<HeaderList>(),
            body: json!({
                "model": "gpt-5.5",
                "input": [
                    {"type": "message", "role": "developer", "content": [{"type": "input_text", "text": "a"}, {"type": "input_text", "text": "b"}]},
                    {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "hi"}]},
                    {"type": "custom_tool_call", "call_id": "p1", "name": "apply_patch", "input": "*** Begin Patch"},
                    {"type": "custom_tool_call_output", "call_id": "p1", "output": [{"type": "input_text", "text": "Done"}]},
                ],
                "tools": [{"type": "function", "name": "exec_command"}, {"type": "web_search"}],
            }),
            raw_body: None,
        };
        assert_eq!(request.header("Originator"), Some("codex_exec"));
        assert_eq!(request.model(), Some("gpt-5.5"));
        assert_eq!(request.message_texts("developer"), ["a\nb"]);
        assert_eq!(request.function_call_output_text("p1").as_deref(), Some("Done"));
        assert!(request.function_call_output("p2").is_none());
        assert_eq!(request.input_of_type("custom_tool_call").count(), 1);
        assert_eq!(request.tool_names(), ["exec_command", "web_search"]);
        assert!(request.tool("web_search").is_some());
        assert_eq!(item_text(&request.input()[2]), "*** Begin Patch");
    }
}
