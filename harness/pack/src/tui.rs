//! What upstream's interactive interface sends differently from exec, learned from the `tui` scenarios: its
//! originator, each model's recipe as the interface sends it (the first request of the scenario's thread, whose last
//! item is the first text typed), and the request that asks for a thread's title in a session of its own (its
//! metadata says `thread_source: "thread_title"`): its recipe, its prompt around what was typed, its schema.

use std::collections::BTreeMap;

use parity_capture::Capture;
use parity_recorder::Frontend;
use rcodex_prompt_pack::{ContextItem, Family, Part, Tui, keys};
use serde_json::Value;

use super::{Inputs, PackError, ScenarioInput, Texts, agree, id_scheme, merge, observe};

/// The `thread_source` of the title request's turn metadata.
const TITLE_SOURCE: &str = "thread_title";

fn thread_source(capture: &Capture) -> Option<String> {
    let metadata: Value = serde_json::from_str(capture.request.header("x-codex-turn-metadata")?).ok()?;
    metadata.get("thread_source").and_then(Value::as_str).map(str::to_string)
}

pub(crate) fn learn(inputs: &Inputs, texts: &mut Texts) -> Result<Option<Tui>, PackError> {
    let mut originator: Option<(String, String)> = None;
    let mut families: BTreeMap<String, (String, Family)> = BTreeMap::new();
    let mut title_families: BTreeMap<String, (String, Family)> = BTreeMap::new();
    let mut review_families: BTreeMap<String, (String, Family)> = BTreeMap::new();
    for scenario in inputs.scenarios.iter().filter(|s| s.run.frontend == Some(Frontend::Tui)) {
        let fail = |message: String| PackError::Scenario { scenario: scenario.name.clone(), message };
        let Some(typed) = scenario.typed.first() else { continue };
        // The thread's first request: the first that is not a title's and ends with what was typed first.
        let first = scenario.requests.iter().find(|c| {
            thread_source(c).as_deref() != Some(TITLE_SOURCE)
                && c.request.input().last().is_some_and(|last| parity_capture::view::item_text(last) == *typed)
        });
        if let Some(first) = first {
            let seen = observe(scenario, first, typed, keys::tui_text, texts)?;
            agree(&mut originator, &scenario.name, seen.originator.clone(), "the interface's originator header")?;
            match families.get_mut(&seen.model) {
                None => {
                    families.insert(seen.model.clone(), (scenario.name.clone(), seen.family));
                }
                Some((first, family)) => merge(family, first, &scenario.name, seen.family)?,
            }
        }
        if super::tui_review::is_review(scenario) {
            let (model, family) = super::tui_review::learn(scenario, texts)?;
            match review_families.get_mut(&model) {
                None => {
                    review_families.insert(model, (scenario.name.clone(), family));
                }
                Some((first, known)) => merge(known, first, &scenario.name, family)?,
            }
        }
        for capture in scenario.requests.iter().filter(|c| thread_source(c).as_deref() == Some(TITLE_SOURCE)) {
            let (model, family) = title(scenario, capture, texts).map_err(fail)?;
            match title_families.get_mut(&model) {
                None => {
                    title_families.insert(model, (scenario.name.clone(), family));
                }
                Some((first, known)) => merge(known, first, &scenario.name, family)?,
            }
        }
    }
    // A scenario configuring an MCP server shapes the context, so it is among the configured ones.
    let configured = inputs.configured.iter().map(|(scenario, _)| scenario);
    for scenario in inputs.scenarios.iter().chain(configured).filter(|s| s.run.frontend == Some(Frontend::Tui)) {
        super::tui_mcp::learn(scenario, texts)?;
    }
    let Some((_, originator)) = originator else { return Ok(None) };
    let strip = |families: BTreeMap<String, (String, Family)>| families.into_iter().map(|(m, (_, f))| (m, f)).collect();
    Ok(Some(Tui {
        originator,
        families: strip(families),
        title_families: strip(title_families),
        review_families: strip(review_families),
    }))
}

