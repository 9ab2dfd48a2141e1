//! What upstream's interface shows and sends for `/review`, learned from the tui scenarios that type it: the
//! reviewer's recipe under the interface (its first request: the review's instructions, the interface's tools), and
//! the texts of its screens: the preset picker (its title, each preset's label and dim description, its line of
//! keys), the second picker of the base-branch and commit presets (its title, the line under it, its search field's
//! placeholder, its line of keys), the line that opens the review of the preset chosen (a template of what it names)
//! and the one that closes it.

use std::collections::BTreeMap;

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
    let (preset, values) = if custom { Some(("custom", BTreeMap::new())) } else { preset_of(texts, &request_text) }
        .ok_or_else(|| fail(format!("the reviewer's request is none of the review's requests: {request_text:?}")))?;
    let after_command = || scenario.screens.iter().skip_while(|screen| screen.typed.as_deref() != Some(COMMAND));
    let (chose, picker) = after_command()
        .enumerate()
        .find_map(|(at, screen)| picker(&screen.text).map(|picker| (at, picker)))
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
    // The line names what is reviewed: a template of it, whose values the request told.
    let value = |name: &str| values.get(name).cloned().unwrap_or_default();
    let named: Vec<(String, &str)> = match preset {
        "custom" => vec![(request_text.clone(), "instructions")],
        "base_branch" => vec![(value("branch"), "branch")],
        // Upstream names the commit by the first 7 characters of its hash.
        "commit" => vec![(value("title"), "title"), (value("sha").chars().take(7).collect(), "short_sha")],
        _ => Vec::new(),
    };
    let mut started = started;
    for (shown, name) in named {
        if shown.is_empty() || !started.contains(&shown) {
            return Err(fail(format!(
                "the line that opens the review does not show its {name} {shown:?}: {started:?}"
            )));
        }
        started = started.replacen(&shown, &format!("{{{{{name}}}}}"), 1);
    }
    texts.put(keys::tui_review_started(preset), started, &scenario.name)?;
    if custom {
        let label = texts.0.get(&keys::tui_review_preset("custom")).map(|(_, label)| label.clone()).unwrap_or_default();
        let (placeholder, footer) = after_command()
            .find_map(|screen| custom_prompt(&screen.text, &label))
            .ok_or_else(|| fail(format!("no screen shows the prompt for custom instructions under {label:?}")))?;
        texts.put(keys::TUI_REVIEW_CUSTOM_PLACEHOLDER.to_string(), placeholder, &scenario.name)?;
        texts.put(keys::TUI_REVIEW_CUSTOM_FOOTER.to_string(), footer, &scenario.name)?;
    }
    if keys::TUI_REVIEW_LISTS.contains(&preset) {
        // The second picker: the first screen after the presets' that shows a searchable list.
        let list = after_command()
            .skip(chose + 1)
            .find_map(|screen| list(&screen.text))
            .ok_or_else(|| fail(format!("no screen after the presets shows the {preset} preset's searchable list")))?;
        texts.put(keys::tui_review_list(preset, "title"), list.title, &scenario.name)?;
        texts.put(keys::tui_review_list(preset, "placeholder"), list.placeholder, &scenario.name)?;
        texts.put(keys::tui_review_list(preset, "footer"), list.footer, &scenario.name)?;
        if let Some(subtitle) = list.subtitle {
            // The branch picker's subtitle names the current branch, which is one of its rows.
            let current = list
                .rows
                .iter()
                .filter(|row| subtitle.ends_with(row.as_str()))
                .max_by_key(|row| row.len())
                .ok_or_else(|| {
                fail(format!("the line under the {preset} picker's title names none of its rows: {subtitle:?}"))
            })?;
            let template = format!("{}{{{{branch}}}}", &subtitle[..subtitle.len() - current.len()]);
            texts.put(keys::tui_review_list(preset, "subtitle"), template, &scenario.name)?;
        }
    }
    texts.put(keys::TUI_REVIEW_FINISHED.to_string(), finished, &scenario.name)?;
    Ok((seen.model, seen.family))
}

