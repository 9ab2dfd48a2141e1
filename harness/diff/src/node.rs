//! The normalized document: a JSON tree that knows what normalization did to it.
//!
//! A plain [`serde_json::Value`] cannot tell a placeholder from text that happens to look like one, JSON that was
//! decoded out of a string from JSON that was sent as such, or a timestamp from the string that replaced it. The
//! comparison needs all three, so normalization produces [`Node`]s, and reports turn them back into JSON with
//! [`Node::to_value`].

use std::fmt;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use serde_json::{Map, Number, Value};

/// A numbered stand-in for a volatile value, rendered `<kind#n>`: the same value gets the same number throughout a
/// recording, so relations between values survive normalization.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Placeholder {
    /// What the value was: `uuid7`, `cwd`, `unix_ms`, ...
    pub kind: Arc<str>,
    /// 1-based, in order of first appearance within the recording; 0 for a masked value, which every value of its
    /// kind shares.
    pub n: u32,
}

impl fmt::Display for Placeholder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Number 0 is a masked value: every value of its kind is this one placeholder (see `Action::Mask`).
        if self.n == 0 { write!(f, "<{}>", self.kind) } else { write!(f, "<{}#{}>", self.kind, self.n) }
    }
}

/// A piece of a string that holds placeholders.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Segment {
    Literal(String),
    Placeholder(Placeholder),
}

/// The JSON type a masked scalar had before a placeholder replaced it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ScalarType {
    Number,
    Bool,
}

/// One value of a normalized document.
#[derive(Debug, Clone, PartialEq)]
pub enum Node {
    Null,
    Bool(bool),
    Number(Number),
    /// A string without placeholders.
    String(String),
    /// A string with at least one placeholder in it.
    Text(Vec<Segment>),
    /// A number or boolean replaced by a placeholder (a timestamp, say); the type it had is kept and compared.
    Masked(Placeholder, ScalarType),
    Array(Vec<Node>),
    Object(Object),
    /// JSON that was sent inside a string (a header value, function-call arguments), decoded.
    Embedded(Box<Node>),
}

/// An object: entries in the order sent, or sorted by key when its order means nothing.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Object {
    pub entries: Vec<(String, Node)>,
    /// Set when a rule declared the key order meaningless; the entries are then sorted by key.
    pub unordered: bool,
}

impl Object {
    pub fn get(&self, key: &str) -> Option<&Node> {
        self.entries.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }
}

impl Node {
    /// The JSON type name used in reports: `string`, `object`, `JSON in a string`, ...
    pub fn type_name(&self) -> &'static str {
        match self {
            Node::Null => "null",
            Node::Bool(_) | Node::Masked(_, ScalarType::Bool) => "boolean",
            Node::Number(_) | Node::Masked(_, ScalarType::Number) => "number",
            Node::String(_) | Node::Text(_) => "string",
            Node::Array(_) => "array",
            Node::Object(_) => "object",
            Node::Embedded(_) => "JSON in a string",
        }
    }

    /// A field of an object (of decoded JSON too).
    pub fn get(&self, key: &str) -> Option<&Node> {
        match self {
            Node::Object(o) => o.get(key),
            Node::Embedded(inner) => inner.get(key),
            _ => None,
        }
    }

    /// The text of a string node, placeholders rendered.
    pub fn as_text(&self) -> Option<String> {
        match self {
            Node::String(s) => Some(s.clone()),
            Node::Text(segments) => Some(render_segments(segments, &|p| p.clone())),
            _ => None,
        }
    }

    /// The string of a node that is a plain string.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Node::String(s) => Some(s),
            _ => None,
        }
    }

    /// This node as JSON, placeholders rendered `<kind#n>` after `rename`. Decoded JSON stays decoded, so that JSON
    /// pointers reach into it.
    pub fn to_value_with(&self, rename: &dyn Fn(&Placeholder) -> Placeholder) -> Value {
        match self {
            Node::Null => Value::Null,
            Node::Bool(b) => Value::Bool(*b),
            Node::Number(n) => Value::Number(n.clone()),
            Node::String(s) => Value::String(s.clone()),
            Node::Text(segments) => Value::String(render_segments(segments, rename)),
            Node::Masked(p, _) => Value::String(rename(p).to_string()),
            Node::Array(items) => Value::Array(items.iter().map(|i| i.to_value_with(rename)).collect()),
            Node::Object(o) => {
                let mut map = Map::with_capacity(o.entries.len());
                for (k, v) in &o.entries {
                    map.insert(k.clone(), v.to_value_with(rename));
                }
                Value::Object(map)
            }
            Node::Embedded(inner) => inner.to_value_with(rename),
        }
    }

    /// This node as JSON, placeholders as numbered in its own recording.
    pub fn to_value(&self) -> Value {
        self.to_value_with(&|p| p.clone())
    }

    /// A hash of the whole subtree, for aligning arrays: equal nodes hash equal. Placeholders hash by kind only, so
    /// that elements that differ only in how their recording numbered its ids align (their ids are then paired).
    pub fn fingerprint(&self) -> u64 {
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        self.hash_into(&mut hasher);
        hasher.finish()
    }

    fn hash_into(&self, h: &mut impl Hasher) {
        std::mem::discriminant(self).hash(h);
        match self {
            Node::Null => {}
            Node::Bool(b) => b.hash(h),
            Node::Number(n) => n.to_string().hash(h),
            Node::String(s) => s.hash(h),
            Node::Text(segments) => {
                for segment in segments {
                    match segment {
                        Segment::Literal(s) => (0u8, s).hash(h),
                        Segment::Placeholder(p) => (1u8, &p.kind).hash(h),
                    }
                }
            }
            Node::Masked(p, t) => (&p.kind, t).hash(h),
            Node::Array(items) => {
                items.len().hash(h);
                items.iter().for_each(|i| i.hash_into(h));
            }
            Node::Object(o) => {
                o.entries.len().hash(h);
                for (k, v) in &o.entries {
                    k.hash(h);
                    v.hash_into(h);
                }
            }
            Node::Embedded(inner) => inner.hash_into(h),
        }
    }

    /// Builds a node from JSON as it is, normalizing nothing.
    pub fn from_value(value: Value) -> Node {
        match value {
            Value::Null => Node::Null,
            Value::Bool(b) => Node::Bool(b),
            Value::Number(n) => Node::Number(n),
            Value::String(s) => Node::String(s),
            Value::Array(items) => Node::Array(items.into_iter().map(Node::from_value).collect()),
            Value::Object(map) => Node::Object(Object {
                entries: map.into_iter().map(|(k, v)| (k, Node::from_value(v))).collect(),
                unordered: false,
            }),
        }
    }
}

