//! Configuration, as upstream Codex reads it: `CODEX_HOME/config.toml` (CODEX_HOME defaulting to `~/.codex`), a
//! profile, `-c key=value` overrides, then command-line flags, each layer over the one before.
//!
//! Each layer is checked on its own, so an invalid value is reported with the key and the file (or override) it came
//! from. Keys are judged as upstream 0.169.0 judges them ([`upstream`] lists what it knows): one it does not know is
//! one of its "unrecognized configuration settings", told as it tells them; one it knows that rcodex has no use for
//! is taken silently, as upstream takes it.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde::Deserialize;

pub use rcodex_sandbox::{SandboxMode, SandboxPolicy, WorkspaceWriteOptions};

use crate::shell_env::EnvPattern;

pub mod upstream;

/// `approval_policy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ApprovalPolicy {
    Untrusted,
    OnFailure,
    OnRequest,
    Never,
}

impl ApprovalPolicy {
    pub fn as_str(self) -> &'static str {
        match self {
            ApprovalPolicy::Untrusted => "untrusted",
            ApprovalPolicy::OnFailure => "on-failure",
            ApprovalPolicy::OnRequest => "on-request",
            ApprovalPolicy::Never => "never",
        }
    }
}

/// `[shell_environment_policy]`: what environment commands the model runs get.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShellEnvironmentPolicy {
    /// `all` (default), `core` (a few essential variables) or `none`.
    #[serde(default)]
    pub inherit: Inherit,
    /// When false, variables whose names contain KEY, SECRET or TOKEN are dropped.
    #[serde(default = "default_true")]
    pub ignore_default_excludes: bool,
    /// Glob patterns (case-insensitive) of variables to drop.
    #[serde(default)]
    pub exclude: Vec<EnvPattern>,
    /// Variables to set.
    #[serde(default)]
    pub set: BTreeMap<String, String>,
    /// When not empty, only variables matching one of these patterns are kept.
    #[serde(default)]
    pub include_only: Vec<EnvPattern>,
}