/// The title request's recipe: a Responses Lite model's tools, the model's instructions, the permissions (read-only,
/// the thread's approval policy), an environment context of the date and timezone only, then the prompt (learned
/// with what was typed as its `{{prompt}}`), and its schema.
fn title(scenario: &ScenarioInput, capture: &Capture, texts: &mut Texts) -> Result<(String, Family), String> {
    let request = &capture.request;
    let body = &request.body;
    let model = body.get("model").and_then(Value::as_str).ok_or("a title request has no model")?;
    let metadata: Value = request
        .header("x-codex-turn-metadata")
        .and_then(|m| serde_json::from_str(m).ok())
        .ok_or("a title request has no x-codex-turn-metadata")?;
    let sandbox_mode = metadata.get("sandbox_mode").and_then(Value::as_str).unwrap_or("read-only");
    let input = request.input();
    let (last, context) = input.split_last().ok_or("a title request has no input")?;
    let prompt = parity_capture::view::item_text(last);
    // The longest typed text the prompt ends with is what it was asked for (or what `/review` asked its reviewer).
    let reviewed = super::tui_review::requested(scenario);
    let typed = scenario
        .typed
        .iter()
        .chain(reviewed.iter())
        .filter(|t| !t.is_empty() && prompt.ends_with(t.as_str()))
        .max_by_key(|t| t.len())
        .ok_or_else(|| format!("a title request's prompt ends with nothing the scenario typed: {prompt:?}"))?;
    let template = format!("{}{{{{prompt}}}}", &prompt[..prompt.len() - typed.len()]);
    put(texts, keys::TUI_TITLE_PROMPT, template, scenario)?;
    let schema = body.pointer("/text/format/schema").ok_or("a title request has no text.format.schema")?;
    put(texts, keys::TUI_TITLE_SCHEMA, schema.to_string(), scenario)?;

    let mut recipe = Vec::new();
    let mut seen_instructions = false;
    let mut text_index = 0;
    let network = if sandbox_mode == "danger-full-access" { "enabled" } else { "restricted" };
    for item in context {
        let role = item.get("role").and_then(Value::as_str).unwrap_or_default().to_string();
        let id = item.get("id").and_then(Value::as_str).and_then(id_scheme).ok_or("a title context item has no id")?;
        let item_type = item.get("type").and_then(Value::as_str).unwrap_or("message");
        // A Responses Lite model's tools: the title session's own, which are not its thread's (their `exec` lists
        // other nested tools), hence a key of the title's.
        if item_type == "additional_tools" {
            let tools = item.get("tools").cloned().unwrap_or(Value::Null);
            put(texts, &keys::tui_title_additional_tools(model, network), tools.to_string(), scenario)?;
            recipe.push(ContextItem { item_type: item_type.into(), role, id, parts: Vec::new() });
            continue;
        }
        if item_type != "message" {
            return Err(format!("an unexpected title context item of type {item_type}"));
        }
        let mut parts = Vec::new();
        for part in item.get("content").and_then(Value::as_array).into_iter().flatten() {
            let text = part.get("text").and_then(Value::as_str).unwrap_or_default();
            if !seen_instructions && role == "developer" {
                seen_instructions = true;
                put(texts, &keys::model_instructions(model), text.to_string(), scenario)?;
                parts.push(Part::ModelInstructions);
            } else if text.starts_with("<permissions instructions>") {
                // In read-only, under the thread's approval policy.
                let approval = scenario.run.options.approval.as_str();
                put(texts, &keys::permissions(sandbox_mode, approval), text.to_string(), scenario)?;
                parts.push(Part::Permissions);
            } else if text.starts_with("<environment_context>") {
                let mut template = text.to_string();
                for tag in ["current_date", "timezone"] {
                    let value = super::between(text, &format!("<{tag}>"), &format!("</{tag}>"))
                        .ok_or_else(|| format!("the title's environment context has no <{tag}>"))?;
                    template =
                        template.replace(&format!("<{tag}>{value}</{tag}>"), &format!("<{tag}>{{{{{tag}}}}}</{tag}>"));
                }
                put(texts, keys::TUI_TITLE_ENVIRONMENT, template, scenario)?;
                parts.push(Part::Text(keys::TUI_TITLE_ENVIRONMENT.to_string()));
            } else {
                let key = format!("tui/title/text/{model}/{text_index}");
                text_index += 1;
                put(texts, &key, text.to_string(), scenario)?;
                parts.push(Part::Text(key));
            }
        }
        recipe.push(ContextItem { item_type: "message".into(), role, id, parts });
    }
    let mut tools = BTreeMap::new();
    if let Some(list) = body.get("tools") {
        tools.insert("restricted".to_string(), list.clone());
    }
    let mut client_metadata_keys: Vec<String> =
        body.get("client_metadata").and_then(Value::as_object).map(|m| m.keys().cloned().collect()).unwrap_or_default();
    client_metadata_keys.sort();
    let family = Family {
        learned_from: vec![scenario.name.clone()],
        body_keys: body.as_object().map(|m| m.keys().cloned().collect()).unwrap_or_default(),
        headers: request
            .headers
            .iter()
            .map(|(n, _)| n.to_string())
            .filter(|n| n != "host" && n != "content-length")
            .collect(),
        turn_metadata_keys: metadata.as_object().map(|m| m.keys().cloned().collect()).unwrap_or_default(),
        client_metadata_keys,
        context: recipe,
        tools,
        deferred_tools: Vec::new(),
    };
    Ok((model.to_string(), family))
}

