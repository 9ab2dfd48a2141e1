//! Values a step takes from the request it answers, and their substitution into its output.

use std::collections::BTreeMap;

use parity_capture::view::item_text;
use regex::Regex;
use serde_json::Value;

use super::model::{Extraction, OutputItem, Step};

/// Checks that every pattern compiles; names the first that does not.
pub fn validate(patterns: &BTreeMap<String, Extraction>) -> Result<(), String> {
    for (name, extraction) in patterns {
        Regex::new(&extraction.pattern).map_err(|e| format!("extract.{name}: not a valid regular expression: {e}"))?;
    }
    Ok(())
}

/// Finds each value in the texts of the request's `input` items, newest first (only in the output answering its
/// `call_id` when it has one): the pattern's first group, or its whole match. Names the first value that could not
/// be found.
pub fn extract(patterns: &BTreeMap<String, Extraction>, body: &Value) -> Result<BTreeMap<String, String>, String> {
    let items: Vec<&Value> = body.get("input").and_then(Value::as_array).into_iter().flatten().rev().collect();
    patterns
        .iter()
        .map(|(name, Extraction { pattern, call_id })| {
            let regex = Regex::new(pattern).map_err(|e| format!("extract.{name}: {e}"))?;
            let answers = |item: &&&Value| match call_id {
                None => true,
                Some(id) => {
                    item.get("call_id").and_then(Value::as_str) == Some(id)
                        && item.get("type").and_then(Value::as_str).is_some_and(|t| t.ends_with("_output"))
                }
            };
            items
                .iter()
                .filter(answers)
                .find_map(|item| {
                    let text = item_text(item);
                    let found = regex.captures(&text)?;
                    Some(found.get(1).or_else(|| found.get(0))?.as_str().to_string())
                })
                .map(|value| (name.clone(), value))
                .ok_or_else(|| match call_id {
                    None => format!("extract.{name}: no input item matches /{pattern}/"),
                    Some(id) => format!("extract.{name}: no output of call {id} matches /{pattern}/"),
                })
        })
        .collect()
}

/// Whether `{{name}}` appears anywhere in the step's output.
pub fn uses(step: &Step, name: &str) -> bool {
    let marker = BTreeMap::from([(name.to_string(), "\u{0}parity-placeholder\u{0}".to_string())]);
    substitute(step, &marker) != *step
}

/// The step with `{{name}}` replaced in all of its output.
pub fn substitute(step: &Step, values: &BTreeMap<String, String>) -> Step {
    let text = |s: &str| {
        values.iter().fold(s.to_string(), |acc, (name, value)| acc.replace(&format!("{{{{{name}}}}}"), value))
    };
    let mut step = step.clone();
    for item in &mut step.output {
        match item {
            OutputItem::Message(m) => m.text = text(&m.text),
            OutputItem::FunctionCall(c) => substitute_value(&mut c.arguments, values, &text),
            OutputItem::CustomToolCall(c) => c.input = text(&c.input),
            OutputItem::Reasoning(r) => {
                r.summary.iter_mut().chain(r.content.iter_mut()).for_each(|s| *s = text(s));
            }
            OutputItem::Item(v) | OutputItem::Event(v) => substitute_value(v, values, &text),
            OutputItem::DelayMs(_) | OutputItem::Hold(_) => {}
        }
    }
    for event in step.events.iter_mut().flatten() {
        substitute_value(event, values, &text);
    }
    step
}

fn substitute_value(value: &mut Value, values: &BTreeMap<String, String>, text: &impl Fn(&str) -> String) {
    match value {
        Value::String(s) => {
            // A string that is exactly one placeholder takes the value's own JSON type when it has one (a number).
            let whole = values.iter().find(|(name, _)| *s == format!("{{{{{name}}}}}"));
            *value = match whole.and_then(|(_, v)| v.parse::<serde_json::Number>().ok()) {
                Some(number) => Value::Number(number),
                None => Value::String(text(s)),
            };
        }
        Value::Array(items) => items.iter_mut().for_each(|v| substitute_value(v, values, text)),
        Value::Object(map) => map.values_mut().for_each(|v| substitute_value(v, values, text)),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn values_come_from_the_newest_matching_item_and_fill_the_output() {
        let body = json!({"input": [
            {"type": "function_call_output", "call_id": "a", "output": "Process running with session ID 111"},
            {"type": "function_call_output", "call_id": "b", "output": "Process running with session ID 65989\nOutput:\n"},
        ]});
        let pattern = |p: &str| Extraction { pattern: p.to_string(), call_id: None };
        let patterns = BTreeMap::from([("session".to_string(), pattern(r"session ID (\d+)"))]);
        let values = extract(&patterns, &body).unwrap();
        assert_eq!(values["session"], "65989");

        let step =
            Step::function_call("write_stdin", json!({"session_id": "{{session}}", "chars": "id {{session}}\n"}))
                .then_message("session {{session}} is done");
        let filled = substitute(&step, &values);
        let OutputItem::FunctionCall(call) = &filled.output[0] else { panic!() };
        assert_eq!(call.arguments, json!({"session_id": 65989, "chars": "id 65989\n"}));
        let OutputItem::Message(m) = &filled.output[1] else { panic!() };
        assert_eq!(m.text, "session 65989 is done");

        let missing = BTreeMap::from([("pid".to_string(), pattern(r"pid (\d+)"))]);
        assert_eq!(extract(&missing, &body).unwrap_err(), r"extract.pid: no input item matches /pid (\d+)/");
        assert!(validate(&BTreeMap::from([("x".to_string(), pattern("("))])).is_err());

        // Scoped to a call: the older output of the same shape.
        let scoped = |call: &str| Extraction { pattern: r"session ID (\d+)".to_string(), call_id: Some(call.into()) };
        let values = extract(&BTreeMap::from([("first".to_string(), scoped("a"))]), &body).unwrap();
        assert_eq!(values["first"], "111");
        assert_eq!(
            extract(&BTreeMap::from([("x".to_string(), scoped("zz"))]), &body).unwrap_err(),
            r"extract.x: no output of call zz matches /session ID (\d+)/"
        );
    }
}
