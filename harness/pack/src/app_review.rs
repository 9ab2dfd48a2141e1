//! What upstream's app server shows of a code review (`review/start`), learned from the app-server scenarios that
//! start one: the words its `enteredReviewMode` item names the review by (`current changes` for the uncommitted
//! changes, `commit {{short_sha}}: {{title}}` for a commit with its title, `changes against '{{branch}}'`, the
//! instructions themselves), by the kind of target the reviewer was asked about; and what an interrupted review
//! ends with (its `exitedReviewMode` text, the message after it).

use rcodex_prompt_pack::keys;
use serde_json::Value;

use super::{PackError, ScenarioInput, Texts};

/// The text of the reviewer's first request's last item: what it was asked to review.
fn requested(scenario: &ScenarioInput) -> Option<String> {
    let first = scenario.requests.iter().find(|c| c.request.header("x-openai-subagent") == Some("review"))?;
    first.request.input().last().map(parity_capture::view::item_text)
}

/// What the first `enteredReviewMode` item the agent started says it reviews.
fn entered(messages: &[Value]) -> Option<String> {
    messages.iter().find_map(|message| {
        let item = message.pointer("/params/item").filter(|_| message["method"] == "item/started")?;
        (item["type"] == "enteredReviewMode").then(|| item["review"].as_str().map(str::to_string))?
    })
}

/// The value of each `{{placeholder}}` of `template` that makes it `text`, or `None` when `text` does not fit it.
fn fit(template: &str, text: &str) -> Option<Vec<(String, String)>> {
    let mut values = Vec::new();
    let (mut template, mut text) = (template, text);
    while let Some(open) = template.find("{{") {
        let close = open + template[open..].find("}}")?;
        text = text.strip_prefix(&template[..open])?;
        let name = &template[open + 2..close];
        template = &template[close + 2..];
        // The value runs to where the next fixed piece begins (to the end, for the last).
        let next = template.find("{{").map_or(template, |at| &template[..at]);
        let end = if next.is_empty() { text.len() } else { text.find(next)? };
        values.push((name.to_string(), text[..end].to_string()));
        text = &text[end..];
    }
    (template == text).then_some(values)
}

/// Learns the name of each review the app-server scenarios started, under [`keys::app_review_hint`]: the target's
/// kind is the request template of the exec reviews its reviewer's request fits (custom instructions, sent as they
/// are, fit none), and the values of that request the name shows become its placeholders (a commit's hash shown by
/// its first 7 characters). Needs the review's requests of the exec scenarios learned first.
pub(crate) fn learn(scenarios: &[ScenarioInput], texts: &mut Texts) -> Result<(), PackError> {
    // Each kind, its request's template, and the placeholders of the request its name shows.
    let kinds: [(&str, &str, &[&str]); 4] = [
        ("uncommitted", keys::REVIEW_PROMPT_UNCOMMITTED, &[]),
        ("commit_titled", keys::REVIEW_PROMPT_COMMIT_TITLED, &["sha", "title"]),
        ("commit", keys::REVIEW_PROMPT_COMMIT, &["sha"]),
        ("base_branch", keys::REVIEW_PROMPT_BASE, &["branch"]),
    ];
    for scenario in scenarios {
        let Some(hint) = entered(&scenario.frontend_messages) else { continue };
        let fail = |message: String| PackError::Scenario { scenario: scenario.name.clone(), message };
        let asked = requested(scenario).ok_or_else(|| {
            fail("the app server entered review mode but no request names the review sub-agent".into())
        })?;
        let found = kinds.iter().find_map(|(kind, key, named)| {
            let template = &texts.0.get(*key)?.1;
            let mut values = fit(template, &asked)?;
            values.retain(|(name, _)| named.contains(&name.as_str()));
            // A placeholder the request repeats (a base branch's) is one value.
            values.sort();
            values.dedup();
            Some((*kind, values))
        });
        let (kind, values) = found.unwrap_or(("custom", vec![("instructions".to_string(), asked.clone())]));
        let mut template = hint.clone();
        for (name, value) in values {
            let (name, shown) = match name.as_str() {
                "sha" => ("short_sha".to_string(), value.chars().take(7).collect::<String>()),
                _ => (name, value),
            };
            if !template.contains(&shown) {
                return Err(fail(format!("the review's name does not show its {name} {shown:?}: {hint:?}")));
            }
            template = template.replacen(&shown, &format!("{{{{{name}}}}}"), 1);
        }
        texts.put(keys::app_review_hint(kind), template, &scenario.name)?;
        if let Some((exited, message)) = interrupted(&scenario.frontend_messages) {
            texts.put(keys::APP_REVIEW_INTERRUPTED_EXITED.to_string(), exited, &scenario.name)?;
            texts.put(keys::APP_REVIEW_INTERRUPTED_MESSAGE.to_string(), message, &scenario.name)?;
        }
    }
    Ok(())
}

/// What a review interrupted ends with, when the agent's review turn ended `interrupted`: the `exitedReviewMode`
/// item's text and the message after it.
fn interrupted(messages: &[Value]) -> Option<(String, String)> {
    let completed = |method: &str, kind: &str| {
        messages
            .iter()
            .rev()
            .filter(|m| m["method"] == method)
            .find_map(|m| m.pointer("/params/item").filter(|item| item["type"] == kind))
            .cloned()
    };
    let ended = messages.iter().rev().find(|m| m["method"] == "turn/completed")?;
    if ended.pointer("/params/turn/status")? != "interrupted" {
        return None;
    }
    let exited = completed("item/completed", "exitedReviewMode")?;
    let message = completed("item/completed", "agentMessage")?;
    Some((exited["review"].as_str()?.to_string(), message["text"].as_str()?.to_string()))
}

#[cfg(test)]
mod tests {
    use super::fit;

    #[test]
    fn a_request_fits_the_template_it_was_made_from() {
        let template = "Review commit {{sha}} (\"{{title}}\"). Go.";
        let values = fit(template, "Review commit abc (\"Fix it\"). Go.").unwrap();
        assert_eq!(values, [("sha".into(), "abc".into()), ("title".into(), "Fix it".into())]);
        assert_eq!(fit(template, "Review commit abc. Go."), None);
        assert_eq!(fit("current", "current"), Some(vec![]));
        assert_eq!(fit("current", "currently"), None);
    }
}
