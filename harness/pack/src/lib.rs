//! Extracting rcodex's prompt pack from reference captures of upstream Codex.
//!
//! Input: a recording of the scenario suite made by `parity record --all --agent codex` (each scenario's
//! `run.json` and `captures/`), the model catalog recorded beside it (`models.json`, what `codex debug models`
//! printed), and the scenario files (for what the workspace held, such as AGENTS.md). Output: a
//! [`rcodex_prompt_pack::Pack`]. The data flow is one pure function, [`extract`], over loaded inputs; [`load`] reads
//! them.
//!
//! For each scenario, the first request of its first turn is the model's context for a new session. Its items
//! before the prompt become the model's recipe; each content part is recognized by what it is (the model's
//! instructions, the skills listing, the permissions, the environment context, AGENTS.md) or kept as a fixed text,
//! and the run's own values in it (the workspace, CODEX_HOME, the date, the timezone, the shell, the writable roots,
//! the AGENTS.md contents) become placeholders. Scenarios of the same model must agree on the recipe, and every text
//! key must have one text; any disagreement is an error that names both scenarios.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use parity_capture::{Capture, Recording};
use parity_recorder::{Frontend, RunRecord, Scenario};
use rcodex_prompt_pack::{ContextItem, FORMAT, Family, IdScheme, ModelInfo, Pack, Part, keys};
use serde_json::Value;

mod config;
mod exec_policy;
mod mcp;
pub mod search_keywords;
mod skills;
mod tui;

/// What extraction reads: one entry per recorded scenario, and the catalog.
pub struct Inputs {
    pub scenarios: Vec<ScenarioInput>,
    /// The system skills upstream installed in its home (`CODEX_HOME/skills/.system`), from the scenario that keeps
    /// them (`[home] keep`): path relative to that directory -> contents.
    pub system_skills: BTreeMap<String, Vec<u8>>,
    /// Scenarios whose configuration changes the context, kept apart: `config::learn` reads them.
    pub configured: Vec<(ScenarioInput, Scenario)>,
    /// `codex debug models` as recorded.
    pub catalog: Value,
    /// Runs upstream refused before asking the model, whose scenarios have rules files: `exec_policy::learn` reads
    /// their errors.
    pub refused: Vec<exec_policy::Refused>,
    /// The model requests (warm-ups left out) of the runs on the built-in provider signed in with ChatGPT, by
    /// scenario: what such a sign-in adds to the tools.
    pub chatgpt: Vec<(String, Vec<Capture>)>,
}

pub struct ScenarioInput {
    pub name: String,
    pub run: RunRecord,
    /// The first model request of the first turn.
    pub first_request: Capture,
    /// Every model request, in order (for the key order of each kind of input item).
    pub requests: Vec<Capture>,
    /// What the scenario put in AGENTS.md, if anything.
    pub agents_md: Option<String>,
    /// What the agent sent its client, for a run driven through a frontend (`frontend.jsonl`'s agent messages).
    pub frontend_messages: Vec<Value>,
    /// The files the scenario put in the workspace (a skill's SKILL.md, say).
    pub workspace_files: BTreeMap<String, Vec<u8>>,
    /// What a tui scenario types (each `type` step's text, in order).
    pub typed: Vec<String>,
    /// What a tui scenario's screens showed, in the order they were taken.
    pub screens: Vec<Screen>,
    /// The JSON lines an exec run printed (`--json` events), every turn's in order.
    pub exec_events: Vec<Value>,
    /// The review target of a review scenario (`agent.review`), empty for the others.
    pub review: Vec<String>,
}

/// A screen a tui run kept (`screens/NNN.txt`), and the text the step it was taken after typed, if any.
pub struct Screen {
    pub typed: Option<String>,
    pub text: String,
}

/// The screens of a tui recording, from its transcript's `step` and `screen` actions (none for other frontends).
fn screens(dir: &Path) -> Result<Vec<Screen>, PackError> {
    let Ok(transcript) = std::fs::read_to_string(dir.join("frontend.jsonl")) else { return Ok(Vec::new()) };
    let mut typed: BTreeMap<u64, String> = BTreeMap::new();
    let mut screens = Vec::new();
    for line in transcript.lines().filter_map(|line| serde_json::from_str::<Value>(line).ok()) {
        let step = line["step"].as_u64();
        match (line["action"].as_str(), step) {
            (Some("step"), Some(step)) => {
                if let Some(text) = line["text"].as_str() {
                    typed.insert(step, text.to_string());
                }
            }
            (Some("screen"), Some(step)) => {
                let Some(file) = line["file"].as_str() else { continue };
                let path = dir.join(file);
                let text = std::fs::read_to_string(&path)
                    .map_err(|e| PackError::Input { path: path.clone(), message: e.to_string() })?;
                screens.push(Screen { typed: typed.get(&step).cloned(), text });
            }
            _ => {}
        }
    }
    Ok(screens)
}

#[derive(Debug, thiserror::Error)]
pub enum PackError {
    #[error("{path}: {message}")]
    Input { path: PathBuf, message: String },
    #[error("scenario {scenario}: {message}")]
    Scenario { scenario: String, message: String },
    #[error("scenarios {first} and {second} disagree on {what}")]
    Conflict { first: String, second: String, what: String },
}

