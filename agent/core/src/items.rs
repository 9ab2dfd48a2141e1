//! Conversation items, in upstream's shape.
//!
//! Items are kept as JSON: what the model sent is echoed back, so it must survive whatever fields a server adds.
//! Upstream re-serializes items from its own types, so the order of their keys is its own; the prompt pack records
//! that order per item type (learned from captures), and [`canonical`] applies it.

use rcodex_prompt_pack::Pack;
use serde_json::{Map, Value, json};
use uuid::Uuid;

/// Namespace of rcodex's name-based ids.
const RCODEX_NAMESPACE: Uuid = Uuid::from_u128(0x2b0c_6a3e_51d4_4c8e_9a1f_7d3b_5e60_c2a4);

/// `<prefix>_<UUIDv7>`: a new, time-ordered id.
pub fn new_id(prefix: &str) -> String {
    format!("{prefix}_{}", Uuid::now_v7())
}

/// `<prefix>_<UUIDv5>` derived from `name`: the same for the same name, as upstream's id of the instructions
/// message is the same for the whole thread.
pub fn stable_id(prefix: &str, name: &str) -> String {
    format!("{prefix}_{}", Uuid::new_v5(&RCODEX_NAMESPACE, name.as_bytes()))
}

/// A message of input text parts.
pub fn message(role: &str, id: String, texts: impl IntoIterator<Item = String>) -> Value {
    let content: Vec<Value> = texts.into_iter().map(|text| json!({"type": "input_text", "text": text})).collect();
    json!({"type": "message", "id": id, "role": role, "content": content})
}

/// The user's prompt.
pub fn user_message(text: &str) -> Value {
    message("user", new_id("msg"), [text.to_string()])
}

/// The user's input as a message: text parts and images, in the order given.
pub fn user_input_message(input: &[crate::events::UserInput], detail: crate::images::ImageDetail) -> Value {
    use crate::events::UserInput;
    let mut content = Vec::new();
    let mut images = 0;
    for part in input {
        match part {
            UserInput::Text { text } => content.push(json!({"type": "input_text", "text": text})),
            UserInput::Image { url } => {
                images += 1;
                content.push(json!({"type": "input_image", "image_url": url}))
            }
            UserInput::LocalImage { path } => {
                images += 1;
                content.extend(crate::images::local_image_content(path, images, detail))
            }
            // Sent as a message of its own (see `context::skill_message`).
            UserInput::Skill { .. } => {}
        }
    }
    json!({"type": "message", "id": new_id("msg"), "role": "user", "content": content})
}

/// The answer to a function call; `output` is a string or a list of content items.
pub fn function_call_output(call_id: &str, output: Value) -> Value {
    json!({"type": "function_call_output", "id": new_id("fco"), "call_id": call_id, "output": output})
}

/// The answer to a freeform (custom) tool call.
pub fn custom_tool_call_output(call_id: &str, output: Value) -> Value {
    json!({"type": "custom_tool_call_output", "id": new_id("ctco"), "call_id": call_id, "output": output})
}

/// The id prefix upstream gives an item of this type when the model sent none.
fn id_prefix(item_type: &str) -> Option<&'static str> {
    Some(match item_type {
        "message" => "msg",
        "function_call" => "fc",
        "custom_tool_call" => "ctc",
        "reasoning" => "rs",
        "tool_search_call" => "tsc",
        "web_search_call" => "ws",
        _ => return None,
    })
}

/// Whether upstream can read this output item of the model. Upstream reads each item into a type of its own, in
/// which a tool call's `call_id`, `name` and `arguments` (or `input`) are required strings; an item it cannot read
/// is dropped, unseen: not run, not kept in history, never sent back (0.169.0 answered a `function_call` without
/// `call_id` that way, ending the turn after that one request). rcodex drops the same items.
pub fn readable(item: &Value) -> bool {
    let required: &[&str] = match item.get("type").and_then(Value::as_str) {
        Some("function_call") => &["call_id", "name", "arguments"],
        Some("custom_tool_call") => &["call_id", "name", "input"],
        _ => &[],
    };
    required.iter().all(|field| item.get(*field).is_some_and(Value::is_string))
}

