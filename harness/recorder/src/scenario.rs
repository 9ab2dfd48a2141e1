//! Scenarios: one file each, naming the model script, the prompts, the agent's options and the workspace.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use parity_server::Script;
use parity_server::script::{ScriptError, Syntax};
use serde::Deserialize;

/// A scenario as read from its file, its paths resolved.
#[derive(Debug, Clone)]
pub struct Scenario {
    /// The file's stem: `plain-reply` for `plain-reply.toml`.
    pub name: String,
    pub path: PathBuf,
    pub description: String,
    /// The first turn's prompt.
    pub prompt: String,
    /// Prompts of later turns, each sent by resuming the session (`exec resume --last`).
    pub follow_ups: Vec<String>,
    /// Every turn in order, with its actions: `[[turns]]` as written, or one plain turn per prompt (the prompt, then
    /// the follow-ups) when the file has none. Only the app-server frontend knows actions.
    pub turns: Vec<TurnStep>,
    /// Run alone when recording a suite: for scenarios whose outcome depends on timing.
    pub serial: bool,
    pub agent: AgentOptions,
    pub workspace: WorkspaceSpec,
    /// Files written under the isolated HOME before the agent starts (`[home] files`): relative path -> contents, so
    /// that `.codex/AGENTS.md` is the global AGENTS.md, `.codex/hooks.json` the hooks.
    pub home_files: BTreeMap<String, Vec<u8>>,
    /// Paths under the isolated HOME (files or directories) copied into the recording after the run (`[home] keep`),
    /// under `home/`: what the agent wrote there (upstream's system skills) is compared like its requests.
    pub keep_home: Vec<String>,
    pub script: Script,
    /// The terminal and its steps, for the tui frontend (`[tui]`); `None` for the others.
    pub tui: Option<crate::tui_steps::TuiSpec>,
}

/// How the agent is configured for the scenario.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentOptions {
    /// The model (`model` in config.toml); [`DEFAULT_MODEL`] when absent.
    pub model: Option<String>,
    /// `sandbox_mode`: read-only, workspace-write or danger-full-access; the agent's default when absent.
    pub sandbox: Option<String>,
    /// `approval_policy`; `never` when absent (nobody can approve during a recording).
    pub approval: Option<String>,
    /// More config.toml keys, as a TOML table (nested tables allowed).
    #[serde(default)]
    pub config: toml::Table,
    /// More command-line arguments for every turn (for codex and rcodex, after `exec`).
    #[serde(default)]
    pub args: Vec<String>,
    /// What every exec turn reads on its stdin (closed when absent): a prompt argument with piped input.
    pub stdin: Option<String>,
    /// Environment variables set for every exec turn over the isolated ones (`SHELL`, say).
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// Seconds each turn may take before the agent's process group is killed; [`DEFAULT_TIMEOUT_SECS`] when absent.
    pub timeout_secs: Option<u64>,
    /// How the recorder drives the agent: `exec` (a process per turn) or `app-server` (JSON-RPC over stdio).
    #[serde(default)]
    pub frontend: Frontend,
    /// The first turn is a code review, `exec review ARGS` (`--uncommitted`, `--base BRANCH`, `--commit SHA`,
    /// `--title TITLE`), instead of a prompt; exec frontend only. Checked by [`check_review_args`].
    #[serde(default)]
    pub review: Vec<String>,
    /// The model provider the agent uses: `parity` (a custom provider in config.toml, the default) or `openai`
    /// (the built-in one, as most users run it, pointed at the server by `openai_base_url`).
    #[serde(default)]
    pub provider: Provider,
    /// The built-in provider's credentials ([`Auth`]); `api-key` when absent. Only with `provider = "openai"`.
    pub auth: Option<Auth>,
}

/// Which model provider a scenario's agent talks through.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Provider {
    /// `[model_providers.parity]`: a custom provider whose key is in `PARITY_API_KEY`.
    #[default]
    Parity,
    /// The built-in `openai` provider: no `[model_providers]` table, `openai_base_url` pointing at the server.
    Openai,
}

/// Where the built-in provider finds its credentials: what a user has after `codex login` (or in CI).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Auth {
    /// `CODEX_API_KEY` in the environment (what `codex exec` reads; `OPENAI_API_KEY` is not read by 0.169.0's exec).
    Env,
    /// `auth.json` holding an API key, as `codex login --with-api-key` writes it.
    #[default]
    ApiKey,
    /// `auth.json` holding ChatGPT tokens (a fake id token naming an account id), refreshed recently.
    Chatgpt,
    /// The same, but the access token has expired: an agent refreshes it, at the server
    /// (`CODEX_REFRESH_TOKEN_URL_OVERRIDE` names its `/oauth/token`).
    ChatgptExpired,
}

impl Auth {
    pub fn name(self) -> &'static str {
        match self {
            Auth::Env => "env",
            Auth::ApiKey => "api-key",
            Auth::Chatgpt => "chatgpt",
            Auth::ChatgptExpired => "chatgpt-expired",
        }
    }
}

/// How a run drives its agent.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Frontend {
    /// `AGENT exec PROMPT` per turn, `exec resume --last PROMPT` for follow-ups.
    #[default]
    Exec,
    /// `AGENT app-server`, driven through JSON-RPC: a thread, its turns and their actions.
    AppServer,
    /// `AGENT` with no subcommand, its interactive terminal interface, in a pseudo-terminal driven by keystrokes
    /// and waits on the screen (`[tui]`).
    Tui,
}

impl Frontend {
    pub fn name(self) -> &'static str {
        match self {
            Frontend::Exec => "exec",
            Frontend::AppServer => "app-server",
            Frontend::Tui => "tui",
        }
    }
}

/// One step of a scenario's thread.
#[derive(Debug, Clone, PartialEq)]
pub enum TurnStep {
    /// A turn started with a prompt (`turn/start`), and what the client does while it runs.
    Prompt(Box<PromptTurn>),
    /// The thread continued in a new agent process (`thread/resume`); later turns go to it.
    Resume,
    /// The thread forked (`thread/fork`); later turns go to the fork.
    Fork,
    /// The thread compacted on request (`thread/compact/start`), until its compaction turn completes.
    Compact,
    /// A code review on the thread (`review/start` with this target, as the protocol writes it), until the review's
    /// turn completes; the plan's `params` go with it, and its approvals and actions apply to the review's turn.
    Review { target: serde_json::Value, plan: Box<PromptTurn> },
}

impl TurnStep {
    /// `None` for a prompt, else the action's name as written in the file.
    pub fn action(&self) -> Option<&'static str> {
        match self {
            TurnStep::Prompt(_) => None,
            TurnStep::Resume => Some("resume"),
            TurnStep::Fork => Some("fork"),
            TurnStep::Compact => Some("compact"),
            TurnStep::Review { .. } => Some("review"),
        }
    }
}