/// Reads a baseline recording (`<baseline>/<scenario>/run.json` and `captures/`, `<baseline>/models.json`) and the
/// scenario files.
pub fn load(baseline: &Path, scenarios_dir: &Path) -> Result<Inputs, PackError> {
    let input_error = |path: &Path, message: String| PackError::Input { path: path.to_path_buf(), message };
    let catalog_path = baseline.join("models.json");
    let catalog_text = std::fs::read_to_string(&catalog_path).map_err(|e| input_error(&catalog_path, e.to_string()))?;
    let catalog: Value = serde_json::from_str(&catalog_text).map_err(|e| input_error(&catalog_path, e.to_string()))?;
    let mut entries: Vec<PathBuf> = std::fs::read_dir(baseline)
        .map_err(|e| input_error(baseline, e.to_string()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.join("run.json").is_file())
        .collect();
    entries.sort();
    let mut scenarios = Vec::new();
    let mut configured = Vec::new();
    let mut refused_runs = Vec::new();
    let mut chatgpt = Vec::new();
    let mut system_skills = BTreeMap::new();
    for dir in entries {
        let run = RunRecord::load(&dir.join("run.json")).map_err(|e| input_error(&dir, e))?;
        let recording = Recording::load(&dir.join("captures")).map_err(|e| input_error(&dir, e.to_string()))?;
        let requests: Vec<Capture> = recording
            .exchanges()
            .map(|e| &e.capture)
            .filter(|c| c.request.method == "POST" && c.request.path.ends_with("/responses"))
            .cloned()
            .collect();
        // A run the agent refused before asking the model (a setting it no longer supports, a parameter its protocol
        // does not know) shows nothing to learn.
        let refused_turn = |turn: &parity_recorder::run::TurnRecord| turn.exit_code != Some(0) || turn.error.is_some();
        if requests.is_empty() && run.requests == 0 && run.turns.iter().all(refused_turn) {
            refused_runs.extend(exec_policy::refused_run(&dir, &run, scenarios_dir));
            continue;
        }
        let first_request =
            requests.first().cloned().ok_or_else(|| input_error(&dir, "no model request was recorded".into()))?;
        let scenario_path = scenarios_dir.join(format!("{}.toml", run.scenario));
        let scenario = Scenario::load(&scenario_path).map_err(|e| input_error(&scenario_path, e.to_string()))?;
        // The built-in provider's requests are a custom provider's with what upstream adds for it (a warm-up
        // first, metadata on every item, a ChatGPT sign-in's tools), which rcodex adds itself: the pack learns
        // from the custom provider's.
        if scenario.agent.provider == parity_recorder::scenario::Provider::Openai {
            use parity_recorder::scenario::Auth;
            if matches!(scenario.agent.auth, Some(Auth::Chatgpt | Auth::ChatgptExpired)) {
                let turns = requests.iter().filter(|c| c.request.body.get("generate") != Some(&Value::Bool(false)));
                chatgpt.push((run.scenario.clone(), turns.cloned().collect()));
            }
            continue;
        }
        let frontend_messages = std::fs::read_to_string(dir.join("frontend.jsonl"))
            .map(|text| {
                text.lines()
                    .filter_map(|line| serde_json::from_str::<Value>(line).ok())
                    .filter(|line| line["from"] == "agent")
                    .filter_map(|line| line.get("message").cloned())
                    .collect()
            })
            .unwrap_or_default();
        let typed = scenario
            .tui
            .iter()
            .flat_map(|tui| &tui.steps)
            .filter_map(|step| match &step.action {
                parity_recorder::tui_steps::TuiAction::Input { text, .. } => text.clone(),
                _ => None,
            })
            .collect();
        let exec_events = run
            .turns
            .iter()
            .filter(|_| run.frontend.is_none_or(|f| f == Frontend::Exec))
            .filter_map(|turn| std::fs::read_to_string(dir.join(&turn.stdout)).ok())
            .flat_map(|text| {
                text.lines().filter_map(|line| serde_json::from_str::<Value>(line).ok()).collect::<Vec<_>>()
            })
            .collect();
        let input = ScenarioInput {
            screens: screens(&dir)?,
            review: scenario.agent.review.clone(),
            exec_events,
            typed,
            frontend_messages,
            name: run.scenario.clone(),
            agents_md: scenario.workspace.agents_md.clone(),
            workspace_files: scenario.workspace.files.clone(),
            run,
            first_request,
            requests,
        };
        if scenario.keep_home.iter().any(|path| path == SYSTEM_SKILLS) && system_skills.is_empty() {
            let root = dir.join(parity_recorder::output::KEPT_HOME_DIR).join(SYSTEM_SKILLS);
            system_skills = parity_capture::store::read_tree(&root).map_err(|e| input_error(&root, e.to_string()))?;
        }
        if config::shapes_context(&scenario) {
            configured.push((input, scenario));
        } else {
            scenarios.push(input);
        }
    }
    if scenarios.is_empty() {
        return Err(input_error(baseline, "no recorded scenarios (directories with a run.json)".into()));
    }
    Ok(Inputs { scenarios, configured, catalog, system_skills, refused: refused_runs, chatgpt })
}

/// What a ChatGPT sign-in adds to the built-in provider's tools (the `image_gen` namespace), from each such run's
/// requests against the recipe of their model.
fn chatgpt_tools(
    runs: &[(String, Vec<Capture>)],
    families: &BTreeMap<String, (String, Family)>,
    texts: &mut Texts,
) -> Result<(), PackError> {
    for (scenario, requests) in runs {
        for body in requests.iter().map(|c| &c.request.body) {
            let model = body.get("model").and_then(Value::as_str).unwrap_or_default();
            let Some((_, family)) = families.get(model) else { continue };
            let extra = mcp::extra_tools(body, family).map_err(|e| PackError::Scenario {
                scenario: scenario.clone(),
                message: format!("the tools of a ChatGPT sign-in {e}"),
            })?;
            if let Some(extra) = extra {
                texts.put(keys::CHATGPT_TOOLS.into(), extra.to_string(), scenario)?;
            }
        }
    }
    Ok(())
}

/// Where upstream installs its system skills, relative to HOME.
pub const SYSTEM_SKILLS: &str = ".codex/skills/.system";

mod app_review;
mod review;
mod tui_mcp;
mod tui_review;

/// The pack, from the inputs.
pub fn extract(inputs: &Inputs) -> Result<Pack, PackError> {
    let mut families: BTreeMap<String, (String, Family)> = BTreeMap::new();
    let mut texts = Texts::default();
    let mut originator: Option<(String, String)> = None;
    let mut beta_features: Option<(String, Option<String>)> = None;
    let mut upstream_version = None;

    // The request's shape is learned from exec runs: an app server names itself after its client (the originator),
    // which is the frontend's choice, not the agent's.
    // A review's requests are its sub-agent's: `review::learn` reads them.
    let exec_runs = inputs.scenarios.iter().filter(|s| s.run.frontend.is_none_or(|f| f == Frontend::Exec));
    for scenario in exec_runs.filter(|s| !review::is_review(s)) {
        let prompt = scenario.run.turns.first().map(|t| t.prompt.as_str()).unwrap_or_default();
        let seen = observe(scenario, &scenario.first_request, prompt, keys::text, &mut texts)?;
        agree(&mut originator, &scenario.name, seen.originator.clone(), "the originator header")?;
        agree(&mut beta_features, &scenario.name, seen.beta_features.clone(), "x-codex-beta-features")?;
        if upstream_version.is_none() {
            upstream_version = seen.version.clone();
        }
        match families.get_mut(&seen.model) {
            None => {
                families.insert(seen.model.clone(), (scenario.name.clone(), seen.family));
            }
            Some((first, family)) => merge(family, first, &scenario.name, seen.family)?,
        }
    }

    let bodies =
        inputs.scenarios.iter().flat_map(|s| s.requests.iter().map(move |c| (s.name.as_str(), &c.request.body)));
    for (model, deferred) in deferred_tools(bodies)? {
        let (_, family) = families.get_mut(&model).ok_or_else(|| PackError::Scenario {
            scenario: deferred.first_scenario,
            message: format!("a tool_search_output of model {model}, which no scenario's first request used"),
        })?;
        family.deferred_tools = deferred.tools;
    }

    // After exec's texts: the review's context must agree with them.
    let review = review::learn(inputs, &mut texts)?;
    app_review::learn(&inputs.scenarios, &mut texts)?;

    // The permissions of approval policies exec never runs with (on-request) appear in app-server runs only.
    for scenario in inputs.scenarios.iter().filter(|s| s.run.frontend.is_some_and(|f| f != Frontend::Exec)) {
        if let Some((key, text)) = app_permissions(scenario) {
            texts.put(key, text, &scenario.name)?;
        }
        // A tool described otherwise than in exec: request_user_input, which Default mode offers with a feature.
        if let Some(description) = request_user_input_description(scenario)
            && families.values().any(|(_, family)| family_describes_otherwise(family, &description))
        {
            texts.put(keys::REQUEST_USER_INPUT_DEFAULT_MODE.to_string(), description, &scenario.name)?;
        }
    }

    for scenario in &inputs.scenarios {
        if let Some(marker) = turn_aborted_marker(&scenario.requests) {
            texts.put(keys::TURN_ABORTED.to_string(), marker, &scenario.name)?;
        }
        if let Some(template) = review_user_action(&scenario.requests) {
            texts.put(keys::REVIEW_USER_ACTION.to_string(), template, &scenario.name)?;
        }
        if let Some(template) = fork_removed_namespaces(&scenario.requests) {
            texts.put(keys::FORK_REMOVED_NAMESPACES.to_string(), template, &scenario.name)?;
        }
        if let Some(warning) = under_development_warning(&scenario.frontend_messages) {
            texts.put(keys::UNDER_DEVELOPMENT_FEATURES.to_string(), warning, &scenario.name)?;
        }
        if let Some(notice) = full_history_deprecated(&scenario.frontend_messages) {
            texts.put(keys::FULL_HISTORY_DEPRECATED.to_string(), notice, &scenario.name)?;
        }
        for (code, message) in failure_messages(&scenario.requests, &scenario.exec_events) {
            texts.put(keys::failure(&code), message, &scenario.name)?;
        }
        let exchanges: Vec<Exchange> = scenario.requests.iter().map(Exchange::of).collect();
        let found = compaction_texts(&exchanges)
            .map_err(|message| PackError::Scenario { scenario: scenario.name.clone(), message })?;
        for (key, text) in found {
            texts.put(key.to_string(), text, &scenario.name)?;
        }
    }

    // The interface's recipes share exec's texts (the skills listing among them, before it becomes a frame).
    let tui = tui::learn(inputs, &mut texts)?;

    // After the exec runs gave each model's listing: what a workspace's skill adds to it.
    skills::learn(inputs, &mut texts)?;
    config::learn(&inputs.configured, &inputs.catalog, &mut texts)?;
    mcp::learn(&inputs.configured, &families, false, &mut texts)?;
    if let Some(tui) = &tui {
        let recipes = tui.families.iter().map(|(model, family)| (model.clone(), (String::new(), family.clone())));
        mcp::learn(&inputs.configured, &recipes.collect(), true, &mut texts)?;
    }
    chatgpt_tools(&inputs.chatgpt, &families, &mut texts)?;
    exec_policy::learn(inputs, &mut texts)?;

    let item_keys = item_key_orders(inputs)?;
    let models =
        catalog_models(&inputs.catalog).map_err(|message| PackError::Input { path: "models.json".into(), message })?;
    let fallback =
        fallback_model(inputs, &models).map_err(|message| PackError::Input { path: "models.json".into(), message })?;
    let fallback_model = match fallback {
        Some(Fallback { info, warning }) => {
            if let Some((scenario, warning)) = warning {
                texts.put(keys::FALLBACK_MODEL_WARNING.to_string(), warning, &scenario)?;
            }
            Some(info)
        }
        None => None,
    };
    let mut texts = texts.into_map();
    drop_catalog_instructions(&mut texts, &models);
    let first = &inputs.scenarios[0].name;
    Ok(Pack {
        format: FORMAT.to_string(),
        upstream_version: upstream_version.ok_or_else(|| PackError::Scenario {
            scenario: first.clone(),
            message: "no version in the user-agent".into(),
        })?,
        originator: originator.map(|(_, o)| o).unwrap_or_default(),
        beta_features: beta_features.and_then(|(_, b)| b),
        families: families.into_iter().map(|(model, (_, family))| (model, family)).collect(),
        texts,
        models,
        fallback_model,
        item_keys,
        tui,
        review,
    })
}

/// The text of the user message upstream records after an interrupted turn (`<turn_aborted>...`), if a request of
/// these carries it.
fn turn_aborted_marker(requests: &[Capture]) -> Option<String> {
    requests.iter().flat_map(|c| c.request.body.get("input").and_then(Value::as_array).into_iter().flatten()).find_map(
        |item| {
            let text = item.pointer("/content/0/text")?.as_str()?;
            (item.get("role")?.as_str()? == "user" && text.starts_with("<turn_aborted>")).then(|| text.to_string())
        },
    )
}

/// The first text of a message of `role`.
fn message_text<'a>(item: &'a Value, role: &str) -> Option<&'a str> {
    (item.get("role").and_then(Value::as_str) == Some(role)).then(|| item.pointer("/content/0/text")?.as_str())?
}

