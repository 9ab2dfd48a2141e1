//! What a skill of the workspace shows: the skills listing's lines for a skill root and a skill, and the message a
//! `skill` input item becomes.
//!
//! Learned from a run whose workspace holds one `SKILL.md` (the scenario's files) and whose first request lists it:
//! its listing is the model's listing (learned from exec runs) with two lines more, a root line and a skill line.
//! Knowing the skill's name, description and path, those lines become templates; knowing where they were inserted,
//! every model's listing becomes a frame in which rcodex puts its own roots (`{{skill_roots}}`, the system root's
//! line among them), the system skills' alias (`{{system_alias}}`) and the skills it found (`{{more_skills}}`, after
//! the system skills, each line preceded by a newline); the system root's path is kept apart.

use std::collections::BTreeMap;

use rcodex_prompt_pack::{keys, render};
use serde_json::Value;

use super::{Inputs, PackError, Texts, check_no_leftovers, generalize, run_values};

/// A skill file of the scenario's workspace.
pub(crate) struct WorkspaceSkill {
    /// Relative to the workspace: `.agents/skills/demo/SKILL.md`.
    pub file: String,
    pub contents: String,
    pub name: String,
    pub description: String,
}

/// The workspace's only `SKILL.md` with a front matter naming it and describing it, if it has exactly one.
pub(crate) fn workspace_skill(files: &BTreeMap<String, Vec<u8>>) -> Option<WorkspaceSkill> {
    let mut found = files.iter().filter(|(path, _)| path.ends_with("/SKILL.md"));
    let (file, contents) = found.next()?;
    if found.next().is_some() {
        return None;
    }
    let contents = String::from_utf8(contents.clone()).ok()?;
    let front = contents.strip_prefix("---\n")?;
    let front = &front[..front.find("\n---")?];
    let field = |key: &str| {
        front.lines().find_map(|line| line.strip_prefix(key)?.strip_prefix(':')).map(|v| v.trim().to_string())
    };
    Some(WorkspaceSkill { name: field("name")?, description: field("description")?, file: file.clone(), contents })
}

/// What one run's listing teaches.
#[derive(Debug, PartialEq)]
pub(crate) struct Learned<'a> {
    /// By key: the root line's template, the skill line's and the alias prefix, in that order.
    pub texts: Vec<(&'static str, String)>,
    /// The lines as the listing has them.
    pub root_line: &'a str,
    pub skill_line: &'a str,
}

/// Learns from every run whose workspace holds a skill: the listing's lines, the skill message; then makes every
/// model's listing a frame (once the lines are known). A run whose listing cannot be read so is an error.
pub(crate) fn learn(inputs: &Inputs, texts: &mut Texts) -> Result<(), PackError> {
    for scenario in &inputs.scenarios {
        let Some(skill) = workspace_skill(&scenario.workspace_files) else { continue };
        let fail = |message: String| PackError::Scenario { scenario: scenario.name.clone(), message };
        let request = &scenario.first_request.request;
        let input = request.input();
        let values = run_values(input).ok_or_else(|| fail("no <environment_context> with a <cwd>".into()))?;
        let model = request.body["model"].as_str().ok_or_else(|| fail("the request has no model".into()))?;
        let listing = input
            .iter()
            .flat_map(|item| item["content"].as_array().into_iter().flatten())
            .filter_map(|part| part["text"].as_str())
            .find(|text| text.starts_with("<skills_instructions>"))
            .map(|text| generalize(text, &values))
            .ok_or_else(|| fail("the first request has no skills listing".into()))?;
        let base_key = keys::skills(model);
        let base = texts.0.get(&base_key).map(|(_, text)| text.clone()).ok_or_else(|| {
            fail(format!("no exec run of model {model} shows its listing without the workspace's skill"))
        })?;
        let learned = listing_templates(&base, &listing, &skill).map_err(|m| fail(format!("{base_key}: {m}")))?;
        // Where the lines went: the frame, filled with the run's roots and skill, must give the listing back.
        let (root_template, skill_template) = (&learned.texts[0].1, &learned.texts[1].1);
        let (frame, _) = listing_frame(&base, root_template, skill_template).map_err(fail)?;
        let system_root = base.split('\n').find(|line| captures(line, root_template).is_some()).unwrap_or_default();
        let system_alias = format!("{}0", learned.texts[2].1);
        let roots = format!("{system_root}\n{}", learned.root_line);
        let more = format!("\n{}", learned.skill_line);
        let filled =
            render(&frame, &[("skill_roots", &roots), ("system_alias", &system_alias), ("more_skills", &more)])
                .map_err(|e| fail(e.to_string()))?;
        if filled != listing {
            return Err(fail(format!(
                "{base_key}: the workspace's root and skill lines are not where rcodex would put them (after the \
                 root table's line, after the system skills)"
            )));
        }
        for (key, text) in learned.texts {
            texts.put(key.to_string(), text, &scenario.name)?;
        }
        if let Some(template) = message_template(input, &values.cwd, &skill).map_err(fail)? {
            check_no_leftovers(&template, &values).map_err(|m| fail(format!("{}: {m}", keys::SKILL_MESSAGE)))?;
            texts.put(keys::SKILL_MESSAGE.to_string(), template, &scenario.name)?;
        }
    }
    let (Some((_, root_template)), Some((_, skill_template))) =
        (texts.0.get(keys::SKILLS_ROOT_LINE).cloned(), texts.0.get(keys::SKILLS_SKILL_LINE).cloned())
    else {
        return Ok(());
    };
    let listing_keys: Vec<String> = texts.0.keys().filter(|k| k.starts_with(&keys::skills(""))).cloned().collect();
    for key in listing_keys {
        let (scenario, listing) = texts.0[&key].clone();
        let (frame, system_root) = listing_frame(&listing, &root_template, &skill_template).map_err(|message| {
            PackError::Scenario { scenario: scenario.clone(), message: format!("{key}: {message}") }
        })?;
        texts.put(keys::SKILLS_SYSTEM_ROOT.to_string(), system_root, &scenario)?;
        texts.0.insert(key, (scenario, frame));
    }
    Ok(())
}