/// An output item of the model, as it is kept in history and sent back: given an id when it has none, with the
/// fields upstream always writes, in upstream's key order.
pub fn from_model(mut item: Value, pack: &Pack) -> Value {
    if let Some(object) = item.as_object_mut() {
        let item_type = object.get("type").and_then(Value::as_str).unwrap_or_default().to_string();
        let has_id = object.get("id").and_then(Value::as_str).is_some_and(|id| !id.is_empty());
        if !has_id && let Some(prefix) = id_prefix(&item_type) {
            object.insert("id".into(), Value::String(new_id(prefix)));
        }
        if item_type == "reasoning" && !object.contains_key("content") {
            object.insert("content".into(), Value::Null);
        }
    }
    canonical(item, pack)
}

/// Orders an item's keys as upstream writes items of its type, and the keys of the parts of its `content`,
/// `summary` and `output`; keys the pack does not know follow, in their order.
pub fn canonical(item: Value, pack: &Pack) -> Value {
    let Value::Object(mut object) = item else { return item };
    for field in ["content", "summary", "output"] {
        if let Some(Value::Array(parts)) = object.get_mut(field) {
            for part in parts.iter_mut() {
                let kind = part.get("type").and_then(Value::as_str).map(|t| format!("{field}/{t}"));
                if let Some(kind) = kind {
                    reorder(part, pack.item_keys.get(&kind));
                }
            }
        }
    }
    let kind = object.get("type").and_then(Value::as_str).map(str::to_string);
    let mut item = Value::Object(object);
    reorder(&mut item, kind.and_then(|k| pack.item_keys.get(&k)));
    item
}

fn reorder(value: &mut Value, order: Option<&Vec<String>>) {
    let (Some(order), Value::Object(object)) = (order, value) else { return };
    let mut ordered = Map::with_capacity(object.len());
    for key in order {
        if let Some(v) = object.shift_remove(key) {
            ordered.insert(key.clone(), v);
        }
    }
    ordered.append(object);
    *object = ordered;
}

/// The namespace of the ids upstream derives for the outputs it makes up for calls without one. Part of the wire
/// format: these ids are sent to the model, and stay the same across requests for the prompt cache.
const SYNTHETIC_OUTPUT_NAMESPACE: Uuid = Uuid::from_u128(0x90d3_8d3e_6a5b_4d52_bfe2_2f1e_634b_fac4);