/// The user message a review run beside a thread's turns leaves in its history, made a template of: it holds the
/// findings that the model's message after it repeats, which become `{{results}}`.
fn review_user_action(requests: &[Capture]) -> Option<String> {
    let inputs = requests.iter().filter_map(|c| c.request.body.get("input").and_then(Value::as_array));
    inputs.flat_map(|input| input.windows(2)).find_map(|pair| {
        let (action, findings) = (message_text(&pair[0], "user")?, message_text(&pair[1], "assistant")?);
        (action.starts_with("<user_action>") && !findings.is_empty() && action.contains(findings))
            .then(|| action.replacen(findings, "{{results}}", 1))
    })
}

/// The developer message that ends a forked sub-agent's history (`spawn_agent` with `fork_context`), made a
/// template of: the deferred namespaces the child no longer has, one line each as the parent's context lists them,
/// become `{{namespaces}}`.
fn fork_removed_namespaces(requests: &[Capture]) -> Option<String> {
    let children = requests.iter().filter(|c| c.request.header("x-openai-subagent") == Some("collab_spawn"));
    let items = children.flat_map(|c| c.request.body.get("input").and_then(Value::as_array).into_iter().flatten());
    items.filter(|item| item.get("role").and_then(Value::as_str) == Some("developer")).find_map(|item| {
        let text = item.pointer("/content/0/text")?.as_str()?;
        if !text.starts_with("<tools>\nRemoved deferred tool namespaces:\n") {
            return None;
        }
        let mut template = String::new();
        let mut listed = false;
        for line in text.split_inclusive('\n') {
            match line.starts_with("- ") {
                true if !listed => {
                    template.push_str("{{namespaces}}");
                    listed = true;
                }
                true => {}
                false => template.push_str(line),
            }
        }
        listed.then_some(template)
    })
}

/// A model request as the compaction texts are read from it.
struct Exchange<'a> {
    /// The session it belongs to.
    session: u32,
    /// Whether its turn metadata says it is a compaction (`request_kind: compaction`).
    compaction: bool,
    input: &'a [Value],
    /// The text of the last assistant message of its response, if the response had one.
    answer: Option<String>,
}