/// A turn and the client's actions during it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PromptTurn {
    pub prompt: String,
    /// Sent with `turn/steer`, each when the server reaches its hold, in order.
    pub steer: Vec<Steer>,
    /// Sent with `turn/interrupt` when the server reaches its hold, after every steer.
    pub interrupt: Option<HoldPoint>,
    /// Decisions for the agent's approval requests, in the order they come: `accept`, `acceptForSession`,
    /// `decline`, `cancel`.
    pub approvals: Vec<String>,
    /// Answers for the agent's user-input requests, in order: question id -> answers.
    pub answers: Vec<BTreeMap<String, Vec<String>>>,
    /// `outputSchema` of `turn/start`.
    pub output_schema: Option<serde_json::Value>,
    /// More `input` items of `turn/start`, after the prompt's text (a `skill`, an image...); in their strings,
    /// [`WORKSPACE_PLACEHOLDER`] stands for the run's workspace directory.
    pub input: Vec<serde_json::Value>,
    /// More parameters of `turn/start` (`model`, `effort`...), as given.
    pub params: serde_json::Map<String, serde_json::Value>,
}

/// What a turn's `input` strings write for the run's workspace directory, unknown until the run.
pub const WORKSPACE_PLACEHOLDER: &str = "{workspace}";

/// A point of the agent's own messages an action can wait for instead of a hold: `at = "agent:METHOD"` or
/// `"agent:METHOD:ITEM_TYPE"` fires when the agent sends that notification during the turn (for an item
/// notification, of that item's type): `agent:item/started:commandExecution` is while a command runs, after the
/// response that asked for it; `agent:turn/completed` is after the turn's last response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentTrigger {
    pub method: String,
    pub item_type: Option<String>,
}

impl AgentTrigger {
    pub const PREFIX: &'static str = "agent:";

    /// `None` when `at` names a hold rather than a message.
    pub fn parse(at: &str) -> Option<AgentTrigger> {
        let rest = at.strip_prefix(Self::PREFIX).filter(|r| !r.is_empty())?;
        let (method, item_type) = match rest.split_once(':') {
            Some((method, item)) => (method, Some(item.to_string())),
            None => (rest, None),
        };
        Some(AgentTrigger { method: method.to_string(), item_type })
    }

    /// Whether a notification of the agent's is this point.
    pub fn matches(&self, message: &serde_json::Value) -> bool {
        let method = message.get("method").and_then(serde_json::Value::as_str);
        let item_type = message.pointer("/params/item/type").and_then(serde_json::Value::as_str);
        method == Some(self.method.as_str()) && self.item_type.as_deref().is_none_or(|t| item_type == Some(t))
    }
}

/// `steer = { at = "HOLD", text = "..." }`, or `at = "agent:..."` (see [`AgentTrigger`])
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Steer {
    pub at: String,
    pub text: String,
}

/// `interrupt = { at = "HOLD" }`
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HoldPoint {
    pub at: String,
}

/// The decisions `approvals` may hold: those the app-server schema gives command and file-change approvals.
pub const APPROVAL_DECISIONS: &[&str] = &["accept", "acceptForSession", "decline", "cancel"];

/// The model used when a scenario names none: upstream 0.169.0's default.
pub const DEFAULT_MODEL: &str = "gpt-5.5";
pub const DEFAULT_TIMEOUT_SECS: u64 = 60;

impl AgentOptions {
    pub fn model(&self) -> &str {
        self.model.as_deref().unwrap_or(DEFAULT_MODEL)
    }

    pub fn approval(&self) -> &str {
        self.approval.as_deref().unwrap_or("never")
    }

    pub fn timeout(&self) -> std::time::Duration {
        std::time::Duration::from_secs(self.timeout_secs.unwrap_or(DEFAULT_TIMEOUT_SECS))
    }
}

/// What the workspace holds before the agent starts.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct WorkspaceSpec {
    /// Make the workspace a git repository, with everything committed (with fixed dates, so the commit hash is the
    /// same on every run).
    pub git: bool,
    /// Written to `AGENTS.md`.
    pub agents_md: Option<String>,
    /// Files by relative path, with their contents.
    pub files: BTreeMap<String, Vec<u8>>,
    /// Commits made after the first one, in order (git only): what a review of a commit or a branch looks at.
    pub commits: Vec<CommitSpec>,
    /// Files written after every commit and left uncommitted (git only): what a review of uncommitted changes sees.
    pub changes: BTreeMap<String, Vec<u8>>,
}

/// One more commit of the workspace's repository.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CommitSpec {
    pub message: String,
    /// A branch created at the current commit and switched to before this commit (the first commit is on `main`).
    pub branch: Option<String>,
    /// Files written (created or replaced) before the commit.
    #[serde(default)]
    pub files: BTreeMap<String, String>,
    /// Files removed before the commit.
    #[serde(default)]
    pub remove: Vec<String>,
}

/// Why a scenario cannot be used. Every variant names the file.
#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{path}{location}: {message}")]
    Invalid { path: PathBuf, location: String, message: String },
    #[error("{0}")]
    Script(#[from] ScriptError),
}

/// The file as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ScenarioFile {
    #[serde(default)]
    description: String,
    /// Required unless `turns` is given.
    prompt: Option<String>,
    #[serde(default)]
    follow_ups: Vec<String>,
    #[serde(default)]
    serial: bool,
    #[serde(default)]
    agent: AgentOptions,
    #[serde(default)]
    workspace: WorkspaceFile,
    #[serde(default)]
    home: HomeFile,
    /// The model script: a table in the server's scripted form, or the path of a script file.
    script: toml::Value,
    /// The thread step by step, instead of `prompt` and `follow_ups` (app-server frontend only).
    turns: Option<Vec<TurnFile>>,
    /// The terminal and its steps (tui frontend only).
    tui: Option<crate::tui_steps::TuiFile>,
}

/// `[[turns]]` as written: a prompt with its actions, or a thread-level `action`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TurnFile {
    prompt: Option<String>,
    action: Option<String>,
    steer: Option<OneOrMany<Steer>>,
    interrupt: Option<HoldPoint>,
    #[serde(default)]
    approvals: Vec<String>,
    #[serde(default)]
    answers: Vec<BTreeMap<String, OneOrMany<String>>>,
    output_schema: Option<toml::Value>,
    #[serde(default)]
    input: Vec<toml::Value>,
    params: Option<toml::Table>,
    /// `review/start`'s target, instead of a prompt: `{ type = "uncommittedChanges" }`, ...
    review: Option<toml::Table>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum OneOrMany<T> {
    One(T),
    Many(Vec<T>),
}