fn put(texts: &mut Texts, key: &str, text: String, scenario: &ScenarioInput) -> Result<(), String> {
    texts.put(key.to_string(), text, &scenario.name).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use parity_capture::Recording;
    use parity_recorder::RunRecord;

    use super::*;

    /// A recorded tui scenario of the bundled baseline, with what it typed.
    fn recorded(name: &str, typed: &[&str]) -> ScenarioInput {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../captures/codex-0.169.0").join(name);
        let run = RunRecord::load(&dir.join("run.json")).unwrap();
        let recording = Recording::load(&dir.join("captures")).unwrap();
        let requests: Vec<Capture> = recording
            .exchanges()
            .map(|e| e.capture.clone())
            .filter(|c| c.request.method == "POST" && c.request.path.ends_with("/responses"))
            .collect();
        ScenarioInput {
            name: name.into(),
            run,
            first_request: requests[0].clone(),
            requests,
            agents_md: None,
            frontend_messages: Vec::new(),
            exec_events: Vec::new(),
            workspace_files: BTreeMap::new(),
            typed: typed.iter().map(|t| t.to_string()).collect(),
            screens: Vec::new(),
            review: Vec::new(),
        }
    }

    #[test]
    fn a_lite_model_s_title_request_teaches_its_own_additional_tools() {
        let scenario = recorded("tui-model", &["Say hello.", "/model", "5", "Say hello again."]);
        let mut texts = Texts::default();
        let mut learned = BTreeMap::new();
        for capture in scenario.requests.iter().filter(|c| thread_source(c).as_deref() == Some(TITLE_SOURCE)) {
            let (model, family) = title(&scenario, capture, &mut texts).unwrap();
            learned.insert(model, (family, capture.request.input()[0].clone()));
        }
        let (lite, first) = &learned["gpt-5.6-sol"];
        assert_eq!(lite.context[0].item_type, "additional_tools");
        assert!(lite.context[0].parts.is_empty());
        assert!(lite.context[1..].iter().all(|item| item.item_type == "message" && !item.parts.is_empty()));
        let texts = texts.into_map();
        let tools = &texts[&keys::tui_title_additional_tools("gpt-5.6-sol", "restricted")];
        assert_eq!(serde_json::from_str::<Value>(tools).unwrap(), first["tools"]);
        // Not the thread's tools: those are exec's key, which a title request does not teach.
        assert!(!texts.contains_key(&keys::additional_tools("gpt-5.6-sol", "restricted")));
        let (plain, _) = &learned["gpt-5.5"];
        assert!(plain.context.iter().all(|item| item.item_type == "message"));
    }
}