impl<'a> Exchange<'a> {
    fn of(capture: &'a Capture) -> Exchange<'a> {
        let request = &capture.request;
        let metadata: Option<Value> =
            request.header("x-codex-turn-metadata").and_then(|text| serde_json::from_str(text).ok());
        let compaction =
            metadata.as_ref().and_then(|m| m.get("request_kind")).and_then(Value::as_str) == Some("compaction");
        let answer = capture
            .response
            .events
            .iter()
            .rev()
            .filter(|e| e.event_type() == Some("response.output_item.done"))
            .filter_map(|e| e.data.get("item"))
            .filter(|item| item["type"] == "message" && item["role"] == "assistant")
            .map(|item| {
                let parts = item.get("content").and_then(Value::as_array).into_iter().flatten();
                parts.filter(|p| p["type"] == "output_text").filter_map(|p| p["text"].as_str()).collect::<String>()
            })
            .next();
        Exchange { session: capture.session.index, compaction, input: request.input(), answer }
    }
}

/// The texts of upstream's compaction, from a run's requests in order ([`keys::COMPACT_PROMPT`],
/// [`keys::COMPACT_SUMMARY_PREFIX`]), each time a compaction shows them. The prompt is the text of the user message
/// that ends a compaction request. The summary prefix is what precedes the compaction's answer (the last assistant
/// message of its response) in the user message of the session's next request that ends with that answer. A
/// compaction request that does not end with a user message of one text, or a next request without the answer, is
/// an error: upstream no longer compacts as rcodex was taught.
fn compaction_texts(exchanges: &[Exchange]) -> Result<Vec<(&'static str, String)>, String> {
    let mut found = Vec::new();
    for (i, exchange) in exchanges.iter().enumerate().filter(|(_, e)| e.compaction) {
        let last = exchange.input.last();
        let prompt = last
            .filter(|item| item["type"] == "message" && item["role"] == "user")
            .and_then(|item| item.get("content")?.as_array())
            .filter(|parts| parts.len() == 1)
            .and_then(|parts| parts[0]["text"].as_str())
            .ok_or_else(|| {
                format!(
                    "compaction request {} does not end with a user message of one text (it ends with {})",
                    i + 1,
                    last.map(brief).unwrap_or_else(|| "nothing".into())
                )
            })?;
        found.push((keys::COMPACT_PROMPT, prompt.to_string()));
        // A compaction that gave no summary (a failed response) shows no prefix.
        let Some(summary) = exchange.answer.as_deref().filter(|s| !s.is_empty()) else { continue };
        let Some(next) = exchanges[i + 1..].iter().find(|e| e.session == exchange.session) else { continue };
        let prefix = next
            .input
            .iter()
            .filter(|item| item["type"] == "message" && item["role"] == "user")
            .filter_map(|item| item.pointer("/content/0/text")?.as_str())
            .find_map(|text| text.strip_suffix(summary).filter(|prefix| !prefix.is_empty()))
            .ok_or_else(|| {
                format!(
                    "the request after compaction request {} has no user message ending with the summary {summary:?}",
                    i + 1
                )
            })?;
        found.push((keys::COMPACT_SUMMARY_PREFIX, prefix.to_string()));
    }
    Ok(found)
}

/// The description of the `request_user_input` tool in a run's first request.
fn request_user_input_description(scenario: &ScenarioInput) -> Option<String> {
    let tools = scenario.first_request.request.body.get("tools")?.as_array()?;
    let tool = tools.iter().find(|tool| tool.get("name").and_then(Value::as_str) == Some("request_user_input"))?;
    Some(tool.get("description")?.as_str()?.to_string())
}

/// Whether a family (learned from exec runs) offers `request_user_input` with another description than this.
fn family_describes_otherwise(family: &Family, description: &str) -> bool {
    family.tools.values().flat_map(|tools| tools.as_array().into_iter().flatten()).any(|tool| {
        tool.get("name").and_then(Value::as_str) == Some("request_user_input")
            && tool.get("description").and_then(Value::as_str) != Some(description)
    })
}

/// The permissions text of an app-server run's first request, under its key (sandbox mode and approval policy).
fn app_permissions(scenario: &ScenarioInput) -> Option<(String, String)> {
    let request = &scenario.first_request.request;
    let metadata: Value = serde_json::from_str(request.header("x-codex-turn-metadata")?).ok()?;
    let sandbox_mode = metadata.get("sandbox_mode").and_then(Value::as_str).unwrap_or("read-only");
    let input = request.input();
    let values = run_values(input)?;
    let text =
        input.iter().flat_map(|item| item.get("content").and_then(Value::as_array).into_iter().flatten()).find_map(
            |part| part.get("text").and_then(Value::as_str).filter(|t| t.starts_with("<permissions instructions>")),
        )?;
    Some((keys::permissions(sandbox_mode, scenario.run.options.approval.as_str()), permissions_template(text, &values)))
}

/// The warning an app server sent about enabled features under development, as a template: the feature list becomes
/// `{{features}}`, the path of config.toml in the run's CODEX_HOME (as `initialize` named it) `{{config_path}}`.
fn under_development_warning(messages: &[Value]) -> Option<String> {
    const LEAD: &str = "Under-development features enabled: ";
    let codex_home = messages.iter().find_map(|m| m.pointer("/result/codexHome")?.as_str())?;
    let message = messages.iter().find_map(|m| {
        let text = (m["method"] == "warning").then(|| m.pointer("/params/message")?.as_str()).flatten()?;
        text.starts_with(LEAD).then_some(text)
    })?;
    let list_end = LEAD.len() + message[LEAD.len()..].find(". ")?;
    let template = format!("{LEAD}{{{{features}}}}{}", &message[list_end..]);
    let config_path = format!("{codex_home}/config.toml");
    template.contains(&config_path).then(|| template.replace(&config_path, "{{config_path}}"))
}

/// The summary of the `deprecationNotice` an app server sent with an answer carrying a thread's whole history (the
/// next answer after it holds a thread with turns: a `thread/resume` or `thread/fork` without `excludeTurns`).
fn full_history_deprecated(messages: &[Value]) -> Option<String> {
    messages.iter().enumerate().find_map(|(i, message)| {
        if message["method"] != "deprecationNotice" {
            return None;
        }
        let answer = messages[i + 1..].iter().find(|m| m.get("id").is_some() && m.get("result").is_some())?;
        let whole_history =
            answer.pointer("/result/thread/turns").and_then(Value::as_array).is_some_and(|t| !t.is_empty());
        whole_history.then(|| message.pointer("/params/summary")?.as_str().map(str::to_string)).flatten()
    })
}

/// Upstream's own words for a turn the model server failed with an error code: each model request that ended in
/// `response.failed`, paired in order with the `turn.failed` messages exec printed, when the run has as many of one
/// as of the other. A message that is the server's own is passed through, not worded: nothing to learn.
fn failure_messages(requests: &[Capture], exec_events: &[Value]) -> Vec<(String, String)> {
    let failures: Vec<(String, String)> = requests
        .iter()
        .filter_map(|capture| {
            let failed = capture.response.events.iter().find(|e| e.event_type() == Some("response.failed"))?;
            let error = failed.data.pointer("/response/error")?;
            Some((error["code"].as_str()?.to_string(), error["message"].as_str().unwrap_or_default().to_string()))
        })
        .collect();
    let messages: Vec<&str> = exec_events
        .iter()
        .filter(|e| e["type"] == "turn.failed")
        .filter_map(|e| e.pointer("/error/message").and_then(Value::as_str))
        .collect();
    if failures.len() != messages.len() {
        return Vec::new();
    }
    failures
        .into_iter()
        .zip(messages)
        .filter(|((_, server), ours)| server != ours)
        .map(|((code, _), ours)| (code, ours.to_string()))
        .collect()
}

/// Unites one object's key order into what is known for its kind.
fn note_keys(
    orders: &mut BTreeMap<String, (String, Vec<String>)>,
    kind: &str,
    object: &Value,
    scenario: &str,
) -> Result<(), PackError> {
    let Some(object) = object.as_object() else { return Ok(()) };
    let keys: Vec<String> = object.keys().cloned().collect();
    match orders.get_mut(kind) {
        None => {
            orders.insert(kind.to_string(), (scenario.to_string(), keys));
        }
        Some((first, known)) => {
            *known = unite(known, &keys).ok_or_else(|| PackError::Conflict {
                first: first.clone(),
                second: scenario.to_string(),
                what: format!("the key order of {kind}"),
            })?;
        }
    }
    Ok(())
}

/// The key order of each type of input item (and of the parts inside them), over every request of every scenario,
/// united.
fn item_key_orders(inputs: &Inputs) -> Result<BTreeMap<String, Vec<String>>, PackError> {
    let mut orders: BTreeMap<String, (String, Vec<String>)> = BTreeMap::new();
    for scenario in &inputs.scenarios {
        for capture in &scenario.requests {
            for item in capture.request.input() {
                let Some(item_type) = item.get("type").and_then(Value::as_str) else { continue };
                note_keys(&mut orders, item_type, item, &scenario.name)?;
                // The parts of messages, reasoning summaries and tool outputs are re-serialized by upstream too.
                for field in ["content", "summary", "output"] {
                    for part in item.get(field).and_then(Value::as_array).into_iter().flatten() {
                        if let Some(part_type) = part.get("type").and_then(Value::as_str) {
                            note_keys(&mut orders, &format!("{field}/{part_type}"), part, &scenario.name)?;
                        }
                    }
                }
            }
        }
    }
    Ok(orders.into_iter().map(|(t, (_, keys))| (t, keys)).collect())
}

/// The deferred tools of one model, as found in its `tool_search_output` items.
struct Deferred {
    /// The first scenario that showed one (for error messages).
    first_scenario: String,
    tools: Vec<Value>,
}

/// By model: the deferred tools found in the `tools` of every `tool_search_output` item of the request bodies (each
/// with its scenario's name), united. An entry is a namespace (whose tools are united by name) or a tool outside any
/// namespace. Entries are sorted by name, and so are a namespace's tools. The same tool (or a namespace's
/// description) seen twice must be the same.
fn deferred_tools<'a>(
    bodies: impl IntoIterator<Item = (&'a str, &'a Value)>,
) -> Result<BTreeMap<String, Deferred>, PackError> {
    /// An entry and its tools by name, with the scenario that first showed each.
    struct Entry {
        scenario: String,
        value: Value,
        tools: BTreeMap<String, (String, Value)>,
    }
    let mut by_model: BTreeMap<String, (String, BTreeMap<String, Entry>)> = BTreeMap::new();
    for (scenario_name, body) in bodies {
        let fail = |message: String| PackError::Scenario { scenario: scenario_name.to_string(), message };
        let Some(model) = body.get("model").and_then(Value::as_str) else { continue };
        for item in body.get("input").and_then(Value::as_array).into_iter().flatten() {
            if item.get("type").and_then(Value::as_str) != Some("tool_search_output") {
                continue;
            }
            let found = item.get("tools").and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default();
            if found.is_empty() {
                continue;
            }
            let (_, entries) =
                by_model.entry(model.to_string()).or_insert_with(|| (scenario_name.to_string(), BTreeMap::new()));
            for entry in found {
                let name = entry
                    .get("name")
                    .and_then(Value::as_str)
                    .ok_or_else(|| fail(format!("a tool_search_output tool has no name: {}", brief(entry))))?;
                let is_namespace = entry.get("type").and_then(Value::as_str) == Some("namespace");
                let key = format!("{}{name}", if is_namespace { "namespace " } else { "tool " });
                let shell = if is_namespace {
                    let mut shell = entry.clone();
                    shell["tools"] = Value::Array(Vec::new());
                    shell
                } else {
                    entry.clone()
                };
                let known = entries.entry(key.clone()).or_insert_with(|| Entry {
                    scenario: scenario_name.to_string(),
                    value: shell.clone(),
                    tools: BTreeMap::new(),
                });
                if known.value != shell {
                    return Err(PackError::Conflict {
                        first: known.scenario.clone(),
                        second: scenario_name.to_string(),
                        what: format!("the deferred {key} of model {model}"),
                    });
                }
                if !is_namespace {
                    continue;
                }
                for tool in entry.get("tools").and_then(Value::as_array).into_iter().flatten() {
                    let tool_name = tool.get("name").and_then(Value::as_str).ok_or_else(|| {
                        fail(format!("a tool of the deferred namespace {name} has no name: {}", brief(tool)))
                    })?;
                    match known.tools.get(tool_name) {
                        Some((first, existing)) if existing != tool => {
                            return Err(PackError::Conflict {
                                first: first.clone(),
                                second: scenario_name.to_string(),
                                what: format!("the deferred tool {name}.{tool_name} of model {model}"),
                            });
                        }
                        Some(_) => {}
                        None => {
                            known.tools.insert(tool_name.to_string(), (scenario_name.to_string(), tool.clone()));
                        }
                    }
                }
            }
        }
    }
    Ok(by_model
        .into_iter()
        .map(|(model, (first_scenario, entries))| {
            let mut sorted: Vec<(String, Entry)> = entries
                .into_values()
                .map(|e| (e.value.get("name").and_then(Value::as_str).unwrap_or_default().to_string(), e))
                .collect();
            sorted.sort_by(|a, b| a.0.cmp(&b.0));
            let tools = sorted
                .into_iter()
                .map(|(_, mut entry)| {
                    if entry.value.get("type").and_then(Value::as_str) == Some("namespace") {
                        entry.value["tools"] = entry.tools.into_values().map(|(_, tool)| tool).collect();
                    }
                    entry.value
                })
                .collect();
            (model, Deferred { first_scenario, tools })
        })
        .collect())
}