impl<T> OneOrMany<T> {
    fn into_vec(self) -> Vec<T> {
        match self {
            OneOrMany::One(one) => vec![one],
            OneOrMany::Many(many) => many,
        }
    }
}

#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct WorkspaceFile {
    #[serde(default)]
    git: bool,
    agents_md: Option<String>,
    /// Text files: relative path -> contents.
    #[serde(default)]
    files: BTreeMap<String, String>,
    /// Files copied in: relative path in the workspace -> path relative to the scenario file (for images and other
    /// binary files).
    #[serde(default)]
    copy: BTreeMap<String, String>,
    #[serde(default)]
    commits: Vec<CommitSpec>,
    #[serde(default)]
    changes: BTreeMap<String, String>,
}

/// `[home]` as written.
#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct HomeFile {
    /// Text files: path relative to HOME -> contents.
    #[serde(default)]
    files: BTreeMap<String, String>,
    /// Paths relative to HOME that the recording keeps after the run.
    #[serde(default)]
    keep: Vec<String>,
}

/// A path given relative to the scenario's folder, which must stay inside it: no absolute path, no `..`, and no
/// symbolic link that leads out.
fn inside_folder(base: &Path, relative: &str) -> Result<PathBuf, String> {
    let path = Path::new(relative);
    let escapes =
        path.components().any(|c| !matches!(c, std::path::Component::Normal(_) | std::path::Component::CurDir));
    if escapes {
        return Err("must be a path inside the scenario's folder (relative, without ..)".into());
    }
    let joined = base.join(path);
    if let (Ok(folder), Ok(real)) = (base.canonicalize(), joined.canonicalize())
        && !real.starts_with(&folder)
    {
        return Err(format!("leads out of the scenario's folder (to {})", real.display()));
    }
    Ok(joined)
}

impl Scenario {
    /// Reads and checks a scenario file, its script included.
    pub fn load(path: &Path) -> Result<Scenario, ScenarioError> {
        let text = std::fs::read_to_string(path).map_err(|source| ScenarioError::Io { path: path.into(), source })?;
        Scenario::parse(&text, path)
    }

    /// Parses a scenario; `path` names it in errors and anchors the relative paths it holds.
    pub fn parse(text: &str, path: &Path) -> Result<Scenario, ScenarioError> {
        let invalid =
            |location: String, message: String| ScenarioError::Invalid { path: path.into(), location, message };
        let de =
            toml::Deserializer::parse(text).map_err(|e| invalid(location(text, e.span()), e.message().to_string()))?;
        let file: ScenarioFile = serde_path_to_error::deserialize(de).map_err(|e| {
            let field = e.path().to_string();
            let inner = e.into_inner();
            invalid(location(text, inner.span()), format!("{field}: {}", inner.message()))
        })?;
        let base = path.parent().unwrap_or(Path::new("."));
        let script = match file.script {
            toml::Value::String(script_path) => Script::load(&base.join(script_path))?,
            toml::Value::Table(table) => {
                let text = toml::to_string(&table).expect("a parsed table serializes");
                Script::parse(&text, Syntax::Toml, &format!("{} [script]", path.display()))?
            }
            other => {
                return Err(invalid(
                    String::new(),
                    format!("script: a table or a file path, not {}", other.type_str()),
                ));
            }
        };
        if script.steps.is_empty() && script.sessions.is_empty() {
            return Err(invalid(
                String::new(),
                "script: has no steps, so the agent's first request could not be answered".into(),
            ));
        }
        let mut files: BTreeMap<String, Vec<u8>> =
            file.workspace.files.into_iter().map(|(k, v)| (k, v.into_bytes())).collect();
        for (target, source) in file.workspace.copy {
            let source = inside_folder(base, &source)
                .map_err(|why| invalid(String::new(), format!("workspace.copy.\"{target}\": \"{source}\" {why}")))?;
            let bytes = std::fs::read(&source).map_err(|e| {
                invalid(String::new(), format!("workspace.copy.\"{target}\": {}: {e}", source.display()))
            })?;
            files.insert(target, bytes);
        }
        let later_paths = file.workspace.commits.iter().flat_map(|c| c.files.keys().chain(&c.remove));
        for name in files.keys().chain(later_paths).chain(file.workspace.changes.keys()) {
            if Path::new(name).is_absolute() || name.split('/').any(|part| part == ".." || part.is_empty()) {
                return Err(invalid(
                    String::new(),
                    format!("workspace: \"{name}\" must be a relative path inside the workspace"),
                ));
            }
        }
        if !file.workspace.git && (!file.workspace.commits.is_empty() || !file.workspace.changes.is_empty()) {
            return Err(invalid(
                String::new(),
                "workspace.commits and workspace.changes need workspace.git = true".into(),
            ));
        }
        for (i, commit) in file.workspace.commits.iter().enumerate() {
            if commit.message.trim().is_empty() {
                return Err(invalid(String::new(), format!("workspace.commits[{i}].message: is empty")));
            }
            if commit.files.is_empty() && commit.remove.is_empty() {
                return Err(invalid(
                    String::new(),
                    format!("workspace.commits[{i}]: changes nothing (give `files` or `remove`)"),
                ));
            }
            if let Some(branch) = &commit.branch
                && (branch.is_empty() || branch.starts_with('-') || branch.contains(char::is_whitespace))
            {
                return Err(invalid(
                    String::new(),
                    format!("workspace.commits[{i}].branch: \"{branch}\" is not a branch name"),
                ));
            }
        }
        if !file.agent.review.is_empty() {
            if file.agent.frontend != Frontend::Exec {
                return Err(invalid(String::new(), "agent.review: only the exec frontend runs `exec review`".into()));
            }
            check_review_args(&file.agent.review).map_err(|m| invalid(String::new(), format!("agent.review: {m}")))?;
        }
        if file.agent.auth.is_some() && file.agent.provider != Provider::Openai {
            return Err(invalid(
                String::new(),
                "agent.auth: only the built-in provider (provider = \"openai\") takes credentials from the scenario"
                    .into(),
            ));
        }
        if file.agent.provider == Provider::Openai
            && file.agent.config.get("model_providers").is_some_and(|t| t.as_table().is_some_and(|t| !t.is_empty()))
        {
            return Err(invalid(
                String::new(),
                "agent.config.model_providers: provider = \"openai\" runs the built-in provider, with no \
                 [model_providers] table"
                    .into(),
            ));
        }
        let home_files: BTreeMap<String, Vec<u8>> =
            file.home.files.into_iter().map(|(k, v)| (k, v.into_bytes())).collect();
        for name in home_files.keys().chain(&file.home.keep) {
            if Path::new(name).is_absolute() || name.split('/').any(|part| part == ".." || part.is_empty()) {
                return Err(invalid(String::new(), format!("home: \"{name}\" must be a relative path inside HOME")));
            }
        }
        if file.agent.stdin.is_some() && file.agent.frontend != Frontend::Exec {
            return Err(invalid(String::new(), "agent.stdin: only the exec frontend pipes a turn's stdin".into()));
        }
        if !file.agent.env.is_empty() && file.agent.frontend != Frontend::Exec {
            return Err(invalid(String::new(), "agent.env: only the exec frontend takes more variables".into()));
        }
        if let Some(mode) = &file.agent.sandbox
            && !["read-only", "workspace-write", "danger-full-access"].contains(&mode.as_str())
        {
            return Err(invalid(
                String::new(),
                format!("agent.sandbox: \"{mode}\" is not read-only, workspace-write or danger-full-access"),
            ));
        }
        let (prompt, follow_ups, turns, tui) = match (file.agent.frontend, file.tui) {
            (Frontend::Tui, tui) => {
                if file.prompt.is_some() || !file.follow_ups.is_empty() || file.turns.is_some() {
                    return Err(invalid(
                        String::new(),
                        "agent.frontend = \"tui\" takes its input from [[tui.steps]], not prompt, follow_ups or \
                         [[turns]]"
                            .into(),
                    ));
                }
                let tui = tui.ok_or_else(|| {
                    invalid(
                        String::new(),
                        "agent.frontend = \"tui\" needs [[tui.steps]] (what to type, what to wait for)".into(),
                    )
                })?;
                let holds = hold_names(&script);
                let tui = tui.resolve(&holds).map_err(|message| invalid(String::new(), message))?;
                (String::new(), Vec::new(), Vec::new(), Some(tui))
            }
            (_, Some(_)) => {
                return Err(invalid(String::new(), "tui: [tui] needs agent.frontend = \"tui\"".into()));
            }
            (frontend, None) => {
                let (prompt, follow_ups, turns) =
                    resolve_turns(file.prompt, file.follow_ups, file.turns, frontend, &script)
                        .map_err(|message| invalid(String::new(), message))?;
                (prompt, follow_ups, turns, None)
            }
        };
        Ok(Scenario {
            name: path.file_stem().and_then(|s| s.to_str()).unwrap_or("scenario").to_string(),
            path: path.to_path_buf(),
            description: file.description,
            prompt,
            follow_ups,
            turns,
            serial: file.serial,
            agent: file.agent,
            workspace: WorkspaceSpec {
                git: file.workspace.git,
                agents_md: file.workspace.agents_md,
                files,
                commits: file.workspace.commits,
                changes: file.workspace.changes.into_iter().map(|(k, v)| (k, v.into_bytes())).collect(),
            },
            home_files,
            keep_home: file.home.keep,
            script,
            tui,
        })
    }