/// The templates a listing with one workspace skill more than `base` shows. `listing` and `base` are generalized
/// (`{{cwd}}` for the workspace); the skill's root is `{{cwd}}/` and the directory above the skill's own.
pub(crate) fn listing_templates<'a>(
    base: &str,
    listing: &'a str,
    skill: &WorkspaceSkill,
) -> Result<Learned<'a>, String> {
    let base_lines: Vec<&str> = base.split('\n').collect();
    let mut inserted = Vec::new();
    let mut next = 0;
    for (index, line) in listing.split('\n').enumerate() {
        if base_lines.get(next) == Some(&line) {
            next += 1;
        } else {
            inserted.push((index, next, line));
        }
    }
    if next != base_lines.len() || inserted.len() != 2 {
        return Err(format!(
            "its skills listing is not the model's listing with a root line and a skill line more ({} lines more)",
            inserted.len()
        ));
    }
    let (skill_dir, _) = skill.file.rsplit_once('/').ok_or("the skill file is not in a directory")?;
    let (root_dir, dir_name) = skill_dir.rsplit_once('/').ok_or("the skill's directory has no root above it")?;
    let root = format!("{{{{cwd}}}}/{root_dir}");
    let relative = format!("{dir_name}/SKILL.md");
    let root_line = inserted.iter().find(|(_, _, l)| l.contains(&root)).ok_or("no inserted line names the root")?.2;
    let skill_line = inserted.iter().find(|(_, _, l)| *l != root_line).ok_or("no inserted line for the skill")?.2;

    // The skill line: its name, then its description, then its path (an alias, a slash, the path under the root).
    let name_at = skill_line.find(&skill.name).ok_or("the skill line does not hold the skill's name")?;
    let after_name = name_at + skill.name.len();
    let description_at = after_name
        + skill_line[after_name..].find(&skill.description).ok_or("the skill line does not hold the description")?;
    let after_description = description_at + skill.description.len();
    let path_at = after_description
        + skill_line[after_description..]
            .rfind(&format!("/{relative}"))
            .ok_or("the skill line does not hold its path")?;
    let alias_at = skill_line[..path_at].rfind(|c: char| !c.is_ascii_alphanumeric()).map_or(0, |i| i + 1);
    let alias = &skill_line[alias_at..path_at];
    let alias_prefix = alias.trim_end_matches(|c: char| c.is_ascii_digit());
    if alias.is_empty() || alias_prefix.is_empty() || alias_prefix == alias || alias_at < after_description {
        return Err(format!("the skill's path in its line has no alias of the form <prefix><index>: {skill_line}"));
    }
    let path_end = path_at + 1 + relative.len();
    let skill_template = format!(
        "{}{{{{name}}}}{}{{{{description}}}}{}{{{{path}}}}{}",
        &skill_line[..name_at],
        &skill_line[after_name..description_at],
        &skill_line[after_description..alias_at],
        &skill_line[path_end..]
    );
    let root_template = root_line.replacen(&root, "{{root}}", 1);
    if !root_template.contains(alias) {
        return Err(format!("the root line does not name the alias {alias}: {root_line}"));
    }
    let root_template = root_template.replacen(alias, "{{alias}}", 1);
    Ok(Learned {
        texts: vec![
            (keys::SKILLS_ROOT_LINE, root_template),
            (keys::SKILLS_SKILL_LINE, skill_template),
            (keys::SKILLS_ALIAS_PREFIX, alias_prefix.to_string()),
        ],
        root_line,
        skill_line,
    })
}

