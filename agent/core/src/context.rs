//! The context a new session starts with: the items before the user's first prompt.
//!
//! What they say comes from the prompt pack, word for word; which of them appear, with which values, is decided here
//! from the session's own state: the model, the sandbox and approval policy, the workspace, the date and timezone,
//! and the AGENTS.md files found on the way from the project root to the working directory.

use std::path::{Path, PathBuf};

use rcodex_prompt_pack::{ContextItem, Family, ModelInfo, Pack, Part, keys, render};
use serde_json::Value;

use crate::config::{ApprovalPolicy, SandboxMode};
use crate::items;

/// What the context describes.
#[derive(Debug, Clone)]
pub struct Environment {
    pub cwd: PathBuf,
    pub codex_home: PathBuf,
    /// The user's shell, by name (`bash`).
    pub shell: String,
    /// `YYYY-MM-DD`, in the local timezone.
    pub current_date: String,
    /// The IANA name of the local timezone (`Etc/UTC`).
    pub timezone: String,
    pub sandbox_mode: SandboxMode,
    pub approval: ApprovalPolicy,
    pub network: bool,
    /// Where commands may write (workspace-write only), in any order: they are listed sorted.
    pub writable_roots: Vec<PathBuf>,
    /// The workspace roots in order, the working directory first (`--add-dir` adds more).
    pub workspace_roots: Vec<PathBuf>,
    pub agents_md: Option<AgentsMd>,
    /// The global `CODEX_HOME/AGENTS.md`, trimmed: it comes before the project's.
    pub user_instructions: Option<String>,
    /// `developer_instructions` from the configuration.
    pub developer_instructions: Option<String>,
    /// The text of `model_instructions_file`, in place of the model's instructions.
    pub model_instructions: Option<String>,
    /// `personality = "none"`: the model's instructions without their personality section.
    pub no_personality: bool,
    /// The skills found on disk (the system skills are the prompt pack's).
    pub skills: crate::skills::Skills,
    /// The prefixes the exec policy's `allow` rules approve, listed in the permissions under `on-request`.
    pub approved_prefixes: Vec<Vec<String>>,
    /// The namespaces of the configured MCP servers (`mcp__<server>`), sorted: the context names them.
    pub mcp_namespaces: Vec<String>,
}

/// The AGENTS.md instructions of the workspace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentsMd {
    /// The directory they are for: the working directory.
    pub directory: PathBuf,
    pub contents: String,
}

/// How requests are made for one model: its catalog entry and the recipe learned for it (or for a model like it).
#[derive(Debug, Clone)]
pub struct ModelProfile<'a> {
    pub slug: String,
    pub info: Option<&'a ModelInfo>,
    pub family: &'a Family,
    /// The recorded model whose recipe this is.
    pub family_slug: String,
    /// Where the pack keeps the recipe's `additional_tools` (by recorded model and network access): a title
    /// request's tools are its own ([`keys::tui_title_additional_tools`]), not its thread's.
    pub tools_key: fn(&str, &str) -> String,
    /// The profile the thread started with, when the thread went on with another model's recipe
    /// ([`ModelProfile::in_thread_of`]).
    pub thread_setup: Option<Box<ModelProfile<'a>>>,
    /// A sub-agent's profile ([`ModelProfile::for_subagent`]): its context has no collaboration setup.
    pub subagent: bool,
}

/// The namespace of a Responses Lite model's own tools in its `additional_tools`; the other namespaces come with its
/// recipe's collaboration setup (multi-agent tools).
const OWN_TOOLS_NAMESPACE: &str = "functions";

