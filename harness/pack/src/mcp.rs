//! What the scenarios with MCP servers (`mcp_servers` in their config) show: how the context names a server's
//! namespace, the namespace's description in `tool_search` answers, and the resource tools the request offers then.

use std::collections::BTreeMap;

use parity_recorder::Scenario;
use rcodex_prompt_pack::{Family, keys};
use serde_json::{Value, json};

use crate::{PackError, ScenarioInput, Texts};

pub(crate) fn configures_mcp(scenario: &Scenario) -> bool {
    scenario.agent.config.contains_key("mcp_servers")
}

/// Learns the MCP texts from the configured runs that have MCP servers; `families` are the recipes learned from
/// the plain runs, by model (with the scenario that first showed each).
pub(crate) fn learn(
    configured: &[(ScenarioInput, Scenario)],
    families: &BTreeMap<String, (String, Family)>,
    interface: bool,
    texts: &mut Texts,
) -> Result<(), PackError> {
    // The interface's requests follow recipes of their own (`tui::learn`): `interface` says whether `families` are
    // its recipes or exec's, and its runs teach only how its own texts read with MCP servers.
    let taught = |input: &ScenarioInput| (input.run.frontend == Some(parity_recorder::Frontend::Tui)) == interface;
    for (input, scenario) in configured.iter().filter(|(input, s)| configures_mcp(s) && taught(input)) {
        let fail = |message: String| PackError::Scenario { scenario: input.name.clone(), message };
        let servers: Vec<String> = scenario
            .agent
            .config
            .get("mcp_servers")
            .and_then(|s| s.as_table())
            .map(|t| t.keys().cloned().collect())
            .unwrap_or_default();
        let namespaces: Vec<String> = servers.iter().map(|s| format!("mcp__{s}")).collect();
        let body = &input.first_request.request.body;
        let model = body.get("model").and_then(Value::as_str).unwrap_or_default();
        let Some((_, family)) = families.get(model) else { continue };

        // The context text that names the namespaces: their lines become `{{mcp_namespaces}}`, and the rest must
        // be a text of the plain recipe.
        let parts = body
            .get("input")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .flat_map(|item| item.get("content").and_then(Value::as_array).into_iter().flatten())
            .filter_map(|part| part.get("text").and_then(Value::as_str));
        for text in parts {
            let lines: Vec<&str> = text.split_inclusive('\n').collect();
            let Some(first) = lines.iter().position(|l| namespaces.iter().any(|n| names(l, n))) else { continue };
            let count = lines[first..].iter().take_while(|l| namespaces.iter().any(|n| names(l, n))).count();
            if count != namespaces.len() {
                return Err(fail(format!("the context names {count} MCP namespaces of {}", namespaces.len())));
            }
            let line = lines[first].replace(&namespaces[0], "{{namespace}}");
            texts.put(keys::MCP_NAMESPACE_LINE.into(), line, &input.name)?;
            let template =
                format!("{}{{{{mcp_namespaces}}}}{}", lines[..first].concat(), lines[first + count..].concat());
            let plain = template.replace("{{mcp_namespaces}}", "");
            // The recipe's own fixed texts: several models' recipes may hold the same text under their own keys.
            let key = family
                .context
                .iter()
                .flat_map(|item| &item.parts)
                .filter_map(|part| match part {
                    rcodex_prompt_pack::Part::Text(key) => Some(key),
                    _ => None,
                })
                .find(|key| texts.0.get(*key).is_some_and(|(_, t)| *t == plain))
                .cloned()
                .ok_or_else(|| {
                    fail("the text naming the MCP namespaces is no plain recipe's text without them".into())
                })?;
            texts.put(keys::mcp_text(&key), template, &input.name)?;
        }
        if interface {
            continue;
        }

        // The namespace's description in the answers of tool_search.
        for request in &input.requests {
            let items = request.request.body.get("input").and_then(Value::as_array).into_iter().flatten();
            for output in items.filter(|i| i["type"] == "tool_search_output") {
                for entry in output.get("tools").and_then(Value::as_array).into_iter().flatten() {
                    let Some(name) = entry.get("name").and_then(Value::as_str) else { continue };
                    if let (true, Some(description)) =
                        (namespaces.iter().any(|n| n == name), entry.get("description").and_then(Value::as_str))
                    {
                        texts.put(
                            keys::MCP_NAMESPACE_DESCRIPTION.into(),
                            description.replace(name, "{{namespace}}"),
                            &input.name,
                        )?;
                    }
                }
            }
        }

        if let Some(value) = extra_tools(body, family).map_err(|e| fail(format!("the MCP resource tools {e}")))? {
            texts.put(keys::MCP_RESOURCE_TOOLS.into(), value.to_string(), &input.name)?;
        }
    }
    Ok(())
}