impl Default for ShellEnvironmentPolicy {
    fn default() -> Self {
        ShellEnvironmentPolicy {
            inherit: Inherit::All,
            ignore_default_excludes: true,
            exclude: Vec::new(),
            set: BTreeMap::new(),
            include_only: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Inherit {
    #[default]
    All,
    Core,
    None,
}

fn default_true() -> bool {
    true
}

/// A model provider: where requests go and how they are authenticated.
///
/// Takes every key of upstream's `[model_providers.<id>]`: those rcodex has no use for (`supports_websockets`,
/// `websocket_connect_timeout_ms`: rcodex speaks HTTP only) are read and checked but change nothing; `auth`, `aws`,
/// `gateway_oauth` and `credential_file` (credentials from a command, AWS signing, OAuth, a file) are warned about as
/// unsupported; upstream's others (`model_catalog_url`, `capabilities`...) are taken and ignored; a key upstream does
/// not know either is one of upstream's "unrecognized configuration settings" (see [`PROVIDER_KEYS`]). URLs and
/// headers are checked when the configuration is read, so that a bad one is reported with its file and key rather
/// than at the first request.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ModelProvider {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default, deserialize_with = "base_url")]
    pub base_url: Option<String>,
    /// The environment variable holding the API key, sent as `Authorization: Bearer <key>`.
    #[serde(default)]
    pub env_key: Option<String>,
    /// Instructions shown when `env_key` is not set.
    #[serde(default)]
    pub env_key_instructions: Option<String>,
    /// A bearer token written in the configuration, used when there is no `env_key`.
    #[serde(default, deserialize_with = "bearer_token")]
    pub experimental_bearer_token: Option<String>,
    /// Only `responses`: rcodex speaks the Responses API.
    #[serde(default)]
    pub wire_api: Option<String>,
    #[serde(default)]
    pub query_params: BTreeMap<String, String>,
    #[serde(default, deserialize_with = "http_headers")]
    pub http_headers: BTreeMap<String, String>,
    /// Header -> environment variable whose value it carries (skipped when the variable is unset).
    #[serde(default, deserialize_with = "env_http_headers")]
    pub env_http_headers: BTreeMap<String, String>,
    #[serde(default)]
    pub request_max_retries: Option<u64>,
    #[serde(default)]
    pub stream_max_retries: Option<u64>,
    #[serde(default)]
    pub stream_idle_timeout_ms: Option<u64>,
    /// How long a WebSocket upgrade may take (15 s when absent, as upstream).
    #[serde(default)]
    pub websocket_connect_timeout_ms: Option<u64>,
    #[serde(default)]
    pub requires_openai_auth: bool,
    /// Whether requests go over the Responses WebSocket first: true for the built-in provider; read for a custom
    /// one, which rcodex always speaks to over HTTP.
    #[serde(default)]
    pub supports_websockets: bool,
    /// The built-in `openai` provider (never written in a file): its requests carry what upstream adds for it (the
    /// `version` header, item metadata, `mcp_attribution`) and go over the WebSocket.
    #[serde(skip)]
    pub builtin: bool,
}

/// The keys of upstream 0.169.0's `[model_providers.<id>]` that rcodex reads.
pub const PROVIDER_KEYS: &[&str] = &[
    "name",
    "base_url",
    "env_key",
    "env_key_instructions",
    "experimental_bearer_token",
    "wire_api",
    "query_params",
    "http_headers",
    "env_http_headers",
    "request_max_retries",
    "stream_max_retries",
    "stream_idle_timeout_ms",
    "websocket_connect_timeout_ms",
    "requires_openai_auth",
    "supports_websockets",
];

/// Keys of upstream's provider table whose feature rcodex lacks: warned about, then ignored.
const UNSUPPORTED_PROVIDER_KEYS: &[(&str, &str)] = &[
    ("auth", "rcodex does not run commands for credentials; use env_key or experimental_bearer_token"),
    ("aws", "rcodex does not sign requests for AWS"),
    ("gateway_oauth", "rcodex does not sign in to gateways; use env_key or experimental_bearer_token"),
    ("credential_file", "rcodex does not read credential files; use env_key or experimental_bearer_token"),
];

/// `base_url`: an absolute http(s) URL.
fn base_url<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Option<String>, D::Error> {
    let url = Option::<String>::deserialize(deserializer)?;
    if let Some(url) = &url {
        check_base_url(url).map_err(serde::de::Error::custom)?;
    }
    Ok(url)
}

fn check_base_url(url: &str) -> Result<(), String> {
    match reqwest::Url::parse(url) {
        Ok(parsed) if matches!(parsed.scheme(), "http" | "https") && parsed.has_host() => Ok(()),
        Ok(parsed) => Err(format!("`{url}` is not an http or https URL (scheme `{}`)", parsed.scheme())),
        Err(e) => Err(format!("`{url}` is not a URL: {e}")),
    }
}

fn check_header_name(name: &str) -> Result<(), String> {
    reqwest::header::HeaderName::from_bytes(name.as_bytes())
        .map(|_| ())
        .map_err(|_| format!("`{}` is not a valid HTTP header name", name.escape_debug()))
}

fn check_header_value(name: &str, value: &str) -> Result<(), String> {
    reqwest::header::HeaderValue::from_str(value).map(|_| ()).map_err(|_| {
        format!(
            "the value of `{}` is not a valid HTTP header value (it holds a control character such as CR, LF or NUL): \"{}\"",
            name.escape_debug(),
            value.escape_debug()
        )
    })
}

fn bearer_token<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Option<String>, D::Error> {
    let token = Option::<String>::deserialize(deserializer)?;
    if let Some(token) = &token {
        check_header_value("authorization", &format!("Bearer {token}")).map_err(serde::de::Error::custom)?;
    }
    Ok(token)
}

fn http_headers<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<BTreeMap<String, String>, D::Error> {
    let headers = BTreeMap::<String, String>::deserialize(deserializer)?;
    for (name, value) in &headers {
        check_header_name(name).and_then(|()| check_header_value(name, value)).map_err(serde::de::Error::custom)?;
    }
    Ok(headers)
}

fn env_http_headers<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<BTreeMap<String, String>, D::Error> {
    let headers = BTreeMap::<String, String>::deserialize(deserializer)?;
    for (name, var) in &headers {
        check_header_name(name).map_err(serde::de::Error::custom)?;
        if var.is_empty() || var.contains(['=', '\0']) {
            return Err(serde::de::Error::custom(format!(
                "`{}` names no valid environment variable for header `{name}`",
                var.escape_debug()
            )));
        }
    }
    Ok(headers)
}

/// Where the built-in `openai` provider sends requests unless `openai_base_url` says otherwise.
pub const DEFAULT_OPENAI_BASE_URL: &str = "https://api.openai.com/v1";

/// Upstream's defaults and caps for retries and the idle timeout.
pub const DEFAULT_REQUEST_MAX_RETRIES: u64 = 4;
pub const DEFAULT_STREAM_MAX_RETRIES: u64 = 5;
pub const MAX_RETRIES_CAP: u64 = 100;
pub const DEFAULT_STREAM_IDLE_TIMEOUT_MS: u64 = 300_000;
/// AGENTS.md is read up to this many bytes unless `project_doc_max_bytes` says otherwise.
pub const DEFAULT_PROJECT_DOC_MAX_BYTES: usize = 32 * 1024;

impl ModelProvider {
    pub fn request_max_retries(&self) -> u64 {
        self.request_max_retries.unwrap_or(DEFAULT_REQUEST_MAX_RETRIES).min(MAX_RETRIES_CAP)
    }

    pub fn stream_max_retries(&self) -> u64 {
        self.stream_max_retries.unwrap_or(DEFAULT_STREAM_MAX_RETRIES).min(MAX_RETRIES_CAP)
    }

    /// How long a WebSocket upgrade may take: `websocket_connect_timeout_ms`, 15 s by default as upstream.
    pub fn websocket_connect_timeout(&self) -> std::time::Duration {
        std::time::Duration::from_millis(self.websocket_connect_timeout_ms.unwrap_or(15_000))
    }

    pub fn stream_idle_timeout(&self) -> std::time::Duration {
        std::time::Duration::from_millis(self.stream_idle_timeout_ms.unwrap_or(DEFAULT_STREAM_IDLE_TIMEOUT_MS))
    }

    /// The OpenAI provider, built in under the id `openai`: at `openai_base_url` when the configuration gives one
    /// (upstream 0.169.0 reads no `OPENAI_BASE_URL` variable: it was seen ignoring it).
    fn openai(base_url: Option<String>) -> ModelProvider {
        ModelProvider {
            name: Some("OpenAI".into()),
            base_url: Some(base_url.unwrap_or_else(|| DEFAULT_OPENAI_BASE_URL.into())),
            // Its credentials are the login's (`crate::auth`): `CODEX_API_KEY`, else auth.json.
            env_key: None,
            env_key_instructions: None,
            experimental_bearer_token: None,
            wire_api: Some("responses".into()),
            query_params: BTreeMap::new(),
            http_headers: BTreeMap::new(),
            env_http_headers: BTreeMap::new(),
            request_max_retries: None,
            stream_max_retries: None,
            stream_idle_timeout_ms: None,
            websocket_connect_timeout_ms: None,
            requires_openai_auth: true,
            supports_websockets: true,
            builtin: true,
        }
    }
}

/// One configuration layer as written (all optional).
#[derive(Debug, Clone, Default, Deserialize)]
struct Layer {
    model: Option<String>,
    model_provider: Option<String>,
    #[serde(default)]
    model_providers: BTreeMap<String, ModelProvider>,
    #[allow(dead_code)] // read from the table before layering; typed here so that a non-string is an error
    profile: Option<String>,
    #[serde(default)]
    #[allow(dead_code)] // read as a table; typed here so that a profile of the wrong type is an error
    profiles: BTreeMap<String, toml::Table>,
    model_reasoning_effort: Option<ReasoningEffort>,
    model_reasoning_summary: Option<ReasoningSummary>,
    model_verbosity: Option<Verbosity>,
    sandbox_mode: Option<SandboxMode>,
    sandbox_workspace_write: Option<WorkspaceWriteOptions>,
    #[allow(dead_code)] // validated; exec runs with `never` whatever the file says, as upstream does
    approval_policy: Option<ApprovalPolicy>,
    shell_environment_policy: Option<ShellEnvironmentPolicy>,
    project_doc_max_bytes: Option<usize>,
    model_auto_compact_token_limit: Option<u64>,
    developer_instructions: Option<String>,
    model_instructions_file: Option<PathBuf>,
    project_doc_fallback_filenames: Option<Vec<String>>,
    web_search: Option<WebSearchMode>,
    personality: Option<Personality>,
    notify: Option<Vec<String>>,
    #[serde(default)]
    mcp_servers: BTreeMap<String, crate::mcp::ServerConfig>,
    /// The built-in `openai` provider's base URL; empty is the default one.
    #[serde(default, deserialize_with = "openai_base_url")]
    openai_base_url: Option<String>,
}

/// `openai_base_url`: an absolute http(s) URL, or empty for the default (upstream takes `""` so).
fn openai_base_url<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Option<String>, D::Error> {
    let url = Option::<String>::deserialize(deserializer)?.filter(|u| !u.is_empty());
    if let Some(url) = &url {
        check_base_url(url).map_err(serde::de::Error::custom)?;
    }
    Ok(url)
}

/// `personality`: `none` leaves the personality section out of the model's instructions; the others send them as
/// they are (upstream 0.169.0 sent the same instructions for `friendly` and `pragmatic` as with none set).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Personality {
    None,
    Friendly,
    Pragmatic,
}

/// `web_search`: what the model's web search tool may reach.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WebSearchMode {
    /// No web search tool.
    Disabled,
    /// Cached results only (`external_web_access: false`).
    Cached,
    /// The live web (`external_web_access: true`).
    Live,
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "lowercase")]
enum ReasoningEffort {
    None,
    Minimal,
    Low,
    Medium,
    High,
    Xhigh,
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "lowercase")]
enum ReasoningSummary {
    Auto,
    Concise,
    Detailed,
    None,
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "lowercase")]
enum Verbosity {
    Low,
    Medium,
    High,
}