/// Records the first scenario's value, then requires the others to agree.
fn agree<T: PartialEq + std::fmt::Debug>(
    slot: &mut Option<(String, T)>,
    scenario: &str,
    value: T,
    what: &str,
) -> Result<(), PackError> {
    match slot {
        None => {
            *slot = Some((scenario.to_string(), value));
            Ok(())
        }
        Some((first, existing)) if *existing != value => Err(PackError::Conflict {
            first: first.clone(),
            second: scenario.to_string(),
            what: format!("{what}: {existing:?} against {value:?}"),
        }),
        Some(_) => Ok(()),
    }
}

/// Texts by key, remembering which scenario gave each, so that a disagreement names both.
#[derive(Default)]
struct Texts(BTreeMap<String, (String, String)>);

impl Texts {
    fn put(&mut self, key: String, text: String, scenario: &str) -> Result<(), PackError> {
        match self.0.get(&key) {
            Some((first, existing)) if *existing != text => Err(PackError::Conflict {
                first: first.clone(),
                second: scenario.to_string(),
                what: format!("the text {key}"),
            }),
            Some(_) => Ok(()),
            None => {
                self.0.insert(key, (scenario.to_string(), text));
                Ok(())
            }
        }
    }

    fn into_map(self) -> BTreeMap<String, String> {
        self.0.into_iter().map(|(k, (_, text))| (k, text)).collect()
    }
}

/// What one scenario's first request shows.
struct Observed {
    model: String,
    originator: String,
    beta_features: Option<String>,
    version: Option<String>,
    family: Family,
}

/// A run's own values, found in its first request, to be turned into placeholders.
struct RunValues {
    cwd: String,
    codex_home: Option<String>,
    current_date: Option<String>,
    timezone: Option<String>,
    shell: Option<String>,
}

/// What the first request of a new session, `first`, whose last input item is `prompt`, shows: the model's recipe
/// (its fixed texts under the keys `text_key` makes), headers and key orders.
fn observe(
    scenario: &ScenarioInput,
    first: &Capture,
    prompt: &str,
    text_key: fn(&str, usize) -> String,
    texts: &mut Texts,
) -> Result<Observed, PackError> {
    let fail = |message: String| PackError::Scenario { scenario: scenario.name.clone(), message };
    let request = &first.request;
    let body = &request.body;
    let model = body.get("model").and_then(Value::as_str).ok_or_else(|| fail("the request has no model".into()))?;
    let metadata: Value = request
        .header("x-codex-turn-metadata")
        .and_then(|m| serde_json::from_str(m).ok())
        .ok_or_else(|| fail("no x-codex-turn-metadata header".into()))?;
    let sandbox_mode = metadata.get("sandbox_mode").and_then(Value::as_str).unwrap_or("read-only").to_string();
    let network = if sandbox_mode == "danger-full-access" { "enabled" } else { "restricted" };
    // Upstream's exec runs every approval policy as `never` (nobody is there to ask), so its prompt states never's
    // permissions whatever the configuration says; the app server runs the configured policy.
    let approval = match scenario.run.frontend {
        Some(frontend) if frontend != Frontend::Exec => scenario.run.options.approval.as_str(),
        _ => "never",
    };
    let input = request.input();
    let (last, context) = input.split_last().ok_or_else(|| fail("the request has no input".into()))?;
    if parity_capture::view::item_text(last) != prompt {
        return Err(fail("the last input item is not the scenario's prompt".into()));
    }
    let values = run_values(context).ok_or_else(|| fail("no <environment_context> with a <cwd>".into()))?;

    let mut recipe = Vec::new();
    let mut seen_instructions = false;
    let mut text_index = 0;
    for item in context {
        let item_type = item.get("type").and_then(Value::as_str).unwrap_or_default();
        let role = item.get("role").and_then(Value::as_str).unwrap_or_default().to_string();
        let id =
            item.get("id").and_then(Value::as_str).and_then(id_scheme).ok_or_else(|| {
                fail(format!("a context item has no id of the form <prefix>_<uuid>: {}", brief(item)))
            })?;
        if item_type == "additional_tools" {
            let tools = item.get("tools").cloned().unwrap_or(Value::Null);
            texts.put(keys::additional_tools(model, network), tools.to_string(), &scenario.name)?;
            recipe.push(ContextItem { item_type: item_type.into(), role, id, parts: Vec::new() });
            continue;
        }
        if item_type != "message" {
            return Err(fail(format!("an unexpected context item of type {item_type}")));
        }
        let mut parts = Vec::new();
        for part in item.get("content").and_then(Value::as_array).into_iter().flatten() {
            let text = part.get("text").and_then(Value::as_str).unwrap_or_default();
            let (kind, key, template) = if !seen_instructions && role == "developer" {
                seen_instructions = true;
                (Part::ModelInstructions, keys::model_instructions(model), text.to_string())
            } else if text.starts_with("<skills_instructions>") {
                (Part::Skills, keys::skills(model), generalize(text, &values))
            } else if text.starts_with("<permissions instructions>") && states_permissions(text) {
                (Part::Permissions, keys::permissions(&sandbox_mode, approval), permissions_template(text, &values))
            } else if text.starts_with("<environment_context>") {
                (
                    Part::EnvironmentContext,
                    keys::environment_context(&sandbox_mode),
                    environment_template(text, &values),
                )
            } else if text.starts_with("# AGENTS.md instructions for ") {
                let contents = scenario.agents_md.as_deref().ok_or_else(|| {
                    fail("the request has AGENTS.md instructions, but the scenario gave no agents_md".into())
                })?;
                (
                    Part::AgentsMd,
                    keys::AGENTS_MD.to_string(),
                    agents_md_template(text, &values.cwd, contents).map_err(fail)?,
                )
            } else {
                let key = text_key(model, text_index);
                text_index += 1;
                (Part::Text(key.clone()), key, generalize(text, &values))
            };
            // A workspace's skill extends the listing: `skills::learn` reads it against the model's plain one.
            if kind == Part::Skills && skills::workspace_skill(&scenario.workspace_files).is_some() {
                parts.push(kind);
                continue;
            }
            // The model's instructions go out as recorded, never rendered: braces in them are upstream's own text.
            if kind != Part::ModelInstructions {
                check_no_leftovers(&template, &values).map_err(|m| fail(format!("{key}: {m}")))?;
            }
            texts.put(key, template, &scenario.name)?;
            parts.push(kind);
        }
        recipe.push(ContextItem { item_type: item_type.into(), role, id, parts });
    }

    let mut tools = BTreeMap::new();
    if let Some(list) = body.get("tools") {
        tools.insert(network.to_string(), list.clone());
    }
    let headers: Vec<String> =
        request.headers.iter().map(|(n, _)| n.to_string()).filter(|n| n != "host" && n != "content-length").collect();
    let mut client_metadata_keys: Vec<String> =
        body.get("client_metadata").and_then(Value::as_object).map(|m| m.keys().cloned().collect()).unwrap_or_default();
    client_metadata_keys.sort();
    let user_agent = request.header("user-agent").unwrap_or_default();
    Ok(Observed {
        model: model.to_string(),
        originator: request.header("originator").unwrap_or_default().to_string(),
        beta_features: request.header("x-codex-beta-features").map(str::to_string),
        version: user_agent.split_once('/').and_then(|(_, rest)| rest.split_whitespace().next()).map(str::to_string),
        family: Family {
            learned_from: vec![scenario.name.clone()],
            body_keys: body.as_object().map(|m| m.keys().cloned().collect()).unwrap_or_default(),
            headers,
            turn_metadata_keys: metadata.as_object().map(|m| m.keys().cloned().collect()).unwrap_or_default(),
            client_metadata_keys,
            context: recipe,
            tools,
            deferred_tools: Vec::new(),
        },
    })
}