impl<'a> ModelProfile<'a> {
    fn new(slug: &str, info: Option<&'a ModelInfo>, family: &'a Family, family_slug: &str) -> ModelProfile<'a> {
        ModelProfile {
            slug: slug.into(),
            info,
            family,
            family_slug: family_slug.into(),
            tools_key: keys::additional_tools,
            thread_setup: None,
            subagent: false,
        }
    }

    /// This model running a sub-agent, whose context upstream 0.169.0 gives none of the recipe's collaboration
    /// setup: no fixed texts (the deferred namespaces of gpt-5.5's, the `/root` and multi-agent mode messages of
    /// gpt-5.6-sol's) and no multi-agent namespace among its `additional_tools` (the `subagent-*` scenarios).
    pub fn for_subagent(self) -> ModelProfile<'a> {
        ModelProfile { subagent: true, ..self }
    }

    /// Responses Lite: tools in an `additional_tools` item, the instructions as a plain developer message.
    pub fn lite(&self) -> bool {
        self.info.map(|i| i.use_responses_lite).unwrap_or(false)
    }

    /// This model taking over a thread that has run with `previous`. A thread's collaboration setup (its
    /// collaboration mode, multi-agent tools, deferred namespaces: the fixed texts of its context) is settled when
    /// it starts, by the recipe of its first model; a later model brings only its instructions, skills and tool
    /// format (upstream 0.169.0, gpt-5.5 then gpt-5.6-sol in the interface: the context rebuilt after the switch's
    /// compaction is gpt-5.5's with gpt-5.6-sol's instructions and its own tools alone in an `additional_tools`).
    pub fn in_thread_of(self, previous: &ModelProfile<'a>) -> ModelProfile<'a> {
        let setup = match &previous.thread_setup {
            Some(setup) => (**setup).clone(),
            None => previous.clone(),
        };
        let own = *setup.family == *self.family;
        ModelProfile { thread_setup: (!own).then(|| Box::new(setup)), ..self }
    }

    /// The context recipe: the model's own, or in a thread set up by another recipe, that recipe's messages after
    /// this model's tools item, each named (its id scheme) as this model names the item that begins alike.
    pub fn recipe(&self) -> Vec<ContextItem> {
        let recipe = self.thread_recipe();
        if !self.subagent {
            return recipe;
        }
        let setup = |part: &Part| matches!(part, Part::Text(_));
        recipe
            .into_iter()
            .map(|item| ContextItem { parts: item.parts.into_iter().filter(|p| !setup(p)).collect(), ..item })
            .collect()
    }

    fn thread_recipe(&self) -> Vec<ContextItem> {
        let own = &self.family.context;
        let Some(setup) = &self.thread_setup else { return own.clone() };
        let begins = |item: &ContextItem| {
            (item.item_type.clone(), item.role.clone(), item.parts.first().map(std::mem::discriminant))
        };
        let tools = own.iter().filter(|item| item.item_type == "additional_tools").cloned();
        let messages = setup.family.context.iter().filter(|item| item.item_type != "additional_tools").map(|item| {
            let id = own.iter().find(|o| begins(o) == begins(item)).map_or_else(|| item.id.clone(), |o| o.id.clone());
            ContextItem { id, ..item.clone() }
        });
        tools.chain(messages).collect()
    }

    /// The `additional_tools` this model offers, by network access: in a thread set up by another recipe, its own
    /// tools and those of the setup's namespaces it shares (a setup without multi-agent namespaces has none).
    fn additional_tools(&self, pack: &Pack, network: &str) -> Result<Value, ContextError> {
        let tools_of = |model: &ModelProfile| -> Result<Value, ContextError> {
            let key = (model.tools_key)(&model.family_slug, network);
            serde_json::from_str(pack.text(&key).ok_or(ContextError::MissingText(key.clone()))?)
                .map_err(|_| ContextError::MissingText(key))
        };
        let mut tools = tools_of(self)?;
        let name = |tool: &Value| tool.get("name").and_then(Value::as_str).unwrap_or_default().to_string();
        if self.subagent {
            if let Some(list) = tools.as_array_mut() {
                list.retain(|tool| name(tool) == OWN_TOOLS_NAMESPACE);
            }
            return Ok(tools);
        }
        let Some(setup) = &self.thread_setup else { return Ok(tools) };
        let setup_tools = if setup.family.context.iter().any(|item| item.item_type == "additional_tools") {
            tools_of(setup)?
        } else {
            Value::Null
        };
        let setup_names: Vec<String> = setup_tools.as_array().into_iter().flatten().map(name).collect();
        if let Some(list) = tools.as_array_mut() {
            list.retain(|tool| name(tool) == OWN_TOOLS_NAMESPACE || setup_names.contains(&name(tool)));
        }
        Ok(tools)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ContextError {
    #[error("the prompt pack has no text {0} (record a scenario that shows it, then run parity pack)")]
    MissingText(String),
    #[error("the prompt pack's text {key}: {source}")]
    Template { key: String, source: rcodex_prompt_pack::MissingValue },
    #[error("the prompt pack has no instructions for model {0}")]
    NoInstructions(String),
}

/// The model's profile, and a warning when the model is not one the pack knows well.
pub fn resolve_model<'a>(pack: &'a Pack, slug: &str) -> (ModelProfile<'a>, Option<String>) {
    let known = pack.model(slug);
    // Upstream, a model missing from the catalog runs on fallback metadata, with a warning; so does rcodex, with the
    // fallback and the recipe recorded for such a model.
    let fallback = pack.fallback_model.as_ref().filter(|_| known.is_none());
    let info = known.or(fallback);
    let warning = match known {
        Some(_) => None,
        None => pack.text(keys::FALLBACK_MODEL_WARNING).and_then(|t| render(t, &[("model", slug)]).ok()),
    };
    if let Some(family) = pack.families.get(slug) {
        return (ModelProfile::new(slug, info, family, slug), warning);
    }
    if let Some((family_slug, family)) = fallback.and_then(|f| pack.families.get_key_value(&f.slug)) {
        return (ModelProfile::new(slug, info, family, family_slug), warning);
    }
    // A catalog model not recorded: the recipe of the recorded model most like it.
    let recorded = |s: &str| pack.model(s).or(pack.fallback_model.as_ref().filter(|f| f.slug == s));
    let (family_slug, family) = pack
        .families
        .iter()
        .min_by_key(|(s, _)| std::cmp::Reverse(likeness(info, recorded(s))))
        .expect("a pack has at least one recorded model");
    (ModelProfile::new(slug, info, family, family_slug), warning)
}

/// How alike two catalog entries are in what shapes a request's recipe: Responses Lite or not first, then how many
/// of the catalog's fields that the recordings show splitting the Lite models' recipes agree (0.169.0: the
/// multi-agent version, the experimental tools, the tool mode).
fn likeness(a: Option<&ModelInfo>, b: Option<&ModelInfo>) -> (bool, usize) {
    let (Some(a), Some(b)) = (a, b) else { return (false, 0) };
    let agreeing = [
        a.multi_agent_version == b.multi_agent_version,
        a.experimental_supported_tools == b.experimental_supported_tools,
        a.tool_mode == b.tool_mode,
    ];
    (a.use_responses_lite == b.use_responses_lite, agreeing.iter().filter(|same| **same).count())
}

/// The profile with the recipe of the frontend `surface` (the interface's own, or its title request's, when the pack
/// recorded them for the model's recipe), else as it is.
pub fn for_surface<'a>(pack: &'a Pack, model: ModelProfile<'a>, surface: crate::request::Surface) -> ModelProfile<'a> {
    let Some(tui) = &pack.tui else { return model };
    let (families, tools_key): (_, fn(&str, &str) -> String) = match surface {
        crate::request::Surface::Exec => return model,
        crate::request::Surface::Tui => (&tui.families, keys::additional_tools),
        crate::request::Surface::TuiTitle => (&tui.title_families, keys::tui_title_additional_tools),
    };
    match families.get(&model.slug).or_else(|| families.get(&model.family_slug)) {
        Some(family) => ModelProfile { family, tools_key, ..model },
        None => model,
    }
}

/// The context items, in order, for a new session of thread `thread_id`.
pub fn initial_context(
    pack: &Pack,
    model: &ModelProfile,
    env: &Environment,
    thread_id: &str,
) -> Result<Vec<Value>, ContextError> {
    let network = if env.network { "enabled" } else { "restricted" };
    let text = renderer(pack, env);

    let recipes = model.recipe();
    let mut out = Vec::with_capacity(recipes.len());
    let mut developer_placed = false;
    for (position, recipe) in recipes.iter().enumerate() {
        let id = item_id(recipe, thread_id, position);
        if recipe.item_type == "additional_tools" {
            let tools = model.additional_tools(pack, network)?;
            let item = serde_json::json!({"type": "additional_tools", "id": id, "role": recipe.role, "tools": tools});
            out.push(items::canonical(item, pack));
            continue;
        }
        let mut parts = Vec::with_capacity(recipe.parts.len() + 1);
        // Upstream 0.169.0 puts the configured developer instructions first in the developer message that lists
        // the skills and the permissions.
        if let Some(developer) = &env.developer_instructions
            && recipe.parts.iter().any(|p| matches!(p, Part::Skills | Part::Permissions))
            && !std::mem::replace(&mut developer_placed, true)
        {
            parts.push(developer.clone());
        }
        for part in &recipe.parts {
            match part {
                Part::ModelInstructions => match &env.model_instructions {
                    Some(text) => parts.push(text.clone()),
                    None if env.no_personality => parts.push(without_personality(pack, &instructions(pack, model)?)),
                    None => parts.push(instructions(pack, model)?),
                },
                Part::Skills => parts.push(text(keys::skills(&model.family_slug))?),
                Part::Permissions => parts.push(permissions(pack, env, &text)?),
                Part::EnvironmentContext => parts.push(text(keys::environment_context(env.sandbox_mode.as_str()))?),
                Part::AgentsMd => {
                    let project = env.agents_md.as_ref().map(|a| a.contents.as_str());
                    let contents = match (&env.user_instructions, project) {
                        (Some(global), Some(project)) => {
                            let key = keys::AGENTS_MD_GLOBAL_SEPARATOR;
                            let separator = pack.text(key).ok_or(ContextError::MissingText(key.into()))?;
                            Some(format!("{global}{separator}{project}"))
                        }
                        (Some(global), None) => Some(global.clone()),
                        (None, project) => project.map(str::to_string),
                    };
                    if let Some(contents) = contents {
                        let template =
                            pack.text(keys::AGENTS_MD).ok_or(ContextError::MissingText(keys::AGENTS_MD.into()))?;
                        let directory = env.cwd.display().to_string();
                        let rendered = render(template, &[("directory", &directory), ("contents", &contents)])
                            .map_err(|source| ContextError::Template { key: keys::AGENTS_MD.into(), source })?;
                        parts.push(rendered);
                    }
                }
                Part::Text(key) => parts.push(match mcp_text(pack, key, &env.mcp_namespaces) {
                    Some(with_servers) => with_servers,
                    None => text(key.clone())?,
                }),
            }
        }
        if !parts.is_empty() {
            out.push(items::canonical(items::message(&recipe.role, id, parts), pack));
        }
    }
    Ok(out)
}

/// A recipe's text as it reads with MCP servers, when they are and the pack knows how it then reads.
fn mcp_text(pack: &Pack, key: &str, namespaces: &[String]) -> Option<String> {
    if namespaces.is_empty() {
        return None;
    }
    let template = pack.text(&keys::mcp_text(key))?;
    let line = pack.text(keys::MCP_NAMESPACE_LINE)?;
    let lines: String = namespaces.iter().filter_map(|n| render(line, &[("namespace", n)]).ok()).collect();
    render(template, &[("mcp_namespaces", &lines)]).ok()
}

/// The permissions text of `env`'s sandbox and approval policy; under workspace-write with the network on, the text
/// upstream sends then (it says the network is enabled), when the pack has it.
fn permissions(
    pack: &Pack,
    env: &Environment,
    text: &impl Fn(String) -> Result<String, ContextError>,
) -> Result<String, ContextError> {
    let (mode, approval) = (env.sandbox_mode.as_str(), env.approval.as_str());
    let with_network = keys::permissions_with_network(mode, approval);
    let permissions =
        if env.network && env.sandbox_mode == SandboxMode::WorkspaceWrite && pack.text(&with_network).is_some() {
            text(with_network)?
        } else {
            text(keys::permissions(mode, approval))?
        };
    if env.approval == ApprovalPolicy::OnRequest {
        return Ok(crate::exec_policy::with_approved_prefixes(permissions, &env.approved_prefixes));
    }
    Ok(permissions)
}

/// Renders the pack's text `key` with `env`'s values.
fn renderer<'a>(pack: &'a Pack, env: &Environment) -> impl Fn(String) -> Result<String, ContextError> + 'a {
    let mut roots: Vec<String> = env.writable_roots.iter().map(|r| r.display().to_string()).collect();
    roots.sort();
    let roots = roots.iter().map(|r| format!("`{r}`")).collect::<Vec<_>>().join(", ");
    let values = [
        ("cwd", env.cwd.display().to_string()),
        ("codex_home", env.codex_home.display().to_string()),
        ("shell", env.shell.clone()),
        ("current_date", env.current_date.clone()),
        ("timezone", env.timezone.clone()),
        ("writable_roots", roots),
    ];
    let [skill_roots, system_alias, more_skills] = skills_listing(pack, env);
    let mut values = Vec::from(values);
    values.extend([("skill_roots", skill_roots), ("system_alias", system_alias), ("more_skills", more_skills)]);
    let workspace_roots: Vec<String> = env.workspace_roots.iter().map(|r| r.display().to_string()).collect();
    move |key: String| {
        let template = pack.text(&key).ok_or_else(|| ContextError::MissingText(key.clone()))?;
        let template = per_workspace_root(template, &workspace_roots);
        let values: Vec<(&str, &str)> = values.iter().map(|(name, value)| (*name, value.as_str())).collect();
        render(&template, &values).map_err(|source| ContextError::Template { key, source })
    }
}