/// The values a line holds where its template has placeholders, in order; `None` when it does not fit.
fn captures<'a>(line: &'a str, template: &str) -> Option<Vec<&'a str>> {
    let names = rcodex_prompt_pack::placeholders(template);
    if names.is_empty() {
        return (line == template).then(Vec::new);
    }
    let mut literals: Vec<&str> = Vec::new();
    let mut rest = template;
    for name in &names {
        let marker = format!("{{{{{name}}}}}");
        let (literal, after) = rest.split_once(&marker)?;
        literals.push(literal);
        rest = after;
    }
    let mut values = Vec::new();
    let mut remaining = line.strip_prefix(literals.first().copied().unwrap_or(""))?;
    for (index, _) in names.iter().enumerate() {
        let next_literal = literals.get(index + 1).copied().unwrap_or(rest);
        let end = if index + 1 == names.len() {
            // The last value runs to the template's tail.
            remaining.strip_suffix(rest).map(str::len)?
        } else {
            remaining.find(next_literal)?
        };
        values.push(&remaining[..end]);
        remaining = &remaining[end + next_literal.len()..];
    }
    Some(values)
}

/// A model's listing as a frame: its block of root lines becomes `{{skill_roots}}`, the system skills' alias in
/// their lines `{{system_alias}}`, and `{{more_skills}}` follows the last skill line.
/// Also the system root's path, as the listing names it (`{{codex_home}}/skills/.system`).
pub(crate) fn listing_frame(
    listing: &str,
    root_template: &str,
    skill_template: &str,
) -> Result<(String, String), String> {
    let lines: Vec<&str> = listing.split('\n').collect();
    let roots: Vec<usize> = (0..lines.len()).filter(|&i| captures(lines[i], root_template).is_some()).collect();
    let (Some(&first_root), Some(&last_root)) = (roots.first(), roots.last()) else {
        return Err("the skills listing has no root line".into());
    };
    if roots.len() != 1 {
        return Err(format!(
            "the skills listing has {} root lines where one, the system skills', was expected",
            roots.len()
        ));
    }
    let root_values = captures(lines[first_root], root_template).unwrap_or_default();
    let root_names = rcodex_prompt_pack::placeholders(root_template);
    let value_of = |name: &str| root_names.iter().position(|n| *n == name).and_then(|i| root_values.get(i).copied());
    let system_alias = value_of("alias").ok_or("the root line has no alias")?;
    let system_root = value_of("root").ok_or("the root line has no root")?;
    let skill_names = rcodex_prompt_pack::placeholders(skill_template);
    let mut out: Vec<String> = Vec::with_capacity(lines.len());
    let mut last_skill = None;
    for (index, line) in lines.iter().enumerate() {
        if index == first_root {
            out.push("{{skill_roots}}".into());
            continue;
        }
        if index > first_root && index <= last_root {
            continue;
        }
        match captures(line, skill_template) {
            Some(values) => {
                let mut values: Vec<(&str, String)> =
                    skill_names.iter().copied().zip(values.into_iter().map(str::to_string)).collect();
                for (name, value) in values.iter_mut() {
                    if *name == "path" {
                        let under = value
                            .strip_prefix(&format!("{system_alias}/"))
                            .ok_or_else(|| format!("a system skill's path is not under {system_alias}: {line}"))?;
                        *value = format!("{{{{system_alias}}}}/{under}");
                    }
                }
                let values: Vec<(&str, &str)> = values.iter().map(|(n, v)| (*n, v.as_str())).collect();
                out.push(render(skill_template, &values).map_err(|e| e.to_string())?);
                last_skill = Some(out.len() - 1);
            }
            None => out.push(line.to_string()),
        }
    }
    let last_skill = last_skill.ok_or("the skills listing has no skill line")?;
    out[last_skill].push_str("{{more_skills}}");
    Ok((out.join("\n"), system_root.to_string()))
}