/// Folds a later scenario of the same model into the family: the recipe must agree but for AGENTS.md (present
/// only when the workspace has one), metadata keys are united in order, tools are collected by network access.
fn merge(family: &mut Family, first: &str, scenario: &str, other: Family) -> Result<(), PackError> {
    let conflict = |what: String| PackError::Conflict { first: first.into(), second: scenario.into(), what };
    let without_agents = |recipe: &[ContextItem]| -> Vec<ContextItem> {
        recipe
            .iter()
            .map(|item| ContextItem {
                parts: item.parts.iter().filter(|p| **p != Part::AgentsMd).cloned().collect(),
                ..item.clone()
            })
            .collect()
    };
    if without_agents(&family.context) != without_agents(&other.context) {
        return Err(conflict(format!(
            "the context of {}: {:?} against {:?}",
            "the model", family.context, other.context
        )));
    }
    if other.context.iter().any(|i| i.parts.contains(&Part::AgentsMd)) {
        family.context = other.context;
    }
    if family.body_keys != other.body_keys {
        return Err(conflict(format!("the body keys: {:?} against {:?}", family.body_keys, other.body_keys)));
    }
    if family.headers != other.headers {
        return Err(conflict(format!("the headers: {:?} against {:?}", family.headers, other.headers)));
    }
    family.turn_metadata_keys = unite(&family.turn_metadata_keys, &other.turn_metadata_keys)
        .ok_or_else(|| conflict("the order of the turn metadata keys".into()))?;
    family.client_metadata_keys = unite(&family.client_metadata_keys, &other.client_metadata_keys)
        .map(|mut keys| {
            keys.sort();
            keys
        })
        .unwrap_or_else(|| {
            let mut all = family.client_metadata_keys.clone();
            all.extend(other.client_metadata_keys.iter().cloned());
            all.sort();
            all.dedup();
            all
        });
    for (network, tools) in other.tools {
        match family.tools.get(&network) {
            Some(existing) if *existing != tools => return Err(conflict(format!("the tools with network {network}"))),
            Some(_) => {}
            None => {
                family.tools.insert(network, tools);
            }
        }
    }
    family.learned_from.push(scenario.to_string());
    Ok(())
}

/// Two key lists united, keeping both orders; `None` when their orders contradict each other.
fn unite(a: &[String], b: &[String]) -> Option<Vec<String>> {
    let mut out = Vec::with_capacity(a.len().max(b.len()));
    let (mut i, mut j) = (0, 0);
    while i < a.len() || j < b.len() {
        match (a.get(i), b.get(j)) {
            (Some(x), Some(y)) if x == y => {
                out.push(x.clone());
                i += 1;
                j += 1;
            }
            (Some(x), _) if !b[j..].contains(x) => {
                out.push(x.clone());
                i += 1;
            }
            (_, Some(y)) if !a[i..].contains(y) => {
                out.push(y.clone());
                j += 1;
            }
            (None, Some(y)) => {
                out.push(y.clone());
                j += 1;
            }
            (Some(x), None) => {
                out.push(x.clone());
                i += 1;
            }
            _ => return None,
        }
    }
    Some(out)
}

/// `msg_01a1…` -> prefix `msg`, version 7.
fn id_scheme(id: &str) -> Option<IdScheme> {
    let (prefix, uuid) = id.split_once('_')?;
    let version = uuid.as_bytes().get(14).and_then(|c| (*c as char).to_digit(16))? as u8;
    (uuid.len() == 36 && uuid.as_bytes()[8] == b'-').then(|| IdScheme { prefix: prefix.to_string(), version })
}

fn run_values(context: &[Value]) -> Option<RunValues> {
    let texts: Vec<String> = context.iter().map(parity_capture::view::item_text).collect();
    let environment = texts.iter().find_map(|t| t.find("<environment_context>").map(|i| &t[i..]))?;
    let skills_root = texts.iter().find_map(|t| between(t, "` = `", "/skills/.system`"));
    Some(RunValues {
        cwd: between(environment, "<cwd>", "</cwd>")?.to_string(),
        codex_home: skills_root.map(str::to_string),
        current_date: between(environment, "<current_date>", "</current_date>").map(str::to_string),
        timezone: between(environment, "<timezone>", "</timezone>").map(str::to_string),
        shell: between(environment, "<shell>", "</shell>").map(str::to_string),
    })
}

fn between<'a>(text: &'a str, start: &str, end: &str) -> Option<&'a str> {
    let from = text.find(start)? + start.len();
    let to = text[from..].find(end)? + from;
    Some(&text[from..to])
}

/// The run's paths in a text become placeholders. CODEX_HOME first: the workspace could lie under it.
fn generalize(text: &str, values: &RunValues) -> String {
    let mut out = text.to_string();
    if let Some(home) = &values.codex_home {
        out = out.replace(home.as_str(), "{{codex_home}}");
    }
    out.replace(values.cwd.as_str(), "{{cwd}}")
}

/// Whether a permissions block says anything: some models' block is empty whatever the sandbox and the approval
/// policy, so it is a fixed text of the model's rather than the shared permissions of the run's configuration.
fn states_permissions(text: &str) -> bool {
    let inner = text
        .strip_prefix("<permissions instructions>")
        .and_then(|rest| rest.trim_end().strip_suffix("</permissions instructions>"));
    inner.is_none_or(|inner| !inner.trim().is_empty())
}

/// The writable roots clause lists the run's roots: they become one placeholder, filled with the agent's own list.
fn permissions_template(text: &str, values: &RunValues) -> String {
    const CLAUSE: &str = " The writable roots are ";
    match text.find(CLAUSE) {
        Some(at) => {
            let list_start = at + CLAUSE.len();
            let list_end = text[list_start..].find(".\n").map(|e| list_start + e).unwrap_or(text.len());
            format!("{}{{{{writable_roots}}}}{}", &text[..list_start], &text[list_end..])
        }
        None => generalize(text, values),
    }
}

fn environment_template(text: &str, values: &RunValues) -> String {
    let mut out = generalize(text, values);
    for (tag, value) in
        [("current_date", &values.current_date), ("timezone", &values.timezone), ("shell", &values.shell)]
    {
        if let Some(value) = value {
            out = out.replace(&format!("<{tag}>{value}</{tag}>"), &format!("<{tag}>{{{{{tag}}}}}</{tag}>"));
        }
    }
    out
}

fn agents_md_template(text: &str, cwd: &str, contents: &str) -> Result<String, String> {
    if !text.contains(contents) {
        return Err("the AGENTS.md instructions do not hold the scenario's agents_md".into());
    }
    Ok(text.replacen(contents, "{{contents}}", 1).replace(cwd, "{{directory}}"))
}

/// Nothing of the run may stay behind in a template: it would be sent to the model as is.
fn check_no_leftovers(template: &str, values: &RunValues) -> Result<(), String> {
    let mut run_values = vec![values.cwd.as_str()];
    run_values.extend(values.codex_home.as_deref());
    for value in run_values {
        if template.contains(value) {
            return Err(format!("still holds the run's path {value}"));
        }
    }
    for name in rcodex_prompt_pack::placeholders(template) {
        if ![
            "codex_home",
            "cwd",
            "current_date",
            "timezone",
            "shell",
            "writable_roots",
            "directory",
            "contents",
            "name",
            "path",
        ]
        .contains(&name)
        {
            return Err(format!("holds {{{{{name}}}}}, which is not a placeholder rcodex fills"));
        }
    }
    Ok(())
}

