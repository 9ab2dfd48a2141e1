//! The exec policy's texts: what upstream tells the model for a command a rule of `CODEX_HOME/rules` forbids, or
//! sends for approval where nobody may approve; why an approval request asks; and its error for a rules file it
//! cannot use. Learned from the scenarios that put rules files in the home (`exec-policy-*`, `app-exec-policy`):
//! for each `exec_command` call, the rules of the scenario that match its command (read here from the scenario's
//! rules as they are written there: `prefix_rule()` calls whose `pattern`, `decision` and `justification` are
//! string literals and lists of them), and what upstream answered, with the command, the justification and the
//! prefix put back as placeholders.

use std::path::Path;

use parity_recorder::{RunRecord, Scenario};
use rcodex_prompt_pack::keys;
use serde_json::Value;

use crate::{Inputs, PackError, Texts};

/// A run upstream refused before asking the model, whose scenario has rules files: what it printed on stderr.
pub struct Refused {
    pub name: String,
    pub scenario: Scenario,
    pub stderr: String,
}

/// Where the home's rules files are, relative to HOME.
const RULES_DIR: &str = ".codex/rules/";

fn rules_files(scenario: &Scenario) -> impl Iterator<Item = (&String, String)> {
    scenario
        .home_files
        .iter()
        .filter(|(path, _)| path.starts_with(RULES_DIR) && path.ends_with(".rules"))
        .map(|(path, text)| (path, String::from_utf8_lossy(text).into_owned()))
}

/// The refused run of `dir`, if its scenario has rules files.
pub(crate) fn refused_run(dir: &Path, run: &RunRecord, scenarios_dir: &Path) -> Option<Refused> {
    let scenario = Scenario::load(&scenarios_dir.join(format!("{}.toml", run.scenario))).ok()?;
    rules_files(&scenario).next()?;
    let stderr = run.turns.iter().filter_map(|t| std::fs::read_to_string(dir.join(&t.stderr)).ok()).collect();
    Some(Refused { name: run.scenario.clone(), scenario, stderr })
}

/// A rule as the scenario wrote it.
#[derive(Debug, Clone, PartialEq)]
struct Rule {
    /// Each token's alternatives.
    pattern: Vec<Vec<String>>,
    decision: String,
    justification: Option<String>,
}

/// The rules of a file written as the scenarios write them; `None` for anything else.
fn read_rules(text: &str) -> Option<Vec<Rule>> {
    let mut rules = Vec::new();
    for call in text.split("prefix_rule(").skip(1) {
        let pattern_at = call.find("pattern")?;
        let list_at = pattern_at + call[pattern_at..].find('[')?;
        let mut depth = 0;
        let end = list_at
            + call[list_at..].char_indices().find_map(|(i, c)| {
                depth += match c {
                    '[' => 1,
                    ']' => -1,
                    _ => 0,
                };
                (depth == 0).then_some(i + 1)
            })?;
        let list: Vec<Value> = serde_json::from_str(&call[list_at..end]).ok()?;
        let pattern = list
            .iter()
            .map(|token| match token {
                Value::String(word) => Some(vec![word.clone()]),
                Value::Array(words) => words.iter().map(|w| w.as_str().map(str::to_string)).collect(),
                _ => None,
            })
            .collect::<Option<Vec<_>>>()?;
        let string_of = |name: &str| -> Option<String> {
            let at = call.find(&format!("{name} ="))?;
            let rest = &call[at..];
            let quote = rest.find(['"', '\''])?;
            let q = rest[quote..].chars().next()?;
            let value = &rest[quote + 1..];
            Some(value[..value.find(q)?].to_string())
        };
        let decision = string_of("decision").unwrap_or_else(|| "allow".to_string());
        rules.push(Rule { pattern, decision, justification: string_of("justification") });
    }
    Some(rules)
}

/// The rules matching one plain command (words), with the words each matched.
fn matching<'r>(rules: &'r [Rule], words: &[&str]) -> Vec<(&'r Rule, Vec<String>)> {
    rules
        .iter()
        .filter(|rule| {
            rule.pattern.len() <= words.len()
                && rule.pattern.iter().zip(words).all(|(alternatives, word)| alternatives.iter().any(|a| a == word))
        })
        .map(|rule| (rule, words[..rule.pattern.len()].iter().map(|w| w.to_string()).collect()))
        .collect()
}