/// The tools a request offers beyond its recipe's, as `{"after": <the recipe's tool they follow>, "tools": [...]}`
/// (none when it offers none); they must be one run after a tool of the recipe.
pub(crate) fn extra_tools(body: &Value, family: &Family) -> Result<Option<Value>, String> {
    let sent: Vec<&Value> = body.get("tools").and_then(Value::as_array).into_iter().flatten().collect();
    let name_of = |t: &Value| t.get("name").and_then(Value::as_str).unwrap_or_default().to_string();
    let plain = family.tools.values().find_map(|tools| {
        let plain: Vec<&Value> = tools.as_array()?.iter().collect();
        let extra: Vec<&Value> = sent.iter().filter(|t| !plain.contains(t)).copied().collect();
        (sent.len() == plain.len() + extra.len()).then_some(extra)
    });
    let Some(extra) = plain.filter(|extra| !extra.is_empty()) else { return Ok(None) };
    let at = sent.iter().position(|t| *t == extra[0]).unwrap_or_default();
    if at == 0 || sent[at..at + extra.len()].iter().zip(&extra).any(|(a, b)| a != b) {
        return Err("are not one run after a recipe's tool".into());
    }
    Ok(Some(json!({"after": name_of(sent[at - 1]), "tools": extra})))
}

/// Whether a line of the deferred-namespaces list names this namespace (`- mcp__x` or `- mcp__x: ...`).
fn names(line: &str, namespace: &str) -> bool {
    let line = line.trim_end();
    line.strip_prefix("- ")
        .and_then(|rest| rest.strip_prefix(namespace))
        .is_some_and(|rest| rest.is_empty() || rest.starts_with(':'))
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    #[test]
    fn mcp_runs_teach_the_namespace_texts_and_the_resource_tools() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let dir = tempfile::tempdir().unwrap();
        for name in ["plain-reply", "tool-search", "mcp-tools", "models.json"] {
            let target = root.join("captures/codex-0.169.0").join(name);
            std::os::unix::fs::symlink(target, dir.path().join(name)).unwrap();
        }
        let inputs = crate::load(dir.path(), &root.join("fixtures/scenarios")).unwrap();
        assert!(inputs.configured.iter().any(|(input, _)| input.name == "mcp-tools"), "kept apart from the recipes");
        let pack = crate::extract(&inputs).unwrap();
        assert_eq!(pack.text(keys::MCP_NAMESPACE_LINE), Some("- {{namespace}}\n"));
        let description = pack.text(keys::MCP_NAMESPACE_DESCRIPTION).unwrap();
        assert!(description.contains("{{namespace}}") && !description.contains("fixture"), "{description}");
        let with_servers: Vec<(&String, &String)> =
            pack.texts.iter().filter(|(key, _)| key.starts_with("mcp/text/gpt-5.5/")).collect();
        assert_eq!(with_servers.len(), 1, "one text of the gpt-5.5 recipe names the namespaces");
        let (key, template) = with_servers[0];
        let plain = pack.text(key.strip_prefix("mcp/").unwrap()).unwrap();
        assert_eq!(template.replace("{{mcp_namespaces}}", ""), plain);
        let resource: Value = serde_json::from_str(pack.text(keys::MCP_RESOURCE_TOOLS).unwrap()).unwrap();
        let names: Vec<&str> =
            resource["tools"].as_array().unwrap().iter().filter_map(|t| t["name"].as_str()).collect();
        assert_eq!(names, ["list_mcp_resources", "list_mcp_resource_templates", "read_mcp_resource"]);
        let recipe_names = |tools: &Value| -> Vec<String> {
            tools.as_array().into_iter().flatten().filter_map(|t| t["name"].as_str().map(str::to_string)).collect()
        };
        assert!(
            pack.families["gpt-5.5"].tools.values().all(|tools| !recipe_names(tools).iter().any(|n| n.contains("mcp"))),
            "the plain recipe's tools are not learned from the MCP run"
        );
    }
}
