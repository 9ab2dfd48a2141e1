//! What upstream's interface shows and sends for `/review`, learned from the tui scenarios that type it: the
//! reviewer's recipe under the interface (its first request: the review's instructions, the interface's tools), and
//! the texts of its screens: the preset picker (its title, each preset's label and dim description, its line of
//! keys), the line that opens the review of the preset chosen and the one that closes it.

use rcodex_prompt_pack::{Family, keys};

use super::{PackError, ScenarioInput, Texts, observe};

/// What the user types to open the picker.
const COMMAND: &str = "/review";

/// Whether a tui scenario ran `/review`.
pub(crate) fn is_review(scenario: &ScenarioInput) -> bool {
    scenario.typed.iter().any(|t| t == COMMAND)
}

/// The reviewer's requests: those that name the review sub-agent.
fn reviewer_requests(scenario: &ScenarioInput) -> impl Iterator<Item = &parity_capture::Capture> {
    scenario.requests.iter().filter(|c| c.request.header("x-openai-subagent") == Some("review"))
}

/// What the reviewer was asked (its first request's last item): the interface's title request asks a title for it,
/// as for a message typed.
pub(crate) fn requested(scenario: &ScenarioInput) -> Option<String> {
    let first = reviewer_requests(scenario).next()?;
    first.request.input().last().map(parity_capture::view::item_text)
}

/// Learns the texts of a `/review` scenario into `texts` and returns the reviewer's model and recipe. Needs the
/// review's texts of the exec scenarios (its instructions, its requests) learned first.
pub(crate) fn learn(scenario: &ScenarioInput, texts: &mut Texts) -> Result<(String, Family), PackError> {
    let fail = |message: String| PackError::Scenario { scenario: scenario.name.clone(), message };
    let first = reviewer_requests(scenario)
        .next()
        .ok_or_else(|| fail(format!("{COMMAND} was typed but no request names the review sub-agent")))?;
    let request_text = requested(scenario).unwrap_or_default();
    // As exec's reviewer: the first developer text is the review's instructions; the shared texts are the ones
    // exec's and the interface's runs taught; its fixed texts are its own.
    let mut own = Texts::default();
    let seen = observe(scenario, first, &request_text, keys::tui_review_text, &mut own)?;
    let mut own = own.into_map();
    let instructions = own
        .remove(&keys::model_instructions(&seen.model))
        .ok_or_else(|| fail("the reviewer's request has no instructions".into()))?;
    texts.put(keys::REVIEW_INSTRUCTIONS.to_string(), instructions, &scenario.name)?;
    for (key, text) in own {
        texts.put(key, text, &scenario.name)?;
    }

    // Custom instructions are sent as they were typed.
    let custom = scenario.typed.contains(&request_text);
    let preset = if custom { Some("custom") } else { preset_of(texts, &request_text) }
        .ok_or_else(|| fail(format!("the reviewer's request is none of the review's requests: {request_text:?}")))?;
    let picker = scenario
        .screens
        .iter()
        .skip_while(|screen| screen.typed.as_deref() != Some(COMMAND))
        .find_map(|screen| picker(&screen.text))
        .ok_or_else(|| fail(format!("no screen after {COMMAND} shows a numbered list of presets")))?;
    if picker.items.len() != keys::TUI_REVIEW_PRESETS.len() {
        return Err(fail(format!(
            "the picker offers {} presets, not upstream 0.169.0's {}: {:?}",
            picker.items.len(),
            keys::TUI_REVIEW_PRESETS.len(),
            picker.items
        )));
    }
    texts.put(keys::TUI_REVIEW_PICKER_TITLE.to_string(), picker.title, &scenario.name)?;
    texts.put(keys::TUI_REVIEW_PICKER_FOOTER.to_string(), picker.footer, &scenario.name)?;
    for (name, (label, description)) in keys::TUI_REVIEW_PRESETS.iter().zip(picker.items) {
        texts.put(keys::tui_review_preset(name), label, &scenario.name)?;
        if let Some(description) = description {
            texts.put(keys::tui_review_preset_description(name), description, &scenario.name)?;
        }
    }

    let (started, finished) =
        scenario.screens.iter().rev().find_map(|screen| banners(&screen.text)).ok_or_else(|| {
            fail("no screen shows the lines that open and close the review (>> ... << and << ... >>)".into())
        })?;
    let started = if custom { started.replace(&request_text, "{{instructions}}") } else { started };
    texts.put(keys::tui_review_started(preset), started, &scenario.name)?;
    if custom {
        let label = texts.0.get(&keys::tui_review_preset("custom")).map(|(_, label)| label.clone()).unwrap_or_default();
        let (placeholder, footer) = scenario
            .screens
            .iter()
            .skip_while(|screen| screen.typed.as_deref() != Some(COMMAND))
            .find_map(|screen| custom_prompt(&screen.text, &label))
            .ok_or_else(|| fail(format!("no screen shows the prompt for custom instructions under {label:?}")))?;
        texts.put(keys::TUI_REVIEW_CUSTOM_PLACEHOLDER.to_string(), placeholder, &scenario.name)?;
        texts.put(keys::TUI_REVIEW_CUSTOM_FOOTER.to_string(), footer, &scenario.name)?;
    }
    texts.put(keys::TUI_REVIEW_FINISHED.to_string(), finished, &scenario.name)?;
    Ok((seen.model, seen.family))
}