fn severity(decision: &str) -> u8 {
    match decision {
        "forbidden" => 2,
        "prompt" => 1,
        _ => 0,
    }
}

/// A string as upstream's error text for the model holds it: escaped twice as Rust's `Debug` escapes a string.
fn escaped(value: &str) -> String {
    let once = format!("{value:?}");
    let twice = format!("{:?}", &once[1..once.len() - 1]);
    twice[1..twice.len() - 1].to_string()
}

/// Replaces the one occurrence of `value` in `text` with `{{name}}`; `None` when it is not there exactly once.
fn placeholder(text: &str, value: &str, name: &str) -> Option<String> {
    (text.matches(value).count() == 1).then(|| text.replacen(value, &format!("{{{{{name}}}}}"), 1))
}

/// The `exec_command` calls of a run (its last request holds them all): call id, command, what upstream answered.
fn exec_calls(input: &crate::ScenarioInput) -> Vec<(String, String, String)> {
    let Some(last) = input.requests.last() else { return Vec::new() };
    let items: Vec<&Value> = last.request.body["input"].as_array().into_iter().flatten().collect();
    items
        .iter()
        .filter(|i| i["type"] == "function_call" && i["name"] == "exec_command")
        .filter_map(|call| {
            let arguments: Value = serde_json::from_str(call["arguments"].as_str()?).ok()?;
            let cmd = arguments["cmd"].as_str()?.to_string();
            let id = call["call_id"].as_str()?;
            let output = items.iter().find(|i| i["type"] == "function_call_output" && i["call_id"] == id)?["output"]
                .as_str()?
                .to_string();
            Some((id.to_string(), cmd, output))
        })
        .collect()
}

/// How upstream shows a command around the script (`/bin/bash -lc '` and `'`), from a command it ran (exec events)
/// or asked about (approval requests).
fn display_frame(input: &crate::ScenarioInput, calls: &[(String, String, String)]) -> Option<(String, String)> {
    let shown: Vec<String> = input
        .exec_events
        .iter()
        .filter_map(|e| e.pointer("/item/command").and_then(Value::as_str).map(str::to_string))
        .chain(
            input.frontend_messages.iter().filter_map(|m| m.pointer("/params/command")?.as_str().map(str::to_string)),
        )
        .collect();
    calls.iter().find_map(|(_, cmd, _)| {
        let display = shown.iter().find(|d| d.contains(cmd.as_str()))?;
        let at = display.find(cmd.as_str())?;
        Some((display[..at].to_string(), display[at + cmd.len()..].to_string()))
    })
}

/// Whether a script's plain commands (split at `&`, `|` and `;`) hold an `rm` with its force option, also behind
/// `sudo` or `env` and its assignments: the commands upstream's heuristics judge dangerous.
fn has_forced_rm(cmd: &str) -> bool {
    cmd.split(['&', '|', ';']).any(|command| {
        let words: Vec<&str> = command.split_whitespace().collect();
        let skip = words.iter().take_while(|w| ["sudo", "env"].contains(w) || w.contains('=')).count();
        words.get(skip) == Some(&"rm")
            && words[skip + 1..]
                .iter()
                .take_while(|w| **w != "--")
                .any(|w| *w == "--force" || w.strip_prefix('-').is_some_and(|f| !f.starts_with('-') && f.contains('f')))
    })
}

