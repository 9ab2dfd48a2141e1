//! Scenarios whose configuration changes the context (developer instructions, another instructions file, project
//! docs under other names, a global AGENTS.md, web search, the network, piped stdin): their first request is not a
//! model's plain recipe, so the recipes are not learned from them; they show a few texts of their own, learned here.

use parity_recorder::Scenario;
use rcodex_prompt_pack::keys;
use serde_json::Value;

use crate::{PackError, ScenarioInput, Texts, permissions_template, run_values};

/// Config keys that change what the first request holds.
const CONTEXT_KEYS: [&str; 6] = [
    "developer_instructions",
    "personality",
    "model_instructions_file",
    "project_doc_fallback_filenames",
    "web_search",
    "sandbox_workspace_write",
];

const BYPASS_HOOK_TRUST: &str = "--dangerously-bypass-hook-trust";

pub(crate) fn shapes_context(scenario: &Scenario) -> bool {
    CONTEXT_KEYS.iter().any(|key| scenario.agent.config.contains_key(*key))
        || crate::mcp::configures_mcp(scenario)
        || !scenario.home_files.is_empty()
        || scenario.agent.stdin.is_some()
        || scenario.agent.args.iter().any(|a| a == "-i" || a.starts_with("--image") || a == BYPASS_HOOK_TRUST)
}

/// The texts the configured scenarios show: the permissions of a workspace-write sandbox with the network, the
/// separator upstream puts between the global AGENTS.md and the project's, and the frame of piped stdin.
pub(crate) fn learn(
    configured: &[(ScenarioInput, Scenario)],
    catalog: &Value,
    texts: &mut Texts,
) -> Result<(), PackError> {
    for (input, scenario) in configured {
        let fail = |message: &str| PackError::Scenario { scenario: input.name.clone(), message: message.into() };
        let body = &input.first_request.request.body;
        let items: Vec<&Value> = body.get("input").and_then(Value::as_array).into_iter().flatten().collect();
        let texts_of = |item: &Value| -> Vec<String> {
            let parts = item.get("content").and_then(Value::as_array).into_iter().flatten();
            parts.filter_map(|p| p.get("text").and_then(Value::as_str).map(str::to_string)).collect()
        };
        let all: Vec<String> = items.iter().flat_map(|i| texts_of(i)).collect();
        let network = scenario
            .agent
            .config
            .get("sandbox_workspace_write")
            .and_then(|t| t.get("network_access"))
            .and_then(|v| v.as_bool())
            .unwrap_or(false);
        if network && scenario.agent.sandbox.as_deref() == Some("workspace-write") {
            let context: Vec<Value> = items.iter().map(|i| (*i).clone()).collect();
            let values = run_values(&context).ok_or_else(|| fail("no <environment_context> with a <cwd>"))?;
            let text = all
                .iter()
                .find(|t| t.starts_with("<permissions instructions>"))
                .ok_or_else(|| fail("network_access = true, but no permissions were sent"))?;
            let key = keys::permissions_with_network("workspace-write", "never");
            texts.put(key, permissions_template(text, &values), &input.name)?;
        }
        if let (Some(global), Some(project)) = (scenario.home_files.get(".codex/AGENTS.md"), &input.agents_md) {
            let global = String::from_utf8_lossy(global).trim().to_string();
            let separator = all
                .iter()
                .find_map(|t| {
                    let after = &t[t.find(&global)? + global.len()..];
                    Some(after[..after.find(project.as_str())?].to_string())
                })
                .ok_or_else(|| fail("the global and the project's AGENTS.md were not sent one after the other"))?;
            texts.put(keys::AGENTS_MD_GLOBAL_SEPARATOR.into(), separator, &input.name)?;
        }
        if scenario.agent.config.get("personality").and_then(|p| p.as_str()) == Some("none") {
            let model = body.get("model").and_then(Value::as_str).unwrap_or_default();
            let recorded = texts.0.get(&keys::model_instructions(model)).map(|(_, text)| text.clone());
            let heading = personality_heading(catalog, model, recorded, &all)
                .ok_or_else(|| fail("personality = none, but no section of the catalog's instructions was left out"))?;
            texts.put(keys::PERSONALITY_HEADING.into(), heading, &input.name)?;
        }
        if scenario.agent.args.iter().any(|a| a == BYPASS_HOOK_TRUST) {
            let warning = input
                .exec_events
                .iter()
                .find(|e| e["type"] == "item.completed" && e["item"]["type"] == "error")
                .and_then(|e| e["item"]["message"].as_str())
                .ok_or_else(|| fail("--dangerously-bypass-hook-trust, but exec gave no warning"))?;
            texts.put(keys::BYPASS_HOOK_TRUST_WARNING.into(), warning.to_string(), &input.name)?;
        }
        if let Some(stdin) = &scenario.agent.stdin {
            let prompt = input.run.turns.first().map(|t| t.prompt.as_str()).unwrap_or_default();
            let last = items.last().map(|i| texts_of(i).concat()).unwrap_or_default();
            let frame = last
                .strip_prefix(prompt)
                .and_then(|rest| rest.find(stdin.as_str()).map(|at| (rest, at)))
                .map(|(rest, at)| format!("{{{{prompt}}}}{}{{{{stdin}}}}{}", &rest[..at], &rest[at + stdin.len()..]))
                .ok_or_else(|| fail("the prompt with its stdin was not the last input"))?;
            texts.put(keys::STDIN_PROMPT.into(), frame, &input.name)?;
        }
    }
    Ok(())
}

