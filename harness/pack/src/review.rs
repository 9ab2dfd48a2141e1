//! What upstream's code review (`exec review TARGET`) sends, learned from the review scenarios: the sub-agent's
//! recipe for each model (its context is exec's with other instructions, its tools, headers and metadata its own), the
//! instructions, the request it builds for each kind of target (the target's values becoming placeholders), and the
//! lines that head the findings in the message exec prints.

use std::collections::BTreeMap;

use rcodex_prompt_pack::{Review, keys};
use serde_json::Value;

use super::{Exchange, Inputs, PackError, ScenarioInput, Texts, merge, observe};

/// Whether a recorded scenario is a review (its first turn ran `exec review`).
pub(crate) fn is_review(scenario: &ScenarioInput) -> bool {
    !scenario.review.is_empty()
}

pub(crate) fn learn(inputs: &Inputs, texts: &mut Texts) -> Result<Option<Review>, PackError> {
    let mut families: BTreeMap<String, (String, rcodex_prompt_pack::Family)> = BTreeMap::new();
    for scenario in inputs.scenarios.iter().filter(|s| is_review(s)) {
        let fail = |message: String| PackError::Scenario { scenario: scenario.name.clone(), message };
        let input = scenario.first_request.request.input();
        let request_text = input.last().map(parity_capture::view::item_text).unwrap_or_default();
        // The context is read as exec's is, apart: its first developer text is the review's instructions, not the
        // model's, and its other texts must be exec's own (rcodex sends exec's there).
        let mut own = Texts::default();
        let seen = observe(scenario, &scenario.first_request, &request_text, keys::text, &mut own)?;
        let mut own = own.into_map();
        let instructions = own
            .remove(&keys::model_instructions(&seen.model))
            .ok_or_else(|| fail("the review's request has no instructions".into()))?;
        for (key, text) in own {
            if texts.0.get(&key).is_some_and(|(_, known)| *known != text) {
                return Err(fail(format!("the review's {key} differs from exec's")));
            }
        }
        texts.put(keys::REVIEW_INSTRUCTIONS.to_string(), instructions, &scenario.name)?;
        let (key, template) = request_template(&scenario.review, &request_text).map_err(&fail)?;
        texts.put(key.to_string(), template, &scenario.name)?;
        if let Some((key, header)) = findings_header(scenario).map_err(&fail)? {
            texts.put(key.to_string(), header, &scenario.name)?;
        }
        match families.get_mut(&seen.model) {
            None => {
                families.insert(seen.model.clone(), (scenario.name.clone(), seen.family));
            }
            Some((first, family)) => merge(family, first, &scenario.name, seen.family)?,
        }
    }
    if families.is_empty() {
        return Ok(None);
    }
    Ok(Some(Review { families: families.into_iter().map(|(model, (_, family))| (model, family)).collect() }))
}

/// The request upstream built for the target `args` (the scenario's `agent.review`), its values as placeholders.
fn request_template(args: &[String], text: &str) -> Result<(&'static str, String), String> {
    let value = |flag: &str| args.iter().position(|a| a == flag).and_then(|i| args.get(i + 1)).map(String::as_str);
    let replace = |text: &str, value: &str, name: &str| -> Result<String, String> {
        let replaced = replace_word(text, value, &format!("{{{{{name}}}}}"));
        if replaced == text {
            return Err(format!("the review's request does not name its {name} {value:?}: {text:?}"));
        }
        Ok(replaced)
    };
    if args.iter().any(|a| a == "--uncommitted") {
        return Ok((keys::REVIEW_PROMPT_UNCOMMITTED, text.to_string()));
    }
    if let Some(sha) = value("--commit") {
        let template = replace(text, sha, "sha")?;
        return match value("--title") {
            Some(title) => Ok((keys::REVIEW_PROMPT_COMMIT_TITLED, replace(&template, title, "title")?)),
            None => Ok((keys::REVIEW_PROMPT_COMMIT, template)),
        };
    }
    if let Some(branch) = value("--base") {
        // The merge base is the one full commit hash the request names.
        let merge_base = text
            .split(|c: char| !c.is_ascii_hexdigit())
            .find(|word| word.len() == 40)
            .ok_or_else(|| format!("the review's request against {branch} names no merge base: {text:?}"))?;
        let template = replace(text, merge_base, "merge_base")?;
        return Ok((keys::REVIEW_PROMPT_BASE, replace(&template, branch, "branch")?));
    }
    Err(format!("agent.review {args:?} has no target"))
}