/// Renders text segments, placeholders after `rename`.
pub fn render_segments(segments: &[Segment], rename: &dyn Fn(&Placeholder) -> Placeholder) -> String {
    let mut out = String::new();
    for segment in segments {
        match segment {
            Segment::Literal(s) => out.push_str(s),
            Segment::Placeholder(p) => out.push_str(&rename(p).to_string()),
        }
    }
    out
}

/// Segments from a string node: a plain string is one literal.
pub fn segments_of(node: &Node) -> Option<std::borrow::Cow<'_, [Segment]>> {
    match node {
        Node::String(s) => Some(std::borrow::Cow::Owned(vec![Segment::Literal(s.clone())])),
        Node::Text(segments) => Some(std::borrow::Cow::Borrowed(segments)),
        _ => None,
    }
}

/// Joins adjacent literals and drops empty ones; a string without placeholders becomes [`Node::String`].
pub fn text_node(segments: Vec<Segment>) -> Node {
    let mut out: Vec<Segment> = Vec::with_capacity(segments.len());
    for segment in segments {
        match (out.last_mut(), segment) {
            (_, Segment::Literal(s)) if s.is_empty() => {}
            (Some(Segment::Literal(last)), Segment::Literal(s)) => last.push_str(&s),
            (_, segment) => out.push(segment),
        }
    }
    match out.as_slice() {
        [] => Node::String(String::new()),
        [Segment::Literal(_)] => match out.pop() {
            Some(Segment::Literal(s)) => Node::String(s),
            _ => unreachable!(),
        },
        _ => Node::Text(out),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ph(kind: &str, n: u32) -> Placeholder {
        Placeholder { kind: kind.into(), n }
    }

    #[test]
    fn text_nodes_merge_literals_and_render_placeholders() {
        let node = text_node(vec![
            Segment::Literal("msg_".into()),
            Segment::Literal(String::new()),
            Segment::Placeholder(ph("uuid7", 3)),
            Segment::Literal(":".into()),
            Segment::Literal("0".into()),
        ]);
        assert_eq!(node.to_value(), json!("msg_<uuid7#3>:0"));
        let Node::Text(segments) = &node else { panic!("{node:?}") };
        assert_eq!(segments.len(), 3);
        assert_eq!(
            text_node(vec![Segment::Literal("a".into()), Segment::Literal("b".into())]),
            Node::String("ab".into())
        );
    }

    #[test]
    fn values_round_trip_and_fingerprints_see_order() {
        let value = json!({"b": [1, "x", null, true], "a": {"c": 1.5}});
        let node = Node::from_value(value.clone());
        assert_eq!(node.to_value(), value);
        let swapped = Node::from_value(json!({"a": {"c": 1.5}, "b": [1, "x", null, true]}));
        let renumbered = |n| Node::Text(vec![Segment::Literal("msg_".into()), Segment::Placeholder(ph("uuid7", n))]);
        assert_eq!(renumbered(1).fingerprint(), renumbered(2).fingerprint());
        assert_ne!(renumbered(1).fingerprint(), Node::String("msg_<uuid7#1>".into()).fingerprint());
        assert_ne!(node.fingerprint(), swapped.fingerprint());
        assert_eq!(node.fingerprint(), Node::from_value(value).fingerprint());
        let masked = Node::Masked(ph("unix_ms", 1), ScalarType::Number);
        assert_eq!(masked.type_name(), "number");
        assert_eq!(masked.to_value_with(&|p| ph(&p.kind, p.n + 1)), json!("<unix_ms#2>"));
    }
}