/// Which preset asked `text`: the one whose request template (learned from the exec reviews) it fits.
fn preset_of(texts: &Texts, text: &str) -> Option<&'static str> {
    let fits = |key: &str| texts.0.get(key).is_some_and(|(_, template)| fits_template(template, text));
    if fits(keys::REVIEW_PROMPT_UNCOMMITTED) {
        Some("uncommitted")
    } else if fits(keys::REVIEW_PROMPT_BASE) {
        Some("base_branch")
    } else if fits(keys::REVIEW_PROMPT_COMMIT) || fits(keys::REVIEW_PROMPT_COMMIT_TITLED) {
        Some("commit")
    } else {
        None
    }
}

/// Whether `text` is `template` with some value for each `{{placeholder}}`: its fixed pieces, in order, and nothing
/// else around them.
fn fits_template(template: &str, text: &str) -> bool {
    let mut pieces = Vec::new();
    let mut rest = template;
    while let Some(open) = rest.find("{{") {
        let Some(close) = rest[open..].find("}}") else { break };
        pieces.push(&rest[..open]);
        rest = &rest[open + close + 2..];
    }
    pieces.push(rest);
    let (first, last) = (pieces[0], pieces[pieces.len() - 1]);
    if pieces.len() == 1 {
        return template == text;
    }
    let Some(mut at) = text.strip_prefix(first).map(|_| first.len()) else { return false };
    for piece in &pieces[1..pieces.len() - 1] {
        match text[at..].find(piece) {
            Some(found) => at += found + piece.len(),
            None => return false,
        }
    }
    text.len() >= at + last.len() && text.ends_with(last)
}

/// A picker as a screen shows it.
#[derive(Debug, PartialEq)]
struct Picker {
    title: String,
    /// Each choice's label and the dim words beside it.
    items: Vec<(String, Option<String>)>,
    footer: String,
}

/// A numbered list on `screen` (`› 1. Label  words`, `  2. Label`...), with the nearest non-empty row above it as
/// its title and below it as its line of keys.
fn picker(screen: &str) -> Option<Picker> {
    let rows: Vec<&str> = screen.lines().collect();
    let item = |row: &str, number: usize| -> Option<(String, Option<String>)> {
        let rest = row.strip_prefix("› ").or_else(|| row.strip_prefix("  "))?;
        let label = rest.trim_start().strip_prefix(&format!("{number}. "))?;
        // The description stands two or more spaces after the label.
        match label.split_once("  ") {
            Some((label, description)) => Some((label.trim().to_string(), Some(description.trim().to_string()))),
            None => Some((label.trim().to_string(), None)),
        }
    };
    let start = rows.iter().position(|row| item(row, 1).is_some())?;
    let items: Vec<_> = rows[start..].iter().enumerate().map_while(|(i, row)| item(row, i + 1)).collect();
    let title = rows[..start].iter().rev().map(|r| r.trim()).find(|r| !r.is_empty())?;
    let footer = rows[start + items.len()..].iter().map(|r| r.trim()).find(|r| !r.is_empty())?;
    Some(Picker { title: title.to_string(), items, footer: footer.to_string() })
}

/// The prompt for custom instructions on `screen`: under a row that is the preset's `label` alone, the placeholder
/// (`› words`) and the line of keys under it.
fn custom_prompt(screen: &str, label: &str) -> Option<(String, String)> {
    let rows: Vec<&str> = screen.lines().map(str::trim).filter(|r| !r.is_empty()).collect();
    let at = rows.iter().position(|r| *r == label)?;
    let placeholder = rows.get(at + 1)?.strip_prefix("› ")?;
    let footer = rows.get(at + 2)?;
    Some((placeholder.to_string(), footer.to_string()))
}