/// `input` with an output after every call that has none, as upstream's history normalization makes them for each
/// request (and never saves): `aborted` for function and custom tool calls, no tools for a tool search. Each gets
/// the id `<prefix>_<UUIDv5 of "<prefix>:<the call's id>">`, or none when the call has none.
pub fn with_missing_outputs(input: Vec<Value>) -> Vec<Value> {
    let call_type = |output_type: &str| match output_type {
        "function_call_output" => Some("function_call"),
        "custom_tool_call_output" => Some("custom_tool_call"),
        "tool_search_output" => Some("tool_search_call"),
        _ => None,
    };
    let answered: std::collections::HashSet<(&'static str, String)> = input
        .iter()
        .filter_map(|item| Some((call_type(item.get("type")?.as_str()?)?, item.get("call_id")?.as_str()?.to_string())))
        .collect();
    let mut out = Vec::with_capacity(input.len());
    for item in input {
        let call_id = item.get("call_id").and_then(Value::as_str).map(str::to_string);
        let kind = item.get("type").and_then(Value::as_str).unwrap_or_default();
        let synthetic = match (kind, call_id) {
            (kind @ ("function_call" | "custom_tool_call" | "tool_search_call"), Some(call_id))
                if !answered.iter().any(|(k, id)| *k == kind && *id == call_id) =>
            {
                let (prefix, output_type) = match kind {
                    "function_call" => ("fco", "function_call_output"),
                    "custom_tool_call" => ("ctco", "custom_tool_call_output"),
                    _ => ("tso", "tool_search_output"),
                };
                let id = item.get("id").and_then(Value::as_str).filter(|id| !id.is_empty()).map(|id| {
                    let uuid = Uuid::new_v5(&SYNTHETIC_OUTPUT_NAMESPACE, format!("{prefix}:{id}").as_bytes());
                    format!("{prefix}_{uuid}")
                });
                let mut output = Map::new();
                output.insert("type".into(), json!(output_type));
                if let Some(id) = id {
                    output.insert("id".into(), json!(id));
                }
                output.insert("call_id".into(), json!(call_id));
                if prefix == "tso" {
                    output.insert("status".into(), json!("completed"));
                    output.insert("execution".into(), json!("client"));
                    output.insert("tools".into(), json!([]));
                } else {
                    output.insert("output".into(), json!("aborted"));
                }
                let output = Value::Object(output);
                Some(output)
            }
            _ => None,
        };
        out.push(item);
        out.extend(synthetic);
    }
    out
}

/// The text of an item: message text, a tool output, call arguments or input, a reasoning summary.
pub fn text_of(item: &Value) -> String {
    let texts = |v: Option<&Value>| -> String {
        match v {
            Some(Value::String(s)) => s.clone(),
            Some(Value::Array(parts)) => {
                parts.iter().filter_map(|p| p.get("text").and_then(Value::as_str)).collect::<Vec<_>>().join("\n")
            }
            _ => String::new(),
        }
    };
    match item.get("type").and_then(Value::as_str) {
        Some("message") => texts(item.get("content")),
        Some("reasoning") => texts(item.get("summary")),
        Some(t) if t.ends_with("_output") => texts(item.get("output")),
        _ => String::new(),
    }
}

/// Splits a command line into words as a POSIX shell would for plain words and quotes (no expansions); `None` when
/// a quote is left open.
pub fn split_words(line: &str) -> Option<Vec<String>> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            '\'' => {
                in_word = true;
                loop {
                    match chars.next()? {
                        '\'' => break,
                        c => word.push(c),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next()? {
                        '"' => break,
                        '\\' => match chars.next()? {
                            c @ ('"' | '\\' | '$' | '`') => word.push(c),
                            c => {
                                word.push('\\');
                                word.push(c);
                            }
                        },
                        c => word.push(c),
                    }
                }
            }
            '\\' => {
                in_word = true;
                word.push(chars.next()?);
            }
            c if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            c => {
                in_word = true;
                word.push(c);
            }
        }
    }
    if in_word {
        words.push(word);
    }
    Some(words)
}

/// Words joined into a command line as upstream shows one (`/bin/bash -lc 'echo hello'`): the inverse of
/// [`split_command`].
pub fn join_command(argv: &[String]) -> String {
    rcodex_exec::display_command(argv)
}