fn catalog_models(catalog: &Value) -> Result<Vec<ModelInfo>, String> {
    let models = catalog.get("models").and_then(Value::as_array).ok_or("no \"models\" list")?;
    models
        .iter()
        .map(|m| {
            let mut info: ModelInfo = serde_json::from_value(m.clone()).map_err(|e| e.to_string())?;
            info.instructions_template = m
                .pointer("/model_messages/instructions_template")
                .or_else(|| m.get("base_instructions"))
                .and_then(Value::as_str)
                .map(str::to_string);
            Ok(info)
        })
        .collect()
}

/// What upstream assumed of a model its catalog does not know, as far as the first exec run of such a model shows it:
/// its reasoning and verbosity (an image detail of its own is not shown, so it is the default, high), and the warning
/// exec printed about it (with the scenario that showed it), the slug becoming `{{model}}`. `None` when no recorded run used such a model.
fn fallback_model(inputs: &Inputs, catalog: &[ModelInfo]) -> Result<Option<Fallback>, String> {
    let unknown = inputs.scenarios.iter().filter(|s| s.run.frontend.is_none_or(|f| f == Frontend::Exec)).find(|s| {
        let model = s.first_request.request.body.get("model").and_then(Value::as_str);
        model.is_some_and(|m| !catalog.iter().any(|c| c.slug == m))
    });
    let Some(scenario) = unknown else { return Ok(None) };
    let body = &scenario.first_request.request.body;
    let slug = body.get("model").and_then(Value::as_str).unwrap_or_default();
    let reasoning = body.get("reasoning");
    let verbosity = body.pointer("/text/verbosity");
    let info = serde_json::json!({
        "slug": slug,
        "default_reasoning_level": reasoning.and_then(|r| r.get("effort")),
        "default_reasoning_summary": reasoning.and_then(|r| r.get("summary")).unwrap_or(&Value::from("none")),
        "support_verbosity": verbosity.is_some(),
        "default_verbosity": verbosity,
    });
    let info: ModelInfo = serde_json::from_value(info).map_err(|e| format!("the fallback model: {e}"))?;
    let named = format!("`{slug}`");
    let warning = scenario
        .exec_events
        .iter()
        .filter(|e| e["type"] == "item.completed" && e.pointer("/item/type") == Some(&Value::from("error")))
        .filter_map(|e| e.pointer("/item/message").and_then(Value::as_str))
        .find(|message| message.contains(&named))
        .map(|message| (scenario.name.clone(), message.replace(&named, "`{{model}}`")));
    Ok(Some(Fallback { info, warning }))
}

/// The catalog carries each model's instructions, which rcodex falls back on: a recorded copy of the same text would
/// only weigh. A recorded text that differs from the catalog's stays (it is what upstream sent).
fn drop_catalog_instructions(texts: &mut BTreeMap<String, String>, models: &[ModelInfo]) {
    for model in models {
        let key = keys::model_instructions(&model.slug);
        if model.instructions_template.is_some() && texts.get(&key) == model.instructions_template.as_ref() {
            texts.remove(&key);
        }
    }
}

struct Fallback {
    info: ModelInfo,
    /// The scenario that showed the warning, and the warning.
    warning: Option<(String, String)>,
}

