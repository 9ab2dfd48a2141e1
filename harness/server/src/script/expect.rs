//! Checking a request against a step's expectations.

use parity_capture::view::item_text;
use parity_capture::{Expectation, HeaderList};
use serde_json::Value;

use super::model::Expect;

/// Every expectation of the step with its verdict, in a fixed order.
pub fn check(expect: &Expect, headers: &HeaderList, body: &Value) -> Vec<Expectation> {
    let input: &[Value] = body.get("input").and_then(Value::as_array).map(Vec::as_slice).unwrap_or(&[]);
    let mut out = Vec::new();
    if let Some(want) = &expect.last_input_contains {
        let last = input.last().map(item_text).unwrap_or_default();
        out.push(verdict("last_input_contains", want, last.contains(want.as_str()), || excerpt(&last)));
    }
    if let Some(want) = &expect.input_contains {
        let found = input.iter().any(|item| item_text(item).contains(want.as_str()));
        out.push(verdict("input_contains", want, found, || format!("no input item among {} contains it", input.len())));
    }
    for call_id in &expect.function_call_output {
        let found = input.iter().any(|item| {
            matches!(
                item.get("type").and_then(Value::as_str),
                Some("function_call_output" | "custom_tool_call_output" | "tool_search_output")
            ) && item.get("call_id").and_then(Value::as_str) == Some(call_id)
        });
        out.push(verdict("function_call_output", call_id, found, || {
            let ids: Vec<&str> = input
                .iter()
                .filter(|i| i.get("type").and_then(Value::as_str).is_some_and(|t| t.ends_with("_output")))
                .filter_map(|i| i.get("call_id").and_then(Value::as_str))
                .collect();
            if ids.is_empty() { "no tool output in input".into() } else { format!("outputs for: {}", ids.join(", ")) }
        }));
    }
    for (name, want) in &expect.headers {
        let got = headers.get(name);
        out.push(verdict(&format!("headers.{name}"), want, got == Some(want.as_str()), || {
            got.map(|g| format!("\"{g}\"")).unwrap_or_else(|| "no such header".into())
        }));
    }
    if let Some(want) = &expect.model {
        let got = body.get("model").and_then(Value::as_str);
        out.push(verdict("model", want, got == Some(want.as_str()), || got.unwrap_or("no model").to_string()));
    }
    out
}

fn verdict(name: &str, expected: &str, ok: bool, found: impl FnOnce() -> String) -> Expectation {
    Expectation { name: name.to_string(), expected: expected.to_string(), ok, found: (!ok).then(found) }
}

/// The first 200 characters of a text, quoted, for error messages.
fn excerpt(text: &str) -> String {
    let short: String = text.chars().take(200).collect();
    if short.len() < text.len() { format!("\"{short}...\"") } else { format!("\"{short}\"") }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn each_expectation_passes_and_fails_with_what_was_found() {
        let body = json!({"model": "m1", "input": [
            {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "run ls please"}]},
            {"type": "function_call", "call_id": "c1", "name": "exec_command", "arguments": "{}"},
            {"type": "function_call_output", "call_id": "c1", "output": "file.txt"},
        ]});
        let headers: HeaderList = [("originator", "codex_exec")].into_iter().collect();
        let ok = Expect {
            last_input_contains: Some("file.txt".into()),
            input_contains: Some("ls please".into()),
            function_call_output: vec!["c1".into()],
            headers: [("originator".to_string(), "codex_exec".to_string())].into(),
            model: Some("m1".into()),
        };
        let results = check(&ok, &headers, &body);
        assert_eq!(results.len(), 5);
        assert!(results.iter().all(|e| e.ok), "{results:?}");

        let bad = Expect {
            last_input_contains: Some("nope".into()),
            input_contains: Some("absent".into()),
            function_call_output: vec!["c2".into()],
            headers: [("originator".to_string(), "codex_tui".to_string()), ("x-missing".to_string(), "v".to_string())]
                .into(),
            model: Some("m2".into()),
        };
        let results = check(&bad, &headers, &body);
        assert!(results.iter().all(|e| !e.ok));
        let found: Vec<_> = results.iter().map(|e| e.found.clone().unwrap()).collect();
        assert_eq!(found[0], "\"file.txt\"");
        assert_eq!(found[2], "outputs for: c1");
        assert_eq!(found[3], "\"codex_exec\"");
        assert_eq!(found[4], "no such header");
        assert_eq!(found[5], "m1");
    }

    #[test]
    fn a_tool_search_output_answers_its_call() {
        let body = json!({"input": [
            {"type": "tool_search_call", "call_id": "s1", "execution": "client", "arguments": {"query": "agent"}},
            {"type": "tool_search_output", "call_id": "s1", "status": "completed", "execution": "client", "tools": []},
        ]});
        let expect = Expect { function_call_output: vec!["s1".into()], ..Expect::default() };
        let results = check(&expect, &HeaderList::default(), &body);
        assert!(results.iter().all(|e| e.ok), "{results:?}");
    }
}
