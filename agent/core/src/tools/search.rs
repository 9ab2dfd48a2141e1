//! `tool_search`: upstream's search over the deferred tools.
//!
//! Upstream Codex 0.169.0 keeps some tools out of the request's `tools` ("deferred") and offers them through the
//! client-executed `tool_search` tool. On the exec path with gpt-5.5 they are the five tools of the `multi_agent_v1`
//! namespace; the prompt pack carries their definitions (`Family::deferred_tools`, from recorded
//! `tool_search_output` items).
//!
//! # The call and its answers
//!
//! The arguments are read as `{query: string, limit?: usize}` (unknown keys ignored). Arguments that do not read
//! get no answer at all ([`SearchError::Unreadable`]): upstream drops the call, and the request that follows carries
//! the synthetic empty output its history normalization gives every call without one (see
//! [`crate::items::with_missing_outputs`]). A query that is blank after trimming, or a `limit` of 0, is refused
//! ([`SearchError::Refused`]), which the model sees as an output without tools. The `tool-search` scenario records
//! all three.
//!
//! # Ranking
//!
//! Upstream ranks with the `bm25` crate (2.3.2, English) over one document per deferred tool, and so does this
//! module: the same crate, the same document order, the same limit (8 by default). Upstream breaks ties between
//! equal scores in random order (the crate collects hits in a hash set); here ties keep the order of the deferred
//! tools, so that rcodex answers the same query the same way every time. Hits of one namespace are merged into the
//! first one's place, tools in rank order.
//!
//! # The indexed text
//!
//! For a tool without a search text of its own, upstream indexes the namespace's name and description, then the
//! tool's name, its name with `_` as spaces, its description, and for each JSON-Schema level its description,
//! property names (sorted) and, nested, `items` and `anyOf`: that is [`default_search_text`]. The five multi-agent
//! tools it indexes by keyword lists compiled into it, which never appear on the wire: `parity pack --upstream-bin`
//! reads them out of the pinned release ([`rcodex_prompt_pack::search_keywords`]), and the recorded searches
//! (`tool-search`, `tool-search-keywords`, the sub-agent scenarios) check that they rank as upstream ranks.

use bm25::{Document, Language, SearchEngine, SearchEngineBuilder};
use serde::Deserialize;
use serde_json::Value;

/// How many tools a search returns when the call gives no `limit`.
pub const DEFAULT_LIMIT: usize = 8;

/// Why a search gave no tools of its own.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SearchError {
    /// The arguments did not read: upstream answers nothing (its text is for its log).
    #[error("failed to parse tool_search arguments: {0}")]
    Unreadable(String),
    /// The search was refused: upstream answers an output without tools.
    #[error("{0}")]
    Refused(&'static str),
}

/// The `tools` of the `tool_search_output` answering a call with these arguments (the JSON text of the call's
/// `arguments`), over `deferred` (the pack's deferred tools: namespaces with their tools, or tools outside
/// namespaces), each tool indexed by [`default_search_text`].
pub fn tool_search(deferred: &[Value], arguments: &str) -> Result<Vec<Value>, SearchError> {
    ToolSearchIndex::new(deferred).search(arguments)
}

/// The arguments upstream reads; the name matters: serde's messages name the struct (`expected struct
/// SearchToolCallParams`).
#[derive(Deserialize)]
struct SearchToolCallParams {
    query: String,
    #[serde(default)]
    limit: Option<usize>,
}

/// The deferred tools, indexed for searching.
pub struct ToolSearchIndex {
    /// Per document (one per deferred tool, in the order of `deferred`): what a hit returns.
    outputs: Vec<Value>,
    engine: SearchEngine<usize>,
}

impl ToolSearchIndex {
    /// Each tool indexed by upstream's keyword list for it (the prompt pack's [`rcodex_prompt_pack::search_keywords`]),
    /// else by [`default_search_text`].
    pub fn new(deferred: &[Value]) -> ToolSearchIndex {
        let keywords = rcodex_prompt_pack::search_keywords();
        ToolSearchIndex::with_search_texts(deferred, |namespace, tool| {
            let name = tool.get("name").and_then(Value::as_str).unwrap_or_default();
            keywords.get(name).cloned().unwrap_or_else(|| default_search_text(namespace, tool))
        })
    }