    /// Every prompt, in order: the first turn's, then the follow-ups.
    pub fn prompts(&self) -> impl Iterator<Item = &str> {
        std::iter::once(self.prompt.as_str()).chain(self.follow_ups.iter().map(String::as_str))
    }
}

/// `agent.review` as `exec review` takes it: exactly one target (`--uncommitted`, `--base BRANCH` or `--commit
/// SHA`), `--title TITLE` only beside `--commit`, each value present.
pub fn check_review_args(args: &[String]) -> Result<(), String> {
    let mut targets = Vec::new();
    let mut title = false;
    let mut rest = args.iter();
    while let Some(flag) = rest.next() {
        match flag.as_str() {
            "--uncommitted" => targets.push(flag.as_str()),
            "--base" | "--commit" | "--title" => {
                let value = rest.next().filter(|v| !v.is_empty() && !v.starts_with("--"));
                if value.is_none() {
                    return Err(format!("{flag} needs a value after it"));
                }
                if flag == "--title" {
                    title = true;
                } else {
                    targets.push(flag.as_str());
                }
            }
            other => {
                return Err(format!(
                    "\"{other}\" is not one of --uncommitted, --base BRANCH, --commit SHA, --title TITLE"
                ));
            }
        }
    }
    match targets.as_slice() {
        [] => Err("needs a target: --uncommitted, --base BRANCH or --commit SHA".into()),
        [_] if title && targets[0] != "--commit" => Err("--title goes with --commit".into()),
        [_] => Ok(()),
        _ => Err(format!("one target at most, not {}", targets.join(" and "))),
    }
}