/// The keys rcodex knows, and their sub-keys where they are tables of known shape.
const KNOWN_KEYS: &[&str] = &[
    "model",
    "model_provider",
    "model_providers",
    "profile",
    "profiles",
    "model_reasoning_effort",
    "model_reasoning_summary",
    "model_verbosity",
    "sandbox_mode",
    "sandbox_workspace_write",
    "approval_policy",
    "shell_environment_policy",
    "project_doc_max_bytes",
    "model_auto_compact_token_limit",
    "openai_base_url",
    "developer_instructions",
    "model_instructions_file",
    "project_doc_fallback_filenames",
    "web_search",
    "personality",
    "notify",
    "mcp_servers",
];

/// What the command line asks for, above every file.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    pub codex_home: Option<PathBuf>,
    pub cwd: Option<PathBuf>,
    pub model: Option<String>,
    pub sandbox_mode: Option<SandboxMode>,
    pub approval_policy: Option<ApprovalPolicy>,
    pub profile: Option<String>,
    /// `-c key=value`, as given.
    pub config: Vec<String>,
    /// `--add-dir`: more workspace roots (relative ones from the working directory), writable in workspace-write.
    pub add_dirs: Vec<PathBuf>,
    /// `--thread-source`: how a new thread is classified (`user` when not given).
    pub thread_source: Option<String>,
    /// Whether someone is there to approve (the app server): the configured approval policy applies, `on-request`
    /// when none is configured, as upstream's app server. Without (exec) every policy runs as `never`.
    pub interactive: bool,
}

/// What a turn may change of its thread's settings, for itself and the turns after it (the app server's
/// `turn/start`): each `None` keeps the thread's.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TurnOverrides {
    pub cwd: Option<PathBuf>,
    pub model: Option<String>,
    pub effort: Option<String>,
    pub summary: Option<String>,
    pub approval_policy: Option<ApprovalPolicy>,
    /// The sandbox mode, with workspace-write's options when they are given (else the thread's stay).
    pub sandbox: Option<(SandboxMode, Option<WorkspaceWriteOptions>)>,
}

impl TurnOverrides {
    pub fn is_empty(&self) -> bool {
        *self == TurnOverrides::default()
    }
}