/// The values the skills listing's frame takes, as upstream fills its listing: the root table (the system skills'
/// root and every root that gave a skill, in the order they were searched, aliased by their index), the system
/// skills' alias, and a line for each skill found, after a newline. Empty with a pack that knows no workspace
/// skill's lines (its listing then has no place for them).
fn skills_listing(pack: &Pack, env: &Environment) -> [String; 3] {
    let texts = [keys::SKILLS_ROOT_LINE, keys::SKILLS_SKILL_LINE, keys::SKILLS_ALIAS_PREFIX, keys::SKILLS_SYSTEM_ROOT]
        .map(|key| pack.text(key));
    let [Some(root_line), Some(skill_line), Some(prefix), Some(system_root)] = texts else {
        return Default::default();
    };
    let codex_home = env.codex_home.display().to_string();
    let system_root = render(system_root, &[("codex_home", &codex_home)]).unwrap_or_default();
    let skills = &env.skills;
    let alias = |index: usize| format!("{prefix}{index}");
    let roots: Vec<String> = skills
        .roots
        .iter()
        .enumerate()
        .map(|(index, root)| {
            let root = if index == skills.system_root_index { system_root.clone() } else { root.display().to_string() };
            render(root_line, &[("alias", &alias(index)), ("root", &root)]).unwrap_or_default()
        })
        .collect();
    let mut more = String::new();
    for skill in &skills.skills {
        let Some(index) = skills.root_index(&skill.root) else { continue };
        let under = skill.path.strip_prefix(&skill.root).unwrap_or(&skill.path).display().to_string();
        let path = format!("{}/{under}", alias(index));
        let values = [("name", skill.name.as_str()), ("description", skill.description.as_str()), ("path", &path)];
        more.push('\n');
        more.push_str(&render(skill_line, &values).unwrap_or_default());
    }
    [roots.join("\n"), alias(skills.system_root_index), more]
}

/// exec's prompt argument followed by what was piped on its stdin, framed as upstream 0.169.0 frames it (the input
/// ending with a newline); the prompt alone when nothing was piped or the pack has no frame.
pub fn prompt_with_stdin(prompt: &str, stdin: &str) -> String {
    frame_stdin(rcodex_prompt_pack::embedded(), prompt, stdin)
}

fn frame_stdin(pack: &Pack, prompt: &str, stdin: &str) -> String {
    let Some(frame) = pack.text(keys::STDIN_PROMPT).filter(|_| !stdin.trim().is_empty()) else {
        return prompt.to_string();
    };
    let stdin = if stdin.ends_with('\n') { stdin.to_string() } else { format!("{stdin}\n") };
    render(frame, &[("prompt", prompt), ("stdin", &stdin)]).unwrap_or_else(|_| prompt.to_string())
}