/// Which preset asked `text` (the one whose request template, learned from the exec reviews, it fits) and the
/// values of the template's placeholders.
fn preset_of(texts: &Texts, text: &str) -> Option<(&'static str, BTreeMap<String, String>)> {
    let fits = |key: &str| texts.0.get(key).and_then(|(_, template)| template_values(template, text));
    if let Some(values) = fits(keys::REVIEW_PROMPT_UNCOMMITTED) {
        Some(("uncommitted", values))
    } else if let Some(values) = fits(keys::REVIEW_PROMPT_BASE) {
        Some(("base_branch", values))
    } else if let Some(values) = fits(keys::REVIEW_PROMPT_COMMIT_TITLED).or_else(|| fits(keys::REVIEW_PROMPT_COMMIT)) {
        Some(("commit", values))
    } else {
        None
    }
}

/// The value of each `{{placeholder}}` of `template` that makes it `text` (its fixed pieces, in order, and nothing
/// else around them), or `None` when `text` does not fit it. A placeholder that comes back takes its first value.
fn template_values(template: &str, text: &str) -> Option<BTreeMap<String, String>> {
    let mut pieces = Vec::new();
    let mut names = Vec::new();
    let mut rest = template;
    while let Some(open) = rest.find("{{") {
        let Some(close) = rest[open..].find("}}") else { break };
        pieces.push(&rest[..open]);
        names.push(&rest[open + 2..open + close]);
        rest = &rest[open + close + 2..];
    }
    pieces.push(rest);
    if names.is_empty() {
        return (template == text).then(BTreeMap::new);
    }
    let mut at = text.strip_prefix(pieces[0]).map(|_| pieces[0].len())?;
    let mut values = BTreeMap::new();
    for (i, (name, piece)) in names.iter().zip(&pieces[1..]).enumerate() {
        // The last piece ends the text; the others are found where they first occur.
        let found = if i + 1 == names.len() {
            text.len().checked_sub(piece.len()).filter(|end| *end >= at && text.ends_with(piece))?
        } else {
            at + text[at..].find(piece)?
        };
        values.entry(name.to_string()).or_insert_with(|| text[at..found].to_string());
        at = found + piece.len();
    }
    Some(values)
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

/// A searchable list as a screen shows it (the second picker of a base branch or a commit).
#[derive(Debug, PartialEq)]
struct List {
    title: String,
    /// The line under the title, if any.
    subtitle: Option<String>,
    /// The search field, as it reads while nothing is typed.
    placeholder: String,
    rows: Vec<String>,
    footer: String,
}

/// The searchable list on `screen`: a block of unnumbered rows, one of them selected (`› row`), under the search
/// field, itself under a title and maybe a line more, each block apart from the next by an empty row, and a line of
/// keys under the rows.
fn list(screen: &str) -> Option<List> {
    let rows: Vec<&str> = screen.lines().collect();
    let text_of = |row: &'_ str| row.strip_prefix("› ").or_else(|| row.strip_prefix("  ")).map(str::to_string);
    let is_row = |row: &str| text_of(row).is_some_and(|text| !text.is_empty() && !text.starts_with(' '));
    let numbered = |row: &str| {
        text_of(row).is_some_and(|text| text.split_once(". ").is_some_and(|(n, _)| n.parse::<u32>().is_ok()))
    };
    let selected = rows.iter().position(|row| row.starts_with("› ") && !numbered(row))?;
    let start = (0..=selected).rev().take_while(|i| is_row(rows[*i])).last()?;
    let end = (selected..rows.len()).take_while(|i| is_row(rows[*i])).last()? + 1;
    let blank = |i: usize| rows.get(i).is_some_and(|row| row.trim().is_empty());
    // Above the rows: an empty row, the search field, an empty row, the title (and its subtitle).
    let field = start.checked_sub(2).filter(|f| blank(start - 1) && !blank(*f) && *f >= 2 && blank(f - 1))?;
    let heading_end = field - 1;
    let heading_start = (0..heading_end).rev().take_while(|i| !blank(*i)).last()?;
    let heading: Vec<String> = rows[heading_start..heading_end].iter().map(|r| r.trim().to_string()).collect();
    let (title, subtitle) = match heading.as_slice() {
        [title] => (title.clone(), None),
        [title, subtitle] => (title.clone(), Some(subtitle.clone())),
        _ => return None,
    };
    let footer = rows.get(end + 1).filter(|_| blank(end)).map(|r| r.trim()).filter(|r| !r.is_empty())?;
    Some(List {
        title,
        subtitle,
        placeholder: rows[field].trim().to_string(),
        rows: rows[start..end].iter().filter_map(|row| text_of(row)).collect(),
        footer: footer.to_string(),
    })
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
    fn the_recorded_base_branch_and_commit_reviews_teach_their_lists_and_lines() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let inputs = crate::load(&root.join("captures/codex-0.169.0"), &root.join("fixtures/scenarios")).unwrap();
        let mut texts = Texts::default();
        // Exec's reviews teach the requests the presets are recognized by.
        crate::review::learn(&inputs, &mut texts).unwrap();
        for name in ["tui-review-base", "tui-review-commit"] {
            let scenario = inputs.scenarios.iter().find(|s| s.name == name).unwrap();
            learn(scenario, &mut texts).unwrap();
        }
        let texts = texts.into_map();
        let text = |preset: &str, part: &str| texts.get(&keys::tui_review_list(preset, part)).map(String::as_str);
        assert_eq!(text("base_branch", "subtitle").map(|s| s.ends_with(": {{branch}}")), Some(true));
        assert_eq!(text("commit", "subtitle"), None, "the commit picker has no line under its title");
        for preset in keys::TUI_REVIEW_LISTS {
            for part in ["title", "placeholder", "footer"] {
                let learned = text(preset, part).unwrap_or_default();
                assert!(!learned.is_empty() && !learned.contains("  "), "{preset} {part}: {learned:?}");
            }
        }
        let base = &texts[&keys::tui_review_started("base_branch")];
        assert!(base.contains("{{branch}}") && !base.contains("alpha"), "{base}");
        let commit = &texts[&keys::tui_review_started("commit")];
        assert!(commit.contains("{{short_sha}}") && commit.contains("{{title}}"), "{commit}");
        assert!(!commit.contains("ccfde5d") && !commit.contains("Make add faster"), "{commit}");
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
    fn a_request_fits_the_template_it_was_made_from_and_tells_its_values() {
        let values = |template, text| template_values(template, text);
        let one = |name: &str, value: &str| BTreeMap::from([(name.to_string(), value.to_string())]);
        assert_eq!(values("Review {{sha}} now.", "Review abc123 now."), Some(one("sha", "abc123")));
        let both = values("Review {{sha}} (\"{{title}}\").", "Review abc (\"T\").").unwrap();
        assert_eq!((both["sha"].as_str(), both["title"].as_str()), ("abc", "T"));
        assert_eq!(values("Review {{sha}} now.", "Review abc123 later."), None);
        assert_eq!(values("Plain.", "Plain."), Some(BTreeMap::new()));
        assert_eq!(values("Plain.", "Plain. More."), None);
        // A placeholder named twice keeps its first value.
        let base = "Against '{{branch}}' from {{merge_base}}; relative to {{branch}}.";
        let found = values(base, "Against 'alpha' from 009f; relative to alpha.").unwrap();
        assert_eq!((found["branch"].as_str(), found["merge_base"].as_str()), ("alpha", "009f"));
        assert_eq!(values("A {{x}} B", "A  B"), Some(one("x", "")), "an empty value");
        assert_eq!(values("A {{x}} BB", "A B"), None, "the last piece cannot overlap the first");
    }

    #[test]
    fn a_searchable_list_is_its_unnumbered_rows_under_a_title_and_a_search_field() {
        let screen = "\n  >_ header\n\n\n  Select a base branch\n  Current branch: feature\n\n  Type to search branches\n\n› main\n  alpha\n  feature\n\n  enter select · esc back\n";
        let found = list(screen).unwrap();
        assert_eq!(found.title, "Select a base branch");
        assert_eq!(found.subtitle.as_deref(), Some("Current branch: feature"));
        assert_eq!(found.placeholder, "Type to search branches");
        assert_eq!(found.rows, ["main", "alpha", "feature"]);
        assert_eq!(found.footer, "enter select · esc back");
        let commits = "  Select a commit\n\n  Type to search\n\n  Document add\n› Make add faster\n\n  keys\n";
        let found = list(commits).unwrap();
        assert_eq!((found.subtitle, found.rows.len()), (None, 2));
        assert_eq!(
            list("  Select a review preset\n\n› 1. First\n  2. Second\n\n  keys\n"),
            None,
            "numbered: the presets"
        );
        assert_eq!(list("  Title\n\n› row\n\n  keys\n"), None, "no search field");
    }
}