/// The scenario's turns from either form, checked: `prompt` (and `follow_ups`) or `[[turns]]`, never both; actions
/// only with the app-server frontend, each hold they wait for one the script defines.
fn resolve_turns(
    prompt: Option<String>,
    follow_ups: Vec<String>,
    turns: Option<Vec<TurnFile>>,
    frontend: Frontend,
    script: &Script,
) -> Result<(String, Vec<String>, Vec<TurnStep>), String> {
    let Some(turns) = turns else {
        let prompt = prompt.ok_or("missing field `prompt` (or `[[turns]]` with agent.frontend = \"app-server\")")?;
        let steps = std::iter::once(&prompt)
            .chain(&follow_ups)
            .map(|p| TurnStep::Prompt(Box::new(PromptTurn { prompt: p.clone(), ..PromptTurn::default() })))
            .collect();
        return Ok((prompt, follow_ups, steps));
    };
    if prompt.is_some() || !follow_ups.is_empty() {
        return Err("turns: give either `prompt` and `follow_ups` or `[[turns]]`, not both".into());
    }
    if frontend != Frontend::AppServer {
        return Err("turns: `[[turns]]` needs agent.frontend = \"app-server\" (exec runs prompt and follow_ups)".into());
    }
    let holds = hold_names(script);
    let known_hold = |at: &str| AgentTrigger::parse(at).is_some() || is_script_hold(&holds, at);
    let mut steps = Vec::new();
    for (i, turn) in turns.into_iter().enumerate() {
        let here = format!("turns[{i}]");
        let step = match (turn.prompt, turn.action.as_deref(), turn.review) {
            (None, None, None) => {
                return Err(format!("{here}: needs a `prompt`, an `action` (resume, fork, compact) or a `review`"));
            }
            (None, Some(action), None) => {
                let has_more = turn.steer.is_some()
                    || turn.interrupt.is_some()
                    || !turn.approvals.is_empty()
                    || !turn.answers.is_empty()
                    || turn.output_schema.is_some()
                    || !turn.input.is_empty()
                    || turn.params.is_some();
                if has_more {
                    return Err(format!(
                        "{here}: action \"{action}\" takes nothing else (steer, interrupt, approvals, answers, \
                         output_schema, input and params belong to a turn with a prompt)"
                    ));
                }
                if !steps.iter().any(|s| matches!(s, TurnStep::Prompt(_) | TurnStep::Review { .. })) {
                    return Err(format!(
                        "{here}: action \"{action}\" needs a thread with a turn: put a prompt or a review first"
                    ));
                }
                match action {
                    "resume" => TurnStep::Resume,
                    "fork" => TurnStep::Fork,
                    "compact" => TurnStep::Compact,
                    other => return Err(format!("{here}.action: \"{other}\" is not resume, fork or compact")),
                }
            }
            (prompt, None, review) if prompt.is_some() != review.is_some() => {
                let review = review
                    .map(|target| {
                        if turn.output_schema.is_some() || !turn.input.is_empty() {
                            return Err(format!(
                                "{here}: a review takes no output_schema or input (they belong to a turn/start)"
                            ));
                        }
                        review_target(target).map_err(|why| format!("{here}.review: {why}"))
                    })
                    .transpose()?;
                let steer = turn.steer.map(OneOrMany::into_vec).unwrap_or_default();
                for (at, field) in
                    steer.iter().map(|s| (&s.at, "steer")).chain(turn.interrupt.iter().map(|i| (&i.at, "interrupt")))
                {
                    if !known_hold(at) {
                        let list = if holds.is_empty() { "it has none".to_string() } else { holds.join(", ") };
                        return Err(format!("{here}.{field}.at: \"{at}\" is no hold of the script ({list})"));
                    }
                }
                if let Some(bad) = turn.approvals.iter().find(|d| !APPROVAL_DECISIONS.contains(&d.as_str())) {
                    return Err(format!("{here}.approvals: \"{bad}\" is not one of {}", APPROVAL_DECISIONS.join(", ")));
                }
                let output_schema = turn
                    .output_schema
                    .map(|v| serde_json::to_value(v).map_err(|e| format!("{here}.output_schema: {e}")))
                    .transpose()?;
                let mut input = Vec::new();
                for (j, item) in turn.input.into_iter().enumerate() {
                    let item = serde_json::to_value(item).map_err(|e| format!("{here}.input[{j}]: {e}"))?;
                    if item.get("type").and_then(serde_json::Value::as_str).is_none() {
                        return Err(format!("{here}.input[{j}]: an input item needs a `type` (text, image, skill...)"));
                    }
                    input.push(item);
                }
                let params = match turn.params {
                    None => serde_json::Map::new(),
                    Some(table) => match serde_json::to_value(table) {
                        Ok(serde_json::Value::Object(params)) => params,
                        _ => return Err(format!("{here}.params: not a table of turn/start parameters")),
                    },
                };
                let (taken, instead) = match review {
                    None => (&["threadId", "input", "outputSchema"][..], "use prompt, input, output_schema"),
                    Some(_) => (&["threadId", "target"][..], "use review"),
                };
                if let Some(taken) = taken.iter().find(|k| params.contains_key(**k)) {
                    return Err(format!("{here}.params.{taken}: the recorder sets it ({instead})"));
                }
                let plan = Box::new(PromptTurn {
                    prompt: prompt.unwrap_or_default(),
                    steer,
                    interrupt: turn.interrupt,
                    approvals: turn.approvals,
                    answers: turn
                        .answers
                        .into_iter()
                        .map(|a| a.into_iter().map(|(k, v)| (k, v.into_vec())).collect())
                        .collect(),
                    output_schema,
                    input,
                    params,
                });
                match review {
                    Some(target) => TurnStep::Review { target, plan },
                    None => TurnStep::Prompt(plan),
                }
            }
            _ => return Err(format!("{here}: a turn has one of `prompt`, `action` or `review`, not several")),
        };
        steps.push(step);
    }
    let mut prompts = steps.iter().filter_map(|s| match s {
        TurnStep::Prompt(p) => Some(p.prompt.clone()),
        _ => None,
    });
    let first = match prompts.next() {
        Some(first) => first,
        // A thread may be only reviews: it has no prompt to name.
        None if steps.iter().any(|s| matches!(s, TurnStep::Review { .. })) => String::new(),
        None => return Err("turns: no turn has a prompt or a review".into()),
    };
    Ok((first, prompts.collect(), steps))
}

/// The target `review/start` takes, as the app-server protocol writes it, checked: a `type` the protocol knows, with
/// the fields that type needs, as strings, and no other.
fn review_target(target: toml::Table) -> Result<serde_json::Value, String> {
    const TYPES: &str = "uncommittedChanges, baseBranch, commit or custom";
    let kind = match target.get("type") {
        Some(toml::Value::String(kind)) => kind.as_str(),
        Some(other) => return Err(format!("type: a string ({TYPES}), not {}", other.type_str())),
        None => return Err(format!("needs a `type` ({TYPES})")),
    };
    let (required, optional): (&[&str], &[&str]) = match kind {
        "uncommittedChanges" => (&[], &[]),
        "baseBranch" => (&["branch"], &[]),
        "commit" => (&["sha"], &["title"]),
        "custom" => (&["instructions"], &[]),
        other => return Err(format!("type: \"{other}\" is not {TYPES}")),
    };
    if let Some(missing) = required.iter().find(|k| !target.contains_key(**k)) {
        return Err(format!("a {kind} target needs `{missing}`"));
    }
    for (key, value) in &target {
        if key == "type" {
            continue;
        }
        if !required.contains(&key.as_str()) && !optional.contains(&key.as_str()) {
            return Err(format!("`{key}` is no field of a {kind} target"));
        }
        match value.as_str() {
            Some(text) if !text.is_empty() => {}
            _ => return Err(format!("{key}: a non-empty string")),
        }
    }
    serde_json::to_value(target).map_err(|e| e.to_string())
}

/// Whether `at` names a hold of the script: one of `holds` (see [`hold_names`]), or `step-N` (an unnamed step's).
pub(crate) fn is_script_hold(holds: &[String], at: &str) -> bool {
    holds.iter().any(|h| h == at)
        || at.strip_prefix("step-").is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit() || b == b'.'))
}

/// The names of the script's holds that it names itself (a hold's `name`, or its step's); unnamed holds of unnamed
/// steps are `step-N`, which the caller accepts as they come.
pub(crate) fn hold_names(script: &Script) -> Vec<String> {
    let steps = script.steps.iter().chain(script.sessions.iter().flat_map(|s| s.steps.iter()));
    let mut names = Vec::new();
    for step in steps {
        let base = step.name.clone();
        if let Some(hold) = &step.hold {
            names.extend(hold.name.clone().or(base.clone()));
        }
        let mut inline = 0;
        for item in &step.output {
            if let parity_server::OutputItem::Hold(hold) = item {
                inline += 1;
                match (&hold.name, &base) {
                    (Some(name), _) => names.push(name.clone()),
                    (None, Some(base)) if inline == 1 => names.push(base.clone()),
                    (None, Some(base)) => names.push(format!("{base}.{inline}")),
                    (None, None) => {}
                }
            }
        }
    }
    names.sort();
    names.dedup();
    names
}

