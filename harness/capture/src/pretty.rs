//! JSON rendering that diffs well in git.
//!
//! Like `serde_json::to_string_pretty`, with one difference: an array of scalars that fits on a line stays on one
//! line. A header pair `["accept", "text/event-stream"]` is then one line, not four, and a changed header is a
//! one-line diff.

use serde::Serialize;
use serde_json::Value;

/// Scalar arrays longer than this (rendered) are written one element per line.
const INLINE_LIMIT: usize = 100;

/// Renders `value` as indented JSON (two spaces), keeping short scalar arrays inline; ends with a newline.
pub fn to_pretty_string<T: Serialize + ?Sized>(value: &T) -> serde_json::Result<String> {
    let value = serde_json::to_value(value)?;
    Ok(value_to_pretty_string(&value))
}

/// As [`to_pretty_string`], for a value already in hand.
pub fn value_to_pretty_string(value: &Value) -> String {
    let mut out = Vec::with_capacity(4096);
    write_value(&mut out, value, 0);
    out.push(b'\n');
    String::from_utf8(out).expect("serde_json writes UTF-8")
}

fn write_value(out: &mut Vec<u8>, value: &Value, indent: usize) {
    match value {
        Value::Object(map) if map.is_empty() => out.extend_from_slice(b"{}"),
        Value::Object(map) => {
            out.extend_from_slice(b"{\n");
            for (i, (key, item)) in map.iter().enumerate() {
                if i > 0 {
                    out.extend_from_slice(b",\n");
                }
                push_indent(out, indent + 1);
                write_json(out, key);
                out.extend_from_slice(b": ");
                write_value(out, item, indent + 1);
            }
            out.push(b'\n');
            push_indent(out, indent);
            out.push(b'}');
        }
        Value::Array(items) if items.is_empty() => out.extend_from_slice(b"[]"),
        Value::Array(items) => {
            if write_inline_array(out, items) {
                return;
            }
            out.extend_from_slice(b"[\n");
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.extend_from_slice(b",\n");
                }
                push_indent(out, indent + 1);
                write_value(out, item, indent + 1);
            }
            out.push(b'\n');
            push_indent(out, indent);
            out.push(b']');
        }
        scalar => write_json(out, scalar),
    }
}

/// Writes a short array of scalars on one line and returns true; a pair is always inline, whatever its length.
/// Anything else is left unwritten (false).
fn write_inline_array(out: &mut Vec<u8>, items: &[Value]) -> bool {
    if items.iter().any(|v| v.is_array() || v.is_object()) {
        return false;
    }
    let start = out.len();
    out.push(b'[');
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.extend_from_slice(b", ");
        }
        write_json(out, item);
    }
    out.push(b']');
    if items.len() <= 2 || out.len() - start <= INLINE_LIMIT {
        return true;
    }
    out.truncate(start);
    false
}

/// serde_json's own escaping, so that strings round-trip exactly.
fn write_json<T: Serialize + ?Sized>(out: &mut Vec<u8>, value: &T) {
    serde_json::to_writer(out, value).expect("scalars always serialize");
}

fn push_indent(out: &mut Vec<u8>, level: usize) {
    out.resize(out.len() + 2 * level, b' ');
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn short_scalar_arrays_stay_inline_and_objects_expand() {
        let v = json!({"headers": [["accept", "text/event-stream"]], "empty": [], "obj": {}, "n": 1.5});
        assert_eq!(
            value_to_pretty_string(&v),
            "{\n  \"headers\": [\n    [\"accept\", \"text/event-stream\"]\n  ],\n  \"empty\": [],\n  \"obj\": {},\n  \"n\": 1.5\n}\n"
        );
    }

    #[test]
    fn long_scalar_arrays_expand_but_pairs_never_do() {
        let long: Vec<String> = (0..30).map(|i| format!("element-{i}")).collect();
        let text = value_to_pretty_string(&json!({ "long": long }));
        assert!(text.contains("\n    \"element-0\",\n"), "{text}");
        let pair = value_to_pretty_string(&json!([["x-codex-turn-metadata", "y".repeat(500)]]));
        assert_eq!(pair.lines().count(), 3, "{pair}");
    }

    #[test]
    fn output_parses_back_to_the_same_value_with_order_kept() {
        let v = json!({"z": "a\"b\\c\n\u{1}", "a": [1, {"k": null}], "m": {"y": true, "b": false}});
        let text = value_to_pretty_string(&v);
        let back: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(back, v);
        let keys: Vec<_> = back.as_object().unwrap().keys().cloned().collect();
        assert_eq!(keys, ["z", "a", "m"]);
    }
}