/// A command line's words ([`split_words`]), or the line as one word when a quote is left open.
pub fn split_command(command: &str) -> Vec<String> {
    split_words(command).unwrap_or_else(|| vec![command.to_string()])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_call_without_a_call_id_is_unreadable_as_upstream_finds_it() {
        let call = json!({"type": "function_call", "name": "exec_command", "arguments": "{}", "call_id": "c1"});
        assert!(readable(&call));
        assert!(readable(&json!({"type": "function_call", "name": "f", "arguments": "{}", "call_id": ""})));
        for field in ["call_id", "name", "arguments"] {
            let mut item = call.clone();
            item.as_object_mut().unwrap().remove(field);
            assert!(!readable(&item), "without {field}");
        }
        assert!(!readable(&json!({"type": "function_call", "name": "f", "arguments": "{}", "call_id": 7})));
        assert!(!readable(&json!({"type": "custom_tool_call", "name": "apply_patch", "input": "x"})));
        assert!(readable(&json!({"type": "message", "role": "assistant", "content": []})));
    }

    #[test]
    fn model_items_get_ids_fields_and_upstream_key_order() {
        let pack = rcodex_prompt_pack::embedded();
        let call = from_model(
            json!({"call_id": "c1", "arguments": "{}", "name": "f", "type": "function_call", "status": "completed"}),
            pack,
        );
        let keys: Vec<&str> = call.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(keys, ["type", "status", "id", "name", "arguments", "call_id"]);
        assert!(call["id"].as_str().unwrap().starts_with("fc_"));

        let reasoning =
            from_model(json!({"type": "reasoning", "id": "rs_1", "encrypted_content": "e", "summary": []}), pack);
        assert_eq!(reasoning["content"], Value::Null, "upstream writes content: null");
        let keys: Vec<&str> = reasoning.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(keys, ["type", "id", "summary", "content", "encrypted_content"]);

        let message = canonical(
            json!({"type": "message", "content": [{"type": "output_text", "annotations": [], "logprobs": [], "text": "t"}]}),
            pack,
        );
        let keys: Vec<&str> = message["content"][0].as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(
            keys,
            ["type", "text", "annotations", "logprobs"],
            "parts are re-serialized in upstream's order too"
        );

        let unknown = canonical(json!({"z": 1, "type": "message", "extra": 2, "id": "m"}), pack);
        let keys: Vec<&str> = unknown.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(keys, ["type", "id", "z", "extra"], "unknown keys keep their order after the known ones");
    }

    #[test]
    fn calls_without_output_get_upstreams_synthetic_one_right_after_them() {
        let input = vec![
            json!({"type": "tool_search_call", "id": "tsc_5a1b2c3d4e5f60718293a4b5c6d7e8f9", "call_id": "s1"}),
            json!({"type": "function_call", "id": "fc_1", "call_id": "f1"}),
            json!({"type": "function_call", "id": "fc_2", "call_id": "f2"}),
            json!({"type": "custom_tool_call", "call_id": "c1"}),
            json!({"type": "function_call_output", "call_id": "f2", "output": "ok"}),
        ];
        let out = with_missing_outputs(input);
        let shape: Vec<(&str, &str)> =
            out.iter().map(|i| (i["type"].as_str().unwrap(), i["call_id"].as_str().unwrap())).collect();
        assert_eq!(
            shape,
            [
                ("tool_search_call", "s1"),
                ("tool_search_output", "s1"),
                ("function_call", "f1"),
                ("function_call_output", "f1"),
                ("function_call", "f2"),
                ("custom_tool_call", "c1"),
                ("custom_tool_call_output", "c1"),
                ("function_call_output", "f2"),
            ]
        );
        // As recorded in the tool-search scenario for a call whose arguments upstream could not read.
        assert_eq!(out[1]["id"], "tso_cb802544-8101-52f5-bddc-03273047962d");
        assert_eq!(out[1]["tools"], json!([]));
        assert_eq!(out[3]["output"], "aborted");
        assert_eq!(out[6].get("id"), None, "a call without an id gets an output without one");
        let keys: Vec<&str> = out[1].as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(keys, ["type", "id", "call_id", "status", "execution", "tools"], "upstream's key order");
    }

    #[test]
    fn ids_are_new_or_stable() {
        let (a, b) = (new_id("msg"), new_id("msg"));
        assert_ne!(a, b);
        assert_eq!(&a[4..5], "0", "a v7 id starts with the time");
        assert_eq!(stable_id("msg", "thread-1"), stable_id("msg", "thread-1"));
        assert_ne!(stable_id("msg", "thread-1"), stable_id("msg", "thread-2"));
        assert_eq!(stable_id("msg", "x").as_bytes()[4 + 14], b'5', "version 5");
    }
}