/// `text` with every occurrence of `word` that stands alone (not inside a longer word) replaced.
fn replace_word(text: &str, word: &str, with: &str) -> String {
    let is_word = |c: char| c.is_alphanumeric() || c == '_';
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find(word) {
        let before = rest[..at].chars().next_back().or(out.chars().next_back());
        let after = rest[at + word.len()..].chars().next();
        out.push_str(&rest[..at]);
        if before.is_some_and(is_word) || after.is_some_and(is_word) {
            out.push_str(word);
        } else {
            out.push_str(with);
        }
        rest = &rest[at + word.len()..];
    }
    out.push_str(rest);
    out
}

/// The line that heads the findings in the message exec printed, when the reviewer's answer had findings: the message
/// is the answer's overall explanation, then that line, then the findings, each part after a blank line.
fn findings_header(scenario: &ScenarioInput) -> Result<Option<(&'static str, String)>, String> {
    let Some(last) = scenario.requests.last() else { return Ok(None) };
    let Some(answer) = Exchange::of(last).answer else { return Ok(None) };
    let Ok(output) = serde_json::from_str::<Value>(&answer) else { return Ok(None) };
    let count = output.get("findings").and_then(Value::as_array).map_or(0, Vec::len);
    if count == 0 {
        return Ok(None);
    }
    let explanation = output.get("overall_explanation").and_then(Value::as_str).unwrap_or_default().trim();
    let printed = scenario
        .exec_events
        .iter()
        .filter(|e| e["type"] == "item.completed" && e.pointer("/item/type") == Some(&Value::from("agent_message")))
        .filter_map(|e| e.pointer("/item/text").and_then(Value::as_str))
        .next_back()
        .ok_or("the review printed no message")?;
    let header = printed
        .strip_prefix(explanation)
        .and_then(|rest| rest.strip_prefix("\n\n"))
        .and_then(|rest| rest.split_once("\n\n"))
        .map(|(header, _)| header.to_string())
        .ok_or_else(|| {
            format!("the review's message is not its explanation, a header and the findings: {printed:?}")
        })?;
    let key = if count > 1 { keys::REVIEW_FINDINGS_HEADER_MANY } else { keys::REVIEW_FINDINGS_HEADER_ONE };
    Ok(Some((key, header)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(args: &[&str]) -> Vec<String> {
        args.iter().map(|a| a.to_string()).collect()
    }

    #[test]
    fn a_target_s_values_become_placeholders_where_they_stand_alone() {
        let sha = "ccfde5d9ea1d10ad46247b3b3735f884f23f9dfc";
        let (key, template) = request_template(
            &strings(&["--commit", sha, "--title", "Fix it"]),
            &format!("Look at {sha} (\"Fix it\") now."),
        )
        .unwrap();
        assert_eq!(
            (key, template.as_str()),
            (keys::REVIEW_PROMPT_COMMIT_TITLED, "Look at {{sha}} (\"{{title}}\") now.")
        );
        let base = "9e5a301846fba49a43ca5efd45a084d67fdc5756";
        let (key, template) = request_template(
            &strings(&["--base", "main"]),
            &format!("Against 'main', maintained: base {base}; run `git diff {base}` relative to main."),
        )
        .unwrap();
        assert_eq!(key, keys::REVIEW_PROMPT_BASE);
        assert_eq!(
            template,
            "Against '{{branch}}', maintained: base {{merge_base}}; run `git diff {{merge_base}}` relative to {{branch}}."
        );
        let e = request_template(&strings(&["--commit", sha]), "Look at HEAD.").unwrap_err();
        assert!(e.contains("does not name its sha"), "{e}");
    }
}