    /// Each tool indexed by the text `search_text(namespace, tool)` gives (`namespace` without its `tools`).
    pub fn with_search_texts(
        deferred: &[Value],
        search_text: impl Fn(Option<&Value>, &Value) -> String,
    ) -> ToolSearchIndex {
        let mut outputs = Vec::new();
        let mut texts = Vec::new();
        for entry in deferred {
            if entry.get("type").and_then(Value::as_str) == Some("namespace") {
                let mut namespace = entry.clone();
                namespace["tools"] = Value::Array(Vec::new());
                for tool in entry.get("tools").and_then(Value::as_array).into_iter().flatten() {
                    texts.push(search_text(Some(&namespace), tool));
                    let mut output = namespace.clone();
                    output["tools"] = Value::Array(vec![tool.clone()]);
                    outputs.push(output);
                }
            } else {
                texts.push(search_text(None, entry));
                outputs.push(entry.clone());
            }
        }
        let documents: Vec<Document<usize>> =
            texts.into_iter().enumerate().map(|(id, text)| Document::new(id, text)).collect();
        let engine = SearchEngineBuilder::<usize>::with_documents(Language::English, documents).build();
        ToolSearchIndex { outputs, engine }
    }

    /// As [`tool_search`].
    pub fn search(&self, arguments: &str) -> Result<Vec<Value>, SearchError> {
        // Read as a JSON value first, as upstream does: serde's messages then carry no position.
        let unreadable = |e: serde_json::Error| SearchError::Unreadable(e.to_string());
        let value: Value = serde_json::from_str(arguments).map_err(unreadable)?;
        let params: SearchToolCallParams = serde_json::from_value(value).map_err(unreadable)?;
        let query = params.query.trim();
        if query.is_empty() {
            return Err(SearchError::Refused("query must not be empty"));
        }
        let limit = params.limit.unwrap_or(DEFAULT_LIMIT);
        if limit == 0 {
            return Err(SearchError::Refused("limit must be greater than zero"));
        }
        // Every hit, then ties in document order, then the limit: the crate alone would cut ties at random.
        let mut hits = self.engine.search(query, self.outputs.len());
        hits.sort_by(|a, b| b.score.total_cmp(&a.score).then(a.document.id.cmp(&b.document.id)));
        Ok(coalesce(hits.into_iter().take(limit).map(|hit| self.outputs[hit.document.id].clone())))
    }
}

/// Outputs of the same namespace merged into the first one's place, in order; tools outside namespaces as they are.
fn coalesce(outputs: impl IntoIterator<Item = Value>) -> Vec<Value> {
    let mut merged: Vec<Value> = Vec::new();
    for output in outputs {
        let namespace = (output.get("type").and_then(Value::as_str) == Some("namespace"))
            .then(|| output.get("name").and_then(Value::as_str).map(str::to_string))
            .flatten();
        let existing = namespace.as_deref().and_then(|name| {
            merged.iter_mut().find(|m| {
                m.get("type").and_then(Value::as_str) == Some("namespace")
                    && m.get("name").and_then(Value::as_str) == Some(name)
            })
        });
        match existing {
            Some(existing) => {
                let tools = output.get("tools").and_then(Value::as_array).cloned().unwrap_or_default();
                if let Some(list) = existing.get_mut("tools").and_then(Value::as_array_mut) {
                    list.extend(tools);
                }
            }
            None => merged.push(output),
        }
    }
    merged
}

/// The text upstream indexes for a tool that has none of its own: the namespace's name and description, then the
/// tool's name, its name with `_` as spaces, its description, and its parameters' descriptions and property names
/// (a custom tool: its name, description and format syntax); trimmed parts, empty ones skipped, joined with spaces.
pub fn default_search_text(namespace: Option<&Value>, tool: &Value) -> String {
    let mut parts = Vec::new();
    let text = |v: &Value, key: &str| v.get(key).and_then(Value::as_str).unwrap_or_default().to_string();
    if let Some(namespace) = namespace {
        push_part(&mut parts, text(namespace, "name"));
        push_part(&mut parts, text(namespace, "description"));
    }
    let name = text(tool, "name");
    if tool.get("type").and_then(Value::as_str) == Some("custom") {
        push_part(&mut parts, name);
        push_part(&mut parts, text(tool, "description"));
        push_part(&mut parts, tool.get("format").map(|f| text(f, "syntax")).unwrap_or_default());
    } else {
        push_part(&mut parts, name.clone());
        push_part(&mut parts, name.replace('_', " "));
        push_part(&mut parts, text(tool, "description"));
        if let Some(parameters) = tool.get("parameters") {
            schema_parts(parameters, &mut parts);
        }
    }
    parts.join(" ")
}

fn schema_parts(schema: &Value, parts: &mut Vec<String>) {
    if let Some(description) = schema.get("description").and_then(Value::as_str) {
        push_part(parts, description.to_string());
    }
    if let Some(properties) = schema.get("properties").and_then(Value::as_object) {
        let mut names: Vec<&String> = properties.keys().collect();
        names.sort();
        for name in names {
            push_part(parts, name.clone());
            schema_parts(&properties[name], parts);
        }
    }
    if let Some(items) = schema.get("items") {
        schema_parts(items, parts);
    }
    if let Some(variants) = schema.get("anyOf").and_then(Value::as_array) {
        for variant in variants {
            schema_parts(variant, parts);
        }
    }
}