/// The user message that brings a selected skill's file into the conversation, as upstream's; `None` when the pack
/// has no text for it.
pub fn skill_message(pack: &Pack, skill: &crate::skills::Skill, contents: &str) -> Option<String> {
    let path = skill.path.display().to_string();
    render(pack.text(keys::SKILL_MESSAGE)?, &[("name", &skill.name), ("path", &path), ("contents", contents)]).ok()
}

/// What a thread tells the model when a turn changes its settings (the app server's `turn/start` overrides), as
/// upstream 0.169.0 was seen telling it, before the turn's input: the permissions text of the new sandbox and approval
/// policy as a developer message when it differs from the old one's; the environment context as a user message when
/// it differs, whole when the working directory changed, else without its `<cwd>` and `<shell>` lines.
pub fn settings_update(pack: &Pack, before: &Environment, after: &Environment) -> Result<Vec<Value>, ContextError> {
    let permissions = |env: &Environment| permissions(pack, env, &renderer(pack, env));
    let environment = |env: &Environment| renderer(pack, env)(keys::environment_context(env.sandbox_mode.as_str()));
    let mut out = Vec::new();
    let now = permissions(after)?;
    if permissions(before)? != now {
        out.push(items::canonical(items::message("developer", items::new_id("msg"), [now]), pack));
    }
    let now = environment(after)?;
    if before.cwd != after.cwd {
        out.push(items::canonical(items::message("user", items::new_id("msg"), [now]), pack));
    } else if environment(before)? != now {
        let unchanged = |line: &str| ["<cwd>", "<shell>"].iter().any(|tag| line.trim_start().starts_with(tag));
        let text: Vec<&str> = now.split_inclusive('\n').filter(|line| !unchanged(line)).collect();
        out.push(items::canonical(items::message("user", items::new_id("msg"), [text.concat()]), pack));
    }
    Ok(out)
}

/// The template with each element of its `<filesystem>` block that names the working directory (a `<root>`, an
/// `<entry>`) repeated once per workspace root, in their order, as upstream lists them: the recorded sessions have
/// one root, so the pack's templates name only `{{cwd}}`.
fn per_workspace_root(template: &str, roots: &[String]) -> String {
    const CWD: &str = "{{cwd}}";
    let (Some(start), Some(end)) = (template.find("<filesystem>"), template.find("</filesystem>")) else {
        return template.to_string();
    };
    if roots.len() < 2 || end < start {
        return template.to_string();
    }
    let mut out = String::from(&template[..start]);
    let mut rest = &template[start..end];
    while let Some((at, open)) =
        ["<root>", "<entry "].iter().filter_map(|open| rest.find(open).map(|i| (i, *open))).min()
    {
        let close = if open == "<root>" { "</root>" } else { "</entry>" };
        let Some(length) = rest[at..].find(close).map(|j| j + close.len()) else { break };
        let element = &rest[at..at + length];
        out.push_str(&rest[..at]);
        if element.contains(CWD) {
            for root in roots {
                out.push_str(&element.replace(CWD, root));
            }
        } else {
            out.push_str(element);
        }
        rest = &rest[at + length..];
    }
    out.push_str(rest);
    out.push_str(&template[end..]);
    out
}

/// A recorded model's instructions as upstream sent them; for another model, the catalog's template.
fn instructions(pack: &Pack, model: &ModelProfile) -> Result<String, ContextError> {
    if let Some(text) = pack.text(&keys::model_instructions(&model.slug)) {
        return Ok(text.to_string());
    }
    model
        .info
        .and_then(|i| i.instructions_template.clone())
        .or_else(|| pack.text(&keys::model_instructions(&model.family_slug)).map(str::to_string))
        .ok_or_else(|| ContextError::NoInstructions(model.slug.clone()))
}

/// The instructions without the section the pack names as the personality's (its heading line, up to the next
/// heading of its level or above), as upstream sends them for `personality = "none"`.
fn without_personality(pack: &Pack, instructions: &str) -> String {
    let Some(heading) = pack.text(keys::PERSONALITY_HEADING) else { return instructions.to_string() };
    let level = heading.chars().take_while(|c| *c == '#').count();
    let mut offset = 0;
    let mut start = None;
    for line in instructions.split_inclusive('\n') {
        let depth = line.chars().take_while(|c| *c == '#').count();
        let is_heading = depth > 0 && line[depth..].starts_with(' ');
        match start {
            None if line.trim_end() == heading => start = Some(offset),
            Some(from) if is_heading && depth <= level => {
                return format!("{}{}", &instructions[..from], &instructions[offset..]);
            }
            _ => {}
        }
        offset += line.len();
    }
    match start {
        Some(from) => instructions[..from].to_string(),
        None => instructions.to_string(),
    }
}

/// A name-based id stays the same for the whole thread, resumes included; a time-based one is new.
fn item_id(recipe: &ContextItem, thread_id: &str, position: usize) -> String {
    match recipe.id.version {
        5 => items::stable_id(&recipe.id.prefix, &format!("{thread_id}/{position}")),
        _ => items::new_id(&recipe.id.prefix),
    }
}

/// AGENTS.md instructions for `cwd`: from the project root (the nearest ancestor holding `.git`, else `cwd` alone)
/// down to `cwd`, each directory's `AGENTS.override.md` or else `AGENTS.md`, within `max_bytes` in all.
pub fn discover_agents_md(cwd: &Path, max_bytes: usize) -> std::io::Result<Option<AgentsMd>> {
    discover_project_docs(cwd, max_bytes, &[])
}

/// [`discover_agents_md`], with `fallbacks` (`project_doc_fallback_filenames`) tried in order in a directory that has
/// neither `AGENTS.override.md` nor `AGENTS.md`.
pub fn discover_project_docs(cwd: &Path, max_bytes: usize, fallbacks: &[String]) -> std::io::Result<Option<AgentsMd>> {
    let root = cwd.ancestors().find(|dir| dir.join(".git").exists());
    let mut dirs: Vec<&Path> = match root {
        Some(root) => cwd.ancestors().take_while(|d| *d != root).chain(std::iter::once(root)).collect(),
        None => vec![cwd],
    };
    dirs.reverse();
    let mut remaining = max_bytes;
    let mut docs = Vec::new();
    for dir in dirs {
        if remaining == 0 {
            break;
        }
        let names = ["AGENTS.override.md", "AGENTS.md"].into_iter().chain(fallbacks.iter().map(String::as_str));
        let Some(path) = names.map(|n| dir.join(n)).find(|p| p.is_file()) else {
            continue;
        };
        let mut data = std::fs::read(&path)?;
        data.truncate(remaining);
        let text = String::from_utf8_lossy(&data).into_owned();
        if !text.trim().is_empty() {
            remaining = remaining.saturating_sub(data.len());
            docs.push(text);
        }
    }
    Ok((!docs.is_empty()).then(|| AgentsMd { directory: cwd.to_path_buf(), contents: docs.join("\n\n") }))
}