pub(crate) fn learn(inputs: &Inputs, texts: &mut Texts) -> Result<(), PackError> {
    for (input, scenario) in &inputs.configured {
        let fail = |message: String| PackError::Scenario { scenario: input.name.clone(), message };
        let mut rules = Vec::new();
        for (path, text) in rules_files(scenario) {
            rules.extend(read_rules(&text).ok_or_else(|| fail(format!("{path}: rules not written as expected")))?);
        }
        if rules.is_empty() {
            continue;
        }
        let calls = exec_calls(input);
        let frame = display_frame(input, &calls);
        let app_server = !input.frontend_messages.is_empty();
        if app_server && rules.iter().any(|rule| rule.decision == "allow") {
            learn_approved_prefixes(input, scenario, &rules, texts)?;
        }
        for (id, cmd, output) in &calls {
            let plain: Vec<Vec<&str>> = cmd
                .split(['&', '|', ';'])
                .map(|c| c.split_whitespace().collect::<Vec<_>>())
                .filter(|c| !c.is_empty())
                .collect();
            let found: Vec<(&Rule, Vec<String>)> = plain.iter().flat_map(|words| matching(&rules, words)).collect();
            let Some(strictest) = found.iter().map(|(rule, _)| severity(&rule.decision)).max() else { continue };
            let Some((before, after)) = &frame else {
                return Err(fail("no command shows how upstream renders one".into()));
            };
            let display = format!("{before}{cmd}{after}");
            let rule =
                found.iter().filter(|(rule, _)| severity(&rule.decision) == strictest).max_by_key(|(_, p)| p.len());
            let Some((rule, prefix)) = rule else { continue };
            let unlearned = || fail(format!("the answer to {id} does not hold what its rule says: {output}"));
            match (strictest, &rule.justification) {
                (2, Some(justification)) => {
                    let text = placeholder(output, &escaped(&display), "command")
                        .and_then(|t| placeholder(&t, &escaped(justification), "justification"))
                        .ok_or_else(unlearned)?;
                    texts.put(keys::EXEC_POLICY_FORBIDDEN.into(), text, &input.name)?;
                }
                (2, None) => {
                    let text = placeholder(output, &escaped(&display), "command").ok_or_else(unlearned)?;
                    let prefix = escaped(&prefix.join(" "));
                    let at = text.rfind(&prefix).ok_or_else(unlearned)?;
                    let text = format!("{}{{{{prefix}}}}{}", &text[..at], &text[at + prefix.len()..]);
                    texts.put(keys::EXEC_POLICY_FORBIDDEN_PREFIX.into(), text, &input.name)?;
                }
                (1, justification) if app_server => {
                    let request = input
                        .frontend_messages
                        .iter()
                        .find(|m| m.pointer("/params/itemId").and_then(Value::as_str) == Some(id.as_str()))
                        .and_then(|m| m.pointer("/params/reason").and_then(Value::as_str))
                        .ok_or_else(|| fail(format!("no approval request with a reason for {id}")))?;
                    let text = placeholder(request, &display, "command").ok_or_else(unlearned)?;
                    match justification {
                        Some(justification) => {
                            let text = placeholder(&text, justification, "justification").ok_or_else(unlearned)?;
                            texts.put(keys::EXEC_POLICY_APPROVAL_REASON.into(), text, &input.name)?;
                        }
                        None => texts.put(keys::EXEC_POLICY_APPROVAL_REASON_BARE.into(), text, &input.name)?,
                    }
                }
                (1, _) => {
                    if output.contains(cmd.as_str()) {
                        return Err(unlearned());
                    }
                    texts.put(keys::EXEC_POLICY_PROMPT_REJECTED.into(), output.clone(), &input.name)?;
                }
                _ => {}
            }
        }
    }
    // Without rules: a forced rm refused where nobody may approve it (exec-policy-dangerous).
    for input in inputs.scenarios.iter().filter(|s| s.frontend_messages.is_empty()) {
        let calls = exec_calls(input);
        for (id, cmd, output) in calls.iter().filter(|(_, cmd, _)| has_forced_rm(cmd)) {
            let fail = |message: String| PackError::Scenario { scenario: input.name.clone(), message };
            let Some((before, after)) = display_frame(input, &calls) else {
                return Err(fail("no command shows how upstream renders one".into()));
            };
            if let Some(text) = placeholder(output, &escaped(&format!("{before}{cmd}{after}")), "command") {
                texts.put(keys::EXEC_POLICY_FORBIDDEN_DANGEROUS.into(), text, &input.name)?;
            } else if output.contains(cmd.as_str()) {
                return Err(fail(format!("the answer to {id} holds its command, but not as upstream shows it")));
            }
        }
    }
    for refused in &inputs.refused {
        learn_load_error(refused, texts)?;
    }
    Ok(())
}