/// The message a `skill` input item became: the user message of the first request holding the skill file whole.
/// Its contents, its absolute path (`cwd` and the file) and its name become placeholders.
pub(crate) fn message_template(input: &[Value], cwd: &str, skill: &WorkspaceSkill) -> Result<Option<String>, String> {
    let text = input
        .iter()
        .filter(|item| item["type"] == "message" && item["role"] == "user")
        .flat_map(|item| item["content"].as_array().into_iter().flatten())
        .filter_map(|part| part["text"].as_str())
        .find(|text| text.contains(&skill.contents));
    let Some(text) = text else { return Ok(None) };
    let path = format!("{cwd}/{}", skill.file);
    let template = text.replacen(&skill.contents, "{{contents}}", 1);
    if template.matches(&path).count() != 1 {
        return Err(format!("the skill message does not name the skill's path {path} once"));
    }
    let template = template.replacen(&path, "{{path}}", 1);
    if template.matches(&skill.name).count() != 1 {
        return Err(format!("the skill message does not name the skill {:?} once around its contents", skill.name));
    }
    Ok(Some(template.replacen(&skill.name, "{{name}}", 1)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn demo() -> WorkspaceSkill {
        let files = BTreeMap::from([(
            ".agents/skills/demo/SKILL.md".to_string(),
            b"---\nname: demo\ndescription: demo skill\n---\n\nBody.\n".to_vec(),
        )]);
        workspace_skill(&files).unwrap()
    }

    const BASE: &str = "<s>\n## Roots\n- `r0` = `{{codex_home}}/skills/.system`\n## Skills\n- a: A thing. (file: r0/a/SKILL.md)\n- b: B thing. (file: r0/b/SKILL.md)\n## Use\nRead them.\n</s>";

    #[test]
    fn a_workspace_skill_teaches_the_listing_lines_and_the_frame() {
        let skill = demo();
        assert_eq!((skill.name.as_str(), skill.description.as_str()), ("demo", "demo skill"));
        let listing = BASE
            .replace("/.system`\n", "/.system`\n- `r1` = `{{cwd}}/.agents/skills`\n")
            .replace("b/SKILL.md)\n", "b/SKILL.md)\n- demo: demo skill (file: r1/demo/SKILL.md)\n");
        let learned = listing_templates(BASE, &listing, &skill).unwrap();
        assert_eq!(learned.skill_line, "- demo: demo skill (file: r1/demo/SKILL.md)");
        let texts = learned.texts;
        assert_eq!(
            texts,
            vec![
                (keys::SKILLS_ROOT_LINE, "- `{{alias}}` = `{{root}}`".to_string()),
                (keys::SKILLS_SKILL_LINE, "- {{name}}: {{description}} (file: {{path}})".to_string()),
                (keys::SKILLS_ALIAS_PREFIX, "r".to_string()),
            ]
        );
        let (frame, system_root) = listing_frame(BASE, &texts[0].1, &texts[1].1).unwrap();
        assert_eq!(system_root, "{{codex_home}}/skills/.system");
        assert_eq!(
            frame,
            "<s>\n## Roots\n{{skill_roots}}\n## Skills\n- a: A thing. (file: {{system_alias}}/a/SKILL.md)\n- b: B thing. (file: {{system_alias}}/b/SKILL.md){{more_skills}}\n## Use\nRead them.\n</s>"
        );
        // Filled as rcodex fills it, the frame gives back the recorded listing.
        let roots = "- `r0` = `{{codex_home}}/skills/.system`\n- `r1` = `{{cwd}}/.agents/skills`";
        let more = "\n- demo: demo skill (file: r1/demo/SKILL.md)";
        let filled = render(&frame, &[("skill_roots", roots), ("system_alias", "r0"), ("more_skills", more)]).unwrap();
        assert_eq!(filled, listing);
        // A listing with something else added is refused.
        assert!(listing_templates(BASE, &format!("{listing}\nmore"), &skill).is_err());
    }

    #[test]
    fn the_skill_message_becomes_a_template() {
        let skill = demo();
        let text = format!(
            "<skill>\n<name>demo</name>\n<path>/w/.agents/skills/demo/SKILL.md</path>\n{}\n</skill>",
            skill.contents
        );
        let input =
            [serde_json::json!({"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]})];
        assert_eq!(
            message_template(&input, "/w", &skill).unwrap().unwrap(),
            "<skill>\n<name>{{name}}</name>\n<path>{{path}}</path>\n{{contents}}\n</skill>"
        );
        assert_eq!(message_template(&input[..0], "/w", &skill).unwrap(), None);
    }

    #[test]
    fn lines_are_matched_against_templates() {
        let template = "- {{name}}: {{description}} (file: {{path}})";
        assert_eq!(
            captures("- a: A: thing. (file: r0/a/SKILL.md)", template).unwrap(),
            ["a", "A: thing.", "r0/a/SKILL.md"]
        );
        assert!(captures("## Skills", template).is_none());
        assert_eq!(captures("- `r0` = `/x`", "- `{{alias}}` = `{{root}}`").unwrap(), ["r0", "/x"]);
    }
}