fn push_part(parts: &mut Vec<String>, part: String) {
    let part = part.trim();
    if !part.is_empty() {
        parts.push(part.to_string());
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use serde_json::json;

    use super::*;

    /// The deferred tools of the default model, as the embedded pack has them.
    fn deferred() -> Vec<Value> {
        rcodex_prompt_pack::embedded().families["gpt-5.5"].deferred_tools.clone()
    }

    fn names(tools: &[Value]) -> Vec<Vec<String>> {
        tools
            .iter()
            .map(|entry| match entry.get("tools").and_then(Value::as_array) {
                Some(list) => list.iter().map(|t| t["name"].as_str().unwrap_or_default().to_string()).collect(),
                None => vec![entry["name"].as_str().unwrap_or_default().to_string()],
            })
            .collect()
    }

    /// Every (tool_search_call, tool_search_output) pair of the recorded `tool-search` scenario, from its last
    /// request (which carries the whole history).
    fn recorded() -> Vec<(Value, Value)> {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../captures/codex-0.169.0/tool-search/captures/session-01");
        let mut files: Vec<_> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|x| x == "json"))
            .collect();
        files.sort();
        let last: Value = serde_json::from_str(&std::fs::read_to_string(files.last().unwrap()).unwrap()).unwrap();
        let input = last["request"]["body"]["input"].as_array().unwrap().clone();
        let of_type = |t: &str| input.iter().filter(|i| i["type"] == t).cloned().collect::<Vec<_>>();
        let outputs = of_type("tool_search_output");
        of_type("tool_search_call")
            .into_iter()
            .map(|call| {
                let output = outputs.iter().find(|o| o["call_id"] == call["call_id"]).cloned();
                (call, output.expect("every recorded call has its output"))
            })
            .collect()
    }

    #[test]
    fn recorded_errors_and_empty_results_are_upstreams() {
        let deferred = deferred();
        let pairs = recorded();
        assert_eq!(pairs.len(), 6);
        let mut checked = 0;
        for (call, output) in &pairs {
            let arguments = call["arguments"].to_string();
            let ours = tool_search(&deferred, &arguments);
            let recorded = output["tools"].as_array().unwrap();
            let expected = match call["call_id"].as_str().unwrap() {
                "call_search_nothing" => Ok(Vec::new()),
                "call_search_empty" => Err(SearchError::Refused("query must not be empty")),
                "call_search_zero" => Err(SearchError::Refused("limit must be greater than zero")),
                "call_search_noquery" => Err(SearchError::Unreadable("missing field `query`".to_string())),
                _ => continue,
            };
            assert!(recorded.is_empty(), "upstream answered {arguments} with no tools");
            assert_eq!(ours, expected, "{arguments}");
            checked += 1;
        }
        assert_eq!(checked, 4);
    }

    /// Upstream's hits, in its order, rebuilt from the pack's definitions, group into the namespace exactly as
    /// recorded; the pack holds every tool any recorded search found, and only those.
    #[test]
    fn recorded_hits_group_like_upstream_and_the_pack_holds_every_deferred_tool() {
        let deferred = deferred();
        let index = ToolSearchIndex::new(&deferred);
        let by_name = |name: &str| -> Value {
            let at = index
                .outputs
                .iter()
                .position(|o| o["tools"][0]["name"] == name)
                .unwrap_or_else(|| panic!("{name} is not among the pack's deferred tools"));
            index.outputs[at].clone()
        };
        let mut found = HashSet::new();
        for (call, output) in recorded() {
            let recorded = output["tools"].as_array().unwrap();
            if recorded.is_empty() {
                continue;
            }
            let ranked: Vec<String> = names(recorded).concat();
            let limit = call["arguments"]["limit"].as_u64().map(|l| l as usize).unwrap_or(DEFAULT_LIMIT);
            assert!(ranked.len() <= limit);
            assert_eq!(coalesce(ranked.iter().map(|n| by_name(n))), *recorded);
            found.extend(ranked);
        }
        let mut all: Vec<String> = names(&deferred).concat();
        all.sort();
        let mut found: Vec<String> = found.into_iter().collect();
        found.sort();
        assert_eq!(found, all);
        assert_eq!(all, ["close_agent", "resume_agent", "send_input", "spawn_agent", "wait_agent"]);
    }

    /// With the default texts the recorded queries find the same tools as upstream (every deferred tool shares the
    /// word "agent" with them), but not in upstream's order: upstream ranks the multi-agent tools by keyword lists
    /// of its own (see the module documentation).
    #[test]
    fn default_texts_find_upstreams_tools_in_their_own_order() {
        let deferred = deferred();
        for (call, output) in recorded() {
            let recorded = output["tools"].as_array().unwrap();
            if recorded.is_empty() || call["arguments"].get("limit").is_some() {
                continue;
            }
            let ours = tool_search(&deferred, &call["arguments"].to_string()).unwrap();
            let mut theirs = names(recorded).concat();
            let mut mine = names(&ours).concat();
            theirs.sort();
            mine.sort();
            assert_eq!(mine, theirs);
        }
    }

    #[test]
    fn argument_errors_are_upstreams() {
        let deferred = deferred();
        let cases = [
            ("{\"query\": \"  \\n\"}", "query must not be empty"),
            ("{\"query\": \"agent\", \"limit\": 0}", "limit must be greater than zero"),
            ("{}", "failed to parse tool_search arguments: missing field `query`"),
            ("{\"limit\": 2}", "failed to parse tool_search arguments: missing field `query`"),
            ("{\"query\": 5}", "failed to parse tool_search arguments: invalid type: integer `5`, expected a string"),
            (
                "{\"query\": \"x\", \"limit\": 2.0}",
                "failed to parse tool_search arguments: invalid type: floating point `2.0`, expected usize",
            ),
            (
                "{\"query\": \"x\", \"limit\": -1}",
                "failed to parse tool_search arguments: invalid value: integer `-1`, expected usize",
            ),
            (
                "\"agent\"",
                "failed to parse tool_search arguments: invalid type: string \"agent\", expected struct \
                 SearchToolCallParams",
            ),
            ("null", "failed to parse tool_search arguments: invalid type: null, expected struct SearchToolCallParams"),
        ];
        for (arguments, error) in cases {
            let found = tool_search(&deferred, arguments).map_err(|e| e.to_string());
            assert_eq!(found, Err(error.to_string()), "{arguments}");
        }
        // Unknown keys are ignored; with nothing deferred, a valid search finds nothing.
        assert_eq!(tool_search(&[], "{\"query\": \"agent\", \"extra\": true}"), Ok(Vec::new()));
        assert_eq!(tool_search(&[], "{\"query\": \" \"}"), Err(SearchError::Refused("query must not be empty")));
    }

    #[test]
    fn ties_keep_the_order_of_the_deferred_tools_and_namespaces_group_in_rank_order() {
        let tool = |name: &str, description: &str| {
            json!({"type": "function", "name": name, "description": description, "strict": false,
                   "defer_loading": true, "parameters": {"type": "object", "properties": {}}})
        };
        let namespace = |name: &str, tools: Vec<Value>| json!({"type": "namespace", "name": name, "description": format!("Tools of {name}."), "tools": tools});
        let deferred = vec![
            namespace("calendar", vec![tool("list_events", "List events."), tool("create_event", "Create events.")]),
            tool("lookup", "Look up events by name."),
            namespace("mail", vec![tool("send_mail", "Send mail about events.")]),
        ];
        // "events" ties list_events and create_event (same length, same tokens but one): document order.
        let found = tool_search(&deferred, "{\"query\": \"events\"}").unwrap();
        assert_eq!(names(&found), [vec!["list_events", "create_event"], vec!["lookup"], vec!["send_mail"]]);
        assert_eq!(found[0]["description"], "Tools of calendar.");
        let found = tool_search(&deferred, "{\"query\": \"send mail about created events\", \"limit\": 2}").unwrap();
        assert_eq!(names(&found), [vec!["send_mail"], vec!["create_event"]]);
        assert_eq!(found[0]["name"], "mail");
        assert_eq!(found[1]["name"], "calendar");
    }

    #[test]
    fn search_texts_can_be_given() {
        let tool = |name: &str| json!({"type": "function", "name": name, "description": "", "parameters": {}});
        let deferred =
            vec![json!({"type": "namespace", "name": "ns", "description": "d", "tools": [tool("a"), tool("b")]})];
        assert_eq!(
            default_search_text(
                Some(&deferred[0]),
                &json!({"type": "function", "name": "send_input", "description": " Send. ",
                "parameters": {"type": "object", "description": "", "properties": {"z": {"type": "string", "description": "Zed."},
                "items": {"type": "array", "items": {"type": "object", "properties": {"text": {"type": "string"}}}}}}})
            ),
            "ns d send_input send input Send. items text z Zed."
        );
        let index = ToolSearchIndex::with_search_texts(&deferred, |_, tool| {
            if tool["name"] == "b" { "penguin penguin".into() } else { "penguin walrus".into() }
        });
        let found = index.search("{\"query\": \"penguin\"}").unwrap();
        assert_eq!(names(&found), [vec!["b", "a"]]);
        assert!(ToolSearchIndex::new(&deferred).search("{\"query\": \"penguin\"}").unwrap().is_empty());
    }
}