/// The configuration rcodex runs with.
#[derive(Debug, Clone)]
pub struct Config {
    pub codex_home: PathBuf,
    pub cwd: PathBuf,
    pub model: String,
    pub model_provider_id: String,
    pub model_provider: ModelProvider,
    pub model_reasoning_effort: Option<String>,
    pub model_reasoning_summary: Option<String>,
    pub model_verbosity: Option<String>,
    pub sandbox_mode: SandboxMode,
    /// Whether the sandbox mode was asked for (on the command line, in a request or a file) rather than the default.
    pub sandbox_mode_configured: bool,
    pub sandbox_workspace_write: WorkspaceWriteOptions,
    pub approval_policy: ApprovalPolicy,
    pub shell_environment_policy: ShellEnvironmentPolicy,
    pub project_doc_max_bytes: usize,
    /// Compact the thread once its context passes this many tokens (bounded by 90% of the model's window).
    pub model_auto_compact_token_limit: Option<u64>,
    /// The `--add-dir` directories, absolute, in the order given.
    pub additional_dirs: Vec<PathBuf>,
    /// `developer_instructions`: sent to the model as developer context.
    pub developer_instructions: Option<String>,
    /// The contents of `model_instructions_file`, trimmed: they replace the model's base instructions.
    pub model_instructions: Option<String>,
    /// Names tried, in order, in a directory without `AGENTS.override.md` or `AGENTS.md`.
    pub project_doc_fallback_filenames: Vec<String>,
    /// `web_search` as configured; [`Config::web_search_mode`] is the one in force.
    pub web_search: Option<WebSearchMode>,
    pub personality: Option<Personality>,
    /// How a new thread is classified, in the turn metadata and the session file (`user` unless told).
    pub thread_source: String,
    /// What to tell the user that does not stop the run, in the order upstream 0.169.0 tells it after
    /// `thread.started` (as `error` items, before the model's own warning): its startup warnings (a `multi_agent`
    /// feature in config.toml, then the "unrecognized configuration settings"), the deprecated features, the startup
    /// warnings again (upstream shows them twice), then rcodex's own (provider keys it cannot honour).
    pub warnings: Vec<String>,
    /// Where each copy of the startup warnings ends in `warnings` ([`Config::warn_at_startup`]).
    pub startup_warnings: [usize; 2],
    /// `--dangerously-bypass-hook-trust`: the hooks of `CODEX_HOME/hooks.json` run without persisted trust (rcodex
    /// keeps no trust, so without it they do not run, as upstream's untrusted hooks do not).
    pub bypass_hook_trust: bool,
    /// `notify`: a program and its arguments, run after each turn with upstream's JSON about it as one more argument.
    pub notify: Option<Vec<String>>,
    /// `[mcp_servers.<name>]`, by name (see [`crate::mcp`]).
    pub mcp_servers: BTreeMap<String, crate::mcp::ServerConfig>,
    /// The exec policy: the rules of `CODEX_HOME/rules/*.rules`.
    pub exec_policy: std::sync::Arc<crate::exec_policy::Policy>,
    /// Set for a session that runs for another thread's turn (a review): its requests name that thread.
    pub subagent: Option<crate::review::SubAgent>,
    /// Keys upstream reads that rcodex has no use for (`web_search`, `features`, `[tui]`...), as `origin: key`.
    /// Taken silently, as upstream takes them; a frontend may tell them on stderr, never as events.
    pub ignored: Vec<String>,
    /// The features enabled that upstream calls under development, sorted (empty when
    /// `suppress_unstable_features_warning` is set): the session warns of them as upstream does.
    pub under_development_features: Vec<String>,
}

impl Config {
    /// The namespaces of the enabled MCP servers, sorted (`mcp__<server>`).
    pub fn mcp_namespaces(&self) -> Vec<String> {
        self.mcp_servers
            .iter()
            .filter(|(_, server)| server.is_enabled())
            .map(|(name, _)| format!("{}{name}", crate::mcp::NAMESPACE_PREFIX))
            .collect()
    }
}

/// The model used when neither the configuration nor the command line names one: upstream 0.169.0's, the first
/// model of its catalog by priority (it asked for it with a custom provider and with `openai` alike).
pub const DEFAULT_MODEL: &str = "gpt-6.1-sol";

/// Why the configuration could not be used. Every variant names where the fault is.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{origin}{location}: {message}")]
    Invalid { origin: String, location: String, message: String },
    #[error("{0}")]
    Other(String),
    /// A setting upstream refuses outright (its words, which name the setting).
    #[error("{0}")]
    Unsupported(String),
    /// A rules file of the exec policy that cannot be used (upstream's frame, naming the file and the line).
    #[error("{0}")]
    Rules(#[from] crate::exec_policy::RulesError),
}

/// CODEX_HOME: the environment variable, else `~/.codex`.
pub fn codex_home() -> Result<PathBuf, ConfigError> {
    if let Some(home) = std::env::var_os("CODEX_HOME").filter(|h| !h.is_empty()) {
        return Ok(PathBuf::from(home));
    }
    std::env::var_os("HOME")
        .map(|home| PathBuf::from(home).join(".codex"))
        .ok_or_else(|| ConfigError::Other("neither CODEX_HOME nor HOME is set".into()))
}

/// Loads `CODEX_HOME/.env` into the environment, skipping variables that start with `CODEX_` and those already set.
///
/// # Safety
/// Changes the process environment: call before any other thread starts.
pub unsafe fn load_dotenv(codex_home: &Path) -> Result<(), ConfigError> {
    let path = codex_home.join(".env");
    let entries = match dotenvy::from_path_iter(&path) {
        Ok(entries) => entries,
        Err(dotenvy::Error::Io(e)) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => {
            return Err(ConfigError::Invalid {
                origin: path.display().to_string(),
                location: String::new(),
                message: e.to_string(),
            });
        }
    };
    for entry in entries {
        let (key, value) = entry.map_err(|e| ConfigError::Invalid {
            origin: path.display().to_string(),
            location: String::new(),
            message: e.to_string(),
        })?;
        if !key.to_ascii_uppercase().starts_with("CODEX_") && std::env::var_os(&key).is_none() {
            // SAFETY: the caller guarantees no other thread runs yet.
            unsafe { std::env::set_var(&key, &value) };
        }
    }
    Ok(())
}