fn brief(value: &Value) -> String {
    let text = value.to_string();
    text.chars().take(120).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values() -> RunValues {
        RunValues {
            cwd: "/var/tmp/runs/x/workspace".into(),
            codex_home: Some("/var/tmp/runs/x/home/.codex".into()),
            current_date: Some("2026-11-21".into()),
            timezone: Some("Etc/UTC".into()),
            shell: Some("bash".into()),
        }
    }

    /// The pack's inputs from some of the reference recordings only (`tag` names the scratch directory).
    fn load_recorded(tag: &str, names: &[&str]) -> Inputs {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let captures = root.join("captures/codex-0.169.0");
        let baseline = std::env::temp_dir().join(format!("parity-pack-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&baseline);
        std::fs::create_dir_all(&baseline).unwrap();
        for name in names {
            std::os::unix::fs::symlink(captures.join(name), baseline.join(name)).unwrap();
        }
        let inputs = load(&baseline, &root.join("fixtures/scenarios")).unwrap();
        std::fs::remove_dir_all(&baseline).unwrap();
        inputs
    }

    #[test]
    fn a_model_the_catalog_does_not_know_gives_the_fallback_and_its_warning() {
        let inputs = load_recorded("fallback", &["models.json", "plain-reply", "model-my-local-model"]);
        let catalog = catalog_models(&inputs.catalog).unwrap();
        let Fallback { info, warning } = fallback_model(&inputs, &catalog).unwrap().expect("a fallback");
        assert_eq!(info.slug, "my-local-model");
        assert_eq!(info.default_reasoning_summary.as_deref(), Some("auto"), "its request asked for a summary");
        assert!(info.default_reasoning_level.is_none() && !info.support_verbosity, "{info:?}");
        let (scenario, warning) = warning.expect("exec warned");
        assert_eq!(scenario, "model-my-local-model");
        assert!(warning.contains("`{{model}}`") && !warning.contains("my-local-model"), "{warning}");
        // Catalog models alone: no fallback.
        let known: Vec<ModelInfo> = catalog
            .iter()
            .cloned()
            .chain([ModelInfo { slug: "my-local-model".into(), ..catalog[0].clone() }])
            .collect();
        assert!(fallback_model(&inputs, &known).unwrap().is_none());
    }

    #[test]
    fn a_forked_sub_agent_s_removed_namespaces_become_a_template_of_their_list() {
        let inputs = load_recorded("fork", &["models.json", "subagent-fork-context", "subagent-spawn-wait"]);
        let requests = |name: &str| &inputs.scenarios.iter().find(|s| s.name == name).unwrap().requests;
        let template = fork_removed_namespaces(requests("subagent-fork-context")).expect("the fork's message");
        assert!(template.starts_with("<tools>\nRemoved deferred tool namespaces:\n{{namespaces}}"), "{template}");
        assert!(!template.contains("multi_agent_v1"), "{template}");
        // A child spawned without the parent's history has none.
        assert_eq!(fork_removed_namespaces(requests("subagent-spawn-wait")), None);
    }

    #[test]
    fn a_review_kept_in_the_history_becomes_a_template_of_its_findings() {
        let inputs = load_recorded("review", &["models.json", "app-review-followup", "app-review"]);
        let requests = |name: &str| &inputs.scenarios.iter().find(|s| s.name == name).unwrap().requests;
        let template = review_user_action(requests("app-review-followup")).expect("the next turn's message");
        assert!(template.starts_with("<user_action>") && template.contains("<results>\n  {{results}}\n"), "{template}");
        assert!(!template.contains("add no longer adds"), "{template}");
        // A review alone leaves no next turn to show it.
        assert_eq!(review_user_action(requests("app-review")), None);
    }

    #[test]
    fn instructions_the_catalog_carries_are_not_kept_twice() {
        let model = |slug: &str, template: &str| ModelInfo {
            slug: slug.into(),
            instructions_template: Some(template.into()),
            ..catalog_models(&serde_json::json!({"models": [{"slug": "x"}]})).unwrap()[0].clone()
        };
        let mut texts: BTreeMap<String, String> = [
            (keys::model_instructions("same"), "Be useful.".to_string()),
            (keys::model_instructions("other"), "Be useful, as sent.".to_string()),
        ]
        .into();
        drop_catalog_instructions(&mut texts, &[model("same", "Be useful."), model("other", "Be useful.")]);
        assert_eq!(texts.keys().collect::<Vec<_>>(), [&keys::model_instructions("other")]);
    }

    #[test]
    fn an_empty_permissions_block_is_not_the_runs_permissions() {
        assert!(!states_permissions("<permissions instructions>\n</permissions instructions>"));
        assert!(!states_permissions("<permissions instructions>\n\n</permissions instructions>\n"));
        assert!(states_permissions(
            "<permissions instructions>\nApproval policy is never.\n</permissions instructions>"
        ));
    }

    #[test]
    fn run_values_become_placeholders() {
        let env = "<environment_context>\n  <cwd>/var/tmp/runs/x/workspace</cwd>\n  <shell>bash</shell>\n  <current_date>2026-11-21</current_date>\n  <timezone>Etc/UTC</timezone>\n</environment_context>";
        assert_eq!(
            environment_template(env, &values()),
            "<environment_context>\n  <cwd>{{cwd}}</cwd>\n  <shell>{{shell}}</shell>\n  <current_date>{{current_date}}</current_date>\n  <timezone>{{timezone}}</timezone>\n</environment_context>"
        );
        let perms = "<permissions instructions>\nx\n The writable roots are `/tmp`, `/var/tmp/runs/x/workspace`.\n</permissions instructions>";
        assert_eq!(
            permissions_template(perms, &values()),
            "<permissions instructions>\nx\n The writable roots are {{writable_roots}}.\n</permissions instructions>"
        );
        let skills = "- `r0` = `/var/tmp/runs/x/home/.codex/skills/.system`";
        assert_eq!(generalize(skills, &values()), "- `r0` = `{{codex_home}}/skills/.system`");
        let agents =
            "# AGENTS.md instructions for /var/tmp/runs/x/workspace\n\n<INSTRUCTIONS>\nBe brief.\n\n</INSTRUCTIONS>";
        assert_eq!(
            agents_md_template(agents, "/var/tmp/runs/x/workspace", "Be brief.\n").unwrap(),
            "# AGENTS.md instructions for {{directory}}\n\n<INSTRUCTIONS>\n{{contents}}\n</INSTRUCTIONS>"
        );
        assert!(check_no_leftovers("still /var/tmp/runs/x/workspace", &values()).is_err());
        assert!(check_no_leftovers("{{surprise}}", &values()).is_err());
    }

    #[test]
    fn a_failure_is_worded_as_exec_worded_it_unless_it_passed_the_servers_words_on() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../captures/codex-0.169.0/context-length-exceeded");
        let text = std::fs::read_to_string(dir.join("captures/session-01/0001-post-responses.json")).unwrap();
        let capture: Capture = serde_json::from_str(&text).unwrap();
        let events: Vec<Value> = std::fs::read_to_string(dir.join("turn-1/stdout.txt"))
            .unwrap()
            .lines()
            .map(|line| serde_json::from_str(line).unwrap())
            .collect();
        let learned = failure_messages(std::slice::from_ref(&capture), &events);
        assert_eq!(learned.len(), 1, "{learned:?}");
        assert_eq!(learned[0].0, "context_length_exceeded");
        assert!(learned[0].1.contains("context window"), "{learned:?}");
        // The server's own message passed on: nothing to learn. Unpaired failures: nothing either.
        let server = capture.response.events.iter().find_map(|e| e.data.pointer("/response/error/message")).unwrap();
        let passed_on = vec![serde_json::json!({"type": "turn.failed", "error": {"message": server}})];
        assert!(failure_messages(std::slice::from_ref(&capture), &passed_on).is_empty());
        assert!(failure_messages(&[capture.clone(), capture], &events).is_empty());
    }

    #[test]
    fn key_lists_unite_in_order_or_say_they_cannot() {
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        assert_eq!(unite(&s(&["a", "c"]), &s(&["a", "b", "c"])), Some(s(&["a", "b", "c"])));
        assert_eq!(unite(&s(&["a", "b", "d"]), &s(&["a", "c", "d"])), Some(s(&["a", "b", "c", "d"])));
        assert_eq!(unite(&s(&["a", "b"]), &s(&["b", "a"])), None);
        assert_eq!(id_scheme("msg_0ce1fada-2c4c-564e-990c-848ff58ae649").unwrap().version, 5);
        assert_eq!(
            id_scheme("at_01a1fd16-3edb-73e1-96e1-6261f9213e91").unwrap(),
            IdScheme { prefix: "at".into(), version: 7 }
        );
        assert!(id_scheme("msg_f5115ee378c6a18b3802cd8c8bbb0266").is_none());
    }

    #[test]
    fn the_compaction_prompt_and_summary_prefix_come_from_a_compaction_and_the_request_after_it() {
        use serde_json::json;
        let user =
            |text: &str| json!({"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]});
        let first = [user("Remember 42.")];
        let compaction = [user("Remember 42."), user("Summarize, please.")];
        let next = [user("Remember 42."), user("Earlier, someone wrote:\nThey said 42."), user("What number?")];
        let exchange = |session, compaction, input, answer: Option<&str>| Exchange {
            session,
            compaction,
            input,
            answer: answer.map(str::to_string),
        };
        let run = [
            exchange(1, false, &first[..], Some("Noted.")),
            exchange(1, true, &compaction[..], Some("They said 42.")),
            // Another session's request in between is not the compaction's next request.
            exchange(2, false, &first[..], Some("Hello.")),
            exchange(1, false, &next[..], Some("42.")),
        ];
        assert_eq!(
            compaction_texts(&run).unwrap(),
            vec![
                (keys::COMPACT_PROMPT, "Summarize, please.".to_string()),
                (keys::COMPACT_SUMMARY_PREFIX, "Earlier, someone wrote:\n".to_string())
            ]
        );
        // No compaction, nothing learned; a compaction without a summary teaches its prompt only.
        assert!(compaction_texts(&run[..1]).unwrap().is_empty());
        let failed = [exchange(1, true, &compaction[..], None), exchange(1, false, &first[..], None)];
        assert_eq!(compaction_texts(&failed).unwrap().len(), 1);
        // What upstream no longer does as rcodex learned it is an error.
        let ends_otherwise = [exchange(1, true, &first[..0], None)];
        assert!(compaction_texts(&ends_otherwise).unwrap_err().contains("does not end with a user message"));
        let summary_lost = [exchange(1, true, &compaction[..], Some("Other.")), exchange(1, false, &next[..], None)];
        assert!(compaction_texts(&summary_lost).unwrap_err().contains("no user message ending with the summary"));
    }

    #[test]
    fn deferred_tools_are_united_per_model_and_sorted_by_name() {
        use serde_json::json;
        let tool = |name: &str| json!({"type": "function", "name": name, "description": format!("{name} it"), "strict": false, "defer_loading": true, "parameters": {"type": "object"}});
        let namespace = |tools: Vec<Value>| json!({"type": "namespace", "name": "agents", "description": "Agent tools.", "tools": tools});
        let output = |tools: Vec<Value>| json!({"type": "tool_search_output", "call_id": "c", "status": "completed", "execution": "client", "tools": tools});
        let a = json!({"model": "m1", "input": [
            {"type": "tool_search_call", "call_id": "c", "execution": "client", "arguments": {"query": "wait"}},
            output(vec![namespace(vec![tool("wait"), tool("spawn")])]),
        ]});
        // The same search again (history repeats it), another namespace tool, a tool outside namespaces, an empty
        // result.
        let b = json!({"model": "m1", "input": [
            output(vec![namespace(vec![tool("wait"), tool("spawn")])]),
            output(vec![tool("lookup"), namespace(vec![tool("close")])]),
            output(vec![]),
        ]});
        let c = json!({"model": "m2", "input": [output(vec![namespace(vec![tool("spawn")])])]});
        let none = json!({"model": "m3", "input": [output(vec![])]});
        let found = deferred_tools([("s1", &a), ("s2", &b), ("s3", &c), ("s4", &none)]).unwrap();
        assert_eq!(found.keys().collect::<Vec<_>>(), ["m1", "m2"]);
        assert_eq!(found["m1"].first_scenario, "s1");
        assert_eq!(
            found["m1"].tools,
            vec![namespace(vec![tool("close"), tool("spawn"), tool("wait")]), tool("lookup")]
        );
        assert_eq!(found["m2"].tools, vec![namespace(vec![tool("spawn")])]);

        // A tool that changes between scenarios is a conflict naming both.
        let mut changed = tool("wait");
        changed["description"] = json!("something else");
        let d = json!({"model": "m1", "input": [output(vec![namespace(vec![changed])])]});
        let err = deferred_tools([("s1", &a), ("s5", &d)]).err().unwrap().to_string();
        assert!(err.contains("s1") && err.contains("s5") && err.contains("agents.wait"), "{err}");
        // So does a namespace whose description changes.
        let mut renamed = namespace(vec![]);
        renamed["description"] = json!("Other.");
        let e = json!({"model": "m1", "input": [output(vec![renamed])]});
        let err = deferred_tools([("s1", &a), ("s6", &e)]).err().unwrap().to_string();
        assert!(err.contains("namespace agents"), "{err}");
    }
}