/// The heading of the section upstream leaves out of the model's instructions for `personality = "none"`: the
/// first line of what the model's instructions have and the sent ones lack, where that is one block of lines.
fn personality_heading(catalog: &Value, model: &str, recorded: Option<String>, sent: &[String]) -> Option<String> {
    // The model's instructions as a plain run sent them, else the catalog's template (the pack keeps no copy of it).
    let full = recorded.or_else(|| {
        let models = catalog.get("models").and_then(Value::as_array)?;
        let entry = models.iter().find(|m| m.get("slug").and_then(Value::as_str) == Some(model))?;
        entry.pointer("/model_messages/instructions_template").and_then(Value::as_str).map(str::to_string)
    })?;
    let full = full.as_str();
    let lacking = sent.iter().find(|t| t.len() < full.len() && full.starts_with(&t[..t.len().min(40)]))?;
    let start = full.bytes().zip(lacking.bytes()).take_while(|(a, b)| a == b).count();
    let start = full[..start].rfind('\n').map_or(0, |i| i + 1);
    let removed = full.len() - lacking.len();
    if full[start + removed..] != lacking[start..] {
        return None;
    }
    full[start..].lines().next().map(str::to_string)
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    /// Removed on drop.
    struct Baseline(std::path::PathBuf);

    impl Baseline {
        fn path(&self) -> &Path {
            &self.0
        }
    }

    impl Drop for Baseline {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    #[test]
    fn configured_runs_teach_their_texts_and_no_recipe() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let dir = std::env::temp_dir().join(format!("parity-pack-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let baseline = Baseline(dir);
        let names = [
            "plain-reply",
            "config-global-agents-md",
            "config-hooks",
            "config-network-access",
            "config-personality",
            "config-stdin",
        ];
        for name in names.iter().chain(&["models.json"]) {
            let target = root.join("captures/codex-0.169.0").join(name);
            std::os::unix::fs::symlink(target, baseline.path().join(name)).unwrap();
        }
        let inputs = crate::load(baseline.path(), &root.join("fixtures/scenarios")).unwrap();
        let configured: Vec<&str> = inputs.configured.iter().map(|(input, _)| input.name.as_str()).collect();
        assert_eq!(configured, &names[1..], "kept apart from the recipes' runs");
        let pack = crate::extract(&inputs).unwrap();
        assert_eq!(pack.families["gpt-5.5"].learned_from, ["plain-reply"]);
        let stdin = pack.text(keys::STDIN_PROMPT).unwrap();
        assert!(stdin.starts_with("{{prompt}}") && stdin.contains("{{stdin}}"), "{stdin}");
        let network = pack.text(&keys::permissions_with_network("workspace-write", "never")).unwrap();
        assert!(network.contains("{{writable_roots}}") && !network.contains("parity-runs"), "{network}");
        assert_ne!(Some(network), pack.text(&keys::permissions("workspace-write", "never")));
        let separator = pack.text(keys::AGENTS_MD_GLOBAL_SEPARATOR).unwrap();
        assert!(!separator.is_empty() && !separator.contains("instructions"), "{separator:?}");
        let heading = pack.text(keys::PERSONALITY_HEADING).unwrap();
        assert!(heading.starts_with("# ") && !heading.contains('\n'), "{heading:?}");
        let warning = pack.text(keys::BYPASS_HOOK_TRUST_WARNING).unwrap();
        assert!(warning.contains("--dangerously-bypass-hook-trust"), "{warning}");
    }
}