impl Config {
    pub fn load(overrides: &Overrides) -> Result<Config, ConfigError> {
        let codex_home = match &overrides.codex_home {
            Some(home) => home.clone(),
            None => codex_home()?,
        };
        let mut findings = Findings::default();
        let mut layers: Vec<(String, toml::Table)> = Vec::new();

        let config_path = codex_home.join("config.toml");
        let base = read_table(&config_path)?.unwrap_or_default();
        let base_name = config_path.display().to_string();
        let user = |path: &Path| format!("user ({})", path.display());
        // Every layer as written: the features that only upstream reads are left out of the checked ones.
        let mut written: Vec<toml::Table> = vec![base.clone()];
        let mut checked = check_layer(&base, &base_name, Some(&user(&config_path)), &mut findings)?;
        rebase_writable_roots(&mut checked, &codex_home);
        let profile_name =
            overrides.profile.clone().or_else(|| base.get("profile").and_then(|p| p.as_str()).map(str::to_string));
        layers.push((base_name, checked));

        if let Some(name) = profile_name {
            // 0.169 layers `CODEX_HOME/<name>.config.toml`; older configs keep profiles under `[profiles.<name>]`.
            let file = codex_home.join(format!("{name}.config.toml"));
            let (origin, table, label) = match read_table(&file)? {
                Some(table) => (file.display().to_string(), table, Some(user(&file))),
                None => match base.get("profiles").and_then(|p| p.get(&name)).and_then(|p| p.as_table()) {
                    // Its keys were told about as `profiles.<name>.<key>` with the file's.
                    Some(table) => (format!("{} [profiles.{name}]", config_path.display()), table.clone(), None),
                    None => {
                        return Err(ConfigError::Other(format!(
                            "profile `{name}` not found: neither {} nor [profiles.{name}] in {} exists",
                            file.display(),
                            config_path.display()
                        )));
                    }
                },
            };
            written.push(table.clone());
            let mut checked = check_layer(&table, &origin, label.as_deref(), &mut findings)?;
            rebase_writable_roots(&mut checked, &codex_home);
            layers.push((origin, checked));
        }

        for entry in &overrides.config {
            let table = parse_override(entry)?;
            written.push(table.clone());
            let origin = format!("-c {entry}");
            let checked = check_layer(&table, &origin, Some("session-flags"), &mut findings)?;
            layers.push((origin, checked));
        }
        // Upstream warns of a `multi_agent` feature in config.toml only (not in a profile, not from -c).
        let multi_agent = base.get("features").and_then(|f| f.get("multi_agent")).is_some();
        let (warnings, startup_warnings) = findings.warnings(multi_agent);

        let mut merged = toml::Table::new();
        for (_, table) in &layers {
            merge(&mut merged, table);
        }
        merged.remove("profiles");
        let under_development_features = {
            let mut all = toml::Table::new();
            for table in &written {
                merge(&mut all, table);
            }
            under_development_features(&all)
        };
        let layer: Layer = deserialize(&merged, "the merged configuration")?;

        let model = overrides.model.clone().or(layer.model).unwrap_or_else(|| DEFAULT_MODEL.to_string());
        let model_provider_id = layer.model_provider.unwrap_or_else(|| "openai".to_string());
        let mut providers = layer.model_providers;
        providers.entry("openai".to_string()).or_insert_with(|| ModelProvider::openai(layer.openai_base_url.clone()));
        let model_provider = providers.remove(&model_provider_id).ok_or_else(|| {
            ConfigError::Other(format!(
                "model_provider `{model_provider_id}` is not defined: add [model_providers.{model_provider_id}] to {}",
                config_path.display()
            ))
        })?;
        if let Some(wire) = model_provider.wire_api.as_deref().filter(|w| *w != "responses") {
            return Err(ConfigError::Other(format!(
                "model_providers.{model_provider_id}.wire_api = \"{wire}\": rcodex speaks the Responses API only (wire_api = \"responses\")"
            )));
        }
        if model_provider.name.as_deref().is_none_or(|n| n.trim().is_empty()) {
            return Err(ConfigError::Invalid {
                origin: config_path.display().to_string(),
                location: String::new(),
                message: format!("model_providers.{model_provider_id}: provider name must not be empty"),
            });
        }
        if model_provider.base_url.is_none() {
            return Err(ConfigError::Other(format!("model_providers.{model_provider_id}: no base_url")));
        }
        let cwd = match &overrides.cwd {
            Some(dir) => dir.clone(),
            None => std::env::current_dir().map_err(|source| ConfigError::Io { path: ".".into(), source })?,
        };
        let additional_dirs: Vec<PathBuf> = overrides.add_dirs.iter().map(|dir| cwd.join(dir)).collect();
        let mut sandbox_workspace_write = layer.sandbox_workspace_write.unwrap_or_default();
        // As upstream: an added directory is a writable root like those of `[sandbox_workspace_write]`.
        for dir in &additional_dirs {
            if !sandbox_workspace_write.writable_roots.contains(dir) {
                sandbox_workspace_write.writable_roots.push(dir.clone());
            }
        }
        // A relative path is relative to CODEX_HOME, where config.toml is.
        let model_instructions = match layer.model_instructions_file.map(|file| codex_home.join(file)) {
            Some(path) => {
                let text = std::fs::read_to_string(&path).map_err(|source| ConfigError::Io { path, source })?;
                Some(text.trim().to_string()).filter(|t| !t.is_empty())
            }
            None => None,
        };
        if layer.approval_policy == Some(ApprovalPolicy::Untrusted) {
            // As upstream 0.169.0 (permissions-*-untrusted scenarios): refused before anything runs.
            return Err(ConfigError::Unsupported(
                "approval_policy = \"untrusted\" is no longer supported; remove this setting".into(),
            ));
        }
        let exec_policy = std::sync::Arc::new(crate::exec_policy::Policy::load(&codex_home)?);
        for (name, server) in &layer.mcp_servers {
            server.check(name).map_err(|message| ConfigError::Invalid {
                origin: config_path.display().to_string(),
                location: String::new(),
                message,
            })?;
        }
        Ok(Config {
            mcp_servers: layer.mcp_servers,
            exec_policy,
            notify: layer.notify.filter(|argv| !argv.is_empty()),
            codex_home,
            cwd,
            model,
            model_provider_id,
            model_provider,
            model_reasoning_effort: layer.model_reasoning_effort.map(|e| lower(format!("{e:?}"))),
            model_reasoning_summary: layer.model_reasoning_summary.map(|s| lower(format!("{s:?}"))),
            model_verbosity: layer.model_verbosity.map(|v| lower(format!("{v:?}"))),
            sandbox_mode: overrides.sandbox_mode.or(layer.sandbox_mode).unwrap_or(SandboxMode::ReadOnly),
            sandbox_mode_configured: overrides.sandbox_mode.or(layer.sandbox_mode).is_some(),
            sandbox_workspace_write,
            approval_policy: overrides.approval_policy.unwrap_or(if overrides.interactive {
                // As upstream's app server was seen taking config.toml: `on-failure` (which its protocol no longer
                // has) runs as `on-request`, the default.
                match layer.approval_policy {
                    Some(ApprovalPolicy::OnFailure) | None => ApprovalPolicy::OnRequest,
                    Some(policy) => policy,
                }
            } else {
                // exec never asks: upstream overrides the policy with `never` in headless mode.
                ApprovalPolicy::Never
            }),
            shell_environment_policy: layer.shell_environment_policy.unwrap_or_default(),
            project_doc_max_bytes: layer.project_doc_max_bytes.unwrap_or(DEFAULT_PROJECT_DOC_MAX_BYTES),
            model_auto_compact_token_limit: layer.model_auto_compact_token_limit,
            additional_dirs,
            developer_instructions: layer.developer_instructions.filter(|d| !d.trim().is_empty()),
            model_instructions,
            project_doc_fallback_filenames: layer.project_doc_fallback_filenames.unwrap_or_default(),
            web_search: layer.web_search,
            personality: layer.personality,
            thread_source: overrides.thread_source.clone().unwrap_or_else(|| "user".to_string()),
            warnings,
            startup_warnings,
            bypass_hook_trust: false,
            subagent: None,
            ignored: findings.ignored,
            under_development_features,
        })
    }