/// Every scenario (`*.toml`) in a directory, sorted by name.
pub fn load_dir(dir: &Path) -> Result<Vec<Scenario>, ScenarioError> {
    let entries = std::fs::read_dir(dir).map_err(|source| ScenarioError::Io { path: dir.into(), source })?;
    let mut paths: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    paths.sort();
    paths.iter().map(|p| Scenario::load(p)).collect()
}

fn location(text: &str, span: Option<std::ops::Range<usize>>) -> String {
    match span {
        Some(span) => {
            let before = &text[..span.start.min(text.len())];
            let line = before.matches('\n').count() + 1;
            let column = before.len() - before.rfind('\n').map(|i| i + 1).unwrap_or(0) + 1;
            format!(":{line}:{column}")
        }
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Scenario, ScenarioError> {
        Scenario::parse(text, Path::new("/fixtures/scenarios/demo.toml"))
    }

    #[test]
    fn review_targets_and_later_commits_are_checked_at_load() {
        let with = |agent: &str, workspace: &str| {
            parse(&format!("prompt = \"\"\n[agent]\n{agent}\n[workspace]\n{workspace}\n[script]\nsteps = [{{}}]\n"))
                .map_err(|e| e.to_string())
        };
        let git = "git = true\n[[workspace.commits]]\nmessage = \"m\"\nfiles = { \"a\" = \"b\" }";
        let ok = with("review = [\"--commit\", \"abc\", \"--title\", \"Fix\"]", git).unwrap();
        assert_eq!(ok.agent.review, ["--commit", "abc", "--title", "Fix"]);
        assert_eq!(ok.workspace.commits[0].files["a"], "b");
        for (review, why) in [
            ("[\"--base\"]", "agent.review: --base needs a value after it"),
            ("[\"--uncommitted\", \"--commit\", \"x\"]", "one target at most, not --uncommitted and --commit"),
            ("[\"--title\", \"t\"]", "needs a target"),
            ("[\"--uncommitted\", \"--title\", \"t\"]", "--title goes with --commit"),
            ("[\"--staged\"]", "\"--staged\" is not one of --uncommitted"),
        ] {
            let e = with(&format!("review = {review}"), "git = true").unwrap_err();
            assert!(e.contains(why), "{review}: {e}");
        }
        let e = with("frontend = \"app-server\"\nreview = [\"--uncommitted\"]", "").unwrap_err();
        assert!(e.contains("only the exec frontend runs `exec review`"), "{e}");
        let e = with("", "changes = { \"a\" = \"b\" }").unwrap_err();
        assert!(e.contains("need workspace.git = true"), "{e}");
        let e = with("", "git = true\n[[workspace.commits]]\nmessage = \"m\"").unwrap_err();
        assert!(e.contains("workspace.commits[0]: changes nothing"), "{e}");
        let e = with("", "git = true\nchanges = { \"../a\" = \"b\" }").unwrap_err();
        assert!(e.contains("\"../a\" must be a relative path"), "{e}");
    }

    #[test]
    fn a_full_scenario_parses_with_defaults_filled_in() {
        let s = parse(
            r#"
            description = "demo"
            prompt = "first"
            follow_ups = ["second"]
            [agent]
            sandbox = "workspace-write"
            config = { model_reasoning_effort = "high", features = { x = true } }
            [workspace]
            git = true
            agents_md = "Be brief."
            files = { "src/a.txt" = "a" }
            [[script.steps]]
            output = [{ message = "one" }]
            [[script.steps]]
            output = [{ message = "two" }]
            "#,
        )
        .unwrap();
        assert_eq!(s.name, "demo");
        assert_eq!(s.prompts().collect::<Vec<_>>(), ["first", "second"]);
        assert_eq!((s.agent.model(), s.agent.approval()), (DEFAULT_MODEL, "never"));
        assert_eq!(s.agent.config["features"]["x"].as_bool(), Some(true));
        assert_eq!(s.script.steps.len(), 2);
        assert_eq!(s.workspace.files["src/a.txt"], b"a");
    }

    #[test]
    fn errors_name_the_file_the_line_and_the_field() {
        let e = parse("prompt = \"p\"\n[agent]\nsandbox = \"yolo\"\n[[script.steps]]\noutput = []\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("demo.toml") && e.contains("agent.sandbox: \"yolo\""), "{e}");
        let e = parse("prompt = \"p\"\n[agent]\ntimeout_secs = \"soon\"\n[script]\nsteps = [{}]\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("demo.toml:3:") && e.contains("agent.timeout_secs"), "{e}");
        let e =
            parse("prompt = \"p\"\n[script]\nsteps = [{ output = [{ mesage = \"x\" }] }]\n").unwrap_err().to_string();
        assert!(e.contains("demo.toml [script]") && e.contains("step 1") && e.contains("mesage"), "{e}");
        let e = parse("prompt = \"p\"\n[script]\n").unwrap_err().to_string();
        assert!(e.contains("has no steps"), "{e}");
        let e = parse("prompt = \"p\"\n[workspace]\nfiles = { \"../x\" = \"\" }\n[script]\nsteps = [{}]\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("\"../x\" must be a relative path"), "{e}");
        let e = parse("promt = \"p\"\n").unwrap_err().to_string();
        assert!(e.contains("unknown field `promt`"), "{e}");
    }

    const APP: &str = "[agent]\nfrontend = \"app-server\"\n";
    const HELD: &str = "[[script.steps]]\nname = \"answer\"\nhold = {}\noutput = [{ message = \"m\" }]\n";

    #[test]
    fn turns_hold_prompts_actions_and_thread_steps() {
        let s = parse(&format!(
            r#"{APP}
            [[turns]]
            prompt = "one"
            steer = [{{ at = "answer", text = "s1" }}, {{ at = "step-3", text = "s2" }}]
            interrupt = {{ at = "answer" }}
            approvals = ["accept", "decline"]
            answers = [{{ color = "Blue", size = ["S", "M"] }}]
            output_schema = {{ type = "object" }}
            input = [{{ type = "skill", name = "demo", path = "{{workspace}}/SKILL.md" }}]
            params = {{ model = "gpt-5.6-sol" }}
            [[turns]]
            action = "resume"
            [[turns]]
            prompt = "two"
            {HELD}"#
        ))
        .unwrap();
        assert_eq!(s.agent.frontend, Frontend::AppServer);
        assert_eq!((s.prompt.as_str(), s.follow_ups.as_slice()), ("one", &["two".to_string()][..]));
        let TurnStep::Prompt(first) = &s.turns[0] else { panic!("{:?}", s.turns[0]) };
        assert_eq!(first.steer.len(), 2);
        assert_eq!(first.interrupt.as_ref().map(|i| i.at.as_str()), Some("answer"));
        assert_eq!(first.answers[0]["size"], ["S", "M"]);
        assert_eq!(first.answers[0]["color"], ["Blue"]);
        assert_eq!(first.output_schema, Some(serde_json::json!({"type": "object"})));
        assert_eq!(first.input, [serde_json::json!({"type": "skill", "name": "demo", "path": "{workspace}/SKILL.md"})]);
        assert_eq!(first.params["model"], "gpt-5.6-sol");
        assert_eq!(s.turns[1], TurnStep::Resume);
        // Without [[turns]], each prompt is a plain turn, for either frontend.
        let plain = parse("prompt = \"a\"\nfollow_ups = [\"b\"]\n[[script.steps]]\n").unwrap();
        assert_eq!(plain.agent.frontend, Frontend::Exec);
        assert_eq!(plain.turns.len(), 2);
    }

    #[test]
    fn reviews_are_thread_steps_with_their_target_as_the_protocol_writes_it() {
        let s = parse(&format!(
            r#"{APP}
            [[turns]]
            review = {{ type = "uncommittedChanges" }}
            params = {{ delivery = "inline" }}
            approvals = ["accept"]
            [[turns]]
            action = "resume"
            [[turns]]
            prompt = "Fix it."
            [[turns]]
            review = {{ type = "commit", sha = "0123abc", title = "Add div" }}
            {HELD}"#
        ))
        .unwrap();
        let TurnStep::Review { target, plan } = &s.turns[0] else { panic!("{:?}", s.turns[0]) };
        assert_eq!(target, &serde_json::json!({"type": "uncommittedChanges"}));
        assert_eq!(plan.params["delivery"], "inline");
        assert_eq!(plan.approvals, ["accept"]);
        assert_eq!(s.turns[0].action(), Some("review"));
        // A review opens the thread as a prompt would: the resume after it has a thread to resume.
        assert_eq!(s.turns[1], TurnStep::Resume);
        assert_eq!((s.prompt.as_str(), s.follow_ups.len()), ("Fix it.", 0));
        let TurnStep::Review { target, .. } = &s.turns[3] else { panic!("{:?}", s.turns[3]) };
        assert_eq!(target, &serde_json::json!({"type": "commit", "sha": "0123abc", "title": "Add div"}));
        // A thread of reviews alone has no prompt.
        let only =
            parse(&format!("{APP}[[turns]]\nreview = {{ type = \"baseBranch\", branch = \"main\" }}\n{HELD}")).unwrap();
        assert_eq!((only.prompt.as_str(), only.turns.len()), ("", 1));
    }

    #[test]
    fn turns_that_cannot_run_are_refused_naming_the_turn() {
        for (turns, why) in [
            (
                "[[turns]]\nprompt = \"p\"\nsteer = { at = \"nowhere\", text = \"s\" }",
                "turns[0].steer.at: \"nowhere\" is no hold of the script (answer)",
            ),
            ("[[turns]]\nprompt = \"p\"\napprovals = [\"yes\"]", "turns[0].approvals: \"yes\" is not one of accept"),
            ("[[turns]]\naction = \"resume\"", "turns[0]: action \"resume\" needs a thread with a turn"),
            (
                "[[turns]]\nprompt = \"p\"\nreview = { type = \"custom\", instructions = \"i\" }",
                "turns[0]: a turn has one of `prompt`, `action` or `review`, not several",
            ),
            ("[[turns]]\nreview = { branch = \"main\" }", "turns[0].review: needs a `type`"),
            (
                "[[turns]]\nreview = { type = \"staged\" }",
                "turns[0].review: type: \"staged\" is not uncommittedChanges",
            ),
            ("[[turns]]\nreview = { type = \"baseBranch\" }", "turns[0].review: a baseBranch target needs `branch`"),
            (
                "[[turns]]\nreview = { type = \"uncommittedChanges\", sha = \"abc\" }",
                "turns[0].review: `sha` is no field of a uncommittedChanges target",
            ),
            ("[[turns]]\nreview = { type = \"commit\", sha = \"\" }", "turns[0].review: sha: a non-empty string"),
            (
                "[[turns]]\nreview = { type = \"uncommittedChanges\" }\noutput_schema = { type = \"object\" }",
                "turns[0]: a review takes no output_schema or input",
            ),
            (
                "[[turns]]\nreview = { type = \"uncommittedChanges\" }\nparams = { target = {} }",
                "turns[0].params.target: the recorder sets it (use review)",
            ),
            (
                "[[turns]]\nprompt = \"p\"\n[[turns]]\naction = \"rewind\"",
                "turns[1].action: \"rewind\" is not resume, fork or compact",
            ),
            (
                "[[turns]]\nprompt = \"p\"\n[[turns]]\naction = \"fork\"\napprovals = [\"accept\"]",
                "turns[1]: action \"fork\" takes nothing else",
            ),
            (
                "[[turns]]\nprompt = \"p\"\naction = \"fork\"",
                "turns[0]: a turn has one of `prompt`, `action` or `review`, not several",
            ),
            ("prompt = \"p\"\n[[turns]]\nprompt = \"q\"", "give either `prompt` and `follow_ups` or `[[turns]]`"),
            (
                "[[turns]]\nprompt = \"p\"\ninput = [{ name = \"x\" }]",
                "turns[0].input[0]: an input item needs a `type`",
            ),
            ("[[turns]]\nprompt = \"p\"\nparams = { input = [] }", "turns[0].params.input: the recorder sets it"),
        ] {
            let e = parse(&format!("{turns}\n{APP}{HELD}")).unwrap_err().to_string();
            assert!(e.contains("demo.toml") && e.contains(why), "{why:?} not in {e}");
        }
        let e = parse(&format!("[[turns]]\nprompt = \"p\"\n{HELD}")).unwrap_err().to_string();
        assert!(e.contains("`[[turns]]` needs agent.frontend = \"app-server\""), "{e}");
        let e = parse(&format!("{APP}{HELD}")).unwrap_err().to_string();
        assert!(e.contains("missing field `prompt`"), "{e}");
        let e = parse(&format!("prompt = \"p\"\n[agent]\nfrontend = \"tui\"\n{HELD}")).unwrap_err().to_string();
        assert!(e.contains("agent.frontend") && e.contains("tui"), "{e}");
    }

    const TUI: &str = "[agent]\nfrontend = \"tui\"\n";

    #[test]
    fn tui_steps_parse_into_keys_waits_and_starts() {
        use crate::tui_steps::{Key, TuiAction};
        use std::time::Duration;
        let s = parse(&format!(
            r#"{TUI}
            [tui]
            size = {{ cols = 100, rows = 30 }}
            [[tui.steps]]
            wait_screen = "Ask Codex"
            [[tui.steps]]
            type = "hello"
            key = "enter"
            [[tui.steps]]
            at = "answer"
            type = "steer"
            key = ["tab", "ctrl-c"]
            [[tui.steps]]
            wait_screen = {{ text = "done", timeout_ms = 500, count = 2 }}
            [[tui.steps]]
            wait_ms = 20
            [[tui.steps]]
            wait_exit = true
            [[tui.steps]]
            start = ["resume", "--last"]
            {HELD}"#
        ))
        .unwrap();
        assert_eq!(s.agent.frontend, Frontend::Tui);
        assert!(s.turns.is_empty() && s.prompt.is_empty());
        let tui = s.tui.unwrap();
        assert_eq!((tui.cols, tui.rows), (100, 30));
        let actions: Vec<&TuiAction> = tui.steps.iter().map(|s| &s.action).collect();
        assert_eq!(actions[0], &TuiAction::WaitScreen { text: "Ask Codex".into(), timeout: None, count: 1 });
        assert_eq!(actions[1], &TuiAction::Input { text: Some("hello".into()), keys: vec![Key::Enter] });
        assert_eq!(actions[2], &TuiAction::Input { text: Some("steer".into()), keys: vec![Key::Tab, Key::Ctrl(b'c')] });
        assert_eq!(tui.steps[2].at.as_deref(), Some("answer"));
        assert_eq!(tui.steps[2].label(), "step 3 (at \"answer\": type \"steer\", key tab ctrl-c)");
        assert_eq!(
            actions[3],
            &TuiAction::WaitScreen { text: "done".into(), timeout: Some(Duration::from_millis(500)), count: 2 }
        );
        assert_eq!(actions[4], &TuiAction::Wait(Duration::from_millis(20)));
        assert_eq!(actions[5], &TuiAction::WaitExit { timeout: None });
        assert_eq!(actions[6], &TuiAction::Start { args: vec!["resume".into(), "--last".into()] });
        // The default size.
        let s = parse(&format!("{TUI}[[tui.steps]]\nkey = \"esc\"\n{HELD}")).unwrap();
        assert_eq!(s.tui.map(|t| (t.cols, t.rows)), Some((120, 40)));
    }

    #[test]
    fn tui_steps_that_cannot_run_are_refused_naming_the_step() {
        for (steps, why) in [
            ("[[tui.steps]]\nkey = \"enterr\"", "tui.steps[0].key: \"enterr\" is not a key (enter, tab"),
            ("[[tui.steps]]\ntype = \"a\"\nwait_ms = 5", "tui.steps[0]: one thing per step, not type/key and wait_ms"),
            ("[[tui.steps]]\nkey = \"esc\"\n[[tui.steps]]\nat = \"answer\"", "tui.steps[1]: needs one of type/key"),
            (
                "[[tui.steps]]\nat = \"nowhere\"\nkey = \"enter\"",
                "tui.steps[0].at: \"nowhere\" is no hold of the script (answer)",
            ),
            ("[[tui.steps]]\nat = \"answer\"\nwait_ms = 5", "tui.steps[0].at: only a step that types or presses keys"),
            ("[[tui.steps]]\nwait_screen = \"  \"", "tui.steps[0].wait_screen: the text to wait for is empty"),
            (
                "[[tui.steps]]\nwait_screen = { text = \"x\", count = 0 }",
                "tui.steps[0].wait_screen.count: 0 would not wait",
            ),
            ("[[tui.steps]]\nwait_exit = false", "tui.steps[0].wait_exit: false does nothing"),
            ("[tui]\nsize = { cols = 5, rows = 40 }\n[[tui.steps]]\nkey = \"esc\"", "tui.size: 5x40 is out of range"),
            ("[tui]\nsteps = []", "tui.steps: no steps"),
            ("prompt = \"p\"\n[[tui.steps]]\nkey = \"esc\"", "takes its input from [[tui.steps]], not prompt"),
            ("description = \"no steps\"", "agent.frontend = \"tui\" needs [[tui.steps]]"),
        ] {
            let e = parse(&format!("{steps}\n{TUI}{HELD}")).unwrap_err().to_string();
            assert!(e.contains("demo.toml") && e.contains(why), "{why:?} not in {e}");
        }
        let e = parse(&format!("prompt = \"p\"\n[[tui.steps]]\nkey = \"esc\"\n{HELD}")).unwrap_err().to_string();
        assert!(e.contains("[tui] needs agent.frontend = \"tui\""), "{e}");
        let e = parse(&format!("[[tui.steps]]\nkye = \"esc\"\n{TUI}{HELD}")).unwrap_err().to_string();
        assert!(e.contains("demo.toml") && e.contains("kye"), "{e}");
    }

    #[test]
    fn copies_come_from_inside_the_scenario_s_folder_only() {
        let dir = tempfile::tempdir().unwrap();
        let folder = dir.path().join("scenarios");
        std::fs::create_dir_all(folder.join("files")).unwrap();
        std::fs::write(folder.join("files/ok.png"), b"png").unwrap();
        std::fs::write(dir.path().join("secret.txt"), b"secret").unwrap();
        std::os::unix::fs::symlink(dir.path().join("secret.txt"), folder.join("files/link.txt")).unwrap();
        let with_copy = |source: &str| {
            let text =
                format!("prompt = \"p\"\n[workspace]\ncopy = {{ \"a\" = \"{source}\" }}\n[script]\nsteps = [{{}}]\n");
            Scenario::parse(&text, &folder.join("demo.toml")).map_err(|e| e.to_string())
        };
        assert_eq!(with_copy("files/ok.png").unwrap().workspace.files["a"], b"png");
        for (source, why) in [
            ("/etc/shadow", "must be a path inside the scenario's folder"),
            ("../secret.txt", "must be a path inside the scenario's folder"),
            ("files/../../secret.txt", "must be a path inside the scenario's folder"),
            ("files/link.txt", "leads out of the scenario's folder"),
        ] {
            let e = with_copy(source).unwrap_err();
            assert!(e.contains(&format!("workspace.copy.\"a\": \"{source}\" {why}")), "{e}");
        }
    }
}