/// A prefix the allow rule `rule` approves, as upstream lists it (a token's alternatives as `[a|b]`), rendered as the
/// permissions render it: a JSON list of its words; one per alternative of its first token.
fn approved(rule: &Rule) -> Vec<String> {
    let rest: Vec<String> = rule.pattern[1..]
        .iter()
        .map(|alternatives| match alternatives.as_slice() {
            [one] => one.clone(),
            many => format!("[{}]", many.join("|")),
        })
        .collect();
    rule.pattern[0]
        .iter()
        .map(|program| {
            let words: Vec<String> =
                std::iter::once(program).chain(&rest).map(|w| Value::String(w.clone()).to_string()).collect();
            format!("[{}]", words.join(", "))
        })
        .collect()
}

/// The section the permissions add under on-request for the approved prefixes: where it goes (after the approval
/// policy's text, whose last line is kept), its frame and what separates two prefixes. The permissions as a run
/// without rules sent them are the pack's template for the scenario's sandbox and policy.
fn learn_approved_prefixes(
    input: &crate::ScenarioInput,
    scenario: &Scenario,
    rules: &[Rule],
    texts: &mut Texts,
) -> Result<(), PackError> {
    let fail = |message: &str| PackError::Scenario { scenario: input.name.clone(), message: message.into() };
    let sandbox = scenario.agent.sandbox.as_deref().unwrap_or("read-only");
    let approval = scenario.agent.approval.as_deref().unwrap_or("never");
    let key = keys::permissions(sandbox, approval);
    let template =
        texts.0.get(&key).map(|(_, text)| text.clone()).ok_or_else(|| fail("no plain run gave its permissions"))?;
    let recorded = input
        .first_request
        .request
        .input()
        .iter()
        .flat_map(|item| item.get("content").and_then(Value::as_array).into_iter().flatten())
        .find_map(|part| {
            part.get("text").and_then(Value::as_str).filter(|t| t.starts_with("<permissions instructions>"))
        })
        .ok_or_else(|| fail("no permissions were sent"))?;
    let mut at = template.bytes().zip(recorded.bytes()).take_while(|(a, b)| a == b).count();
    while !recorded.is_char_boundary(at) {
        at -= 1;
    }
    let head = &recorded[..at];
    let line_start = head[..head.len().saturating_sub(1)].rfind('\n').map_or(0, |i| i + 1);
    let after = &head[line_start..];
    let literal = template[at..].split("{{").next().unwrap_or_default();
    let end = recorded[at..]
        .find(literal)
        .map(|e| at + e)
        .ok_or_else(|| fail("the permissions do not go on as without rules"))?;
    let section = &recorded[at..end];
    let mut found: Vec<(usize, usize)> = Vec::new();
    for rendered in rules.iter().filter(|rule| rule.decision == "allow").flat_map(approved) {
        let start =
            section.find(&rendered).ok_or_else(|| fail(&format!("the approved prefix {rendered} is not listed")))?;
        found.push((start, start + rendered.len()));
    }
    found.sort();
    let (Some(first), Some(last)) = (found.first(), found.last()) else { return Ok(()) };
    let separators: Vec<&str> = found.windows(2).map(|pair| &section[pair[0].1..pair[1].0]).collect();
    if separators.iter().any(|s| *s != separators[0]) {
        return Err(fail("the approved prefixes are not separated alike"));
    }
    let frame = format!("{}{{{{prefixes}}}}{}", &section[..first.0], &section[last.1..]);
    texts.put(keys::EXEC_POLICY_APPROVED_PREFIXES.into(), frame, &input.name)?;
    texts.put(keys::EXEC_POLICY_APPROVED_PREFIXES_AFTER.into(), after.to_string(), &input.name)?;
    if let Some(separator) = separators.first() {
        texts.put(keys::EXEC_POLICY_APPROVED_PREFIXES_SEPARATOR.into(), separator.to_string(), &input.name)?;
    }
    Ok(())
}