    /// This configuration with a turn's settings over it (see [`TurnOverrides`]).
    pub fn with_overrides(&self, overrides: &TurnOverrides) -> Config {
        let mut config = self.clone();
        if let Some(cwd) = &overrides.cwd {
            config.cwd = cwd.clone();
        }
        if let Some(model) = &overrides.model {
            config.model = model.clone();
        }
        if let Some(effort) = &overrides.effort {
            config.model_reasoning_effort = Some(effort.clone());
        }
        if let Some(summary) = &overrides.summary {
            config.model_reasoning_summary = Some(summary.clone());
        }
        if let Some(policy) = overrides.approval_policy {
            config.approval_policy = policy;
        }
        if let Some((mode, options)) = &overrides.sandbox {
            config.sandbox_mode = *mode;
            config.sandbox_mode_configured = true;
            if let Some(options) = options {
                config.sandbox_workspace_write = options.clone();
            }
        }
        config
    }

    /// The sandbox commands and patches run under.
    pub fn sandbox_policy(&self) -> SandboxPolicy {
        SandboxPolicy::new(self.sandbox_mode, self.sandbox_workspace_write.clone())
    }

    /// The workspace roots, as upstream lists them in the environment context and the session file: the working
    /// directory, the `--add-dir` directories, then (in workspace-write) the other writable roots of
    /// `[sandbox_workspace_write]`; each once.
    pub fn workspace_roots(&self) -> Vec<PathBuf> {
        let mut roots = vec![self.cwd.clone()];
        let configured: &[PathBuf] = match self.sandbox_mode {
            SandboxMode::WorkspaceWrite => &self.sandbox_workspace_write.writable_roots,
            _ => &[],
        };
        for root in self.additional_dirs.iter().cloned().chain(configured.iter().map(|r| self.cwd.join(r))) {
            if !roots.contains(&root) {
                roots.push(root);
            }
        }
        roots
    }

    /// Whether commands may use the network.
    pub fn network_access(&self) -> bool {
        self.sandbox_policy().network_access()
    }

    /// Adds a startup warning, told with the others: after each copy of them (upstream tells them twice).
    pub fn warn_at_startup(&mut self, message: &str) {
        let [first, second] = self.startup_warnings;
        self.warnings.insert(second, message.to_string());
        self.warnings.insert(first, message.to_string());
        self.startup_warnings = [first + 1, second + 2];
    }

    /// The web search in force: as configured, else live under danger-full-access and cached otherwise. The
    /// sandbox's network access plays no part (upstream 0.169.0 sends `external_web_access: false` under
    /// workspace-write with `network_access = true`).
    pub fn web_search_mode(&self) -> WebSearchMode {
        self.web_search.unwrap_or(if self.sandbox_mode == SandboxMode::DangerFullAccess {
            WebSearchMode::Live
        } else {
            WebSearchMode::Cached
        })
    }
}

/// A file's relative `writable_roots` are relative to the file's directory, as upstream 0.169.0 takes them (its
/// header showed `CODEX_HOME/rel` for `writable_roots = ["rel"]` in config.toml); those of `-c` stay relative to the
/// working directory.
fn rebase_writable_roots(table: &mut toml::Table, dir: &Path) {
    let roots = table
        .get_mut("sandbox_workspace_write")
        .and_then(|t| t.get_mut("writable_roots"))
        .and_then(toml::Value::as_array_mut);
    for root in roots.into_iter().flatten() {
        if let Some(path) = root.as_str().filter(|p| Path::new(p).is_relative()) {
            *root = toml::Value::String(dir.join(path).display().to_string());
        }
    }
}