/// The rows that open (`>> ... <<`) and close (`<< ... >>`) a review on `screen`.
fn banners(screen: &str) -> Option<(String, String)> {
    let row = |open: &str, close: &str| {
        screen
            .lines()
            .map(str::trim)
            .find(|r| r.len() > 4 && r.starts_with(open) && r.ends_with(close))
            .map(String::from)
    };
    Some((row(">> ", " <<")?, row("<< ", " >>")?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_recorded_review_teaches_the_picker_the_lines_and_the_reviewer_s_recipe() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let inputs = crate::load(&root.join("captures/codex-0.169.0"), &root.join("fixtures/scenarios")).unwrap();
        let scenario = inputs.scenarios.iter().find(|s| s.name == "tui-review").unwrap();
        assert!(is_review(scenario));
        let mut texts = Texts::default();
        // What exec's reviews teach first: the instructions, and the request the preset is recognized by.
        let exec = inputs.scenarios.iter().find(|s| s.name == "review-uncommitted").unwrap();
        let request = exec.first_request.request.input().last().map(parity_capture::view::item_text).unwrap();
        texts.put(keys::REVIEW_PROMPT_UNCOMMITTED.into(), request, &exec.name).unwrap();
        let (model, family) = learn(scenario, &mut texts).unwrap();
        assert_eq!(model, "gpt-5.5");
        let tools: Vec<&str> =
            family.tools["restricted"].as_array().unwrap().iter().filter_map(|t| t["name"].as_str()).collect();
        assert!(tools.contains(&"list_mcp_resources"), "the interface's tools: {tools:?}");
        assert!(!tools.contains(&"get_goal") && !tools.contains(&"web_search"), "not all of them: {tools:?}");
        let texts = texts.into_map();
        let labels: Vec<&str> =
            keys::TUI_REVIEW_PRESETS.iter().map(|p| texts[&keys::tui_review_preset(p)].as_str()).collect();
        assert_eq!(labels.len(), 4);
        assert!(labels.iter().all(|l| !l.is_empty() && !l.contains("  ")), "{labels:?}");
        let started = &texts[&keys::tui_review_started("uncommitted")];
        assert!(started.starts_with(">> ") && started.ends_with(" <<"), "{started}");
        assert!(texts[keys::TUI_REVIEW_FINISHED].starts_with("<< "));
        assert!(
            texts.contains_key(keys::TUI_REVIEW_PICKER_TITLE) && texts.contains_key(keys::TUI_REVIEW_PICKER_FOOTER)
        );
        assert!(texts.contains_key(keys::REVIEW_INSTRUCTIONS));
    }

    #[test]
    fn a_picker_is_its_numbered_rows_between_a_title_and_a_line_of_keys() {
        let screen = "\n  >_ header\n\n\n  Pick one\n\n\n› 1. First thing  (dim)\n  2. Second\n  3. Third\n\n  enter go · esc back\n";
        let found = picker(screen).unwrap();
        assert_eq!(found.title, "Pick one");
        assert_eq!(
            found.items,
            [("First thing".into(), Some("(dim)".into())), ("Second".into(), None), ("Third".into(), None)]
        );
        assert_eq!(found.footer, "enter go · esc back");
        assert_eq!(picker("› Ask anything\n"), None, "no numbered row, no picker");
        assert_eq!(picker("  Title\n› 1. Only\n"), None, "no line of keys under it");
    }

    #[test]
    fn the_prompt_for_instructions_stands_under_the_preset_s_label() {
        let screen = "  >_ header\n\n  Custom\n\n› Type here\n\n  enter go\n";
        assert_eq!(custom_prompt(screen, "Custom"), Some(("Type here".into(), "enter go".into())));
        assert_eq!(custom_prompt("  Select\n› 4. Custom\n  keys\n", "Custom"), None, "the picker is not the prompt");
    }

    #[test]
    fn banners_open_and_close_the_review() {
        let screen = ">> Started: x <<\n\n• Ran ls\n<< Done >>\n";
        assert_eq!(banners(screen), Some((">> Started: x <<".into(), "<< Done >>".into())));
        assert_eq!(banners(">> Started: x <<\n"), None);
    }

    #[test]
    fn a_request_fits_the_template_it_was_made_from() {
        assert!(fits_template("Review {{sha}} now.", "Review abc123 now."));
        assert!(fits_template("Review {{sha}} (\"{{title}}\").", "Review abc (\"T\")."));
        assert!(!fits_template("Review {{sha}} now.", "Review abc123 later."));
        assert!(fits_template("Plain.", "Plain."));
        assert!(!fits_template("Plain.", "Plain. More."));
    }
}