/// The local timezone's IANA name, as upstream finds it (the system's setting, not `$TZ`).
pub fn local_timezone() -> String {
    iana_time_zone::get_timezone().unwrap_or_else(|_| "UTC".to_string())
}

/// Today's date in the local timezone.
pub fn local_date() -> String {
    jiff::Zoned::now().date().to_string()
}

/// The user's shell by name, as upstream 0.169.0 names it: the login shell of the user database, not `$SHELL`
/// (`config-shell`: `SHELL=/bin/sh` for a user whose login shell is bash gave `bash`); `$SHELL` only when the
/// database has none.
pub fn shell_name() -> String {
    let name = |path: &str| Path::new(path).file_name().map(|n| n.to_string_lossy().into_owned());
    login_shell()
        .as_deref()
        .and_then(name)
        .or_else(|| std::env::var("SHELL").ok().as_deref().and_then(name))
        .unwrap_or_else(|| "bash".to_string())
}

/// The current user's login shell from the user database (`getpwuid_r`).
fn login_shell() -> Option<String> {
    let mut buffer = vec![0 as libc::c_char; 16 * 1024];
    let mut entry: libc::passwd = unsafe { std::mem::zeroed() };
    let mut found: *mut libc::passwd = std::ptr::null_mut();
    // SAFETY: every pointer refers to live memory of the sizes given; the result is read only when found.
    let status = unsafe { libc::getpwuid_r(libc::getuid(), &mut entry, buffer.as_mut_ptr(), buffer.len(), &mut found) };
    if status != 0 || found.is_null() || entry.pw_shell.is_null() {
        return None;
    }
    // SAFETY: pw_shell points into `buffer`, a NUL-terminated string written by getpwuid_r.
    let shell = unsafe { std::ffi::CStr::from_ptr(entry.pw_shell) }.to_string_lossy().into_owned();
    (!shell.is_empty()).then_some(shell)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(mode: SandboxMode, agents: Option<AgentsMd>) -> Environment {
        Environment {
            cwd: "/w/project".into(),
            codex_home: "/h/.codex".into(),
            shell: "bash".into(),
            current_date: "2026-11-21".into(),
            timezone: "Etc/UTC".into(),
            sandbox_mode: mode,
            approval: ApprovalPolicy::Never,
            network: mode == SandboxMode::DangerFullAccess,
            writable_roots: vec!["/w/project".into(), "/tmp".into()],
            workspace_roots: vec!["/w/project".into()],
            agents_md: agents,
            user_instructions: None,
            developer_instructions: None,
            model_instructions: None,
            no_personality: false,
            skills: Default::default(),
            approved_prefixes: Vec::new(),
            mcp_namespaces: Vec::new(),
        }
    }

    #[test]
    fn the_default_model_s_context_is_rendered_from_the_pack() {
        let pack = rcodex_prompt_pack::embedded();
        let (model, warning) = resolve_model(pack, "gpt-5.5");
        assert!(warning.is_none());
        let items = initial_context(pack, &model, &env(SandboxMode::WorkspaceWrite, None), "thread-1").unwrap();
        assert_eq!(items.len(), 3);
        let texts: Vec<String> = items.iter().map(items::text_of).collect();
        assert!(texts[0].starts_with("You are Codex"), "the instructions come first");
        assert!(texts[1].contains("`/h/.codex/skills/.system`"), "skill roots under CODEX_HOME");
        assert!(texts[1].contains("The writable roots are `/tmp`, `/w/project`."), "roots sorted");
        assert!(texts[2].contains("<cwd>/w/project</cwd>") && texts[2].contains("<timezone>Etc/UTC</timezone>"));
        assert!(!texts.iter().any(|t| t.contains("{{")), "every placeholder is filled");
        assert!(!texts[2].contains("AGENTS.md"), "no AGENTS.md part without AGENTS.md");
        let again = initial_context(pack, &model, &env(SandboxMode::WorkspaceWrite, None), "thread-1").unwrap();
        assert_eq!(items[0]["id"], again[0]["id"], "the instructions' id is the thread's");
        assert_ne!(items[1]["id"], again[1]["id"]);
    }

    #[test]
    fn skills_found_on_disk_are_listed_after_the_system_skills_under_roots_of_their_own() {
        use crate::skills::{Scope, Skill, Skills};
        let pack = rcodex_prompt_pack::embedded();
        let (model, _) = resolve_model(pack, "gpt-5.5");
        let skill = |name: &str, root: &str, scope| Skill {
            name: name.into(),
            description: format!("{name} skill"),
            path: PathBuf::from(format!("{root}/{name}/SKILL.md")),
            root: root.into(),
            scope,
        };
        let mut with_skills = env(SandboxMode::ReadOnly, None);
        with_skills.skills = Skills {
            // As upstream orders them: by scope (repo before user), then name.
            skills: vec![
                skill("demo", "/w/project/.agents/skills", Scope::Repo),
                skill("mine", "/h/.agents/skills", Scope::User),
            ],
            roots: vec!["/h/.agents/skills".into(), PathBuf::new(), "/w/project/.agents/skills".into()],
            system_root_index: 1,
            errors: Vec::new(),
        };
        let listing = items::text_of(&initial_context(pack, &model, &with_skills, "t").unwrap()[1]);
        let roots =
            "- `r0` = `/h/.agents/skills`\n- `r1` = `/h/.codex/skills/.system`\n- `r2` = `/w/project/.agents/skills`\n";
        assert!(listing.contains(roots), "{listing}");
        assert!(listing.contains("(file: r1/imagegen/SKILL.md)"), "the system skills under their root's alias");
        let lines = "(file: r1/skill-installer/SKILL.md)\n- demo: demo skill (file: r2/demo/SKILL.md)\n- mine: mine skill (file: r0/mine/SKILL.md)\n";
        assert!(listing.contains(lines), "{listing}");
        // Without skills on disk, the listing is upstream's plain one.
        let plain = items::text_of(&initial_context(pack, &model, &env(SandboxMode::ReadOnly, None), "t").unwrap()[1]);
        assert!(
            plain.contains("### Skill roots\n- `r0` = `/h/.codex/skills/.system`\n### Available skills\n"),
            "{plain}"
        );
        assert!(plain.contains("(file: r0/skill-installer/SKILL.md)\n### How to use skills"), "{plain}");
    }

    #[test]
    fn a_change_of_settings_is_told_as_upstream_told_it() {
        let pack = rcodex_prompt_pack::embedded();
        let texts = |before: &Environment, after: &Environment| -> Vec<(String, String)> {
            let items = settings_update(pack, before, after).unwrap();
            items.iter().map(|i| (i["role"].as_str().unwrap().to_string(), items::text_of(i))).collect()
        };
        let read_only = env(SandboxMode::ReadOnly, None);
        assert!(texts(&read_only, &read_only).is_empty(), "nothing changed, nothing told");
        // The approval policy: the whole permissions text of the new policy, as a developer message.
        let writable = env(SandboxMode::WorkspaceWrite, None);
        let asking = Environment { approval: ApprovalPolicy::OnRequest, ..writable.clone() };
        let told = texts(&writable, &asking);
        assert_eq!(told.len(), 1);
        assert_eq!(told[0].0, "developer");
        let expected = renderer(pack, &asking)(keys::permissions("workspace-write", "on-request")).unwrap();
        assert_eq!(told[0].1, expected);
        // The working directory: the whole environment context, as a user message.
        let moved =
            Environment { cwd: "/w/other".into(), workspace_roots: vec!["/w/other".into()], ..read_only.clone() };
        let told = texts(&read_only, &moved);
        assert_eq!(told.len(), 1, "{told:?}");
        assert_eq!(told[0].0, "user");
        assert!(told[0].1.contains("<cwd>/w/other</cwd>") && told[0].1.contains("<shell>bash</shell>"), "{told:?}");
        // The sandbox alone: its permissions, then the environment context without the cwd and the shell.
        let told = texts(&writable, &read_only);
        assert_eq!(told.iter().map(|(role, _)| role.as_str()).collect::<Vec<_>>(), ["developer", "user"]);
        assert!(told[1].1.starts_with("<environment_context>\n  <current_date>"), "{}", told[1].1);
        assert!(!told[1].1.contains("<cwd>") && !told[1].1.contains("<shell>"), "{}", told[1].1);
    }

    #[test]
    fn agents_md_is_a_part_of_the_environment_message() {
        let pack = rcodex_prompt_pack::embedded();
        let (model, _) = resolve_model(pack, "gpt-5.5");
        let agents = AgentsMd { directory: "/w/project".into(), contents: "Be brief.\n".into() };
        let items = initial_context(pack, &model, &env(SandboxMode::ReadOnly, Some(agents)), "t").unwrap();
        let last = &items.last().unwrap()["content"];
        assert_eq!(last.as_array().unwrap().len(), 2);
        assert_eq!(
            last[0]["text"],
            "# AGENTS.md instructions for /w/project\n\n<INSTRUCTIONS>\nBe brief.\n\n</INSTRUCTIONS>"
        );
    }

    #[test]
    fn a_lite_model_gets_its_own_recipe_and_an_unknown_model_a_warning() {
        let pack = rcodex_prompt_pack::embedded();
        let (model, _) = resolve_model(pack, "gpt-5.6-sol");
        assert!(model.lite());
        let items = initial_context(pack, &model, &env(SandboxMode::ReadOnly, None), "t").unwrap();
        assert_eq!(items[0]["type"], "additional_tools");
        assert!(items[0]["id"].as_str().unwrap().starts_with("at_"));
        let (_, warning) = resolve_model(pack, "gpt-unheard-of");
        assert!(warning.unwrap().contains("gpt-unheard-of"));
    }

    #[test]
    fn a_model_the_catalog_does_not_know_runs_on_the_recorded_fallback() {
        let pack = rcodex_prompt_pack::embedded();
        let fallback = pack.fallback_model.as_ref().expect("a run of a model the catalog does not know is recorded");
        assert!(pack.model(&fallback.slug).is_none());
        let (model, warning) = resolve_model(pack, "never-heard-of");
        assert_eq!(model.slug, "never-heard-of");
        assert_eq!(model.family_slug, fallback.slug, "every unknown model has the recorded unknown model's recipe");
        assert_eq!(model.info.map(|i| i.slug.as_str()), Some(fallback.slug.as_str()));
        let warning = warning.expect("a warning");
        assert!(warning.contains("`never-heard-of`") && !warning.contains("{{"), "{warning}");
        // A catalog model is never given the fallback, even when its own runs are missing.
        let mut partial = pack.clone();
        partial.families.remove("gpt-6-luna");
        let (model, warning) = resolve_model(&partial, "gpt-6-luna");
        assert!(warning.is_none());
        assert!(model.lite() && model.family_slug != fallback.slug, "{}", model.family_slug);
    }

    #[test]
    fn a_catalog_model_not_recorded_gets_the_recipe_of_the_recorded_model_most_like_it() {
        let pack = rcodex_prompt_pack::embedded();
        let tools = |pack: &Pack, slug: &str| {
            let (model, _) = resolve_model(pack, slug);
            pack.text(&keys::additional_tools(&model.family_slug, "restricted")).map(str::to_string)
        };
        for slug in ["gpt-6-luna", "codex-auto-review", "gpt-5.6-terra"] {
            let mut partial = pack.clone();
            partial.families.remove(slug);
            let (model, warning) = resolve_model(&partial, slug);
            assert!(warning.is_none() && model.family_slug != slug);
            assert!(tools(&partial, slug) == tools(pack, slug), "{slug} got {}'s tools", model.family_slug);
            assert_eq!(partial.families[&model.family_slug].context.len(), pack.families[slug].context.len());
        }
        // The only other recipe that is not Responses Lite is the fallback's.
        let mut partial = pack.clone();
        partial.families.remove("gpt-5.5");
        let (model, _) = resolve_model(&partial, "gpt-5.5");
        assert_eq!(Some(&model.family_slug), pack.fallback_model.as_ref().map(|f| &f.slug));
    }

    /// The names of the namespaces of an `additional_tools` item, and of each one's tools.
    fn namespaces(item: &Value) -> Vec<(String, Vec<String>)> {
        let names = |list: &Value| -> Vec<String> {
            list.as_array().into_iter().flatten().map(|t| t["name"].as_str().unwrap().to_string()).collect()
        };
        item["tools"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| (n["name"].as_str().unwrap().into(), names(&n["tools"])))
            .collect()
    }

    #[test]
    fn a_model_taking_over_a_thread_keeps_the_thread_s_setup_and_brings_its_instructions_and_tool_format() {
        use crate::request::Surface;
        let pack = rcodex_prompt_pack::embedded();
        let profile = |slug: &str| for_surface(pack, resolve_model(pack, slug).0, Surface::Tui);
        let started = profile("gpt-5.5");
        let lite = profile("gpt-5.6-sol").in_thread_of(&started);
        assert!(lite.thread_setup.is_some());
        let env = env(SandboxMode::WorkspaceWrite, None);
        let items = initial_context(pack, &lite, &env, "t").unwrap();
        let kinds: Vec<(&str, &str)> =
            items.iter().map(|i| (i["type"].as_str().unwrap(), i["role"].as_str().unwrap())).collect();
        assert_eq!(
            kinds,
            [
                ("additional_tools", "developer"),
                ("message", "developer"),
                ("message", "developer"),
                ("message", "user")
            ]
        );
        // The lite model's own tools, without the multi-agent namespace its own setup comes with.
        let own = initial_context(pack, &profile("gpt-5.6-sol"), &env, "t").unwrap();
        let own_names: Vec<String> = namespaces(&own[0]).into_iter().map(|(name, _)| name).collect();
        assert!(own_names.len() > 1, "{own_names:?}");
        assert_eq!(namespaces(&items[0]), namespaces(&own[0])[..1]);
        assert_eq!(namespaces(&items[0])[0].0, OWN_TOOLS_NAMESPACE);
        assert_eq!(items::text_of(&items[1]), instructions(pack, &profile("gpt-5.6-sol")).unwrap());
        // The thread's developer bundle (its collaboration mode, its deferred namespaces), with the new model's
        // skills listing; none of the lite model's own collaboration messages.
        let texts: Vec<String> = items.iter().skip(1).map(items::text_of).collect();
        let started_texts: Vec<String> =
            initial_context(pack, &started, &env, "t").unwrap().iter().map(items::text_of).collect();
        assert!(texts[1].contains(pack.text(&keys::tui_text("gpt-5.5", 1)).unwrap()), "{}", texts[1]);
        assert!(texts[1].contains(&own.iter().map(items::text_of).nth(2).unwrap()), "the lite model's listing");
        assert_ne!(texts[1], started_texts[1]);
        let own_fixed = pack.text(&keys::text("gpt-5.6-sol", 0)).unwrap();
        assert!(own.iter().any(|i| items::text_of(i) == own_fixed));
        assert!(!texts.iter().any(|t| t.contains(own_fixed)));
        // Named as the lite model names them: the instructions are no longer the thread's name-based item.
        assert!(lite.recipe().iter().all(|item| item.id.version == 7), "{:?}", lite.recipe());
        assert_eq!(started.recipe()[0].id.version, 5);

        // The setup stays the first model's through further switches, and is the model's own again on its return.
        let later = profile("gpt-6.1-sol").in_thread_of(&lite);
        assert!(std::ptr::eq(later.thread_setup.as_ref().unwrap().family, started.family));
        assert!(profile("gpt-5.5").in_thread_of(&lite).thread_setup.is_none());
        assert!(profile("gpt-6.1-sol").in_thread_of(&profile("gpt-6.1-sol")).thread_setup.is_none());
        // Each recorded model has a recipe of its own: another one's thread keeps its setup.
        assert!(profile("gpt-6.1-sol").in_thread_of(&profile("gpt-5.6-sol")).thread_setup.is_some());
    }

    #[test]
    fn a_subagent_s_context_has_none_of_the_collaboration_setup() {
        let pack = rcodex_prompt_pack::embedded();
        let env = env(SandboxMode::ReadOnly, None);
        let texts = |items: &[Value]| items.iter().map(items::text_of).collect::<Vec<_>>();
        for slug in ["gpt-5.5", "gpt-5.6-sol"] {
            let thread = initial_context(pack, &resolve_model(pack, slug).0, &env, "t").unwrap();
            let child = initial_context(pack, &resolve_model(pack, slug).0.for_subagent(), &env, "t").unwrap();
            let fixed: Vec<&str> = (0..3).filter_map(|i| pack.text(&keys::text(slug, i))).collect();
            assert!(!fixed.is_empty(), "{slug}");
            assert!(fixed.iter().all(|f| texts(&thread).iter().any(|t| t.contains(f))), "{slug}: the thread's");
            assert!(!fixed.iter().any(|f| texts(&child).iter().any(|t| t.contains(f))), "{slug}: the child's");
            // The rest is the thread's: instructions, skills, permissions, environment.
            assert!(texts(&child).iter().all(|c| texts(&thread).iter().any(|t| t.contains(c.as_str()))), "{slug}");
        }
        let child = initial_context(pack, &resolve_model(pack, "gpt-5.6-sol").0.for_subagent(), &env, "t").unwrap();
        let names: Vec<String> = namespaces(&child[0]).into_iter().map(|(name, _)| name).collect();
        assert_eq!(names, [OWN_TOOLS_NAMESPACE]);
        assert_eq!(child.len(), 4, "tools, instructions, skills and permissions, environment");
    }

    #[test]
    fn a_title_request_offers_its_own_tools() {
        use crate::request::Surface;
        let pack = rcodex_prompt_pack::embedded();
        let thread =
            initial_context(pack, &resolve_model(pack, "gpt-5.6-sol").0, &env(SandboxMode::ReadOnly, None), "t");
        let title = for_surface(pack, resolve_model(pack, "gpt-5.6-sol").0, Surface::TuiTitle);
        let items = initial_context(pack, &title, &env(SandboxMode::ReadOnly, None), "t").unwrap();
        assert_eq!(items[0]["type"], "additional_tools");
        let thread = thread.unwrap();
        assert_ne!(items[0]["tools"], thread[0]["tools"], "the title's exec lists other nested tools");
        let title_tools = namespaces(&items[0]);
        assert_eq!(title_tools.len(), namespaces(&thread[0]).len(), "a new session: its own setup's namespaces");
        assert!(!title_tools[0].1.contains(&"request_user_input".to_string()), "{title_tools:?}");
    }

    #[test]
    fn configuration_shapes_the_context_as_upstream_s() {
        let pack = rcodex_prompt_pack::embedded();
        let (model, _) = resolve_model(pack, "gpt-5.5");
        let texts = |env: &Environment| -> Vec<Vec<String>> {
            let items = initial_context(pack, &model, env, "t").unwrap();
            let part = |p: &Value| p["text"].as_str().unwrap_or_default().to_string();
            items.iter().map(|i| i["content"].as_array().into_iter().flatten().map(part).collect()).collect()
        };
        let plain = texts(&env(SandboxMode::WorkspaceWrite, None));
        let mut configured = env(SandboxMode::WorkspaceWrite, None);
        configured.developer_instructions = Some("Answer in French.".into());
        configured.model_instructions = Some("Be terse.".into());
        configured.network = true;
        let shaped = texts(&configured);
        assert_eq!(shaped[0], ["Be terse."], "the instructions file replaces the model's instructions");
        assert_eq!(shaped[1][0], "Answer in French.", "developer instructions lead the skills and permissions");
        assert_eq!(shaped[1][1], plain[1][0], "then the skills as before");
        let permissions = |t: &Vec<Vec<String>>| t[1].iter().find(|p| p.starts_with("<permissions")).cloned().unwrap();
        assert!(permissions(&plain).contains("Network access is restricted."));
        assert!(permissions(&shaped).contains("Network access is enabled."), "{}", permissions(&shaped));

        let project = AgentsMd { directory: "/w/project".into(), contents: "project rules".into() };
        let mut both = env(SandboxMode::WorkspaceWrite, Some(project));
        both.user_instructions = Some("global rules".into());
        let joined = texts(&both).concat().into_iter().find(|t| t.starts_with("# AGENTS.md")).unwrap();
        let separator = pack.text(keys::AGENTS_MD_GLOBAL_SEPARATOR).unwrap();
        assert!(joined.contains(&format!("global rules{separator}project rules")), "{joined}");
        let mut global = env(SandboxMode::WorkspaceWrite, None);
        global.user_instructions = Some("global rules".into());
        assert!(texts(&global).concat().iter().any(|t| t.starts_with("# AGENTS.md") && t.contains("global rules")));
    }

    #[test]
    fn personality_none_leaves_the_section_out() {
        let pack = rcodex_prompt_pack::embedded();
        let heading = pack.text(keys::PERSONALITY_HEADING).unwrap();
        let text = format!("Intro.\n\n{heading}\n\nBe warm.\n\n## Style\n\nShort.\n\n# Next\nRest.\n");
        assert_eq!(without_personality(pack, &text), "Intro.\n\n# Next\nRest.\n");
        assert_eq!(without_personality(pack, "No such section.\n"), "No such section.\n");
        let (model, _) = resolve_model(pack, "gpt-5.5");
        let plain = instructions(pack, &model).unwrap();
        let mut none = env(SandboxMode::ReadOnly, None);
        none.no_personality = true;
        let sent = items::text_of(&initial_context(pack, &model, &none, "t").unwrap()[0]);
        assert!(plain.contains(heading) && !sent.contains(heading) && sent.len() < plain.len());
    }

    #[test]
    fn piped_stdin_follows_the_prompt_in_upstream_s_frame() {
        let pack = rcodex_prompt_pack::embedded();
        let framed = frame_stdin(pack, "Summarize.", "a\nb");
        assert!(framed.starts_with("Summarize.") && framed.contains("a\nb\n<"), "{framed}");
        assert_eq!(frame_stdin(pack, "Summarize.", "a\nb\n"), framed, "the input ends with one newline");
        assert_eq!(frame_stdin(pack, "Summarize.", " \n"), "Summarize.", "nothing piped, nothing added");
    }

    #[test]
    fn the_shell_is_the_login_shell_of_the_user_database() {
        let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
        let uid = unsafe { libc::getuid() }.to_string();
        let Some(shell) = passwd.lines().map(|l| l.split(':').collect::<Vec<_>>()).find(|f| f.get(2) == Some(&&*uid))
        else {
            return; // a user from another database: nothing to compare with
        };
        let expected = Path::new(shell[6]).file_name().unwrap().to_string_lossy().into_owned();
        assert_eq!(login_shell().as_deref(), Some(shell[6]));
        assert_eq!(shell_name(), expected, "whatever $SHELL says");
    }

    #[test]
    fn fallback_filenames_stand_in_for_a_missing_agents_md() {
        let root = tempfile::tempdir().unwrap();
        std::fs::write(root.path().join("CLAUDE.md"), "fallback rules\n").unwrap();
        assert_eq!(discover_agents_md(root.path(), 1000).unwrap(), None);
        let names = ["NOTES.md".to_string(), "CLAUDE.md".to_string()];
        let found = discover_project_docs(root.path(), 1000, &names).unwrap().unwrap();
        assert_eq!(found.contents, "fallback rules\n");
        std::fs::write(root.path().join("AGENTS.md"), "agents rules\n").unwrap();
        let found = discover_project_docs(root.path(), 1000, &names).unwrap().unwrap();
        assert_eq!(found.contents, "agents rules\n", "AGENTS.md first");
    }

    #[test]
    fn agents_md_files_are_found_from_the_project_root_down() {
        let root = tempfile::tempdir().unwrap();
        let sub = root.path().join("a/b");
        std::fs::create_dir_all(&sub).unwrap();
        std::fs::create_dir(root.path().join(".git")).unwrap();
        std::fs::write(root.path().join("AGENTS.md"), "root rules\n").unwrap();
        std::fs::write(root.path().join("a/AGENTS.md"), "ignored: overridden\n").unwrap();
        std::fs::write(root.path().join("a/AGENTS.override.md"), "a rules\n").unwrap();
        let found = discover_agents_md(&sub, 1000).unwrap().unwrap();
        assert_eq!(found.contents, "root rules\n\n\na rules\n");
        assert_eq!(found.directory, sub);
        assert_eq!(discover_agents_md(&sub, 4).unwrap().unwrap().contents, "root", "the byte budget is shared");
        let bare = tempfile::tempdir().unwrap();
        assert_eq!(discover_agents_md(bare.path(), 1000).unwrap(), None);
    }

    #[test]
    fn added_directories_are_workspace_roots_in_the_environment_context() {
        let pack = rcodex_prompt_pack::embedded();
        let (model, _) = resolve_model(pack, "gpt-5.5");
        let mut write = env(SandboxMode::WorkspaceWrite, None);
        write.workspace_roots = vec!["/w/project".into(), "/x/extra".into()];
        write.writable_roots.push("/x/extra".into());
        let texts: Vec<String> =
            initial_context(pack, &model, &write, "t").unwrap().iter().map(items::text_of).collect();
        assert!(texts[1].contains("The writable roots are `/tmp`, `/w/project`, `/x/extra`."), "{}", texts[1]);
        // What upstream 0.169.0 sent with `-s workspace-write --add-dir /x/extra`: each root-naming element once per
        // root, in the roots' order.
        let roots = "<workspace_roots><root>/w/project</root><root>/x/extra</root></workspace_roots>";
        let write_entries = "<entry access=\"write\"><path>/w/project</path></entry>\
                             <entry access=\"write\"><path>/x/extra</path></entry>\
                             <entry access=\"write\"><special>:slash_tmp</special></entry>";
        let carve_outs = "<entry access=\"read\"><path>/w/project/.git</path></entry>\
                          <entry access=\"read\"><path>/x/extra/.git</path></entry>\
                          <entry access=\"read\"><path>/w/project/.agents</path></entry>";
        for part in [roots, write_entries, carve_outs] {
            assert!(texts[2].contains(part), "{part}\n{}", texts[2]);
        }
        assert!(texts[2].contains("<path>/x/extra/.aws</path></entry></file_system>"));

        let mut read = env(SandboxMode::ReadOnly, None);
        read.workspace_roots = vec!["/w/project".into(), "/x/extra".into()];
        let texts: Vec<String> =
            initial_context(pack, &model, &read, "t").unwrap().iter().map(items::text_of).collect();
        assert!(texts[2].contains(roots), "read-only lists the added root, writable or not: {}", texts[2]);
        assert!(!texts[2].contains("<path>/x/extra"));
    }
}