fn lower(text: String) -> String {
    text.to_ascii_lowercase()
}

fn read_table(path: &Path) -> Result<Option<toml::Table>, ConfigError> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => return Err(ConfigError::Io { path: path.to_path_buf(), source }),
    };
    text.parse::<toml::Table>().map(Some).map_err(|e| ConfigError::Invalid {
        origin: path.display().to_string(),
        location: e.span().map(|s| line_col(&text, s.start)).unwrap_or_default(),
        message: e.message().to_string(),
    })
}

fn line_col(text: &str, offset: usize) -> String {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.len() - before.rfind('\n').map(|i| i + 1).unwrap_or(0) + 1;
    format!(":{line}:{column}")
}

/// What checking the layers found, for [`Config::warnings`] and [`Config::ignored`].
#[derive(Debug, Default)]
struct Findings {
    /// The keys upstream does not know, as it lists them: the layer's name (`user (PATH)`, `session-flags`) and the
    /// key's dotted path. Sorted as upstream sorts them.
    unrecognized: BTreeSet<(String, String)>,
    /// The `[features]` keys set in any layer.
    features: BTreeSet<String>,
    /// rcodex's own warnings: keys of upstream's whose feature rcodex lacks.
    unsupported: Vec<String>,
    ignored: Vec<String>,
}

/// Upstream's notice for a `multi_agent` feature in config.toml.
const MULTI_AGENT_NOTICE: &str = "`[features].multi_agent` is deprecated. It still controls the V1 fallback. \
    `[agents].enabled = false` disables subagent tools even when the model selects a subagent version, unless \
    `[features].multi_agent_v2` is enabled.";

/// The features `merged` enables that upstream calls under development, sorted, unless the warning is suppressed.
fn under_development_features(merged: &toml::Table) -> Vec<String> {
    if merged.get("suppress_unstable_features_warning").and_then(toml::Value::as_bool) == Some(true) {
        return Vec::new();
    }
    let Some(features) = merged.get("features").and_then(toml::Value::as_table) else { return Vec::new() };
    let mut enabled: Vec<String> = features
        .iter()
        .filter(|(name, value)| {
            value.as_bool() == Some(true) && upstream::UNDER_DEVELOPMENT_FEATURES.contains(&name.as_str())
        })
        .map(|(name, _)| name.clone())
        .collect();
    enabled.sort();
    enabled
}

/// Upstream's notices for deprecated features set in any layer, in the order it gives them.
fn deprecation_notices(features: &BTreeSet<String>) -> Vec<String> {
    let web_search = |key: &str| {
        format!(
            "`[features].{key}` is deprecated because web search is enabled by default. (Set `web_search` to \
             `\"live\"`, `\"indexed\"`, `\"cached\"`, or `\"disabled\"` at the top level (or under a profile) in \
             config.toml if you want to override it.)"
        )
    };
    let zsh = |key: &str| {
        format!(
            "`[features].{key}` is deprecated and ignored. (The patched zsh backend has been removed. Shell commands \
             now use the standard shell executor. Remove `{key}` from [features] in config.toml or profile \
             configuration files.)"
        )
    };
    let notices: [(&str, String); 7] = [
        (
            "guardianv2.thread_context",
            "`[features.guardianv2].thread_context` is deprecated and ignored. (Thread-owned Guardian context is \
             always enabled. Remove `thread_context` from [features.guardianv2] in config.toml, including profile \
             overrides.)"
                .into(),
        ),
        (
            "transcript_v2",
            "`[features].transcript_v2` is deprecated and ignored. (Use `[tui].fullscreen_transcript` in config.toml \
             instead.)"
                .into(),
        ),
        (
            "use_legacy_landlock",
            "`[features].use_legacy_landlock` is deprecated and will be removed soon. (Remove this setting to stop \
             opting into the legacy Linux sandbox behavior.)"
                .into(),
        ),
        ("web_search_cached", web_search("web_search_cached")),
        ("web_search_request", web_search("web_search_request")),
        ("shell_zsh_fork", zsh("shell_zsh_fork")),
        ("unified_exec_zsh_fork", zsh("unified_exec_zsh_fork")),
    ];
    notices.into_iter().filter(|(key, _)| features.contains(*key)).map(|(_, notice)| notice).collect()
}

impl Findings {
    /// Upstream's sentence for the keys it does not know: at most three named, in order.
    fn unrecognized_message(&self) -> Option<String> {
        let count = self.unrecognized.len();
        if count == 0 {
            return None;
        }
        let plural = if count == 1 { "" } else { "s" };
        let mut message = format!(
            "Codex is ignoring {count} unrecognized configuration setting{plural}. Check for typos or deprecated settings."
        );
        for (layer, path) in self.unrecognized.iter().take(3) {
            message.push_str(&format!("\n  {layer}: `{path}` is ignored."));
        }
        if count > 3 {
            message.push_str(&format!("\n  ... and {} more ignored settings.", count - 3));
        }
        Some(message)
    }

    /// The warnings in order, and where each copy of the startup warnings ends in them.
    fn warnings(&self, multi_agent: bool) -> (Vec<String>, [usize; 2]) {
        let startup: Vec<String> = multi_agent
            .then(|| MULTI_AGENT_NOTICE.to_string())
            .into_iter()
            .chain(self.unrecognized_message())
            .collect();
        let mut warnings = startup.clone();
        let first = warnings.len();
        warnings.extend(deprecation_notices(&self.features));
        warnings.extend(startup);
        let second = warnings.len();
        warnings.extend(self.unsupported.iter().cloned());
        (warnings, [first, second])
    }
}