/// `text` with each occurrence of the number `number` (not part of a longer one) replaced by `by`.
fn whole_numbers(text: &str, number: &str, by: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(at) = rest.find(number) {
        let before = rest[..at].chars().next_back().is_some_and(|c| c.is_ascii_digit());
        let after = rest[at + number.len()..].chars().next().is_some_and(|c| c.is_ascii_digit());
        out.push_str(&rest[..at]);
        out.push_str(if before || after { number } else { by });
        rest = &rest[at + number.len()..];
    }
    out.push_str(rest);
    out
}

/// The frame of upstream's error for a rules file it cannot use, and its message for an unknown decision.
fn learn_load_error(refused: &Refused, texts: &mut Texts) -> Result<(), PackError> {
    let fail = |message: &str| PackError::Scenario { scenario: refused.name.clone(), message: message.into() };
    let mut unknown = None;
    for (path, text) in rules_files(&refused.scenario) {
        let rules = read_rules(&text).ok_or_else(|| fail("rules not written as expected"))?;
        if let Some(rule) = rules.iter().find(|r| !["allow", "prompt", "forbidden"].contains(&r.decision.as_str())) {
            unknown = Some((path.clone(), rule.decision.clone()));
        }
    }
    let Some((path, decision)) = unknown else { return Ok(()) };
    let stderr = &refused.stderr;
    let path_end =
        stderr.find(path.as_str()).map(|at| at + path.len()).ok_or_else(|| fail("stderr does not name the file"))?;
    let path_start = stderr[..path_end].rfind(char::is_whitespace).map_or(0, |at| at + 1);
    let after_path = &stderr[path_end..];
    let line: String =
        after_path.strip_prefix(':').unwrap_or_default().chars().take_while(char::is_ascii_digit).collect();
    let message_start = path_end + 1 + line.len();
    let separator: String = stderr[message_start..].chars().take_while(|c| !c.is_alphanumeric()).collect();
    let message_start = message_start + separator.len();
    let message_end = stderr[message_start..]
        .find(decision.as_str())
        .map(|at| message_start + at + decision.len())
        .ok_or_else(|| fail("stderr does not name the decision"))?;
    if line.is_empty() {
        return Err(fail("stderr gives no line after the file"));
    }
    let message = &stderr[message_start..message_end];
    let rest = whole_numbers(&stderr[message_end..], &line, "{{line}}");
    let frame = format!("{}{{{{path}}}}:{{{{line}}}}{separator}{{{{message}}}}{rest}", &stderr[..path_start]);
    let invalid =
        placeholder(message, &decision, "decision").ok_or_else(|| fail("the message does not hold the decision"))?;
    texts.put(keys::EXEC_POLICY_LOAD_ERROR.into(), frame, &refused.name)?;
    texts.put(keys::EXEC_POLICY_INVALID_DECISION.into(), invalid, &refused.name)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_are_read_as_the_scenarios_write_them() {
        let rules = read_rules(
            "prefix_rule(\n    pattern = [\"git\", [\"reset\", \"clean\"]],\n    decision = \"forbidden\",\n    justification = \"No.\",\n)\nprefix_rule(pattern = [\"rm\"])\n",
        )
        .unwrap();
        assert_eq!(rules[0].pattern, [vec!["git".to_string()], vec!["reset".into(), "clean".into()]]);
        assert_eq!((rules[0].decision.as_str(), rules[0].justification.as_deref()), ("forbidden", Some("No.")));
        assert_eq!((rules[1].decision.as_str(), rules[1].justification.as_deref()), ("allow", None));
        let found = matching(&rules, &["git", "clean", "-fd"]);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].1, ["git", "clean"]);
        assert!(matching(&rules, &["git"]).is_empty());
    }

    #[test]
    fn placeholders_replace_one_occurrence_and_values_are_escaped_twice() {
        assert_eq!(placeholder("a `x` b", "x", "c").as_deref(), Some("a `{{c}}` b"));
        assert_eq!(placeholder("x x", "x", "c"), None);
        assert_eq!(escaped("say \"hi\""), r#"say \\\"hi\\\""#);
    }
}