/// Checks one layer and gives back what rcodex reads of it. Keys upstream 0.169.0 does not know are noted as it
/// notes them (under `label`, when given), keys it knows that rcodex has no use for are noted as ignored, and both
/// are dropped; an invalid value of a key rcodex reads is an error naming the key and the layer.
fn check_layer(
    table: &toml::Table,
    origin: &str,
    label: Option<&str>,
    findings: &mut Findings,
) -> Result<toml::Table, ConfigError> {
    let mut unknown = |path: String| {
        if let Some(label) = label {
            findings.unrecognized.insert((label.to_string(), path));
        }
    };
    let mut ignored = Vec::new();
    let mut known = toml::Table::new();
    for (key, value) in table {
        if !upstream::TOP_LEVEL.contains(&key.as_str()) {
            unknown(key.clone());
            continue;
        }
        let mut value = value.clone();
        match (key.as_str(), &mut value) {
            ("features", toml::Value::Table(features)) => {
                for (name, setting) in features.iter() {
                    if upstream::FEATURES.contains(&name.as_str()) {
                        findings.features.insert(name.clone());
                    } else {
                        unknown(format!("features.{name}"));
                    }
                    // `[features.guardianv2] thread_context = ...` is the sub-key `guardianv2.thread_context`.
                    if let toml::Value::Table(sub) = setting {
                        findings.features.extend(sub.keys().map(|sub_key| format!("{name}.{sub_key}")));
                    }
                }
            }
            ("profiles", toml::Value::Table(profiles)) => {
                for (name, profile) in profiles.iter() {
                    for profile_key in profile.as_table().into_iter().flat_map(|p| p.keys()) {
                        if !upstream::PROFILE.contains(&profile_key.as_str()) {
                            unknown(format!("profiles.{name}.{profile_key}"));
                        }
                    }
                }
            }
            ("model_providers", toml::Value::Table(providers)) => {
                for (id, provider) in providers.iter_mut() {
                    let Some(provider) = provider.as_table_mut() else { continue };
                    provider.retain(|field, _| {
                        let path = format!("model_providers.{id}.{field}");
                        if !upstream::PROVIDER.contains(&field) {
                            unknown(path);
                        } else if let Some((_, why)) = UNSUPPORTED_PROVIDER_KEYS.iter().find(|(k, _)| *k == field) {
                            findings
                                .unsupported
                                .push(format!("{origin}: `{path}` is not supported: {why} (rcodex ignores it)"));
                        } else if PROVIDER_KEYS.contains(&field) {
                            return true;
                        } else {
                            ignored.push(format!("{origin}: {path}"));
                        }
                        false
                    });
                }
            }
            (name, toml::Value::Table(fields)) => {
                if let Some((_, upstream_fields)) = upstream::TABLES.iter().find(|(table, _)| *table == name) {
                    fields.retain(|field, _| {
                        let path = format!("{name}.{field}");
                        if !upstream_fields.contains(&field) {
                            unknown(path);
                            return false;
                        }
                        let read = match name {
                            "shell_environment_policy" => !["filters", "experimental_use_profile"].contains(&field),
                            _ => true,
                        };
                        if !read {
                            ignored.push(format!("{origin}: {path}"));
                        }
                        read
                    });
                }
            }
            _ => {}
        }
        if KNOWN_KEYS.contains(&key.as_str()) {
            known.insert(key.clone(), value);
        } else {
            ignored.push(format!("{origin}: {key}"));
        }
    }
    findings.ignored.extend(ignored);
    // A profile is checked as a layer of its own when it is used.
    let mut typed = known.clone();
    typed.remove("profiles");
    deserialize::<Layer>(&typed, origin)?;
    Ok(known)
}

fn deserialize<T: serde::de::DeserializeOwned>(table: &toml::Table, origin: &str) -> Result<T, ConfigError> {
    let value = toml::Value::Table(table.clone());
    serde_path_to_error::deserialize(value).map_err(|e| ConfigError::Invalid {
        origin: origin.to_string(),
        location: String::new(),
        message: format!("{}: {}", e.path(), e.inner().message().trim()),
    })
}

/// `-c a.b=value`: the value is TOML when it parses as TOML, else the raw text.
fn parse_override(entry: &str) -> Result<toml::Table, ConfigError> {
    let (key, raw) =
        entry.split_once('=').ok_or_else(|| ConfigError::Other(format!("-c {entry}: expected key=value")))?;
    let key = key.trim();
    if key.is_empty() {
        return Err(ConfigError::Other(format!("-c {entry}: empty key")));
    }
    let value = format!("v = {}", raw.trim())
        .parse::<toml::Table>()
        .ok()
        .and_then(|mut t| t.remove("v"))
        .unwrap_or_else(|| toml::Value::String(raw.trim().to_string()));
    let mut table = toml::Table::new();
    let parts: Vec<&str> = key.split('.').collect();
    let mut cursor = &mut table;
    for part in &parts[..parts.len() - 1] {
        cursor = cursor
            .entry(part.to_string())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()))
            .as_table_mut()
            .expect("just inserted a table");
    }
    cursor.insert(parts[parts.len() - 1].to_string(), value);
    Ok(table)
}

/// Deep merge: tables key by key, anything else replaces.
fn merge(into: &mut toml::Table, from: &toml::Table) {
    for (key, value) in from {
        match (into.get_mut(key), value) {
            (Some(toml::Value::Table(a)), toml::Value::Table(b)) => merge(a, b),
            _ => {
                into.insert(key.clone(), value.clone());
            }
        }
    }
}

#[cfg(test)]
mod tests;
